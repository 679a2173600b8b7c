// A running pool: routing by key and by index, each worker's State on its own thread and
// heap, what an Envelope carries, tick(), and statistics read while the pool works.
// Every wait is bounded (worker_test_support.h), so a lost message fails the test.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/partitioners/hash.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

// ---------------------------------------------------------------- routing

/// What each worker saw, written only by that worker and read after shutdown() (whose
/// join orders it before the test's reads).
struct RouteLog {
  explicit RouteLog(std::size_t n) : per_worker(n) {}
  struct Seen {
    std::size_t worker;
    std::uint64_t key;
    std::uint64_t payload;
  };
  std::vector<std::vector<Seen>> per_worker;
};

struct Router : Worker<Empty, std::uint64_t> {
  explicit Router(RouteLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    log_->per_worker[context().index()].push_back({context().index(), e.key, e.payload});
  }
  RouteLog* log_;
};

TEST(WorkerPool, SameKeyAlwaysReachesTheSameWorker) {
  constexpr std::size_t kWorkers = 4;
  constexpr std::uint64_t kKeys = 1000;
  constexpr int kRounds = 3;
  RouteLog log(kWorkers);
  auto pool = create_pool<Router>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Router>(&log));
  ASSERT_NE(pool, nullptr);
  for (int round = 0; round < kRounds; ++round) {
    for (std::uint64_t key = 0; key < kKeys; ++key) ASSERT_EQ(pool->send(key, key * 10 + 1), SendResult::ok);
  }
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  std::map<std::uint64_t, std::set<std::size_t>> owners;
  std::map<std::uint64_t, int> copies;
  for (const auto& seen : log.per_worker) {
    for (const RouteLog::Seen& s : seen) {
      owners[s.key].insert(s.worker);
      ++copies[s.key];
      EXPECT_EQ(s.payload, s.key * 10 + 1) << "the envelope's key does not belong to its payload";
    }
  }
  ASSERT_EQ(owners.size(), kKeys);
  for (const auto& [key, workers] : owners) {
    ASSERT_EQ(workers.size(), 1u) << "key " << key << " reached " << workers.size() << " workers";
    EXPECT_EQ(*workers.begin(), HashPartitioner{}(key, kWorkers)) << "key " << key;
    EXPECT_EQ(copies[key], kRounds) << "key " << key;
  }
}

TEST(WorkerPool, ACustomPartitionerIsHonoured) {
  constexpr std::size_t kWorkers = 3;
  RouteLog log(kWorkers);
  const std::uint64_t offset = 1;  // captured: partitioners may carry state
  auto by_key = [offset](std::uint64_t key, std::size_t n) { return static_cast<std::size_t>((key + offset) % n); };
  auto pool = create_pool<Router>(PoolConfig().with_num_workers(kWorkers), by_key, each_worker_gets<Router>(&log));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t key = 0; key < 300; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  std::size_t total = 0;
  for (std::size_t w = 0; w < kWorkers; ++w) {
    for (const RouteLog::Seen& s : log.per_worker[w]) EXPECT_EQ(w, (s.key + 1) % kWorkers) << "key " << s.key;
    total += log.per_worker[w].size();
  }
  EXPECT_EQ(total, 300u);
}

TEST(WorkerPool, SendToReachesTheWorkerWithThatIndex) {
  constexpr std::size_t kWorkers = 3;
  RouteLog log(kWorkers);
  auto pool = create_pool<Router>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Router>(&log));
  ASSERT_NE(pool, nullptr);
  for (int round = 0; round < 100; ++round) {
    for (std::size_t w = 0; w < kWorkers; ++w) ASSERT_EQ(pool->send_to(w, std::uint64_t{w}, 77), SendResult::ok);
  }
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  for (std::size_t w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(log.per_worker[w].size(), 100u) << "worker " << w;
    for (const RouteLog::Seen& s : log.per_worker[w]) {
      EXPECT_EQ(s.payload, w);
      EXPECT_EQ(s.key, 77u) << "send_to must pass the key it was given";
    }
  }
}

