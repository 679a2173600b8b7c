// Workers that take each iteration's messages through handle_batch.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct BatchLog {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> sum{0};
  std::atomic<std::size_t> largest{0};
  std::atomic<bool> out_of_order{false};
};

struct Tally {
  std::uint64_t last_sequence = 0;
  bool any = false;
};

struct Batcher : Worker<Tally, std::uint64_t> {
  explicit Batcher(BatchLog* log) : log_(log) {}
  void handle_batch(Tally& t, std::span<Envelope<std::uint64_t>> batch) {
    log_->calls.fetch_add(1);
    log_->messages.fetch_add(batch.size());
    std::size_t seen = log_->largest.load();
    while (batch.size() > seen && !log_->largest.compare_exchange_weak(seen, batch.size())) {
    }
    for (const Envelope<std::uint64_t>& e : batch) {
      log_->sum.fetch_add(e.payload);
      // One external producer: the inbox lane's sequence numbers must rise by one.
      if (t.any && *e.sequence != t.last_sequence + 1) log_->out_of_order.store(true);
      t.last_sequence = *e.sequence;
      t.any = true;
    }
  }
  BatchLog* log_;
};

TEST(WorkerBatches, EveryMessageArrivesOnceInOrderInBatchesNoLargerThanTheBatchSize) {
  constexpr std::uint64_t kMessages = 20000;
  constexpr std::size_t kBatch = 16;
  BatchLog log;
  auto pool = create_pool<Batcher>(
      PoolConfig().with_num_workers(1).with_batch_size(kBatch).with_queue_capacity(64).with_sequence_numbers(true),
      each_worker_gets<Batcher>(&log));
  ASSERT_NE(pool, nullptr);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 1; i <= kMessages; ++i) {
    ASSERT_EQ(pool->send(i, std::uint64_t{i}), SendResult::ok);
    sum += i;
  }
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.messages.load(), kMessages);
  EXPECT_EQ(log.sum.load(), sum);
  EXPECT_LE(log.largest.load(), kBatch);
  EXPECT_GE(log.largest.load(), 1u);
  EXPECT_FALSE(log.out_of_order.load());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, kMessages);
  EXPECT_EQ(s.batches, log.calls.load());
  expect_balanced(s);
}

struct FailingBatcher : Worker<Tally, std::uint64_t> {
  absl::Status handle_batch(Tally&, std::span<Envelope<std::uint64_t>> batch) {
    for (const Envelope<std::uint64_t>& e : batch) {
      if (e.payload == 7) throw std::runtime_error("seven");
      if (e.payload == 9) return absl::InternalError("nine");
    }
    return absl::OkStatus();
  }
};

TEST(WorkerBatches, AFailedBatchCountsEveryMessageInItAsFailed) {
  auto pool = create_pool<FailingBatcher>(PoolConfig().with_num_workers(1).with_batch_size(4),
                                          [](std::size_t) { return std::make_unique<FailingBatcher>(); });
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < 200; ++i) ASSERT_EQ(pool->send(0, std::uint64_t{i % 10}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed + s.failed, 200u);
  EXPECT_GE(s.failed, 40u);  // 40 messages are a 7 or a 9, and each fails its whole batch
  EXPECT_GT(s.processed, 0u);
  expect_balanced(s);
}

}  // namespace
}  // namespace sn::test
