// Accuracy of ChannelStats after known single-threaded operations.
#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

template <class KindT>
class ChannelStatsAccuracy : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelStatsAccuracy, AllKinds);

template <class KindT>
class MultiProducerChannelStats : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(MultiProducerChannelStats, MultiProducerKinds);

struct Expected {
  std::uint64_t sent = 0, received = 0;
  std::uint64_t full = 0, closed_sends = 0, blocked = 0;  // send_full, send_closed, send_blocked
  std::uint64_t depth = 0, capacity = 0;
  bool closed = false;
};

void expect_stats(const ChannelStats& s, const Expected& e, int line, std::string_view note = {}) {
  SCOPED_TRACE(testing::Message() << "checked at line " << line << " " << note);
  EXPECT_EQ(s.sent, e.sent);
  EXPECT_EQ(s.received, e.received);
  EXPECT_EQ(s.send_full, e.full);
  EXPECT_EQ(s.send_closed, e.closed_sends);
  EXPECT_EQ(s.send_errors(), e.full + e.closed_sends);
  EXPECT_EQ(s.send_blocked, e.blocked);
  EXPECT_EQ(s.approx_depth, e.depth);
  EXPECT_EQ(s.capacity, e.capacity);
  EXPECT_EQ(s.closed, e.closed);
}

TYPED_TEST(ChannelStatsAccuracy, AFreshChannelReportsOnlyItsCapacity) {
  auto ch = open<int, TestFixture::K>(6);
  expect_stats(ch.tx.stats(), {.capacity = 8}, __LINE__);
  expect_stats(ch.rx.stats(), {.capacity = 8}, __LINE__);
}

TYPED_TEST(ChannelStatsAccuracy, StatsCountEveryOperationExactly) {
  auto ch = open<int, TestFixture::K>(4);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok);
  expect_stats(ch.rx.stats(), {.sent = 4, .depth = 4, .capacity = 4}, __LINE__);

  EXPECT_EQ(ch.tx.try_send(4), SendResult::full);
  EXPECT_EQ(ch.tx.try_send(4), SendResult::full);
  expect_stats(ch.rx.stats(), {.sent = 4, .full = 2, .depth = 4, .capacity = 4}, __LINE__);

  EXPECT_EQ(ch.tx.send_for(4, absl::Milliseconds(2)), SendResult::timeout);
  expect_stats(ch.rx.stats(), {.sent = 4, .full = 3, .blocked = 1, .depth = 4, .capacity = 4}, __LINE__,
               "a timed-out send waited (blocked) and failed for lack of space (full), once each");

  int out = 0;
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  std::array<int, 2> outs{};
  ASSERT_EQ(ch.rx.recv_batch(std::span(outs)).count, 2u);
  expect_stats(ch.tx.stats(), {.sent = 4, .received = 3, .full = 3, .blocked = 1, .depth = 1, .capacity = 4}, __LINE__);

  std::array<int, 5> batch = {10, 11, 12, 13, 14};
  const SendBatchResult partial = ch.tx.send_batch(std::span(batch));
  ASSERT_EQ(partial.count, 3u);
  expect_stats(ch.tx.stats(), {.sent = 7, .received = 3, .full = 4, .blocked = 1, .depth = 4, .capacity = 4}, __LINE__,
               "a partial batch counts once as full");

  ASSERT_EQ(ch.rx.consume(10, [](int&&) {}).count, 4u);
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::empty);
  expect_stats(ch.rx.stats(), {.sent = 7, .received = 7, .full = 4, .blocked = 1, .depth = 0, .capacity = 4}, __LINE__,
               "an empty receive counts nothing");

  ASSERT_EQ(ch.tx.send_for(20, absl::Milliseconds(2)), SendResult::ok);
  ASSERT_EQ(ch.tx.send(21), SendResult::ok);
  expect_stats(ch.rx.stats(), {.sent = 9, .received = 7, .full = 4, .blocked = 1, .depth = 2, .capacity = 4}, __LINE__,
               "blocking sends that found room count nothing extra");

  ch.rx.close();
  EXPECT_EQ(ch.tx.try_send(30), SendResult::closed);
  EXPECT_EQ(ch.tx.send(31), SendResult::closed);
  EXPECT_EQ(ch.tx.send_for(32, absl::Milliseconds(2)), SendResult::closed);
  std::array<int, 2> late = {33, 34};
  EXPECT_EQ(ch.tx.send_batch(std::span(late)).status, SendResult::closed);
  expect_stats(
      ch.rx.stats(),
      {.sent = 9, .received = 7, .full = 4, .closed_sends = 4, .blocked = 1, .depth = 2, .capacity = 4, .closed = true},
      __LINE__, "each refused send counts once as closed; none of them waited");

  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
  expect_stats(
      ch.tx.stats(),
      {.sent = 9, .received = 9, .full = 4, .closed_sends = 4, .blocked = 1, .depth = 0, .capacity = 4, .closed = true},
      __LINE__);
}