/// A move-only message: a refused send must hand the very object back.
struct Owned : Worker<Empty, std::unique_ptr<int>> {
  void handle_message(Empty&, Envelope<std::unique_ptr<int>>) {}
};

TEST(WorkerPool, SendToAWorkerThatDoesNotExistIsInvalidAndLeavesTheValueWithTheCaller) {
  auto pool = create_pool<Owned>(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  auto value = std::make_unique<int>(42);
  int* const address = value.get();
  EXPECT_EQ(pool->send_to(2, std::move(value)), SendResult::invalid);
  ASSERT_NE(value, nullptr) << "an invalid send must not take the value";
  EXPECT_EQ(value.get(), address);
  EXPECT_EQ(*value, 42);
  EXPECT_EQ(pool->send_to(static_cast<std::size_t>(-1), std::move(value)), SendResult::invalid);
  EXPECT_NE(value, nullptr);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.accepted, 0u);
  EXPECT_EQ(s.rejected, 2u);
  expect_balanced(s);
}

TEST(WorkerPool, APartitionerThatPicksNoWorkerMakesTheSendInvalid) {
  auto nowhere = [](std::uint64_t, std::size_t n) { return n; };
  auto pool = create_pool<Owned>(PoolConfig().with_num_workers(2), nowhere, [](std::size_t) { return Owned(); });
  ASSERT_NE(pool, nullptr);
  auto value = std::make_unique<int>(7);
  EXPECT_EQ(pool->send(5, std::move(value)), SendResult::invalid);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 7);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

TEST(WorkerPool, BroadcastReachesEveryWorkerExactlyOnce) {
  constexpr std::size_t kWorkers = 4;
  RouteLog log(kWorkers);
  auto pool = create_pool<Router>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Router>(&log));
  ASSERT_NE(pool, nullptr);
  const SendBatchResult r = pool->broadcast(std::uint64_t{99});
  EXPECT_EQ(r.count, kWorkers);
  EXPECT_EQ(r.status, SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  for (std::size_t w = 0; w < kWorkers; ++w) {
    ASSERT_EQ(log.per_worker[w].size(), 1u) << "worker " << w;
    EXPECT_EQ(log.per_worker[w][0].payload, 99u);
  }
  const SendBatchResult after = pool->broadcast(std::uint64_t{100});
  EXPECT_EQ(after.count, 0u);
  EXPECT_EQ(after.status, SendResult::closed);
}

/// Worker 0, given an external message, sends through the pool object itself (as code
/// shared between workers and outside callers might) and broadcasts through its context.
struct InsideLog {
  std::atomic<WorkerPool<struct Insider>*> pool{nullptr};
  std::vector<std::vector<std::size_t>> sources;  // [i]: source of each worker message worker i got
  std::vector<int> external;                      // [i]: external messages worker i got
  SendResult via_pool = SendResult::invalid;      // worker 0 only
  SendBatchResult via_broadcast{};                // worker 0 only
  explicit InsideLog(std::size_t n) : sources(n), external(n, 0) {}
};

struct Insider : Worker<Empty, int> {
  explicit Insider(InsideLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<int> e) {
    const std::size_t me = context().index();
    if (e.source.is_external()) {
      ++log_->external[me];
      // From a worker's thread, a pool send must go through this worker's context (it
      // must never block, and it comes from this worker, not from outside).
      log_->via_pool = log_->pool.load()->send_to(1, 10);
      log_->via_broadcast = context().broadcast(20);
      return;
    }
    log_->sources[me].push_back(e.source.worker_index());
  }
  InsideLog* log_;
};

