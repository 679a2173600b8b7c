// Single-threaded edges of every channel kind: full, empty, closed, capacity rounding,
// invalid capacities, moved-from handles, batches and timeouts.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

/// Receives the values with ids `first` to `last`, in order and intact, and then finds
/// the channel empty.
template <class Rx>
void expect_ids_then_empty(Rx& rx, int first, int last) {
  for (int expected = first; expected <= last; ++expected) {
    Tracked out;
    ASSERT_EQ(rx.try_recv(out), RecvResult::ok);
    EXPECT_EQ(out.id, expected);
    EXPECT_TRUE(out.intact());
  }
  Tracked out;
  EXPECT_EQ(rx.try_recv(out), RecvResult::empty);
}

template <class KindT>
class ChannelEdges : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelEdges, AllKinds);

// ---------------------------------------------------------------- full and empty

TYPED_TEST(ChannelEdges, TrySendReturnsFullWhenAtCapacityWithoutConstructing) {
  const TrackedCounts start;
  {
    auto ch = open<Tracked, TestFixture::K>(4);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(ch.tx.try_send(Tracked(i)), SendResult::ok);
    Tracked extra(99);
    const TrackedCounts before;
    EXPECT_EQ(ch.tx.try_send(std::move(extra)), SendResult::full);
    const TrackedCounts after;
    EXPECT_EQ(after.constructions, before.constructions);
    EXPECT_EQ(after.live, before.live);
    EXPECT_TRUE(extra.intact()) << "a failed send must not move from the value";
  }
  expect_no_leaks_since(start);
}

TYPED_TEST(ChannelEdges, TheSmallestChannelHoldsExactlyItsCapacity) {
  // One slot requested: one slot for SPSC and MPSC, two for MPMC.
  auto ch = open<int, TestFixture::K>(1);
  const std::size_t capacity = expected_capacity(TestFixture::K, 1);
  ASSERT_EQ(ch.tx.capacity(), capacity);
  for (std::size_t i = 0; i < capacity; ++i) ASSERT_EQ(ch.tx.try_send(static_cast<int>(i)), SendResult::ok);
  // ASSERT: a channel that took one value too many may be corrupt enough to spin a receive forever.
  ASSERT_EQ(ch.tx.try_send(-1), SendResult::full) << "a full channel accepted one more value";
  int out = -1;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 0) << "the first value was overwritten";
  // And it keeps working lap after lap, full at every step.
  int next_out = 1;
  for (int i = static_cast<int>(capacity); i < 40; ++i) {
    ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok);
    ASSERT_EQ(ch.tx.try_send(-1), SendResult::full);
    ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
    EXPECT_EQ(out, next_out++);
  }
}

TYPED_TEST(ChannelEdges, TryRecvOnEmptyReturnsEmptyAndLeavesTheOutputUntouched) {
  auto ch = open<int, TestFixture::K>(8);
  int out = 1234;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::empty);
  EXPECT_EQ(out, 1234);
  std::optional<int> opt;
  EXPECT_EQ(ch.rx.try_recv(opt), RecvResult::empty);
  EXPECT_FALSE(opt.has_value());
  // Empty again after a value went through.
  ASSERT_EQ(ch.tx.try_send(5), SendResult::ok);
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  out = 77;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::empty);
  EXPECT_EQ(out, 77);
}

TYPED_TEST(ChannelEdges, ValuesComeOutInTheOrderTheyWentInAcrossManyLaps) {
  auto ch = open<int, TestFixture::K>(4);
  int next_in = 0, next_out = 0;
  // Vary the fill level so that head and tail wrap at every offset.
  for (int round = 0; round < 50; ++round) {
    const int n = 1 + round % 4;
    for (int i = 0; i < n; ++i) ASSERT_EQ(ch.tx.try_send(int{next_in++}), SendResult::ok);
    for (int i = 0; i < n; ++i) {
      int out = -1;
      ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
      ASSERT_EQ(out, next_out++);
    }
  }
  int out = -1;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::empty);
}

