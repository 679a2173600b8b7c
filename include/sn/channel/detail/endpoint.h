// Internal: what a channel's two handles have in common: the ring they point to and the
// accessors that only read it. Sender and Receiver derive from it.
#pragma once

#include <cstddef>

#include "sn/channel/detail/ring.h"
#include "sn/channel/kind.h"
#include "sn/channel/stats.h"

namespace sn::detail {

template <class T, ChannelKind K>
class Endpoint {
 public:
  static constexpr ChannelKind kind = K;  ///< SPSC, MPSC or MPMC.
  using value_type = T;                   ///< The type of the values the channel carries.

  /// Closes the channel for everyone: sends fail, receivers drain what is left and
  /// then see `closed`, blocked threads wake up. Idempotent.
  void close() noexcept {
    if (ring_ != nullptr) ring_->close();
  }
  /// Whether the channel is closed; true for an empty handle.
  bool is_closed() const noexcept { return ring_ == nullptr || ring_->is_closed(); }
  /// False for an empty handle.
  bool valid() const noexcept { return ring_ != nullptr; }
  /// Same as valid().
  explicit operator bool() const noexcept { return valid(); }
  /// Slots in the channel (a power of two); 0 for an empty handle.
  std::size_t capacity() const noexcept { return ring_ == nullptr ? 0 : ring_->capacity(); }
  /// Bytes the channel's ring reserves: address space, committed as slots are first
  /// written (docs/tuning.md, "Memory"); 0 for an empty handle.
  std::size_t ring_bytes() const noexcept { return ring_ == nullptr ? 0 : ring_->bytes(); }
  /// A snapshot of the channel's counters; zeros for an empty handle.
  ChannelStats stats() const noexcept { return ring_ == nullptr ? ChannelStats{} : ring_->stats(); }

 protected:
  using Ring = detail::Ring<T, K>;
  static_assert(RingLayout<T, K>::kProven);

  Endpoint() noexcept = default;
  explicit Endpoint(Ring* ring) noexcept : ring_(ring) {}
  ~Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  Ring* ring_ = nullptr;
};

}  // namespace sn::detail
