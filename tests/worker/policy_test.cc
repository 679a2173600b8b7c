// Full queues: what external sends and worker-to-worker sends do under each FullPolicy,
// and the ring of workers that must not deadlock when every lane is full. A worker is
// made to stay busy by a Gate its handler waits on, so "full" is reached by counting,
// never by timing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

// ---------------------------------------------------------------- external sends

struct HoldLog {
  Gate gate;
  std::atomic<std::uint64_t> handled{0};
};

/// Waits on the gate in every message; the payload type is the test's.
template <class M>
struct Holder : Worker<Empty, M> {
  explicit Holder(HoldLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<M>) {
    log_->gate.wait();
    log_->handled.fetch_add(1, std::memory_order_release);
  }
  HoldLog* log_;
};

using UniqueHolder = Holder<std::unique_ptr<int>>;
using SharedHolder = Holder<std::shared_ptr<int>>;

TEST(FullPolicy, UnderFailAFullInboxRefusesWithFullAndLeavesTheValueWithTheCaller) {
  constexpr std::size_t kCapacity = 4;
  HoldLog log;
  const PoolConfig config =
      PoolConfig().with_num_workers(1).with_queue_capacity(kCapacity).with_full_policy(FullPolicy::fail);
  auto pool = create_pool<UniqueHolder>(config, each_worker_gets<UniqueHolder>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, std::make_unique<int>(0)), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered(1));

  std::uint64_t oks = 0;
  SendResult refused = SendResult::ok;
  std::unique_ptr<int> value;
  for (int v = 1; v <= 100; ++v) {
    value = std::make_unique<int>(v);
    refused = pool->send_to(0, std::move(value));
    if (refused != SendResult::ok) break;
    ++oks;
  }
  EXPECT_EQ(refused, SendResult::full);
  EXPECT_LE(oks, kCapacity);
  ASSERT_NE(value, nullptr) << "a send refused as full must hand the value back";
  EXPECT_EQ(*value, static_cast<int>(oks) + 1);
  EXPECT_EQ(pool->send(3, std::move(value)), SendResult::full) << "still full while the worker is stuck";
  EXPECT_NE(value, nullptr);

  log.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, oks + 1);
  EXPECT_EQ(s.rejected, 2u);
  EXPECT_EQ(s.dropped, 0u);
  expect_balanced(s);
}

TEST(FullPolicy, APerWorkerQueueCapacityIsHonoured) {
  HoldLog log;
  const PoolConfig config = PoolConfig()
                                .with_num_workers(2)
                                .with_queue_capacity(64)
                                .with_full_policy(FullPolicy::fail)
                                .with_worker(0, WorkerConfig().with_queue_capacity(2));
  auto pool = create_pool<UniqueHolder>(config, each_worker_gets<UniqueHolder>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, std::make_unique<int>(0)), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered(1));
  std::uint64_t oks = 0;
  while (oks < 100 && pool->send_to(0, std::make_unique<int>(1)) == SendResult::ok) ++oks;
  EXPECT_LE(oks, 2u) << "worker 0's inbox took more than its own capacity of 2";
  log.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_balanced(pool->stats());
}

TEST(FullPolicy, UnderDropAFullInboxDestroysTheValueAndCountsItAsDropped) {
  constexpr std::size_t kCapacity = 4;
  HoldLog log;
  const PoolConfig config =
      PoolConfig().with_num_workers(1).with_queue_capacity(kCapacity).with_full_policy(FullPolicy::drop);
  auto pool = create_pool<SharedHolder>(config, each_worker_gets<SharedHolder>(&log));
  ASSERT_NE(pool, nullptr);
  const auto token = std::make_shared<int>(5);
  ASSERT_EQ(pool->send_to(0, std::shared_ptr<int>(token)), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered(1));

  std::uint64_t oks = 0;
  SendResult r = SendResult::ok;
  while (oks < 100 && (r = pool->send_to(0, std::shared_ptr<int>(token))) == SendResult::ok) ++oks;
  EXPECT_EQ(r, SendResult::dropped);
  EXPECT_LE(oks, kCapacity);
  // Owners now: the test, the message in the handler and the queued ones; not the dropped one.
  EXPECT_EQ(token.use_count(), static_cast<long>(oks) + 2) << "a dropped value must be destroyed, not kept";
  constexpr std::uint64_t kMoreDrops = 5;
  for (std::uint64_t i = 0; i < kMoreDrops; ++i) {
    EXPECT_EQ(pool->send(i, std::shared_ptr<int>(token)), SendResult::dropped);
  }
  EXPECT_EQ(pool->stats().dropped, 1 + kMoreDrops);

  log.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, oks + 1);
  EXPECT_EQ(s.dropped, 1 + kMoreDrops);
  EXPECT_EQ(s.accepted, oks + 1 + 1 + kMoreDrops) << "drops under FullPolicy::drop count as accepted";
  EXPECT_EQ(s.rejected, 0u);
  expect_balanced(s);
  EXPECT_EQ(token.use_count(), 1) << "every copy that went through the pool was destroyed";
}

