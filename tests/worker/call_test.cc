// Calls: WorkerPool::call (a future, or a callback) and WorkerContext::call (a callback on
// the calling worker), answered at once or later, with deadlines, callee faults, reply
// type mismatches, missing handlers, shutdown in the middle and calls from on_stop.
// Every call must complete exactly once.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Get {
  std::uint64_t key;
};
struct Put {
  std::uint64_t key;
  std::int64_t value;
};
struct Hold {};   // answered later: the Reply is kept until Release
struct Release {  // answers every held call with `value`
  std::int64_t value;
};
struct Boom {};   // handle_call throws
struct Drop {};   // the Reply is dropped unanswered
struct Plain {};  // no handle_call: a plain message
struct Ask {      // a plain message that makes the worker call `target`'s owner
  std::uint64_t target;
  std::int64_t deadline_ms;
};
using Msg = std::variant<Get, Put, Hold, Release, Boom, Drop, Plain, Ask>;

struct Seen {
  std::atomic<int> callbacks{0};
  std::atomic<int> ok{0}, deadline{0}, unavailable{0}, internal{0}, cancelled{0}, invalid{0}, unimplemented{0};
  std::atomic<int> wrong_thread{0};
  std::atomic<int> stop_callbacks{0};
  // Counts one completion. `callbacks` goes last: tests wait on it and then read the others.
  void count(const absl::Status& s) {
    if (s.ok()) ok.fetch_add(1);
    if (absl::IsDeadlineExceeded(s)) deadline.fetch_add(1);
    if (absl::IsUnavailable(s)) unavailable.fetch_add(1);
    if (absl::IsInternal(s)) internal.fetch_add(1);
    if (absl::IsCancelled(s)) cancelled.fetch_add(1);
    if (absl::IsInvalidArgument(s)) invalid.fetch_add(1);
    if (absl::IsUnimplemented(s)) unimplemented.fetch_add(1);
    callbacks.fetch_add(1);
  }
};

struct Store {
  std::vector<std::int64_t> values = std::vector<std::int64_t>(64, 0);
  std::vector<Reply<std::int64_t>> held;
  std::thread::id thread;
  int answered = 0;
};

struct Kv : Worker<Store, Msg> {
  explicit Kv(Seen* seen, bool call_from_stop = false) : seen_(seen), call_from_stop_(call_from_stop) {}
  Store init() {
    Store s;
    s.thread = std::this_thread::get_id();
    return s;
  }
  std::int64_t handle_call(Store& s, Envelope<Get> e) { return s.values[e.payload.key % 64]; }
  absl::StatusOr<std::int64_t> handle_call(Store& s, Envelope<Put> e) {
    if (e.payload.value < 0) return absl::InvalidArgumentError("negative values are refused");
    std::int64_t& slot = s.values[e.payload.key % 64];
    const std::int64_t old = slot;
    slot = e.payload.value;
    return old;
  }
  void handle_call(Store& s, Envelope<Hold>, Reply<std::int64_t> reply) { s.held.push_back(std::move(reply)); }
  std::int64_t handle_call(Store& s, Envelope<Release> e) {
    int late = 0;
    for (Reply<std::int64_t>& r : s.held) late += r.complete(e.payload.value) == ReplyResult::too_late;
    s.held.clear();
    return late;
  }
  std::int64_t handle_call(Store&, Envelope<Boom>) { throw std::runtime_error("the callee broke"); }
  void handle_call(Store&, Envelope<Drop>, Reply<std::int64_t>) {}

