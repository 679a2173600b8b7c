// IPC feed: producer processes feeding a pool in another process through shared memory.
//
// Each producer is a separate process (forked before the pool starts) that sends sensor
// readings through its own sn::ipc channel: a ring in a sealed memfd, handed over a Unix
// socket (SCM_RIGHTS). In the consumer process each channel's receiving end is a source
// that one worker polls (sn::ipc::receiver_source, WorkerContext::add_source); that
// worker forwards each reading to the worker that owns its sensor, which keeps the
// sensor's count and sum. When a producer has sent everything it closes its end; the
// worker that polls it takes what is left, drops the source and reports, and once every
// source has reported, main shuts the pool down.
//
// What it shows:
//   - creating a channel in one process and attaching to it in another (share, From::socket);
//   - a worker owning a channel from another process as a source, its messages handled
//     like the inbox's, then routed by key with context().send;
//   - one channel per producer process (SPSC): a misbehaving producer can only hurt its own;
//   - a clean shutdown of both sides: producers close, sources finish, the pool drains;
//   - verification: every reading counted once, per-sensor counts and sums equal to what
//     the producers' deterministic streams contain, no send refused, producers exit 0.
//
// Usage: ipc_feed [--readings=N] [--producers=P] [--workers=W] [--sensors=S]
// The ctest sends 200,000 readings. Exit code 0 only if every check passes.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "sn/ipc/ipc.h"
#include "sn/worker_pool.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, readings, 2'000'000, "readings each producer sends, 1..10^10");
ABSL_FLAG(std::uint64_t, producers, 2, "producer processes, 1..16");
ABSL_FLAG(std::uint64_t, workers, 2, "pool workers, 1..16");
ABSL_FLAG(std::uint64_t, sensors, 1000, "distinct sensors, 1..10^6");

namespace {

using sn::examples::grouped;
using sn::examples::mix64;

/// What crosses the process boundary: trivially copyable, every bit pattern valid.
struct Reading {
  std::uint64_t sensor = 0;
  std::uint64_t seq = 0;  // per producer, from 0
  std::int64_t value = 0;
};

struct Config {
  std::uint64_t readings = 0, producers = 0, workers = 0, sensors = 0;
};

/// Producer p's reading number `seq`: the same on both sides, so the consumer can check.
Reading reading_of(std::uint64_t p, std::uint64_t seq, std::uint64_t sensors) {
  const std::uint64_t h = mix64(p * 0x9e3779b97f4a7c15ull + seq);
  return Reading{h % sensors, seq, static_cast<std::int64_t>(h >> 40) - (1 << 23)};
}

// ----------------------------------------------------------------- a producer process

/// The body of producer process p: attach to the channel main shares over `sock`, send
/// every reading, close. The exit code tells main how it went.
int produce(std::uint64_t p, int sock, const Config& c) {
  absl::StatusOr<sn::ipc::Sender<Reading>> tx = sn::ipc::attach_sender<Reading>(sn::ipc::From::socket(sock));
  if (!tx.ok()) {
    std::fprintf(stderr, "producer %lu: %s\n", static_cast<unsigned long>(p), tx.status().ToString().c_str());
    return 3;
  }
  std::vector<Reading> batch;
  for (std::uint64_t seq = 0; seq < c.readings;) {
    batch.clear();
    for (; seq < c.readings && batch.size() < 256; ++seq) batch.push_back(reading_of(p, seq, c.sensors));
    std::span<const Reading> left(batch);
    while (!left.empty()) {  // what fits now, else wait for room for one
      const sn::SendBatchResult r = tx->send_batch(left);
      left = left.subspan(r.count);
      if (r.status == sn::SendResult::closed) return 4;
      if (r.count == 0 && tx->send(left.front()) != sn::SendResult::ok) return 4;
      if (r.count == 0) left = left.subspan(1);
    }
  }
  tx->close();  // the consumer takes what is left, then sees `closed`
  return 0;
}

// ----------------------------------------------------------------- the pool

struct Totals {
  std::uint64_t count = 0;
  std::int64_t sum = 0;
  friend bool operator==(const Totals&, const Totals&) = default;
};
using Sensors = absl::flat_hash_map<std::uint64_t, Totals>;

/// What the workers hand to main.
struct Report {
  std::mutex mu;
  Sensors sensors;                 // merged in on_stop
  std::uint64_t refused = 0;       // forwards that were not accepted
  std::atomic<int> finished{0};    // sources whose producer closed and that were drained
  std::atomic<int> unfinished{0};  // sources dropped before that (the pool stopped)
  std::uint64_t received = 0, discarded = 0;
};

class SensorWorker : public sn::Worker<Sensors, Reading> {
 public:
  SensorWorker(Report* report, std::vector<sn::ipc::Receiver<Reading>> channels)
      : report_(report), channels_(std::move(channels)) {}

  /// Polls the channels this worker was given: one source each. A throw here makes the
  /// pool's create() fail with its text.
  void on_start(Sensors&) {
    for (sn::ipc::Receiver<Reading>& rx : channels_) {
      if (!rx) continue;  // added already (on_start runs again after a restart)
      sn::ipc::SourceOptions options;
      options.on_closed = [r = report_](bool finished, const sn::ChannelStats& s, sn::ipc::CloseReason) {
        std::lock_guard lock(r->mu);
        r->received += s.received;
        r->discarded += s.discarded;
        (finished ? r->finished : r->unfinished).fetch_add(1, std::memory_order_release);
      };
      absl::Status added = context().add_source(sn::ipc::receiver_source<Reading>(
          std::move(rx), [](const Reading& r) { return r.sensor; }, std::move(options)));
      if (!added.ok()) throw std::runtime_error(added.ToString());
    }
  }

