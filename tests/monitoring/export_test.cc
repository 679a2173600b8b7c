// The Prometheus text and JSON exports: exact output for known statistics, the rules of
// the text format (HELP and TYPE before the samples, counters named *_total, escaped
// label values), the metrics table that drives them and PoolStats::add, and the same
// numbers as the live pool reports.
#include "sn/monitoring/export.h"

#include <cstdint>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
#include "sn/pool/metrics.h"
#include "sn/worker_pool.h"

namespace sn::test {
namespace {

PoolStats two_workers() {
  PoolStats s;
  s.running = true;
  s.accepted = 10;
  s.rejected = 1;
  s.processed = 8;
  s.failed = 1;
  s.dropped = 1;
  s.hook_faults = 2;
  for (std::size_t i = 0; i < 2; ++i) {
    WorkerStats& w = s.workers.emplace_back();
    w.index = i;
    w.name = i == 0 ? "sn-0" : "odd \"name\"\n";
    w.active = i == 0;
    w.processed = 4;
    w.time_parked = absl::Milliseconds(1500);
    w.queue_depth = 3 * i;
  }
  return s;
}

std::vector<std::string> lines_of(const std::string& text) { return absl::StrSplit(text, '\n', absl::SkipEmpty()); }

TEST(PrometheusText, EveryFamilyHasHelpAndTypeBeforeItsSamples) {
  PrometheusText out;
  out.add_pool("orders", two_workers());
  out.add_channel({"ingest", ChannelStats{5, 4, 1, 0, 2, 1, 8, false}});
  std::set<std::string> typed;
  std::string help_for;
  for (const std::string& line : lines_of(out.text())) {
    if (absl::StartsWith(line, "# HELP ")) {
      help_for = std::vector<std::string>(absl::StrSplit(line, ' '))[2];
      continue;
    }
    if (absl::StartsWith(line, "# TYPE ")) {
      const std::vector<std::string> parts = absl::StrSplit(line, ' ');
      ASSERT_EQ(parts.size(), 4u) << line;
      EXPECT_EQ(parts[2], help_for) << "TYPE right after its HELP";
      EXPECT_TRUE(parts[3] == "counter" || parts[3] == "gauge") << line;
      EXPECT_EQ(parts[3] == "counter", absl::EndsWith(parts[2], "_total")) << "counters, and only they, end in _total";
      EXPECT_TRUE(typed.insert(parts[2]).second) << "one TYPE line per family: " << parts[2];
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_TRUE(absl::StartsWith(name, "sn_")) << line;
    EXPECT_TRUE(typed.count(name) == 1) << "a sample before its family's TYPE: " << line;
  }
  EXPECT_GE(typed.size(), 20u);
}

TEST(PrometheusText, WritesTheExactSamplesOfAPool) {
  PrometheusText out;
  out.add_pool("orders", two_workers());
  const std::string text = out.text();
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_accepted_total{pool=\"orders\"} 10\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_running{pool=\"orders\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_workers{pool=\"orders\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_processed_total{pool=\"orders\",worker=\"1\"} 4\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_parked_seconds_total{pool=\"orders\",worker=\"0\"} 1.5\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_queue_depth{pool=\"orders\",worker=\"1\"} 3\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_active{pool=\"orders\",worker=\"1\"} 0\n"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE sn_worker_queue_depth gauge\n"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE sn_pool_hook_faults_total counter\n"));
}

TEST(PrometheusText, EscapesLabelValues) {
  PrometheusText out;
  out.add_channel({"a \"quoted\" \\ name\nnext", ChannelStats{}});
  EXPECT_TRUE(absl::StrContains(out.text(), "sn_channel_sent_total{channel=\"a \\\"quoted\\\" \\\\ name\\nnext\"} 0\n"))
      << out.text();
}

// The whole exposition of one channel, byte for byte: the families of a channel are fixed,
// so any change to the format (labels, order, spacing, escaping) shows here.
TEST(PrometheusText, WritesAChannelExactly) {
  PrometheusText out;
  out.add_channel({"in\"gest", ChannelStats{5, 4, 1, 0, 2, 1, 8, false}});
  EXPECT_EQ(out.text(), R"(# HELP sn_channel_sent_total Values the channel accepted.
# TYPE sn_channel_sent_total counter
sn_channel_sent_total{channel="in\"gest"} 5
# HELP sn_channel_received_total Values receivers took out.
# TYPE sn_channel_received_total counter
sn_channel_received_total{channel="in\"gest"} 4
# HELP sn_channel_discarded_total Values destroyed unreceived because the last receiver left.
# TYPE sn_channel_discarded_total counter
sn_channel_discarded_total{channel="in\"gest"} 0
# HELP sn_channel_send_full_total Sends refused, in whole or in part, because the channel was full.
# TYPE sn_channel_send_full_total counter
sn_channel_send_full_total{channel="in\"gest"} 1
# HELP sn_channel_send_closed_total Sends that failed because the channel was closed.
# TYPE sn_channel_send_closed_total counter
sn_channel_send_closed_total{channel="in\"gest"} 0
# HELP sn_channel_send_blocked_total Blocking sends that had to wait for room (backpressure).
# TYPE sn_channel_send_blocked_total counter
sn_channel_send_blocked_total{channel="in\"gest"} 2
# HELP sn_channel_depth Values inside the channel now (approximate while it runs).
# TYPE sn_channel_depth gauge
sn_channel_depth{channel="in\"gest"} 1
# HELP sn_channel_capacity Slots in the channel.
# TYPE sn_channel_capacity gauge
sn_channel_capacity{channel="in\"gest"} 8
# HELP sn_channel_closed 1 once the channel is closed.
# TYPE sn_channel_closed gauge
sn_channel_closed{channel="in\"gest"} 0
)");
}

// Constant labels: a cluster rank labels every series it exports with its rank.

/// A pool with two workers and a channel, through `out`.
std::string pool_and_channel(PrometheusText out) {
  out.add_pool("orders", two_workers());
  out.add_channel({"ingest", ChannelStats{5, 4, 1, 0, 2, 1, 8, false}});
  return out.text();
}

/// The label names of a sample line, in order.
std::vector<std::string> label_names(const std::string& sample) {
  std::vector<std::string> names;
  const std::size_t open = sample.find('{');
  for (std::size_t at = open + 1; open != std::string::npos && sample[at - 1] != '}';) {
    const std::size_t eq = sample.find('=', at);
    names.push_back(sample.substr(at, eq - at));
    at = eq + 2;  // past ="
    while (sample[at] != '"') at += sample[at] == '\\' ? 2 : 1;
    at += 2;  // past the closing quote and the , or }
  }
  return names;
}

TEST(PrometheusText, WritesTheConstantLabelsFirstOnEverySample) {
  const std::string text = pool_and_channel(PrometheusText({{"rank", "3"}, {"job", "sim"}}));
  std::size_t samples = 0;
  for (const std::string& line : lines_of(text)) {
    if (absl::StartsWith(line, "#")) continue;
    ++samples;
    const std::vector<std::string> names = label_names(line);
    ASSERT_GE(names.size(), 3u) << line;
    EXPECT_EQ(names[0], "rank") << line;
    EXPECT_EQ(names[1], "job") << line;
    EXPECT_TRUE(absl::StrContains(line, "{rank=\"3\",job=\"sim\",")) << line;
  }
  EXPECT_GE(samples, 40u);
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_accepted_total{rank=\"3\",job=\"sim\",pool=\"orders\"} 10\n"));
  EXPECT_TRUE(
      absl::StrContains(text, "sn_worker_processed_total{rank=\"3\",job=\"sim\",pool=\"orders\",worker=\"1\"} 4\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_channel_capacity{rank=\"3\",job=\"sim\",channel=\"ingest\"} 8\n"));
}

TEST(PrometheusText, ChangesNothingButTheSampleLabelsWhenGivenConstantLabels) {
  const std::string labelled = pool_and_channel(PrometheusText({{"rank", "3"}}));
  EXPECT_EQ(absl::StrReplaceAll(labelled, {{"{rank=\"3\",", "{"}}), pool_and_channel(PrometheusText()));
}

TEST(PrometheusText, WithoutConstantLabelsWritesWhatItAlwaysHas) {
  EXPECT_EQ(pool_and_channel(PrometheusText()), pool_and_channel(PrometheusText({})));
  EXPECT_EQ(pool_and_channel(PrometheusText()), pool_and_channel(*PrometheusText::with_labels({})));
  EXPECT_TRUE(absl::StrContains(pool_and_channel(PrometheusText()), "sn_pool_accepted_total{pool=\"orders\"} 10\n"));
}

TEST(PrometheusText, EscapesConstantLabelValues) {
  PrometheusText out({{"site", "a \"quoted\" \\ name\nnext"}});
  out.add_channel({"c", ChannelStats{}});
  EXPECT_TRUE(absl::StrContains(out.text(),
                                "sn_channel_sent_total{site=\"a \\\"quoted\\\" \\\\ name\\nnext\",channel=\"c\"} 0\n"))
      << out.text();
}

TEST(PrometheusText, LabelsEverySeriesOfAClusterRankWithItsRank) {
  const int rank = 3;
  sn::PrometheusText out({{"rank", std::to_string(rank)}});
  out.add_pool("orders", two_workers());
  EXPECT_TRUE(absl::StrContains(out.text(), "sn_pool_workers{rank=\"3\",pool=\"orders\"} 1\n")) << out.text();
}

TEST(PrometheusText, RefusesAConstantLabelThatIsNoLabelNameOrCollides) {
  const std::vector<std::string> bad = {"",       "1rank", "ra-nk",  "rank ",   "r\xc3\xa4nk",
                                        "__rank", "pool",  "worker", "channel", "__"};
  for (const std::string& name : bad) {
    const auto out = PrometheusText::with_labels({{name, "0"}});
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << name << "\"";
  }
  const auto twice = PrometheusText::with_labels({{"rank", "0"}, {"rank", "1"}});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(twice.status().message(), "\"rank\" is given twice")) << twice.status();
  const auto own = PrometheusText::with_labels({{"rank", "0"}, {"pool", "x"}});
  EXPECT_TRUE(absl::StrContains(own.status().message(), "\"pool\"")) << own.status();
}

