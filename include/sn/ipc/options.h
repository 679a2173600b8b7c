// Options of an inter-process channel, and why a channel closed.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/time/time.h"
#include "sn/channel/wait_policy.h"

namespace sn::ipc {

/// Options given when a channel is created or attached. Each process chooses its own;
/// only `type_tag` must agree between the two.
struct Options {
  /// How a blocked send or receive waits: spin, yield, then park on a shared futex.
  WaitPolicy wait{};
  /// A sender waiting for room declares the receiver hung, and the channel closed, when
  /// the receiver took nothing for this long while the ring was full. InfiniteDuration:
  /// never (a receiver that is slow on purpose).
  absl::Duration hang_timeout = absl::Seconds(10);
  /// How often a waiting end asks the kernel whether the peer process still exists (a
  /// pidfd): before each sleep, and while polling an empty ring on every 64th empty poll
  /// at most this often. A waiting end sees a dead peer within this (plus a park slice).
  absl::Duration liveness_period = absl::Milliseconds(2);
  /// Any value both processes agree on for the message type (a hash of its definition,
  /// a schema version): attaching with another tag fails with InvalidArgument.
  std::uint64_t type_tag = 0;

  /// Sets `wait`; returns `*this`.
  Options& with_wait_policy(WaitPolicy w) noexcept {
    wait = w;
    return *this;
  }
  /// Sets `hang_timeout`; returns `*this`.
  Options& with_hang_timeout(absl::Duration d) noexcept {
    hang_timeout = d;
    return *this;
  }
  /// Sets `type_tag`; returns `*this`.
  Options& with_type_tag(std::uint64_t tag) noexcept {
    type_tag = tag;
    return *this;
  }
};

/// Why an end sees the channel closed.
enum class CloseReason : std::uint8_t {
  open,            ///< Not closed.
  closed_here,     ///< This process closed its end.
  closed_by_peer,  ///< The peer closed its end (or dropped it).
  peer_exited,     ///< The peer's process ended without closing (its pidfd became readable).
  peer_hung,       ///< The receiver took nothing for Options::hang_timeout while the ring was full.
  peer_corrupt,    ///< The peer wrote an index or length no correct peer writes.
};

/// The enumerator's name, such as "peer_exited".
constexpr std::string_view to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::open: return "open";
    case CloseReason::closed_here: return "closed_here";
    case CloseReason::closed_by_peer: return "closed_by_peer";
    case CloseReason::peer_exited: return "peer_exited";
    case CloseReason::peer_hung: return "peer_hung";
    case CloseReason::peer_corrupt: return "peer_corrupt";
  }
  return "unknown";
}

}  // namespace sn::ipc
