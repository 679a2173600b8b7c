// timers: sn::WorkerPool's timers (send_after, cancel) against the kernel's own floor.
//
// Cases (Google Benchmark appends "/iterations:1/real_time" or "/real_time"):
//   timer/lateness/sn          an idle pool of one worker (default config: default wait
//                              policy, not pinned) fires kLatenessTimers timers, due every
//                              kSpacing, the first kLead after scheduling. The benchmark
//                              thread schedules them all up front with pool->send_after; each
//                              message carries its due time (steady_clock ns, read just
//                              before its send_after call, plus its delay, so never later
//                              than the pool's own due time). The handler stores now - due
//                              per timer. Counters late_p50_us, late_p99_us, late_max_us;
//                              cpu_percent (the process's CPU time over the round, in % of
//                              one CPU); parks_per_timer (PoolStats::parks per timer: below
//                              1, the worker was still spinning or yielding when a timer
//                              fell due).
//   timer/lateness/sn_park_immediately  the same with WaitPolicy::park_immediately(), and
//   timer/lateness/sn_spin_only         with the default spins but no yields: diagnostics,
//                              which of the idle worker's wait phases costs lateness.
//   timer/lateness/futex_floor the floor: one plain thread (not pinned) sleeps with
//                              sn::sync::futex_wait, on a word nobody wakes, until each of the
//                              same deadlines in turn (re-waiting while now < due), and stores
//                              now - due after it wakes. Same counters. The bar: sn's p99 at
//                              most 2x this p99 (medians over repetitions, same run).
//   timer/schedule_cancel/sn/interleaved  one external message per iteration makes the
//                              worker schedule kBatch timers with context().send_after (an
//                              hour away), cancelling each right after it is made...
//   timer/schedule_cancel/sn/bulk  ...or scheduling all kBatch, then cancelling all kBatch.
//                              items_per_second: schedule+cancel pairs per second;
//                              cpu_ns_per_item: the process's CPU time per pair (steadier
//                              than items_per_second on a loaded machine); rss_growth_mib:
//                              what the cancelled timers still hold at the end (a pool
//                              per repetition), which must stay flat however many batches
//                              run: a worker whose timers never fall due must still free
//                              its cancelled ones, or its slab runs out.
//   timer/schedule_fire/sn     one external message per iteration makes the worker schedule
//                              kFireBatch timers with zero delay to its own key; the
//                              iteration ends when the worker has handled all of them.
//                              items_per_second: timers scheduled, fired and handled.
//
// Every case verifies: lateness, that each timer arrived exactly once and none early;
// schedule_cancel, that every send_after made a timer and every cancel succeeded, that
// PoolStats::timers_cancelled grew by exactly kBatch and timers_pending came back to where
// it was; schedule_fire, the count and sum of the handled timers and timers_fired. A
// mismatch fails the case (SkipWithError); a round that does not complete within
// kStallLimit fails as well instead of hanging.
//
// Run the lateness rows with repetitions (they run one iteration each), e.g.
//   timers --benchmark_repetitions=7 --benchmark_report_aggregates_only=true

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness.h"
#include "sn/sync/futex.h"
#include "sn/worker_pool.h"

