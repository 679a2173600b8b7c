// sn::sync::Doorbell: where one thread (its owner) sleeps while any number of others
// publish work for it and ring. A pool worker's doorbell: every input of the worker
// rings it after each publication.
//
// Unlike ParkingLot (many sleepers), the word the owner sleeps on says whether it sleeps,
// and the first ringer to see it asleep marks it awake as it wakes it: the rings that
// follow, until the owner registers again, see it awake and make no system call, however
// long the owner takes to get a CPU. A burst of sends to a parked worker costs one futex
// wake, not one per message.
//
//   owner (wait, slow path)              ringer (hot path)
//   state = asleep            (W1)       publish slot / index              (P1)
//   heavy_barrier()           (W2)       light_barrier()                   (P2)
//   re-try the operation      (W3)       state == asleep?                  (P3)
//   futex_wait(state, asleep)            exchange(awake) == asleep? (P4): futex_wake
//   state == awake?           (W4)
//
// Either the owner's re-try (W3) sees the publication (P1), or the ringer's load (P3) sees
// the registration (W1) and wakes it; futex_wait returns at once if the exchange came
// first. The exchange's release (P4) pairs with the owner's acquire load (W4): woken, the
// owner sees what was published before the ring and takes it without another heavy
// barrier. Barriers: see barrier.h (membarrier on the owner's side, a compiler fence on
// the ringers' when available).
//
// Sharing a CPU: as ParkingLot, the ringer notes its CPU, and an owner woken on that CPU
// takes the work at once but yields once before it waits again (SpinHistory), so that
// the ringer (a producer beside a pinned worker) goes on publishing and the owner comes
// back to a batch, rather than parking and being woken once per message.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/cache_line.h"
#include "sn/channel/wait_policy.h"
#include "sn/detail/perturb.h"
#include "sn/sync/barrier.h"
#include "sn/sync/block_on.h"
#include "sn/sync/futex.h"
#include "sn/sync/spin.h"

namespace sn::sync {

/// One owner sleeps here; any thread rings. On its own false-sharing range: `state`
/// changes only when the owner parks or is woken, so the line stays shared (read-only) in
/// the ringers' caches while the owner is awake.
struct alignas(kFalseSharingRange) Doorbell {
  static constexpr std::uint32_t kAwake = 0;   ///< `state`: the owner runs (or a ring woke it).
  static constexpr std::uint32_t kAsleep = 1;  ///< `state`: the owner sleeps, or is about to.

  std::atomic<std::uint32_t> state{kAwake};  ///< The futex word.
  std::atomic<int> waker_cpu{-1};            ///< The CPU the last wake-up came from (a hint).
  std::atomic<std::uint64_t> wakes{0};       ///< futex wakes made (rings that found it asleep).

  /// Ringer side, called after the publication (P1).
  void ring(bool asymmetric) noexcept {
    SN_PERTURB_POINT("doorbell.ring.before_barrier");
    light_barrier(asymmetric);                                             // (P2)
    if (state.load(std::memory_order_relaxed) == kAsleep) [[unlikely]] {   // (P3) pairs with (W1)
      if (state.exchange(kAwake, std::memory_order_release) == kAsleep) {  // (P4) pairs with (W4)
        waker_cpu.store(::sched_getcpu(), std::memory_order_relaxed);
        wakes.fetch_add(1, std::memory_order_relaxed);
        futex_wake(&state, 1);
      }
    }
  }
  /// The owner sleeps (or is about to): a hint.
  bool asleep() const noexcept { return state.load(std::memory_order_relaxed) == kAsleep; }
  /// Times a ring found the owner asleep and woke it (a snapshot).
  std::uint64_t wake_count() const noexcept { return wakes.load(std::memory_order_relaxed); }
};
static_assert(sizeof(Doorbell) == kFalseSharingRange);
static_assert(alignof(Doorbell) == kFalseSharingRange);

/// block_on for the owner of `bell`: spins and yields (spin.h, with `history`, the
/// owner's own), then parks until `attempt` returns something other than `would_block`
/// or `deadline` passes (`timed_out`). `parked(d)` is told the length of each sleep.
/// Owner only.
template <class Result, class Attempt, class Parked = IgnoreParking>
Result block_on(Doorbell& bell, const WaitPolicy& policy, bool asymmetric, SpinHistory& history, absl::Time deadline,
                Result would_block, Result timed_out, Attempt&& attempt, Parked&& parked = {}) {
  if (Result r = spin_then_yield(policy, history, deadline, would_block, timed_out, attempt); r != would_block) {
    return r;
  }
  // Awake again on every exit, an exception from `attempt` included, so that ringers stop
  // looking for a sleeper (a ring that still sees it asleep only makes a spare wake).
  struct Awake {
    Doorbell& bell;
    ~Awake() { bell.state.store(Doorbell::kAwake, std::memory_order_relaxed); }
  } awake{bell};
  for (;;) {
    bell.state.store(Doorbell::kAsleep, std::memory_order_seq_cst);  // (W1) pairs with (P3)
    SN_PERTURB_POINT("doorbell.registered_before_barrier");
    heavy_barrier(asymmetric);  // (W2)
    Result r = attempt();       // (W3) sees (P1) unless P3 sees W1
    if (r != would_block) return r;
    // Still asleep: no ring since W1, so W1 and W2 still stand and the owner may sleep
    // again after a spurious return or a re-try that found nothing.
    do {
      const absl::Time now = absl::Now();
      if (now >= deadline) return timed_out;
      SN_PERTURB_POINT("doorbell.rechecked_before_futex_wait");
      futex_wait(&bell.state, Doorbell::kAsleep, deadline);
      if constexpr (!std::is_same_v<std::remove_cvref_t<Parked>, IgnoreParking>) parked(absl::Now() - now);
      if (bell.state.load(std::memory_order_acquire) == Doorbell::kAwake) {  // (W4) pairs with (P4)
        const int cpu = current_cpu();
        if (cpu >= 0 && bell.waker_cpu.load(std::memory_order_relaxed) == cpu) history.note_woken_by_neighbour();
      }
      r = attempt();
      if (r != would_block) return r;
    } while (bell.state.load(std::memory_order_relaxed) == Doorbell::kAsleep);
  }
}

}  // namespace sn::sync
