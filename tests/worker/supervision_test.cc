// Supervision: restart limits and their escalation (stop the pool, or isolate the
// worker until revive()), restart backoff, the on_fault hook, the fault observer (the
// default one on stderr, rate-limited) and the last fault in PoolStats. Messages go to
// known workers from the test's thread, so every count is exact.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/pool/detail/supervisor.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

/// Payload: a positive number is counted; 0 makes the handler throw; a negative one makes
/// it return an error status.
struct Shared {
  std::atomic<int> inits{0};
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::int64_t> last_handled_ns{0};
  std::atomic<int> tick_throws{0};  // tick() throws while this is positive (and counts down)
  std::mutex mu;
  std::vector<Fault> seen;  // by on_fault
};

struct Counts {
  std::uint64_t n = 0;
};

struct Flaky : Worker<Counts, std::int64_t> {
  explicit Flaky(Shared* s) : s_(s) {}
  Counts init() {
    s_->inits.fetch_add(1);
    return {};
  }
  absl::Status handle_message(Counts& c, Envelope<std::int64_t> e) {
    if (e.payload == 0) throw std::runtime_error("boom");
    if (e.payload < 0) return absl::InvalidArgumentError("negative");
    ++c.n;
    s_->handled.fetch_add(1);
    s_->last_handled_ns.store(absl::GetCurrentTimeNanos());
    return absl::OkStatus();
  }
  void tick(Counts&) {
    if (s_->tick_throws.load() > 0 && s_->tick_throws.fetch_sub(1) > 0) throw std::runtime_error("tick broke");
  }
  Shared* s_;
};

/// As Flaky, with an on_fault hook: a status error continues, a throw isolates.
struct Judging : Flaky {
  using Flaky::Flaky;
  FaultPolicy on_fault(Counts&, const Fault& f) {
    std::lock_guard lock(s_->mu);
    s_->seen.push_back(f);
    return f.status.code() == absl::StatusCode::kInvalidArgument ? FaultPolicy::continue_running : FaultPolicy::isolate;
  }
};

/// Collects what the observer is given.
struct Observed {
  std::mutex mu;
  std::vector<Fault> faults;
  std::vector<std::string> pools;  // Fault::pool points into the pool: copied while it lives
  FaultObserver observer() {
    return [this](const Fault& f) {
      std::lock_guard lock(mu);
      faults.push_back(f);
      pools.emplace_back(f.pool);
    };
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return faults.size();
  }
};

template <class W = Flaky>
std::unique_ptr<WorkerPool<W>> make(Shared& s, PoolConfig config) {
  return create_pool<W>(std::move(config), each_worker_gets<W>(&s));
}

void send_to_zero(auto& pool, std::initializer_list<std::int64_t> values) {
  for (std::int64_t v : values) ASSERT_EQ(pool.send_to(0, std::int64_t{v}), SendResult::ok);
}

TEST(RestartLimits, AWorkerThatFailsEveryMessageHitsItsLimitAndStopsThePool) {
  Shared s;
  RestartLimit limit;
  limit.max_restarts = 3;
  limit.within = absl::Hours(1);
  auto pool = make(
      s, PoolConfig().with_fault_policy(FaultPolicy::restart).with_restart_limit(limit).with_fault_observer(nullptr));
  ASSERT_NE(pool, nullptr);
  for (int i = 0; i < 10; ++i) (void)pool->send_to(0, std::int64_t{0});
  const absl::Status st = shutdown_or_fail(*pool);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("restart limit reached"), std::string::npos) << st;
  EXPECT_NE(st.message().find("threw: boom"), std::string::npos) << st;
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.restarts, 3u) << "three restarts allowed, the fourth fault escalates";
  EXPECT_EQ(stats.failed, 4u);
  EXPECT_EQ(s.inits.load(), 4) << "the first State and three rebuilds";
  expect_balanced(stats);
}

TEST(RestartLimits, RestartsOutsideTheWindowDoNotCountAgainstTheLimit) {
  detail::RestartBudget budget([] {
    RestartLimit l;
    l.max_restarts = 2;
    l.within = absl::Seconds(1);
    return l;
  }());
  const std::int64_t s = 1'000'000'000;
  EXPECT_TRUE(budget.try_restart(0));
  EXPECT_TRUE(budget.try_restart(s / 2));
  EXPECT_FALSE(budget.try_restart(s / 2 + 1)) << "a third within one second";
  EXPECT_TRUE(budget.try_restart(s + 1)) << "the first has left the window";
  EXPECT_FALSE(budget.try_restart(s + 2));
  EXPECT_TRUE(budget.try_restart(3 * s));
  budget.reset();
  EXPECT_TRUE(budget.try_restart(3 * s + 1));
  EXPECT_TRUE(budget.try_restart(3 * s + 2));
}