namespace snbench {
namespace {

using i64 = std::int64_t;

/// lateness: timers per iteration, their spacing, and the delay of the first one (so that
/// scheduling them all up front is over before the first falls due).
constexpr int kLatenessTimers = 1000;
constexpr std::chrono::milliseconds kSpacing{1};
constexpr std::chrono::milliseconds kLead{10};
/// schedule_cancel: schedule+cancel pairs per iteration (one batch), and their delay.
constexpr u64 kBatch = 100'000;
constexpr absl::Duration kFarAway = absl::Hours(1);
/// schedule_fire: zero-delay timers fired and handled per iteration.
constexpr u64 kFireBatch = 100'000;
/// The key every timer is sent to (a one-worker pool: worker 0 owns it).
constexpr u64 kKey = 42;

i64 steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Shuts the pool down; a failure marks the case unless it already failed.
template <class W>
void shutdown_or_skip(sn::WorkerPool<W>& pool, benchmark::State& state) {
  if (const absl::Status s = pool.shutdown(); !s.ok() && !state.error_occurred()) {
    state.SkipWithError(("shutdown: " + s.ToString()).c_str());
  }
}

/// The process's CPU time since `cpu0` (cpu_seconds()) over the wall time since `wall0`,
/// in percent of one CPU.
double cpu_percent(double cpu0, std::chrono::steady_clock::time_point wall0) {
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return (cpu_seconds() - cpu0) / wall * 100.0;
}

/// Checks one round of lateness samples and reports the counters; false (after
/// SkipWithError) on a timer missing, duplicated or early.
bool report_lateness(benchmark::State& state, const std::vector<i64>& late_ns, const std::vector<std::uint32_t>& seen) {
  std::vector<double> us;
  us.reserve(late_ns.size());
  for (std::size_t i = 0; i < late_ns.size(); ++i) {
    if (seen[i] != 1) {
      state.SkipWithError(("timer " + std::to_string(i) + " arrived " + std::to_string(seen[i]) + " times").c_str());
      return false;
    }
    if (late_ns[i] < 0) {
      state.SkipWithError(
          ("timer " + std::to_string(i) + " fired " + std::to_string(-late_ns[i]) + " ns early").c_str());
      return false;
    }
    us.push_back(static_cast<double>(late_ns[i]) * 1e-3);
  }
  state.counters["late_p50_us"] = percentile(us, 0.50);
  state.counters["late_p99_us"] = percentile(us, 0.99);
  state.counters["late_max_us"] = *std::max_element(us.begin(), us.end());
  return true;
}

// ------------------------------------------------------------------ lateness/sn

struct Due {
  i64 due_ns = 0;  // steady clock: when this timer was meant to fire, at the latest
  std::uint32_t index = 0;
};

struct LatenessShared {
  std::vector<i64> late_ns = std::vector<i64>(kLatenessTimers);
  std::vector<std::uint32_t> seen = std::vector<std::uint32_t>(kLatenessTimers);
  std::uint32_t handled = 0;  // the worker's; read by the main thread after the latch
  RoundLatch latch;
};

struct Nothing {};

class LatenessWorker : public sn::Worker<Nothing, Due> {
 public:
  explicit LatenessWorker(LatenessShared& shared) noexcept : shared_(shared) {}

  void handle_message(Nothing&, sn::Envelope<Due> e) {
    const i64 now = steady_ns();
    const Due& d = e.payload;
    if (d.index < kLatenessTimers) {
      shared_.late_ns[d.index] = now - d.due_ns;
      ++shared_.seen[d.index];
    }
    if (++shared_.handled == kLatenessTimers) shared_.latch.arrive(1);
  }

