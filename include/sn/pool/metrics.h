// The one list of pool metrics. Each row names a field of WorkerStats, of PoolStats or of
// both, and says how it is exported. PoolStats::add (the sum of the workers), the
// Prometheus text, the JSON and the docs check (tests/docs) all read this list: a new
// metric is its field, one row here, and the increment where it is counted.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "absl/time/time.h"
#include "sn/pool/stats.h"

namespace sn {

/// How Prometheus treats a metric.
enum class MetricType {
  counter,  ///< Only grows; its Prometheus name ends in `_total`.
  gauge,    ///< Goes up and down.
};

/// Where a metric is reported: per worker (labels pool, worker) or per pool (label pool).
enum class MetricLevel {
  worker,  ///< In WorkerStats; `sn_worker_*` in Prometheus.
  pool,    ///< In PoolStats; `sn_pool_*` in Prometheus.
};

/// The field of `Stats` (WorkerStats or PoolStats) that holds a metric, or std::monostate
/// where the metric does not exist at that level. Exported as: a count as it is, a
/// duration in seconds, a flag as 1 or 0 (true or false in JSON).
template <class Stats>
using MetricField = std::variant<std::monostate, std::uint64_t Stats::*, absl::Duration Stats::*, bool Stats::*>;

/// One metric of a pool: its names, its type, and its fields at each level.
///
/// A metric with both fields is a sum: PoolStats::add adds the worker's field into the
/// pool's (the pool's may hold more, counted outside the workers, as `rejected` does).
struct PoolMetric {
  std::string_view json;        ///< Its JSON key, at each level where it exists.
  std::string_view prometheus;  ///< Its Prometheus name between `sn_worker_` or `sn_pool_`
                                ///< and, for a counter, `_total`; a duration's ends in `_seconds`.
  MetricType type = MetricType::counter;  ///< Counter unless the row says gauge.
  MetricField<WorkerStats> worker{};      ///< Its WorkerStats field, if any.
  MetricField<PoolStats> pool{};          ///< Its PoolStats field, if any.
  std::string_view worker_help{};  ///< HELP of `sn_worker_<prometheus>`: set exactly when `worker` is.
  std::string_view pool_help{};    ///< HELP of `sn_pool_<prometheus>`; empty where the pool's value
                                   ///< is in the JSON only (the sum of the worker series says it).

