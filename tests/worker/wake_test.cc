// Waking a parked worker: every message sent to a parked worker is handled however the
// sends race its parking; a burst costs one futex wake per sleep, not one per message;
// a worker pinned beside its producer takes batches; and a waiter that keeps a runnable
// thread off its CPU stops spinning (sync::SpinHistory).
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sn/sync/spin.h"
#include "sn/topology/affinity.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

struct Totals {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> sum{0};
};

/// Adds every payload to the totals.
struct Summer : Worker<Empty, std::uint64_t> {
  explicit Summer(Totals* totals) : totals_(totals) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    totals_->sum.fetch_add(e.payload, std::memory_order_relaxed);
    totals_->handled.fetch_add(1, std::memory_order_release);
  }
  Totals* totals_;
};

std::unique_ptr<WorkerPool<Summer>> summing_pool(const PoolConfig& config, Totals& totals) {
  auto made = WorkerPool<Summer>::create(config, [&](std::size_t) { return std::make_unique<Summer>(&totals); });
  EXPECT_TRUE(made.ok()) << made.status();
  return made.ok() ? std::move(*made) : nullptr;
}

/// Sends 1 ... n to worker 0; false when a send was refused.
bool send_sequence(WorkerPool<Summer>& pool, std::uint64_t first, std::uint64_t n) {
  for (std::uint64_t v = first; v < first + n; ++v) {
    if (pool.send_to(0, std::uint64_t{v}) != SendResult::ok) return false;
  }
  return true;
}

std::uint64_t sum_of(std::uint64_t first, std::uint64_t n) { return (first + first + n - 1) * n / 2; }

