// The worker's table of pending calls: ids with generations, memory from the given
// resource, and the stop protocol (fail everything, then drain the mailbox until the
// table is empty) with callees answering concurrently.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
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
#include "sn/call/detail/call_mailbox.h"
#include "sn/call/detail/call_state.h"
#include "sn/call/detail/callback_call.h"
#include "sn/call/detail/pending_calls.h"
#include "sn/call/future.h"
#include "sn/call/reply.h"

namespace sn::test {
namespace {

using detail::CallErrors;
using detail::CallId;
using detail::CallMailbox;
using detail::CallRef;
using detail::CallState;
using detail::CallStateBase;
using detail::PendingCalls;

/// A plain record with its two references: the table's (as a CallRef) and the callee's.
struct NewCall {
  CallRef ref;
  Reply<int> reply;
};
NewCall new_call(detail::CallSink sink = {}) {
  auto* call = detail::make_call_record<CallState<int>>(CountingCallMemory::get(), sink, absl::InfiniteFuture());
  return {CallRef::adopt(call), Reply<int>::adopt(call)};
}

TEST(PendingCalls, IdsFindTheirCallUntilItIsTaken) {
  PendingCalls table;
  NewCall a = new_call(), b = new_call();
  CallStateBase* const a_record = a.ref.get();
  const CallId ia = table.insert(a.ref);
  const CallId ib = table.insert(b.ref);
  ASSERT_TRUE(ia.valid() && ib.valid());
  EXPECT_FALSE(a.ref) << "the table owns the reference now";
  EXPECT_NE(ia, ib);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.find(ia), a_record);
  EXPECT_EQ(a_record->table_id(), ia.value);
  CallRef taken = table.take(ia);
  EXPECT_EQ(taken.get(), a_record);
  EXPECT_EQ(table.find(ia), nullptr);
  EXPECT_FALSE(table.take(ia)) << "a taken id is gone";
  EXPECT_FALSE(table.take(CallId{})) << "the invalid id names nothing";
  EXPECT_EQ(table.size(), 1u);
}

TEST(PendingCalls, StaleIdNeverMatchesTheNextCallInItsSlot) {
  PendingCalls table;
  NewCall first = new_call();
  const CallId old_id = table.insert(first.ref);
  CallRef gone = table.take(old_id);
  NewCall second = new_call();
  CallStateBase* const second_record = second.ref.get();
  const CallId new_id = table.insert(second.ref);
  EXPECT_EQ(static_cast<std::uint32_t>(new_id.value), static_cast<std::uint32_t>(old_id.value)) << "slot reused";
  EXPECT_NE(new_id, old_id) << "with a new generation";
  EXPECT_EQ(table.find(old_id), nullptr) << "a late timer with the old id must not find the new call";
  EXPECT_FALSE(table.take(old_id));
  EXPECT_EQ(table.find(new_id), second_record);
}

TEST(PendingCalls, ThousandsOfCallsGetDistinctIdsAndFreedSlotsAreReused) {
  PendingCalls table;
  std::vector<CallId> ids;
  std::vector<Reply<int>> replies;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 1000; ++i) {
      NewCall c = new_call();
      ids.push_back(table.insert(c.ref));
      ASSERT_TRUE(ids.back().valid());
      replies.push_back(std::move(c.reply));
    }
    for (std::size_t i = ids.size() - 1000; i < ids.size(); ++i) EXPECT_TRUE(table.take(ids[i]));
    EXPECT_TRUE(table.empty());
  }
  std::sort(ids.begin(), ids.end(), [](CallId x, CallId y) { return x.value < y.value; });
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "an id was given twice";
  std::uint32_t max_index = 0;
  for (CallId id : ids) max_index = std::max(max_index, static_cast<std::uint32_t>(id.value));
  EXPECT_LT(max_index, 1000u) << "3000 calls, at most 1000 at a time, fit in 1000 slots";
}

TEST(PendingCalls, TakesItsSlotsFromTheGivenMemoryResource) {
  struct Counting : std::pmr::memory_resource {
    std::size_t allocations = 0;
    void* do_allocate(std::size_t bytes, std::size_t align) override {
      ++allocations;
      return std::pmr::new_delete_resource()->allocate(bytes, align);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
      std::pmr::new_delete_resource()->deallocate(p, bytes, align);
    }
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }
  } resource;
  PendingCalls table(&resource);
  NewCall c = new_call();
  const CallId id = table.insert(c.ref);
  EXPECT_TRUE(id.valid());
  EXPECT_GT(resource.allocations, 0u);
  EXPECT_TRUE(table.take(id));
}