TEST(PrometheusText, AcceptsEveryLabelNameThePrometheusFormatAllows) {
  for (const std::string name : {"rank", "_rank", "Rank_2", "r", "_", "job_id_9"}) {
    auto out = PrometheusText::with_labels({{name, "v"}});
    ASSERT_TRUE(out.ok()) << name << ": " << out.status();
    out->add_channel({"c", ChannelStats{}});
    EXPECT_TRUE(absl::StrContains(out->text(), absl::StrCat("{", name, "=\"v\",channel=\"c\"} "))) << name;
  }
}

TEST(PrometheusTextDeathTest, ConstructorAbortsOnAnInvalidConstantLabel) {
  EXPECT_DEATH(PrometheusText({{"pool", "x"}}), "\"pool\" is a label the exporter writes itself");
}

// kOwnLabels is what with_labels checks against: it must name every label the exporter
// writes, or a constant label could collide with one.
TEST(PrometheusText, OwnLabelsAreExactlyTheLabelsTheExporterWrites) {
  std::set<std::string> written;
  for (const std::string& line : lines_of(pool_and_channel(PrometheusText()))) {
    if (absl::StartsWith(line, "#")) continue;
    for (std::string& name : label_names(line)) written.insert(std::move(name));
  }
  EXPECT_EQ(written, std::set<std::string>(PrometheusText::kOwnLabels.begin(), PrometheusText::kOwnLabels.end()));
}

