// Creating an inter-process channel and attaching to it from another process.
//
//   // process A: makes the channel, keeps the receiving end, hands the segment over
//   absl::StatusOr<sn::ipc::Receiver<Tick>> rx = sn::ipc::create_receiver<Tick>(4096);
//   rx->share(unix_socket);                 // or rx->publish("ticks")
//   // process B: takes the other end
//   absl::StatusOr<sn::ipc::Sender<Tick>> tx = sn::ipc::attach_sender<Tick>(sn::ipc::From::socket(fd));
//
// The segment is a memfd, sized and sealed (F_SEAL_SHRINK, F_SEAL_GROW) before it is
// shared, so no peer can shrink it under our mapping. Attaching copies the header out,
// checks it (magic, ABI version, message size, alignment and kind, type tag, capacity,
// sizes against the file) and fails with a Status that says what differs. Each end is
// held by one process: a second attach to the same end fails with AlreadyExists.
//
// SPSC only: several producer processes use one channel each (a pool worker can poll
// many). A shared claim counter would let one misbehaving producer stall the others;
// one ring per producer confines it to its own.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "sn/ipc/detail/segment.h"
#include "sn/ipc/options.h"
#include "sn/ipc/receiver.h"
#include "sn/ipc/sender.h"

namespace sn::ipc {
namespace detail {

template <class T>
absl::StatusOr<Geometry> typed_geometry(std::size_t capacity, const Options& options) {
  return plan(capacity, sizeof(T), alignof(T), 0, options.type_tag);
}

/// Makes or attaches the `role` end of a channel of geometry `g` (create when `from` is
/// null) and wraps it in Handle (whose constructor is private; it befriends this).
struct EndFactory {
  template <class Handle>
  static absl::StatusOr<Handle> open(const absl::StatusOr<Geometry>& g, Role role, const From* from,
                                     const Options& options) {
    if (!g.ok()) return g.status();
    absl::StatusOr<std::unique_ptr<RingEnd>> end =
        from == nullptr ? create_end(*g, role, options) : attach_end(*from, *g, role, options);
    if (!end.ok()) return end.status();
    return Handle(std::move(*end));
  }
};

}  // namespace detail

/// Creates a channel of T with room for `capacity` messages (rounded up to a power of
/// two, at most 2^24); this process sends. InvalidArgument for a bad capacity.
template <Shareable T>
absl::StatusOr<Sender<T>> create_sender(std::size_t capacity, const Options& options = {}) {
  return detail::EndFactory::open<Sender<T>>(detail::typed_geometry<T>(capacity, options), detail::Role::sender,
                                             nullptr, options);
}

/// Creates a channel of T; this process receives.
template <Shareable T>
absl::StatusOr<Receiver<T>> create_receiver(std::size_t capacity, const Options& options = {}) {
  return detail::EndFactory::open<Receiver<T>>(detail::typed_geometry<T>(capacity, options), detail::Role::receiver,
                                               nullptr, options);
}

/// Attaches to a channel of T that another process created as a receiver; this process
/// sends. The header must match T's size and alignment and options.type_tag.
template <Shareable T>
absl::StatusOr<Sender<T>> attach_sender(const From& from, const Options& options = {}) {
  return detail::EndFactory::open<Sender<T>>(detail::typed_geometry<T>(1, options), detail::Role::sender, &from,
                                             options);
}

/// Attaches to a channel of T that another process created as a sender; this process receives.
template <Shareable T>
absl::StatusOr<Receiver<T>> attach_receiver(const From& from, const Options& options = {}) {
  return detail::EndFactory::open<Receiver<T>>(detail::typed_geometry<T>(1, options), detail::Role::receiver, &from,
                                               options);
}

/// Creates a channel of byte messages of up to `max_message_bytes` (at most 1 MiB); this process sends.
absl::StatusOr<ByteSender> create_byte_sender(std::size_t capacity, std::size_t max_message_bytes,
                                              const Options& options = {});
/// Creates a channel of byte messages; this process receives.
absl::StatusOr<ByteReceiver> create_byte_receiver(std::size_t capacity, std::size_t max_message_bytes,
                                                  const Options& options = {});
/// Attaches as the sender to a byte channel whose maximum is `max_message_bytes`.
absl::StatusOr<ByteSender> attach_byte_sender(const From& from, std::size_t max_message_bytes,
                                              const Options& options = {});
/// Attaches as the receiver to a byte channel whose maximum is `max_message_bytes`.
absl::StatusOr<ByteReceiver> attach_byte_receiver(const From& from, std::size_t max_message_bytes,
                                                  const Options& options = {});

}  // namespace sn::ipc