TEST(RestartLimits, ZeroRestartsEscalatesOnTheFirstFault) {
  detail::RestartBudget budget([] {
    RestartLimit l;
    l.max_restarts = 0;
    return l;
  }());
  EXPECT_FALSE(budget.try_restart(0));
  EXPECT_TRUE(detail::RestartBudget(RestartLimit::unlimited()).try_restart(0));
}

TEST(RestartLimits, BackoffDoublesWithEachRestartInTheWindowUpToItsCap) {
  RestartLimit l;
  l.max_restarts = 10;
  l.within = absl::Seconds(10);
  l.backoff = absl::Milliseconds(10);
  l.max_backoff = absl::Milliseconds(35);
  detail::RestartBudget budget(l);
  const std::int64_t ms = 1'000'000;
  std::vector<std::int64_t> waits;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(budget.try_restart(i * ms));
    waits.push_back(budget.backoff_ns(i * ms));
  }
  EXPECT_EQ(waits, (std::vector<std::int64_t>{10 * ms, 20 * ms, 35 * ms, 35 * ms}));
}

TEST(RestartLimits, ARestartedWorkerWaitsOutItsBackoffBeforeTheNextMessage) {
  Shared s;
  RestartLimit limit = RestartLimit::unlimited();
  limit.backoff = absl::Milliseconds(60);
  // Batches of one: a message sent right after the restart is in the next batch, not in
  // the rest of the failing one (which the backoff does not hold back).
  auto pool = make(s, PoolConfig()
                          .with_batch_size(1)
                          .with_fault_policy(FaultPolicy::restart)
                          .with_restart_limit(limit)
                          .with_fault_observer(nullptr));
  ASSERT_NE(pool, nullptr);
  send_to_zero(*pool, {1});
  ASSERT_TRUE(wait_until([&] { return s.handled.load() == 1; }));
  const std::int64_t before = absl::GetCurrentTimeNanos();
  send_to_zero(*pool, {0});
  ASSERT_TRUE(wait_until([&] { return pool->stats().restarts == 1; }));
  send_to_zero(*pool, {2});  // the next batch: the rest of the batch in progress is not held back
  ASSERT_TRUE(wait_until([&] { return s.handled.load() == 2; }));
  EXPECT_GE(s.last_handled_ns.load() - before, 60'000'000) << "the message after the fault waited for the backoff";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(pool->stats().restarts, 1u);
}

TEST(RestartLimits, ShutdownDuringABackoffStillHandlesEveryQueuedMessage) {
  Shared s;
  RestartLimit limit = RestartLimit::unlimited();
  limit.backoff = absl::Seconds(30);
  limit.max_backoff = absl::Seconds(30);
  auto pool = make(
      s, PoolConfig().with_fault_policy(FaultPolicy::restart).with_restart_limit(limit).with_fault_observer(nullptr));
  ASSERT_NE(pool, nullptr);
  send_to_zero(*pool, {0, 1, 2, 3});
  const absl::Time start = absl::Now();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "the drain cut the 30 s backoff short";
  EXPECT_EQ(s.handled.load(), 3u);
  expect_balanced(pool->stats());
}

TEST(RestartLimits, AnEscalationToIsolateDropsTheWorkersMessagesAndRevivePutsItBack) {
  Shared s;
  RestartLimit limit;
  limit.max_restarts = 1;
  limit.within = absl::Hours(1);
  limit.escalate_to = FaultPolicy::isolate;
  auto pool = make(s, PoolConfig()
                          .with_num_workers(2)
                          .with_fault_policy(FaultPolicy::restart)
                          .with_restart_limit(limit)
                          .with_fault_observer(nullptr));
  ASSERT_NE(pool, nullptr);
  send_to_zero(*pool, {0, 0});  // one restart, then isolation
  ASSERT_TRUE(wait_until([&] { return pool->stats().workers[0].isolated; }));
  send_to_zero(*pool, {5, 6, 7});
  ASSERT_EQ(pool->send_to(1, std::int64_t{8}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().isolated_drops == 3 && s.handled.load() == 1; }))
      << "worker 1 still serves; worker 0 drops what it is sent";
  EXPECT_TRUE(absl::IsFailedPrecondition(pool->revive(1))) << "worker 1 is not isolated";
  EXPECT_TRUE(absl::IsNotFound(pool->revive(7)));
  ASSERT_TRUE(pool->revive(0).ok());
  ASSERT_TRUE(wait_until([&] { return !pool->stats().workers[0].isolated; }));
  send_to_zero(*pool, {9});
  ASSERT_TRUE(wait_until([&] { return s.handled.load() == 2; })) << "the revived worker handles messages again";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok()) << "isolation does not stop the pool";
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.workers[0].isolated_drops, 3u);
  EXPECT_EQ(stats.workers[0].restarts, 1u);
  EXPECT_EQ(s.inits.load(), 4) << "two first States, one restart, one revival";
  expect_balanced(stats);
}

