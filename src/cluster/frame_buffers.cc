// FrameBuffers: a fixed pool of frame buffers per destination with an atomic free mask.
#include "sn/cluster/detail/frame_buffers.h"

#include <bit>

#include "absl/status/status.h"
#include "sn/detail/check.h"

namespace sn::detail {

absl::StatusOr<std::unique_ptr<FrameBuffers>> FrameBuffers::create(std::size_t destinations,
                                                                   std::size_t buffers_per_destination,
                                                                   std::size_t buffer_bytes) {
  if (destinations == 0 || buffer_bytes == 0 || buffers_per_destination == 0 ||
      buffers_per_destination > kMaxBuffersPerDestination) {
    return absl::InvalidArgumentError(
        "sn::cluster: frame buffers need at least one destination, and 1 to 64 buffers of at least one byte each");
  }
  return std::unique_ptr<FrameBuffers>(new FrameBuffers(destinations, buffers_per_destination, buffer_bytes));
}

FrameBuffers::FrameBuffers(std::size_t destinations, std::size_t per_destination, std::size_t buffer_bytes)
    : per_destination_(per_destination),
      buffer_bytes_(buffer_bytes),
      all_free_(per_destination == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << per_destination) - 1),
      free_(destinations),
      storage_(new std::byte[destinations * per_destination * buffer_bytes]) {
  for (FreeMask& m : free_) m.bits.store(all_free_, std::memory_order_relaxed);  // before any sharing
}

std::optional<std::uint32_t> FrameBuffers::acquire(std::size_t destination) noexcept {
  std::atomic<std::uint64_t>& bits = free_[destination].bits;
  const std::uint64_t now = bits.load(std::memory_order_acquire);  // (A1) pairs with (R1) in release
  if (now == 0) return std::nullopt;
  const auto index = static_cast<std::uint32_t>(std::countr_zero(now));
  // Only the owner clears bits, so the bit found above is still set; relaxed suffices for
  // the clear, the acquire above already ordered the buffer's last use before our writes.
  bits.fetch_and(~(std::uint64_t{1} << index), std::memory_order_relaxed);
  return index;
}

void FrameBuffers::release(std::size_t destination, std::uint32_t index) noexcept {
  const std::uint64_t bit = std::uint64_t{1} << index;
  const std::uint64_t before =
      free_[destination].bits.fetch_or(bit, std::memory_order_release);  // (R1) pairs with (A1) in acquire
  SN_CHECK((before & bit) == 0, "sn::cluster: a frame buffer was released twice");
}

std::span<std::byte> FrameBuffers::bytes(std::size_t destination, std::uint32_t index) noexcept {
  return {storage_.get() + (destination * per_destination_ + index) * buffer_bytes_, buffer_bytes_};
}

std::size_t FrameBuffers::approx_in_use(std::size_t destination) const noexcept {
  const std::uint64_t free = free_[destination].bits.load(std::memory_order_relaxed);
  return per_destination_ - static_cast<std::size_t>(std::popcount(free));
}

}  // namespace sn::detail