TEST(PrometheusText, TwoPoolsShareOneFamilyPerMetric) {
  PrometheusText out;
  out.add_pool("a", two_workers());
  out.add_pool("b", two_workers());
  const std::string text = out.text();
  std::size_t types = 0;
  for (std::size_t at = text.find("# TYPE sn_worker_processed_total "); at != std::string::npos;
       at = text.find("# TYPE sn_worker_processed_total ", at + 1)) {
    ++types;
  }
  EXPECT_EQ(types, 1u);
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_processed_total{pool=\"b\",worker=\"0\"} 4\n"));
}

TEST(StatsJson, WritesAPoolAsOneObjectWithItsWorkers) {
  EXPECT_EQ(to_json(two_workers()),
            "{\"running\":true,\"accepted\":10,\"rejected\":1,\"processed\":8,\"failed\":1,\"dropped\":1,"
            "\"batches\":0,\"ticks\":0,\"restarts\":0,\"isolated_drops\":0,\"faults\":0,\"dead_letters\":0,\"parks\":0,"
            "\"wakes\":0,"
            "\"time_parked_seconds\":0,\"queue_depth\":0,\"outbox_peak_bytes\":0,"
            "\"hook_faults\":2,\"timers_scheduled\":0,\"timers_fired\":0,\"timers_cancelled\":0,"
            "\"calls_started\":0,\"calls_completed\":0,\"calls_failed\":0,\"calls_timed_out\":0,"
            "\"calls_handled\":0,\"late_replies\":0,"
            "\"timers_pending\":0,\"in_flight\":0,\"workers\":["
            "{\"index\":0,\"name\":\"sn-0\",\"cpu\":-1,\"memory_bound\":false,\"active\":true,\"rejected\":0,"
            "\"processed\":4,\"failed\":0,\"dropped\":0,\"batches\":0,\"ticks\":0,\"restarts\":0,"
            "\"isolated\":false,\"isolated_drops\":0,\"parks\":0,\"wakes\":0,"
            "\"time_parked_seconds\":1.5,\"queue_depth\":0,\"outbox_peak_bytes\":0,\"sent\":0,\"timers_scheduled\":0,"
            "\"timers_fired\":0,"
            "\"timers_cancelled\":0,\"calls_started\":0,\"calls_completed\":0,\"calls_failed\":0,"
            "\"calls_timed_out\":0,\"calls_handled\":0,\"late_replies\":0},"
            "{\"index\":1,\"name\":\"odd \\\"name\\\"\\n\",\"cpu\":-1,\"memory_bound\":false,\"active\":false,"
            "\"rejected\":0,\"processed\":4,\"failed\":0,\"dropped\":0,\"batches\":0,\"ticks\":0,\"restarts\":0,"
            "\"isolated\":false,\"isolated_drops\":0,"
            "\"parks\":0,\"wakes\":0,\"time_parked_seconds\":1.5,\"queue_depth\":3,\"outbox_peak_bytes\":0,\"sent\":0,"
            "\"timers_"
            "scheduled\":0,"
            "\"timers_fired\":0,\"timers_cancelled\":0,\"calls_started\":0,\"calls_completed\":0,"
            "\"calls_failed\":0,\"calls_timed_out\":0,\"calls_handled\":0,\"late_replies\":0}]}");
}

