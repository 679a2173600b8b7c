// Byte-message channels: creation, attachment and receiving into a vector.
#include <new>

#include "sn/ipc/channel.h"

namespace sn::ipc {
namespace {

absl::StatusOr<detail::Geometry> byte_geometry(std::size_t capacity, std::size_t max_bytes, const Options& options) {
  return detail::plan(capacity, max_bytes, 1, detail::kFlagBytes, options.type_tag);
}

}  // namespace

absl::StatusOr<ByteSender> create_byte_sender(std::size_t capacity, std::size_t max_message_bytes,
                                              const Options& options) {
  return detail::EndFactory::open<ByteSender>(byte_geometry(capacity, max_message_bytes, options), detail::Role::sender,
                                              nullptr, options);
}

absl::StatusOr<ByteReceiver> create_byte_receiver(std::size_t capacity, std::size_t max_message_bytes,
                                                  const Options& options) {
  return detail::EndFactory::open<ByteReceiver>(byte_geometry(capacity, max_message_bytes, options),
                                                detail::Role::receiver, nullptr, options);
}

absl::StatusOr<ByteSender> attach_byte_sender(const From& from, std::size_t max_message_bytes, const Options& options) {
  return detail::EndFactory::open<ByteSender>(byte_geometry(1, max_message_bytes, options), detail::Role::sender, &from,
                                              options);
}

absl::StatusOr<ByteReceiver> attach_byte_receiver(const From& from, std::size_t max_message_bytes,
                                                  const Options& options) {
  return detail::EndFactory::open<ByteReceiver>(byte_geometry(1, max_message_bytes, options), detail::Role::receiver,
                                                &from, options);
}

RecvResult ByteReceiver::recv_into(std::vector<std::byte>& out, absl::Time deadline) noexcept {
  if (!end_) return RecvResult::closed;
  try {
    if (out.size() < end_->message_bytes()) out.resize(end_->message_bytes());
  } catch (const std::bad_alloc&) {
    return RecvResult::empty;  // nothing taken: the message waits for a call that has room
  }
  std::uint32_t len = 0;
  const RecvResult r = deadline == absl::InfinitePast() ? end_->try_recv(out.data(), &len)
                                                        : end_->recv_until(out.data(), &len, deadline);
  out.resize(r == RecvResult::ok ? len : 0);
  return r;
}

}  // namespace sn::ipc
