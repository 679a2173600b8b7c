// Faults: a handler that throws or returns an error status, under each FaultPolicy, and
// hooks that fail while a pool starts. Messages go to one worker from the test's thread,
// so their order is known and every count is exact.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

enum class Act : std::uint8_t { count, fail_by_throwing, fail_by_status };

/// What the test can see of a worker's life; atomics, because some are polled while
/// the pool runs.
struct Life {
  std::atomic<int> inits{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> starts{0};
  std::atomic<int> stops{0};
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> last_count{0};  // the State's count after the last counted message
  std::atomic<std::uint64_t> count_at_stop{~std::uint64_t{0}};
  std::atomic<int> outside_heap{0};
  std::atomic<std::uintptr_t> state_at_stop{0};  // the address on_stop was given
  bool on_stop_reads_state = true;
  int fail_init_from = 1 << 30;  // init() number (0-based) from which init() fails
  bool init_throws = false;      // how it fails: throw, or return an error status
  absl::StatusCode handler_error = absl::StatusCode::kInternal;
  Gate* gate = nullptr;  // if set, every message waits on it first
  // The first `start_together` init() calls wait for each other (see wait_for_all_workers).
  int start_together = 0;
  std::atomic<int> arrived{0};
};

/// Makes the workers of a pool whose start fails wait until every one of them has
/// reached its init() or on_start(), so that no worker thread exits while another is
/// still creating its heap. Otherwise ThreadSanitizer reports a false race inside
/// mimalloc, which hands a finished thread's data to a starting one with atomics that
/// TSan cannot see (mimalloc is not instrumented).
void wait_for_all_workers(std::atomic<int>& arrived, int workers) {
  arrived.fetch_add(1, std::memory_order_acq_rel);
  EXPECT_TRUE(wait_until([&] { return arrived.load(std::memory_order_acquire) >= workers; }));
}

struct Tally {
  Life* life = nullptr;
  std::uint64_t count = 0;
  Tally(Life* l, std::uint64_t c) : life(l), count(c) {}
  Tally(Tally&& o) noexcept : life(std::exchange(o.life, nullptr)), count(o.count) {}
  Tally& operator=(Tally&& o) noexcept {
    life = std::exchange(o.life, nullptr);
    count = o.count;
    return *this;
  }
  ~Tally() {
    if (life != nullptr) life->destroyed.fetch_add(1);
  }
};

struct Faulty : Worker<Tally, Act> {
  explicit Faulty(Life* life) : life_(life) {}
  absl::StatusOr<Tally> init() {
    const int n = life_->inits.fetch_add(1);
    if (n < life_->start_together) wait_for_all_workers(life_->arrived, life_->start_together);
    if (n >= life_->fail_init_from) {
      if (life_->init_throws) throw std::runtime_error("the config file is missing");
      return absl::NotFoundError("no such table");
    }
    return Tally(life_, 0);
  }
  void on_start(Tally&) { life_->starts.fetch_add(1); }
  absl::Status handle_message(Tally& s, Envelope<Act> e) {
    if (life_->gate != nullptr) life_->gate->wait();
    if (!context().heap().owns(&s)) life_->outside_heap.fetch_add(1);
    life_->handled.fetch_add(1);
    switch (e.payload) {
      case Act::count: life_->last_count.store(++s.count); return absl::OkStatus();
      case Act::fail_by_throwing: throw std::runtime_error("the handler threw on purpose");
      case Act::fail_by_status: return absl::Status(life_->handler_error, "the handler failed on purpose");
    }
    return absl::OkStatus();
  }
  void on_stop(Tally& s) {
    life_->state_at_stop.store(reinterpret_cast<std::uintptr_t>(&s));
    if (life_->on_stop_reads_state) life_->count_at_stop.store(s.count);
    life_->stops.fetch_add(1);
  }
  Life* life_;
};

std::unique_ptr<WorkerPool<Faulty>> one_worker(Life& life, FaultPolicy policy) {
  return create_pool<Faulty>(PoolConfig().with_num_workers(1).with_fault_policy(policy),
                             each_worker_gets<Faulty>(&life));
}

void send_all(WorkerPool<Faulty>& pool, std::initializer_list<Act> acts) {
  for (Act a : acts) ASSERT_EQ(pool.send_to(0, Act(a)), SendResult::ok);
}

TEST(WorkerFaults, UnderContinueAFailedMessageIsCountedAndTheStateIsKept) {
  Life life;
  auto pool = one_worker(life, FaultPolicy::continue_running);
  ASSERT_NE(pool, nullptr);
  send_all(*pool, {Act::count, Act::count, Act::fail_by_throwing, Act::count, Act::fail_by_status, Act::count});
  ASSERT_TRUE(shutdown_or_fail(*pool).ok()) << "continue_running must not report a handler's fault";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 4u);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.restarts, 0u);
  EXPECT_EQ(life.inits.load(), 1);
  EXPECT_EQ(life.count_at_stop.load(), 4u) << "the State was not kept across the faults";
  EXPECT_EQ(life.stops.load(), 1);
  expect_balanced(s);
}

