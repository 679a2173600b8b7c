// Timers: send_after, send_every and cancel, from a handler and from outside the pool.
// A timer never fires early and reaches the owner of its key when it fires; cancel()
// succeeds once, from any thread; shutdown() and stop() cancel what is pending and count
// it; a resize hands a removed worker's timers to another worker; an idle worker parks
// until its next timer instead of spinning; a pending timer costs a few dozen bytes.
//
// Time: this runs on small, noisy machines, so no test asserts that a timer is on time,
// only that it is never early and that it fires eventually (bounded waits, as everywhere
// in these tests: worker_test_support.h). Counts are scaled down under ThreadSanitizer.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

/// The timers' clock (steady), in nanoseconds.
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The owner of `key` in a pool of `n` workers routed by the default HashPartitioner.
std::size_t owner_of(std::uint64_t key, std::size_t n) { return HashPartitioner{}(key, n); }

/// A key that the HashPartitioner gives to worker `w` of `n`, at or after `from`.
std::uint64_t key_owned_by(std::size_t w, std::size_t n, std::uint64_t from = 1) {
  for (std::uint64_t k = from;; ++k) {
    if (owner_of(k, n) == w) return k;
  }
}

/// The WorkerStats of slot `index` in a snapshot (a default one when absent).
WorkerStats worker_stats(const PoolStats& s, std::size_t index) {
  for (const WorkerStats& w : s.workers) {
    if (w.index == index) return w;
  }
  ADD_FAILURE() << "no worker " << index << " in the snapshot";
  return WorkerStats{};
}

/// Checks what every pool promises once shutdown() or stop() has returned, timers included.
void expect_settled(const PoolStats& s) {
  expect_balanced(s);
  EXPECT_EQ(s.timers_pending, 0u) << "scheduled " << s.timers_scheduled << ", fired " << s.timers_fired
                                  << ", cancelled " << s.timers_cancelled;
}

/// The process's CPU time (every thread), for the tests that check that idle workers sleep.
absl::Duration process_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

/// The process's resident set, in bytes (/proc/self/statm), or 0 when unreadable.
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// ---------------------------------------------------------------- the message

/// What the timer tests send: an order to a worker (arm a timer, cancel one, ...) or the
/// message a timer delivers (fire), which carries what the handler checks it against.
struct Note {
  enum Kind : std::uint8_t { arm, arm_periodic, fire, cancel_it, block, touch };
  Kind kind = fire;
  std::uint64_t target = 0;   // arm: the key the timer aims at
  std::int64_t delay_ns = 0;  // arm: the delay or period; fire: the one it was made with
  std::int64_t armed_ns = 0;  // fire: the steady time just before send_after/send_every
  std::uint64_t holder = 0;   // fire: the worker expected to hold (and so send) it
  std::uint64_t value = 0;    // a tag, an id to cancel, a sequence number
};

Note fire_note(std::uint64_t target, std::int64_t delay_ns, std::uint64_t holder, std::uint64_t tag) {
  return Note{Note::fire, target, delay_ns, now_ns(), holder, tag};
}

// ---------------------------------------------------------------- an aiming worker

/// What Aimer workers saw: every fire handled, with the checks a fire must pass.
struct AimLog {
  struct Seen {
    std::size_t worker;  // who handled it
    std::uint64_t key;
    Source source;
    std::uint64_t tag;
    std::int64_t waited_ns;  // from just before the timer was made to its handling
  };
  std::atomic<std::uint64_t> fired{0};
  std::atomic<std::uint64_t> early{0};                   // handled sooner than its delay (a periodic's first)
  std::atomic<std::uint64_t> not_owned{0};               // handled by a worker that does not own its key
  std::atomic<std::uint64_t> wrong_source{0};            // Envelope::source is not the expected holder
  std::atomic<std::uint64_t> refused{0};                 // send_after returned an invalid id
  std::array<std::atomic<std::uint64_t>, 8> armed_by{};  // timers each worker made
  std::mutex mu;
  std::vector<Seen> seen;                          // guarded by mu
  std::unordered_map<std::uint64_t, TimerId> ids;  // tag -> id of the timer made for it; mu

  TimerId id_of(std::uint64_t tag) {
    std::lock_guard lock(mu);
    auto it = ids.find(tag);
    return it == ids.end() ? TimerId{} : it->second;
  }
  std::vector<Seen> seen_with(std::uint64_t tag) {
    std::lock_guard lock(mu);
    std::vector<Seen> out;
    for (const Seen& s : seen) {
      if (s.tag == tag) out.push_back(s);
    }
    return out;
  }
};

/// arm / arm_periodic: makes a timer aimed at `target`, held by this worker. fire: checks
/// it against what its note promised (not early, the owner of its key, sent by its holder).
struct Aimer : Worker<Empty, Note> {
  explicit Aimer(AimLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<Note> e) {
    const Note& n = e.payload;
    const std::size_t me = context().index();
    if (n.kind == Note::arm || n.kind == Note::arm_periodic) {
      const Note f = fire_note(n.target, n.delay_ns, me, n.value);
      TimerId id;
      if (n.kind == Note::arm) {
        id = context().send_after(absl::Nanoseconds(n.delay_ns), n.target, f);
      } else {
        absl::StatusOr<TimerId> made = context().send_every(absl::Nanoseconds(n.delay_ns), n.target, f);
        if (made.ok()) id = *made;
      }
      if (!id.valid()) {
        log_->refused.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      log_->armed_by[me].fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(log_->mu);
      log_->ids[n.value] = id;
      return;
    }
    if (n.kind == Note::cancel_it) {  // value: the id; reports both cancels under tag target
      const bool first = context().cancel(TimerId{n.value});
      const bool second = context().cancel(TimerId{n.value});
      std::lock_guard lock(log_->mu);
      log_->seen.push_back({me, e.key, e.source, n.target, first ? 1 : 0});
      log_->seen.push_back({me, e.key, e.source, n.target + 1, second ? 1 : 0});
      return;
    }
    const std::int64_t waited = now_ns() - n.armed_ns;
    if (waited < n.delay_ns) log_->early.fetch_add(1, std::memory_order_relaxed);
    if (!context().owns(e.key) || e.key != n.target) log_->not_owned.fetch_add(1, std::memory_order_relaxed);
    if (e.source != Source::worker(n.holder)) log_->wrong_source.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(log_->mu);
      log_->seen.push_back({me, e.key, e.source, n.value, waited});
    }
    log_->fired.fetch_add(1, std::memory_order_release);
  }
  AimLog* log_;
};

Note arm_note(std::uint64_t target, absl::Duration delay, std::uint64_t tag) {
  return Note{Note::arm, target, absl::ToInt64Nanoseconds(delay), 0, 0, tag};
}
Note arm_periodic_note(std::uint64_t target, absl::Duration period, std::uint64_t tag) {
  return Note{Note::arm_periodic, target, absl::ToInt64Nanoseconds(period), 0, 0, tag};
}

// ---------------------------------------------------------------- send_after

TEST(PoolTimers, ASendAfterFromAHandlerReachesTheKeysOwnerNoSoonerThanItsDelay) {
  constexpr std::size_t kWorkers = 3;
  constexpr std::uint64_t kTimers = 300;
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  std::uint64_t crossing = 0;  // timers whose holder is not the owner of their key
  for (std::uint64_t i = 0; i < kTimers; ++i) {
    const std::uint64_t arm_key = i, target = i * 7919 + 13;
    crossing += owner_of(arm_key, kWorkers) != owner_of(target, kWorkers) ? 1 : 0;
    const absl::Duration delay = absl::Milliseconds(static_cast<std::int64_t>(i % 10) * 3 + 1);  // 1..28 ms
    ASSERT_EQ(pool->send(arm_key, arm_note(target, delay, i)), SendResult::ok);
  }
  ASSERT_GT(crossing, kTimers / 2) << "most timers must be held by one worker and aimed at another's key";
  EXPECT_TRUE(wait_for_progress([&] { return log.fired.load(); }, kTimers)) << "fired " << log.fired.load();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  EXPECT_EQ(log.fired.load(), kTimers);
  EXPECT_EQ(log.refused.load(), 0u);
  EXPECT_EQ(log.early.load(), 0u) << "a timer fired before its delay had passed";
  EXPECT_EQ(log.not_owned.load(), 0u) << "a timer's message reached a worker that does not own its key";
  EXPECT_EQ(log.wrong_source.load(), 0u) << "a fired timer's Envelope::source must be the worker that held it";
  std::int64_t latest = 0;
  for (const AimLog::Seen& s : log.seen) latest = std::max(latest, s.waited_ns);
  std::cout << "[ timers   ] longest schedule-to-handle time: " << absl::FormatDuration(absl::Nanoseconds(latest))
            << " (delays 1..28 ms)\n";

  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, kTimers);
  EXPECT_EQ(s.timers_fired, kTimers);
  EXPECT_EQ(s.timers_cancelled, 0u);
  for (std::size_t w = 0; w < kWorkers; ++w) {
    const WorkerStats ws = worker_stats(s, w);
    EXPECT_EQ(ws.timers_scheduled, log.armed_by[w].load()) << "worker " << w;
    EXPECT_EQ(ws.timers_fired, log.armed_by[w].load()) << "worker " << w << ": the holder counts the firing";
  }
  EXPECT_EQ(s.processed, 2 * kTimers) << "each arm and each firing is one message";
  expect_settled(s);
}

