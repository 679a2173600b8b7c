// A pool under steady load that serves its statistics over HTTP, for a Prometheus server
// (or curl) to scrape:
//   GET http://127.0.0.1:<port>/metrics      Prometheus text (sn_* metrics)
//   GET http://127.0.0.1:<port>/stats.json   the same as JSON
//
// Usage: metrics_endpoint [--port=N] [--seconds=S] [--port_file=PATH]   (--help lists them)
//   --port=0 (the default) picks a free port; the port is printed, and written to
//   PATH when given (a test starts the example, then reads the file). It runs for S
//   seconds (default 30; 0 = until killed), then shuts the pool down and checks that
//   every message it sent was handled.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "sn/monitoring/export.h"
#include "sn/monitoring/http_server.h"
#include "sn/worker_pool.h"
#include "support/flags.h"

ABSL_FLAG(int, port, 0, "the port to listen on (127.0.0.1), 0..65535; 0 picks a free one");
ABSL_FLAG(int, seconds, 30, "how long to serve under load, in seconds; 0 = until killed");
ABSL_FLAG(std::string, port_file, "", "a file to write the port to once the server listens; empty: none");

namespace {

/// Sums what it is sent; the State is just the running sum.
struct Summer : sn::Worker<std::uint64_t, std::uint64_t> {
  void handle_message(std::uint64_t& sum, sn::Envelope<std::uint64_t> e) { sum += e.payload; }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int seconds = 0;
  if (!sn::examples::parse_flags(argc, argv,
                                 "serves a loaded worker pool's statistics over HTTP (/metrics for Prometheus, "
                                 "/stats.json) on 127.0.0.1") ||
      !sn::examples::read_flag(FLAGS_port, 0, 65535, port) ||
      !sn::examples::read_flag(FLAGS_seconds, 0, 365 * 24 * 3600, seconds)) {
    return sn::examples::kUsageError;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);

  auto pool = sn::WorkerPool<Summer>::create(sn::PoolConfig().with_num_workers(2).with_name("demo"));
  if (!pool.ok()) {
    std::fprintf(stderr, "pool: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  sn::WorkerPool<Summer>& p = **pool;

  // The sources run on the server's own thread: they only read stats() snapshots.
  auto server = sn::MetricsServer::start({.address = "127.0.0.1", .port = port, .threads = 1},
                                         {.metrics =
                                              [&p] {
                                                sn::PrometheusText text;
                                                text.add_pool("demo", p.stats());
                                                return text.text();
                                              },
                                          .json = [&p] { return sn::to_json(p.stats()); }});
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("serving http://127.0.0.1:%d/metrics and /stats.json\n", (*server)->port());
  std::fflush(stdout);
  if (!port_file.empty() && !(std::ofstream(port_file) << (*server)->port() << "\n")) {
    std::fprintf(stderr, "cannot write the port to %s\n", port_file.c_str());
    return 1;
  }

  // Steady load: a few thousand messages every 10 ms, so the counters keep moving.
  std::uint64_t sent = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (seconds == 0 || std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 5000; ++i, ++sent) {
      if (p.send(sent, std::uint64_t{1}) != sn::SendResult::ok) {
        std::fprintf(stderr, "a send was refused\n");
        return 1;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*server)->stop();
  const absl::Status done = p.shutdown();
  const sn::PoolStats stats = p.stats();
  std::printf("sent %llu, processed %llu, balanced %s\n", static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(stats.processed), stats.balanced() ? "yes" : "NO");
  return done.ok() && stats.processed == sent && stats.balanced() ? 0 : 1;
}
