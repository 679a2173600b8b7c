// The common harness of the message-passing benchmarks: thread placement, a persistent
// team of pinned threads released through one start gate per round, the spin loop with
// its stall watchdog, the cycle counter, and the producer/consumer and ping-pong loops.
//
// Every queue (sn's channels and the peers) sits behind a small adapter (adapters.h) and
// runs through exactly the same loops below, so the numbers differ only by the queue.
//
// Adapter contract, for a queue type Q:
//   explicit Q(std::size_t capacity);
//   class Q::Producer { explicit Producer(Q&);          // built on its own pinned thread
//                       bool try_push(std::uint64_t);    // false: full, nothing was pushed
//                       std::size_t try_push_bulk(std::uint64_t*, std::size_t); };  // batch queues
//   class Q::Consumer { explicit Consumer(Q&);
//                       bool try_pop(std::uint64_t&);    // false: empty
//                       std::size_t try_pop_bulk(std::uint64_t*, std::size_t); };   // batch queues
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <benchmark/benchmark.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/cache_line.h"
#include "sn/sync/block_on.h"
#include "sn/sync/parking_lot.h"
#include "sn/topology/affinity.h"

namespace snbench {

using u64 = std::uint64_t;

/// Slots in every queue under test.
inline constexpr std::size_t kCapacity = 1024;
/// Values per send_batch / recv_batch call in the `spsc_batch` scenario.
inline constexpr std::size_t kBatch = 64;
/// Messages moved per benchmark iteration in the throughput scenarios (all producers
/// together); large enough that releasing and collecting the team is noise.
inline constexpr u64 kMessages = u64{1} << 21;
/// Round trips per benchmark iteration in the latency scenarios.
inline constexpr u64 kRoundTrips = u64{1} << 16;
/// A thread that makes no progress for this long gives up: a lost message fails the
/// case instead of hanging the run.
inline constexpr std::chrono::seconds kStallLimit{10};

// ------------------------------------------------------------------ placement

/// CPUs to pin to, in the order threads take them: one CPU per physical core first,
/// then the remaining allowed CPUs (SMT siblings), so that threads land on distinct
/// cores for as long as there are cores.
inline const std::vector<int>& placement_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> order = sn::physical_core_cpus();
    for (int cpu : sn::allowed_cpus()) {
      if (std::find(order.begin(), order.end(), cpu) == order.end()) order.push_back(cpu);
    }
    if (order.empty()) order.push_back(0);
    return order;
  }();
  return cpus;
}

/// How many threads a case may use: the number of CPUs this process may run on.
inline int usable_cpus() { return static_cast<int>(sn::allowed_cpus().size()); }

/// The CPU of thread `i` (producers first, then consumers).
inline int cpu_for(int i) {
  const std::vector<int>& cpus = placement_cpus();
  return cpus[static_cast<std::size_t>(i) % cpus.size()];
}

// ------------------------------------------------------------------ clock

/// A cheap, monotonic tick counter: RDTSCP on x86 (invariant TSC; waits for earlier
/// instructions, so the reading is not hoisted above the load that ended the wait),
/// steady_clock elsewhere. Converted to nanoseconds with a rate calibrated once.
inline u64 ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  unsigned aux;
  return __rdtscp(&aux);
#else
  return static_cast<u64>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

inline constexpr const char* kClockName =
#if defined(__x86_64__) || defined(__i386__)
    "rdtscp, calibrated against steady_clock";
#else
    "steady_clock";
#endif

/// Nanoseconds per tick, measured once over ~200 ms against steady_clock.
inline double ns_per_tick() {
  static const double rate = [] {
#if defined(__x86_64__) || defined(__i386__)
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const u64 c0 = ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto t1 = clock::now();
    const u64 c1 = ticks();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(c1 - c0);
#else
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::duration(1)).count();
#endif
  }();
  return rate;
}

// ------------------------------------------------------------------ spinning