TEST(PoolTimers, ASendAfterFromOutsideThePoolIsHeldByTheKeysOwnerAndNeverFiresEarly) {
  constexpr std::size_t kWorkers = 3;
  constexpr std::uint64_t kTimers = 200;
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < kTimers; ++i) {
    const std::uint64_t target = i * 31 + 5;
    const absl::Duration delay = absl::Milliseconds(static_cast<std::int64_t>(i % 7) * 4);  // 0..24 ms
    const Note f = fire_note(target, absl::ToInt64Nanoseconds(delay), owner_of(target, kWorkers), i);
    ASSERT_TRUE(pool->send_after(delay, target, f).valid()) << "timer " << i;
  }
  EXPECT_TRUE(wait_for_progress([&] { return log.fired.load(); }, kTimers)) << "fired " << log.fired.load();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.fired.load(), kTimers);
  EXPECT_EQ(log.early.load(), 0u) << "a timer fired before its delay had passed";
  EXPECT_EQ(log.not_owned.load(), 0u);
  EXPECT_EQ(log.wrong_source.load(), 0u) << "a timer made outside the pool is held (and sent) by its key's owner";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, kTimers);
  EXPECT_EQ(s.timers_fired, kTimers);
  for (std::size_t w = 0; w < kWorkers; ++w) {
    const WorkerStats ws = worker_stats(s, w);
    EXPECT_EQ(ws.timers_scheduled, ws.timers_fired) << "worker " << w << " holds what it fires";
  }
  expect_settled(s);
}

// ---------------------------------------------------------------- zero and negative delays

/// Counts its iterations (tick() runs after every batch) and checks that a timer made
/// with no delay is handled on a later iteration, never from inside send_after.
struct IterationLog {
  std::atomic<std::uint64_t> fired{0};
  std::atomic<std::uint64_t> same_iteration{0};
  std::atomic<std::uint64_t> reentrant{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> external_fired{0};
  std::mutex mu;
  std::vector<absl::StatusCode> every_codes;  // send_every with a period <= 0, from a handler
};

struct IterationState {
  std::uint64_t iteration = 0;
  bool in_handler = false;
};

struct Iterating : Worker<IterationState, Note> {
  explicit Iterating(IterationLog* log) : log_(log) {}
  void handle_message(IterationState& s, Envelope<Note> e) {
    const Note& n = e.payload;
    if (s.in_handler) log_->reentrant.fetch_add(1, std::memory_order_relaxed);
    s.in_handler = true;
    if (n.kind == Note::arm) {
      Note f{Note::fire, e.key, 0, 0, 0, s.iteration};
      for (absl::Duration d :
           {absl::ZeroDuration(), absl::Nanoseconds(-1), absl::Seconds(-5), -absl::InfiniteDuration()}) {
        if (!context().send_after(d, e.key, f).valid()) log_->refused.fetch_add(1, std::memory_order_relaxed);
      }
      for (absl::Duration d : {absl::ZeroDuration(), absl::Milliseconds(-1)}) {
        absl::StatusOr<TimerId> every = context().send_every(d, e.key, f);
        std::lock_guard lock(log_->mu);
        log_->every_codes.push_back(every.status().code());
      }
    } else if (n.value == ~std::uint64_t{0}) {  // made outside the pool
      log_->external_fired.fetch_add(1, std::memory_order_release);
    } else {
      if (s.iteration <= n.value) log_->same_iteration.fetch_add(1, std::memory_order_relaxed);
      log_->fired.fetch_add(1, std::memory_order_release);
    }
    s.in_handler = false;
  }
  void tick(IterationState& s) { ++s.iteration; }
  IterationLog* log_;
};

TEST(PoolTimers, AZeroOrNegativeDelayFiresOnALaterIterationNeverInsideSendAfter) {
  constexpr std::uint64_t kArms = 50;
  IterationLog log;
  auto pool = create_pool<Iterating>(PoolConfig().with_num_workers(2), each_worker_gets<Iterating>(&log));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < kArms; ++i) ASSERT_EQ(pool->send(i, Note{Note::arm}), SendResult::ok);
  const Note outside{Note::fire, 0, 0, 0, 0, ~std::uint64_t{0}};
  for (absl::Duration d : {absl::ZeroDuration(), absl::Seconds(-1), -absl::InfiniteDuration()}) {
    ASSERT_TRUE(pool->send_after(d, 7, outside).valid());
  }
  EXPECT_TRUE(wait_for_progress([&] { return log.fired.load(); }, 4 * kArms)) << "fired " << log.fired.load();
  EXPECT_TRUE(wait_for_progress([&] { return log.external_fired.load(); }, 3));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.fired.load(), 4 * kArms);
  EXPECT_EQ(log.external_fired.load(), 3u);
  EXPECT_EQ(log.refused.load(), 0u);
  EXPECT_EQ(log.same_iteration.load(), 0u) << "a timer with no delay was handled in the iteration that made it";
  EXPECT_EQ(log.reentrant.load(), 0u) << "a handler ran inside another (send_after delivered synchronously)";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 4 * kArms + 3) << "a refused send_every makes no timer";
  EXPECT_EQ(s.timers_fired, 4 * kArms + 3);
  expect_settled(s);
  std::lock_guard lock(log.mu);
  ASSERT_EQ(log.every_codes.size(), 2 * kArms);
  for (absl::StatusCode c : log.every_codes) EXPECT_EQ(c, absl::StatusCode::kInvalidArgument);
}

TEST(PoolTimers, SendEveryRefusesAPeriodOfZeroOrLess) {
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(2), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  for (absl::Duration d : {absl::ZeroDuration(), absl::Nanoseconds(-1), absl::Seconds(-3), -absl::InfiniteDuration()}) {
    absl::StatusOr<TimerId> id = pool->send_every(d, 1, Note{});
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << absl::FormatDuration(d);
  }
  // From a handler (the Aimer counts a refusal).
  ASSERT_EQ(pool->send(3, arm_periodic_note(3, absl::ZeroDuration(), 1)), SendResult::ok);
  ASSERT_EQ(pool->send(4, arm_periodic_note(4, absl::Milliseconds(-2), 2)), SendResult::ok);
  EXPECT_TRUE(wait_until([&] { return log.refused.load() == 2; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 0u);
  EXPECT_EQ(s.timers_fired, 0u);
  expect_settled(s);
}

// ---------------------------------------------------------------- periodic timers

/// A periodic timer that its holder cancels from a handler after kFirings firings. The
/// timer aims at a key of the holder itself, so its holder sees every firing.
struct TickerLog {
  static constexpr std::uint64_t kFirings = 5;
  std::function<PoolStats()> stats;  // set before the first message
  std::atomic<std::uint64_t> firings{0};
  std::atomic<std::uint64_t> early{0};
  std::atomic<std::uint64_t> wrong_worker{0};
  std::atomic<bool> cancelled{false};             // the holder cancelled it (first cancel returned true)
  std::atomic<bool> cancel_twice{false};          // the second cancel returned true
  std::atomic<std::uint64_t> fired_at_cancel{0};  // holder's WorkerStats::timers_fired then
  std::atomic<std::uint64_t> handled_at_cancel{0};
  std::atomic<std::size_t> holder{0};
};

struct TickerState {
  TimerId id;
  std::int64_t armed_ns = 0;
  std::int64_t period_ns = 0;
};

struct Ticker : Worker<TickerState, Note> {
  explicit Ticker(TickerLog* log) : log_(log) {}
  void handle_message(TickerState& s, Envelope<Note> e) {
    const Note& n = e.payload;
    if (n.kind == Note::arm_periodic) {
      log_->holder.store(context().index());
      s.period_ns = n.delay_ns;
      s.armed_ns = now_ns();
      absl::StatusOr<TimerId> id = context().send_every(absl::Nanoseconds(n.delay_ns), e.key, Note{Note::fire});
      ASSERT_TRUE(id.ok()) << id.status();
      s.id = *id;
      return;
    }
    if (context().index() != log_->holder.load()) log_->wrong_worker.fetch_add(1);
    const std::uint64_t k = log_->firings.fetch_add(1) + 1;
    // Firing k is due no sooner than k periods after the timer was made.
    if (now_ns() - s.armed_ns < static_cast<std::int64_t>(k) * s.period_ns) log_->early.fetch_add(1);
    if (k == TickerLog::kFirings) {
      const bool first = context().cancel(s.id);
      const bool second = context().cancel(s.id);
      log_->fired_at_cancel.store(worker_stats(log_->stats(), context().index()).timers_fired);
      log_->handled_at_cancel.store(k);
      log_->cancel_twice.store(second);
      log_->cancelled.store(first, std::memory_order_release);
    }
  }
  TickerLog* log_;
};

TEST(PoolTimers, APeriodicTimerFiresRepeatedlyNeverEarlyAndStopsForGoodWhenItsHolderCancelsIt) {
  const absl::Duration period = kUnderTsan ? absl::Milliseconds(20) : absl::Milliseconds(10);
  TickerLog log;
  auto pool = create_pool<Ticker>(PoolConfig().with_num_workers(2), each_worker_gets<Ticker>(&log));
  ASSERT_NE(pool, nullptr);
  log.stats = [p = pool.get()] { return p->stats(); };
  ASSERT_EQ(pool->send(11, arm_periodic_note(11, period, 0)), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.handled_at_cancel.load() != 0; })) << "firings " << log.firings.load();
  EXPECT_TRUE(log.cancelled.load()) << "cancel() by the holder of a pending periodic timer must succeed";
  EXPECT_FALSE(log.cancel_twice.load()) << "a second cancel() of the same timer must fail";
  EXPECT_EQ(pool->stats().timers_pending, 0u) << "a cancelled periodic timer is no longer pending";
  absl::SleepFor(period * 6);  // time for several more firings, were it still running
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  const PoolStats s = pool->stats();
  const std::size_t holder = log.holder.load();
  EXPECT_EQ(worker_stats(s, holder).timers_fired, log.fired_at_cancel.load())
      << "the holder fired the timer again after its own cancel() returned true";
  // Firings sent before the cancel and not yet handled then are still delivered.
  EXPECT_LE(log.firings.load(), TickerLog::kFirings + 1);
  EXPECT_EQ(s.timers_fired, log.firings.load()) << "every firing is handled";
  EXPECT_EQ(log.early.load(), 0u) << "firing k came sooner than k periods after the timer was made";
  EXPECT_EQ(log.wrong_worker.load(), 0u);
  EXPECT_EQ(s.timers_scheduled, 1u);
  EXPECT_EQ(s.timers_cancelled, 1u);
  EXPECT_EQ(worker_stats(s, holder).timers_cancelled, 1u);
  expect_settled(s);
}

