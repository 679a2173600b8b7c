// What a pool reports about itself while it runs: per-worker and pool-wide counters.
// Every metric field here is a row of kPoolMetrics (sn/pool/metrics.h), which sums and
// exports it: a new field needs its row there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace sn {

/// A snapshot of one worker. Counters only grow; each is exact, but they are read one by
/// one while the worker runs, so a snapshot of a busy worker is not one instant.
struct WorkerStats {
  std::size_t index = 0;                ///< Its slot in the pool.
  std::string name;                     ///< Its thread name.
  bool active = false;                  ///< Runs now (false once remove_worker() took it out).
  int cpu = -1;                         ///< The CPU it is pinned to; -1 when not pinned.
  bool memory_bound = false;            ///< Whether its memory is bound to that CPU's NUMA node.
  std::uint64_t processed = 0;          ///< Messages handled successfully.
  std::uint64_t failed = 0;             ///< Messages whose handler threw or returned an error.
  std::uint64_t dropped = 0;            ///< Messages for this worker not handled: full queue
                                        ///< under FullPolicy::drop, left over at stop(), or sent
                                        ///< to it while isolated (the dead letters, with a sink).
  bool isolated = false;                ///< Out of service after FaultPolicy::isolate, until revived.
  std::uint64_t isolated_drops = 0;     ///< Messages dropped while it was isolated (also in dropped).
  std::uint64_t batches = 0;            ///< Loop iterations that handled at least one message.
  std::uint64_t ticks = 0;              ///< Calls of tick().
  std::uint64_t restarts = 0;           ///< State rebuilds under FaultPolicy::restart.
  std::uint64_t parks = 0;              ///< Times it slept in the kernel for lack of work.
  std::uint64_t wakes = 0;              ///< Times a sender found it asleep and woke it (a futex
                                        ///< wake; the sends that follow until it runs make none).
  absl::Duration time_parked;           ///< Total time asleep in the kernel.
  std::uint64_t queue_depth = 0;        ///< Messages waiting in its inbox and incoming lanes, plus
                                        ///< its own outbox (messages it sent that did not fit yet).
  std::uint64_t outbox_peak_bytes = 0;  ///< The most memory its outbox held at once: the
                                        ///< chunks of its heap that kept messages a full lane
                                        ///< could not take yet (FullPolicy::block).
  std::uint64_t sent = 0;               ///< Messages it sent to workers that were accepted.
  std::uint64_t rejected = 0;           ///< Its sends that were refused and handed back.
  std::uint64_t timers_scheduled = 0;   ///< Timers it made (send_after, send_every), and
                                        ///< timers made outside the pool that it holds.
  std::uint64_t timers_fired = 0;       ///< Firings of timers it held (a periodic timer
                                        ///< counts each time).
  std::uint64_t timers_cancelled = 0;   ///< Its timers cancelled before they fired (by
                                        ///< cancel(), or by shutdown() and stop()).
  std::uint64_t calls_started = 0;      ///< Calls it made (WorkerContext::call).
  std::uint64_t calls_completed = 0;    ///< Of those, the ones whose callback got a reply.
  std::uint64_t calls_failed = 0;       ///< ... got an error other than DeadlineExceeded.
  std::uint64_t calls_timed_out = 0;    ///< ... got DeadlineExceeded.
  std::uint64_t calls_handled = 0;      ///< Requests it took as a callee.
  std::uint64_t late_replies = 0;       ///< Answers handle_call returned after the call had
                                        ///< completed (a deadline, a cancel): dropped. Counted by
                                        ///< the callee, or by the caller when the answer came back
                                        ///< by value. A Reply's late answers count in PoolStats only.

  /// Messages per batch, on average.
  double mean_batch_size() const noexcept {
    return batches == 0 ? 0.0 : static_cast<double>(processed + failed) / static_cast<double>(batches);
  }
};