TYPED_TEST(ChannelEdges, TrySendOfAnLvalueCopiesIt) {
  auto ch = open<std::string, TestFixture::K>(2);
  const std::string s = "an lvalue that must stay as it is";
  EXPECT_EQ(ch.tx.try_send(s), SendResult::ok);
  EXPECT_EQ(s, "an lvalue that must stay as it is");
  std::string out;
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, s);
}

// ---------------------------------------------------------------- capacity

TYPED_TEST(ChannelEdges, CapacityIsRoundedUpToAPowerOfTwo) {
  const std::pair<std::size_t, std::size_t> cases[] = {
      {1, TestFixture::K == ChannelKind::mpmc ? 2 : 1},  // MPMC needs two slots
      {2, 2},
      {3, 4},
      {5, 8},
      {1000, 1024},
      {1024, 1024},
      {1025, 2048}};
  for (auto [requested, expected] : cases) {
    EXPECT_EQ(expected_capacity(TestFixture::K, requested), expected);
    auto ch = open<int, TestFixture::K>(requested);
    EXPECT_EQ(ch.tx.capacity(), expected) << "requested " << requested;
    EXPECT_EQ(ch.rx.capacity(), expected) << "requested " << requested;
    EXPECT_EQ(ch.rx.stats().capacity, expected) << "requested " << requested;
  }
}

TYPED_TEST(ChannelEdges, RoundedCapacityIsTheNumberOfValuesThatFit) {
  auto ch = open<int, TestFixture::K>(1000);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok) << i;
  EXPECT_EQ(ch.tx.try_send(1024), SendResult::full);
  int out = -1;
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 0);
  EXPECT_EQ(ch.tx.try_send(1024), SendResult::ok);
  EXPECT_EQ(ch.tx.try_send(1025), SendResult::full);
}

template <class Tx, class Rx>
void expect_empty_handles_report_closed(Tx& tx, Rx& rx) {
  EXPECT_FALSE(tx.valid());
  EXPECT_FALSE(static_cast<bool>(tx));
  EXPECT_FALSE(rx.valid());
  EXPECT_FALSE(static_cast<bool>(rx));
  EXPECT_TRUE(tx.is_closed());
  EXPECT_TRUE(rx.is_closed());
  EXPECT_EQ(tx.capacity(), 0u);
  EXPECT_EQ(rx.capacity(), 0u);

  auto value = std::make_unique<int>(7);
  EXPECT_EQ(tx.try_send(std::move(value)), SendResult::closed);
  EXPECT_EQ(tx.send(std::move(value)), SendResult::closed);
  EXPECT_EQ(tx.send_for(std::move(value), absl::Milliseconds(1)), SendResult::closed);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 7);
  std::unique_ptr<int> batch[2] = {std::make_unique<int>(1), std::make_unique<int>(2)};
  const SendBatchResult sb = tx.send_batch(std::span(batch));
  EXPECT_EQ(sb.count, 0u);
  EXPECT_EQ(sb.status, SendResult::closed);
  EXPECT_NE(batch[0], nullptr);

  std::unique_ptr<int> out;
  std::optional<std::unique_ptr<int>> opt;
  EXPECT_EQ(rx.try_recv(out), RecvResult::closed);
  EXPECT_EQ(rx.try_recv(opt), RecvResult::closed);
  EXPECT_EQ(rx.recv(out), RecvResult::closed);
  EXPECT_EQ(rx.recv_for(out, absl::Milliseconds(1)), RecvResult::closed);
  std::unique_ptr<int> outs[2];
  EXPECT_EQ(rx.recv_batch(std::span(outs)).status, RecvResult::closed);
  EXPECT_EQ(rx.consume(4, [](std::unique_ptr<int>&&) {}).status, RecvResult::closed);

  const ChannelStats s = rx.stats();
  EXPECT_EQ(s.sent, 0u);
  EXPECT_EQ(s.capacity, 0u);
  EXPECT_EQ(tx.stats().send_errors(), 0u);
  tx.close();  // harmless on an empty handle
  rx.close();
}