TEST(PoolTimers, APeriodicTimerMadeOutsideThePoolStopsWhenCancelledFromOutside) {
  const absl::Duration period = kUnderTsan ? absl::Milliseconds(10) : absl::Milliseconds(5);
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(2), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kKey = 21;
  const std::int64_t made_ns = now_ns();
  absl::StatusOr<TimerId> id = pool->send_every(period, kKey, Note{Note::fire, kKey, 0, made_ns, owner_of(kKey, 2), 1});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(wait_for_progress([&] { return log.fired.load(); }, 4));
  ASSERT_TRUE(pool->cancel(*id));
  // A firing that had passed the pending check when cancel() ran may still complete.
  const std::uint64_t fired_then = pool->stats().timers_fired;
  EXPECT_FALSE(pool->cancel(*id));
  absl::SleepFor(period * 8);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_LE(s.timers_fired, fired_then + 1) << "the timer kept firing after cancel() returned true";
  EXPECT_EQ(log.fired.load(), s.timers_fired);
  EXPECT_EQ(log.not_owned.load(), 0u);
  EXPECT_EQ(log.wrong_source.load(), 0u);
  // Firing k is due no sooner than k periods after the timer was made.
  std::vector<AimLog::Seen> seen = log.seen_with(1);
  std::sort(seen.begin(), seen.end(),
            [](const AimLog::Seen& a, const AimLog::Seen& b) { return a.waited_ns < b.waited_ns; });
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_GE(seen[k].waited_ns, static_cast<std::int64_t>(k + 1) * absl::ToInt64Nanoseconds(period))
        << "firing " << k + 1;
  }
  EXPECT_EQ(s.timers_scheduled, 1u);
  EXPECT_EQ(s.timers_cancelled, 1u);
  expect_settled(s);
}

// ---------------------------------------------------------------- cancel

TEST(PoolTimers, CancelSucceedsOnceThenFailsAndFailsForIdsThatNameNoPendingTimer) {
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(2), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  // Ids that name nothing, in a pool that has made no timer yet.
  EXPECT_FALSE(pool->cancel(TimerId{}));
  EXPECT_FALSE(TimerId{}.valid());
  EXPECT_FALSE(pool->cancel(TimerId{0xdeadbeef12345678}));
  EXPECT_FALSE(pool->cancel(TimerId{1}));
  EXPECT_FALSE(pool->cancel(TimerId{~std::uint64_t{0}}));

  const TimerId pending = pool->send_after(absl::Hours(1), 5, Note{});
  ASSERT_TRUE(pending.valid());
  EXPECT_FALSE(pool->cancel(TimerId{pending.value ^ 1})) << "an id next to a real one names no timer";
  EXPECT_FALSE(pool->cancel(TimerId{0xdeadbeef12345678}));
  EXPECT_EQ(pool->stats().timers_pending, 1u);
  EXPECT_TRUE(pool->cancel(pending));
  EXPECT_FALSE(pool->cancel(pending)) << "a timer is cancelled once";
  EXPECT_FALSE(pool->cancel(pending));
  EXPECT_EQ(pool->stats().timers_pending, 0u);

  // A fired timer cannot be cancelled.
  const TimerId fired = pool->send_after(absl::ZeroDuration(), 6, fire_note(6, 0, owner_of(6, 2), 99));
  ASSERT_TRUE(fired.valid());
  ASSERT_TRUE(wait_until([&] { return log.fired.load() == 1; }));
  EXPECT_FALSE(pool->cancel(fired)) << "an id that fired";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_FALSE(pool->cancel(pending)) << "after shutdown";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 2u);
  EXPECT_EQ(s.timers_fired, 1u);
  EXPECT_EQ(s.timers_cancelled, 1u);
  expect_settled(s);
}

TEST(PoolTimers, AnotherWorkerAndAThreadOutsideThePoolCanCancelAWorkersTimer) {
  constexpr std::size_t kWorkers = 3;
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t on_0 = key_owned_by(0, kWorkers), on_1 = key_owned_by(1, kWorkers);
  // Worker 0 makes two timers; worker 1 cancels the first, this thread the second.
  ASSERT_EQ(pool->send(on_0, arm_note(on_1, absl::Hours(1), 1)), SendResult::ok);
  ASSERT_EQ(pool->send(on_0, arm_note(on_1, absl::Hours(1), 2)), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.id_of(1).valid() && log.id_of(2).valid(); }));
  ASSERT_EQ(pool->send(on_1, Note{Note::cancel_it, 100, 0, 0, 0, log.id_of(1).value}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.seen_with(101).size() == 1; }));
  EXPECT_EQ(log.seen_with(100).at(0).waited_ns, 1) << "another worker's cancel() of a pending timer must succeed";
  EXPECT_EQ(log.seen_with(101).at(0).waited_ns, 0) << "and only once";
  EXPECT_EQ(log.seen_with(100).at(0).worker, 1u);
  EXPECT_FALSE(pool->cancel(log.id_of(1))) << "already cancelled by worker 1";
  EXPECT_TRUE(pool->cancel(log.id_of(2)));
  EXPECT_FALSE(pool->cancel(log.id_of(2)));
  // And a worker cancels a timer made outside the pool.
  const TimerId outside = pool->send_after(absl::Hours(1), on_0, Note{});
  ASSERT_TRUE(outside.valid());
  ASSERT_EQ(pool->send(on_1, Note{Note::cancel_it, 200, 0, 0, 0, outside.value}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.seen_with(201).size() == 1; }));
  EXPECT_EQ(log.seen_with(200).at(0).waited_ns, 1);
  EXPECT_EQ(log.seen_with(201).at(0).waited_ns, 0);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 3u);
  EXPECT_EQ(s.timers_cancelled, 3u);
  EXPECT_EQ(s.timers_fired, 0u);
  EXPECT_EQ(log.fired.load(), 0u);
  EXPECT_EQ(worker_stats(s, 0).timers_scheduled, 3u) << "two it made, one made outside the pool for its key";
  EXPECT_EQ(worker_stats(s, 0).timers_cancelled, 2u) << "a cancellation counts against the worker that made the timer";
  expect_settled(s);
}

/// Arms a zero-delay timer at a key of its own; when that fires (and its entry is free
/// again), makes a long one, which takes the freed entry, and checks that the old id
/// cancels nothing.
struct ReuseLog {
  std::atomic<bool> done{false};
  std::atomic<int> stale_cancelled{-1};
  std::atomic<int> fresh_cancelled{-1};
};
struct Reuser : Worker<TimerId, Note> {
  explicit Reuser(ReuseLog* log) : log_(log) {}
  void handle_message(TimerId& first, Envelope<Note> e) {
    if (e.payload.kind == Note::arm) {
      first = context().send_after(absl::ZeroDuration(), e.key, Note{Note::fire});
      return;
    }
    const TimerId second = context().send_after(absl::Hours(1), e.key, Note{Note::fire});
    log_->stale_cancelled.store(context().cancel(first) ? 1 : 0);
    log_->fresh_cancelled.store(context().cancel(second) ? 1 : 0);
    log_->done.store(true, std::memory_order_release);
  }
  ReuseLog* log_;
};

TEST(PoolTimers, AStaleIdDoesNotCancelTheTimerThatReusedItsPlace) {
  ReuseLog log;
  auto pool = create_pool<Reuser>(PoolConfig().with_num_workers(1), each_worker_gets<Reuser>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, Note{Note::arm}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.done.load(std::memory_order_acquire); }));
  EXPECT_EQ(log.stale_cancelled.load(), 0) << "the id of a fired timer cancelled the timer made after it";
  EXPECT_EQ(log.fresh_cancelled.load(), 1);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 2u);
  EXPECT_EQ(s.timers_fired, 1u);
  EXPECT_EQ(s.timers_cancelled, 1u);
  expect_settled(s);
}

