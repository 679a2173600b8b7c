// Pool and channel statistics in the formats monitoring systems read: the Prometheus text
// exposition format (version 0.0.4) and JSON.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sn/channel/stats.h"
#include "sn/worker/stats.h"

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
/// Not thread-safe; build one per scrape (stats() snapshots are cheap and any thread may
/// take them).
class PrometheusText {
 public:
  /// Adds a pool's counters, labelled pool="<pool>" and, per worker, worker="<index>".
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

  std::vector<Family> families_;
};

/// The pool's statistics as one JSON object: the totals, then "workers": [...], with the
/// same names as PoolStats and WorkerStats (durations in seconds).
std::string to_json(const PoolStats& stats);
/// A channel's statistics as one JSON object.
std::string to_json(const ChannelStats& stats);

}  // namespace sn