TEST(StatsJson, WritesAChannel) {
  EXPECT_EQ(to_json(ChannelStats{5, 4, 1, 0, 2, 1, 8, true}),
            "{\"sent\":5,\"received\":4,\"discarded\":0,\"send_full\":1,\"send_closed\":0,\"send_blocked\":2,\"approx_"
            "depth\":1,"
            "\"capacity\":8,\"closed\":true}");
}

// The metrics table (sn/pool/metrics.h): every row reaches both exports under its names,
// and PoolStats::add sums exactly the rows that both levels have.

/// Sets the row's field of `s` to a value that no other row gets (100 + k for a count,
/// k + 1.5 s for a duration, true for a flag) and returns how Prometheus and JSON write it.
template <class Stats>
std::pair<std::string, std::string> set_distinct(const MetricField<Stats>& field, Stats& s, int k) {
  if (const auto* count = std::get_if<std::uint64_t Stats::*>(&field)) {
    s.*(*count) = 100 + static_cast<std::uint64_t>(k);
    return {absl::StrCat(s.*(*count)), absl::StrCat(s.*(*count))};
  }
  if (const auto* duration = std::get_if<absl::Duration Stats::*>(&field)) {
    s.*(*duration) = absl::Milliseconds(1000 * k + 1500);
    return {absl::StrCat(k + 1, ".5"), absl::StrCat(k + 1, ".5")};
  }
  if (const auto* flag = std::get_if<bool Stats::*>(&field)) {
    s.*(*flag) = true;
    return {"1", "true"};
  }
  return {};
}

