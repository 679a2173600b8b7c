// tuning: one sn::WorkerPool knob at a time, at 1 external producer x 1 worker, for
// docs/tuning.md. Every case changes exactly one PoolConfig field from the defaults
// (queue_capacity 1024, batch_size 64, WaitPolicy{4096, 16}, pinned producer and worker).
//
// Cases (Google Benchmark appends "/real_time", and "/iterations:1/manual_time" to wake):
//   tuning/queue_capacity/N  PoolConfig::queue_capacity = N (the worker's external inbox).
//   tuning/batch_size/N      PoolConfig::batch_size = N (messages per loop iteration;
//                            tick() runs after each batch).
//   tuning/affinity/on       producer pinned to one CPU, the worker (cpu_affinity) to another.
//   tuning/affinity/off      neither pinned: the scheduler places both threads.
//   tuning/wait/P            streaming throughput under wait policy P (below); counter
//                            parks_per_1k: how often the worker slept per 1,000 messages.
//   tuning/wake/P            the same pool at a low message rate: one message every
//                            kWakeGap, kWakes times. wake_p50_us / wake_p99_us from send to
//                            handler; lowrate_cpu_percent is the process's CPU time over
//                            that phase (~1,000 msg/s), idle_cpu_percent over kIdleWindow
//                            with no messages at all. Both are percent of one CPU.
//   Wait policies P: spin {2^32-1, 0} (spin, effectively never park); yield {0, 2^32-1}
//   (sched_yield, effectively never park); default {4096, 16}; low_latency {2^20, 256};
//   park {0, 0} (park at once).
//
// Throughput cases (all but wake): one producer sends kStreamMessages values per
// iteration with pool.send_to(0, v), blocking when the inbox is full (FullPolicy::block);
// the worker adds every value to a running count and sum and reports them from tick();
// the main thread checks both after every iteration, so a lost or duplicated message
// fails the case (SkipWithError), as does a round that stalls for kStallLimit.
// items_per_second is messages handled per second. Needs 2 CPUs for the pinned cases.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "harness.h"
#include "sn/sync/block_on.h"
#include "sn/sync/parking_lot.h"
#include "sn/worker_pool.h"

namespace snbench {
namespace {

/// Messages per iteration of the throughput cases.
constexpr u64 kStreamMessages = u64{1} << 20;
/// The wake cases: messages sent, the pause before each, and the idle window.
constexpr int kWakes = 200;
constexpr std::chrono::milliseconds kWakeGap{1};
constexpr std::chrono::milliseconds kIdleWindow{500};

struct alignas(sn::kFalseSharingRange) Tally {
  std::atomic<u64> handled{0};
  std::atomic<u64> checksum{0};
  std::atomic<std::int64_t> handled_at_ns{0};  // wake cases: steady clock
};

struct CountState {
  u64 pending = 0;
  u64 handled = 0;
  u64 checksum = 0;
  u64 next_target = 0;
};

/// Counts and sums; tells the main thread once per round (kStreamMessages), or once per
/// message in the wake cases (round = 1).
class CountWorker : public sn::Worker<CountState, u64> {
 public:
  CountWorker(Tally& tally, RoundLatch& latch, u64 round) noexcept : tally_(tally), latch_(latch), round_(round) {}

  CountState init() { return CountState{0, 0, 0, round_}; }

  void handle_message(CountState& s, sn::Envelope<u64> e) {
    s.checksum += e.payload;
    ++s.pending;
  }

  void tick(CountState& s) {
    if (s.pending == 0) return;
    s.handled += s.pending;
    s.pending = 0;
    tally_.handled.store(s.handled, std::memory_order_relaxed);
    tally_.checksum.store(s.checksum, std::memory_order_relaxed);
    if (s.handled >= s.next_target) {
      s.next_target += round_;
      const auto now = std::chrono::steady_clock::now().time_since_epoch();
      tally_.handled_at_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(),
                                 std::memory_order_relaxed);
      latch_.arrive(1);
    }
  }