TEST(PoolTimers, AnIdFromAnotherPoolCancelsNothingInThisOne) {
  AimLog log_a, log_b;
  auto a = create_pool<Aimer>(PoolConfig().with_num_workers(1), each_worker_gets<Aimer>(&log_a));
  auto b = create_pool<Aimer>(PoolConfig().with_num_workers(1), each_worker_gets<Aimer>(&log_b));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  // The same history in both pools: one timer made outside, one made by the worker.
  const TimerId outside_a = a->send_after(absl::Hours(1), 1, Note{});
  const TimerId outside_b = b->send_after(absl::Hours(1), 1, Note{});
  ASSERT_EQ(a->send(2, arm_note(3, absl::Hours(1), 7)), SendResult::ok);
  ASSERT_EQ(b->send(2, arm_note(3, absl::Hours(1), 7)), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log_a.id_of(7).valid() && log_b.id_of(7).valid(); }));
  EXPECT_FALSE(b->cancel(outside_a)) << "pool b cancelled a timer with an id that pool a made (ids " << outside_a.value
                                     << " and " << outside_b.value << ")";
  EXPECT_FALSE(b->cancel(log_a.id_of(7))) << "pool b cancelled a timer with an id that pool a's worker made";
  EXPECT_EQ(b->stats().timers_pending, 2u);
  EXPECT_TRUE(a->cancel(outside_a));
  EXPECT_TRUE(a->cancel(log_a.id_of(7)));
  ASSERT_TRUE(shutdown_or_fail(*a).ok());
  ASSERT_TRUE(shutdown_or_fail(*b).ok());
  EXPECT_EQ(a->stats().timers_cancelled, 2u);
  EXPECT_EQ(b->stats().timers_cancelled, 2u) << "by its shutdown";
  expect_settled(a->stats());
  expect_settled(b->stats());
}

// ---------------------------------------------------------------- many threads

/// Counts fired notes by kind of timer (value: 0 one-shot, 1 periodic).
struct TallyLog {
  std::atomic<std::uint64_t> one_shots{0};
  std::atomic<std::uint64_t> periodic{0};
  std::atomic<std::uint64_t> early{0};
};
struct Tally : Worker<Empty, Note> {
  explicit Tally(TallyLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<Note> e) {
    if (e.payload.value == 0 && now_ns() - e.payload.armed_ns < e.payload.delay_ns) log_->early.fetch_add(1);
    (e.payload.value == 0 ? log_->one_shots : log_->periodic).fetch_add(1, std::memory_order_release);
  }
  TallyLog* log_;
};

TEST(PoolTimers, ThreadsOutsideThePoolScheduleAndCancelConcurrentlyAndEveryTimerIsAccountedFor) {
  constexpr int kThreads = 4;
  const std::uint64_t kPerThread = scaled(4000);
  TallyLog log;
  auto pool = create_pool<Tally>(PoolConfig().with_num_workers(3), each_worker_gets<Tally>(&log));
  ASSERT_NE(pool, nullptr);

  struct Counts {
    std::uint64_t one_shots = 0, periodic = 0;
    std::uint64_t short_cancelled = 0;                   // short one-shots that cancel() caught before they fired
    std::uint64_t short_missed = 0;                      // short one-shots that fired first (cancel() false)
    std::uint64_t long_cancelled = 0, long_refused = 0;  // cancels of another thread's long timers
    std::uint64_t periodic_cancelled = 0;
    std::uint64_t left = 0;  // long one-shots left for shutdown to cancel
    std::uint64_t refused = 0;
  };
  std::vector<Counts> counts(kThreads);
  std::vector<std::vector<TimerId>> long_ids(kThreads);  // cancelled by the next thread
  std::barrier all_scheduled(kThreads);
  StartGate start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counts& c = counts[t];
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7 + 1);
      std::vector<TimerId> periodic;
      start.arrive_and_wait();
      for (std::uint64_t j = 0; j < kPerThread; ++j) {
        const std::uint64_t key = rng();
        if (j % 200 == 0) {  // a periodic timer, cancelled once this thread is done scheduling
          absl::StatusOr<TimerId> id = pool->send_every(absl::Milliseconds(1), key, Note{Note::fire, key, 0, 0, 0, 1});
          if (!id.ok()) {
            ++c.refused;
            continue;
          }
          periodic.push_back(*id);
          ++c.periodic;
          continue;
        }
        const bool is_long = j % 4 >= 2;
        const std::int64_t delay = is_long ? absl::ToInt64Nanoseconds(absl::Hours(1))
                                           : static_cast<std::int64_t>(rng() % 3'000'000);  // < 3 ms
        const TimerId id =
            pool->send_after(absl::Nanoseconds(delay), key, Note{Note::fire, key, delay, now_ns(), 0, 0});
        if (!id.valid()) {
          ++c.refused;
          continue;
        }
        ++c.one_shots;
        if (is_long) {
          if (j % 4 == 2) {
            long_ids[t].push_back(id);
          } else {
            ++c.left;
          }
        } else if (j % 2 == 1) {  // cancel half the short ones: racing their firing
          (pool->cancel(id) ? c.short_cancelled : c.short_missed) += 1;
        }
      }
      all_scheduled.arrive_and_wait();
      for (TimerId id : long_ids[(t + 1) % kThreads]) (pool->cancel(id) ? c.long_cancelled : c.long_refused) += 1;
      for (TimerId id : periodic) c.periodic_cancelled += pool->cancel(id) ? 1 : 0;
    });
  }
  {
    Watchdog guard(stall_limit(), [&] { ADD_FAILURE() << "the scheduling threads hang"; });
    start.open_when(kThreads);
    for (std::thread& th : threads) th.join();
  }
  Counts total;
  for (const Counts& c : counts) {
    total.one_shots += c.one_shots;
    total.periodic += c.periodic;
    total.short_cancelled += c.short_cancelled;
    total.short_missed += c.short_missed;
    total.long_cancelled += c.long_cancelled;
    total.long_refused += c.long_refused;
    total.periodic_cancelled += c.periodic_cancelled;
    total.left += c.left;
    total.refused += c.refused;
  }
  EXPECT_EQ(total.refused, 0u);
  EXPECT_EQ(total.long_refused, 0u) << "cancel() of another thread's pending timer failed";
  EXPECT_EQ(total.periodic_cancelled, total.periodic);
  // Every short one-shot fires, but those that cancel() caught.
  const std::uint64_t must_fire = total.one_shots - total.long_cancelled - total.left - total.short_cancelled;
  EXPECT_TRUE(wait_for_progress([&] { return log.one_shots.load(); }, must_fire))
      << "fired " << log.one_shots.load() << " of " << must_fire;
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  EXPECT_EQ(log.one_shots.load(), must_fire) << "a timer both fired and was cancelled, or neither";
  EXPECT_EQ(log.early.load(), 0u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, total.one_shots + total.periodic);
  EXPECT_EQ(s.timers_fired, log.one_shots.load() + log.periodic.load());
  EXPECT_EQ(s.timers_cancelled, total.short_cancelled + total.long_cancelled + total.periodic_cancelled + total.left)
      << "cancel() calls that returned true, and the long timers left for shutdown";
  EXPECT_EQ(s.timers_scheduled, log.one_shots.load() + s.timers_cancelled)
      << "every one-shot timer fired or was cancelled, and every periodic one was cancelled";
  expect_settled(s);
  std::cout << "[ timers   ] " << total.short_cancelled << " short timers cancelled in time, " << total.short_missed
            << " fired first; " << total.periodic << " periodic timers fired " << log.periodic.load() << " times\n";
}

TEST(PoolTimers, ConcurrentCancelsOfOneTimerSucceedExactlyOnceAndRacingFiringsNeverDoubleCount) {
  constexpr int kThreads = 3;
  const std::uint64_t kTimers = scaled(4000);
  TallyLog log;
  auto pool = create_pool<Tally>(PoolConfig().with_num_workers(2), each_worker_gets<Tally>(&log));
  ASSERT_NE(pool, nullptr);
  std::vector<TimerId> ids;
  ids.reserve(kTimers);
  for (std::uint64_t i = 0; i < kTimers; ++i) {
    // Half are pending for an hour; the other half fall due while the threads cancel.
    const std::int64_t delay =
        i % 2 == 0 ? absl::ToInt64Nanoseconds(absl::Hours(1)) : static_cast<std::int64_t>(i % 50) * 20'000;
    ids.push_back(pool->send_after(absl::Nanoseconds(delay), i, Note{Note::fire, i, delay, now_ns(), 0, 0}));
    ASSERT_TRUE(ids.back().valid());
  }
  std::atomic<std::uint64_t> long_wins{0}, short_wins{0};
  StartGate start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::uint64_t k = 0; k < kTimers; ++k) {
        const std::uint64_t i = (k + static_cast<std::uint64_t>(t) * kTimers / kThreads) % kTimers;
        if (pool->cancel(ids[i])) (i % 2 == 0 ? long_wins : short_wins).fetch_add(1);
      }
    });
  }
  start.open_when(kThreads);
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(long_wins.load(), kTimers / 2) << "each pending timer is cancelled by exactly one of the threads";
  const std::uint64_t must_fire = kTimers / 2 - short_wins.load();
  EXPECT_TRUE(wait_for_progress([&] { return log.one_shots.load(); }, must_fire));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.one_shots.load(), must_fire) << "a short timer both fired and was cancelled, or neither";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_cancelled, long_wins.load() + short_wins.load());
  EXPECT_EQ(s.timers_fired, must_fire);
  expect_settled(s);
}