/// A pool with one worker, index 0, each field of either set by set_distinct.
PoolStats every_field_distinct() {
  PoolStats s;
  WorkerStats& w = s.workers.emplace_back();
  int k = 0;
  for (const PoolMetric& m : kPoolMetrics) {
    set_distinct(m.pool, s, k++);
    set_distinct(m.worker, w, k++);
  }
  return s;
}

/// The pool's own part of its JSON, and its workers' part.
std::pair<std::string, std::string> json_parts(const PoolStats& s) {
  const std::string json = to_json(s);
  const std::size_t at = json.find("\"workers\":[");
  return {json.substr(0, at), json.substr(at)};
}

TEST(MetricsTable, EveryRowIsConsistentAndNamedOnce) {
  std::set<std::string> names = {"sn_pool_workers"};
  std::set<std::string> pool_keys = {"in_flight", "workers"};
  std::set<std::string> worker_keys = {"index", "name", "cpu", "memory_bound"};
  for (const PoolMetric& m : kPoolMetrics) {
    EXPECT_TRUE(m.valid()) << m.json;
    for (MetricLevel level : {MetricLevel::worker, MetricLevel::pool}) {
      if (m.in_prometheus(level)) {
        EXPECT_TRUE(names.insert(prometheus_name(m, level)).second) << m.json;
      }
    }
    if (m.at_pool()) {
      EXPECT_TRUE(pool_keys.insert(std::string(m.json)).second) << m.json;
    }
    if (m.at_worker()) {
      EXPECT_TRUE(worker_keys.insert(std::string(m.json)).second) << m.json;
    }
  }
}

TEST(MetricsTable, EveryFieldAppearsInThePrometheusText) {
  PrometheusText out;
  out.add_pool("p", every_field_distinct());
  const std::string text = out.text();
  std::size_t families = 1;  // sn_pool_workers, the one pool family that is not a row
  for (const PoolMetric& m : kPoolMetrics) {
    for (MetricLevel level : {MetricLevel::worker, MetricLevel::pool}) {
      if (!m.in_prometheus(level)) continue;
      ++families;
      const std::string name = prometheus_name(m, level);
      const std::string_view help = level == MetricLevel::worker ? m.worker_help : m.pool_help;
      EXPECT_TRUE(absl::StrContains(text, absl::StrCat("# HELP ", name, " ", std::string(help), "\n# TYPE ", name,
                                                       m.type == MetricType::counter ? " counter\n" : " gauge\n")))
          << name;
    }
  }
  std::size_t types = 0;
  for (const std::string& line : lines_of(text)) types += absl::StartsWith(line, "# TYPE ") ? 1 : 0;
  EXPECT_EQ(types, families) << "a pool family that is not a row of kPoolMetrics:\n" << text;
}

TEST(MetricsTable, EveryFieldAppearsInTheJson) {
  const auto [pool, workers] = json_parts(every_field_distinct());
  for (const PoolMetric& m : kPoolMetrics) {
    const std::string key = absl::StrCat("\"", std::string(m.json), "\":");
    EXPECT_EQ(absl::StrContains(pool, key), m.at_pool()) << m.json;
    EXPECT_EQ(absl::StrContains(workers, key), m.at_worker()) << m.json;
  }
}