  /// Whether WorkerStats has it.
  constexpr bool at_worker() const noexcept { return worker.index() != 0; }
  /// Whether PoolStats has it.
  constexpr bool at_pool() const noexcept { return pool.index() != 0; }
  /// Whether it is in the Prometheus text at `level`.
  constexpr bool in_prometheus(MetricLevel level) const noexcept {
    return level == MetricLevel::worker ? at_worker() : !pool_help.empty();
  }
  /// Whether PoolStats::add sums it: it exists at both levels.
  constexpr bool summed() const noexcept { return at_worker() && at_pool(); }
  /// Whether the row is consistent: named, in the Prometheus text at some level, help
  /// exactly where a family is exported, and a sum only of two counts or two durations.
  constexpr bool valid() const noexcept {
    const bool named = !json.empty() && !prometheus.empty();
    const bool helped = at_worker() == !worker_help.empty() && (pool_help.empty() || at_pool());
    const bool exported = in_prometheus(MetricLevel::worker) || in_prometheus(MetricLevel::pool);
    const bool summable =
        !summed() || (worker.index() == pool.index() && !std::holds_alternative<bool WorkerStats::*>(worker));
    return named && helped && exported && summable;
  }
};

/// Every metric of WorkerStats and PoolStats except the worker's identity (index, name,
/// cpu, memory_bound: labels and JSON only), `PoolStats::workers` (exported as the count
/// of active workers) and `PoolStats::in_flight()`. The order is the JSON's and the
/// Prometheus text's.
inline constexpr PoolMetric kPoolMetrics[] = {
    {.json = "running", .prometheus = "running", .type = MetricType::gauge, .pool = &PoolStats::running,
     .pool_help = "1 while the pool takes messages, 0 once shutdown or stop began."},
    {.json = "active", .prometheus = "active", .type = MetricType::gauge, .worker = &WorkerStats::active,
     .worker_help = "1 while a worker runs in this slot."},
    {.json = "accepted", .prometheus = "accepted", .pool = &PoolStats::accepted,
     .pool_help = "Messages the pool accepted (external and worker-to-worker)."},
    {.json = "rejected", .prometheus = "rejected", .worker = &WorkerStats::rejected, .pool = &PoolStats::rejected,
     .worker_help = "Sends by the worker that were refused.",
     .pool_help = "Sends refused with the value handed back (full, closed, invalid)."},
    {.json = "processed", .prometheus = "processed", .worker = &WorkerStats::processed, .pool = &PoolStats::processed,
     .worker_help = "Messages handled successfully."},
    {.json = "failed", .prometheus = "failed", .worker = &WorkerStats::failed, .pool = &PoolStats::failed,
     .worker_help = "Messages whose handler threw or returned an error."},
    {.json = "dropped", .prometheus = "dropped", .worker = &WorkerStats::dropped, .pool = &PoolStats::dropped,
     .worker_help = "Messages for this worker destroyed unhandled."},
    {.json = "batches", .prometheus = "batches", .worker = &WorkerStats::batches, .pool = &PoolStats::batches,
     .worker_help = "Loop iterations that handled at least one message."},
    {.json = "ticks", .prometheus = "ticks", .worker = &WorkerStats::ticks, .pool = &PoolStats::ticks,
     .worker_help = "Calls of tick()."},
    {.json = "restarts", .prometheus = "restarts", .worker = &WorkerStats::restarts, .pool = &PoolStats::restarts,
     .worker_help = "State rebuilds under FaultPolicy::restart."},
    {.json = "parks", .prometheus = "parks", .worker = &WorkerStats::parks, .pool = &PoolStats::parks,
     .worker_help = "Times the worker slept in the kernel for lack of work."},
    {.json = "time_parked_seconds", .prometheus = "parked_seconds", .worker = &WorkerStats::time_parked,
     .pool = &PoolStats::time_parked, .worker_help = "Time the worker spent asleep in the kernel."},
    {.json = "queue_depth", .prometheus = "queue_depth", .type = MetricType::gauge, .worker = &WorkerStats::queue_depth,
     .pool = &PoolStats::queue_depth, .worker_help = "Messages waiting in the worker's inbox, lanes and outbox."},
    {.json = "hook_faults", .prometheus = "hook_faults", .pool = &PoolStats::hook_faults,
     .pool_help = "Exceptions from tick, on_stop and resize hooks."},
    {.json = "sent", .prometheus = "sent", .worker = &WorkerStats::sent,
     .worker_help = "Messages the worker sent to workers that were accepted."},
    {.json = "timers_scheduled", .prometheus = "timers_scheduled", .worker = &WorkerStats::timers_scheduled,
     .pool = &PoolStats::timers_scheduled,
     .worker_help = "Timers the worker made, and timers made outside the pool that it holds."},
    {.json = "timers_fired", .prometheus = "timers_fired", .worker = &WorkerStats::timers_fired,
     .pool = &PoolStats::timers_fired,
     .worker_help = "Firings of timers the worker held (a periodic timer counts each time)."},
    {.json = "timers_cancelled", .prometheus = "timers_cancelled", .worker = &WorkerStats::timers_cancelled,
     .pool = &PoolStats::timers_cancelled, .worker_help = "Timers of the worker cancelled before they fired."},
    {.json = "timers_pending", .prometheus = "timers_pending", .type = MetricType::gauge,
     .pool = &PoolStats::timers_pending,
     .pool_help = "Timers that have yet to fire (periodic ones until cancelled); 0 after shutdown or stop."},
};

static_assert(
    [] {
      for (const PoolMetric& m : kPoolMetrics) {
        if (!m.valid()) return false;
      }
      return true;
    }(),
    "a row of kPoolMetrics is inconsistent: see PoolMetric::valid()");

}  // namespace sn
