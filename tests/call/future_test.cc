// Futures for callers outside the pool: values, deadlines, cancels, a wait that parks
// instead of spinning, and futures destroyed before their answer.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "call_test_support.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/call/future.h"
#include "sn/call/reply.h"

namespace sn::test {
namespace {

TEST(CallFuture, GetReturnsTheValueTheCalleeCompletedWithOnAnotherThread) {
  const TrackedCounts start;
  {
    auto pair = make_call<Tracked>(absl::InfiniteFuture());
    ASSERT_TRUE(pair.ok());
    std::thread callee(
        [reply = std::move(pair->reply)]() mutable { EXPECT_EQ(reply.complete(Tracked(9)), ReplyResult::delivered); });
    absl::StatusOr<Tracked> r = pair->future.get();
    callee.join();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->id, 9);
    EXPECT_TRUE(r->intact());
    EXPECT_FALSE(pair->future.valid()) << "get() takes the result once";
    EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  expect_no_leaks_since(start);
}

TEST(CallFuture, WaitingForALateReplyParksInsteadOfSpinningACore) {
  auto pair = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok());
  const absl::Duration delay = absl::Milliseconds(200);
  std::thread callee([&, reply = std::move(pair->reply)]() mutable {
    absl::SleepFor(delay);  // sleeping uses no CPU: what the process burns is the waiter's
    EXPECT_EQ(reply.complete(1), ReplyResult::delivered);
  });
  const absl::Duration cpu_before = process_cpu_time();
  const absl::Time wall_before = absl::Now();
  pair->future.wait();
  const absl::Duration wall = absl::Now() - wall_before;
  const absl::Duration cpu = process_cpu_time() - cpu_before;
  callee.join();
  EXPECT_EQ(*pair->future.get(), 1);
  EXPECT_GE(wall, delay - absl::Milliseconds(20));
  EXPECT_LT(cpu, wall / 2) << "the wait burned " << cpu << " of CPU in " << wall;
  std::printf("waited %s, used %s of CPU\n", absl::FormatDuration(wall).c_str(), absl::FormatDuration(cpu).c_str());
}

TEST(CallFuture, ZeroOrNegativeDeadlineCompletesAtOnceWithDeadlineExceeded) {
  for (absl::Duration d : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    auto pair = make_call<int>(absl::Now() + d);
    ASSERT_TRUE(pair.ok());
    EXPECT_TRUE(pair->future.ready());
    EXPECT_FALSE(pair->reply.wanted()) << "the callee can tell nobody waits";
    EXPECT_EQ(pair->reply.complete(1), ReplyResult::too_late);
    EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kDeadlineExceeded);
  }
}

TEST(CallFuture, WaitEndsAtTheCallsDeadlineWithDeadlineExceeded) {
  auto pair = make_call<int>(absl::Now() + absl::Milliseconds(30));
  ASSERT_TRUE(pair.ok());
  const absl::Time before = absl::Now();
  pair->future.wait();
  const absl::Duration waited = absl::Now() - before;
  EXPECT_GE(waited, absl::Milliseconds(25));
  EXPECT_LT(waited, absl::Seconds(5));
  EXPECT_EQ(pair->reply.complete(1), ReplyResult::too_late) << "a reply after the deadline is late";
  EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(CallFuture, WaitForReturnsFalseWhenItsOwnLimitComesBeforeTheCallsDeadline) {
  auto pair = make_call<int>(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(pair.ok());
  EXPECT_FALSE(pair->future.wait_for(absl::Milliseconds(10)));
  EXPECT_FALSE(pair->future.ready());
  EXPECT_TRUE(pair->reply.wanted());
  EXPECT_EQ(pair->reply.complete(5), ReplyResult::delivered);
  EXPECT_TRUE(pair->future.wait_for(absl::Milliseconds(10)));
  EXPECT_EQ(*pair->future.get(), 5);
}

TEST(CallFuture, ReadyPollsWithoutWaitingAndExpiresTheCallOnceItsDeadlinePassed) {
  auto pair = make_call<int>(absl::Now() + absl::Milliseconds(20));
  ASSERT_TRUE(pair.ok());
  EXPECT_FALSE(pair->future.ready());
  absl::SleepFor(absl::Milliseconds(25));
  EXPECT_TRUE(pair->future.ready());
  EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(CallFuture, CancelCompletesWithCancelledAndTheCalleesAnswerIsTooLate) {
  auto pair = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok());
  EXPECT_TRUE(pair->future.cancel());
  EXPECT_EQ(pair->reply.complete(1), ReplyResult::too_late);
  EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kCancelled);
}

TEST(CallFuture, FutureDestroyedBeforeItsAnswerIsSafeAndEverythingIsFreed) {
  const int iterations = kUnderTsan ? 2000 : 20000;
  const TrackedCounts start;
  const long memory_before = CountingCallMemory::live();
  std::vector<Reply<Tracked>> replies;
  std::vector<CallFuture<Tracked>> futures;
  for (int i = 0; i < iterations; ++i) {
    auto pair = make_call<Tracked>(absl::InfiniteFuture(), CountingCallMemory::get());
    ASSERT_TRUE(pair.ok());
    replies.push_back(std::move(pair->reply));
    futures.push_back(std::move(pair->future));
  }
  std::atomic<int> delivered{0};
  StartGate gate;
  std::thread callee([&] {
    gate.arrive_and_wait();
    for (int i = 0; i < iterations; ++i) {
      if (replies[i].complete(Tracked(i)) == ReplyResult::delivered) delivered.fetch_add(1);
    }
  });
  std::thread caller([&] {
    gate.arrive_and_wait();
    for (int i = 0; i < iterations; ++i) futures[i] = CallFuture<Tracked>();
  });
  gate.open_when(2);
  callee.join();
  caller.join();
  EXPECT_EQ(delivered.load(), iterations) << "nobody cancelled, so every answer completes its call";
  EXPECT_EQ(CountingCallMemory::live(), memory_before);
  expect_no_leaks_since(start);
}

TEST(CallFuture, WaiterAndCompleterRacingNeverLoseTheWakeup) {
  const int iterations = kUnderTsan ? 500 : 3000;
  std::mt19937 rng(12345);
  std::vector<int> delays_us(iterations);
  for (int& d : delays_us) d = static_cast<int>(rng() % 40);  // around the spin phase's length
  std::vector<Reply<int>> replies;
  std::vector<CallFuture<int>> futures;
  for (int i = 0; i < iterations; ++i) {
    auto pair = make_call<int>(absl::InfiniteFuture());
    ASSERT_TRUE(pair.ok());
    replies.push_back(std::move(pair->reply));
    futures.push_back(std::move(pair->future));
  }
  std::atomic<int> round{-1};
  std::thread callee([&] {
    for (int i = 0; i < iterations; ++i) {
      while (round.load(std::memory_order_acquire) < i) std::this_thread::yield();
      if (delays_us[i] != 0) std::this_thread::sleep_for(std::chrono::microseconds(delays_us[i]));
      EXPECT_EQ(replies[i].complete(i), ReplyResult::delivered);
    }
  });
  int lost = 0;
  for (int i = 0; i < iterations; ++i) {
    round.store(i, std::memory_order_release);
    if (!futures[i].wait_for(stall_limit())) {
      ++lost;
      break;
    }
    EXPECT_EQ(*futures[i].get(), i);
  }
  EXPECT_EQ(lost, 0) << "a waiter slept through its completion";
  round.store(iterations, std::memory_order_release);  // lets the callee finish after a failure
  callee.join();
}

}  // namespace
}  // namespace sn::test