TEST(MetricsTable, AValueSetInWorkerStatsShowsUpUnderItsName) {
  PoolStats s;
  WorkerStats& w = s.workers.emplace_back();
  w.index = 3;
  std::vector<std::pair<const PoolMetric*, std::pair<std::string, std::string>>> expected;
  int k = 0;
  for (const PoolMetric& m : kPoolMetrics) {
    if (m.at_worker()) expected.push_back({&m, set_distinct(m.worker, w, k++)});
  }
  PrometheusText out;
  out.add_pool("p", s);
  const std::string text = out.text();
  const std::string workers = json_parts(s).second;
  for (const auto& [m, value] : expected) {
    EXPECT_TRUE(absl::StrContains(
        text, absl::StrCat(prometheus_name(*m, MetricLevel::worker), "{pool=\"p\",worker=\"3\"} ", value.first, "\n")))
        << m->json << " = " << value.first << "\n"
        << text;
    EXPECT_TRUE(absl::StrContains(workers, absl::StrCat("\"", std::string(m->json), "\":", value.second)))
        << m->json << " = " << value.second << "\n"
        << workers;
  }
}

TEST(MetricsTable, AValueSetInPoolStatsShowsUpUnderItsName) {
  PoolStats s;
  std::vector<std::pair<const PoolMetric*, std::pair<std::string, std::string>>> expected;
  int k = 0;
  for (const PoolMetric& m : kPoolMetrics) {
    if (m.at_pool()) expected.push_back({&m, set_distinct(m.pool, s, k++)});
  }
  PrometheusText out;
  out.add_pool("p", s);
  const std::string text = out.text();
  const std::string pool = json_parts(s).first;
  for (const auto& [m, value] : expected) {
    if (m->in_prometheus(MetricLevel::pool)) {
      EXPECT_TRUE(absl::StrContains(
          text, absl::StrCat(prometheus_name(*m, MetricLevel::pool), "{pool=\"p\"} ", value.first, "\n")))
          << m->json << " = " << value.first << "\n"
          << text;
    }
    EXPECT_TRUE(absl::StrContains(pool, absl::StrCat("\"", std::string(m->json), "\":", value.second)))
        << m->json << " = " << value.second << "\n"
        << pool;
  }
}

TEST(MetricsTable, PoolStatsAddSumsTheRowsOfBothLevelsAndLeavesTheRestAlone) {
  PoolStats before = every_field_distinct();
  const WorkerStats a = before.workers[0];
  WorkerStats b = a;
  for (const PoolMetric& m : kPoolMetrics) set_distinct(m.worker, b, 1000);
  before.workers.clear();
  PoolStats total = before;
  total.add(a);
  total.add(b);
  for (const PoolMetric& m : kPoolMetrics) {
    if (const auto* field = std::get_if<std::uint64_t PoolStats::*>(&m.pool)) {
      std::uint64_t want = before.*(*field);
      if (const auto* w = std::get_if<std::uint64_t WorkerStats::*>(&m.worker)) want += a.*(*w) + b.*(*w);
      EXPECT_EQ(total.*(*field), want) << m.json;
    } else if (const auto* time = std::get_if<absl::Duration PoolStats::*>(&m.pool)) {
      absl::Duration want = before.*(*time);
      if (const auto* w = std::get_if<absl::Duration WorkerStats::*>(&m.worker)) want += a.*(*w) + b.*(*w);
      EXPECT_EQ(total.*(*time), want) << m.json;
    } else if (const auto* flag = std::get_if<bool PoolStats::*>(&m.pool)) {
      EXPECT_EQ(total.*(*flag), before.*(*flag)) << m.json;
    }
  }
  EXPECT_TRUE(total.workers.empty()) << "add() sums; it does not keep the worker";
}