 private:
  LatenessShared& shared_;
};

/// `wait`: the pool's wait policy; unset, the default one.
void lateness_sn(benchmark::State& state, std::optional<sn::WaitPolicy> wait) {
  auto shared = std::make_unique<LatenessShared>();
  sn::PoolConfig config = sn::PoolConfig().with_num_workers(1);
  if (wait) config.with_wait_policy(*wait);
  auto made = sn::WorkerPool<LatenessWorker>::create(
      config, [&](std::size_t) { return std::make_unique<LatenessWorker>(*shared); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<LatenessWorker>& pool = **made;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the worker park first
  for (auto _ : state) {
    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    std::fill(shared->seen.begin(), shared->seen.end(), 0u);
    shared->handled = 0;
    shared->latch.reset();
    for (int i = 0; i < kLatenessTimers; ++i) {
      const auto delay = kLead + i * kSpacing;
      const i64 due = steady_ns() + std::chrono::nanoseconds(delay).count();
      if (!pool.send_after(absl::FromChrono(delay), kKey, Due{due, static_cast<std::uint32_t>(i)}).valid()) {
        state.SkipWithError(("send_after refused timer " + std::to_string(i)).c_str());
        return;
      }
    }
    if (!shared->latch.wait(1)) {
      state.SkipWithError(("only " + std::to_string(shared->handled) + " of " + std::to_string(kLatenessTimers) +
                           " timers arrived within the stall limit")
                              .c_str());
      return;
    }
    if (!report_lateness(state, shared->late_ns, shared->seen)) return;
    state.counters["cpu_percent"] = cpu_percent(cpu0, wall0);
  }
  const sn::PoolStats stats = pool.stats();
  state.counters["parks_per_timer"] = static_cast<double>(stats.parks) / kLatenessTimers;
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kLatenessTimers);
}

// ------------------------------------------------------------------ lateness/futex_floor

void lateness_futex_floor(benchmark::State& state) {
  std::vector<i64> late_ns(kLatenessTimers);
  std::vector<std::uint32_t> seen(kLatenessTimers);
  for (auto _ : state) {
    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    std::fill(seen.begin(), seen.end(), 0u);
    // One thread, made before the deadlines are set, as the pool's worker is.
    std::atomic<std::uint32_t> word{0};  // nobody changes it, nobody wakes it
    std::atomic<i64> start{0};
    std::thread sleeper([&] {
      i64 t0;
      while ((t0 = start.load(std::memory_order_acquire)) == 0) start.wait(0);
      for (int i = 0; i < kLatenessTimers; ++i) {
        const i64 due = t0 + std::chrono::nanoseconds(kLead + i * kSpacing).count();
        i64 now;
        while ((now = steady_ns()) < due) {
          // The deadline as the worker's loop computes it (loop.h wait()).
          sn::sync::futex_wait(&word, 0, absl::Now() + absl::Nanoseconds(due - now));
        }
        late_ns[static_cast<std::size_t>(i)] = now - due;
        ++seen[static_cast<std::size_t>(i)];
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // as the pool's worker parks first
    start.store(steady_ns(), std::memory_order_release);
    start.notify_one();
    sleeper.join();
    if (!report_lateness(state, late_ns, seen)) return;
    state.counters["cpu_percent"] = cpu_percent(cpu0, wall0);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kLatenessTimers);
}

// ------------------------------------------------------------------ schedule_cancel

struct Command {
  u64 round = 0;
};

struct alignas(sn::kFalseSharingRange) BatchTally {
  u64 scheduled = 0;  // valid ids made this round
  u64 cancelled = 0;  // cancels that returned true this round
  u64 handled = 0;    // schedule_fire: timers handled, all rounds
  u64 sum = 0;        // schedule_fire: sum of their payloads, all rounds
};

struct BatchShared {
  BatchTally tally;
  RoundLatch latch;
};

/// kBulk: schedules the whole batch, then cancels it; otherwise cancels each timer right
/// after making it.
template <bool kBulk>
class CancelWorker : public sn::Worker<Nothing, Command> {
 public:
  explicit CancelWorker(BatchShared& shared) : shared_(shared), ids_(kBulk ? kBatch : 0) {}

  void handle_message(Nothing&, sn::Envelope<Command> e) {
    u64 scheduled = 0, cancelled = 0;
    if constexpr (kBulk) {
      for (u64 i = 0; i < kBatch; ++i) {
        ids_[i] = context().send_after(kFarAway, kKey, Command{e.payload.round});
        scheduled += ids_[i].valid();
      }
      for (u64 i = 0; i < kBatch; ++i) cancelled += context().cancel(ids_[i]);
    } else {
      for (u64 i = 0; i < kBatch; ++i) {
        const sn::TimerId id = context().send_after(kFarAway, kKey, Command{e.payload.round});
        scheduled += id.valid();
        cancelled += context().cancel(id);
      }
    }
    shared_.tally.scheduled = scheduled;
    shared_.tally.cancelled = cancelled;
    shared_.latch.arrive(1);
  }

 private:
  BatchShared& shared_;
  std::vector<sn::TimerId> ids_;
};

/// Resident set size of this process, in MiB.
double rss_mib() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

template <bool kBulk>
void schedule_cancel_sn(benchmark::State& state) {
  BatchShared shared;
  auto made = sn::WorkerPool<CancelWorker<kBulk>>::create(
      sn::PoolConfig().with_num_workers(1), [&](std::size_t) { return std::make_unique<CancelWorker<kBulk>>(shared); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<CancelWorker<kBulk>>& pool = **made;
  malloc_trim(0);  // what earlier repetitions freed goes back, so that the growth is this pool's
  const double rss0 = rss_mib();
  const double cpu0 = cpu_seconds();
  u64 round = 0;
  for (auto _ : state) {
    const sn::PoolStats before = pool.stats();
    shared.latch.reset();
    if (pool.send(kKey, Command{round}) != sn::SendResult::ok || !shared.latch.wait(1)) {
      state.SkipWithError(("batch " + std::to_string(round) + " did not complete").c_str());
      break;
    }
    const sn::PoolStats after = pool.stats();
    const u64 cancelled = after.timers_cancelled - before.timers_cancelled;
    if (shared.tally.scheduled != kBatch || shared.tally.cancelled != kBatch || cancelled != kBatch ||
        after.timers_pending != before.timers_pending) {
      state.SkipWithError(("batch " + std::to_string(round) + ": " + std::to_string(shared.tally.scheduled) +
                           " scheduled, " + std::to_string(shared.tally.cancelled) + " cancelled (stats: +" +
                           std::to_string(cancelled) + "), pending " + std::to_string(before.timers_pending) + " -> " +
                           std::to_string(after.timers_pending) + ", expected " + std::to_string(kBatch) + " each")
                              .c_str());
      break;
    }
    ++round;
  }
  // Memory the cancelled timers still hold (none of them ever falls due).
  state.counters["rss_growth_mib"] = rss_mib() - rss0;
  state.counters["timers_cancelled"] = static_cast<double>(round * kBatch);
  // CPU time of the whole process (the worker; the benchmark thread sleeps) per pair: less
  // at the mercy of other load on the machine than items_per_second.
  state.counters["cpu_ns_per_item"] =
      (cpu_seconds() - cpu0) * 1e9 / static_cast<double>(std::max<u64>(round * kBatch, 1));
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(round * kBatch));
}

// ------------------------------------------------------------------ schedule_fire

class FireWorker : public sn::Worker<Nothing, Command> {
 public:
  explicit FireWorker(BatchShared& shared) noexcept : shared_(shared) {}

  void handle_message(Nothing&, sn::Envelope<Command> e) {
    if (e.source.is_external()) {  // the command: schedule the batch
      u64 scheduled = 0;
      for (u64 i = 0; i < kFireBatch; ++i) {
        scheduled +=
            context().send_after(absl::ZeroDuration(), kKey, Command{e.payload.round * kFireBatch + i + 1}).valid();
      }
      shared_.tally.scheduled = scheduled;
      target_ = shared_.tally.handled + scheduled;
      if (scheduled == 0) shared_.latch.arrive(1);
      return;
    }
    shared_.tally.sum += e.payload.round;
    if (++shared_.tally.handled == target_) shared_.latch.arrive(1);
  }

 private:
  BatchShared& shared_;
  u64 target_ = 0;
};

void schedule_fire_sn(benchmark::State& state) {
  BatchShared shared;
  auto made = sn::WorkerPool<FireWorker>::create(sn::PoolConfig().with_num_workers(1),
                                                 [&](std::size_t) { return std::make_unique<FireWorker>(shared); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<FireWorker>& pool = **made;
  const double cpu0 = cpu_seconds();
  u64 round = 0;
  u64 expected_sum = 0;
  for (auto _ : state) {
    const sn::PoolStats before = pool.stats();
    shared.latch.reset();
    if (pool.send(kKey, Command{round}) != sn::SendResult::ok || !shared.latch.wait(1)) {
      state.SkipWithError(("batch " + std::to_string(round) +
                           " did not complete: " + std::to_string(shared.tally.handled) + " handled in all")
                              .c_str());
      break;
    }
    const sn::PoolStats after = pool.stats();
    // Round r sends r * kFireBatch + 1 ... + kFireBatch.
    expected_sum += round * kFireBatch * kFireBatch + kFireBatch * (kFireBatch + 1) / 2;
    const u64 fired = after.timers_fired - before.timers_fired;
    if (shared.tally.scheduled != kFireBatch || shared.tally.handled != (round + 1) * kFireBatch ||
        shared.tally.sum != expected_sum || fired != kFireBatch) {
      state.SkipWithError(("batch " + std::to_string(round) + ": " + std::to_string(shared.tally.scheduled) +
                           " scheduled, " + std::to_string(fired) + " fired, " + std::to_string(shared.tally.handled) +
                           " handled in all, sum " + std::to_string(shared.tally.sum) + " (expected " +
                           std::to_string(expected_sum) + ")")
                              .c_str());
      break;
    }
    ++round;
  }
  state.counters["cpu_ns_per_item"] =
      (cpu_seconds() - cpu0) * 1e9 / static_cast<double>(std::max<u64>(round * kFireBatch, 1));
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(round * kFireBatch));
}

// ------------------------------------------------------------------ registration

void register_all() {
  benchmark::RegisterBenchmark("timer/lateness/sn", [](benchmark::State& s) { lateness_sn(s, std::nullopt); })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("timer/lateness/sn_park_immediately",
                               [](benchmark::State& s) { lateness_sn(s, sn::WaitPolicy::park_immediately()); })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("timer/lateness/sn_spin_only",
                               [](benchmark::State& s) {
                                 lateness_sn(s, sn::WaitPolicy{sn::WaitPolicy{}.spin_iterations, 0});
                               })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("timer/lateness/futex_floor", lateness_futex_floor)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("timer/schedule_cancel/sn/interleaved", schedule_cancel_sn<false>)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("timer/schedule_cancel/sn/bulk", schedule_cancel_sn<true>)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("timer/schedule_fire/sn", schedule_fire_sn)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

void add_context() {
  add_machine_context();
  benchmark::AddCustomContext("lateness_timers", std::to_string(kLatenessTimers));
  benchmark::AddCustomContext("lateness_spacing_ms", std::to_string(kSpacing.count()));
  benchmark::AddCustomContext("schedule_cancel_batch", std::to_string(kBatch));
  benchmark::AddCustomContext("schedule_fire_batch", std::to_string(kFireBatch));
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  return snbench::run_benchmarks(argc, argv, snbench::add_context, snbench::register_all);
}