 private:
  Tally& tally_;
  RoundLatch& latch_;
  u64 round_;
};

/// The defaults, with the worker pinned to cpu_for(1) when `pinned`.
sn::PoolConfig base_config(bool pinned) {
  sn::PoolConfig config = sn::PoolConfig().with_num_workers(1).with_name("tune");
  if (pinned) {
    config.with_cpu_affinity(true).with_oversubscription(true).with_worker(0, sn::WorkerConfig().with_cpu(cpu_for(1)));
  }
  return config;
}

template <class W>
void shutdown_or_skip(sn::WorkerPool<W>& pool, benchmark::State& state) {
  if (const absl::Status s = pool.shutdown(); !s.ok() && !state.error_occurred()) {
    state.SkipWithError(("shutdown: " + s.ToString()).c_str());
  }
}

/// One producer streams kStreamMessages per iteration into a 1-worker pool built from
/// `config`; the producer is pinned to cpu_for(0) when `pin_producer`.
void stream(benchmark::State& state, const sn::PoolConfig& config, bool pin_producer) {
  constexpr u64 n = kStreamMessages;
  Tally tally;
  RoundLatch latch;
  auto made = sn::WorkerPool<CountWorker>::create(
      config, [&](std::size_t) { return std::make_unique<CountWorker>(tally, latch, n); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<CountWorker>& pool = **made;

  std::atomic<bool> refused{false};
  std::atomic<bool> pin_failed{false};
  u64 round = 0;
  u64 want_sum = 0;
  const std::uint64_t parks_before = pool.stats().parks;
  for (auto _ : state) {
    latch.reset();
    std::thread producer([&, first = round * n + 1] {
      if (pin_producer && !sn::pin_current_thread(cpu_for(0)).ok()) pin_failed.store(true);
      for (u64 v = first; v < first + n; ++v) {
        if (pool.send_to(0, u64{v}) != sn::SendResult::ok) [[unlikely]] {
          refused.store(true, std::memory_order_relaxed);
          break;
        }
      }
    });
    producer.join();
    std::string error;
    if (pin_failed.load()) {
      error = "pinning the producer failed";
    } else if (refused.load()) {
      error = "a send was refused";
    } else if (!latch.wait(1)) {
      error = "stalled: the worker did not get all its messages";
    }
    want_sum += round * n * n + n * (n + 1) / 2;
    const u64 handled = tally.handled.load(std::memory_order_relaxed);
    const u64 sum = tally.checksum.load(std::memory_order_relaxed);
    if (error.empty() && (handled != (round + 1) * n || sum != want_sum)) {
      error = "handled " + std::to_string(handled) + " (expected " + std::to_string((round + 1) * n) + "), checksum " +
              std::to_string(sum) + " (expected " + std::to_string(want_sum) + ")";
    }
    if (!error.empty()) {
      state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + error).c_str());
      break;
    }
    ++round;
  }
  const double parks = static_cast<double>(pool.stats().parks - parks_before);
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
  if (round != 0) state.counters["parks_per_1k"] = parks * 1000.0 / static_cast<double>(round * n);
  state.SetLabel(pin_producer ? cpu_label(2) : "unpinned");
}

/// A pinned 1-worker pool under `wait`, idle for kIdleWindow, then kWakes messages
/// kWakeGap apart from the (sleeping) main thread. Manual time is the sum of the wake
/// latencies, as in worker_pool's pool_idle.
void wake(benchmark::State& state, sn::WaitPolicy wait) {
  Tally tally;
  RoundLatch latch;
  auto made = sn::WorkerPool<CountWorker>::create(base_config(true).with_wait_policy(wait), [&](std::size_t) {
    return std::make_unique<CountWorker>(tally, latch, 1);
  });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<CountWorker>& pool = **made;
  using clock = std::chrono::steady_clock;
  u64 sent_count = 0, sent_sum = 0;
  for (auto _ : state) {
    double cpu0 = cpu_seconds();
    auto wall0 = clock::now();
    std::this_thread::sleep_for(kIdleWindow);
    state.counters["idle_cpu_percent"] =
        (cpu_seconds() - cpu0) / std::chrono::duration<double>(clock::now() - wall0).count() * 100.0;

    std::vector<double> wake_us;
    wake_us.reserve(kWakes);
    double total_s = 0;
    cpu0 = cpu_seconds();
    wall0 = clock::now();
    for (int i = 0; i < kWakes; ++i) {
      std::this_thread::sleep_for(kWakeGap);
      latch.reset();
      const u64 v = ++sent_count;
      sent_sum += v;
      const auto sent = clock::now();
      if (pool.send_to(0, u64{v}) != sn::SendResult::ok || !latch.wait(1)) {
        state.SkipWithError(("lost wake-up message " + std::to_string(i)).c_str());
        shutdown_or_skip(pool, state);
        return;
      }
      const std::chrono::nanoseconds woke(tally.handled_at_ns.load(std::memory_order_relaxed));
      const double us = std::chrono::duration<double, std::micro>(woke - sent.time_since_epoch()).count();
      wake_us.push_back(us);
      total_s += us * 1e-6;
    }
    state.counters["lowrate_cpu_percent"] =
        (cpu_seconds() - cpu0) / std::chrono::duration<double>(clock::now() - wall0).count() * 100.0;
    if (tally.handled.load() != sent_count || tally.checksum.load() != sent_sum) {
      state.SkipWithError("checksum mismatch: the worker's count or sum differs from what was sent");
      break;
    }
    state.SetIterationTime(total_s);
    state.counters["wake_p50_us"] = percentile(wake_us, 0.50);
    state.counters["wake_p99_us"] = percentile(wake_us, 0.99);
  }
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kWakes);
  state.SetLabel(cpu_label(2));
}

