// Bursts larger than a lane: one handler sends far more than the lane to its destination
// holds. Under FullPolicy::block the rest waits in the sender's outbox, which must deliver
// it complete and in order, start delivering while the handler still sends, report the
// most memory it held, and give that memory back once drained.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

struct Item {
  enum Kind : std::uint8_t { burst, hold, probe, item } kind = item;
  std::uint64_t n = 0;  // an item's number on its lane: 0, 1, 2, ...
};

constexpr std::size_t kMaxWorkers = 3;

/// What the test sets up before the pool starts, and what the workers report.
struct BurstLog {
  // ---- set before the pool starts.
  std::uint64_t burst = 0;           // items worker 0 sends on a `burst`
  std::vector<std::size_t> targets;  // item i goes to targets[i % targets.size()]
  std::uint64_t overlap_target = 0;  // when set: send until worker 1 has this many, instead of `burst`
  // ---- worker 0, read after burst_done.
  std::atomic<bool> burst_done{false};
  std::uint64_t refused = 0;          // sends that did not return ok
  std::uint64_t sent = 0;             // items sent
  bool overlapped = false;            // worker 1 reached overlap_target while the handler sent
  std::size_t heap_before_burst = 0;  // worker 0's heap in use
  std::atomic<std::size_t> heap_after_drain{0};
  // ---- the receivers.
  Gate gate;  // worker 1 holds on `hold` until it opens
  std::atomic<std::uint64_t> received[kMaxWorkers]{};
  std::atomic<std::uint64_t> out_of_order{0};
};

struct Burster : Worker<Empty, Item> {
  explicit Burster(BurstLog* log) : log_(log) {}

  void handle_message(Empty&, Envelope<Item> e) {
    switch (e.payload.kind) {
      case Item::burst: return log_->overlap_target != 0 ? send_until_overlap() : send_burst();
      case Item::hold: log_->gate.wait(); return;
      case Item::probe: log_->heap_after_drain.store(context().heap().used_bytes()); return;
      case Item::item: return take(e);
    }
  }

 private:
  void send_burst() {
    log_->heap_before_burst = context().heap().used_bytes();
    std::vector<std::uint64_t> next(kMaxWorkers, 0);
    for (std::uint64_t i = 0; i < log_->burst; ++i) send_item(log_->targets[i % log_->targets.size()], next);
    log_->burst_done.store(true, std::memory_order_release);
  }

  /// Sends to worker 1 until it has taken overlap_target items, pausing now and then so
  /// that a failure does not fill the memory; gives up after the stall limit.
  void send_until_overlap() {
    std::vector<std::uint64_t> next(kMaxWorkers, 0);
    const absl::Time give_up = absl::Now() + stall_limit();
    while (absl::Now() < give_up) {
      for (int k = 0; k < 64; ++k) send_item(1, next);
      if (log_->received[1].load(std::memory_order_acquire) >= log_->overlap_target) {
        log_->overlapped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    log_->burst_done.store(true, std::memory_order_release);
  }

  void send_item(std::size_t to, std::vector<std::uint64_t>& next) {
    if (context().send_to(to, Item{Item::item, next[to]++}) != SendResult::ok) ++log_->refused;
    ++log_->sent;
  }

  void take(const Envelope<Item>& e) {
    std::atomic<std::uint64_t>& count = log_->received[context().index()];
    if (e.payload.n != count.load(std::memory_order_relaxed) || e.source.worker_index() != 0) {
      log_->out_of_order.fetch_add(1);
    }
    count.fetch_add(1, std::memory_order_release);
  }

  BurstLog* log_;
};

PoolConfig small_lanes(std::size_t workers, std::size_t lane) {
  return PoolConfig().with_num_workers(workers).with_mesh_capacity(lane).with_full_policy(FullPolicy::block);
}

/// Starts worker 0's burst and waits until its handler returned.
void start_burst(WorkerPool<Burster>& pool, BurstLog& log) {
  ASSERT_EQ(pool.send_to(0, Item{Item::burst, 0}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.burst_done.load(std::memory_order_acquire); }));
}

/// Waits until every target has taken its share of the burst, in order.
void expect_delivered_in_order(BurstLog& log) {
  std::vector<std::uint64_t> share(kMaxWorkers, 0);
  for (std::uint64_t i = 0; i < log.sent; ++i) ++share[log.targets[i % log.targets.size()]];
  for (std::size_t j = 0; j < kMaxWorkers; ++j) {
    EXPECT_TRUE(wait_for_progress([&] { return log.received[j].load(std::memory_order_acquire); }, share[j]))
        << "worker " << j << " took " << log.received[j].load() << " of " << share[j];
    EXPECT_EQ(log.received[j].load(), share[j]) << "worker " << j;
  }
  EXPECT_EQ(log.out_of_order.load(), 0u) << "each lane must deliver in the order sent";
  EXPECT_EQ(log.refused, 0u) << "under FullPolicy::block a worker's send is always accepted";
}

TEST(BurstsLargerThanALane, AHundredThousandMessagesThroughAnEightSlotLaneArriveCompleteAndInOrder) {
  BurstLog log;
  log.burst = 100'000;
  log.targets = {1};
  auto pool = create_pool<Burster>(small_lanes(2, 8), each_worker_gets<Burster>(&log));
  ASSERT_NE(pool, nullptr);
  start_burst(*pool, log);
  expect_delivered_in_order(log);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.workers[0].sent, log.burst);
  EXPECT_EQ(s.workers[1].processed, log.burst);
  expect_balanced(s);
}

