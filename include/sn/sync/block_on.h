// sn::sync::block_on: the waiting half of the parking handshake: spin, yield (spin.h),
// then park on a ParkingLot (parking_lot.h has the protocol and its memory ordering),
// until an attempt succeeds or a deadline passes. doorbell.h has the same for a lot with
// one sleeper.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/wait_policy.h"
#include "sn/detail/perturb.h"
#include "sn/sync/barrier.h"
#include "sn/sync/futex.h"
#include "sn/sync/parking_lot.h"
#include "sn/sync/spin.h"

namespace sn::sync {

/// What block_on tells about each sleep in the kernel; the default ignores it.
struct IgnoreParking {
  /// Ignores the length of a sleep.
  void operator()(absl::Duration) const noexcept {}
};

/// Runs `attempt` until it returns something other than `would_block`, waiting between
/// attempts as `policy` says. Returns `timed_out` if the deadline passes first.
/// `attempt` must be idempotent while it fails. `parked(d)` is called after each sleep
/// in the kernel with its length (two clock reads per sleep, none on the other phases).
/// The spin and yield phases learn from, and feed, the calling thread's SpinHistory.
///
/// Woken, the thread re-tries before it registers again, so that the wake-up's reason is
/// taken without another heavy barrier; a thread woken from its own CPU yields once
/// before its next wait (see ParkingLot::woken_from).
template <class Result, class Attempt, class Parked = IgnoreParking>
Result block_on(ParkingLot& lot, const WaitPolicy& policy, bool asymmetric, absl::Time deadline, Result would_block,
                Result timed_out, Attempt&& attempt, Parked&& parked = {}) {
  if (Result r = spin_then_yield(policy, this_thread_spin_history(), deadline, would_block, timed_out, attempt);
      r != would_block) {
    return r;
  }
  // Leaves the lot on every exit, an exception from `attempt` included, so that
  // publishers do not keep paying for a wake-up nobody waits for.
  struct Registration {
    ParkingLot& lot;
    explicit Registration(ParkingLot& l) noexcept : lot(l) {
      lot.waiters.fetch_add(1, std::memory_order_seq_cst);  // (W1) pairs with (P3)
    }
    ~Registration() { lot.waiters.fetch_sub(1, std::memory_order_relaxed); }
  };
  for (;;) {
    const std::uint32_t e = lot.epoch.load(std::memory_order_acquire);
    {
      Registration registered(lot);
      SN_PERTURB_POINT("park.registered_before_barrier");
      heavy_barrier(asymmetric);  // (W2)
      Result r = attempt();       // (W3) sees (P1) unless P3 sees W1
      if (r != would_block) return r;
      const absl::Time now = absl::Now();
      if (now >= deadline) return timed_out;
      SN_PERTURB_POINT("park.rechecked_before_futex_wait");
      futex_wait(&lot.epoch, e, deadline);
      if constexpr (!std::is_same_v<std::remove_cvref_t<Parked>, IgnoreParking>) parked(absl::Now() - now);
    }
    // (W4) an epoch other than e was bumped by a wake-up (P4), whose publication it orders
    // before this attempt.
    if (lot.epoch.load(std::memory_order_acquire) != e) {
      if (lot.woken_from(current_cpu())) this_thread_spin_history().note_woken_by_neighbour();
      Result r = attempt();
      if (r != would_block) return r;
    }
    if (deadline != absl::InfiniteFuture() && absl::Now() >= deadline) return timed_out;
  }
}

}  // namespace sn::sync
