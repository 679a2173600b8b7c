// pool_idle: what an idle pool costs, and how fast a parked worker wakes, against the
// same wake-ups done with nothing but a futex (part of the worker_pool binary).
//
//   pool_idle/sn           one worker per usable CPU (worker j pinned to cpu_for(j)), the
//                          default wait policy, left alone for kIdleWindow: cpu_percent is
//                          the process's CPU time over that window. Then kWakes wake-ups,
//                          each after kParkPause (long enough for the worker to spin, yield
//                          and park): the main thread reads the steady clock and sends to
//                          worker i % n, whose handler reads it again; wake_p50_us and
//                          wake_p99_us are percentiles of the difference.
//   pool_idle/futex_floor  the floor of the row above: the same idle window, wake-ups,
//                          clocks and percentiles, with a bare thread in place of each
//                          worker, pinned to the same CPU and parked in futex_wait on a word
//                          of its own; the main thread reads the clock, bumps the word and
//                          calls futex_wake, and the thread reads the clock when it returns.
//
// Both rows report the sum of the wake latencies as their time (manual time), so
// items_per_second is the inverse of the mean. The main thread is not pinned, and sleeps
// in futex_wait (RoundLatch) while the woken thread runs, in both rows alike.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/time/time.h"
#include "harness.h"
#include "sn/cache_line.h"
#include "sn/sync/futex.h"
#include "sn/topology/affinity.h"
#include "sn/worker_pool.h"
#include "worker_pool.h"

namespace snbench {
namespace {

/// The idle window, the wake-ups measured, and the pause before each.
constexpr std::chrono::seconds kIdleWindow{1};
constexpr int kWakes = 200;
constexpr std::chrono::milliseconds kParkPause{5};

using steady = std::chrono::steady_clock;

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

/// Where the woken side stamps the time it ran (relaxed; published by the latch's arrive).
struct IdleShared {
  std::atomic<std::int64_t> handled_at_ns{0};
  RoundLatch latch;
};

/// The process's CPU use over kIdleWindow, in percent of one CPU.
double idle_cpu_percent() {
  const double cpu0 = cpu_seconds();
  const auto wall0 = steady::now();
  std::this_thread::sleep_for(kIdleWindow);
  const double cpu = cpu_seconds() - cpu0;
  return cpu / std::chrono::duration<double>(steady::now() - wall0).count() * 100.0;
}

/// kWakes wake-ups, each after kParkPause: `wake(i)` hands wake-up i to its thread (false:
/// refused). Sets the iteration time and the wake counters; false, with the case marked
/// failed, when a wake-up was refused or not handled within kStallLimit.
template <class Wake>
bool measure_wakes(benchmark::State& state, IdleShared& shared, Wake&& wake) {
  std::vector<double> wake_us;
  wake_us.reserve(kWakes);
  double total_s = 0;
  for (int i = 0; i < kWakes; ++i) {
    std::this_thread::sleep_for(kParkPause);
    shared.latch.reset();
    const std::int64_t sent = steady_ns();
    if (!wake(i) || !shared.latch.wait(1)) {
      state.SkipWithError(("lost wake-up " + std::to_string(i)).c_str());
      return false;
    }
    const double us = static_cast<double>(shared.handled_at_ns.load(std::memory_order_relaxed) - sent) * 1e-3;
    wake_us.push_back(us);
    total_s += us * 1e-6;
  }
  state.SetIterationTime(total_s);
  state.counters["wake_p50_us"] = percentile(wake_us, 0.50);
  state.counters["wake_p99_us"] = percentile(wake_us, 0.99);
  return true;
}

// ------------------------------------------------------------------ pool_idle/sn

struct Nothing {};

class IdleWorker : public sn::Worker<Nothing, u64> {
 public:
  explicit IdleWorker(IdleShared& shared) noexcept : shared_(shared) {}

  void handle_message(Nothing&, sn::Envelope<u64>) {
    shared_.handled_at_ns.store(steady_ns(), std::memory_order_relaxed);
    shared_.latch.arrive(1);
  }

