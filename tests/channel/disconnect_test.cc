// Disconnection, single-threaded: dropping the last sender or the last receiver closes
// the channel, copies keep it open, close() works from either side, and receivers drain
// what is left before they see `closed`.
#include <memory>
#include <utility>
#include <vector>

#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

template <class KindT>
class ChannelDisconnect : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelDisconnect, AllKinds);

template <class KindT>
class MultiProducerChannelDisconnect : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(MultiProducerChannelDisconnect, MultiProducerKinds);

TYPED_TEST(ChannelDisconnect, DroppingTheLastSenderLetsTheReceiverDrainThenSeeClosed) {
  auto ch = open<int, TestFixture::K>(8);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok);
  { auto gone = std::move(ch.tx); }
  EXPECT_TRUE(ch.rx.is_closed());
  EXPECT_TRUE(ch.rx.stats().closed);
  for (int i = 0; i < 5; ++i) {
    int out = -1;
    ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok) << "value " << i << " must still be delivered";
    EXPECT_EQ(out, i);
  }
  int out = -1;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
  EXPECT_EQ(ch.rx.recv(out), RecvResult::closed);
  EXPECT_EQ(out, -1);
}

TYPED_TEST(ChannelDisconnect, DroppingTheLastReceiverMakesSendsReturnClosed) {
  auto ch = open<std::unique_ptr<int>, TestFixture::K>(8);
  ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(1)), SendResult::ok);
  { auto gone = std::move(ch.rx); }
  EXPECT_TRUE(ch.tx.is_closed());
  auto value = std::make_unique<int>(2);
  EXPECT_EQ(ch.tx.try_send(std::move(value)), SendResult::closed);
  EXPECT_EQ(ch.tx.send(std::move(value)), SendResult::closed);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 2);
}

TYPED_TEST(ChannelDisconnect, MoveAssigningOverTheOnlySenderClosesItsChannel) {
  auto first = open<int, TestFixture::K>(4);
  auto second = open<int, TestFixture::K>(4);
  ASSERT_EQ(first.tx.try_send(1), SendResult::ok);
  first.tx = std::move(second.tx);  // drops first's only sender
  int out = 0;
  EXPECT_EQ(first.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);
  EXPECT_EQ(first.rx.try_recv(out), RecvResult::closed);
  // first.tx now feeds the second channel.
  ASSERT_EQ(first.tx.try_send(2), SendResult::ok);
  EXPECT_EQ(second.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 2);
}

TYPED_TEST(ChannelDisconnect, CloseFromTheSenderSideStopsSendsAndLetsTheReceiverDrain) {
  auto ch = open<int, TestFixture::K>(4);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  EXPECT_FALSE(ch.tx.is_closed());
  ch.tx.close();
  EXPECT_TRUE(ch.tx.is_closed());
  EXPECT_TRUE(ch.rx.is_closed());
  EXPECT_TRUE(ch.tx.valid()) << "closing does not empty the handle";
  EXPECT_EQ(ch.tx.try_send(3), SendResult::closed);
  int out = 0;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);
  EXPECT_EQ(ch.rx.recv(out), RecvResult::ok);
  EXPECT_EQ(out, 2);
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
  ch.tx.close();  // idempotent
  ch.rx.close();
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
}

TYPED_TEST(ChannelDisconnect, CloseFromTheReceiverSideStopsSendsButKeepsWhatIsInside) {
  auto ch = open<int, TestFixture::K>(4);
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ch.rx.close();
  EXPECT_TRUE(ch.tx.is_closed());
  EXPECT_EQ(ch.tx.try_send(2), SendResult::closed);
  int out = 0;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
}

TYPED_TEST(ChannelDisconnect, StructuredBindingsOfTheFactoryCloseWhenTheyGoOutOfScope) {
  auto outer = open<Receiver<int, TestFixture::K>, ChannelKind::spsc>(1);
  {
    auto [tx, rx] = Channel<int>::template make<TestFixture::K>(4);
    ASSERT_EQ(tx.try_send(9), SendResult::ok);
    ASSERT_EQ(outer.tx.try_send(std::move(rx)), SendResult::ok);  // hand the receiver out
  }  // tx dropped: the channel is closed, its receiver lives on in `outer`
  Receiver<int, TestFixture::K> rx;
  ASSERT_EQ(outer.rx.try_recv(rx), RecvResult::ok);
  int out = 0;
  EXPECT_EQ(rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 9);
  EXPECT_EQ(rx.try_recv(out), RecvResult::closed);
}

