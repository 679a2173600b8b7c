// sn::sync::ParkingLot: one place where the threads of one side sleep, and the
// publisher's half of the handshake that wakes them. Used by every channel kind and the
// pool's doorbells; see block_on.h for the waiting half.
//
// Lost wake-ups are ruled out by a Dekker handshake between the two sides:
//
//   waiting side (slow path)             publishing side (hot path)
//   waiters.fetch_add(1)      (W1)       publish slot / index      (P1)
//   heavy_barrier()           (W2)       light_barrier()           (P2)
//   re-try the operation      (W3)       waiters.load()            (P3)
//   futex_wait(epoch, e)                 if waiters: epoch++, futex_wake
//
// Either the waiter's re-try (W3) sees the publication (P1), or the publisher's load (P3)
// sees the waiter. With Linux membarrier(PRIVATE_EXPEDITED) available, the heavy barrier
// is that system call (run only when parking) and the light barrier is a compiler-only
// fence, so the publishing hot path pays one plain load and no fence. Without membarrier,
// both barriers are full seq_cst fences. The epoch read before W1 closes the remaining
// window: a wake between W3 and futex_wait changes the epoch, so futex_wait returns.
//
// A woken thread re-tries once before it registers again: the epoch's release bump (P4)
// after the publication pairs with the waiter's acquire load of the epoch (W4), so a
// waiter that finds the epoch changed sees what was published before it, with no heavy
// barrier on the way from the wake-up to the work.
//
// Sharing a CPU: the publisher notes the CPU it wakes from. A waiter woken on that same
// CPU preempted the publisher, which is still runnable with more to publish (a producer
// and a consumer pinned together, or more threads than CPUs): the waiter takes the work
// at once but yields once before it waits again (see block_on), so that it comes back to
// a batch rather than parking and being woken once per value.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "sn/cache_line.h"
#include "sn/detail/perturb.h"
#include "sn/sync/barrier.h"
#include "sn/sync/futex.h"

namespace sn::sync {

/// One place where threads of one side park, on its own false-sharing range.
/// `waiters` is written only by parking threads and read by every publisher, so the
/// line stays shared (read-only) in the publishers' caches while nobody parks.
struct alignas(kFalseSharingRange) ParkingLot {
  std::atomic<std::uint32_t> epoch{0};    ///< The futex word, bumped by each wake.
  std::atomic<std::uint32_t> waiters{0};  ///< Threads between W1 and their return.
  std::atomic<int> waker_cpu{-1};         ///< The CPU the last wake-up came from (a hint).

  /// Publisher side, called after the publication (P1). `count` threads are woken.
  void notify(bool asymmetric, int count) noexcept {
    SN_PERTURB_POINT("park.notify.before_barrier");
    light_barrier(asymmetric);                                        // (P2)
    if (waiters.load(std::memory_order_relaxed) != 0) [[unlikely]] {  // (P3) pairs with (W1)
      waker_cpu.store(::sched_getcpu(), std::memory_order_relaxed);   // ordered by P4
      epoch.fetch_add(1, std::memory_order_release);                  // (P4) pairs with (W4)
      futex_wake(&epoch, count);
    }
  }

  /// Whether a thread is parked (or about to park) here: a hint.
  bool has_waiters() const noexcept { return waiters.load(std::memory_order_relaxed) != 0; }
  /// Waiter side, after W4 saw a wake-up: whether it came from CPU `cpu` (a hint).
  bool woken_from(int cpu) const noexcept { return cpu >= 0 && waker_cpu.load(std::memory_order_relaxed) == cpu; }
};
static_assert(sizeof(ParkingLot) == kFalseSharingRange);
static_assert(alignof(ParkingLot) == kFalseSharingRange);

}  // namespace sn::sync