TEST(BurstsLargerThanALane, OneHandlerFillingTwoLanesKeepsEachLaneInOrder) {
  BurstLog log;
  log.burst = 50'000;
  log.targets = {1, 2, 2, 1, 1};  // uneven, so that the two backlogs fill and drain apart
  auto pool = create_pool<Burster>(small_lanes(3, 8), each_worker_gets<Burster>(&log));
  ASSERT_NE(pool, nullptr);
  start_burst(*pool, log);
  expect_delivered_in_order(log);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_balanced(pool->stats());
}

TEST(BurstsLargerThanALane, TheReceiverTakesPartOfABurstWhileTheHandlerStillSends) {
  BurstLog log;
  log.targets = {1};
  log.overlap_target = 64;  // sixteen times the lane: only a handler that moves its backlog gets there
  auto pool = create_pool<Burster>(small_lanes(2, 4), each_worker_gets<Burster>(&log));
  ASSERT_NE(pool, nullptr);
  start_burst(*pool, log);
  EXPECT_TRUE(log.overlapped) << "worker 1 took only " << log.received[1].load()
                              << " items while worker 0's handler kept sending";
  expect_delivered_in_order(log);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_balanced(pool->stats());
}

TEST(BurstsLargerThanALane, TheOutboxReportsItsPeakMemoryAndGivesItBackOnceDrained) {
  constexpr std::uint64_t kBurst = 20'000;
  constexpr std::size_t kLane = 16;
  BurstLog log;
  log.burst = kBurst;
  log.targets = {1};
  auto pool = create_pool<Burster>(small_lanes(2, kLane), each_worker_gets<Burster>(&log));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->stats().outbox_peak_bytes, 0u);
  // Worker 1 holds, so all but a lane's worth of the burst waits in worker 0's outbox.
  ASSERT_EQ(pool->send_to(1, Item{Item::hold, 0}), SendResult::ok);
  ASSERT_TRUE(log.gate.wait_until_entered(1));
  start_burst(*pool, log);
  const PoolStats held = pool->stats();
  const std::uint64_t waiting = kBurst - kLane;
  EXPECT_GE(held.workers[0].outbox_peak_bytes, waiting * sizeof(Item)) << "the peak must cover what waits";
  EXPECT_LE(held.workers[0].outbox_peak_bytes, waiting * (sizeof(Item) + 32) + 64 * 1024)
      << "the outbox must not hold much more than what waits";
  EXPECT_EQ(held.workers[1].outbox_peak_bytes, 0u) << "worker 1 sent nothing";
  EXPECT_EQ(held.outbox_peak_bytes, held.workers[0].outbox_peak_bytes) << "the pool's is the workers' sum";

  log.gate.open();
  expect_delivered_in_order(log);
  // The inbox waits while the outbox owes: the probe runs once it has drained.
  ASSERT_EQ(pool->send_to(0, Item{Item::probe, 0}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return log.heap_after_drain.load() != 0; }));
  EXPECT_LE(log.heap_after_drain.load(), log.heap_before_burst + 1024)
      << "a drained outbox must give its chunks back to the worker's heap";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats after = pool->stats();
  EXPECT_EQ(after.workers[0].outbox_peak_bytes, held.workers[0].outbox_peak_bytes) << "a peak stays";
  expect_balanced(after);
}

}  // namespace
}  // namespace sn::test
