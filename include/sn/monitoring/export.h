// Pool and channel statistics in the formats monitoring systems read: the Prometheus text
// exposition format (version 0.0.4) and JSON.
#pragma once

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sn/channel/stats.h"
#include "sn/pool/metrics.h"
#include "sn/pool/stats.h"

namespace sn {

/// A channel to export, under a name of the caller's choosing.
struct NamedChannelStats {
  std::string name;    ///< The `channel` label of its metrics.
  ChannelStats stats;  ///< A snapshot from the channel's stats().
};

/// Writes Prometheus text-format metrics, one family per metric with its HELP and TYPE
/// lines. Metric names start with `sn_`; counters end in `_total` and only grow;
/// gauges (running, active, queue depth, channel depth) go up and down. Label values
/// are escaped as the format requires. Append pools and channels, then take text().
///
///   sn::PrometheusText out;
///   out.add_pool("orders", pool->stats());
///   out.add_channel({"ingest", rx.stats()});
///   std::string body = out.text();   // serve as text/plain; version=0.0.4
///
/// Constant labels go on every sample of every family, first, before the pool, worker
/// and channel labels, and their values are escaped like the others. A rank of a cluster
/// labels everything it exports with its rank:
///
///   sn::PrometheusText out({{"rank", std::to_string(rank)}});
///   out.add_pool("orders", pool->stats());   // sn_pool_accepted_total{rank="3",pool="orders"} ...
///
/// Not thread-safe; build one per scrape (stats() snapshots are cheap and any thread may
/// take them).
class PrometheusText {
 public:
  /// A constant label: its name and its value.
  using Label = std::pair<std::string, std::string>;
  /// Constant labels, in the order they are written.
  using Labels = std::vector<Label>;
  /// The labels the exporter writes itself, which a constant label may not be named.
  static constexpr std::array<std::string_view, 3> kOwnLabels = {"pool", "worker", "channel"};

  /// No constant labels: the output is what it has always been.
  PrometheusText() = default;
  /// With constant labels. Requires valid labels (see with_labels); an invalid one is a
  /// broken contract and aborts through SN_CHECK. Names written in the program, such as
  /// "rank", belong here; names from configuration or input go through with_labels.
  explicit PrometheusText(Labels const_labels);
  /// The same, for a braced list: PrometheusText({{"rank", "3"}}) would otherwise be
  /// ambiguous with the copy constructor.
  explicit PrometheusText(std::initializer_list<Label> const_labels);
  /// With constant labels, or InvalidArgument, naming the label, for a name that is not a
  /// Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"), one of
  /// kOwnLabels, or given twice. The same check as the constructor, without the abort:
  /// a bad name is a programming error where it is a literal and an expected outcome where
  /// it comes from outside, so each case gets the tier that fits (a check, a Status).
  static absl::StatusOr<PrometheusText> with_labels(Labels const_labels);

  /// Adds a pool's metrics: each row of kPoolMetrics at the levels where it is in the
  /// Prometheus text (PoolMetric::in_prometheus), named by prometheus_name(), labelled
  /// pool="<pool>" and, per worker, worker="<index>"; and sn_pool_workers, the workers
  /// running now.
  void add_pool(std::string_view pool, const PoolStats& stats);
  /// Adds a channel's counters, labelled channel="<name>".
  void add_channel(const NamedChannelStats& channel);

  /// The exposition: every family that has samples, in a fixed order.
  std::string text() const;

  /// The content type to serve text() with.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Sample {
    std::string labels;  // already formatted: {a="b",c="d"}
    std::string value;
  };
  struct Family {
    std::string name;
    std::string help;
    bool counter;
    std::vector<Sample> samples;
  };
  Family& family(std::string_view name, std::string_view help, bool counter);
  /// A sample's label set: the constant labels, then `own` (already formatted, a="b",...).
  std::string labels(std::string_view own) const;

  std::string const_labels_;  // formatted, each followed by a comma: rank="3",
  std::vector<Family> families_;
};

/// The Prometheus family name of `metric` at `level`: `sn_worker_` or `sn_pool_`, then
/// PoolMetric::prometheus, then `_total` for a counter (sn_worker_processed_total).
std::string prometheus_name(const PoolMetric& metric, MetricLevel level);

/// The pool's statistics as one JSON object: each row of kPoolMetrics that PoolStats has,
/// under its PoolMetric::json key, then "in_flight" and "workers": [...], each worker its
/// "index", "name", "cpu" and "memory_bound", then the rows that WorkerStats has.
/// Durations are in seconds.
std::string to_json(const PoolStats& stats);
/// A channel's statistics as one JSON object.
std::string to_json(const ChannelStats& stats);

}  // namespace sn