TYPED_TEST(ChannelEdges, CapacityZeroIsInvalidArgumentAndGivesEmptyHandles) {
  auto ends = Channel<std::unique_ptr<int>>::template make<TestFixture::K>(0);
  EXPECT_FALSE(ends.ok());
  EXPECT_EQ(ends.status().code(), absl::StatusCode::kInvalidArgument);
  expect_empty_handles_report_closed(ends.sender(), ends.receiver());
}

TYPED_TEST(ChannelEdges, CapacityAboveTwoToTheThirtyIsInvalidArgumentAndGivesEmptyHandles) {
  for (std::size_t requested : {(std::size_t{1} << 30) + 1, std::size_t{1} << 31, ~std::size_t{0}}) {
    auto ends = Channel<std::unique_ptr<int>>::template make<TestFixture::K>(requested);
    EXPECT_FALSE(ends.ok()) << requested;
    EXPECT_EQ(ends.status().code(), absl::StatusCode::kInvalidArgument) << requested;
    expect_empty_handles_report_closed(ends.sender(), ends.receiver());
  }
}

TYPED_TEST(ChannelEdges, RingLargerThanTheByteLimitIsInvalidArgument) {
  using Big = std::array<char, 1 << 20>;  // 2^16 slots of 1 MiB exceed the 64 GiB limit
  auto ends = Channel<Big>::template make<TestFixture::K>(std::size_t{1} << 16);
  EXPECT_FALSE(ends.ok());
  EXPECT_EQ(ends.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ends.sender().valid());
  EXPECT_FALSE(ends.receiver().valid());
}

TYPED_TEST(ChannelEdges, DefaultConstructedHandlesReportClosed) {
  Sender<std::unique_ptr<int>, TestFixture::K> tx;
  Receiver<std::unique_ptr<int>, TestFixture::K> rx;
  expect_empty_handles_report_closed(tx, rx);
}

TYPED_TEST(ChannelEdges, MovedFromHandlesReportClosed) {
  auto ch = open<std::unique_ptr<int>, TestFixture::K>(4);
  auto tx2 = std::move(ch.tx);
  auto rx2 = std::move(ch.rx);
  expect_empty_handles_report_closed(ch.tx, ch.rx);
  // The handles they moved into own the channel, which is still open.
  EXPECT_FALSE(tx2.is_closed());
  EXPECT_EQ(tx2.try_send(std::make_unique<int>(3)), SendResult::ok);
  std::unique_ptr<int> out;
  ASSERT_EQ(rx2.try_recv(out), RecvResult::ok);
  EXPECT_EQ(*out, 3);

  // Move assignment too.
  decltype(tx2) tx3;
  decltype(rx2) rx3;
  tx3 = std::move(tx2);
  rx3 = std::move(rx2);
  expect_empty_handles_report_closed(tx2, rx2);
  EXPECT_EQ(tx3.try_send(std::make_unique<int>(4)), SendResult::ok);
  ASSERT_EQ(rx3.try_recv(out), RecvResult::ok);
  EXPECT_EQ(*out, 4);
}

TEST(ChannelEndpoints, SupportStructuredBindingsAndReportTheirStatus) {
  auto ends = Channel<int>::spsc(8);
  EXPECT_TRUE(ends.ok());
  EXPECT_TRUE(ends.status().ok());
  auto [tx, rx] = std::move(ends);
  EXPECT_TRUE(tx.valid());
  EXPECT_TRUE(rx.valid());
  EXPECT_EQ(tx.try_send(1), SendResult::ok);
  int out = 0;
  EXPECT_EQ(rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);

  auto [tx2, rx2] = Channel<int>::mpmc(0);
  EXPECT_FALSE(tx2.valid());
  EXPECT_FALSE(rx2.valid());
}

// ---------------------------------------------------------------- batches