  void handle_message(Store&, Envelope<Plain>) {}
  template <class T>
  void handle_message(Store&, Envelope<T>) {}  // requests sent as plain messages are ignored
  void handle_message(Store&, Envelope<Ask> e) {
    const auto deadline = absl::Milliseconds(e.payload.deadline_ms);
    context().call<std::int64_t>(e.payload.target, Get{e.payload.target}, deadline,
                                 [seen = seen_](Store& s, absl::StatusOr<std::int64_t> r) {
                                   if (std::this_thread::get_id() != s.thread) seen->wrong_thread.fetch_add(1);
                                   seen->count(r.status());
                                   ++s.answered;
                                 });
  }
  void on_stop(Store&) {
    if (!call_from_stop_) return;
    context().call<std::int64_t>(1, Get{1}, absl::Seconds(1), [seen = seen_](Store&, absl::StatusOr<std::int64_t> r) {
      seen->count(r.status());
      seen->stop_callbacks.fetch_add(1);
    });
  }

  Seen* seen_;
  bool call_from_stop_;
};

std::unique_ptr<WorkerPool<Kv>> kv_pool(Seen& seen, std::size_t workers = 2, bool call_from_stop = false) {
  return create_pool<Kv>(PoolConfig().with_num_workers(workers).with_fault_observer(nullptr),
                         [&seen, call_from_stop](std::size_t) { return std::make_unique<Kv>(&seen, call_from_stop); });
}

TEST(ExternalCalls, AFutureGetsTheCalleesAnswer) {
  Seen seen;
  auto pool = kv_pool(seen);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(*pool->call<std::int64_t>(5, Put{5, 42}, absl::Seconds(10)).get(), 0);
  EXPECT_EQ(*pool->call<std::int64_t>(5, Put{5, 43}, absl::Seconds(10)).get(), 42);
  EXPECT_EQ(*pool->call<std::int64_t>(5, Get{5}, absl::Seconds(10)).get(), 43);
  const absl::StatusOr<std::int64_t> refused = pool->call<std::int64_t>(5, Put{5, -1}, absl::Seconds(10)).get();
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << "the callee's own error reaches the caller";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.calls_started, 4u);
  EXPECT_EQ(s.calls_handled, 4u);
  expect_balanced(s);
}

TEST(ExternalCalls, ADeadlineOfZeroCompletesAtOnceWithDeadlineExceeded) {
  Seen seen;
  auto pool = kv_pool(seen);
  ASSERT_NE(pool, nullptr);
  CallFuture<std::int64_t> f = pool->call<std::int64_t>(1, Get{1}, absl::ZeroDuration());
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(absl::IsDeadlineExceeded(f.get().status()));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(pool->stats().calls_handled, 0u) << "nothing was sent";
}

TEST(ExternalCalls, AnUnansweredCallTimesOutAndTheLateAnswerIsCounted) {
  Seen seen;
  auto pool = kv_pool(seen, 1);
  ASSERT_NE(pool, nullptr);
  CallFuture<std::int64_t> held = pool->call<std::int64_t>(0, Hold{}, absl::Milliseconds(30));
  EXPECT_TRUE(absl::IsDeadlineExceeded(held.get().status()));
  EXPECT_EQ(*pool->call<std::int64_t>(0, Release{7}, absl::Seconds(10)).get(), 1) << "the held answer came too late";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(pool->stats().late_replies, 1u) << "a deferred Reply's late answer counts for the pool too";
}

TEST(ExternalCalls, CalleeFaultsReachTheCallerAsErrors) {
  Seen seen;
  auto pool = kv_pool(seen, 1);
  ASSERT_NE(pool, nullptr);
  const absl::StatusOr<std::int64_t> threw = pool->call<std::int64_t>(0, Boom{}, absl::Seconds(10)).get();
  EXPECT_TRUE(absl::IsInternal(threw.status()));
  EXPECT_NE(threw.status().message().find("the callee broke"), std::string::npos) << threw.status();
  const absl::StatusOr<std::int64_t> dropped = pool->call<std::int64_t>(0, Drop{}, absl::Seconds(10)).get();
  EXPECT_TRUE(absl::IsCancelled(dropped.status())) << dropped.status();
  const absl::StatusOr<std::string> wrong = pool->call<std::string>(0, Hold{}, absl::Seconds(10)).get();
  EXPECT_TRUE(absl::IsInvalidArgument(wrong.status())) << "the callee answers Hold with an int64: " << wrong.status();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.faults, 1u) << "the throw is a fault of the callee; the other two are answers";
  EXPECT_NE(s.last_fault.find("handle_call failed"), std::string::npos) << s.last_fault;
}