TEST(WorkerFaults, UnderRestartAFailureRebuildsTheStateWithInit) {
  Life life;
  auto pool = one_worker(life, FaultPolicy::restart);
  ASSERT_NE(pool, nullptr);
  send_all(*pool, {Act::count, Act::count, Act::fail_by_throwing, Act::count, Act::fail_by_status, Act::count,
                   Act::count, Act::count});
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 6u);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.restarts, 2u);
  EXPECT_EQ(s.workers[0].restarts, 2u);
  EXPECT_EQ(life.inits.load(), 3) << "one init() at start and one per restart";
  EXPECT_EQ(life.count_at_stop.load(), 3u) << "the State was not reset by the restart";
  EXPECT_EQ(life.destroyed.load(), 3) << "every State built was destroyed exactly once";
  EXPECT_EQ(life.starts.load(), 1) << "on_start runs once, not on restarts";
  EXPECT_EQ(life.stops.load(), 1);
  EXPECT_EQ(life.outside_heap.load(), 0) << "a rebuilt State must live in the worker's heap too";
  expect_balanced(s);
}

// Regression (found by this test against 55ed7f2; fixed in 8c2e220): after a restart
// whose init() failed, the worker called on_stop(*state) with no State (a null
// reference). on_stop here only records the address it gets, so that a regression
// fails the test instead of crashing the process.
TEST(WorkerFaults, UnderRestartAnInitThatFailsStopsThePoolWithItsError) {
  Life life;
  life.fail_init_from = 1;  // the first init() works, the one for the restart does not
  life.on_stop_reads_state = false;
  auto pool = one_worker(life, FaultPolicy::restart);
  ASSERT_NE(pool, nullptr);
  send_all(*pool, {Act::count, Act::fail_by_throwing});
  ASSERT_TRUE(wait_until([&] { return !pool->running(); })) << "a failed restart did not stop the pool";
  EXPECT_TRUE(has_code_and_mentions(pool->status(), absl::StatusCode::kNotFound, "no such table"))
      << "the fault is recorded before the pool reports that it stopped";
  const absl::Status shut = shutdown_or_fail(*pool);
  EXPECT_TRUE(has_code_and_mentions(shut, absl::StatusCode::kNotFound, "no such table"));
  EXPECT_EQ(pool->status(), shut);
  EXPECT_EQ(pool->send_to(0, Act::count), SendResult::closed);
  EXPECT_LE(life.stops.load(), 1);
  EXPECT_FALSE(life.stops.load() == 1 && life.state_at_stop.load() == 0)
      << "on_stop was called with a null State after the failed restart";
  expect_balanced(pool->stats());
}

