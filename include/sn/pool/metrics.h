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
  std::string_view json;                  ///< Its JSON key, at each level where it exists.
  std::string_view prometheus;            ///< Its Prometheus name between `sn_worker_` or `sn_pool_`
                                          ///< and, for a counter, `_total`; a duration's ends in `_seconds`.
  MetricType type = MetricType::counter;  ///< Counter unless the row says gauge.
  MetricField<WorkerStats> worker{};      ///< Its WorkerStats field, if any.
  MetricField<PoolStats> pool{};          ///< Its PoolStats field, if any.
  std::string_view worker_help{};         ///< HELP of `sn_worker_<prometheus>`: set exactly when `worker` is.
  std::string_view pool_help{};           ///< HELP of `sn_pool_<prometheus>`; empty where the pool's value
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

// Row builders: a counter summed over the workers, one at one level only, and a gauge.
namespace metric_rows {
/// A counter at both levels, summed by PoolStats::add; `help` is the worker series'.
template <class T>
constexpr PoolMetric summed(std::string_view name, T WorkerStats::*w, T PoolStats::*p, std::string_view help) {
  return {.json = name, .prometheus = name, .worker = w, .pool = p, .worker_help = help};
}
/// A metric of WorkerStats only.
template <class T>
constexpr PoolMetric per_worker(std::string_view name, T WorkerStats::*w, std::string_view help,
                                MetricType type = MetricType::counter) {
  return {.json = name, .prometheus = name, .type = type, .worker = w, .worker_help = help};
}
/// A metric of PoolStats only.
template <class T>
constexpr PoolMetric per_pool(std::string_view name, T PoolStats::*p, std::string_view help,
                              MetricType type = MetricType::counter) {
  return {.json = name, .prometheus = name, .type = type, .pool = p, .pool_help = help};
}
/// The same row, exported as a gauge.
constexpr PoolMetric gauge(PoolMetric m) {
  m.type = MetricType::gauge;
  return m;
}
/// The same row, with a pool series too.
constexpr PoolMetric with_pool_help(PoolMetric m, std::string_view help) {
  m.pool_help = help;
  return m;
}
/// The same row, with other names for JSON and Prometheus.
constexpr PoolMetric named(PoolMetric m, std::string_view json, std::string_view prometheus) {
  m.json = json;
  m.prometheus = prometheus;
  return m;
}
}  // namespace metric_rows

