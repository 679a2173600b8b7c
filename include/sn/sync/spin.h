// sn::sync spin phases: the first two phases of every wait in the project (spin, then
// yield; see WaitPolicy), which give way as soon as they keep another runnable thread off
// the CPU, and what a waiting thread remembers of that between its waits (SpinHistory).
//
// Why: a waiter spins so that it reacts within nanoseconds when the thread that will give
// it work runs on another CPU. When that thread, or any other runnable thread, needs the
// waiter's own CPU (a pinned worker beside an unpinned producer, more threads than CPUs,
// a compiler running), spinning only delays it: the kernel runs the spinner until its
// time slice ends. Two signs show that, with no system call to ask: a stretch of the spin
// that took far longer than its pauses can (the spinner was preempted), and a
// sched_yield() that returned late (another thread ran meanwhile). A preempted spin moves on to
// the yields (on a VM the hypervisor's steal time looks the same); a late yield, which
// only another thread of this machine causes, ends both phases, and the caller parks:
// the other thread runs, and the waiter's futex wake-up brings it back the moment there
// is something to do. The history then skips both phases for a while (kFirstWindow,
// doubling while the contention lasts, up to kLongestWindow).
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/wait_policy.h"
#include "sn/sync/futex.h"

namespace sn::sync {

/// The steady clock in nanoseconds.
inline std::int64_t spin_clock_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The CPU the calling thread runs on now (-1 when unknown): a hint, stale at once.
/// glibc reads it from the thread's rseq area, without a system call.
inline int current_cpu() noexcept { return ::sched_getcpu(); }

/// What one thread that waits again and again has learnt about its CPU. Not thread-safe:
/// each waiting thread owns one (a worker its own; other threads a thread_local one).
class SpinHistory {
 public:
  /// A stretch of spinning (64 pauses, about 1-3 us), or one yield (a bare sched_yield()
  /// is about 1-2 us), that took longer than this lost the CPU to another thread: far
  /// more than an interrupt takes, far less than the time slice a spinner would hold.
  static constexpr std::int64_t kPreemptedNs = 50'000;
  /// How long the phases are skipped after the first sign of contention...
  static constexpr std::int64_t kFirstWindow = 10'000'000;
  /// ...doubling with each sign that follows a window, up to this.
  static constexpr std::int64_t kLongestWindow = 1'280'000'000;

  /// Whether the spin and yield phases are to be skipped now.
  bool contended(std::int64_t now_ns) const noexcept { return now_ns < skip_until_ns_; }
  /// Another runnable thread needed this CPU while the caller spun or yielded.
  void note_contention(std::int64_t now_ns) noexcept {
    ++contentions_;
    window_ns_ = window_ns_ == 0 ? kFirstWindow : std::min(window_ns_ * 2, kLongestWindow);
    skip_until_ns_ = now_ns + window_ns_;
  }
  /// The phases ran their course (or found work) without a sign of contention.
  void note_quiet() noexcept { window_ns_ = 0; }
  /// The last wake-up came from this thread's own CPU: its waker is runnable there, so the
  /// next wait begins with one sched_yield() (after the work the wake-up brought).
  void note_woken_by_neighbour() noexcept { yield_first_ = true; }
  /// Whether the next wait begins with a yield; clears it.
  bool take_yield_first() noexcept { return std::exchange(yield_first_, false); }
  /// Signs of contention seen so far (for tests and counters).
  std::uint64_t contentions() const noexcept { return contentions_; }

 private:
  std::int64_t skip_until_ns_ = 0;
  std::int64_t window_ns_ = 0;
  std::uint64_t contentions_ = 0;
  bool yield_first_ = false;
};

/// The calling thread's own history, for waits that are given none.
inline SpinHistory& this_thread_spin_history() noexcept {
  thread_local SpinHistory history;
  return history;
}

/// Phases 1 and 2 of `policy`: re-tries `attempt` with a CPU pause, then with
/// sched_yield(), in between (after one yield first, whatever the policy, when the last
/// wake-up came from this CPU). Returns what `attempt` returned when it succeeded,
/// `timed_out` once `deadline` passed, or `would_block` when the caller is to park:
/// both phases over, or skipped or cut short because the CPU is wanted (see above).
template <class Result, class Attempt>
Result spin_then_yield(const WaitPolicy& policy, SpinHistory& history, absl::Time deadline, Result would_block,
                       Result timed_out, Attempt& attempt) {
  if (history.take_yield_first()) {  // whatever the policy: the waker may have more
    ::sched_yield();
    if (Result r = attempt(); r != would_block) return r;
  }
  if (policy.spin_iterations == 0 && policy.yield_iterations == 0) return would_block;
  std::int64_t last = spin_clock_ns();
  if (history.contended(last)) return would_block;
  const bool timed = deadline != absl::InfiniteFuture();
  auto contention = [&](std::int64_t now) {
    history.note_contention(now);
    return would_block;
  };
  // The clock is read every 64 rounds: for the deadline, and to see a preemption.
  for (std::uint32_t i = 0; i < policy.spin_iterations; ++i) {
    Result r = attempt();
    if (r != would_block) return r;
    if ((i & 63) == 63) {
      const std::int64_t now = spin_clock_ns();
      // Preempted: stop spinning and go on to the yields, which tell the two causes
      // apart. A lost stretch is as often the hypervisor's (steal time on a VM) as a
      // thread of this machine's; skipping the spin on that evidence alone cost every
      // later wait a futex wake-up (pool_rtt's p99 went from 0.8 to 20-50 us). A
      // sched_yield() that returns late is proof that a thread here wanted the CPU:
      // only that ends the phases and opens the window.
      if (now - last > SpinHistory::kPreemptedNs) break;
      last = now;
      if (timed && absl::Now() >= deadline) return timed_out;
    }
    cpu_relax();
  }
  for (std::uint32_t i = 0; i < policy.yield_iterations; ++i) {
    Result r = attempt();
    if (r != would_block) return r;
    if (timed && absl::Now() >= deadline) return timed_out;
    last = spin_clock_ns();
    ::sched_yield();
    if (const std::int64_t now = spin_clock_ns(); now - last > SpinHistory::kPreemptedNs) return contention(now);
  }
  history.note_quiet();
  return would_block;
}

}  // namespace sn::sync
