// sn::sync::block_on: the waiting half of the parking handshake: spin, yield, then park
// on a ParkingLot (parking_lot.h has the protocol and its memory ordering), until an
// attempt succeeds or a deadline passes.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/wait_policy.h"
#include "sn/detail/perturb.h"
#include "sn/sync/barrier.h"
#include "sn/sync/futex.h"
#include "sn/sync/parking_lot.h"

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
template <class Result, class Attempt, class Parked = IgnoreParking>
Result block_on(ParkingLot& lot, const WaitPolicy& policy, bool asymmetric, absl::Time deadline, Result would_block,
                Result timed_out, Attempt&& attempt, Parked&& parked = {}) {
  // The deadline is checked in every phase (in the spin phase every 64 rounds, to keep
  // clock reads rare): a long spin policy must not stretch a short timeout.
  const bool timed = deadline != absl::InfiniteFuture();
  for (std::uint32_t i = 0; i < policy.spin_iterations; ++i) {
    Result r = attempt();
    if (r != would_block) return r;
    if (timed && (i & 63) == 63 && absl::Now() >= deadline) return timed_out;
    cpu_relax();
  }
  for (std::uint32_t i = 0; i < policy.yield_iterations; ++i) {
    Result r = attempt();
    if (r != would_block) return r;
    if (timed && absl::Now() >= deadline) return timed_out;
    std::this_thread::yield();
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
}

}  // namespace sn::sync