TEST(WorkerPool, PoolSendsFromInsideAWorkerGoThroughItsContextAndBroadcastReachesEveryWorker) {
  constexpr std::size_t kWorkers = 3;
  InsideLog log(kWorkers);
  auto pool = create_pool<Insider>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Insider>(&log));
  ASSERT_NE(pool, nullptr);
  log.pool.store(pool.get());
  ASSERT_EQ(pool->send_to(0, 1), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.via_pool, SendResult::ok);
  EXPECT_EQ(log.via_broadcast.count, kWorkers);
  EXPECT_EQ(log.via_broadcast.status, SendResult::ok);
  EXPECT_EQ(log.external, (std::vector<int>{1, 0, 0})) << "the pool send from worker 0 came in as external";
  EXPECT_EQ(log.sources[0], (std::vector<std::size_t>{0})) << "a broadcast reaches its sender too";
  EXPECT_EQ(log.sources[1], (std::vector<std::size_t>{0, 0}));
  EXPECT_EQ(log.sources[2], (std::vector<std::size_t>{0}));
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.workers[0].sent, 1 + kWorkers);
  expect_balanced(s);
}

// ---------------------------------------------------------------- state

/// Where each worker's State was built and used; slot [i] is written only by worker i.
struct StateLog {
  explicit StateLog(std::size_t n)
      : init_thread(n), start_thread(n), state_address(n), misplaced(n, 0), handled(n, 0) {}
  std::vector<std::thread::id> init_thread, start_thread;
  std::vector<const void*> state_address;
  std::vector<int> misplaced;  // messages handled on another thread, or with the State outside the heap
  std::vector<int> handled;
};

struct Placed {
  std::size_t index = 0;
  std::thread::id built_on;
  std::uint64_t count = 0;
};

struct Homebody : Worker<Placed, std::uint64_t> {
  explicit Homebody(StateLog* log) : log_(log) {}
  Placed init() {
    log_->init_thread[context().index()] = std::this_thread::get_id();
    return Placed{context().index(), std::this_thread::get_id(), 0};
  }
  void on_start(Placed& s) {
    log_->start_thread[s.index] = std::this_thread::get_id();
    log_->state_address[s.index] = &s;
  }
  void handle_message(Placed& s, Envelope<std::uint64_t>) {
    const std::size_t i = context().index();
    ++s.count;
    ++log_->handled[i];
    if (s.index != i || s.built_on != std::this_thread::get_id() || !context().heap().owns(&s) ||
        log_->state_address[i] != &s) {
      ++log_->misplaced[i];
    }
  }
  StateLog* log_;
};

TEST(WorkerPool, EachWorkerBuildsItsOwnStateOnItsOwnThreadInItsOwnHeap) {
  constexpr std::size_t kWorkers = 3;
  StateLog log(kWorkers);
  auto pool = create_pool<Homebody>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Homebody>(&log));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t key = 0; key < 3000; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  std::set<std::thread::id> threads;
  std::set<const void*> states;
  int handled = 0;
  for (std::size_t i = 0; i < kWorkers; ++i) {
    EXPECT_NE(log.init_thread[i], std::thread::id()) << "init() did not run for worker " << i;
    EXPECT_NE(log.init_thread[i], std::this_thread::get_id()) << "worker " << i << " was built on the test's thread";
    EXPECT_EQ(log.start_thread[i], log.init_thread[i]) << "worker " << i;
    EXPECT_EQ(log.misplaced[i], 0) << "worker " << i;
    EXPECT_GT(log.handled[i], 0) << "worker " << i;
    handled += log.handled[i];
    threads.insert(log.init_thread[i]);
    states.insert(log.state_address[i]);
  }
  EXPECT_EQ(handled, 3000);
  EXPECT_EQ(threads.size(), kWorkers) << "two workers shared a thread";
  EXPECT_EQ(states.size(), kWorkers) << "two workers shared a State";
}

// ---------------------------------------------------------------- envelope

struct Note {
  int lane = 0;                    // which producer sent it: 0 external, 1 forwarded by worker 0
  std::uint64_t k = 0;             // its position in that producer's stream
  std::int64_t sent_after_ns = 0;  // steady clock read by the test before the send
};

