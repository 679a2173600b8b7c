// A key-value service: workers own shards of a map and answer Get and Put through calls.
//
// Each worker's State is its shard, an absl::flat_hash_map on the worker's own heap
// (sn::HeapAllocator): the keys the pool's partitioner gives it, which no other thread
// touches. Clients outside the pool ask with WorkerPool::call and wait on the future,
// so a Get sees every Put its client made before (the service is linearizable per key:
// one owner handles each key's requests one at a time, in the order they arrive).
//
// What it shows:
//   - a std::variant Message whose alternatives are requests, answered by handle_call:
//     Get with absl::StatusOr<std::uint64_t> (NotFound for a key never put), Put with a
//     plain std::uint64_t (the value it replaced, 0 if none);
//   - pool->call<R>(key, request, deadline).get() from client threads (the future), and
//     the callback form for the final sweep, which issues every Get at once and counts
//     the answers as they come;
//   - latency per operation (one call = a request to the owner and its answer back) as
//     percentiles, and throughput.
//
// The pattern is known in advance: client c owns the keys c * K .. c * K + K - 1 (K =
// keys per client) and no other client writes them, so it can check every answer on the
// spot against its own copy: a Get returns the last value it put there (NotFound before
// the first), a Put returns the value it replaced. Operation j of client c picks its key
// and, one time in four, a Put with a new value, all from a fixed hash of (c, j).
//
// Checks: every call succeeds and every answer is what the client's copy says; after
// the clients finish, a Get of every key returns its last Put; the workers handled as
// many Gets and Puts as the clients made, and hold exactly the keys that were put; the
// pool's books balance.
//
// Usage: kv_service [options]
//   --operations=N  calls each client makes (default 100,000)
//   --clients=C     client threads (default 4, at most 64)
//   --workers=W     pool workers (default 2, at most 64)
//   --keys=K        keys per client (default 256)
//   --help          this text
// The ctest runs 5,000 operations per client. Exit code 0 only if every check passes.
// The latencies and the throughput depend on the machine and are for reading only.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/worker_pool.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, operations, 100'000, "calls each client makes, 1..4294967296");
ABSL_FLAG(std::uint64_t, clients, 4, "client threads, 1..64");
ABSL_FLAG(std::uint64_t, workers, 2, "pool workers, 1..64");
ABSL_FLAG(std::uint64_t, keys, 256, "keys per client, 1..1048576");

namespace {

using Clock = std::chrono::steady_clock;
using sn::examples::grouped;
using sn::examples::mix64;

// ----------------------------------------------------------------- the service

/// Reads the value of the call's key: NotFound when it was never put.
struct Get {};
/// Writes `value` (never 0) under the call's key; answers the value it replaced, 0 if none.
struct Put {
  std::uint64_t value;
};
using Request = std::variant<Get, Put>;

using ShardMap =
    absl::flat_hash_map<std::uint64_t, std::uint64_t, absl::Hash<std::uint64_t>, std::equal_to<std::uint64_t>,
                        sn::HeapAllocator<std::pair<const std::uint64_t, std::uint64_t>>>;

struct Shard {
  ShardMap values;
  std::uint64_t gets = 0, puts = 0, misses = 0;
};

/// What the workers hand to main from on_stop, under `mu`.
struct ShardTotals {
  std::mutex mu;
  std::uint64_t gets = 0, puts = 0, misses = 0, keys = 0, unexpected = 0;
};

struct KvWorker : sn::Worker<Shard, Request> {
  explicit KvWorker(ShardTotals* totals) : totals_(totals) {}

  Shard init() { return Shard{ShardMap(ShardMap::allocator_type(context().heap()))}; }

  absl::StatusOr<std::uint64_t> handle_call(Shard& s, sn::Envelope<Get> e) {
    ++s.gets;
    auto it = s.values.find(e.key);
    if (it == s.values.end()) {
      ++s.misses;
      return absl::NotFoundError("no such key");
    }
    return it->second;
  }
  std::uint64_t handle_call(Shard& s, sn::Envelope<Put> e) {
    ++s.puts;
    return std::exchange(s.values[e.key], e.payload.value);
  }

  /// Every alternative needs a handle_message, even one that only ever comes as a call:
  /// a Get or Put sent as a plain message (nobody here does) has nobody to answer.
  template <class T>
  void handle_message(Shard&, sn::Envelope<T>) {
    ++unexpected_;
  }