/// What a thread does after a failed try_push / try_pop: one CPU pause. Every 2^16
/// consecutive failures it also checks the shared abort flag and the stall watchdog
/// (off the common path). Every loop, for every queue, waits through this.
class Spinner {
 public:
  explicit Spinner(std::atomic<bool>& abort) noexcept : abort_(abort) {}

  /// After a success: the next failure starts a new streak.
  void reset() noexcept { spins_ = 0; }

  /// After a failure. False: give up (stalled, or another thread gave up).
  [[nodiscard]] bool spin() noexcept {
    sn::sync::cpu_relax();
    if ((++spins_ & kCheckMask) != 0) [[likely]]
      return true;
    return check();
  }

 private:
  static constexpr u64 kCheckMask = (u64{1} << 16) - 1;

  [[gnu::noinline]] bool check() noexcept {
    if (abort_.load(std::memory_order_relaxed)) return false;
    const auto now = std::chrono::steady_clock::now();
    if (spins_ == kCheckMask + 1) {
      streak_start_ = now;
    } else if (now - streak_start_ > kStallLimit) {
      abort_.store(true, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  std::atomic<bool>& abort_;
  u64 spins_ = 0;
  std::chrono::steady_clock::time_point streak_start_{};
};

// ------------------------------------------------------------------ the team

/// Persistent pinned threads, released together once per benchmark iteration.
///
/// Threads are created, pinned and build their queue handles before timing starts.
/// run_round() (the benchmark's main thread, inside the timed loop) wakes them with a
/// futex, they meet at a spinning start gate so that all begin at the same moment, do
/// one round of work, and the last one to finish wakes the main thread. The main
/// thread sleeps meanwhile, so it takes no CPU from the pinned threads.
class Team {
 public:
  /// The `cpu` of a member that the scheduler places (and moves) as it likes.
  static constexpr int kUnpinned = -1;

  class Member {
   public:
    /// Called once on the member's thread after its setup (queue handles built).
    void ready() noexcept {
      // Not compared with size() here: the main thread may still be spawning.
      team_.ready_.fetch_add(1, std::memory_order_acq_rel);
      team_.ready_.notify_all();
    }
    /// Waits for the next round and passes the start gate. False: the team is stopping.
    bool next() noexcept {
      std::uint32_t g;
      while ((g = team_.generation_.load(std::memory_order_acquire)) == seen_) team_.generation_.wait(seen_);
      seen_ = g;
      if (team_.stop_.load(std::memory_order_acquire)) return false;
      if (team_.arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == team_.size()) {
        team_.go_.store(g, std::memory_order_release);
      } else {
        while (team_.go_.load(std::memory_order_acquire) != g) sn::sync::cpu_relax();
      }
      return true;
    }
    /// The number of the current round (0, 1, ...).
    u64 round() const noexcept { return team_.round_; }
    /// Called when this member's share of the round is done (or given up).
    void done() noexcept {
      if (team_.finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == team_.size()) team_.finished_.notify_one();
    }

   private:
    friend class Team;
    explicit Member(Team& team) noexcept : team_(team) {}
    Team& team_;
    std::uint32_t seen_ = 0;
  };

  Team() = default;
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;
  ~Team() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  /// Starts a thread pinned to `cpu` (kUnpinned: left to the scheduler) that runs
  /// `body(Member&)`. All spawns come before wait_ready(). The body builds its handles,
  /// calls ready(), then loops on next()/done().
  template <class Body>
  void spawn(int cpu, Body body) {
    ++size_;
    threads_.emplace_back([this, cpu, body = std::move(body)]() mutable {
      const absl::Status pinned = cpu == kUnpinned ? absl::OkStatus() : sn::pin_current_thread(cpu);
      if (!pinned.ok()) {
        std::lock_guard lock(mu_);
        error_ = std::string(pinned.message());
      }
      Member member(*this);
      body(member);
    });
  }

  /// Blocks until every member called ready(). Returns an error text, empty when fine.
  std::string wait_ready() {
    int r;
    while ((r = ready_.load(std::memory_order_acquire)) != size_) ready_.wait(r);
    std::lock_guard lock(mu_);
    return error_;
  }

  /// Runs one round with every member; returns when all called done().
  void run_round(u64 round) noexcept {
    round_ = round;
    arrived_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes the stores above
    generation_.notify_all();
    int f;
    while ((f = finished_.load(std::memory_order_acquire)) != size_) finished_.wait(f);
  }

  int size() const noexcept { return size_; }

 private:
  int size_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::string error_;
  u64 round_ = 0;
  alignas(sn::kFalseSharingRange) std::atomic<std::uint32_t> generation_{0};
  std::atomic<bool> stop_{false};
  alignas(sn::kFalseSharingRange) std::atomic<int> ready_{0};
  alignas(sn::kFalseSharingRange) std::atomic<int> arrived_{0};
  alignas(sn::kFalseSharingRange) std::atomic<std::uint32_t> go_{0};
  alignas(sn::kFalseSharingRange) std::atomic<int> finished_{0};
};

/// Waits until every team member is pinned and ready; on failure marks the case as
/// skipped and returns false.
inline bool team_ready(Team& team, benchmark::State& state) {
  if (const std::string err = team.wait_ready(); !err.empty()) {
    state.SkipWithError(("pinning failed: " + err).c_str());
    return false;
  }
  return true;
}

/// "1,2,3".
inline std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

/// Context every benchmark binary records: where threads may run, the latency clock,
/// and whether sn was built for measuring.
inline void add_machine_context() {
  benchmark::AddCustomContext("allowed_cpus", join(sn::allowed_cpus()));
  benchmark::AddCustomContext("placement_cpus", join(placement_cpus()));
  benchmark::AddCustomContext("latency_clock", kClockName);
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.4f", 1.0 / ns_per_tick());
  benchmark::AddCustomContext("latency_clock_ghz", rate);
#ifdef NDEBUG
  benchmark::AddCustomContext("sn_build", "NDEBUG (release: no debug-only role checks)");
#else
  benchmark::AddCustomContext("sn_build",
                              "debug: NDEBUG not defined, channel role checks on; numbers not representative");
#endif
}

/// Every benchmark binary's main: Google Benchmark's flags, then the binary's own context
/// lines and registrations, then the run.
inline int run_benchmarks(int argc, char** argv, void (*add_context)(), void (*register_all)()) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  add_context();
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

/// "cpus=0,1": where a case's threads run, producers first.
inline std::string cpu_label(int threads) {
  std::string s = "cpus=";
  for (int i = 0; i < threads; ++i) {
    if (i > 0) s += ',';
    s += std::to_string(cpu_for(i));
  }
  return s;
}

// ------------------------------------------------------------------ throughput

/// CPU time (user + system) this process has used so far, in seconds.
inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

/// The q-quantile (0 <= q < 1) of `v`, which is reordered; `v` must not be empty.
inline double percentile(std::vector<double>& v, double q) {
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

/// The main thread sleeps here until `parties` workers arrived in the current round.
/// A futex with a deadline rather than std::atomic::wait, which has none: a lost message
/// then fails the case after kStallLimit instead of hanging it. One wake per round.
class RoundLatch {
 public:
  /// Before the round's first message; workers arrive only after receiving one.
  void reset() noexcept { count_.store(0, std::memory_order_relaxed); }

  /// Worker side. The release orders the worker's tally stores before its arrival.
  void arrive(std::uint32_t parties) noexcept {
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties) sn::sync::futex_wake(&count_, 0);
  }

  /// False when the round did not complete within kStallLimit.
  [[nodiscard]] bool wait(std::uint32_t parties) noexcept {
    const absl::Time deadline = absl::Now() + absl::FromChrono(kStallLimit);
    std::uint32_t seen;
    while ((seen = count_.load(std::memory_order_acquire)) < parties) {
      if (absl::Now() >= deadline) return false;
      sn::sync::futex_wait(&count_, seen, deadline);
    }
    return true;
  }

 private:
  alignas(sn::kFalseSharingRange) std::atomic<std::uint32_t> count_{0};
};

/// One consumer's result for the round, on its own false-sharing range.
struct alignas(sn::kFalseSharingRange) ConsumerTally {
  u64 count = 0;
  u64 sum = 0;
};

/// Shared state of a throughput case, each written field on its own range.
struct alignas(sn::kFalseSharingRange) ThroughputShared {
  alignas(sn::kFalseSharingRange) std::atomic<bool> abort{false};
  // Multi-consumer cases only: values taken so far this round, added by each consumer
  // when it finds the queue empty (never per message), so consumers know when to stop.
  alignas(sn::kFalseSharingRange) std::atomic<u64> consumed{0};
};

/// Producer `p` sends round * total + p * per + 1 ... + per: distinct across producers
/// and rounds, so the consumers' sum detects a lost or duplicated message.
template <class Producer>
bool produce(Producer& tx, Spinner& spin, u64 first, u64 count) {
  for (u64 v = first; v < first + count; ++v) {
    while (!tx.try_push(v)) {
      if (!spin.spin()) return false;
    }
    spin.reset();
  }
  return true;
}

template <class Producer>
bool produce_batch(Producer& tx, Spinner& spin, u64 first, u64 count) {
  std::array<u64, kBatch> buf;
  const u64 end = first + count;
  for (u64 next = first; next < end;) {
    const std::size_t k = static_cast<std::size_t>(std::min<u64>(kBatch, end - next));
    for (std::size_t j = 0; j < k; ++j) buf[j] = next + j;
    for (std::size_t off = 0; off < k;) {
      const std::size_t sent = tx.try_push_bulk(buf.data() + off, k - off);  // partial fill allowed
      if (sent == 0) {
        if (!spin.spin()) return false;
      } else {
        off += sent;
        spin.reset();
      }
    }
    next += k;
  }
  return true;
}

/// How producers and the single consumer move values: one per call, or kBatch per call.
enum class Mode { single, batch };

/// The only consumer: it knows it has to take `total` values, one at a time (Mode::single)
/// or kBatch at a time (Mode::batch).
template <Mode M, class Consumer>
bool consume_all(Consumer& rx, Spinner& spin, u64 total, ConsumerTally& out) {
  std::array<u64, M == Mode::batch ? kBatch : 1> buf{};
  u64 sum = 0, count = 0;
  while (count < total) {
    std::size_t n;
    if constexpr (M == Mode::batch) {
      n = rx.try_pop_bulk(buf.data(), kBatch);
    } else {
      n = rx.try_pop(buf[0]) ? 1 : 0;
    }
    if (n != 0) {
      for (std::size_t j = 0; j < n; ++j) sum += buf[j];
      count += n;
      spin.reset();
    } else if (!spin.spin()) {
      break;
    }
  }
  out.count = count;
  out.sum = sum;
  return count == total;
}

/// One of several consumers: takes until all consumers together took `total`.
template <class Consumer>
bool consume_shared(Consumer& rx, Spinner& spin, u64 total, std::atomic<u64>& consumed, ConsumerTally& out) {
  u64 sum = 0, count = 0, unreported = 0;
  for (;;) {
    u64 v = 0;
    if (rx.try_pop(v)) {
      sum += v;
      ++count;
      ++unreported;
      spin.reset();
      continue;
    }
    if (unreported != 0) {
      consumed.fetch_add(unreported, std::memory_order_relaxed);
      unreported = 0;
    }
    if (consumed.load(std::memory_order_relaxed) >= total) break;
    if (!spin.spin()) break;
  }
  out.count = count;
  out.sum = sum;
  return true;
}

/// Builds a queue of kCapacity slots; queues that must know their producer count
/// (moodycamel's block pool) are told it.
template <class Q>
std::unique_ptr<Q> make_queue(int producers) {
  if constexpr (std::is_constructible_v<Q, std::size_t, std::size_t>) {
    return std::make_unique<Q>(kCapacity, static_cast<std::size_t>(producers));
  } else {
    return std::make_unique<Q>(kCapacity);
  }
}

/// P producers and C consumers move kMessages values per iteration through one Q.
template <class Q, Mode M>
void throughput(benchmark::State& state, int producers, int consumers) {
  const u64 per_producer = kMessages / static_cast<u64>(producers);
  const u64 total = per_producer * static_cast<u64>(producers);
  auto queue = make_queue<Q>(producers);
  ThroughputShared shared;
  std::vector<ConsumerTally> tallies(static_cast<std::size_t>(consumers));

  Team team;
  for (int p = 0; p < producers; ++p) {
    team.spawn(cpu_for(p), [&, p](Team::Member& m) {
      typename Q::Producer tx(*queue);
      Spinner spin(shared.abort);
      m.ready();
      while (m.next()) {
        const u64 first = m.round() * total + static_cast<u64>(p) * per_producer + 1;
        if constexpr (M == Mode::batch) {
          (void)produce_batch(tx, spin, first, per_producer);
        } else {
          (void)produce(tx, spin, first, per_producer);
        }
        m.done();
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    team.spawn(cpu_for(producers + c), [&, c](Team::Member& m) {
      typename Q::Consumer rx(*queue);
      Spinner spin(shared.abort);
      ConsumerTally& tally = tallies[static_cast<std::size_t>(c)];
      m.ready();
      while (m.next()) {
        if (consumers == 1) {
          (void)consume_all<M>(rx, spin, total, tally);
        } else {
          (void)consume_shared(rx, spin, total, shared.consumed, tally);
        }
        m.done();
      }
    });
  }
  if (!team_ready(team, state)) return;

  u64 round = 0;
  for (auto _ : state) {
    shared.consumed.store(0, std::memory_order_relaxed);
    team.run_round(round);
    u64 count = 0, sum = 0;
    for (const ConsumerTally& t : tallies) {
      count += t.count;
      sum += t.sum;
    }
    const u64 expected_sum = round * total * total + total * (total + 1) / 2;
    if (shared.abort.load(std::memory_order_relaxed) || count != total || sum != expected_sum) {
      const std::string msg = "checksum mismatch in round " + std::to_string(round) + ": received " +
                              std::to_string(count) + " of " + std::to_string(total) + " values, sum " +
                              std::to_string(sum) + " (expected " + std::to_string(expected_sum) + ")" +
                              (shared.abort.load() ? ", stalled" : "");
      state.SkipWithError(msg.c_str());
      break;
    }
    ++round;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(total));
  state.SetLabel(cpu_label(producers + consumers));
}

// ------------------------------------------------------------------ latency

/// Percentiles over every round trip of every iteration, as counters.
inline void report_latency(benchmark::State& state, std::vector<u64>& samples) {
  if (samples.empty()) return;
  const double k = ns_per_tick();
  auto at = [&](double q) {
    const std::size_t i =
        std::min(samples.size() - 1, static_cast<std::size_t>(q * static_cast<double>(samples.size())));
    std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(i), samples.end());
    return static_cast<double>(samples[i]) * k;
  };
  state.counters["p50_ns"] = at(0.50);
  state.counters["p99_ns"] = at(0.99);
  state.counters["p999_ns"] = at(0.999);
}

/// Runs `ping(Member&, samples)` and `pong(Member&)` on two pinned threads; each
/// iteration is kRoundTrips round trips, each timed by the pinging thread.
/// `ping` returns false on a wrong echo or a stall.
template <class Ping, class Pong>
void ping_pong(benchmark::State& state, std::atomic<bool>& abort, Ping ping, Pong pong) {
  std::vector<u64> round_samples(kRoundTrips);
  std::vector<u64> samples;
  std::atomic<bool> bad_echo{false};

  Team team;
  team.spawn(cpu_for(0), [&](Team::Member& m) { ping(m, round_samples, bad_echo); });
  team.spawn(cpu_for(1), [&](Team::Member& m) { pong(m); });
  if (!team_ready(team, state)) return;
  u64 round = 0;
  for (auto _ : state) {
    team.run_round(round);
    if (bad_echo.load() || abort.load()) {
      state.SkipWithError(("checksum mismatch: wrong echo or stall in round " + std::to_string(round)).c_str());
      break;
    }
    samples.insert(samples.end(), round_samples.begin(), round_samples.end());
    ++round;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kRoundTrips));
  state.SetLabel(cpu_label(2));
  if (!state.error_occurred()) report_latency(state, samples);
}

/// Round trips through two Q's: A pushes v into `there`, B pops it and pushes it back
/// into `back`, A pops it and checks it. Both sides wait by spinning on try_pop.
template <class Q>
void round_trip(benchmark::State& state) {
  auto there = make_queue<Q>(1);
  auto back = make_queue<Q>(1);
  std::atomic<bool> abort{false};
  auto ping = [&](Team::Member& m, std::vector<u64>& out, std::atomic<bool>& bad) {
    typename Q::Producer tx(*there);
    typename Q::Consumer rx(*back);
    Spinner spin(abort);
    m.ready();
    while (m.next()) {
      const u64 first = m.round() * kRoundTrips + 1;
      u64 prev = ticks();
      for (u64 i = 0; i < kRoundTrips; ++i) {
        const u64 v = first + i;
        u64 echo = 0;
        bool ok = true;
        while (!tx.try_push(v)) {
          if (!(ok = spin.spin())) break;
        }
        spin.reset();
        while (ok && !rx.try_pop(echo)) {
          if (!(ok = spin.spin())) break;
        }
        spin.reset();
        const u64 now = ticks();
        out[i] = now - prev;
        prev = now;
        if (!ok || echo != v) {
          bad.store(true);
          break;
        }
      }
      m.done();
    }
  };
  auto pong = [&](Team::Member& m) {
    typename Q::Consumer rx(*there);
    typename Q::Producer tx(*back);
    Spinner spin(abort);
    m.ready();
    while (m.next()) {
      for (u64 i = 0; i < kRoundTrips; ++i) {
        u64 v = 0;
        bool ok = true;
        while (!rx.try_pop(v)) {
          if (!(ok = spin.spin())) break;
        }
        spin.reset();
        while (ok && !tx.try_push(v)) {
          if (!(ok = spin.spin())) break;
        }
        spin.reset();
        if (!ok) break;
      }
      m.done();
    }
  };
  ping_pong(state, abort, ping, pong);
}

/// The hardware floor: one cache-line-aligned atomic bounced between the two threads.
/// A stores v, B waits for v and stores v + 1, A waits for v + 1. Same spin, same timing.
inline void round_trip_cacheline(benchmark::State& state) {
  struct alignas(sn::kFalseSharingRange) Line {
    std::atomic<u64> value{0};
  };
  auto line = std::make_unique<Line>();
  std::atomic<bool> abort{false};
  auto ping = [&](Team::Member& m, std::vector<u64>& out, std::atomic<bool>& bad) {
    Spinner spin(abort);
    m.ready();
    while (m.next()) {
      const u64 first = m.round() * 2 * kRoundTrips + 1;
      u64 prev = ticks();
      for (u64 i = 0; i < kRoundTrips; ++i) {
        const u64 v = first + 2 * i;
        bool ok = true;
        line->value.store(v, std::memory_order_release);
        while (line->value.load(std::memory_order_acquire) != v + 1) {
          if (!(ok = spin.spin())) break;
        }
        spin.reset();
        const u64 now = ticks();
        out[i] = now - prev;
        prev = now;
        if (!ok) {
          bad.store(true);
          break;
        }
      }
      m.done();
    }
  };
  auto pong = [&](Team::Member& m) {
    Spinner spin(abort);
    m.ready();
    while (m.next()) {
      const u64 first = m.round() * 2 * kRoundTrips + 1;
      for (u64 i = 0; i < kRoundTrips; ++i) {
        const u64 v = first + 2 * i;
        bool ok = true;
        while (line->value.load(std::memory_order_acquire) != v) {
          if (!(ok = spin.spin())) break;
        }
        spin.reset();
        if (!ok) break;
        line->value.store(v + 1, std::memory_order_release);
      }
      m.done();
    }
  };
  ping_pong(state, abort, ping, pong);
}

}  // namespace snbench
