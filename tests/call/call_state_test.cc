// The completion record and the reply handle: exactly-once completion, refusals,
// lifetimes, one allocation per call, callbacks on the completing thread.
#include <array>
#include <atomic>
#include <barrier>
#include <cstdint>
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
#include "sn/call/detail/call_state.h"
#include "sn/call/detail/callback_call.h"
#include "sn/call/future.h"
#include "sn/call/reply.h"

namespace sn {
inline void PrintTo(ReplyResult r, std::ostream* os) { *os << to_string(r); }
}  // namespace sn

namespace sn::test {
namespace {

using detail::CallErrors;
using detail::CallRef;
using detail::CallState;
using detail::CompleteResult;

static_assert(noexcept(std::declval<Reply<Tracked>&>().complete(std::declval<Tracked>())));
static_assert(noexcept(std::declval<Reply<Tracked>&>().fail(std::declval<absl::Status>())));
static_assert(noexcept(std::declval<detail::CallStateBase&>().fail(std::declval<absl::Status>())));
static_assert(!std::is_copy_constructible_v<Reply<int>> && std::is_nothrow_move_constructible_v<Reply<int>>);

TEST(CallState, FirstCompletionWinsAndLaterOnesAreRefused) {
  auto pair = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto& [future, reply] = *pair;
  EXPECT_FALSE(future.ready());
  EXPECT_TRUE(reply.wanted());
  EXPECT_TRUE(future.cancel());
  EXPECT_FALSE(future.cancel()) << "a second completion must be refused";
  EXPECT_FALSE(reply.wanted());
  EXPECT_EQ(reply.complete(7), ReplyResult::too_late);
  EXPECT_FALSE(reply.valid());
  EXPECT_EQ(future.get().status().code(), absl::StatusCode::kCancelled);
}

TEST(CallState, FailingWithAnOkStatusCompletesWithInternal) {
  auto pair = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->reply.fail(absl::OkStatus()), ReplyResult::delivered);
  EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kInternal);
}

TEST(CallState, ExactlyOneOfReplyDeadlineAndCancelWinsWhenTheyRaceFromThreeThreads) {
  const int iterations = kUnderTsan ? 2000 : 20000;
  const TrackedCounts start;
  const long memory_before = CountingCallMemory::live();
  {
    // Each call: a future (the test's), a Reply (thread 0), and one CallRef each for the
    // deadline (thread 1) and the cancel (thread 2). All four let go in some order.
    std::vector<CallFuture<Tracked>> futures;
    std::vector<Reply<Tracked>> replies;
    std::vector<CallState<Tracked>*> records;
    for (int i = 0; i < iterations; ++i) {
      auto* call = detail::make_call_record<CallState<Tracked>>(CountingCallMemory::get(), detail::CallSink{},
                                                                absl::InfinitePast());
      ASSERT_NE(call, nullptr);
      call->add_ref();
      call->add_ref();
      futures.push_back(CallFuture<Tracked>::adopt(call));
      replies.push_back(Reply<Tracked>::adopt(call));
      records.push_back(call);
    }
    std::vector<std::array<std::uint8_t, 3>> won(iterations, {0, 0, 0});
    std::barrier sync(3);
    auto racer = [&](int who) {
      for (int i = 0; i < iterations; ++i) {
        sync.arrive_and_wait();
        bool w = false;
        if (who == 0) {
          w = replies[i].complete(Tracked(i)) == ReplyResult::delivered;
        } else {
          CallRef ref = CallRef::adopt(records[i]);  // this thread's reference
          w = who == 1 ? ref->expire_if_due(absl::Now()) == CompleteResult::completed
                       : ref->fail(CallErrors::cancelled()) == CompleteResult::completed;
        }
        won[i][who] = w ? 1 : 0;
      }
    };
    std::thread t0(racer, 0), t1(racer, 1), t2(racer, 2);
    t0.join();
    t1.join();
    t2.join();

    std::array<int, 3> wins{0, 0, 0};
    int losers = 0;
    for (int i = 0; i < iterations; ++i) {
      const int winners = won[i][0] + won[i][1] + won[i][2];
      ASSERT_EQ(winners, 1) << "call " << i;
      losers += 3 - winners;
      absl::StatusOr<Tracked> r = futures[i].get();
      if (won[i][0] != 0) {
        ++wins[0];
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->id, i);
        EXPECT_TRUE(r->intact());
      } else {
        const int who = won[i][1] != 0 ? 1 : 2;
        ++wins[who];
        EXPECT_EQ(r.status().code(), who == 1 ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kCancelled);
      }
    }
    EXPECT_EQ(losers, 2 * iterations);
    EXPECT_EQ(wins[0] + wins[1] + wins[2], iterations);
    std::printf("winners: reply %d, deadline %d, cancel %d\n", wins[0], wins[1], wins[2]);
  }
  EXPECT_EQ(CountingCallMemory::live(), memory_before) << "every record must be freed once";
  EXPECT_EQ(Tracked::live.load(), start.live);
  expect_no_leaks_since(start);
}