// ---------------------------------------------------------------- shutdown and stop

/// Arms `value` long one-shot timers and one long periodic timer per arm note.
struct HoardLog {
  std::atomic<std::uint64_t> fired{0};
  std::atomic<std::uint64_t> made{0};
  Gate gate;  // block notes wait here
};
struct Hoard : Worker<Empty, Note> {
  explicit Hoard(HoardLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<Note> e) {
    const Note& n = e.payload;
    if (n.kind == Note::arm) {
      for (std::uint64_t i = 0; i < n.value; ++i) {
        if (context().send_after(absl::Hours(1), e.key + i, Note{Note::fire}).valid()) log_->made.fetch_add(1);
      }
      if (context().send_every(absl::Hours(2), e.key, Note{Note::fire}).ok()) log_->made.fetch_add(1);
    } else if (n.kind == Note::block) {
      (void)log_->gate.wait();
    } else {
      log_->fired.fetch_add(1, std::memory_order_release);
    }
  }
  HoardLog* log_;
};

/// Pending timers made by handlers and from outside; then shutdown() or stop().
void pending_timers_are_cancelled_and_counted_by(bool use_stop) {
  constexpr std::size_t kWorkers = 3;
  constexpr std::uint64_t kArms = 20, kPerArm = 50, kOutside = 100;
  HoardLog log;
  auto pool = create_pool<Hoard>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Hoard>(&log));
  ASSERT_NE(pool, nullptr);
  // Some timers fire before the end: they are not cancelled.
  constexpr std::uint64_t kShort = 10;
  for (std::uint64_t i = 0; i < kShort; ++i) ASSERT_TRUE(pool->send_after(absl::ZeroDuration(), i, Note{}).valid());
  for (std::uint64_t i = 0; i < kArms; ++i)
    ASSERT_EQ(pool->send(i, Note{Note::arm, 0, 0, 0, 0, kPerArm}), SendResult::ok);
  for (std::uint64_t i = 0; i < kOutside; ++i) ASSERT_TRUE(pool->send_after(absl::Hours(1), i * 3, Note{}).valid());
  ASSERT_TRUE(pool->send_every(absl::Hours(1), 77, Note{}).ok());
  const std::uint64_t long_ones = kArms * (kPerArm + 1) + kOutside + 1;
  ASSERT_TRUE(wait_until([&] { return log.made.load() == kArms * (kPerArm + 1) && log.fired.load() == kShort; }));
  PoolStats before = pool->stats();
  EXPECT_EQ(before.timers_pending, long_ones);
  EXPECT_EQ(before.timers_scheduled, long_ones + kShort);

  if (use_stop) {
    (void)pool->stop();
  } else {
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  }
  const std::uint64_t fired_at_end = log.fired.load();
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_cancelled, long_ones) << "every pending timer is cancelled, and counted";
  EXPECT_EQ(s.timers_fired, kShort);
  EXPECT_EQ(fired_at_end, kShort);
  EXPECT_EQ(s.timers_scheduled, long_ones + kShort);
  EXPECT_FALSE(s.running);
  std::uint64_t per_worker = 0;
  for (const WorkerStats& w : s.workers) per_worker += w.timers_cancelled;
  EXPECT_EQ(per_worker, kArms * (kPerArm + 1)) << "the workers' own timers count at their makers";
  expect_settled(s);

  // After the end: timers are refused, counted as rejected, and nothing fires.
  EXPECT_FALSE(pool->send_after(absl::ZeroDuration(), 1, Note{}).valid());
  absl::StatusOr<TimerId> every = pool->send_every(absl::Milliseconds(1), 1, Note{});
  EXPECT_EQ(every.status().code(), absl::StatusCode::kFailedPrecondition) << every.status();
  EXPECT_EQ(pool->send_every(absl::ZeroDuration(), 1, Note{}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::SleepFor(absl::Milliseconds(20));
  const PoolStats after = pool->stats();
  EXPECT_EQ(after.rejected, s.rejected + 2);
  EXPECT_EQ(after.timers_scheduled, s.timers_scheduled);
  EXPECT_EQ(log.fired.load(), fired_at_end);
  expect_settled(after);
}

TEST(PoolTimers, ShutdownCancelsAndCountsPendingTimersAndRefusesNewOnes) {
  pending_timers_are_cancelled_and_counted_by(/*use_stop=*/false);
}

TEST(PoolTimers, StopCancelsAndCountsPendingTimersAndRefusesNewOnes) {
  pending_timers_are_cancelled_and_counted_by(/*use_stop=*/true);
}

/// Timers made outside the pool while their holder is busy wait in its incoming list;
/// the end of the pool must still find and count them.
void timers_for_a_busy_worker_are_accounted_for_by(bool use_stop) {
  constexpr std::uint64_t kLong = 200, kDue = 50;
  HoardLog log;
  auto pool = create_pool<Hoard>(PoolConfig().with_num_workers(1), each_worker_gets<Hoard>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, Note{Note::block}), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered());
  for (std::uint64_t i = 0; i < kLong; ++i) ASSERT_TRUE(pool->send_after(absl::Hours(1), i, Note{}).valid());
  for (std::uint64_t i = 0; i < kDue; ++i) ASSERT_TRUE(pool->send_after(absl::ZeroDuration(), i, Note{}).valid());
  EXPECT_EQ(pool->stats().timers_pending, kLong + kDue);
  std::thread ender([&] {
    if (use_stop) {
      (void)pool->stop();
    } else {
      EXPECT_TRUE(pool->shutdown().ok());
    }
  });
  ASSERT_TRUE(wait_until([&] { return !pool->running(); }));
  log.gate.open();
  ender.join();
  EXPECT_EQ(log.gate.stalls(), 0u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, kLong + kDue);
  EXPECT_EQ(s.timers_fired + s.timers_cancelled, kLong + kDue);
  EXPECT_GE(s.timers_cancelled, kLong);
  EXPECT_EQ(s.processed, 1 + log.fired.load());
  if (!use_stop) {
    EXPECT_EQ(log.fired.load(), s.timers_fired) << "shutdown handles every timer that fired";
  }
  expect_settled(s);
}

TEST(PoolTimers, TimersMadeForABusyWorkerAreAccountedForAtShutdown) {
  timers_for_a_busy_worker_are_accounted_for_by(/*use_stop=*/false);
}

TEST(PoolTimers, TimersMadeForABusyWorkerAreAccountedForAtStop) {
  timers_for_a_busy_worker_are_accounted_for_by(/*use_stop=*/true);
}

/// Timers made outside the pool wait in their holder's incoming list until it takes them
/// in; while it is busy that list grows, and making each timer must stay cheap (amortized
/// O(1), not a copy of the whole list).
TEST(PoolTimers, ManyTimersMadeOutsideThePoolForABusyWorkerStayCheapToMake) {
  const std::uint64_t kTimers = kUnderTsan ? 20'000 : 200'000;
  HoardLog log;
  auto pool = create_pool<Hoard>(PoolConfig().with_num_workers(1), each_worker_gets<Hoard>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, Note{Note::block}), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered());
  const absl::Time began = absl::Now();
  for (std::uint64_t i = 0; i < kTimers; ++i) ASSERT_TRUE(pool->send_after(absl::Hours(1), i, Note{}).valid());
  const absl::Duration making = absl::Now() - began;
  log.gate.open();
  std::cout << "[ timers   ] " << kTimers << " timers made outside the pool for a busy worker in "
            << absl::FormatDuration(making) << "\n";
  // Linear: well under a second. Quadratic (each one copying the list): minutes.
  EXPECT_LT(making, absl::Seconds(kUnderTsan ? 20 : 5));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, kTimers);
  EXPECT_EQ(s.timers_cancelled, kTimers);
  expect_settled(s);
}

// ---------------------------------------------------------------- idle workers sleep

TEST(PoolTimers, AnIdlePoolWithOnlyDistantTimersSleepsInsteadOfSpinning) {
  constexpr std::size_t kWorkers = 2;
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < 20; ++i) {
    ASSERT_EQ(pool->send(i, arm_note(i, absl::Hours(1), i)), SendResult::ok);
    ASSERT_TRUE(pool->send_after(absl::Hours(1), i, Note{}).valid());
  }
  ASSERT_TRUE(wait_until([&] { return log.armed_by[0].load() + log.armed_by[1].load() == 20; }));
  absl::SleepFor(absl::Milliseconds(50));  // past the spin and yield phases
  const absl::Duration window = absl::Milliseconds(400);
  const absl::Duration cpu_before = process_cpu_time();
  absl::SleepFor(window);
  const absl::Duration cpu = process_cpu_time() - cpu_before;
  std::cout << "[ timers   ] CPU time of an idle pool of " << kWorkers << " workers holding 40 timers over "
            << absl::FormatDuration(window) << ": " << absl::FormatDuration(cpu) << "\n";
  // Spinning workers would burn about kWorkers * window.
  EXPECT_LT(cpu, window / 4) << "idle workers with distant timers must park, not spin";
  EXPECT_EQ(pool->stats().timers_fired, 0u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_settled(pool->stats());
}