  /// A reading from a channel goes to its sensor's owner; one from a worker is counted.
  void handle_message(Sensors& sensors, sn::Envelope<Reading> e) {
    if (e.source.is_external() && !context().owns(e.key)) {
      if (context().send(e.key, e.payload) != sn::SendResult::ok) ++refused_;
      return;
    }
    Totals& t = sensors[e.key];
    ++t.count;
    t.sum += e.payload.value;
  }

  void on_stop(Sensors& sensors) {
    std::lock_guard lock(report_->mu);
    for (const auto& [sensor, t] : sensors) {
      Totals& into = report_->sensors[sensor];
      into.count += t.count;
      into.sum += t.sum;
    }
    report_->refused += refused_;
  }

 private:
  Report* report_;
  std::vector<sn::ipc::Receiver<Reading>> channels_;
  std::uint64_t refused_ = 0;
};

// ----------------------------------------------------------------- main

/// Forks producer p on one end of a socket pair; returns its pid and main's end.
bool start_producer(std::uint64_t p, const Config& c, std::vector<pid_t>& pids, std::vector<int>& socks) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
  const pid_t pid = fork();  // before the pool: no thread is running yet
  if (pid < 0) return false;
  if (pid == 0) {
    close(sv[0]);
    std::fflush(stdout);
    _exit(produce(p, sv[1], c));
  }
  close(sv[1]);
  pids.push_back(pid);
  socks.push_back(sv[0]);
  return true;
}

/// The per-sensor totals the producers' streams contain.
Sensors expected_totals(const Config& c) {
  Sensors want;
  for (std::uint64_t p = 0; p < c.producers; ++p) {
    for (std::uint64_t seq = 0; seq < c.readings; ++seq) {
      const Reading r = reading_of(p, seq, c.sensors);
      ++want[r.sensor].count;
      want[r.sensor].sum += r.value;
    }
  }
  return want;
}

bool check(const Config& c, Report& report, const std::vector<int>& exits) {
  bool ok = true;
  for (std::size_t p = 0; p < exits.size(); ++p) {
    if (exits[p] != 0) {
      std::fprintf(stderr, "FAIL: producer %zu exited with %d\n", p, exits[p]);
      ok = false;
    }
  }
  const std::uint64_t total = c.readings * c.producers;
  if (report.received != total || report.discarded != 0 || report.refused != 0) {
    std::fprintf(stderr, "FAIL: received %lu of %lu, discarded %lu, refused forwards %lu\n",
                 static_cast<unsigned long>(report.received), static_cast<unsigned long>(total),
                 static_cast<unsigned long>(report.discarded), static_cast<unsigned long>(report.refused));
    ok = false;
  }
  if (report.sensors != expected_totals(c)) {
    std::fprintf(stderr, "FAIL: the per-sensor counts and sums differ from the producers' streams\n");
    ok = false;
  }
  return ok;
}

bool read_config(Config& c) {
  using sn::examples::read_flag;
  return read_flag(FLAGS_readings, 1, 10'000'000'000ull, c.readings) &&
         read_flag(FLAGS_producers, 1, 16, c.producers) && read_flag(FLAGS_workers, 1, 16, c.workers) &&
         read_flag(FLAGS_sensors, 1, 1'000'000, c.sensors);
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv, "Producer processes feed a pool through shared-memory channels.")) {
    return sn::examples::kUsageError;
  }
  Config c;
  if (!read_config(c)) return sn::examples::kUsageError;
  std::vector<pid_t> pids;
  std::vector<int> socks;
  for (std::uint64_t p = 0; p < c.producers; ++p) {
    if (!start_producer(p, c, pids, socks)) return 1;
  }
  // One channel per producer, created here and handed over; channel p goes to worker p % W.
  std::vector<std::vector<sn::ipc::Receiver<Reading>>> channels(c.workers);
  for (std::uint64_t p = 0; p < c.producers; ++p) {
    absl::StatusOr<sn::ipc::Receiver<Reading>> rx = sn::ipc::create_receiver<Reading>(4096);
    absl::Status shared = rx.ok() ? rx->share(socks[p]) : rx.status();
    if (!shared.ok()) {
      std::fprintf(stderr, "channel %lu: %s\n", static_cast<unsigned long>(p), shared.ToString().c_str());
      return 1;
    }
    close(socks[p]);
    channels[p % c.workers].push_back(std::move(*rx));
  }
  Report report;
  const absl::Time start = absl::Now();
  auto pool = sn::WorkerPool<SensorWorker>::create(
      sn::PoolConfig().with_num_workers(c.workers).with_name("ipc"),
      [&](std::size_t i) { return std::make_unique<SensorWorker>(&report, std::move(channels[i])); });
  if (!pool.ok()) {
    std::fprintf(stderr, "cannot create the pool: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  // Every producer closes when done; its worker drains the channel and reports.
  while (report.finished.load(std::memory_order_acquire) < static_cast<int>(c.producers) &&
         absl::Now() - start < absl::Minutes(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (absl::Status s = (*pool)->shutdown(); !s.ok()) std::fprintf(stderr, "shutdown: %s\n", s.ToString().c_str());
  std::vector<int> exits;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    exits.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  std::printf("%s readings from %lu processes through %lu workers in %.2f s (%s/s)\n",
              grouped(c.readings * c.producers).c_str(), static_cast<unsigned long>(c.producers),
              static_cast<unsigned long>(c.workers), seconds,
              grouped(static_cast<std::uint64_t>(static_cast<double>(c.readings * c.producers) / seconds)).c_str());
  const bool ok = check(c, report, exits);
  std::printf("%s\n", ok ? "all checks passed" : "CHECKS FAILED");
  return ok ? 0 : 1;
}