TYPED_TEST(ChannelEdges, SendBatchFillsWhatFitsReturnsFullAndLeavesTheRestUntouched) {
  const TrackedCounts start;
  {
    auto ch = open<Tracked, TestFixture::K>(4);
    ASSERT_EQ(ch.tx.try_send(Tracked(0)), SendResult::ok);
    std::vector<Tracked> batch;
    for (int i = 1; i <= 5; ++i) batch.emplace_back(i);
    const TrackedCounts before;
    const SendBatchResult r = ch.tx.send_batch(std::span(batch));
    const TrackedCounts after;
    EXPECT_EQ(r.count, 3u);
    EXPECT_EQ(r.status, SendResult::full);
    EXPECT_EQ(after.constructions - before.constructions, 3) << "exactly the sent values are constructed";
    for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(batch[i].payload.empty()) << "sent value " << i << " is moved from";
    for (std::size_t i = 3; i < 5; ++i) EXPECT_TRUE(batch[i].intact()) << "unsent value " << i << " is untouched";

    ASSERT_NO_FATAL_FAILURE(expect_ids_then_empty(ch.rx, 0, 3));
  }
  expect_no_leaks_since(start);
}

TYPED_TEST(ChannelEdges, SendBatchThatFitsEntirelyReturnsOk) {
  auto ch = open<int, TestFixture::K>(8);
  std::vector<int> batch = {1, 2, 3, 4, 5, 6, 7, 8};
  const SendBatchResult r = ch.tx.send_batch(std::span(batch));
  EXPECT_EQ(r.count, 8u);
  EXPECT_EQ(r.status, SendResult::ok);
  std::vector<int> out(8, 0);
  const RecvBatchResult rr = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(rr.count, 8u);
  EXPECT_EQ(rr.status, RecvResult::ok);
  EXPECT_EQ(out, batch);
}

TYPED_TEST(ChannelEdges, SendBatchOnAFullChannelSendsNothing) {
  auto ch = open<std::unique_ptr<int>, TestFixture::K>(2);
  ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(0)), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(1)), SendResult::ok);
  std::unique_ptr<int> batch[3] = {std::make_unique<int>(2), std::make_unique<int>(3), std::make_unique<int>(4)};
  const SendBatchResult r = ch.tx.send_batch(std::span(batch));
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, SendResult::full);
  for (int i = 0; i < 3; ++i) {
    ASSERT_NE(batch[i], nullptr);
    EXPECT_EQ(*batch[i], i + 2);
  }
}

TYPED_TEST(ChannelEdges, SendBatchOfNothingIsOkAndSendsNothing) {
  auto ch = open<int, TestFixture::K>(2);
  const SendBatchResult r = ch.tx.send_batch(std::span<int>());
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, SendResult::ok);
  EXPECT_EQ(ch.rx.stats().sent, 0u);
  int out = 0;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::empty);
}

TYPED_TEST(ChannelEdges, SendBatchAfterCloseReturnsClosedAndLeavesTheValues) {
  auto ch = open<std::unique_ptr<int>, TestFixture::K>(4);
  ch.rx.close();
  std::unique_ptr<int> batch[2] = {std::make_unique<int>(1), std::make_unique<int>(2)};
  const SendBatchResult r = ch.tx.send_batch(std::span(batch));
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, SendResult::closed);
  EXPECT_NE(batch[0], nullptr);
  EXPECT_NE(batch[1], nullptr);
}

TYPED_TEST(ChannelEdges, RecvBatchTakesAtMostTheSpanInOrder) {
  auto ch = open<int, TestFixture::K>(8);
  for (int i = 0; i < 6; ++i) ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok);
  std::array<int, 4> out{};
  RecvBatchResult r = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(r.count, 4u);
  EXPECT_EQ(r.status, RecvResult::ok);
  EXPECT_EQ(out, (std::array<int, 4>{0, 1, 2, 3}));
  out.fill(-1);
  r = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.status, RecvResult::ok);
  EXPECT_EQ(out, (std::array<int, 4>{4, 5, -1, -1})) << "slots past count stay untouched";
  r = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::empty);
  ch.tx.close();
  r = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::closed);
}

TYPED_TEST(ChannelEdges, RecvBatchAfterSingleReceivesSeesOnlyWhatIsLeft) {
  // Mixes single and batch receives, the pattern of a consumer that blocks in recv()
  // for the first value and then drains the rest with recv_batch.
  auto ch = open<int, TestFixture::K>(8);
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 5; ++i) ASSERT_EQ(ch.tx.try_send(round * 10 + i), SendResult::ok);
    int first = -1;
    ASSERT_EQ(ch.rx.try_recv(first), RecvResult::ok);
    EXPECT_EQ(first, round * 10);
    std::array<int, 8> rest{};
    const RecvBatchResult r = ch.rx.recv_batch(std::span(rest));
    ASSERT_EQ(r.count, 4u) << "round " << round;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(rest[static_cast<std::size_t>(i)], round * 10 + i + 1);
    EXPECT_EQ(ch.rx.recv_batch(std::span(rest)).status, RecvResult::empty);
  }
}