TEST(PoolTimers, AWorkerWaitingForItsNextTimerParksUntilItIsDue) {
  const absl::Duration period = absl::Milliseconds(25);
  TallyLog log;
  // Parks at once: with the default policy a worker on a loaded machine may still be in
  // its yield phase (each sched_yield giving the CPU away for milliseconds) when the next
  // firing falls due, and so never park, though it uses no CPU either.
  auto pool = create_pool<Tally>(PoolConfig().with_num_workers(1).with_wait_policy(WaitPolicy::park_immediately()),
                                 each_worker_gets<Tally>(&log));
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<TimerId> id = pool->send_every(period, 1, Note{Note::fire, 1, 0, 0, 0, 1});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(wait_for_progress([&] { return log.periodic.load(); }, 1));
  const PoolStats before = pool->stats();
  const absl::Duration cpu_before = process_cpu_time();
  const absl::Duration window = absl::Milliseconds(500);
  absl::SleepFor(window);
  const absl::Duration cpu = process_cpu_time() - cpu_before;
  const PoolStats after = pool->stats();
  ASSERT_TRUE(pool->cancel(*id));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const std::uint64_t firings = after.timers_fired - before.timers_fired;
  const std::uint64_t parks = after.parks - before.parks;
  const absl::Duration parked = after.time_parked - before.time_parked;
  std::cout << "[ timers   ] over " << absl::FormatDuration(window) << " with a " << absl::FormatDuration(period)
            << " timer: " << firings << " firings, " << parks << " parks, parked " << absl::FormatDuration(parked)
            << ", CPU " << absl::FormatDuration(cpu) << "\n";
  EXPECT_GE(firings, 3u) << "the periodic timer must keep firing while the worker is otherwise idle";
  EXPECT_GE(parks, firings / 2) << "between firings the worker parks until the next one is due";
  EXPECT_GE(parked, window / 4);
  EXPECT_LT(cpu, window / 4);
  expect_settled(pool->stats());
}

/// Timers that keep falling due while shutdown() drains the pool: none may fire once the
/// pool was found quiescent (its message would be sent after the drain, then dropped), so
/// a graceful shutdown drops nothing and every firing is handled.
TEST(PoolTimers, AShutdownWhileTimersKeepFallingDueDropsNoFiredMessage) {
  const int kRounds = kUnderTsan ? 10 : 60;
  constexpr std::uint64_t kTimers = 8;
  std::uint64_t dropped = 0, unhandled = 0;
  for (int round = 0; round < kRounds; ++round) {
    TallyLog log;
    auto pool = create_pool<Tally>(PoolConfig().with_num_workers(3), each_worker_gets<Tally>(&log));
    ASSERT_NE(pool, nullptr);
    for (std::uint64_t k = 0; k < kTimers; ++k) {
      ASSERT_TRUE(pool->send_every(absl::Microseconds(20 + 7 * static_cast<std::int64_t>(k)), k,
                                   Note{Note::fire, k, 0, 0, 0, 1})
                      .ok());
    }
    ASSERT_TRUE(wait_for_progress([&] { return log.periodic.load(); }, 30));
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
    const PoolStats s = pool->stats();
    expect_settled(s);
    EXPECT_EQ(s.timers_cancelled, kTimers);
    dropped += s.dropped;
    unhandled += s.timers_fired - log.periodic.load();
  }
  EXPECT_EQ(dropped, 0u) << "a timer fired after shutdown() had found the pool quiescent";
  EXPECT_EQ(unhandled, 0u) << "firings whose message was never handled";
}

// ---------------------------------------------------------------- resizes

TEST(PoolTimers, ARemovedWorkersTimersStillFireAndEveryTimerReachesItsKeysNewOwner) {
  // A long delay, so that the resize (milliseconds) is over before any timer is due;
  // checked below, since on a very slow machine it might not be.
  const absl::Duration delay = kUnderTsan ? absl::Seconds(4) : absl::Milliseconds(1500);
  const absl::Duration period = absl::Milliseconds(20);
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(3).with_max_workers(3), ConsistentHashPartitioner(3),
                                 each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  ConsistentHashPartitioner three(0), two(0);
  for (std::size_t w : {0, 1, 2}) ASSERT_TRUE(three.add_worker(w).ok());
  for (std::size_t w : {0, 2}) ASSERT_TRUE(two.add_worker(w).ok());
  auto find_key = [&](auto&& pred) {
    for (std::uint64_t k = 1;; ++k) {
      if (pred(k)) return k;
    }
  };
  const std::uint64_t moving = find_key([&](std::uint64_t k) { return three.owner(k) == 1; });
  const std::size_t new_owner = two.owner(moving);
  const std::uint64_t staying = find_key([&](std::uint64_t k) { return three.owner(k) == 2 && two.owner(k) == 2; });
  const std::uint64_t on_0 = find_key([&](std::uint64_t k) { return three.owner(k) == 0 && two.owner(k) == 0; });
  const std::uint64_t on_1 = moving;

  // Tag 1: held by worker 0, aimed at a key that moves.      Expect: new owner, from 0.
  // Tag 2: held by worker 1 (removed), aimed at that key.     Expect: new owner, from 0 (the adopter).
  // Tag 3: held by worker 1, aimed at a key that stays on 2.  Expect: worker 2, from 0.
  // Tag 4: made outside the pool, so held by the key's owner, worker 1. Expect: new owner, from 0.
  // Tag 5: a periodic timer held by worker 1, aimed at the moving key.
  const std::int64_t armed = now_ns();
  ASSERT_EQ(pool->send(on_0, arm_note(moving, delay, 1)), SendResult::ok);
  ASSERT_EQ(pool->send(on_1, arm_note(moving, delay, 2)), SendResult::ok);
  ASSERT_EQ(pool->send(on_1, arm_note(staying, delay, 3)), SendResult::ok);
  ASSERT_TRUE(pool->send_after(delay, moving, Note{Note::fire, moving, absl::ToInt64Nanoseconds(delay), now_ns(), 0, 4})
                  .valid());
  ASSERT_EQ(pool->send(on_1, arm_periodic_note(moving, period, 5)), SendResult::ok);
  ASSERT_TRUE(wait_until(
      [&] { return log.id_of(5).valid() && log.id_of(3).valid() && log.id_of(2).valid() && log.id_of(1).valid(); }));
  ASSERT_TRUE(wait_until([&] { return log.seen_with(5).size() >= 2; })) << "the periodic timer fires before the resize";

  absl::StatusOr<ResizeReport> removed = pool->remove_worker(1);
  ASSERT_TRUE(removed.ok()) << removed.status();
  const bool in_time = now_ns() < armed + absl::ToInt64Nanoseconds(delay);
  const std::size_t periodic_before = log.seen_with(5).size();
  ASSERT_TRUE(wait_until([&] { return log.seen_with(5).size() >= periodic_before + 3; }))
      << "the removed worker's periodic timer must keep firing, held by another worker";
  ASSERT_TRUE(pool->cancel(log.id_of(5)));
  ASSERT_TRUE(wait_until(
      [&] {
        for (std::uint64_t tag : {1, 2, 3, 4}) {
          if (log.seen_with(tag).empty()) return false;
        }
        return true;
      },
      delay + stall_limit()))
      << "fired " << log.fired.load();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  EXPECT_EQ(log.early.load(), 0u);
  EXPECT_EQ(log.not_owned.load(), 0u) << "a timer's message reached a worker that did not own its key";
  ASSERT_TRUE(in_time) << "the resize took longer than the timers' delay (" << absl::FormatDuration(delay)
                       << "), so this run could not check where they went";
  struct Expect {
    std::uint64_t tag;
    std::size_t worker;
  };
  for (const Expect& x : {Expect{1, new_owner}, Expect{2, new_owner}, Expect{3, 2}, Expect{4, new_owner}}) {
    const std::vector<AimLog::Seen> seen = log.seen_with(x.tag);
    ASSERT_EQ(seen.size(), 1u) << "tag " << x.tag << " must fire exactly once";
    EXPECT_EQ(seen[0].worker, x.worker) << "tag " << x.tag;
    EXPECT_EQ(seen[0].source, Source::worker(0)) << "tag " << x.tag << ": worker 0 holds it when it fires";
  }
  // The periodic timer: sent by worker 1 to worker 1 before the resize, by worker 0 to
  // the key's new owner after it (the one in flight at the cancel aside).
  const std::vector<AimLog::Seen> ticks = log.seen_with(5);
  std::size_t after_resize = 0;
  for (const AimLog::Seen& t : ticks) {
    if (t.source == Source::worker(0)) {
      ++after_resize;
      EXPECT_EQ(t.worker, new_owner);
    } else {
      EXPECT_EQ(t.source, Source::worker(1));
      EXPECT_EQ(t.worker, 1u);
    }
  }
  EXPECT_GE(after_resize, 3u);
  // Tags 2 and 3 and the periodic timer's later firings were made by worker 1 and sent by 0.
  EXPECT_EQ(log.wrong_source.load(), after_resize + 2) << "the adopted timers are sent by their adopter";

  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 5u);
  EXPECT_EQ(s.timers_cancelled, 1u);
  EXPECT_EQ(s.timers_fired, ticks.size() + 4);
  EXPECT_FALSE(worker_stats(s, 1).active);
  EXPECT_EQ(worker_stats(s, 1).timers_scheduled, 4u) << "three it made, one made outside the pool for it";
  EXPECT_EQ(worker_stats(s, 1).timers_cancelled, 1u) << "its periodic timer";
  expect_settled(s);
}