TYPED_TEST(ChannelStatsAccuracy, EmptyBatchesCountNothing) {
  auto ch = open<int, TestFixture::K>(2);
  EXPECT_EQ(ch.tx.send_batch(std::span<int>()).status, SendResult::ok);
  EXPECT_EQ(ch.rx.recv_batch(std::span<int>()).count, 0u);
  expect_stats(ch.rx.stats(), {.capacity = 2}, __LINE__);
}

TYPED_TEST(ChannelStatsAccuracy, CountersOfADestroyedSenderRemainInTheTotals) {
  auto ch = open<int, TestFixture::K>(2);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  EXPECT_EQ(ch.tx.try_send(3), SendResult::full);
  // Moving a sender moves its counters with it.
  auto moved = std::move(ch.tx);
  EXPECT_EQ(moved.send_for(3, absl::Milliseconds(1)), SendResult::timeout);
  const Expected before_drop{.sent = 2, .full = 2, .blocked = 1, .depth = 2, .capacity = 2};
  expect_stats(ch.rx.stats(), before_drop, __LINE__);
  { auto gone = std::move(moved); }  // the last sender: closes, folds its counters in
  Expected after_drop = before_drop;
  after_drop.closed = true;
  expect_stats(ch.rx.stats(), after_drop, __LINE__, "the dropped sender's counters stay in the totals");
  int out = 0;
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  after_drop.received = 1;
  after_drop.depth = 1;
  expect_stats(ch.rx.stats(), after_drop, __LINE__);
}

TYPED_TEST(MultiProducerChannelStats, CountersOfDestroyedSenderCopiesRemainInTheTotals) {
  auto ch = open<int, TestFixture::K>(2);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  {
    auto copy = ch.tx;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(copy.try_send(3), SendResult::full);
    EXPECT_EQ(copy.send_for(3, absl::Milliseconds(1)), SendResult::timeout);
    expect_stats(ch.rx.stats(), {.sent = 2, .full = 4, .blocked = 1, .depth = 2, .capacity = 2}, __LINE__,
                 "live copies are summed");
    auto copy_of_copy = copy;  // a copy starts with its own, zero, counters
    EXPECT_EQ(copy_of_copy.try_send(3), SendResult::full);
    expect_stats(ch.rx.stats(), {.sent = 2, .full = 5, .blocked = 1, .depth = 2, .capacity = 2}, __LINE__);
  }
  expect_stats(ch.rx.stats(), {.sent = 2, .full = 5, .blocked = 1, .depth = 2, .capacity = 2}, __LINE__,
               "destroyed copies stay counted");
  EXPECT_EQ(ch.tx.try_send(3), SendResult::full);
  {
    auto copy = ch.tx;
    ch.rx.close();
    EXPECT_EQ(copy.try_send(3), SendResult::closed);
    EXPECT_EQ(copy.send(3), SendResult::closed);
  }
  const Expected final_totals{
      .sent = 2, .full = 6, .closed_sends = 2, .blocked = 1, .depth = 2, .capacity = 2, .closed = true};
  expect_stats(ch.rx.stats(), final_totals, __LINE__);
  // Copy assignment retires the target's old counters into its old channel's totals.
  auto other = open<int, TestFixture::K>(2);
  auto target = other.tx;
  EXPECT_EQ(target.try_send(1), SendResult::ok);
  other.rx.close();
  EXPECT_EQ(target.try_send(1), SendResult::closed);
  target = ch.tx;
  expect_stats(other.rx.stats(), {.sent = 1, .closed_sends = 1, .depth = 1, .capacity = 2, .closed = true}, __LINE__);
  expect_stats(ch.rx.stats(), final_totals, __LINE__, "the new copy starts at zero");
}

TYPED_TEST(ChannelStatsAccuracy, StatsOfAnEmptyHandleAreZero) {
  Sender<int, TestFixture::K> tx;
  Receiver<int, TestFixture::K> rx;
  EXPECT_EQ(tx.try_send(1), SendResult::closed);
  expect_stats(tx.stats(), {}, __LINE__);
  expect_stats(rx.stats(), {}, __LINE__);
}

TYPED_TEST(ChannelStatsAccuracy, AnyHandleReportsTheSameSnapshot) {
  auto ch = open<int, TestFixture::K>(8);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  const ChannelStats a = ch.tx.stats();
  const ChannelStats b = ch.rx.stats();
  EXPECT_EQ(a.sent, b.sent);
  EXPECT_EQ(a.received, b.received);
  EXPECT_EQ(a.approx_depth, b.approx_depth);
  EXPECT_EQ(a.capacity, b.capacity);
  EXPECT_EQ(a.closed, b.closed);
}

}  // namespace
}  // namespace sn::test
