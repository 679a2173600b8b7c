// The reply mailbox: exactly-once FIFO delivery from many producers, the doorbell
// handshake (no lost wake-up), and callbacks delivered on the owner's thread.
#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "call_test_support.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/call/detail/call_mailbox.h"
#include "sn/call/detail/call_state.h"
#include "sn/call/detail/callback_call.h"
#include "sn/call/reply.h"
#include "sn/sync/barrier.h"
#include "sn/sync/doorbell.h"

namespace sn::test {
namespace {

using detail::CallMailbox;
using detail::CallRef;
using detail::CallState;
using detail::CallStateBase;

static_assert(noexcept(std::declval<CallMailbox&>().push(std::declval<CallStateBase&>())));

struct Stamp {
  int producer = 0;
  std::uint64_t seq = 0;
};

/// A call whose completion is pushed into `mailbox`; returns the Reply, the record's
/// other reference stays with the mailbox's taker (adopted when taken).
Reply<Stamp> routed_call(CallMailbox& mailbox) {
  auto* call =
      detail::make_call_record<CallState<Stamp>>(CountingCallMemory::get(), mailbox.sink(), absl::InfiniteFuture());
  EXPECT_NE(call, nullptr);
  return Reply<Stamp>::adopt(call);
}

/// Takes everything, checks FIFO per producer, drops the taker's references.
std::size_t take_and_check(CallMailbox& mailbox, std::vector<std::uint64_t>& next_seq) {
  return mailbox.take_all([&](CallStateBase& c) {
    CallRef ref = CallRef::adopt(&c);
    auto& result = static_cast<CallState<Stamp>&>(c).result();
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->seq, next_seq[result->producer]) << "producer " << result->producer;
    next_seq[result->producer] = result->seq + 1;
  });
}

TEST(CallMailbox, TakeAllReturnsRecordsOldestFirst) {
  CallMailbox mailbox;
  EXPECT_FALSE(mailbox.published());
  for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(routed_call(mailbox).complete(Stamp{0, i}), ReplyResult::delivered);
  EXPECT_TRUE(mailbox.published());
  std::vector<std::uint64_t> next(1, 0);
  EXPECT_EQ(take_and_check(mailbox, next), 5u);
  EXPECT_EQ(next[0], 5u);
  EXPECT_FALSE(mailbox.published());
  EXPECT_EQ(mailbox.take_all([](CallStateBase&) {}), 0u);
}

TEST(CallMailbox, EveryRecordFromManyProducersArrivesExactlyOnceAndInOrderPerProducer) {
  constexpr int kProducers = 4;
  const std::uint64_t per_producer = scaled(50000);
  const long memory_before = CountingCallMemory::live();
  sync::Doorbell doorbell;
  const bool asymmetric = sync::asymmetric_barriers_available();
  CallMailbox mailbox(&doorbell, asymmetric);
  StartGate gate;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      gate.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        if (routed_call(mailbox).complete(Stamp{p, i}) != ReplyResult::delivered) ADD_FAILURE();
      }
    });
  }
  gate.open_when(kProducers);
  std::vector<std::uint64_t> next(kProducers, 0);
  std::uint64_t received = 0;
  while (received < kProducers * per_producer) {
    received += take_and_check(mailbox, next);
    if (received < kProducers * per_producer &&
        wait_for_mail(mailbox, doorbell, asymmetric, stall_limit()) == MailboxWait::timed_out) {
      ADD_FAILURE() << "stalled at " << received << " records: a lost wake-up?";
      break;
    }
  }
  for (auto& t : producers) t.join();
  received += take_and_check(mailbox, next);
  EXPECT_EQ(received, kProducers * per_producer);
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], per_producer) << "producer " << p;
  EXPECT_EQ(CountingCallMemory::live(), memory_before);
}

TEST(CallMailbox, ParkedOwnerIsWokenByEachPushWithoutALostWakeup) {
  const int rounds = kUnderTsan ? 200 : 1000;
  for (const bool asymmetric : {false, sync::asymmetric_barriers_available()}) {
    sync::Doorbell doorbell;
    CallMailbox mailbox(&doorbell, asymmetric);
    std::atomic<int> parked_rounds{0};
    std::thread pusher([&] {
      for (int i = 0; i < rounds; ++i) {
        // Half the rounds push once the owner is parked (the wake path), half at once
        // (the race between the owner's re-check and the push).
        if (i % 2 == 0) {
          const absl::Time give_up = absl::Now() + stall_limit();
          while (!doorbell.asleep() && absl::Now() < give_up) std::this_thread::yield();
          if (doorbell.asleep()) parked_rounds.fetch_add(1, std::memory_order_relaxed);
        }
        if (routed_call(mailbox).complete(Stamp{0, static_cast<std::uint64_t>(i)}) != ReplyResult::delivered) {
          ADD_FAILURE();
        }
      }
    });
    std::vector<std::uint64_t> next(1, 0);
    int taken = 0;
    while (taken < rounds) {
      const MailboxWait w = wait_for_mail(mailbox, doorbell, asymmetric, stall_limit(), WaitPolicy::park_immediately());
      if (w == MailboxWait::timed_out) {
        ADD_FAILURE() << "lost wake-up: the owner slept through a push after " << taken << " records";
        break;
      }
      taken += static_cast<int>(take_and_check(mailbox, next));
    }
    pusher.join();
    taken += static_cast<int>(take_and_check(mailbox, next));
    EXPECT_EQ(taken, rounds);
    EXPECT_GT(parked_rounds.load(), 0) << "the owner never parked: the wake path went untested";
  }
}

TEST(CallMailbox, RoutedCallbackRunsOnTheOwnersThreadWithItsContext) {
  struct State {
    int sum = 0;
    int runs = 0;
    std::thread::id thread;
  };
  sync::Doorbell doorbell;
  CallMailbox mailbox(&doorbell, false);
  State state;
  std::vector<CallRef> pending;
  std::vector<Reply<int>> replies;
  for (int i = 1; i <= 10; ++i) {
    auto* call =
        detail::make_callback_call<int, State>(detail::CallMemory::global(), mailbox.sink(), absl::InfiniteFuture(),
                                               [](State& s, absl::StatusOr<int> r) noexcept {
                                                 s.sum += r.ok() ? *r : 1000;
                                                 ++s.runs;
                                                 s.thread = std::this_thread::get_id();
                                               });
    ASSERT_NE(call, nullptr);
    pending.push_back(CallRef::adopt(call));
    replies.push_back(Reply<int>::adopt(call));
  }
  std::thread callee([&] {
    for (int i = 0; i < 10; ++i) EXPECT_EQ(replies[i].complete(i + 1), ReplyResult::delivered);
  });
  callee.join();
  EXPECT_EQ(state.runs, 0) << "nothing runs until the owner takes the records";
  const std::size_t n = mailbox.take_all([&](CallStateBase& c) { c.deliver(&state); });
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(state.runs, 10);
  EXPECT_EQ(state.sum, 55);
  EXPECT_EQ(state.thread, std::this_thread::get_id());
}

}  // namespace
}  // namespace sn::test