/// Timers that keep falling due while the pool resizes again and again: none may fire
/// while the pool is drained for a resize (its message would reach the key's old owner
/// while state moves, or a worker on its way out), so every firing is handled, by the
/// owner of its key, and nothing is dropped.
TEST(PoolTimers, ResizesWhileTimersKeepFallingDueDeliverEveryFiringToItsKeysOwner) {
  const int kResizes = kUnderTsan ? 8 : 40;
  constexpr std::uint64_t kTimers = 16;
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(3).with_max_workers(3), ConsistentHashPartitioner(3),
                                 each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  std::vector<TimerId> ids;
  for (std::uint64_t k = 0; k < kTimers; ++k) {
    const std::uint64_t key = k * 1009 + 3;
    absl::StatusOr<TimerId> id = pool->send_every(absl::Microseconds(25 + 5 * static_cast<std::int64_t>(k)), key,
                                                  Note{Note::fire, key, 0, now_ns(), 0, 1000 + k});
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  Watchdog guard(stall_limit(), [&] {
    ADD_FAILURE() << "a resize hangs";
    (void)pool->stop();
  });
  for (int r = 0; r < kResizes; ++r) {
    const std::uint64_t before = log.fired.load();
    ASSERT_TRUE(wait_for_progress([&] { return log.fired.load(); }, before + 20));
    const std::size_t slot = 1 + static_cast<std::size_t>(r % 2);
    absl::StatusOr<ResizeReport> removed = pool->remove_worker(slot);
    ASSERT_TRUE(removed.ok()) << removed.status();
    guard.tick();
    absl::StatusOr<ResizeReport> added = pool->add_worker();
    ASSERT_TRUE(added.ok()) << added.status();
    ASSERT_EQ(added->worker, slot);
    guard.tick();
  }
  guard.stop();
  for (TimerId id : ids) EXPECT_TRUE(pool->cancel(id));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(log.not_owned.load(), 0u) << "a firing reached a worker that did not own its key";
  EXPECT_EQ(s.dropped, 0u) << "a firing was dropped: sent while the pool was drained for a resize";
  EXPECT_EQ(s.timers_fired, log.fired.load()) << "every firing is handled";
  EXPECT_EQ(s.timers_cancelled, kTimers);
  expect_settled(s);
}

TEST(PoolTimers, ATimerAimedAtAKeyThatMovesToAnAddedWorkerReachesIt) {
  const absl::Duration delay = kUnderTsan ? absl::Seconds(4) : absl::Milliseconds(1500);
  AimLog log;
  auto pool = create_pool<Aimer>(PoolConfig().with_num_workers(3).with_max_workers(4), ConsistentHashPartitioner(3),
                                 each_worker_gets<Aimer>(&log));
  ASSERT_NE(pool, nullptr);
  ConsistentHashPartitioner three(0), four(0);
  for (std::size_t w : {0, 1, 2}) ASSERT_TRUE(three.add_worker(w).ok());
  for (std::size_t w : {0, 1, 2, 3}) ASSERT_TRUE(four.add_worker(w).ok());
  std::uint64_t moving = 1;
  while (four.owner(moving) != 3) ++moving;
  const std::size_t old_owner = three.owner(moving);
  std::uint64_t arm_key = 1;
  while (three.owner(arm_key) == old_owner || four.owner(arm_key) != three.owner(arm_key)) ++arm_key;
  const std::size_t arm_holder = three.owner(arm_key);

  const std::int64_t armed = now_ns();
  ASSERT_EQ(pool->send(arm_key, arm_note(moving, delay, 1)), SendResult::ok);  // held by another worker
  ASSERT_TRUE(
      pool->send_after(delay, moving, Note{Note::fire, moving, absl::ToInt64Nanoseconds(delay), now_ns(), old_owner, 2})
          .valid());  // held by the key's owner at the time, which keeps it
  ASSERT_TRUE(wait_until([&] { return log.id_of(1).valid(); }));
  absl::StatusOr<ResizeReport> added = pool->add_worker();
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->worker, 3u);
  const bool in_time = now_ns() < armed + absl::ToInt64Nanoseconds(delay);
  ASSERT_TRUE(wait_for_progress([&] { return log.fired.load(); }, 2));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.early.load(), 0u);
  EXPECT_EQ(log.not_owned.load(), 0u);
  EXPECT_EQ(log.wrong_source.load(), 0u) << "a worker that stays keeps its timers";
  ASSERT_TRUE(in_time) << "the resize took longer than the timers' delay";
  for (std::uint64_t tag : {1, 2}) {
    const std::vector<AimLog::Seen> seen = log.seen_with(tag);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].worker, 3u) << "tag " << tag << " must reach the key's new owner";
  }
  EXPECT_EQ(log.seen_with(1)[0].source, Source::worker(arm_holder));
  expect_settled(pool->stats());
}

// ---------------------------------------------------------------- memory

/// Makes a long timer per slot of `ids` on one note, cancels them all on the next.
struct MemoryLog {
  std::vector<TimerId> ids;  // sized (and touched) by the test before the first note
  std::atomic<std::uint64_t> made{0};
  std::atomic<std::uint64_t> cancelled{0};
  std::atomic<int> phase{0};  // 1: made, 2: cancelled
};
struct Memory : Worker<Empty, std::uint64_t> {
  explicit Memory(MemoryLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    if (e.payload == 1) {
      std::uint64_t made = 0;
      for (std::size_t i = 0; i < log_->ids.size(); ++i) {
        log_->ids[i] =
            context().send_after(absl::Hours(1) + absl::Nanoseconds(static_cast<std::int64_t>(i)), i, std::uint64_t{i});
        made += log_->ids[i].valid() ? 1 : 0;
      }
      log_->made.store(made);
      log_->phase.store(1, std::memory_order_release);
    } else if (e.payload == 2) {
      std::uint64_t cancelled = 0;
      for (TimerId id : log_->ids) cancelled += context().cancel(id) ? 1 : 0;
      log_->cancelled.store(cancelled);
      log_->phase.store(2, std::memory_order_release);
    }
  }
  MemoryLog* log_;
};
static_assert(sizeof(std::uint64_t) == 8);

TEST(PoolTimers, AMillionPendingTimersCostFewerThan96BytesEach) {
  const std::size_t kTimers = kUnderTsan ? 20'000 : 1'000'000;
  MemoryLog log;
  log.ids.assign(kTimers, TimerId{});  // touched now, so that it is in the baseline
  auto pool = create_pool<Memory>(PoolConfig().with_num_workers(1), each_worker_gets<Memory>(&log));
  ASSERT_NE(pool, nullptr);
  absl::SleepFor(absl::Milliseconds(20));
  const std::uint64_t rss_before = resident_bytes();
  const absl::Time began = absl::Now();
  ASSERT_EQ(pool->send(0, std::uint64_t{1}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.phase.load(std::memory_order_acquire) == 1; }, absl::Seconds(120)));
  const absl::Duration making = absl::Now() - began;
  const std::uint64_t rss_after = resident_bytes();
  ASSERT_EQ(log.made.load(), kTimers);
  EXPECT_EQ(pool->stats().timers_pending, kTimers);
  const double per_timer =
      rss_after > rss_before ? static_cast<double>(rss_after - rss_before) / static_cast<double>(kTimers) : 0.0;
  std::cout << "[ timers   ] " << kTimers << " pending timers (8-byte message): resident set +"
            << (rss_after - rss_before) / 1024 << " KiB, " << per_timer << " bytes per timer; made in "
            << absl::FormatDuration(making) << "\n";
  ::testing::Test::RecordProperty("bytes_per_pending_timer", std::to_string(per_timer));

  const absl::Time cancel_began = absl::Now();
  ASSERT_EQ(pool->send(0, std::uint64_t{2}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.phase.load(std::memory_order_acquire) == 2; }, absl::Seconds(120)));
  std::cout << "[ timers   ] cancelled them all, from their holder, in "
            << absl::FormatDuration(absl::Now() - cancel_began) << "\n";
  EXPECT_EQ(log.cancelled.load(), kTimers);
  EXPECT_EQ(pool->stats().timers_pending, 0u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, kTimers);
  EXPECT_EQ(s.timers_cancelled, kTimers) << "shutdown finds them cancelled already and counts none twice";
  EXPECT_EQ(s.timers_fired, 0u);
  expect_settled(s);
  if (kUnderTsan) return;  // ThreadSanitizer's shadow memory makes the resident set meaningless
  EXPECT_GT(per_timer, 40.0) << "the resident set was not measured (a timer's entry alone is 40 bytes)";
  EXPECT_LE(per_timer, 96.0);
}

// ---------------------------------------------------------------- re-armed timeouts