TYPED_TEST(ChannelEdges, RecvBatchWithAnEmptySpanTakesNothing) {
  auto ch = open<int, TestFixture::K>(4);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  const RecvBatchResult r = ch.rx.recv_batch(std::span<int>());
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::empty);
  int out = 0;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);
  ch.tx.close();
  EXPECT_EQ(ch.rx.recv_batch(std::span<int>()).status, RecvResult::closed) << "closed and drained";
}

TYPED_TEST(ChannelEdges, RecvBatchWithAnEmptySpanReportsClosedOnlyOnceDrained) {
  // `closed` means "closed and fully drained" (result.h); a value is still inside.
  auto ch = open<int, TestFixture::K>(4);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ch.tx.close();
  const RecvBatchResult r = ch.rx.recv_batch(std::span<int>());
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::empty)
      << "recv_batch(empty span) said `closed` while a value is still queued; a drain loop "
         "that stops on `closed` would lose it";
  int out = 0;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(ch.rx.recv_batch(std::span<int>()).status, RecvResult::closed);
}

TYPED_TEST(ChannelEdges, ConsumeHandsOverAtMostMaxValuesInOrder) {
  auto ch = open<std::unique_ptr<int>, TestFixture::K>(8);
  for (int i = 0; i < 6; ++i) ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(i)), SendResult::ok);
  std::vector<int> seen;
  RecvBatchResult r = ch.rx.consume(4, [&](std::unique_ptr<int>&& p) { seen.push_back(*p); });
  EXPECT_EQ(r.count, 4u);
  EXPECT_EQ(r.status, RecvResult::ok);
  r = ch.rx.consume(4, [&](std::unique_ptr<int>&& p) { seen.push_back(*p); });
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.status, RecvResult::ok);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  r = ch.rx.consume(4, [&](std::unique_ptr<int>&&) { ADD_FAILURE() << "nothing to consume"; });
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::empty);
  ch.tx.close();
  r = ch.rx.consume(4, [&](std::unique_ptr<int>&&) {});
  EXPECT_EQ(r.status, RecvResult::closed);
}

TYPED_TEST(ChannelEdges, ConsumeOfZeroValuesTakesNothingAndReportsTheState) {
  auto ch = open<int, TestFixture::K>(4);
  auto never = [](int&&) { ADD_FAILURE() << "consume(0, fn) must not call fn"; };
  RecvBatchResult r = ch.rx.consume(0, never);
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::empty);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ch.tx.close();
  r = ch.rx.consume(0, never);
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.status, RecvResult::empty) << "closed, but a value is still queued";
  int out = 0;
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  r = ch.rx.consume(0, never);
  EXPECT_EQ(r.status, RecvResult::closed) << "closed and drained: like every other receive";
}

TYPED_TEST(ChannelEdges, ConsumeLeavesTheRestQueuedWhenTheCallbackThrows) {
  const TrackedCounts start;
  {
    auto ch = open<Tracked, TestFixture::K>(8);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(ch.tx.try_send(Tracked(i)), SendResult::ok);
    std::vector<int> seen;
    EXPECT_THROW((void)ch.rx.consume(5,
                                     [&](Tracked&& t) {
                                       seen.push_back(t.id);
                                       if (t.id == 1) throw std::runtime_error("stop");
                                     }),
                 std::runtime_error);
    EXPECT_EQ(seen, (std::vector<int>{0, 1})) << "values handed over stay consumed";
    ASSERT_NO_FATAL_FAILURE(expect_ids_then_empty(ch.rx, 2, 4));
    EXPECT_EQ(ch.rx.stats().received, 5u);
  }
  expect_no_leaks_since(start);
}

// ---------------------------------------------------------------- timeouts