struct EnvelopeLog {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> wrong_source{0};
  std::atomic<std::uint64_t> wrong_sequence{0};
  std::atomic<std::uint64_t> wrong_timestamp{0};
  std::atomic<std::uint64_t> forward_refused{0};
  bool expect_sequence = false;
  bool expect_timestamp = false;
};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Worker 0 forwards every external note to worker 1; both check what their envelopes say.
struct Inspector : Worker<Empty, Note> {
  explicit Inspector(EnvelopeLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<Note> e) {
    const std::size_t me = context().index();
    const bool external = e.payload.lane == 0;
    if (external ? !e.source.is_external() : !(e.source.is_worker() && e.source.worker_index() == 0)) {
      log_->wrong_source.fetch_add(1, std::memory_order_relaxed);
    }
    if (log_->expect_sequence ? (!e.sequence || *e.sequence != e.payload.k) : e.sequence.has_value()) {
      log_->wrong_sequence.fetch_add(1, std::memory_order_relaxed);
    }
    if (log_->expect_timestamp) {
      const std::int64_t stamped =
          e.sent_at ? std::chrono::duration_cast<std::chrono::nanoseconds>(e.sent_at->time_since_epoch()).count() : -1;
      // sent_at is kept to 32 ns (Envelope::sent_at), so it may fall up to 31 ns before
      // the test's own read ahead of the send; the slack absorbs that. A missing or
      // made-up stamp is off by far more.
      constexpr std::int64_t kSlackNs = 1'000'000;
      if (!e.sent_at || stamped < e.payload.sent_after_ns - kSlackNs || stamped > steady_ns() + kSlackNs) {
        log_->wrong_timestamp.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (e.sent_at.has_value()) {
      log_->wrong_timestamp.fetch_add(1, std::memory_order_relaxed);
    }
    if (me == 0 && external) {
      Note forwarded = e.payload;
      forwarded.lane = 1;
      forwarded.sent_after_ns = steady_ns();
      if (context().send_to(1, std::move(forwarded)) != SendResult::ok) {
        log_->forward_refused.fetch_add(1, std::memory_order_relaxed);
      }
    }
    log_->handled.fetch_add(1, std::memory_order_relaxed);
  }
  EnvelopeLog* log_;
};

/// Sends `n` notes 0..n-1 from the test's thread to worker 0 and to worker 1, so that
/// worker 1 has two lanes (its inbox and the lane from worker 0) each counting from 0.
void send_notes(WorkerPool<Inspector>& pool, std::uint64_t n) {
  for (std::uint64_t k = 0; k < n; ++k) {
    ASSERT_EQ(pool.send_to(0, Note{0, k, steady_ns()}), SendResult::ok);
    ASSERT_EQ(pool.send_to(1, Note{0, k, steady_ns()}), SendResult::ok);
  }
}

TEST(WorkerPool, PoolSendsComeFromOutsideAndContextSendsFromTheSendingWorker) {
  EnvelopeLog log;
  auto pool = create_pool<Inspector>(PoolConfig().with_num_workers(2), each_worker_gets<Inspector>(&log));
  ASSERT_NE(pool, nullptr);
  send_notes(*pool, 500);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.handled.load(), 1500u);
  EXPECT_EQ(log.wrong_source.load(), 0u);
  EXPECT_EQ(log.forward_refused.load(), 0u);
  EXPECT_EQ(log.wrong_sequence.load(), 0u) << "sequence numbers were set without being asked for";
  EXPECT_EQ(log.wrong_timestamp.load(), 0u) << "timestamps were set without being asked for";
}

TEST(WorkerPool, SequenceNumbersCountEachLaneFromZeroInOrder) {
  EnvelopeLog log;
  log.expect_sequence = true;
  // A two-slot mesh, so that many forwards wait in worker 0's outbox: order must hold there too.
  const PoolConfig config = PoolConfig().with_num_workers(2).with_mesh_capacity(2).with_sequence_numbers(true);
  auto pool = create_pool<Inspector>(config, each_worker_gets<Inspector>(&log));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t n = scaled(4000);
  send_notes(*pool, n);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.handled.load(), 3 * n);
  EXPECT_EQ(log.wrong_sequence.load(), 0u);
  EXPECT_EQ(log.wrong_source.load(), 0u);
}