TEST(WorkerWake, AWorkerWokenWhileABurstKeepsArrivingHandlesAllOfIt) {
  Totals totals;
  auto pool = summing_pool(PoolConfig().with_num_workers(1).with_wait_policy(WaitPolicy::park_immediately()), totals);
  ASSERT_NE(pool, nullptr);
  constexpr int kRounds = 20;
  constexpr int kSenders = 2;
  const std::uint64_t per_sender = scaled(20'000);
  std::uint64_t expected_sum = 0;
  std::uint64_t next = 1;
  for (int round = 0; round < kRounds; ++round) {
    // Let the worker park (it parks at once when idle), then burst from two threads.
    const std::uint64_t parks = pool->stats().parks;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::vector<std::thread> senders;
    for (int s = 0; s < kSenders; ++s) {
      const std::uint64_t first = next + static_cast<std::uint64_t>(s) * per_sender;
      expected_sum += sum_of(first, per_sender);
      senders.emplace_back([&, first] { EXPECT_TRUE(send_sequence(*pool, first, per_sender)); });
    }
    for (std::thread& t : senders) t.join();
    next += kSenders * per_sender;
    const std::uint64_t target = (next - 1);
    ASSERT_TRUE(wait_for_progress([&] { return totals.handled.load(std::memory_order_acquire); }, target))
        << "round " << round << ": a message sent while the worker woke was never handled (parks before: " << parks
        << ")";
  }
  EXPECT_EQ(totals.sum.load(), expected_sum);
  const PoolStats s = pool->stats();
  EXPECT_GE(s.wakes, 1u) << "no burst found the worker asleep: the test did not exercise the wake path";
  EXPECT_LE(s.wakes, s.processed / 16) << "a parked worker cost a futex wake per message";
  ASSERT_TRUE(pool->shutdown().ok());
}

TEST(WorkerWake, AParkImmediatelyWorkerIsNotWokenOncePerMessage) {
  Totals totals;
  auto pool = summing_pool(PoolConfig().with_num_workers(1).with_wait_policy(WaitPolicy::park_immediately()), totals);
  ASSERT_NE(pool, nullptr);
  const std::uint64_t n = scaled(400'000);
  ASSERT_TRUE(send_sequence(*pool, 1, n));
  ASSERT_TRUE(wait_for_progress([&] { return totals.handled.load(std::memory_order_acquire); }, n));
  EXPECT_EQ(totals.sum.load(), sum_of(1, n));
  const PoolStats s = pool->stats();
  EXPECT_LE(s.wakes, n / 16) << "parks " << s.parks << ", batches " << s.batches;
  ASSERT_TRUE(pool->shutdown().ok());
}

// The producer and the worker pinned to the same CPU: the worker can run only when the
// producer stops, so a worker that parked per message would make the producer pay a
// wake-up and two context switches per message.
TEST(WorkerWake, AWorkerPinnedBesideItsProducerTakesBatchesNotOneMessagePerWake) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  const int cpu = cpus.front();
  for (const WaitPolicy policy : {WaitPolicy::park_immediately(), WaitPolicy{}, WaitPolicy::low_latency()}) {
    Totals totals;
    auto pool = summing_pool(PoolConfig()
                                 .with_num_workers(1)
                                 .with_cpu_affinity(true)
                                 .with_oversubscription(true)
                                 .with_worker(0, WorkerConfig().with_cpu(cpu))
                                 .with_wait_policy(policy),
                             totals);
    ASSERT_NE(pool, nullptr);
    const std::uint64_t n = scaled(200'000);
    const absl::Time began = absl::Now();
    std::thread producer([&] {
      ASSERT_TRUE(pin_current_thread(cpu).ok());
      EXPECT_TRUE(send_sequence(*pool, 1, n));
    });
    producer.join();
    ASSERT_TRUE(wait_for_progress([&] { return totals.handled.load(std::memory_order_acquire); }, n));
    const absl::Duration took = absl::Now() - began;
    EXPECT_EQ(totals.sum.load(), sum_of(1, n));
    const PoolStats s = pool->stats();
    EXPECT_LE(s.wakes, n / 16) << "spin " << policy.spin_iterations << ": parks " << s.parks;
    EXPECT_LE(s.batches, n / 16) << "spin " << policy.spin_iterations << ": mean batch under 16 messages";
    // Generous: a worker that spun against its producer took seconds here.
    EXPECT_LT(took, absl::Seconds(kUnderTsan ? 30 : 3)) << "spin " << policy.spin_iterations;
    ASSERT_TRUE(pool->shutdown().ok());
  }
}

TEST(SpinHistory, AWaiterThatLosesItsCpuWhileSpinningStopsAndSkipsSpinningForAWhile) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  const int cpu = cpus.front();
  std::atomic<bool> stop{false};
  std::atomic<bool> hog_running{false};
  std::thread hog([&] {  // a runnable thread that wants the same CPU for as long as it runs
    ASSERT_TRUE(pin_current_thread(cpu).ok());
    hog_running.store(true);
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  std::thread waiter([&] {
    ASSERT_TRUE(pin_current_thread(cpu).ok());
    while (!hog_running.load()) std::this_thread::yield();
    sync::SpinHistory history;
    // Hours of pauses unless it gives way: a preempted spin moves on to the yields, and a
    // yield that returns late (the hog ran) ends the wait.
    const WaitPolicy forever{1u << 31, 1u << 31};
    auto never = [] { return 0; };
    const absl::Time began = absl::Now();
    EXPECT_EQ(sync::spin_then_yield(forever, history, absl::InfiniteFuture(), 0, -1, never), 0);
    EXPECT_LT(absl::Now() - began, stall_limit());
    EXPECT_EQ(history.contentions(), 1u);
    // Within the window the phases are skipped: it returns at once, with no spin.
    EXPECT_TRUE(history.contended(sync::spin_clock_ns()));
    const absl::Time again = absl::Now();
    EXPECT_EQ(sync::spin_then_yield(forever, history, absl::InfiniteFuture(), 0, -1, never), 0);
    EXPECT_LT(absl::Now() - again, absl::Milliseconds(5));
  });
  waiter.join();
  stop.store(true);
  hog.join();
}

}  // namespace
}  // namespace sn::test