struct NamedPolicy {
  const char* name;
  sn::WaitPolicy policy;
};

constexpr std::uint32_t kForever = std::numeric_limits<std::uint32_t>::max();
const NamedPolicy kPolicies[] = {
    {"spin", {kForever, 0}},
    {"yield", {0, kForever}},
    {"default", sn::WaitPolicy{}},
    {"low_latency", sn::WaitPolicy::low_latency()},
    {"park", sn::WaitPolicy::park_immediately()},
};

void register_all() {
  auto add = [](const std::string& name, std::function<void(benchmark::State&)> fn) {
    return benchmark::RegisterBenchmark(name.c_str(), std::move(fn))->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  for (std::size_t n : {64, 256, 1024, 4096, 16384, 65536}) {
    add("tuning/queue_capacity/" + std::to_string(n),
        [n](benchmark::State& s) { stream(s, base_config(true).with_queue_capacity(n), true); });
  }
  for (std::size_t n : {1, 4, 16, 64, 256}) {
    add("tuning/batch_size/" + std::to_string(n),
        [n](benchmark::State& s) { stream(s, base_config(true).with_batch_size(n), true); });
  }
  add("tuning/affinity/off", [](benchmark::State& s) { stream(s, base_config(false), false); });
  add("tuning/affinity/on", [](benchmark::State& s) { stream(s, base_config(true), true); });
  for (const NamedPolicy& p : kPolicies) {
    add(std::string("tuning/wait/") + p.name,
        [w = p.policy](benchmark::State& s) { stream(s, base_config(true).with_wait_policy(w), true); });
  }
  for (const NamedPolicy& p : kPolicies) {
    benchmark::RegisterBenchmark((std::string("tuning/wake/") + p.name).c_str(),
                                 [w = p.policy](benchmark::State& s) { wake(s, w); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

void add_context() {
  add_machine_context();
  benchmark::AddCustomContext("stream_messages_per_iteration", std::to_string(kStreamMessages));
  benchmark::AddCustomContext("defaults", "queue_capacity 1024, batch_size 64, WaitPolicy{4096, 16}, pinned");
  benchmark::AddCustomContext("wakes", std::to_string(kWakes) + " messages, " + std::to_string(kWakeGap.count()) +
                                           " ms apart; idle window " + std::to_string(kIdleWindow.count()) + " ms");
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  return snbench::run_benchmarks(argc, argv, snbench::add_context, snbench::register_all);
}