TEST(MetricsTable, ExportsTheTimerMetrics) {
  PoolStats s = two_workers();
  s.workers[1].timers_scheduled = 5;
  s.workers[1].timers_fired = 3;
  s.workers[1].timers_cancelled = 1;
  s.timers_pending = 1;
  PrometheusText out;
  out.add_pool("orders", s);
  const std::string text = out.text();
  EXPECT_TRUE(absl::StrContains(text, "# TYPE sn_worker_timers_scheduled_total counter\n"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE sn_worker_timers_fired_total counter\n"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE sn_worker_timers_cancelled_total counter\n"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE sn_pool_timers_pending gauge\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_timers_scheduled_total{pool=\"orders\",worker=\"1\"} 5\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_timers_fired_total{pool=\"orders\",worker=\"1\"} 3\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_worker_timers_cancelled_total{pool=\"orders\",worker=\"1\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_timers_pending{pool=\"orders\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(to_json(s), "\"timers_pending\":1,"));
}

// Dashboards and alerts name these families: their names, types and HELP lines stay as
// they were before the table.
TEST(PrometheusText, KeepsTheNameTypeAndHelpOfEveryEarlierPoolFamily) {
  PrometheusText out;
  out.add_pool("orders", two_workers());
  const std::string text = out.text();
  const std::vector<std::string> families = {
      "sn_pool_accepted_total counter Messages the pool accepted (external and worker-to-worker).",
      "sn_pool_rejected_total counter Sends refused with the value handed back (full, closed, invalid).",
      "sn_pool_hook_faults_total counter Exceptions from tick, on_stop and resize hooks.",
      "sn_pool_running gauge 1 while the pool takes messages, 0 once shutdown or stop began.",
      "sn_pool_workers gauge Workers running now.",
      "sn_worker_processed_total counter Messages handled successfully.",
      "sn_worker_failed_total counter Messages whose handler threw or returned an error.",
      "sn_worker_dropped_total counter Messages for this worker destroyed unhandled.",
      "sn_worker_batches_total counter Loop iterations that handled at least one message.",
      "sn_worker_ticks_total counter Calls of tick().",
      "sn_worker_restarts_total counter State rebuilds under FaultPolicy::restart.",
      "sn_worker_parks_total counter Times the worker slept in the kernel for lack of work.",
      "sn_worker_parked_seconds_total counter Time the worker spent asleep in the kernel.",
      "sn_worker_sent_total counter Messages the worker sent to workers that were accepted.",
      "sn_worker_rejected_total counter Sends by the worker that were refused.",
      "sn_worker_queue_depth gauge Messages waiting in the worker's inbox, lanes and outbox.",
      "sn_worker_outbox_peak_bytes gauge The most memory the worker's outbox held at once, in bytes.",
      "sn_worker_active gauge 1 while a worker runs in this slot.",
  };
  for (const std::string& family : families) {
    const std::vector<std::string> parts = absl::StrSplit(family, absl::MaxSplits(' ', 2));
    EXPECT_TRUE(absl::StrContains(
        text, absl::StrCat("# HELP ", parts[0], " ", parts[2], "\n# TYPE ", parts[0], " ", parts[1], "\n")))
        << family;
  }
}

struct Count : Worker<std::uint64_t, std::uint64_t> {
  void handle_message(std::uint64_t& n, Envelope<std::uint64_t>) { ++n; }
};

TEST(PrometheusText, ReportsWhatALivePoolCounted) {
  auto pool = WorkerPool<Count>::create(PoolConfig().with_num_workers(2).with_name("live"));
  ASSERT_TRUE(pool.ok()) << pool.status();
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ((*pool)->send(k, std::uint64_t{k}), SendResult::ok);
  ASSERT_TRUE((*pool)->shutdown().ok());
  PrometheusText out;
  out.add_pool("live", (*pool)->stats());
  const std::string text = out.text();
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_accepted_total{pool=\"live\"} 100\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "sn_pool_running{pool=\"live\"} 0\n")) << text;
  std::uint64_t processed = 0;
  for (const std::string& line : lines_of(text)) {
    if (absl::StartsWith(line, "sn_worker_processed_total{"))
      processed += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(processed, 100u);
}

}  // namespace
}  // namespace sn::test