TEST(CallState, EachCallAllocatesOnceAndFreesOnceWhicheverSideLetsGoLast) {
  const long allocated = CountingCallMemory::allocated.load();
  const long released = CountingCallMemory::released.load();
  auto first = make_call<int>(absl::InfiniteFuture(), CountingCallMemory::get());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->reply.complete(1), ReplyResult::delivered);  // the answering side lets go first
  EXPECT_EQ(CountingCallMemory::released.load() - released, 0);
  first->future = CallFuture<int>();
  EXPECT_EQ(CountingCallMemory::released.load() - released, 1);

  auto second = make_call<int>(absl::InfiniteFuture(), CountingCallMemory::get());
  ASSERT_TRUE(second.ok());
  second->future = CallFuture<int>();  // the waiting side lets go first
  EXPECT_EQ(CountingCallMemory::released.load() - released, 1);
  EXPECT_EQ(second->reply.complete(2), ReplyResult::delivered) << "nobody cancelled: the answer completes the call";
  EXPECT_EQ(CountingCallMemory::released.load() - released, 2);
  EXPECT_EQ(CountingCallMemory::allocated.load() - allocated, 2);
}

TEST(CallState, MakeCallReportsResourceExhaustedWhenThereIsNoMemory) {
  auto pair = make_call<int>(absl::InfiniteFuture(), exhausted_call_memory());
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(Reply, DroppedReplyHandleCompletesTheCallWithCancelled) {
  auto pair = make_call<Tracked>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok());
  std::thread callee([reply = std::move(pair->reply)]() mutable { Reply<Tracked> gone = std::move(reply); });
  callee.join();
  absl::StatusOr<Tracked> r = pair->future.get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(r.status().message().find("dropped the reply handle"), absl::string_view::npos) << r.status();
}

TEST(Reply, MoveAssigningOverAnUnansweredReplyAbandonsTheCallItHeld) {
  auto a = make_call<int>(absl::InfiniteFuture());
  auto b = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(a.ok() && b.ok());
  a->reply = std::move(b->reply);
  EXPECT_EQ(a->future.get().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(a->reply.complete(2), ReplyResult::delivered) << "the handle now answers b's call";
  EXPECT_EQ(*b->future.get(), 2);
}

TEST(Reply, SecondAnswerReportsNoCallInsteadOfTouchingTheRecord) {
  auto pair = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->reply.complete(1), ReplyResult::delivered);
  EXPECT_EQ(pair->reply.complete(2), ReplyResult::no_call);
  EXPECT_EQ(pair->reply.fail(absl::InternalError("x")), ReplyResult::no_call);
  EXPECT_EQ(*pair->future.get(), 1);
}

TEST(Reply, AnswerAfterTheDeadlineIsDroppedReportedTooLateAndDestroyed) {
  const TrackedCounts start;
  {
    auto pair = make_call<Tracked>(absl::Now() + absl::Milliseconds(5));
    ASSERT_TRUE(pair.ok());
    pair->future.wait();
    EXPECT_EQ(pair->reply.complete(Tracked(3)), ReplyResult::too_late);
    EXPECT_EQ(pair->future.get().status().code(), absl::StatusCode::kDeadlineExceeded);
  }
  expect_no_leaks_since(start);
}

TEST(Reply, CalleesErrorStatusReachesTheCaller) {
  auto pair = make_call<int>(absl::InfiniteFuture());
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->reply.answer(absl::NotFoundError("no such key")), ReplyResult::delivered);
  absl::StatusOr<int> r = pair->future.get();
  EXPECT_EQ(r.status(), absl::NotFoundError("no such key"));
}

TEST(CallbackCall, InlineSinkRunsTheCallbackOnceOnTheCompletingThread) {
  std::atomic<int> runs{0};
  std::thread::id ran_on;
  int value = 0;
  auto* call = detail::make_callback_call<int>(detail::CallMemory::global(), detail::inline_sink(),
                                               absl::InfiniteFuture(), [&](absl::StatusOr<int> r) noexcept {
                                                 runs.fetch_add(1);
                                                 ran_on = std::this_thread::get_id();
                                                 value = r.ok() ? *r : -1;
                                               });
  ASSERT_NE(call, nullptr);
  CallRef caller = CallRef::adopt(call);
  std::thread::id callee_id;
  std::thread callee([&, reply = Reply<int>::adopt(call)]() mutable {
    callee_id = std::this_thread::get_id();
    EXPECT_EQ(reply.complete(42), ReplyResult::delivered);
  });
  callee.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(ran_on, callee_id);
  EXPECT_EQ(value, 42);
  EXPECT_EQ(caller->fail(CallErrors::unavailable()), CompleteResult::refused);
  EXPECT_EQ(runs.load(), 1) << "a refused completion must not run the callback again";
}

TEST(CallbackCall, PassedDeadlineRunsTheCallbackAtOnceWithDeadlineExceeded) {
  for (absl::Duration d : {absl::ZeroDuration(), absl::Milliseconds(-5)}) {
    absl::StatusCode got = absl::StatusCode::kOk;
    auto* call = detail::make_callback_call<int>(detail::CallMemory::global(), detail::inline_sink(), absl::Now() + d,
                                                 [&](absl::StatusOr<int> r) noexcept { got = r.status().code(); });
    ASSERT_NE(call, nullptr);
    EXPECT_EQ(got, absl::StatusCode::kDeadlineExceeded) << "the callback has run when make returns";
    CallRef caller = CallRef::adopt(call);
    EXPECT_EQ(Reply<int>::adopt(call).complete(1), ReplyResult::too_late);
  }
}

}  // namespace
}  // namespace sn::test