TEST(WorkerFaults, UnderStopPoolAnErrorStatusStopsThePoolAndShutdownReturnsIt) {
  Life life;
  life.handler_error = absl::StatusCode::kDataLoss;
  Gate gate;
  life.gate = &gate;
  auto pool = one_worker(life, FaultPolicy::stop_pool);
  ASSERT_NE(pool, nullptr);
  // The worker holds the first message until the rest are queued behind it, so some of
  // them are still queued when the fault stops the pool.
  ASSERT_EQ(pool->send_to(0, Act::count), SendResult::ok);
  ASSERT_TRUE(gate.wait_until_entered(1));
  send_all(*pool, {Act::count, Act::fail_by_status, Act::count, Act::count, Act::count});
  gate.open();
  // on_stop runs once the worker has seen its stop flag, which the pool sets after it
  // has closed the inboxes: from then on every send must be refused.
  ASSERT_TRUE(wait_until([&] { return life.stops.load() == 1; })) << "the fault did not stop the worker";
  EXPECT_FALSE(pool->running());
  EXPECT_EQ(pool->send_to(0, Act::count), SendResult::closed) << "a stopped pool must refuse sends";

  const absl::Status shut = shutdown_or_fail(*pool);
  EXPECT_TRUE(has_code_and_mentions(shut, absl::StatusCode::kDataLoss, "the handler failed on purpose"));
  EXPECT_EQ(pool->status(), shut);
  EXPECT_EQ(pool->shutdown(), shut) << "later calls report the same fault";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 2u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.dropped, 3u) << "the messages behind the fault are dropped, not handled";
  EXPECT_EQ(life.handled.load(), 3u);
  EXPECT_EQ(life.stops.load(), 1);
  EXPECT_FALSE(s.running);
  expect_balanced(s);
}

TEST(WorkerFaults, UnderStopPoolStopReportsEveryMessageTheFaultLeftUnhandled) {
  Life life;
  Gate gate;
  life.gate = &gate;
  auto pool = one_worker(life, FaultPolicy::stop_pool);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, Act::count), SendResult::ok);
  ASSERT_TRUE(gate.wait_until_entered(1));
  send_all(*pool, {Act::fail_by_throwing, Act::count, Act::count, Act::count, Act::count});
  gate.open();
  ASSERT_TRUE(wait_until([&] { return !pool->running(); }));
  const std::uint64_t left = pool->stop();
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 1u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(left, 4u) << "the messages behind the fault, in its batch or still queued";
  EXPECT_EQ(s.dropped, left);
  expect_balanced(s);
  EXPECT_TRUE(has_code_and_mentions(pool->status(), absl::StatusCode::kInternal, "the handler threw on purpose"));
  EXPECT_EQ(pool->shutdown(), pool->status());
}

TEST(WorkerFaults, UnderStopPoolAThrowStopsThePoolAndShutdownReportsTheException) {
  Life life;
  auto pool = one_worker(life, FaultPolicy::stop_pool);
  ASSERT_NE(pool, nullptr);
  send_all(*pool, {Act::count, Act::fail_by_throwing});
  ASSERT_TRUE(wait_until([&] { return !pool->running(); }));
  const absl::Status shut = shutdown_or_fail(*pool);
  EXPECT_TRUE(has_code_and_mentions(shut, absl::StatusCode::kInternal, "the handler threw on purpose"));
  expect_balanced(pool->stats());
}

TEST(WorkerFaults, AThrowingInitMakesCreateFailWithItsMessage) {
  Life life;
  life.fail_init_from = 2;  // workers 0 and 1 start; one of the others fails
  life.init_throws = true;
  life.start_together = 4;
  Watchdog watchdog(stall_limit(), [] { ADD_FAILURE() << "create() hangs after a failed init()"; });
  absl::StatusOr<std::unique_ptr<WorkerPool<Faulty>>> pool =
      WorkerPool<Faulty>::create(PoolConfig().with_num_workers(4), each_worker_gets<Faulty>(&life));
  watchdog.stop();
  ASSERT_FALSE(pool.ok());
  EXPECT_TRUE(has_code_and_mentions(pool.status(), absl::StatusCode::kInternal, "the config file is missing"));
  EXPECT_EQ(life.inits.load(), 4);
  // The workers that did start were stopped and ran on_stop.
  EXPECT_EQ(life.stops.load(), life.starts.load());
  EXPECT_EQ(life.starts.load(), 2);
}

