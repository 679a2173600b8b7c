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
#pragma once

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

  /// Publisher side, called after the publication (P1). `count` threads are woken.
  void notify(bool asymmetric, int count) noexcept {
    SN_PERTURB_POINT("park.notify.before_barrier");
    light_barrier(asymmetric);                                        // (P2)
    if (waiters.load(std::memory_order_relaxed) != 0) [[unlikely]] {  // (P3) pairs with (W1)
      epoch.fetch_add(1, std::memory_order_release);
      futex_wake(&epoch, count);
    }
  }

  /// Whether a thread is parked (or about to park) here: a hint.
  bool has_waiters() const noexcept { return waiters.load(std::memory_order_relaxed) != 0; }
};
static_assert(sizeof(ParkingLot) == kFalseSharingRange);
static_assert(alignof(ParkingLot) == kFalseSharingRange);

}  // namespace sn::sync