/// Every metric of WorkerStats and PoolStats except the worker's identity (index, name,
/// cpu, memory_bound: labels and JSON only), `PoolStats::workers` (exported as the count
/// of active workers) and `PoolStats::in_flight()`. The order is the JSON's and the
/// Prometheus text's.
// clang-format off
inline constexpr PoolMetric kPoolMetrics[] = {
    metric_rows::per_pool("running", &PoolStats::running, "1 while the pool takes messages, 0 once shutdown or stop began.", MetricType::gauge),
    metric_rows::per_worker("active", &WorkerStats::active, "1 while a worker runs in this slot.", MetricType::gauge),
    metric_rows::per_pool("accepted", &PoolStats::accepted, "Messages the pool accepted (external and worker-to-worker)."),
    metric_rows::with_pool_help(metric_rows::summed("rejected", &WorkerStats::rejected, &PoolStats::rejected, "Sends by the worker that were refused."), "Sends refused with the value handed back (full, closed, invalid)."),
    metric_rows::summed("processed", &WorkerStats::processed, &PoolStats::processed, "Messages handled successfully."),
    metric_rows::summed("failed", &WorkerStats::failed, &PoolStats::failed, "Messages whose handler threw or returned an error."),
    metric_rows::summed("dropped", &WorkerStats::dropped, &PoolStats::dropped, "Messages for this worker destroyed unhandled."),
    metric_rows::summed("batches", &WorkerStats::batches, &PoolStats::batches, "Loop iterations that handled at least one message."),
    metric_rows::summed("ticks", &WorkerStats::ticks, &PoolStats::ticks, "Calls of tick()."),
    metric_rows::summed("restarts", &WorkerStats::restarts, &PoolStats::restarts, "State rebuilds under FaultPolicy::restart."),
    metric_rows::gauge(metric_rows::per_worker("isolated", &WorkerStats::isolated, "1 while the worker is out of service after FaultPolicy::isolate.")),
    metric_rows::summed("isolated_drops", &WorkerStats::isolated_drops, &PoolStats::isolated_drops, "Messages dropped because their worker was isolated."),
    metric_rows::per_pool("faults", &PoolStats::faults, "Faults reported: failed handler calls and hooks."),
    metric_rows::per_pool("dead_letters", &PoolStats::dead_letters, "Dropped messages passed to the dead-letter sink (also in dropped)."),
    metric_rows::summed("parks", &WorkerStats::parks, &PoolStats::parks, "Times the worker slept in the kernel for lack of work."),
    metric_rows::summed("wakes", &WorkerStats::wakes, &PoolStats::wakes, "Times a sender found the worker asleep and woke it."),
    metric_rows::named(metric_rows::summed("", &WorkerStats::time_parked, &PoolStats::time_parked, "Time the worker spent asleep in the kernel."), "time_parked_seconds", "parked_seconds"),
    metric_rows::gauge(metric_rows::summed("queue_depth", &WorkerStats::queue_depth, &PoolStats::queue_depth, "Messages waiting in the worker's inbox, lanes and outbox.")),
    metric_rows::gauge(metric_rows::summed("outbox_peak_bytes", &WorkerStats::outbox_peak_bytes, &PoolStats::outbox_peak_bytes, "The most memory the worker's outbox held at once, in bytes.")),
    metric_rows::per_pool("hook_faults", &PoolStats::hook_faults, "Exceptions from tick, on_stop and resize hooks."),
    metric_rows::per_worker("sent", &WorkerStats::sent, "Messages the worker sent to workers that were accepted."),
    metric_rows::summed("timers_scheduled", &WorkerStats::timers_scheduled, &PoolStats::timers_scheduled, "Timers the worker made, and timers made outside the pool that it holds."),
    metric_rows::summed("timers_fired", &WorkerStats::timers_fired, &PoolStats::timers_fired, "Firings of timers the worker held (a periodic timer counts each time)."),
    metric_rows::summed("timers_cancelled", &WorkerStats::timers_cancelled, &PoolStats::timers_cancelled, "Timers of the worker cancelled before they fired."),
    metric_rows::with_pool_help(metric_rows::summed("calls_started", &WorkerStats::calls_started, &PoolStats::calls_started, "Calls the worker made."), "Calls made, by workers and from outside the pool."),
    metric_rows::summed("calls_completed", &WorkerStats::calls_completed, &PoolStats::calls_completed, "Calls the worker made that got a reply."),
    metric_rows::summed("calls_failed", &WorkerStats::calls_failed, &PoolStats::calls_failed, "Calls the worker made that got an error other than a deadline."),
    metric_rows::summed("calls_timed_out", &WorkerStats::calls_timed_out, &PoolStats::calls_timed_out, "Calls the worker made whose deadline passed first."),
    metric_rows::summed("calls_handled", &WorkerStats::calls_handled, &PoolStats::calls_handled, "Requests the worker took as a callee."),
    metric_rows::summed("late_replies", &WorkerStats::late_replies, &PoolStats::late_replies, "Answers the worker gave after the call had completed (dropped)."),
    metric_rows::per_pool("timers_pending", &PoolStats::timers_pending, "Timers that have yet to fire (periodic ones until cancelled); 0 after shutdown or stop.", MetricType::gauge),
};
// clang-format on

static_assert(
    [] {
      for (const PoolMetric& m : kPoolMetrics) {
        if (!m.valid()) return false;
      }
      return true;
    }(),
    "a row of kPoolMetrics is inconsistent: see PoolMetric::valid()");

}  // namespace sn
