// A pool's stats snapshot, read from its slots' counters by any thread, and the sum of
// the workers' fields into the pool's, which kPoolMetrics drives.
#include <atomic>
#include <cstdint>
#include <variant>

#include "absl/time/time.h"
#include "sn/pool/detail/pool_base.h"
#include "sn/pool/metrics.h"
#include "sn/pool/stats.h"

namespace sn {
namespace {

/// Adds the worker's field of `m` into the pool's when both hold a `T`.
template <class T>
void add_if(const PoolMetric& m, const WorkerStats& from, PoolStats& to) noexcept {
  const auto* worker = std::get_if<T WorkerStats::*>(&m.worker);
  const auto* pool = std::get_if<T PoolStats::*>(&m.pool);
  if (worker != nullptr && pool != nullptr) to.*(*pool) += from.*(*worker);
}

}  // namespace

void PoolStats::add(const WorkerStats& w) noexcept {
  for (const PoolMetric& m : kPoolMetrics) {
    add_if<std::uint64_t>(m, w, *this);
    add_if<absl::Duration>(m, w, *this);
  }
}

}  // namespace sn

namespace sn::detail {
namespace {

/// What one slot's counters say, as a WorkerStats.
WorkerStats read_worker(std::size_t index, const CoreBase& core) {
  WorkerStats w;
  w.index = index;
  w.name = core.config.name;
  w.active = core.control.active.load(std::memory_order_relaxed);
  w.cpu = core.owned.cpu.load(std::memory_order_relaxed);
  w.memory_bound = core.owned.memory_bound.load(std::memory_order_relaxed);
  w.processed = core.owned.processed.get();
  w.failed = core.owned.failed.get();
  w.isolated = core.owned.isolated.load(std::memory_order_relaxed);
  w.isolated_drops = core.owned.isolated_drops.get();
  w.dropped = core.remote.dropped_full.load(std::memory_order_relaxed) +
              core.remote.dropped_at_stop.load(std::memory_order_relaxed) + w.isolated_drops;
  w.batches = core.owned.batches.get();
  w.ticks = core.owned.ticks.get();
  w.restarts = core.owned.restarts.get();
  w.parks = core.owned.parks.get();
  w.wakes = core.doorbell.wake_count();
  w.time_parked = absl::Nanoseconds(core.owned.parked_ns.get());
  w.sent = core.owned.sent.get();
  w.rejected = core.owned.rejected.get();
  w.queue_depth = core.queued() + core.owned.outbox_pending.load(std::memory_order_relaxed);
  w.outbox_peak_bytes = core.owned.outbox_peak_bytes.load(std::memory_order_relaxed);
  w.timers_scheduled = core.owned.timers_scheduled.get() + core.remote.timers_scheduled.load(std::memory_order_relaxed);
  w.timers_fired = core.owned.timers_fired.get();
  w.timers_cancelled = core.remote.timers_cancelled.load(std::memory_order_relaxed);
  w.calls_started = core.owned.calls_started.get();
  w.calls_completed = core.owned.calls_completed.get();
  w.calls_failed = core.owned.calls_failed.get();
  w.calls_timed_out = core.owned.calls_timed_out.get();
  w.calls_handled = core.owned.calls_handled.get();
  w.late_replies = core.owned.late_replies.get();
  return w;
}

}  // namespace

PoolStats PoolBase::stats() const {
  const PoolState& s = *state_;
  PoolStats total;
  total.running = running();
  total.workers.reserve(capacity());
  // Done counters first, accepted after, so that in_flight() is rarely understated (a
  // worker counts a send just after publishing it, so it is not a guarantee).
  std::uint64_t timers_done = 0;
  for (std::size_t j = 0; j < capacity(); ++j) {
    const CoreBase& core = *s.bases[j];
    if (!core.control.started.load(std::memory_order_relaxed)) continue;
    total.add(total.workers.emplace_back(read_worker(j, core)));
    timers_done += core.owned.timers_expired.get();
  }
  total.rejected += s.external_rejected.load(std::memory_order_relaxed);
  total.hook_faults = s.hook_faults.load(std::memory_order_relaxed);
  total.calls_started += s.external_calls.load(std::memory_order_relaxed);
  total.late_replies += s.reply_late.load(std::memory_order_relaxed);
  total.dead_letters = s.dead_letters_posted.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(s.fault_mu);
    total.faults = s.faults;
    total.last_fault = s.last_fault;
  }
  total.timers_cancelled += s.foreign_timers_cancelled.load(std::memory_order_relaxed);
  timers_done += total.timers_cancelled;
  total.timers_pending = total.timers_scheduled > timers_done ? total.timers_scheduled - timers_done : 0;
  const std::uint64_t dropped_at_gate = s.dropped_at_gate.load(std::memory_order_relaxed);
  total.dropped += dropped_at_gate;
  total.accepted += dropped_at_gate;
  for (std::size_t j = 0; j < capacity(); ++j) {
    const CoreBase& core = *s.bases[j];
    total.accepted += core.inbox_accepted() + core.owned.sent.get() + core.owned.from_sources.get() +
                      core.remote.dropped_full.load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace sn::detail
