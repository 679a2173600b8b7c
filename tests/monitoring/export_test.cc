// The Prometheus text and JSON exports: exact output for known statistics, the rules of
// the text format (HELP and TYPE before the samples, counters named *_total, escaped
// label values), and the same numbers as the live pool reports.
#include "sn/monitoring/export.h"

#include <cstdint>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
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

std::vector<std::string> lines_of(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

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
            "\"batches\":0,\"ticks\":0,\"restarts\":0,\"parks\":0,\"time_parked_seconds\":0,\"queue_depth\":0,"
            "\"hook_faults\":2,\"in_flight\":0,\"workers\":["
            "{\"index\":0,\"name\":\"sn-0\",\"active\":true,\"cpu\":-1,\"memory_bound\":false,\"processed\":4,"
            "\"failed\":0,\"dropped\":0,\"batches\":0,\"ticks\":0,\"restarts\":0,\"parks\":0,"
            "\"time_parked_seconds\":1.5,\"queue_depth\":0,\"sent\":0,\"rejected\":0},"
            "{\"index\":1,\"name\":\"odd \\\"name\\\"\\n\",\"active\":false,\"cpu\":-1,\"memory_bound\":false,"
            "\"processed\":4,\"failed\":0,\"dropped\":0,\"batches\":0,\"ticks\":0,\"restarts\":0,\"parks\":0,"
            "\"time_parked_seconds\":1.5,\"queue_depth\":3,\"sent\":0,\"rejected\":0}]}");
}

TEST(StatsJson, WritesAChannel) {
  EXPECT_EQ(to_json(ChannelStats{5, 4, 1, 0, 2, 1, 8, true}),
            "{\"sent\":5,\"received\":4,\"send_full\":1,\"send_closed\":0,\"send_blocked\":2,\"approx_depth\":1,"
            "\"capacity\":8,\"closed\":true}");
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
    if (absl::StartsWith(line, "sn_worker_processed_total{")) processed += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(processed, 100u);
}

}  // namespace
}  // namespace sn::test