TEST(FullPolicy, UnderBlockASendWaitsUntilTheWorkerDrains) {
  constexpr std::size_t kCapacity = 2;
  constexpr int kSends = 10;
  HoldLog log;
  const PoolConfig config = PoolConfig()
                                .with_num_workers(1)
                                .with_queue_capacity(kCapacity)
                                .with_full_policy(FullPolicy::block)
                                .with_wait_policy(WaitPolicy::park_immediately());
  auto pool = create_pool<UniqueHolder>(config, each_worker_gets<UniqueHolder>(&log));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, std::make_unique<int>(0)), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered(1));

  std::atomic<int> oks{0};
  std::atomic<int> attempts{0};
  std::atomic<bool> done{false};
  std::thread sender([&] {
    for (int v = 1; v <= kSends; ++v) {
      attempts.fetch_add(1);
      if (pool->send_to(0, std::make_unique<int>(v)) == SendResult::ok) oks.fetch_add(1);
    }
    done.store(true, std::memory_order_release);
  });
  // The worker is stuck, so the inbox cannot take all kSends: the sender must be waiting.
  ASSERT_TRUE(wait_until([&] { return attempts.load() > oks.load() && oks.load() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // gives a wrong return time to happen
  EXPECT_FALSE(done.load()) << "the sends returned while the worker could not drain";
  EXPECT_LE(oks.load(), static_cast<int>(kCapacity));

  log.gate.open();
  sender.join();
  EXPECT_EQ(oks.load(), kSends) << "every blocked send must succeed once the worker drains";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, static_cast<std::uint64_t>(kSends) + 1);
  EXPECT_EQ(s.rejected, 0u);
  expect_balanced(s);
}

// ---------------------------------------------------------------- worker-to-worker sends

/// Worker 1 holds on an external `hold` message; worker 0, given an external `burst`,
/// sends `burst_size` numbered messages to worker 1 and records what each send returned.
struct Pass {
  enum Kind : std::uint8_t { hold, burst, item } kind = item;
  std::uint64_t n = 0;
  std::unique_ptr<int> body;  // move-only: refused sends must hand it back
};

struct PassLog {
  Gate gate;
  std::uint64_t burst_size = 0;
  std::vector<SendResult> results;  // worker 0 only, read after burst_done
  std::vector<bool> handed_back;    // worker 0 only
  std::size_t outbox_after_burst = 0;
  std::atomic<bool> burst_done{false};
  std::vector<std::uint64_t> received;  // worker 1 only, read after shutdown
  std::atomic<std::uint64_t> items{0};  // received.size(), for the test to poll
  std::atomic<std::uint64_t> out_of_order{0};
};

struct Passer : Worker<Empty, Pass> {
  explicit Passer(PassLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<Pass> e) {
    switch (e.payload.kind) {
      case Pass::hold: log_->gate.wait(); return;
      case Pass::burst:
        for (std::uint64_t i = 0; i < log_->burst_size; ++i) {
          Pass p{Pass::item, i, std::make_unique<int>(static_cast<int>(i))};
          const SendResult r = context().send_to(1, std::move(p));
          log_->results.push_back(r);
          log_->handed_back.push_back(p.body != nullptr && *p.body == static_cast<int>(i));
        }
        log_->outbox_after_burst = context().outbox_size();
        log_->burst_done.store(true, std::memory_order_release);
        return;
      case Pass::item:
        if (e.payload.n != log_->received.size() || !e.source.is_worker() || e.source.worker_index() != 0) {
          log_->out_of_order.fetch_add(1);
        }
        log_->received.push_back(e.payload.n);
        log_->items.fetch_add(1, std::memory_order_release);
        return;
    }
  }
  PassLog* log_;
};

/// Holds worker 1, then has worker 0 send a burst into the 2-slot lane between them.
/// The workers park as soon as they are idle, so that worker 0, owing messages to the
/// full lane, sleeps until worker 1 wakes it.
std::unique_ptr<WorkerPool<Passer>> start_burst(PassLog& log, FullPolicy policy, std::uint64_t burst) {
  log.burst_size = burst;
  const PoolConfig config =
      PoolConfig().with_num_workers(2).with_mesh_capacity(2).with_full_policy(policy).with_wait_policy(
          WaitPolicy::park_immediately());
  auto pool = create_pool<Passer>(config, each_worker_gets<Passer>(&log));
  if (pool == nullptr) return nullptr;
  EXPECT_EQ(pool->send_to(1, Pass{Pass::hold, 0, nullptr}), SendResult::ok);
  EXPECT_TRUE(log.gate.wait_until_entered(1));
  EXPECT_EQ(pool->send_to(0, Pass{Pass::burst, 0, nullptr}), SendResult::ok);
  EXPECT_TRUE(wait_until([&] { return log.burst_done.load(std::memory_order_acquire); }));
  return pool;
}

TEST(FullPolicy, UnderFailAWorkerSendIntoAFullLaneReturnsFullAndKeepsTheValue) {
  PassLog log;
  auto pool = start_burst(log, FullPolicy::fail, 3);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(log.results.size(), 3u);
  EXPECT_EQ(log.results[0], SendResult::ok);
  EXPECT_EQ(log.results[1], SendResult::ok);
  EXPECT_EQ(log.results[2], SendResult::full);
  EXPECT_TRUE(log.handed_back[2]) << "a worker send refused as full must hand the value back";
  log.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.received, (std::vector<std::uint64_t>{0, 1}));
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.workers[0].rejected, 1u);
  EXPECT_EQ(s.workers[0].sent, 2u);
  expect_balanced(s);
}