TEST(PendingCalls, FailAllCompletesPendingCallsAndCountsThoseAnsweredFirst) {
  CallMailbox mailbox;
  PendingCalls table;
  std::vector<Reply<int>> replies;
  for (int i = 0; i < 3; ++i) {
    NewCall c = new_call(mailbox.sink());
    ASSERT_TRUE(table.insert(c.ref).valid());
    replies.push_back(std::move(c.reply));
  }
  EXPECT_EQ(replies[1].complete(7), ReplyResult::delivered);
  const detail::FailAllCounts counts = table.fail_all(CallErrors::unavailable());
  EXPECT_EQ(counts.failed, 2u);
  EXPECT_EQ(counts.in_flight, 1u);
  EXPECT_EQ(replies[0].complete(1), ReplyResult::too_late);
  int ok = 0, unavailable = 0;
  mailbox.take_all([&](CallStateBase& c) {
    CallRef ref = table.take(CallId{c.table_id()});
    ASSERT_EQ(ref.get(), &c);
    const absl::StatusOr<int>& r = static_cast<CallState<int>&>(c).result();
    if (r.ok()) ++ok;
    if (r.status().code() == absl::StatusCode::kUnavailable) ++unavailable;
  });
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(unavailable, 2);
  EXPECT_TRUE(table.empty());
}

// The worker's stop protocol, with callees answering on other threads the whole time:
// every call's callback runs exactly once on the owner, either with its answer or with
// Unavailable, and the callees' view (delivered / too_late) matches it one for one.
TEST(PendingCalls, StopProtocolRunsEveryCallbackExactlyOnceWhileCalleesRaceIt) {
  const int rounds = kUnderTsan ? 20 : 100;
  constexpr int kCalls = 200, kCallees = 2;
  const long memory_before = CountingCallMemory::live();
  for (int round = 0; round < rounds; ++round) {
    struct Owner {
      std::vector<int> runs = std::vector<int>(kCalls, 0);
      int answered = 0, unavailable = 0;
    } owner;
    // Destroyed before the callees are joined, as a stopping worker's would be.
    auto doorbell = std::make_unique<sync::Doorbell>();
    const bool asymmetric = sync::asymmetric_barriers_available();
    auto mailbox = std::make_unique<CallMailbox>(doorbell.get(), asymmetric);
    PendingCalls table;
    std::vector<std::vector<Reply<int>>> work(kCallees);
    for (int i = 0; i < kCalls; ++i) {
      auto* call =
          detail::make_callback_call<int, Owner>(CountingCallMemory::get(), mailbox->sink(), absl::InfiniteFuture(),
                                                 [i](Owner& o, absl::StatusOr<int> r) noexcept {
                                                   ++o.runs[i];
                                                   if (r.ok() && *r == i) ++o.answered;
                                                   if (r.status().code() == absl::StatusCode::kUnavailable)
                                                     ++o.unavailable;
                                                 });
      ASSERT_NE(call, nullptr);
      CallRef ref = CallRef::adopt(call);
      ASSERT_TRUE(table.insert(ref).valid());
      work[i % kCallees].push_back(Reply<int>::adopt(call));
    }
    std::atomic<int> delivered{0}, too_late{0};
    std::vector<std::thread> callees;
    for (int c = 0; c < kCallees; ++c) {
      callees.emplace_back([&, c] {
        for (std::size_t k = 0; k < work[c].size(); ++k) {
          const int i = static_cast<int>(k) * kCallees + c;
          (work[c][k].complete(i) == ReplyResult::delivered ? delivered : too_late).fetch_add(1);
        }
      });
    }
    auto take = [&] {
      return mailbox->take_all([&](CallStateBase& c) {
        CallRef ref = table.take(CallId{c.table_id()});
        if (ref.get() != &c) ADD_FAILURE() << "a record came back that the table did not hold";
        c.deliver(&owner);
      });
    };
    // Some answers arrive in the ordinary way first; then the owner stops.
    for (int spins = 0; spins < round % 7; ++spins) take();
    const detail::FailAllCounts counts = table.fail_all(CallErrors::unavailable());
    while (!table.empty()) {
      take();
      if (!table.empty() && wait_for_mail(*mailbox, *doorbell, asymmetric, stall_limit()) == MailboxWait::timed_out) {
        ADD_FAILURE() << table.size() << " calls never came back: a lost wake-up or a lost record";
        break;
      }
    }
    mailbox.reset();  // waits for pushes still ringing the doorbell
    doorbell.reset();
    for (auto& t : callees) t.join();
    for (int i = 0; i < kCalls; ++i) ASSERT_EQ(owner.runs[i], 1) << "call " << i << " in round " << round;
    EXPECT_EQ(owner.answered + owner.unavailable, kCalls);
    EXPECT_EQ(owner.answered, delivered.load());
    EXPECT_EQ(owner.unavailable, too_late.load());
    EXPECT_EQ(static_cast<int>(counts.failed), owner.unavailable);
  }
  EXPECT_EQ(CountingCallMemory::live(), memory_before) << "every record freed";
}

}  // namespace
}  // namespace sn::test
