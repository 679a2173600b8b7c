// The shape of a shared segment and the attach-time checks (pure functions: the fuzz
// target feeds validate_header arbitrary bytes).
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "sn/ipc/detail/layout.h"

namespace sn::ipc::detail {
namespace {

std::uint32_t slot_size_for(std::uint64_t message_bytes) {
  const std::uint64_t raw = (kSlotPrefix + message_bytes + 7) / 8 * 8;
  if (raw <= kCacheLineSize) return static_cast<std::uint32_t>(std::bit_ceil(raw));  // 16, 32 or 64
  return static_cast<std::uint32_t>((raw + kCacheLineSize - 1) / kCacheLineSize * kCacheLineSize);
}

}  // namespace

absl::StatusOr<Geometry> plan(std::uint64_t capacity, std::uint64_t message_bytes, std::uint64_t message_align,
                              std::uint32_t flags, std::uint64_t type_tag) {
  if (capacity == 0 || capacity > kMaxCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::ipc: capacity ", capacity, " is out of range (1..", kMaxCapacity, ")"));
  }
  if (message_bytes == 0 || message_bytes > kMaxMessageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::ipc: a message of ", message_bytes, " bytes is out of range (1..", kMaxMessageBytes, ")"));
  }
  if (message_align == 0 || message_align > kMaxAlign || !std::has_single_bit(message_align)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::ipc: alignment ", message_align, " is not a power of two up to ", kMaxAlign));
  }
  Geometry g;
  g.capacity = std::bit_ceil(capacity);
  g.slot_bytes = slot_size_for(message_bytes);
  g.message_bytes = static_cast<std::uint32_t>(message_bytes);
  g.message_align = static_cast<std::uint32_t>(message_align);
  g.flags = flags;
  g.type_tag = type_tag;
  g.segment_bytes = sizeof(Control) + g.capacity * g.slot_bytes;
  return g;
}

Header make_header(const Geometry& g, Role creator) noexcept {
  Header h;
  std::memset(&h, 0, sizeof h);
  h.magic = kMagic;
  h.abi_version = kAbiVersion;
  h.header_bytes = sizeof(Control);
  h.segment_bytes = g.segment_bytes;
  h.capacity = g.capacity;
  h.slot_bytes = g.slot_bytes;
  h.message_bytes = g.message_bytes;
  h.message_align = g.message_align;
  h.flags = g.flags;
  h.type_tag = g.type_tag;
  h.creator_role = static_cast<std::uint32_t>(creator);
  return h;
}

absl::Status validate_header(const Header& h, std::uint64_t file_bytes, const Geometry& expected, Role attacher,
                             Geometry* out) {
  if (h.magic != kMagic) return absl::InvalidArgumentError("sn::ipc: not a shared_nothing channel (bad magic)");
  if (h.abi_version != kAbiVersion) {
    return absl::FailedPreconditionError(absl::StrCat("sn::ipc: the channel speaks ABI version ", h.abi_version,
                                                      ", this process version ", kAbiVersion));
  }
  if (h.creator_role != static_cast<std::uint32_t>(other(attacher))) {
    return absl::InvalidArgumentError(absl::StrCat("sn::ipc: the creator took the ",
                                                   h.creator_role == static_cast<std::uint32_t>(Role::sender) ? "sender"
                                                   : h.creator_role == static_cast<std::uint32_t>(Role::receiver)
                                                       ? "receiver"
                                                       : "unknown",
                                                   " end; attach the other one"));
  }
  if ((h.flags & kFlagBytes) != (expected.flags & kFlagBytes)) {
    return absl::InvalidArgumentError((h.flags & kFlagBytes) != 0
                                          ? "sn::ipc: the channel carries byte messages, not a typed message"
                                          : "sn::ipc: the channel carries a typed message, not byte messages");
  }
  if (h.message_bytes != expected.message_bytes || h.message_align != expected.message_align) {
    return absl::InvalidArgumentError(absl::StrCat("sn::ipc: the channel's messages are ", h.message_bytes,
                                                   " bytes aligned to ", h.message_align, "; this process expects ",
                                                   expected.message_bytes, " aligned to ", expected.message_align));
  }
  if (h.type_tag != expected.type_tag) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::ipc: the channel's type tag is ", h.type_tag, "; this process expects ", expected.type_tag));
  }
  // Fields a correct creator derives from the above: anything else is damage or malice.
  absl::StatusOr<Geometry> g = plan(h.capacity, h.message_bytes, h.message_align, h.flags, h.type_tag);
  if (!g.ok() || g->capacity != h.capacity || g->slot_bytes != h.slot_bytes || g->segment_bytes != h.segment_bytes ||
      h.header_bytes != sizeof(Control) || (h.flags & ~kFlagBytes) != 0) {
    return absl::DataLossError("sn::ipc: the channel's header is inconsistent (capacity, slot size or segment size)");
  }
  if (file_bytes < h.segment_bytes) {
    return absl::DataLossError(
        absl::StrCat("sn::ipc: the segment holds ", file_bytes, " bytes; its header needs ", h.segment_bytes));
  }
  *out = *g;
  return absl::OkStatus();
}

}  // namespace sn::ipc::detail
