// sn::TimerId: names a timer made by send_after or send_every, for cancel().
#pragma once

#include <cstdint>

namespace sn {

/// Names one timer of one pool. A default-constructed id names no timer (a refused
/// send_after returns it); cancelling it, or an id that already fired or was cancelled,
/// returns false. Ids are reused only after about 16 million timers in the same place,
/// so a stale id is recognised as stale.
struct TimerId {
  std::uint64_t value = 0;  ///< Opaque; 0 names no timer.
  /// Whether the id names a timer that was made (it may have fired since).
  bool valid() const noexcept { return value != 0; }
  /// Same as valid().
  explicit operator bool() const noexcept { return valid(); }
  /// Equal when both name the same timer.
  friend bool operator==(TimerId, TimerId) = default;
};

}  // namespace sn