TEST(WorkerFaults, AnInitReturningAnErrorMakesCreateFailWithThatCode) {
  Life life;
  life.fail_init_from = 0;
  life.start_together = 2;
  absl::StatusOr<std::unique_ptr<WorkerPool<Faulty>>> pool =
      WorkerPool<Faulty>::create(PoolConfig().with_num_workers(2), each_worker_gets<Faulty>(&life));
  ASSERT_FALSE(pool.ok());
  EXPECT_TRUE(has_code_and_mentions(pool.status(), absl::StatusCode::kNotFound, "no such table"));
  EXPECT_EQ(life.starts.load(), 0);
}

std::atomic<int> g_bad_start_arrived{0};

struct BadStart : Worker<int, int> {
  void on_start(int&) {
    wait_for_all_workers(g_bad_start_arrived, 2);
    if (context().index() == 1) throw std::runtime_error("cannot open the device");
  }
  void handle_message(int&, Envelope<int>) {}
};

TEST(WorkerFaults, AThrowingOnStartMakesCreateFail) {
  g_bad_start_arrived.store(0);
  absl::StatusOr<std::unique_ptr<WorkerPool<BadStart>>> pool =
      WorkerPool<BadStart>::create(PoolConfig().with_num_workers(2));
  ASSERT_FALSE(pool.ok());
  EXPECT_TRUE(has_code_and_mentions(pool.status(), absl::StatusCode::kInternal, "cannot open the device"));
}

TEST(WorkerFaults, AThrowingFactoryMakesCreateFail) {
  Life life;
  auto factory = [&life](std::size_t i) -> std::unique_ptr<Faulty> {
    if (i == 1) throw std::runtime_error("no worker for you");
    return std::make_unique<Faulty>(&life);
  };
  absl::StatusOr<std::unique_ptr<WorkerPool<Faulty>>> pool =
      WorkerPool<Faulty>::create(PoolConfig().with_num_workers(2), factory);
  ASSERT_FALSE(pool.ok());
  EXPECT_TRUE(has_code_and_mentions(pool.status(), absl::StatusCode::kInternal, "no worker for you"));
  EXPECT_EQ(life.inits.load(), 0) << "no worker may start before every worker was made";
}

struct TickCounts {
  std::atomic<int> handled{0};
  std::atomic<int> ticks{0};
};

struct TickFault : Worker<int, int> {
  explicit TickFault(TickCounts* counts) : counts_(counts) {}
  void handle_message(int&, Envelope<int>) { counts_->handled.fetch_add(1); }
  void tick(int&) {
    counts_->ticks.fetch_add(1);
    throw std::runtime_error("tick failed");
  }
  TickCounts* counts_;
};

TEST(WorkerFaults, ExceptionsFromTickAreHookFaultsAndTheWorkerGoesOn) {
  TickCounts counts;
  auto pool = create_pool<TickFault>(PoolConfig().with_num_workers(1), each_worker_gets<TickFault>(&counts));
  ASSERT_NE(pool, nullptr);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(pool->send_to(0, 1), SendResult::ok);
    // One message per batch: the next is sent only after this one's tick.
    ASSERT_TRUE(wait_until([&] { return counts.ticks.load() == i + 1; }));
  }
  ASSERT_TRUE(shutdown_or_fail(*pool).ok()) << "a failing tick does not stop a continue_running pool";
  const PoolStats s = pool->stats();
  EXPECT_EQ(counts.handled.load(), 10);
  EXPECT_EQ(s.processed, 10u);
  EXPECT_EQ(s.failed, 0u) << "a failing tick fails no message";
  EXPECT_EQ(s.ticks, 10u);
  EXPECT_EQ(s.hook_faults, 10u);
}

}  // namespace
}  // namespace sn::test