TEST(WorkerPool, TimestampsAreSetWhenAskedFor) {
  EnvelopeLog log;
  log.expect_timestamp = true;
  auto pool =
      create_pool<Inspector>(PoolConfig().with_num_workers(2).with_timestamps(true), each_worker_gets<Inspector>(&log));
  ASSERT_NE(pool, nullptr);
  send_notes(*pool, 500);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.handled.load(), 1500u);
  EXPECT_EQ(log.wrong_timestamp.load(), 0u) << "sent_at missing, or outside [before the send, handling]";
}

// ---------------------------------------------------------------- tick

struct TickLog {
  std::atomic<std::uint64_t> ticks{0};
  std::atomic<std::uint64_t> handled{0};
};

struct Ticker : Worker<Empty, std::uint64_t> {
  explicit Ticker(TickLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<std::uint64_t>) {
    // Scratch from the arena: it must be usable in every iteration (reset after tick).
    std::span<std::uint64_t> scratch = context().arena().make_array<std::uint64_t>(32);
    scratch[31] = 1;
    log_->handled.fetch_add(scratch[31], std::memory_order_relaxed);
  }
  void tick(Empty&) { log_->ticks.fetch_add(1, std::memory_order_relaxed); }
  TickLog* log_;
};

TEST(WorkerPool, TickRunsAfterEveryBatchUnderLoad) {
  TickLog log;
  auto pool = create_pool<Ticker>(PoolConfig().with_num_workers(2).with_batch_size(8), each_worker_gets<Ticker>(&log));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t n = scaled(40000);
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_EQ(pool->send(i, std::uint64_t{i}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(log.handled.load(), n);
  EXPECT_EQ(s.processed, n);
  EXPECT_GT(s.batches, 0u);
  EXPECT_GE(s.batches, n / 8) << "a batch handled more than batch_size messages";
  EXPECT_EQ(s.ticks, log.ticks.load()) << "stats count ticks that never ran, or miss some";
  // Without idle_tick, a worker ticks exactly once per batch.
  EXPECT_EQ(s.ticks, s.batches);
}

TEST(WorkerPool, AnIdleWorkerDoesNotTickWithoutIdleTick) {
  TickLog log;
  auto pool = create_pool<Ticker>(PoolConfig().with_num_workers(2), each_worker_gets<Ticker>(&log));
  ASSERT_NE(pool, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // gives a wrong tick time to happen
  EXPECT_EQ(log.ticks.load(), 0u);
  ASSERT_EQ(pool->send_to(0, std::uint64_t{1}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.handled.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.ticks.load(), 1u) << "one message, one batch, one tick";
}

TEST(WorkerPool, AnIdleWorkerTicksWithIdleTick) {
  TickLog log;
  const PoolConfig config = PoolConfig().with_num_workers(2).with_idle_tick(absl::Milliseconds(1));
  auto pool = create_pool<Ticker>(config, each_worker_gets<Ticker>(&log));
  ASSERT_NE(pool, nullptr);
  // Nothing is sent: only the idle deadline can make tick() run.
  EXPECT_TRUE(wait_until([&] { return log.ticks.load() >= 20; })) << "ticks: " << log.ticks.load();
  EXPECT_EQ(log.handled.load(), 0u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.batches, 0u);
  EXPECT_EQ(s.ticks, log.ticks.load());
}

// ---------------------------------------------------------------- stats while running

struct Busy : Worker<Empty, std::uint64_t> {
  explicit Busy(std::atomic<std::uint64_t>* sum) : sum_(sum) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    sum_->fetch_add(e.payload, std::memory_order_relaxed);
    if (e.payload % 3 == 0) (void)context().send_to((context().index() + 1) % context().pool_size(), 1);
  }
  std::atomic<std::uint64_t>* sum_;
};

TEST(WorkerPool, StatsCanBeReadFromAnotherThreadWhileThePoolRuns) {
  constexpr std::size_t kWorkers = 2;
  constexpr int kProducers = 2;
  std::atomic<std::uint64_t> sum{0};
  auto pool =
      create_pool<Busy>(PoolConfig().with_num_workers(kWorkers).with_queue_capacity(64), each_worker_gets<Busy>(&sum));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t per_producer = scaled(20000);
  std::atomic<int> producing{kProducers};
  std::atomic<std::uint64_t> snapshots{0};
  std::atomic<std::uint64_t> violations{0};

  std::thread reader([&] {
    std::vector<std::uint64_t> last_processed(kWorkers, 0);
    std::uint64_t last_accepted = 0;
    while (producing.load(std::memory_order_acquire) > 0 || snapshots.load() < 10) {
      const PoolStats s = pool->stats();
      snapshots.fetch_add(1, std::memory_order_relaxed);
      // Counters only grow. (accepted >= processed + failed + dropped is not promised
      // for a live snapshot: a worker counts a send just after publishing it.)
      bool ok = s.workers.size() == kWorkers && s.running && s.accepted >= last_accepted;
      for (std::size_t w = 0; ok && w < kWorkers; ++w) {
        ok = s.workers[w].processed >= last_processed[w] && s.workers[w].index == w &&
             s.workers[w].ticks >= s.workers[w].batches - std::min<std::uint64_t>(s.workers[w].batches, 1);
        last_processed[w] = s.workers[w].processed;
      }
      last_accepted = s.accepted;
      if (!ok) violations.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::vector<std::thread> producers;
  std::atomic<std::uint64_t> sent_sum{0};
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::uint64_t mine = 0;
      for (std::uint64_t i = 1; i <= per_producer; ++i) {
        const std::uint64_t v = i * kProducers + static_cast<std::uint64_t>(p);
        if (pool->send(v, std::uint64_t{v}) == SendResult::ok) mine += v;
      }
      sent_sum.fetch_add(mine);
      producing.fetch_sub(1, std::memory_order_release);
    });
  }
  for (std::thread& t : producers) t.join();
  reader.join();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  EXPECT_GE(snapshots.load(), 10u);
  EXPECT_EQ(violations.load(), 0u) << "a snapshot went backwards or showed more done than accepted";
  const PoolStats s = pool->stats();
  EXPECT_FALSE(s.running);
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_EQ(s.failed + s.dropped, 0u);
  // Every external message plus one forward for each payload divisible by 3 (those add 1).
  EXPECT_GE(s.processed, kProducers * per_producer);
  EXPECT_EQ(sum.load(), sent_sum.load() + (s.processed - kProducers * per_producer));
  expect_balanced(s);
}

// ---------------------------------------------------------------- on_stop

struct StopLog {
  std::vector<int> stops;
  std::vector<SendResult> send_in_on_stop;
  explicit StopLog(std::size_t n) : stops(n, 0), send_in_on_stop(n, SendResult::ok) {}
};

struct Leaver : Worker<Empty, std::uint64_t> {
  explicit Leaver(StopLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<std::uint64_t>) {}
  void on_stop(Empty&) {
    ++log_->stops[context().index()];
    log_->send_in_on_stop[context().index()] = context().send_to(0, 1);
  }
  StopLog* log_;
};

TEST(WorkerPool, OnStopRunsOnceAndItsSendsAreRefused) {
  StopLog log(2);
  auto pool = create_pool<Leaver>(PoolConfig().with_num_workers(2), each_worker_gets<Leaver>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, 1), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  ASSERT_TRUE(pool->shutdown().ok());
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(log.stops[i], 1) << "worker " << i;
    EXPECT_EQ(log.send_in_on_stop[i], SendResult::closed) << "worker " << i;
  }
  expect_balanced(pool->stats());
}

TEST(WorkerPool, TheDestructorShutsDownGracefully) {
  std::atomic<std::uint64_t> sum{0};
  std::uint64_t expected = 0;
  {
    auto pool = create_pool<Busy>(PoolConfig().with_num_workers(2), each_worker_gets<Busy>(&sum));
    ASSERT_NE(pool, nullptr);
    for (std::uint64_t v = 1; v <= 1000; ++v) {
      ASSERT_EQ(pool->send(v, std::uint64_t{v}), SendResult::ok);
      expected += v + (v % 3 == 0 ? 1 : 0);
    }
  }
  EXPECT_EQ(sum.load(), expected);
}

}  // namespace
}  // namespace sn::test
