// FrameBuffers: the fixed set of frame buffers of each destination rank, and SealedFrame,
// the handle of one sealed frame on its way to the transport thread.
//
// Memory stays bounded by destinations x buffers_per_destination x max_frame_bytes, all
// allocated at creation. A buffer is taken by the batcher that fills it (one thread, the
// owner) and given back by whoever finished sending it (the transport thread), so the
// free set of each destination is one atomic bit mask.
//
// Memory ordering: everything the releasing thread did with a buffer (the send that read
// it) happens-before the owner's next write into it: release() sets the bit with a
// release RMW (R1), and acquire() reads the mask with acquire (A1) before it clears it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "sn/cache_line.h"

namespace sn::detail {

/// The buffers of every destination. acquire() from the owner thread only; release()
/// from any thread.
class FrameBuffers {
 public:
  static constexpr std::size_t kMaxBuffersPerDestination = 64;  ///< One bit each in a u64.

  /// `destinations` sets of `buffers_per_destination` buffers of `buffer_bytes`.
  /// InvalidArgument when a count is 0 or buffers_per_destination exceeds 64.
  static absl::StatusOr<std::unique_ptr<FrameBuffers>> create(std::size_t destinations,
                                                              std::size_t buffers_per_destination,
                                                              std::size_t buffer_bytes);

  /// A free buffer of `destination`, taken; nullopt when all are in use. Owner only.
  std::optional<std::uint32_t> acquire(std::size_t destination) noexcept;
  /// Gives buffer `index` of `destination` back. Any thread; each acquired buffer once.
  void release(std::size_t destination, std::uint32_t index) noexcept;
  /// The bytes of a buffer (valid while the FrameBuffers lives).
  std::span<std::byte> bytes(std::size_t destination, std::uint32_t index) noexcept;
  /// Buffers of `destination` in use now; exact on the owner thread, else a snapshot.
  std::size_t approx_in_use(std::size_t destination) const noexcept;

  std::size_t destinations() const noexcept { return free_.size(); }
  std::size_t buffers_per_destination() const noexcept { return per_destination_; }
  std::size_t buffer_bytes() const noexcept { return buffer_bytes_; }

 private:
  /// The free set of one destination, on its own lines: owner and releaser both write it.
  struct alignas(kFalseSharingRange) FreeMask {
    std::atomic<std::uint64_t> bits{0};
  };
  static_assert(sizeof(FreeMask) == kFalseSharingRange);

  FrameBuffers(std::size_t destinations, std::size_t per_destination, std::size_t buffer_bytes);

  std::size_t per_destination_;
  std::size_t buffer_bytes_;
  std::uint64_t all_free_;
  std::vector<FreeMask> free_;
  std::unique_ptr<std::byte[]> storage_;
};

/// One sealed frame: which buffer of which destination holds it, and its bytes. The
/// transport gives the buffer back (FrameBuffers::release) once the send has completed.
struct SealedFrame {
  FrameBuffers* buffers = nullptr;   ///< Where the buffer goes back.
  std::uint32_t destination = 0;     ///< The destination rank.
  std::uint32_t buffer = 0;          ///< The buffer's index within the destination.
  std::uint64_t sequence = 0;        ///< The frame's sequence number for the destination.
  std::span<const std::byte> bytes;  ///< The frame, inside the buffer.

  /// Gives the buffer back; the bytes are not to be read after this.
  void release() const noexcept { buffers->release(destination, buffer); }
};

}  // namespace sn::detail