TEST(ExternalCalls, TheCallbackFormRunsOnceOnTheCompletingThread) {
  Seen seen;
  auto pool = kv_pool(seen);
  ASSERT_NE(pool, nullptr);
  std::atomic<std::int64_t> got{-1};
  pool->call<std::int64_t>(3, Put{3, 9}, absl::Seconds(10), [&](absl::StatusOr<std::int64_t> r) {
    got.store(r.ok() ? *r : -2);  // before count(): the test reads `got` once it sees the callback
    seen.count(r.status());
  });
  ASSERT_TRUE(wait_until([&] { return seen.callbacks.load() == 1; }));
  EXPECT_EQ(got.load(), 0);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.callbacks.load(), 1);
}

TEST(WorkerCalls, ACallbackRunsOnceOnTheCallingWorkerWithTheReply) {
  Seen seen;
  auto pool = kv_pool(seen, 2);
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t k = 0; k < 200; ++k) ASSERT_EQ(pool->send(k, Ask{k + 1, 10'000}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return seen.callbacks.load() == 200; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.ok.load(), 200);
  EXPECT_EQ(seen.wrong_thread.load(), 0) << "callbacks run on the worker that called";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.calls_started, 200u);
  EXPECT_EQ(s.calls_completed, 200u);
  EXPECT_EQ(s.calls_handled, 200u);
}

TEST(WorkerCalls, ADeadlineOfZeroOrLessCompletesWithDeadlineExceededWithoutARequest) {
  Seen seen;
  auto pool = kv_pool(seen, 2);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(0, Ask{1, 0}), SendResult::ok);
  ASSERT_EQ(pool->send(0, Ask{1, -5}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return seen.callbacks.load() == 2; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.deadline.load(), 2);
  EXPECT_EQ(pool->stats().calls_handled, 0u);
  EXPECT_EQ(pool->stats().calls_timed_out, 2u);
}

/// Calls a worker makes that nobody answers (Hold) or that fail, then shutdown in the middle.
struct Caller : Worker<int, Msg> {
  explicit Caller(Seen* seen) : seen_(seen) {}
  void handle_message(int&, Envelope<Plain> e) {
    context().call<std::int64_t>(e.key, Hold{}, absl::Hours(1),
                                 [seen = seen_](int& calls, absl::StatusOr<std::int64_t> r) {
                                   ++calls;
                                   seen->count(r.status());
                                 });
  }
  template <class T>
  void handle_message(int&, Envelope<T>) {}
  void handle_call(int&, Envelope<Hold>, Reply<std::int64_t> reply) { held_.push_back(std::move(reply)); }
  std::vector<Reply<std::int64_t>> held_;  // dropped with the worker: after the callers gave up
  Seen* seen_;
};

TEST(WorkerCalls, ShutdownCompletesEveryPendingCallExactlyOnceWithUnavailable) {
  Seen seen;
  auto pool = create_pool<Caller>(PoolConfig().with_num_workers(2).with_fault_observer(nullptr),
                                  each_worker_gets<Caller>(&seen));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(pool->send(k, Plain{}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().calls_handled == 100; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.callbacks.load(), 100) << "every call completed exactly once";
  EXPECT_EQ(seen.unavailable.load() + seen.cancelled.load(), 100)
      << "Unavailable (the caller stopped first) or Cancelled (the callee dropped its Reply first)";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.calls_started, s.calls_completed + s.calls_failed + s.calls_timed_out);
}

TEST(WorkerCalls, ACallFromOnStopCompletesAtOnceWithUnavailable) {
  Seen seen;
  auto pool = kv_pool(seen, 2, /*call_from_stop=*/true);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.stop_callbacks.load(), 2);
  EXPECT_EQ(seen.unavailable.load(), 2);
}