TEST(FaultHook, OnFaultSeesTheFaultAndDecidesWhatHappens) {
  Shared s;
  auto pool = make<Judging>(s, PoolConfig().with_fault_policy(FaultPolicy::stop_pool).with_fault_observer(nullptr));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, std::int64_t{-1}, 41), SendResult::ok);
  ASSERT_EQ(pool->send_to(0, std::int64_t{1}, 42), SendResult::ok);
  ASSERT_EQ(pool->send_to(0, std::int64_t{0}, 43), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().workers[0].isolated; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok()) << "on_fault overrode stop_pool";
  std::lock_guard lock(s.mu);
  ASSERT_EQ(s.seen.size(), 2u);
  EXPECT_EQ(s.seen[0].site, FaultSite::handle_message);
  EXPECT_EQ(s.seen[0].key, std::optional<std::uint64_t>(41));
  EXPECT_EQ(s.seen[0].messages, 1u);
  EXPECT_FALSE(s.seen[0].action.has_value()) << "no action yet while on_fault decides";
  EXPECT_EQ(s.seen[1].key, std::optional<std::uint64_t>(43));
  EXPECT_EQ(s.seen[1].status.message(), "threw: boom");
  EXPECT_EQ(s.handled.load(), 1u);
}

TEST(FaultObserver, SeesEveryFaultWithTheActionTakenAndStatsKeepTheLast) {
  Shared s;
  Observed o;
  auto pool = make(s, PoolConfig().with_name("obs").with_fault_observer(o.observer()));
  ASSERT_NE(pool, nullptr);
  s.tick_throws.store(1);
  ASSERT_EQ(pool->send_to(0, std::int64_t{-5}, 7), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return o.size() >= 2; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  std::lock_guard lock(o.mu);
  ASSERT_EQ(o.faults.size(), 2u) << "the handler's fault and the tick's";
  EXPECT_EQ(o.pools[0], "obs");
  EXPECT_EQ(o.faults[0].site, FaultSite::handle_message);
  EXPECT_EQ(o.faults[0].action, std::optional<FaultPolicy>(FaultPolicy::continue_running));
  EXPECT_EQ(o.faults[1].site, FaultSite::tick);
  EXPECT_FALSE(o.faults[1].key.has_value());
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.faults, 2u);
  EXPECT_EQ(stats.hook_faults, 1u);
  EXPECT_NE(stats.last_fault.find("tick failed"), std::string::npos) << stats.last_fault;
}

TEST(FaultObserver, ByDefaultAFaultThatUsedToBeSilentIsPrintedOnStderr) {
  Shared s;
  testing::internal::CaptureStderr();
  {
    auto pool = make(s, PoolConfig().with_name("loud"));
    ASSERT_NE(pool, nullptr);
    ASSERT_EQ(pool->send_to(0, std::int64_t{0}, 1234), SendResult::ok);
    ASSERT_TRUE(shutdown_or_fail(*pool).ok()) << "continue_running still does not stop the pool";
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("sn: pool \"loud\" worker 0: handle_message failed (key 1234): INTERNAL: threw: boom"),
            std::string::npos)
      << err;
}

TEST(FaultObserver, TheDefaultWritesAtMostTenLinesASecondAndCountsTheRest) {
  testing::internal::CaptureStderr();
  {
    FaultObserver log = stderr_fault_observer(10);
    Fault f = make_fault("burst", 0, FaultSite::handle_message, 1, absl::InternalError("x"), 1);
    for (int i = 0; i < 100; ++i) log(f);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  std::size_t lines = 0;
  for (char c : err) lines += c == '\n';
  EXPECT_LE(lines, 21u) << "ten a second, one summary (two windows at most if the second turned)\n" << err;
  EXPECT_NE(err.find("more fault(s) not shown"), std::string::npos) << err;
}

TEST(SupervisionConfig, BadRestartLimitsAreRejectedAtCreate) {
  Shared s;
  RestartLimit bad_target;
  bad_target.escalate_to = FaultPolicy::restart;
  RestartLimit bad_window;
  bad_window.within = absl::ZeroDuration();
  RestartLimit bad_backoff;
  bad_backoff.backoff = absl::Seconds(2);
  bad_backoff.max_backoff = absl::Seconds(1);
  for (const RestartLimit& l : {bad_target, bad_window, bad_backoff}) {
    auto made = WorkerPool<Flaky>::create(PoolConfig().with_restart_limit(l), each_worker_gets<Flaky>(&s));
    EXPECT_TRUE(absl::IsInvalidArgument(made.status())) << made.status();
  }
}

}  // namespace
}  // namespace sn::test