TEST(FullPolicy, UnderDropAWorkerSendIntoAFullLaneIsDroppedAndCounted) {
  PassLog log;
  auto pool = start_burst(log, FullPolicy::drop, 5);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(log.results.size(), 5u);
  EXPECT_EQ(log.results[0], SendResult::ok);
  EXPECT_EQ(log.results[1], SendResult::ok);
  for (std::size_t i = 2; i < 5; ++i) EXPECT_EQ(log.results[i], SendResult::dropped) << i;
  log.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.received, (std::vector<std::uint64_t>{0, 1}));
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.workers[1].dropped, 3u) << "drops count at the destination";
  EXPECT_EQ(s.dropped, 3u);
  expect_balanced(s);
}

TEST(FullPolicy, UnderBlockAWorkerSendNeverWaitsAndTheOutboxKeepsTheOrder) {
  constexpr std::uint64_t kBurst = 50;
  PassLog log;
  auto pool = start_burst(log, FullPolicy::block, kBurst);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(log.results.size(), kBurst);
  for (std::size_t i = 0; i < kBurst; ++i) EXPECT_EQ(log.results[i], SendResult::ok) << i;
  EXPECT_EQ(log.outbox_after_burst, kBurst - 2) << "what did not fit into the 2-slot lane waits in the outbox";
  // While worker 1 is stuck, the outbox shows in worker 0's queue depth. The burst
  // message itself counts as queued until worker 0 ends its batch and publishes what it
  // took from its inbox, which may be just after burst_done is set: wait for that.
  EXPECT_TRUE(wait_until([&] { return pool->stats().workers[0].queue_depth == kBurst - 2; }))
      << "queue depth " << pool->stats().workers[0].queue_depth << ", expected the outbox's " << kBurst - 2;
  log.gate.open();
  // Worker 0 is asleep with its outbox full; only worker 1 freeing the lane can wake it.
  EXPECT_TRUE(wait_for_progress([&] { return log.items.load(std::memory_order_acquire); }, kBurst))
      << "worker 0 was not woken to deliver its outbox: " << log.items.load() << " of " << kBurst;
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  ASSERT_EQ(log.received.size(), kBurst);
  EXPECT_EQ(log.out_of_order.load(), 0u) << "the outbox must deliver in order";
  expect_balanced(pool->stats());
}

// ---------------------------------------------------------------- deadlock

/// A message that goes round the ring of workers `hops_left` more times. An external
/// one instead seeds `fan_out` ring messages at once, more than a lane holds, so that
/// every lane of the ring is full and every worker has an outbox.
struct Lap {
  std::uint32_t hops_left = 0;
  std::uint32_t fan_out = 0;
};

struct RingLog {
  explicit RingLog(std::size_t n) : hops(n, 0), max_outbox(n, 0) {}
  std::vector<std::uint64_t> hops;      // [i] written by worker i only
  std::vector<std::size_t> max_outbox;  // [i] written by worker i only
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> progress{0};
};