TYPED_TEST(ChannelEdges, SendForOnAFullChannelTimesOutAfterTheDurationAndKeepsTheValue) {
  for (const ChannelOptions& options : {ChannelOptions{}, park_at_once()}) {
    auto ch = open<std::unique_ptr<int>, TestFixture::K>(2, options);
    ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(0)), SendResult::ok);
    ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(1)), SendResult::ok);
    auto value = std::make_unique<int>(42);
    const absl::Duration wait = absl::Milliseconds(50);
    const absl::Time start = absl::Now();
    EXPECT_EQ(ch.tx.send_for(std::move(value), wait), SendResult::timeout);
    EXPECT_GE(absl::Now() - start, wait * 0.8);
    ASSERT_NE(value, nullptr) << "a timed-out send must not move from the value";
    EXPECT_EQ(*value, 42);
    // The channel still holds exactly what it held.
    std::unique_ptr<int> out;
    ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
    EXPECT_EQ(*out, 0);
  }
}

TYPED_TEST(ChannelEdges, RecvForOnAnEmptyChannelTimesOutAfterTheDurationAndKeepsTheOutput) {
  for (const ChannelOptions& options : {ChannelOptions{}, park_at_once()}) {
    auto ch = open<std::unique_ptr<int>, TestFixture::K>(2, options);
    auto out = std::make_unique<int>(5);
    const absl::Duration wait = absl::Milliseconds(50);
    const absl::Time start = absl::Now();
    EXPECT_EQ(ch.rx.recv_for(out, wait), RecvResult::timeout);
    EXPECT_GE(absl::Now() - start, wait * 0.8);
    ASSERT_NE(out, nullptr) << "a timed-out receive must leave the output untouched";
    EXPECT_EQ(*out, 5);
  }
}

TYPED_TEST(ChannelEdges, ZeroAndNegativeTimeoutsDoNotWait) {
  auto ch = open<int, TestFixture::K>(2);
  int out = 0;
  EXPECT_EQ(ch.rx.recv_for(out, absl::ZeroDuration()), RecvResult::timeout);
  EXPECT_EQ(ch.rx.recv_for(out, absl::Milliseconds(-5)), RecvResult::timeout);
  EXPECT_EQ(ch.tx.send_for(1, absl::ZeroDuration()), SendResult::ok) << "room: no need to wait";
  EXPECT_EQ(ch.tx.send_for(2, absl::Milliseconds(-5)), SendResult::ok);
  EXPECT_EQ(ch.tx.send_for(3, absl::ZeroDuration()), SendResult::timeout);
  EXPECT_EQ(ch.rx.recv_for(out, absl::ZeroDuration()), RecvResult::ok) << "a value: no need to wait";
  EXPECT_EQ(out, 1);
}

TYPED_TEST(ChannelEdges, TimedOperationsOnAClosedChannelReturnClosedAtOnce) {
  auto ch = open<int, TestFixture::K>(2);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ch.tx.close();
  EXPECT_EQ(ch.tx.send_for(2, absl::Seconds(30)), SendResult::closed);
  int out = 0;
  EXPECT_EQ(ch.rx.recv_for(out, absl::Seconds(30)), RecvResult::ok) << "drains first";
  EXPECT_EQ(out, 1);
  EXPECT_EQ(ch.rx.recv_for(out, absl::Seconds(30)), RecvResult::closed);
  EXPECT_EQ(ch.rx.recv(out), RecvResult::closed);
}

TEST(ChannelResults, HaveReadableNames) {
  EXPECT_EQ(to_string(SendResult::ok), "ok");
  EXPECT_EQ(to_string(SendResult::full), "full");
  EXPECT_EQ(to_string(SendResult::closed), "closed");
  EXPECT_EQ(to_string(SendResult::timeout), "timeout");
  EXPECT_EQ(to_string(RecvResult::ok), "ok");
  EXPECT_EQ(to_string(RecvResult::empty), "empty");
  EXPECT_EQ(to_string(RecvResult::closed), "closed");
  EXPECT_EQ(to_string(RecvResult::timeout), "timeout");
}

}  // namespace
}  // namespace sn::test