/// A snapshot of a pool: every worker that has run in it (removed ones included, so
/// that the totals add up) and their totals.
///
/// Accounting: every message the pool accepted is handled (processed or failed), dropped,
/// or still in flight. Once shutdown() or stop() has returned,
///   accepted == processed + failed + dropped
/// holds exactly, and in_flight() is 0. Refused sends (rejected) were never accepted.
struct PoolStats {
  std::uint64_t accepted = 0;           ///< Sends that the pool took: external and worker-to-worker,
                                        ///< including those then dropped under FullPolicy::drop, and
                                        ///< the messages workers took from their PolledSources.
  std::uint64_t rejected = 0;           ///< Sends refused with the value handed back: full under
                                        ///< FullPolicy::fail, closed, or an invalid destination.
  std::uint64_t processed = 0;          ///< Sum of WorkerStats::processed.
  std::uint64_t failed = 0;             ///< Sum of WorkerStats::failed.
  std::uint64_t dropped = 0;            ///< Sum of WorkerStats::dropped.
  std::uint64_t batches = 0;            ///< Sum of WorkerStats::batches.
  std::uint64_t ticks = 0;              ///< Sum of WorkerStats::ticks.
  std::uint64_t restarts = 0;           ///< Sum of WorkerStats::restarts.
  std::uint64_t parks = 0;              ///< Sum of WorkerStats::parks.
  std::uint64_t wakes = 0;              ///< Sum of WorkerStats::wakes.
  absl::Duration time_parked;           ///< Sum of WorkerStats::time_parked.
  std::uint64_t queue_depth = 0;        ///< Sum of WorkerStats::queue_depth.
  std::uint64_t outbox_peak_bytes = 0;  ///< Sum of WorkerStats::outbox_peak_bytes (each worker's
                                        ///< own peak; they need not have come at once).
  std::uint64_t hook_faults = 0;        ///< Exceptions from tick(), on_stop(), on_fault(), resize hooks
                                        ///< and the dead-letter sink (they handle no message).
  std::uint64_t faults = 0;             ///< Faults reported (each failed handler call or hook; one per
                                        ///< handle_batch call however many messages it held).
  std::uint64_t isolated_drops = 0;     ///< Sum of WorkerStats::isolated_drops.
  std::uint64_t dead_letters = 0;       ///< Dropped messages passed to the dead-letter sink (each is
                                        ///< also in dropped); 0 without a sink.
  std::string last_fault;               ///< describe() of the latest fault; empty when none.
  std::uint64_t timers_scheduled = 0;   ///< Sum of WorkerStats::timers_scheduled.
  std::uint64_t timers_fired = 0;       ///< Sum of WorkerStats::timers_fired.
  std::uint64_t timers_cancelled = 0;   ///< Timers cancelled before they fired, shutdown
                                        ///< and stop included.
  std::uint64_t calls_started = 0;      ///< Sum of WorkerStats::calls_started, plus calls made from
                                        ///< outside the pool (WorkerPool::call).
  std::uint64_t calls_completed = 0;    ///< Sum of WorkerStats::calls_completed (workers' calls).
  std::uint64_t calls_failed = 0;       ///< Sum of WorkerStats::calls_failed (workers' calls).
  std::uint64_t calls_timed_out = 0;    ///< Sum of WorkerStats::calls_timed_out (workers' calls).
  std::uint64_t calls_handled = 0;      ///< Sum of WorkerStats::calls_handled.
  std::uint64_t late_replies = 0;       ///< Sum of WorkerStats::late_replies, plus the late
                                        ///< answers given through a Reply (counted for the pool
                                        ///< only: a Reply may answer from any thread).
  std::uint64_t timers_pending = 0;     ///< Timers that have yet to fire (periodic ones
                                        ///< until cancelled); 0 after shutdown or stop.
  bool running = false;                 ///< False once shutdown or stop has begun (or a fault stopped it).
  std::vector<WorkerStats> workers;     ///< Each worker's own snapshot.

  /// Adds one worker's fields to the totals: each metric of kPoolMetrics (sn/pool/metrics.h)
  /// that exists at both levels. Pool-only fields (accepted, hook_faults, ...) are untouched.
  void add(const WorkerStats& w) noexcept;

  /// Accepted messages not yet handled or dropped (0 when the counters were read mid-update).
  std::uint64_t in_flight() const noexcept {
    const std::uint64_t done = processed + failed + dropped;
    return accepted > done ? accepted - done : 0;
  }
  /// Whether every accepted message is accounted for.
  bool balanced() const noexcept { return accepted == processed + failed + dropped; }
  /// Messages per batch, on average over all workers.
  double mean_batch_size() const noexcept {
    return batches == 0 ? 0.0 : static_cast<double>(processed + failed) / static_cast<double>(batches);
  }
};

}  // namespace sn