 private:
  IdleShared& shared_;
};

// The default wait policy: what an idle pool costs and how fast it wakes as configured
// out of the box. The idle window starts when create() returns (workers built and
// pinned), so it includes their spin and yield phases before they first park.
void idle_sn(benchmark::State& state) {
  const int workers = usable_cpus();
  IdleShared shared;
  auto made = sn::WorkerPool<IdleWorker>::create(pinned_pool(static_cast<std::size_t>(workers), 0),
                                                 [&](std::size_t) { return std::make_unique<IdleWorker>(shared); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<IdleWorker>& pool = **made;
  for (auto _ : state) {
    state.counters["cpu_percent"] = idle_cpu_percent();
    const sn::PoolStats before = pool.stats();
    const bool measured = measure_wakes(state, shared, [&](int i) {
      return pool.send_to(static_cast<std::size_t>(i % workers), u64{0}) == sn::SendResult::ok;
    });
    if (!measured) break;
    // ~1 when every wake-up found its worker parked, as intended.
    state.counters["parks_per_wake"] = static_cast<double>(pool.stats().parks - before.parks) / kWakes;
  }
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kWakes);
  state.SetLabel(cpu_label(workers));
}

// ------------------------------------------------------------------ pool_idle/futex_floor

/// A bare thread parked on its own futex word, standing for one worker.
struct alignas(sn::kFalseSharingRange) FloorSleeper {
  std::atomic<std::uint32_t> bell{0};  // bumped by each wake-up (the futex word)
  std::atomic<bool> stop{false};
  std::thread thread;

  /// Parks until the bell changes; stamps the time and arrives at the latch for each change.
  void run(int cpu, IdleShared& shared, std::atomic<bool>& pin_failed) {
    if (!sn::pin_current_thread(cpu).ok()) pin_failed.store(true, std::memory_order_relaxed);
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t now;
      while ((now = bell.load(std::memory_order_acquire)) == seen) {  // pairs with ring()'s release
        sn::sync::futex_wait(&bell, seen, absl::InfiniteFuture());
      }
      seen = now;
      if (stop.load(std::memory_order_relaxed)) return;
      shared.handled_at_ns.store(steady_ns(), std::memory_order_relaxed);
      shared.latch.arrive(1);
    }
  }
  /// Wakes the sleeper: one increment and one futex_wake, as a plain wake-up costs.
  void ring() noexcept {
    bell.fetch_add(1, std::memory_order_release);
    sn::sync::futex_wake(&bell, 1);
  }
};

void idle_futex_floor(benchmark::State& state) {
  const int n = usable_cpus();
  IdleShared shared;
  std::atomic<bool> pin_failed{false};
  std::vector<std::unique_ptr<FloorSleeper>> sleepers;
  for (int j = 0; j < n; ++j) {
    sleepers.push_back(std::make_unique<FloorSleeper>());
    FloorSleeper& s = *sleepers.back();
    s.thread = std::thread([&s, &shared, &pin_failed, j] { s.run(cpu_for(j), shared, pin_failed); });
  }
  for (auto _ : state) {
    state.counters["cpu_percent"] = idle_cpu_percent();
    if (pin_failed.load(std::memory_order_relaxed)) {
      state.SkipWithError("could not pin a sleeper");
      break;
    }
    const bool measured = measure_wakes(state, shared, [&](int i) {
      sleepers[static_cast<std::size_t>(i % n)]->ring();
      return true;
    });
    if (!measured) break;
    state.counters["parks_per_wake"] = 1;
  }
  for (std::unique_ptr<FloorSleeper>& s : sleepers) {
    s->stop.store(true, std::memory_order_relaxed);
    s->ring();  // the release orders the stop flag before the bell's change
    s->thread.join();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kWakes);
  state.SetLabel(cpu_label(n));
}

}  // namespace

void register_pool_idle() {
  using Case = void (*)(benchmark::State&);
  for (auto [name, fn] : {std::pair<const char*, Case>{"pool_idle/sn", idle_sn},
                          std::pair<const char*, Case>{"pool_idle/futex_floor", idle_futex_floor}}) {
    benchmark::RegisterBenchmark(name, fn)->Iterations(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace snbench
