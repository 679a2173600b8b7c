// Stats under contention: the final totals equal what the threads counted themselves,
// snapshots taken while the channel runs only grow, and a blocking send that had to
// wait counts once in send_blocked (and in send_full or send_closed only if it failed).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

template <class KindT>
class ChannelStatsUnderContention : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelStatsUnderContention, AllKinds);

/// Sends 3 into the full channel `ch` from a thread of its own, waits until that send is
/// waiting and lets it wait a while (retrying or parked), then runs `unblock` here and
/// joins the sender; `result` receives what the send returned.
template <class Channel, class Unblock>
void send_3_and_let_it_wait(Channel& ch, SendResult& result, Unblock unblock) {
  std::jthread sender([&] { result = ch.tx.send(3); });  // waits, perhaps through many retries
  ASSERT_TRUE(wait_until_sends_block(ch.rx));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it retry (or park) a while
  unblock();
  sender.join();
}

struct SenderCounts {
  std::uint64_t ok = 0, full = 0, closed = 0;
};

TYPED_TEST(ChannelStatsUnderContention, FinalTotalsEqualWhatTheThreadsCounted) {
  const int producers = TestFixture::K == ChannelKind::spsc ? 1 : 2;
  const std::uint64_t stop_after = scaled(60000);  // the receiver closes after this many
  auto ch = open<std::uint64_t, TestFixture::K>(8);
  std::vector<SenderCounts> counts(static_cast<std::size_t>(producers));
  std::atomic<bool> stop_reading{false};
  std::uint64_t received = 0, snapshots = 0, went_backwards = 0;
  StartGate gate;
  {
    std::vector<std::jthread> threads;
    for (int p = 0; p < producers; ++p) {
      Sender<std::uint64_t, TestFixture::K> tx;
      if constexpr (TestFixture::K == ChannelKind::spsc) {
        tx = std::move(ch.tx);
      } else {
        tx = ch.tx;  // a copy per producer, dropped (and folded into the totals) when it ends
      }
      threads.emplace_back([&, p, tx = std::move(tx)]() mutable {
        SenderCounts& c = counts[static_cast<std::size_t>(p)];
        gate.arrive_and_wait();
        // Alternate single and batch sends, so that both counting paths run concurrently.
        // (Not send/send_for: one that waits counts as full even when it then succeeds,
        // which the thread cannot observe.)
        std::uint64_t batch[2] = {};
        for (std::uint64_t i = 0; c.closed < 3; ++i) {
          SendResult r;
          if (i % 3 == 2) {
            batch[0] = batch[1] = i;
            const SendBatchResult b = tx.send_batch(std::span(batch));
            c.ok += b.count;
            r = b.status;
          } else {
            r = tx.try_send(std::uint64_t{i});
            if (r == SendResult::ok) ++c.ok;
          }
          if (r == SendResult::full) {  // a partial batch counts once as full, too
            ++c.full;
            std::this_thread::yield();
          }
          if (r == SendResult::closed) ++c.closed;
        }
      });
    }
    if constexpr (TestFixture::K != ChannelKind::spsc) {
      auto gone = std::move(ch.tx);
    }
    threads.emplace_back([&] {  // a monitor reading stats while everything runs
      gate.arrive_and_wait();
      ChannelStats prev;
      while (!stop_reading.load(std::memory_order_acquire)) {
        const ChannelStats s = ch.rx.stats();
        if (s.sent < prev.sent || s.received < prev.received || s.send_full < prev.send_full ||
            s.send_closed < prev.send_closed || s.send_blocked < prev.send_blocked || s.sent < s.received ||
            (prev.closed && !s.closed)) {
          ++went_backwards;
        }
        prev = s;
        ++snapshots;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
    gate.open_when(producers + 1);
    std::uint64_t v = 0;
    const absl::Time stop_at = absl::Now() + stress_time_box();
    while (received < stop_after && (received % 64 != 0 || absl::Now() < stop_at)) {
      const RecvResult r = ch.rx.recv_for(v, stall_limit());
      if (r != RecvResult::ok) {
        ADD_FAILURE() << "receive returned " << to_string(r) << " after " << received << " values";
        break;
      }
      ++received;
    }
    ch.rx.close();  // producers now count `closed`
    for (RecvResult r; (r = ch.rx.try_recv(v)) != RecvResult::closed;) {
      if (r == RecvResult::ok) ++received;
    }
    for (int p = 0; p < producers; ++p) threads[static_cast<std::size_t>(p)].join();
    stop_reading.store(true, std::memory_order_release);
  }
  SenderCounts total;
  for (const SenderCounts& c : counts) {
    total.ok += c.ok;
    total.full += c.full;
    total.closed += c.closed;
  }
  const ChannelStats s = ch.rx.stats();
  EXPECT_EQ(s.sent, total.ok);
  EXPECT_EQ(s.received, received);
  EXPECT_EQ(received, total.ok) << "every accepted value was received";
  EXPECT_EQ(s.send_full, total.full);
  EXPECT_EQ(s.send_closed, total.closed);
  EXPECT_EQ(s.send_blocked, 0u) << "try_send and send_batch never wait";
  EXPECT_EQ(s.approx_depth, 0u);
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(went_backwards, 0u) << "a counter decreased between two of " << snapshots << " snapshots";
}

TYPED_TEST(ChannelStatsUnderContention, ABlockingSendThatHadToWaitCountsOnceAsBlockedAndNotAsFull) {
  for (const ChannelOptions& options : {ChannelOptions{}, park_at_once()}) {
    auto ch = open<int, TestFixture::K>(2, options);
    ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
    ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
    SendResult result = SendResult::full;
    ASSERT_NO_FATAL_FAILURE(send_3_and_let_it_wait(ch, result, [&] {
      int out = 0;
      ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
    }));
    EXPECT_EQ(result, SendResult::ok);
    const ChannelStats s = ch.rx.stats();
    EXPECT_EQ(s.sent, 3u);
    EXPECT_EQ(s.send_blocked, 1u) << "one wait, however many retries, counts once";
    EXPECT_EQ(s.send_full, 0u) << "it succeeded in the end: not a failure";
    EXPECT_EQ(s.send_closed, 0u);
  }
}

TYPED_TEST(ChannelStatsUnderContention, ABlockingSendThatWaitedAndWasClosedCountsBlockedAndClosed) {
  auto ch = open<int, TestFixture::K>(2, park_at_once());
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  SendResult result = SendResult::full;
  ASSERT_NO_FATAL_FAILURE(send_3_and_let_it_wait(ch, result, [&] { ch.rx.close(); }));
  EXPECT_EQ(result, SendResult::closed);
  const ChannelStats s = ch.rx.stats();
  EXPECT_EQ(s.sent, 2u);
  EXPECT_EQ(s.send_blocked, 1u) << "it waited";
  EXPECT_EQ(s.send_closed, 1u) << "and was then refused";
  EXPECT_EQ(s.send_full, 0u);
}

TYPED_TEST(ChannelStatsUnderContention, ATimedSendThatWaitedInVainCountsBlockedAndFull) {
  auto ch = open<int, TestFixture::K>(2, park_at_once());
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  SendResult result = SendResult::ok;
  std::jthread sender([&] { result = ch.tx.send_for(3, absl::Milliseconds(30)); });
  // Receive-side activity that frees nothing: stats snapshots from another thread.
  while (ch.rx.stats().send_blocked == 0) std::this_thread::yield();
  sender.join();
  EXPECT_EQ(result, SendResult::timeout);
  const ChannelStats s = ch.rx.stats();
  EXPECT_EQ(s.send_blocked, 1u);
  EXPECT_EQ(s.send_full, 1u) << "a timeout is a failure for lack of space";
  EXPECT_EQ(s.send_closed, 0u);
}

}  // namespace
}  // namespace sn::test