struct RingWorker : Worker<Empty, Lap> {
  RingWorker(RingLog* log, std::uint32_t hops) : log_(log), hops_(hops) {}
  void handle_message(Empty&, Envelope<Lap> e) {
    const std::size_t me = context().index();
    const std::size_t next = (me + 1) % context().pool_size();
    if (e.payload.fan_out != 0) {
      for (std::uint32_t k = 0; k < e.payload.fan_out; ++k) forward(next, Lap{hops_, 0});
    } else if (e.payload.hops_left == 0) {
      log_->completed.fetch_add(1, std::memory_order_relaxed);
    } else {
      ++log_->hops[me];
      forward(next, Lap{e.payload.hops_left - 1, 0});
    }
    log_->max_outbox[me] = std::max(log_->max_outbox[me], context().outbox_size());
  }
  void tick(Empty&) { log_->progress.fetch_add(1, std::memory_order_relaxed); }
  void forward(std::size_t to, Lap lap) {
    if (context().send_to(to, std::move(lap)) != SendResult::ok) log_->refused.fetch_add(1);
  }
  RingLog* log_;
  std::uint32_t hops_;
};

/// Runs a ring of 3 workers with 2-slot lanes and 2-slot inboxes under FullPolicy::block:
/// producers send seeds, each seed puts `fan_out` messages of `hops` hops into the ring.
/// Fails (instead of hanging) if the ring stops moving.
void run_full_ring(WaitPolicy wait, std::uint32_t fan_out, std::uint64_t seeds_per_producer, std::uint32_t hops) {
  constexpr std::size_t kWorkers = 3;
  constexpr int kProducers = 2;
  RingLog log(kWorkers);
  const PoolConfig config = PoolConfig()
                                .with_num_workers(kWorkers)
                                .with_mesh_capacity(2)
                                .with_queue_capacity(2)
                                .with_wait_policy(wait)
                                .with_full_policy(FullPolicy::block);
  auto pool = create_pool<RingWorker>(config, [&](std::size_t) { return std::make_unique<RingWorker>(&log, hops); });
  ASSERT_NE(pool, nullptr);

  std::vector<std::thread> producers;
  std::atomic<std::uint64_t> accepted{0};
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < seeds_per_producer; ++i) {
        // Blocks while the inboxes are full: the workers stop taking external messages
        // while their outboxes hold anything.
        if (pool->send(i * kProducers + static_cast<std::uint64_t>(p), Lap{0, fan_out}) == SendResult::ok) {
          accepted.fetch_add(1);
        }
      }
    });
  }
  const std::uint64_t expected = kProducers * seeds_per_producer * fan_out;
  const bool finished = wait_for_progress([&] { return log.completed.load(std::memory_order_relaxed); }, expected);
  if (!finished) {
    ADD_FAILURE() << "the ring stopped moving: " << log.completed.load() << " of " << expected
                  << " messages completed (deadlock or lost wake-up)";
    (void)pool->stop();  // wakes blocked producers with `closed`
  }
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(finished);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  EXPECT_EQ(accepted.load(), kProducers * seeds_per_producer);
  EXPECT_EQ(log.completed.load(), expected);
  std::uint64_t hop_total = 0;
  std::size_t deepest = 0;
  for (std::size_t i = 0; i < kWorkers; ++i) {
    hop_total += log.hops[i];
    deepest = std::max(deepest, log.max_outbox[i]);
  }
  EXPECT_EQ(hop_total, expected * hops);
  EXPECT_EQ(log.refused.load(), 0u);
  // Each seed sends fan_out messages into a 2-slot lane from one handler call, so the
  // outboxes fill unless the next worker drains the lane between every two sends.
  EXPECT_GT(deepest, 0u) << "the lanes never filled: the test did not exercise the outbox";
  expect_balanced(pool->stats());
}

TEST(FullPolicy, ARingOfWorkersWithEveryQueueFullDoesNotDeadlock) {
  // Workers that park at once: every outbox wake-up goes through the doorbell handshake
  // (the consumer that frees room in a lane wakes the worker that owes into it).
  run_full_ring(WaitPolicy::park_immediately(), 4, 3, kUnderTsan ? 250 : 1000);
}

TEST(FullPolicy, ARingOfSpinningWorkersWithEveryQueueFullDoesNotDeadlock) {
  // The default wait policy spins before it parks; with three workers on fewer cores
  // the spinning slows the ring down, so it carries fewer messages.
  run_full_ring(WaitPolicy{}, 3, 2, kUnderTsan ? 100 : 1000);
}

}  // namespace
}  // namespace sn::test