/// A session timeout per key: every touch cancels the key's timeout and makes a new one;
/// a timeout that fires ends the session. A timeout that fired just before its touch
/// cancelled it arrives stale (its sequence number is old).
struct SessionLog {
  std::atomic<std::uint64_t> touches{0};
  std::atomic<std::uint64_t> rearm_cancels{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> stale{0};
  std::atomic<std::uint64_t> not_owned{0};
  std::atomic<std::uint64_t> open_at_stop{0};
  std::int64_t timeout_ns = 0;
};
struct Session {
  TimerId timeout;
  std::uint64_t seq = 0;
};
using Sessions = std::unordered_map<std::uint64_t, Session>;

struct SessionWorker : Worker<Sessions, Note> {
  explicit SessionWorker(SessionLog* log) : log_(log) {}
  void handle_message(Sessions& sessions, Envelope<Note> e) {
    if (!context().owns(e.key)) log_->not_owned.fetch_add(1, std::memory_order_relaxed);
    Session& s = sessions[e.key];
    if (e.payload.kind == Note::touch) {
      if (s.timeout.valid() && context().cancel(s.timeout)) log_->rearm_cancels.fetch_add(1, std::memory_order_relaxed);
      ++s.seq;
      s.timeout = context().send_after(absl::Nanoseconds(log_->timeout_ns), e.key, Note{Note::fire, 0, 0, 0, 0, s.seq});
      if (!s.timeout.valid()) log_->refused.fetch_add(1, std::memory_order_relaxed);
      log_->touches.fetch_add(1, std::memory_order_relaxed);
    } else if (e.payload.value == s.seq) {
      s.timeout = TimerId{};  // the session timed out
      log_->timeouts.fetch_add(1, std::memory_order_relaxed);
    } else {
      log_->stale.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void on_stop(Sessions& sessions) {
    for (const auto& [key, s] : sessions) log_->open_at_stop.fetch_add(s.timeout.valid() ? 1 : 0);
  }
  SessionLog* log_;
};

TEST(PoolTimers, ReArmedSessionTimeoutsUnderLoadAreAccountedForExactly) {
  constexpr int kProducers = 2;
  constexpr std::uint64_t kKeys = 257;
  const std::uint64_t kPerProducer = scaled(60'000);
  SessionLog log;
  log.timeout_ns = absl::ToInt64Nanoseconds(absl::Microseconds(800));
  auto pool = create_pool<SessionWorker>(PoolConfig().with_num_workers(3).with_queue_capacity(256),
                                         each_worker_gets<SessionWorker>(&log));
  ASSERT_NE(pool, nullptr);
  std::atomic<std::uint64_t> sent{0};
  Watchdog guard(stall_limit(), [&] {
    ADD_FAILURE() << "the producers hang";
    (void)pool->stop();
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(p) + 11);
      for (std::uint64_t i = 0; i < kPerProducer; ++i) {
        if (pool->send(rng() % kKeys, Note{Note::touch}) == SendResult::ok) sent.fetch_add(1);
        guard.tick();
        if (i % 4096 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));  // let timeouts fire
      }
    });
  }
  for (std::thread& t : producers) t.join();
  guard.stop();
  ASSERT_EQ(sent.load(), kProducers * kPerProducer);
  ASSERT_TRUE(wait_for_progress([&] { return log.touches.load(); }, sent.load()));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());  // some of the last timeouts may still be pending

  const PoolStats s = pool->stats();
  EXPECT_EQ(log.refused.load(), 0u);
  EXPECT_EQ(log.not_owned.load(), 0u);
  EXPECT_EQ(log.touches.load(), sent.load());
  EXPECT_EQ(s.timers_scheduled, log.touches.load()) << "one timeout per touch";
  EXPECT_EQ(s.timers_fired, log.timeouts.load() + log.stale.load()) << "every firing is handled once";
  EXPECT_EQ(s.timers_cancelled, log.rearm_cancels.load() + log.open_at_stop.load())
      << "cancelled by a re-arm, or pending at shutdown (timers do not fire while the pool drains)";
  EXPECT_EQ(s.timers_scheduled, s.timers_fired + s.timers_cancelled);
  EXPECT_EQ(s.processed, log.touches.load() + s.timers_fired);
  EXPECT_EQ(s.accepted, sent.load() + s.timers_fired) << "a firing counts as a send";
  expect_settled(s);
  std::cout << "[ timers   ] " << log.touches.load() << " touches: " << log.rearm_cancels.load()
            << " re-arms cancelled, " << log.timeouts.load() << " timeouts, " << log.stale.load() << " stale, "
            << log.open_at_stop.load() << " pending at shutdown\n";
}

/// A handler that re-arms one long timeout for its key per message must not pile up the
/// cancelled timers (the holder drops them once its heap has doubled).
TEST(PoolTimers, ReArmingALongTimeoutManyTimesDoesNotPileUpCancelledTimers) {
  const std::uint64_t kTouches = kUnderTsan ? 20'000 : 400'000;
  SessionLog log;
  log.timeout_ns = absl::ToInt64Nanoseconds(absl::Hours(1));
  auto pool = create_pool<SessionWorker>(PoolConfig().with_num_workers(1), each_worker_gets<SessionWorker>(&log));
  ASSERT_NE(pool, nullptr);
  // Warm up (the State's map, the first slab chunk), then measure.
  for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(pool->send(i % 4, Note{Note::touch}), SendResult::ok);
  ASSERT_TRUE(wait_for_progress([&] { return log.touches.load(); }, 1000));
  absl::SleepFor(absl::Milliseconds(20));
  const std::uint64_t rss_before = resident_bytes();
  for (std::uint64_t i = 0; i < kTouches; ++i) ASSERT_EQ(pool->send(i % 4, Note{Note::touch}), SendResult::ok);
  ASSERT_TRUE(wait_for_progress([&] { return log.touches.load(); }, 1000 + kTouches));
  const std::uint64_t rss_after = resident_bytes();
  const PoolStats mid = pool->stats();
  EXPECT_EQ(mid.timers_pending, 4u);
  const std::uint64_t grown = rss_after > rss_before ? rss_after - rss_before : 0;
  std::cout << "[ timers   ] " << kTouches << " re-arms of 4 one-hour timeouts: resident set +" << grown / 1024
            << " KiB (" << static_cast<double>(grown) / static_cast<double>(kTouches) << " bytes per re-arm)\n";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 1000 + kTouches);
  EXPECT_EQ(s.timers_cancelled, 1000 + kTouches);
  expect_settled(s);
  // Piled up, they would hold some 56 bytes each: 22 MB for 400,000.
  if (!kUnderTsan) {
    EXPECT_LT(grown, 4u << 20) << "cancelled timers pile up in their holder";
  }
}

/// The same from outside the pool: a thread that re-arms long timeouts (cancel, then
/// send_after) hands each new timer to its holder's incoming list; the holder must drop
/// the cancelled ones it takes in, though it makes no timer itself.
TEST(PoolTimers, ReArmingALongTimeoutFromOutsideThePoolDoesNotPileUpCancelledTimers) {
  const std::uint64_t kReArms = kUnderTsan ? 20'000 : 400'000;
  TallyLog log;
  auto pool = create_pool<Tally>(PoolConfig().with_num_workers(1), each_worker_gets<Tally>(&log));
  ASSERT_NE(pool, nullptr);
  std::array<TimerId, 4> ids{};
  auto rearm = [&](std::uint64_t i) {
    TimerId& id = ids[i % ids.size()];
    if (id.valid()) {
      EXPECT_TRUE(pool->cancel(id));
    }
    id = pool->send_after(absl::Hours(1), i % ids.size(), Note{});
    EXPECT_TRUE(id.valid());
  };
  for (std::uint64_t i = 0; i < 1000; ++i) rearm(i);  // warm up
  absl::SleepFor(absl::Milliseconds(20));
  const std::uint64_t rss_before = resident_bytes();
  std::uint64_t pings = 0;
  for (std::uint64_t i = 0; i < kReArms; ++i) {
    rearm(i);
    // Keep this thread from running far ahead of the holder, which takes the timers in
    // (and drops the cancelled ones) in the iteration that handles the ping.
    if (i % 4096 == 4095) {
      ASSERT_EQ(pool->send(0, Note{Note::fire, 0, 0, 0, 0, 1}), SendResult::ok);
      ++pings;
      ASSERT_TRUE(wait_until([&] { return log.periodic.load() == pings; }));
    }
  }
  absl::SleepFor(absl::Milliseconds(20));
  const std::uint64_t rss_after = resident_bytes();
  const std::uint64_t grown = rss_after > rss_before ? rss_after - rss_before : 0;
  std::cout << "[ timers   ] " << kReArms << " re-arms from outside the pool of 4 one-hour timeouts: resident set +"
            << grown / 1024 << " KiB (" << static_cast<double>(grown) / static_cast<double>(kReArms)
            << " bytes per re-arm)\n";
  EXPECT_EQ(pool->stats().timers_pending, 4u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timers_scheduled, 1000 + kReArms);
  EXPECT_EQ(s.timers_cancelled, 1000 + kReArms);
  expect_settled(s);
  if (!kUnderTsan) {
    EXPECT_LT(grown, 4u << 20) << "cancelled timers made outside the pool pile up in their holder";
  }
}

}  // namespace
}  // namespace sn::test
