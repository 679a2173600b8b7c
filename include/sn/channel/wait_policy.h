// How a blocked channel operation waits: spin, then yield, then park.
#pragma once

#include <cstdint>

namespace sn {

/// Thresholds for the three waiting phases of a blocking send or receive.
///
/// 1. Spin: re-try the operation `spin_iterations` times with a CPU pause in between.
///    Costs one core, reacts within nanoseconds.
/// 2. Yield: re-try `yield_iterations` times, calling sched_yield() in between.
/// 3. Park: sleep in the kernel (futex) until the other side publishes, closes, or the
///    deadline passes. A parked thread uses no CPU; waking it costs a system call on
///    the other side, which is made only while a thread is actually parked.
///
/// Setting both counts to 0 parks at once (lowest CPU use); large counts trade CPU for
/// wake-up latency.
///
/// The counts are upper bounds. Spinning or yielding while another runnable thread needs
/// this CPU (a producer beside a pinned worker, say) only delays that thread: a stretch
/// of spinning that took over 50 µs moves on to the yields, and a sched_yield() that took
/// over 50 µs ends both phases, the waiter parks, and it skips them for 10 ms, doubling
/// while that lasts, up to 1.28 s (sn/sync/spin.h). A thread with a CPU to itself keeps its full phases.
/// A pool worker is woken once per sleep: the first send after it parked makes the futex
/// wake, and the sends that follow until it runs make none (WorkerStats::wakes).
struct WaitPolicy {
  std::uint32_t spin_iterations = 4096;  ///< Re-tries with a CPU pause in between (phase 1).
  std::uint32_t yield_iterations = 16;   ///< Re-tries with sched_yield() in between (phase 2).

  /// Both counts 0: parks at once (lowest CPU use).
  static constexpr WaitPolicy park_immediately() noexcept { return {0, 0}; }
  /// Spins and yields much longer before parking: less wake-up latency for more CPU.
  static constexpr WaitPolicy low_latency() noexcept { return {1u << 20, 256}; }

  /// Equal when both counts are.
  friend constexpr bool operator==(const WaitPolicy&, const WaitPolicy&) = default;
};

/// Options given when a channel is created.
struct ChannelOptions {
  WaitPolicy wait{};  ///< How blocked sends and receives on the channel wait.

  /// Sets `wait`; returns `*this`.
  ChannelOptions& with_wait_policy(WaitPolicy w) noexcept {
    wait = w;
    return *this;
  }
};

}  // namespace sn