/// Asks itself with a request it has no handle_call for (Plain).
struct AsksUnanswerable : Worker<int, Msg> {
  explicit AsksUnanswerable(Seen* seen) : seen_(seen) {}
  void handle_message(int&, Envelope<Plain> e) {
    context().call<std::int64_t>(e.key, Plain{}, absl::Seconds(10),
                                 [seen = seen_](int&, absl::StatusOr<std::int64_t> r) { seen->count(r.status()); });
  }
  template <class T>
  void handle_message(int&, Envelope<T>) {}
  std::int64_t handle_call(int&, Envelope<Get>) { return 1; }
  Seen* seen_;
};

TEST(WorkerCalls, ARequestTheCalleeHasNoHandleCallForIsUnimplemented) {
  Seen seen;
  auto pool = create_pool<AsksUnanswerable>(PoolConfig().with_num_workers(1).with_fault_observer(nullptr),
                                            each_worker_gets<AsksUnanswerable>(&seen));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(0, Plain{}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return seen.callbacks.load() == 1; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.unimplemented.load(), 1);
}

/// A worker that calls with random deadlines into callees that answer, throw, drop or
/// hold at random; the pool shuts down in the middle. Every call completes exactly once.
struct Chaotic : Worker<std::uint64_t, Msg> {
  explicit Chaotic(Seen* seen) : seen_(seen) {}
  void handle_message(std::uint64_t&, Envelope<Ask> e) {
    const std::uint64_t pick = e.payload.target % 4;
    auto cb = [seen = seen_](std::uint64_t& n, absl::StatusOr<std::int64_t> r) {
      ++n;
      seen->count(r.status());
    };
    const absl::Duration d = absl::Microseconds(e.payload.deadline_ms);
    switch (pick) {
      case 0: context().call<std::int64_t>(e.payload.target, Get{e.payload.target}, d, cb); break;
      case 1: context().call<std::int64_t>(e.payload.target, Boom{}, d, cb); break;
      case 2: context().call<std::int64_t>(e.payload.target, Drop{}, d, cb); break;
      default: context().call<std::int64_t>(e.payload.target, Hold{}, d, cb); break;
    }
  }
  template <class T>
  void handle_message(std::uint64_t&, Envelope<T>) {}
  std::int64_t handle_call(std::uint64_t&, Envelope<Get> e) { return static_cast<std::int64_t>(e.payload.key); }
  std::int64_t handle_call(std::uint64_t&, Envelope<Boom>) { throw std::runtime_error("chaos"); }
  void handle_call(std::uint64_t&, Envelope<Drop>, Reply<std::int64_t>) {}
  void handle_call(std::uint64_t&, Envelope<Hold>, Reply<std::int64_t> r) {
    if (held_.size() < 50) held_.push_back(std::move(r));
  }
  std::vector<Reply<std::int64_t>> held_;
  Seen* seen_;
};

TEST(WorkerCalls, UnderRandomFaultsDeadlinesAndShutdownEveryCallCompletesExactlyOnce) {
  Seen seen;
  auto pool = create_pool<Chaotic>(
      PoolConfig().with_num_workers(3).with_fault_observer(nullptr).with_restart_limit(RestartLimit::unlimited()),
      each_worker_gets<Chaotic>(&seen));
  ASSERT_NE(pool, nullptr);
  std::mt19937_64 rng(12345);
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(pool->send(rng(), Ask{rng(), static_cast<std::int64_t>(rng() % 2000)}), SendResult::ok);
  }
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.callbacks.load(), n) << "exactly one callback per call";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.calls_started, static_cast<std::uint64_t>(n));
  EXPECT_EQ(s.calls_completed + s.calls_failed + s.calls_timed_out, static_cast<std::uint64_t>(n));
  expect_balanced(s);
}

}  // namespace
}  // namespace sn::test