TYPED_TEST(MultiProducerChannelDisconnect, CopiesOfTheSenderKeepTheChannelOpenUntilTheLastIsDropped) {
  auto ch = open<int, TestFixture::K>(8);
  Sender<int, TestFixture::K> a(ch.tx);
  Sender<int, TestFixture::K> b;
  b = a;  // copy assignment
  ASSERT_EQ(a.try_send(1), SendResult::ok);
  ASSERT_EQ(b.try_send(2), SendResult::ok);
  { auto gone = std::move(ch.tx); }
  EXPECT_FALSE(ch.rx.is_closed());
  { auto gone = std::move(a); }
  EXPECT_FALSE(ch.rx.is_closed()) << "b still holds the channel open";
  ASSERT_EQ(b.try_send(3), SendResult::ok);
  int out = 0;
  for (int expected = 1; expected <= 3; ++expected) {
    ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
    EXPECT_EQ(out, expected);
  }
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::empty) << "open and empty, not closed";
  ASSERT_EQ(b.try_send(4), SendResult::ok);
  { auto gone = std::move(b); }
  EXPECT_TRUE(ch.rx.is_closed());
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 4);
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
}

TYPED_TEST(MultiProducerChannelDisconnect, CopyingAnEmptySenderGivesAnEmptySender) {
  Sender<int, TestFixture::K> empty;
  Sender<int, TestFixture::K> copy(empty);
  EXPECT_FALSE(copy.valid());
  EXPECT_EQ(copy.try_send(1), SendResult::closed);
}

TYPED_TEST(MultiProducerChannelDisconnect, CloseThroughOneCopyClosesForEveryCopy) {
  auto ch = open<int, TestFixture::K>(8);
  auto copy = ch.tx;
  copy.close();
  EXPECT_TRUE(ch.tx.is_closed());
  EXPECT_EQ(ch.tx.try_send(1), SendResult::closed);
  EXPECT_EQ(copy.try_send(1), SendResult::closed);
  int out = 0;
  EXPECT_EQ(ch.rx.try_recv(out), RecvResult::closed);
}

TEST(MpmcChannel, CopiesOfTheReceiverKeepTheChannelOpenUntilTheLastIsDropped) {
  auto ch = open<int, ChannelKind::mpmc>(8);
  MpmcReceiver<int> a(ch.rx);
  MpmcReceiver<int> b;
  b = a;  // copy assignment
  { auto gone = std::move(ch.rx); }
  EXPECT_FALSE(ch.tx.is_closed());
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  int out = 0;
  ASSERT_EQ(a.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);
  { auto gone = std::move(a); }
  EXPECT_FALSE(ch.tx.is_closed()) << "b still holds the channel open";
  ASSERT_EQ(b.try_recv(out), RecvResult::ok) << "every receiver copy sees the same queue";
  EXPECT_EQ(out, 2);
  ASSERT_EQ(ch.tx.try_send(3), SendResult::ok);
  { auto gone = std::move(b); }
  EXPECT_TRUE(ch.tx.is_closed());
  EXPECT_EQ(ch.tx.try_send(4), SendResult::closed);
}

TEST(MpmcChannel, ReceiverCopiesDrainTheSameQueueAfterTheSendersAreGone) {
  auto ch = open<int, ChannelKind::mpmc>(8);
  auto rx2 = ch.rx;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok);
  { auto gone = std::move(ch.tx); }
  std::vector<int> got;
  int out = 0;
  for (;;) {
    const RecvResult a = ch.rx.try_recv(out);
    if (a == RecvResult::ok) got.push_back(out);
    const RecvResult b = rx2.try_recv(out);
    if (b == RecvResult::ok) got.push_back(out);
    if (a == RecvResult::closed && b == RecvResult::closed) break;
    ASSERT_NE(a, RecvResult::empty);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace sn::test