  void on_stop(Shard& s) {
    std::lock_guard lock(totals_->mu);
    totals_->gets += s.gets;
    totals_->puts += s.puts;
    totals_->misses += s.misses;
    totals_->keys += s.values.size();
    totals_->unexpected += unexpected_;
  }

 private:
  ShardTotals* totals_;
  std::uint64_t unexpected_ = 0;
};

using Pool = sn::WorkerPool<KvWorker>;

// ----------------------------------------------------------------- the clients

/// Operation j of client c: a key among its own (index into its range) and, for a Put,
/// the value (never 0).
struct Op {
  std::uint64_t slot;
  bool put;
  std::uint64_t value;
};
Op operation(std::uint64_t client, std::uint64_t j, std::uint64_t keys_per_client) noexcept {
  const std::uint64_t h = mix64((client << 40) ^ j);
  const bool put = (h >> 62) == 0;  // one in four
  return Op{h % keys_per_client, put, put ? (mix64(h) | 1) : 0};
}

/// One client's record: latencies per operation type, and what went wrong.
struct ClientLog {
  std::vector<std::int64_t> get_ns, put_ns;
  std::uint64_t ok = 0, failed = 0, wrong = 0, misses = 0;
  std::vector<std::uint64_t> model;  // [slot]: the last value put, 0 for none
  std::string first_error;
};

/// What the flags asked for; read_options() fills it, and the flags hold the defaults.
struct Options {
  std::uint64_t ops = 0;
  std::uint64_t clients = 0;
  std::uint64_t workers = 0;
  std::uint64_t keys = 0;
};

/// The options from the flags, or nothing (after saying which flag is wrong).
std::optional<Options> read_options() {
  using sn::examples::read_flag;
  Options o;
  if (!read_flag(FLAGS_operations, 1, std::uint64_t{1} << 32, o.ops) || !read_flag(FLAGS_clients, 1, 64, o.clients) ||
      !read_flag(FLAGS_workers, 1, 64, o.workers) || !read_flag(FLAGS_keys, 1, 1u << 20, o.keys)) {
    return std::nullopt;
  }
  return o;
}

/// The q-quantile of sorted latencies, in microseconds.
double quantile_us(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const auto i = std::min(sorted.size() - 1, static_cast<std::size_t>(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[i]) / 1e3;
}

void print_latency_row(const char* name, std::vector<std::int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  double mean = 0;
  for (std::int64_t v : ns) mean += static_cast<double>(v);
  mean = ns.empty() ? 0.0 : mean / static_cast<double>(ns.size()) / 1e3;
  std::printf("  %-5s %12s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, grouped(ns.size()).c_str(), mean,
              quantile_us(ns, 0.5), quantile_us(ns, 0.9), quantile_us(ns, 0.99), quantile_us(ns, 0.999),
              ns.empty() ? 0.0 : static_cast<double>(ns.back()) / 1e3);
}

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

/// Every client's log merged: all latencies, and the sums of the counts.
struct Merged {
  std::vector<std::int64_t> get_ns, put_ns;
  std::uint64_t ok = 0, failed = 0, wrong = 0, misses = 0, keys_put = 0;
  std::string first_error;
};

// ----------------------------------------------------------------- the run

/// One run of the example. Its members are what the phases share (the pool, the
/// clients' logs, the sweep's counts); each method is one phase, called in order by run().
class KvRun {
 public:
  explicit KvRun(const Options& o) : o_(o), logs_(o.clients), all_keys_(o.clients * o.keys) {}

  /// Runs every phase; returns the exit status (0 only if every check holds).
  int run();

 private:
  bool create_pool();
  void run_clients();
  void client(std::uint64_t c);
  void sweep();
  void merge_logs();
  void print_results();
  void check(sn::examples::Checks& check) const;

  // Generous: a call that misses it is a failure, not a slow answer.
  static constexpr absl::Duration kDeadline = absl::Seconds(30);

  const Options o_;
  ShardTotals totals_;  // outlives the pool: the workers write to it
  std::unique_ptr<Pool> pool_;
  std::vector<ClientLog> logs_;  // [client]
  double seconds_ = 0;           // the clients' calls, from the first to the last

  // The final sweep: one Get per key, all in flight at once.
  const std::uint64_t all_keys_;
  std::atomic<std::uint64_t> swept_{0}, sweep_wrong_{0};
  double sweep_seconds_ = 0;
  std::uint64_t swept_calls_ = 0;

  absl::Status shut_;
  sn::PoolStats stats_;
  Merged m_;
};

int KvRun::run() {
  std::printf("kv_service: %llu clients x %s calls (Get 3/4, Put 1/4) over %s keys each, %llu workers\n\n",
              u(o_.clients), grouped(o_.ops).c_str(), grouped(o_.keys).c_str(), u(o_.workers));
  if (!create_pool()) return 1;
  run_clients();
  sweep();
  shut_ = pool_->shutdown();
  stats_ = pool_->stats();
  merge_logs();
  print_results();
  sn::examples::Checks checks;
  check(checks);
  return checks.finish();
}

bool KvRun::create_pool() {
  absl::StatusOr<std::unique_ptr<Pool>> created =
      Pool::create(sn::PoolConfig().with_num_workers(o_.workers).with_name("kv"),
                   [this](std::size_t) { return std::make_unique<KvWorker>(&totals_); });
  if (!created.ok()) {
    std::fprintf(stderr, "cannot create the pool: %s\n", created.status().ToString().c_str());
    return false;
  }
  pool_ = std::move(*created);
  return true;
}

void KvRun::run_clients() {
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (std::uint64_t c = 0; c < o_.clients; ++c) threads.emplace_back([this, c] { client(c); });
  for (std::thread& t : threads) t.join();
  seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
}

/// Client c: one call at a time, each answer checked against the value it put last.
void KvRun::client(std::uint64_t c) {
  ClientLog& log = logs_[c];
  log.model.assign(o_.keys, 0);
  log.get_ns.reserve(o_.ops);
  log.put_ns.reserve(o_.ops / 3);
  auto wrong = [&](const std::string& what) {
    if (log.wrong++ == 0) log.first_error = what;
  };
  for (std::uint64_t j = 0; j < o_.ops; ++j) {
    const Op op = operation(c, j, o_.keys);
    const std::uint64_t key = c * o_.keys + op.slot;
    std::uint64_t& expected = log.model[op.slot];
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<std::uint64_t> r = op.put ? pool_->call<std::uint64_t>(key, Put{op.value}, kDeadline).get()
                                             : pool_->call<std::uint64_t>(key, Get{}, kDeadline).get();
    const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    (op.put ? log.put_ns : log.get_ns).push_back(ns);
    if (!op.put && absl::IsNotFound(r.status())) {  // an answer, not a failure
      ++log.ok;
      ++log.misses;
      if (expected != 0) wrong("Get " + std::to_string(key) + ": NotFound after a Put");
      continue;
    }
    if (!r.ok()) {
      ++log.failed;
      wrong((op.put ? "Put " : "Get ") + std::to_string(key) + ": " + r.status().ToString());
      continue;
    }
    ++log.ok;
    if (*r != expected) {
      wrong((op.put ? "Put " : "Get ") + std::to_string(key) + ": answered " + std::to_string(*r) + ", expected " +
            std::to_string(expected));
    }
    if (op.put) expected = op.value;
  }
}

/// Every key once more, all calls in flight at once (the callback form): each answer is
/// compared with the value its client put last, on the worker that answers.
void KvRun::sweep() {
  const Clock::time_point sweep_start = Clock::now();
  for (std::uint64_t c = 0; c < o_.clients; ++c) {
    for (std::uint64_t slot = 0; slot < o_.keys; ++slot) {
      const std::uint64_t expected = logs_[c].model[slot];
      pool_->call<std::uint64_t>(
          c * o_.keys + slot, Get{}, kDeadline, [this, expected](absl::StatusOr<std::uint64_t> r) {
            const bool right = r.ok() ? *r == expected : expected == 0 && absl::IsNotFound(r.status());
            if (!right) sweep_wrong_.fetch_add(1, std::memory_order_relaxed);
            // last: main reads sweep_wrong_ after it
            swept_.fetch_add(1, std::memory_order_release);
          });
    }
  }
  const Clock::time_point sweep_limit = Clock::now() + std::chrono::seconds(60);
  while (swept_.load(std::memory_order_acquire) != all_keys_ && Clock::now() < sweep_limit) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  sweep_seconds_ = std::chrono::duration<double>(Clock::now() - sweep_start).count();
  swept_calls_ = swept_.load(std::memory_order_acquire);
}

void KvRun::merge_logs() {
  for (ClientLog& log : logs_) {
    m_.get_ns.insert(m_.get_ns.end(), log.get_ns.begin(), log.get_ns.end());
    m_.put_ns.insert(m_.put_ns.end(), log.put_ns.begin(), log.put_ns.end());
    m_.ok += log.ok;
    m_.failed += log.failed;
    m_.wrong += log.wrong;
    m_.misses += log.misses;
    for (std::uint64_t v : log.model) m_.keys_put += v != 0 ? 1 : 0;
    if (m_.first_error.empty()) m_.first_error = log.first_error;
  }
}

/// The latency table (it sorts the latencies), the rates and the workers' share.
void KvRun::print_results() {
  std::printf("  latency of one call, in microseconds (client thread to owner and back)\n");
  std::printf("  %-5s %12s %9s %9s %9s %9s %9s %9s\n", "op", "calls", "mean", "p50", "p90", "p99", "p99.9", "max");
  print_latency_row("Get", m_.get_ns);
  print_latency_row("Put", m_.put_ns);
  std::vector<std::int64_t> all_ns = m_.get_ns;
  all_ns.insert(all_ns.end(), m_.put_ns.begin(), m_.put_ns.end());
  print_latency_row("all", all_ns);
  std::printf("\n");
  sn::examples::print_rate("calls", o_.clients * o_.ops, "calls", seconds_);
  sn::examples::print_rate("final sweep", swept_calls_, "calls", sweep_seconds_);
  std::printf("\n  Gets that found no key: %s (before the key's first Put)\n", grouped(m_.misses).c_str());
  std::printf("\n  %-8s %14s %10s\n", "worker", "calls handled", "batches");
  for (const sn::WorkerStats& w : stats_.workers) {
    std::printf("  %-8zu %14s %10s\n", w.index, grouped(w.calls_handled).c_str(), grouped(w.batches).c_str());
  }
}

void KvRun::check(sn::examples::Checks& check) const {
  const sn::PoolStats& stats = stats_;
  const ShardTotals& totals = totals_;
  const std::uint64_t gets = m_.get_ns.size(), puts = m_.put_ns.size(), made = o_.clients * o_.ops;
  const std::uint64_t all_keys = all_keys_, keys_put = m_.keys_put;
  check.expect(shut_.ok(), "shutdown: %s", shut_.ToString().c_str());
  check.expect(gets + puts == made, "%llu Gets + %llu Puts timed, %llu calls made", u(gets), u(puts), u(made));
  check.expect(m_.ok == made && m_.failed == 0, "%llu of %llu calls succeeded, %llu failed", u(m_.ok), u(made),
               u(m_.failed));
  check.expect(m_.wrong == 0, "%llu wrong answers; the first: %s", u(m_.wrong), m_.first_error.c_str());
  check.expect(swept_calls_ == all_keys, "the final sweep got %llu answers of %llu", u(swept_calls_), u(all_keys));
  check.expect(sweep_wrong_.load() == 0, "the final sweep found %llu keys without their last Put",
               u(sweep_wrong_.load()));
  check.expect(totals.gets == gets + all_keys && totals.puts == puts,
               "workers handled %llu Gets and %llu Puts; clients made %llu and %llu", u(totals.gets), u(totals.puts),
               u(gets + all_keys), u(puts));
  check.expect(totals.keys == keys_put, "the shards hold %llu keys; %llu were put", u(totals.keys), u(keys_put));
  check.expect(totals.misses == m_.misses + (all_keys - keys_put), "workers missed %llu Gets; clients saw %llu",
               u(totals.misses), u(m_.misses + (all_keys - keys_put)));
  check.expect(totals.unexpected == 0, "%llu requests came as plain messages", u(totals.unexpected));
  check.expect(stats.calls_started == made + all_keys && stats.calls_handled == made + all_keys,
               "pool stats: %llu calls started, %llu handled; %llu made", u(stats.calls_started),
               u(stats.calls_handled), u(made + all_keys));
  check.expect(stats.late_replies == 0, "%llu answers came after their deadline", u(stats.late_replies));
  check.expect(stats.balanced(), "pool stats: accepted %llu != processed %llu + failed %llu + dropped %llu",
               u(stats.accepted), u(stats.processed), u(stats.failed), u(stats.dropped));
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "serves a sharded key-value map from a worker pool through calls (Get/Put), "
                                 "checks every answer and prints the latency percentiles")) {
    return sn::examples::kUsageError;
  }
  const std::optional<Options> options = read_options();
  if (!options) return sn::examples::kUsageError;
  KvRun run(*options);
  return run.run();
}
