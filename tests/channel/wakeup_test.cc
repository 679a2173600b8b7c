// Wake-ups after a park. Every channel here uses WaitPolicy::park_immediately(), so a
// blocked send or receive goes straight to the futex. A lost wake-up shows as a hang;
// a Watchdog turns it into a failure (it closes the channel, which wakes everyone with
// `closed`), and ctest's TIMEOUT is the last resort.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "delivery_harness.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

/// Long enough for a thread that is about to block to reach the futex on an idle
/// machine. Nothing asserts that it did: if it did not, the test exercises less, but
/// stays correct.
void let_it_park() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }

/// Waits until `flag` is set, or gives up after the stall limit; returns whether it was set.
bool wait_for_flag(const std::atomic<bool>& flag) {
  const absl::Time give_up = absl::Now() + stall_limit();
  while (!flag.load(std::memory_order_acquire)) {
    if (absl::Now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// A watchdog action for a parked thread that nothing but the call under test can wake:
/// it reports `what` as a failure at once (ctest's TIMEOUT then ends the run).
std::function<void()> report_stall(const char* what) {
  return [what] { ADD_FAILURE() << what; };
}

/// One blocking call (a recv or a send) run on a thread of its own under a Watchdog, for
/// the tests that let it park and then wake it from the test's thread. If it is still
/// parked after the stall limit, the watchdog runs `on_stall`: closing the channel
/// rescues the thread, report_stall() only reports it.
template <class Result>
class ParkedCall {
 public:
  template <class Call>
  ParkedCall(Call call, std::function<void()> on_stall)
      : watchdog_(stall_limit(), std::move(on_stall)), thread_([this, call = std::move(call)]() mutable {
          started_.store(true, std::memory_order_release);
          result_ = call();
          returned_.store(true, std::memory_order_release);
        }) {}

  /// Whether the thread has started, waiting up to the stall limit for it.
  bool has_started() const { return wait_for_flag(started_); }
  /// Whether the call has returned (without waiting).
  bool has_returned() const { return returned_.load(std::memory_order_acquire); }

  /// Joins the thread, checks that the watchdog did not have to fire (`not_woken` is the
  /// message if it did), and returns what the call returned.
  Result woken_result(const char* not_woken) {
    thread_.join();
    watchdog_.stop();
    EXPECT_FALSE(watchdog_.fired()) << not_woken;
    return result_;
  }

 private:
  Watchdog watchdog_;  // declared first, so that it outlives the thread
  std::atomic<bool> started_{false}, returned_{false};
  Result result_{};
  std::jthread thread_;
};

template <class KindT>
class ChannelWakeUp : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelWakeUp, AllKinds);

template <class KindT>
class MultiProducerChannelWakeUp : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(MultiProducerChannelWakeUp, MultiProducerKinds);

TYPED_TEST(ChannelWakeUp, AReceiverParkedInRecvIsWokenByASendFromAnotherThread) {
  auto ch = open<int, TestFixture::K>(4, park_at_once());
  int got = 0;
  ParkedCall<RecvResult> receiver([&] { return ch.rx.recv(got); }, [&] { ch.tx.close(); });
  ASSERT_TRUE(receiver.has_started());
  let_it_park();
  EXPECT_FALSE(receiver.has_returned()) << "recv returned with nothing sent";
  ASSERT_EQ(ch.tx.send(42), SendResult::ok);
  EXPECT_EQ(receiver.woken_result("the parked receiver was not woken by the send"), RecvResult::ok);
  EXPECT_EQ(got, 42);
}

TYPED_TEST(ChannelWakeUp, ASenderParkedOnAFullChannelIsWokenByARecvFromAnotherThread) {
  auto ch = open<int, TestFixture::K>(2, park_at_once());
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  ParkedCall<SendResult> sender([&] { return ch.tx.send(3); }, [&] { ch.rx.close(); });
  ASSERT_TRUE(sender.has_started());
  ASSERT_TRUE(wait_until_sends_block(ch.tx)) << "the send never started waiting";
  let_it_park();
  EXPECT_FALSE(sender.has_returned()) << "send returned while the channel was full";
  int out = 0;
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 1);
  EXPECT_EQ(sender.woken_result("the parked sender was not woken by the receive"), SendResult::ok);
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 2);
  ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  EXPECT_EQ(out, 3);
}

TYPED_TEST(ChannelWakeUp, ASenderParkedOnAFullChannelIsWokenByABatchReceive) {
  auto ch = open<int, TestFixture::K>(4, park_at_once());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ch.tx.try_send(int{i}), SendResult::ok);
  ParkedCall<SendResult> sender([&] { return ch.tx.send(4); }, [&] { ch.rx.close(); });
  ASSERT_TRUE(sender.has_started());
  ASSERT_TRUE(wait_until_sends_block(ch.tx)) << "the send never started waiting";
  let_it_park();
  int outs[3] = {};
  ASSERT_EQ(ch.rx.recv_batch(std::span(outs)).count, 3u);
  EXPECT_EQ(sender.woken_result("the parked sender was not woken by recv_batch"), SendResult::ok);
}

TYPED_TEST(ChannelWakeUp, AReceiverParkedInRecvIsWokenByABatchSend) {
  auto ch = open<int, TestFixture::K>(8, park_at_once());
  int got = -1;
  ParkedCall<RecvResult> receiver([&] { return ch.rx.recv(got); }, [&] { ch.tx.close(); });
  ASSERT_TRUE(receiver.has_started());
  let_it_park();
  int batch[3] = {7, 8, 9};
  ASSERT_EQ(ch.tx.send_batch(std::span(batch)).count, 3u);
  EXPECT_EQ(receiver.woken_result("the parked receiver was not woken by send_batch"), RecvResult::ok);
  EXPECT_EQ(got, 7);
}

TYPED_TEST(ChannelWakeUp, AParkedReceiverWakesWithClosedWhenTheSenderCloses) {
  auto ch = open<int, TestFixture::K>(4, park_at_once());
  // Nothing can rescue a thread that close() failed to wake; the watchdog reports it
  // at once, and ctest's TIMEOUT ends the run.
  constexpr const char* kNotWoken = "close() did not wake the parked receiver";
  ParkedCall<RecvResult> receiver(
      [&] {
        int out = 0;
        return ch.rx.recv(out);
      },
      report_stall(kNotWoken));
  ASSERT_TRUE(receiver.has_started());
  let_it_park();
  ch.tx.close();
  EXPECT_EQ(receiver.woken_result(kNotWoken), RecvResult::closed);
}

TYPED_TEST(ChannelWakeUp, AParkedReceiverWakesWithClosedWhenTheLastSenderIsDropped) {
  auto ch = open<int, TestFixture::K>(4, park_at_once());
  constexpr const char* kNotWoken = "dropping the last sender did not wake the parked receiver";
  ParkedCall<RecvResult> receiver(
      [&] {
        int out = 0;
        return ch.rx.recv(out);
      },
      report_stall(kNotWoken));
  ASSERT_TRUE(receiver.has_started());
  let_it_park();
  { auto gone = std::move(ch.tx); }
  EXPECT_EQ(receiver.woken_result(kNotWoken), RecvResult::closed);
}

TYPED_TEST(ChannelWakeUp, AParkedSenderWakesWithClosedWhenTheReceiverClosesAndKeepsItsValue) {
  auto ch = open<std::unique_ptr<int>, TestFixture::K>(2, park_at_once());
  ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(1)), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(std::make_unique<int>(2)), SendResult::ok);
  auto value = std::make_unique<int>(3);
  constexpr const char* kNotWoken = "close() did not wake the parked sender";
  ParkedCall<SendResult> sender([&] { return ch.tx.send(std::move(value)); }, report_stall(kNotWoken));
  ASSERT_TRUE(sender.has_started());
  ASSERT_TRUE(wait_until_sends_block(ch.tx)) << "the send never started waiting";
  let_it_park();
  ch.rx.close();
  EXPECT_EQ(sender.woken_result(kNotWoken), SendResult::closed);
  ASSERT_NE(value, nullptr) << "a send refused as closed must leave the value with the caller";
  EXPECT_EQ(*value, 3);
}

TYPED_TEST(ChannelWakeUp, AParkedSenderWakesWithClosedWhenTheLastReceiverIsDropped) {
  auto ch = open<int, TestFixture::K>(2, park_at_once());
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  constexpr const char* kNotWoken = "dropping the last receiver did not wake the parked sender";
  ParkedCall<SendResult> sender([&] { return ch.tx.send(3); }, report_stall(kNotWoken));
  ASSERT_TRUE(sender.has_started());
  ASSERT_TRUE(wait_until_sends_block(ch.tx)) << "the send never started waiting";
  let_it_park();
  { auto gone = std::move(ch.rx); }
  EXPECT_EQ(sender.woken_result(kNotWoken), SendResult::closed);
}

TYPED_TEST(MultiProducerChannelWakeUp, EveryParkedSenderIsWokenAsSlotsFreeUp) {
  auto ch = open<int, TestFixture::K>(2, park_at_once());
  ASSERT_EQ(ch.tx.try_send(-1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(-2), SendResult::ok);
  constexpr int kSenders = 3;
  std::atomic<int> started{0}, finished{0};
  std::vector<SendResult> results(kSenders, SendResult::full);
  std::vector<int> got;
  {
    Watchdog watchdog(stall_limit(), [&] { ch.tx.close(); });
    std::vector<std::jthread> senders;
    for (int i = 0; i < kSenders; ++i) {
      senders.emplace_back([&, i, tx = ch.tx]() mutable {
        started.fetch_add(1);
        results[static_cast<std::size_t>(i)] = tx.send(int{i});
        finished.fetch_add(1);
      });
    }
    while (started.load() < kSenders) std::this_thread::yield();
    ASSERT_TRUE(wait_until_sends_block(ch.tx, kSenders)) << "not every send started waiting";
    let_it_park();
    EXPECT_EQ(finished.load(), 0) << "a send returned while the channel was full";
    // Free one slot at a time; each must let exactly one more sender through.
    int out = 0;
    while (got.size() < static_cast<std::size_t>(kSenders) + 2 && !watchdog.fired()) {
      const RecvResult r = ch.rx.recv(out);  // blocks (parks) until a sender gets through
      if (r != RecvResult::ok) break;
      got.push_back(out);
      watchdog.tick();
    }
    for (auto& t : senders) t.join();
    EXPECT_FALSE(watchdog.fired()) << "a parked sender was never woken";
  }
  for (int i = 0; i < kSenders; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], SendResult::ok) << i;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{-2, -1, 0, 1, 2}));
}

TYPED_TEST(MultiProducerChannelWakeUp, CloseWakesEveryParkedSender) {
  auto ch = open<int, TestFixture::K>(1 << 1, park_at_once());
  ASSERT_EQ(ch.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(ch.tx.try_send(2), SendResult::ok);
  constexpr int kSenders = 3;
  std::atomic<int> started{0};
  std::vector<SendResult> results(kSenders, SendResult::full);
  {
    Watchdog watchdog(stall_limit(), [] { ADD_FAILURE() << "close() did not wake every parked sender"; });
    std::vector<std::jthread> senders;
    for (int i = 0; i < kSenders; ++i) {
      senders.emplace_back([&, i, tx = ch.tx]() mutable {
        started.fetch_add(1);
        results[static_cast<std::size_t>(i)] = tx.send(int{i});
      });
    }
    while (started.load() < kSenders) std::this_thread::yield();
    ASSERT_TRUE(wait_until_sends_block(ch.tx, kSenders)) << "not every send started waiting";
    let_it_park();
    ch.rx.close();
    for (auto& t : senders) t.join();  // a sender close() failed to wake hangs here (TIMEOUT)
    EXPECT_FALSE(watchdog.fired());
  }
  for (int i = 0; i < kSenders; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], SendResult::closed) << i;
}

TEST(MpmcChannelWakeUp, EveryParkedReceiverIsWokenWhenValuesArrive) {
  auto ch = open<int, ChannelKind::mpmc>(8, park_at_once());
  constexpr int kReceivers = 3;
  std::atomic<int> started{0};
  std::vector<int> got(kReceivers, -1);
  std::vector<RecvResult> results(kReceivers, RecvResult::empty);
  {
    Watchdog watchdog(stall_limit(), [&] { ch.tx.close(); });
    std::vector<std::jthread> receivers;
    for (int i = 0; i < kReceivers; ++i) {
      receivers.emplace_back([&, i, rx = ch.rx]() mutable {
        started.fetch_add(1);
        results[static_cast<std::size_t>(i)] = rx.recv(got[static_cast<std::size_t>(i)]);
      });
    }
    while (started.load() < kReceivers) std::this_thread::yield();
    let_it_park();
    // One value at a time, each with its own single wake-up.
    for (int v = 0; v < kReceivers; ++v) ASSERT_EQ(ch.tx.send(int{v}), SendResult::ok);
    for (auto& t : receivers) t.join();
    EXPECT_FALSE(watchdog.fired()) << "a parked receiver was never woken although a value waited for it";
  }
  for (int i = 0; i < kReceivers; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], RecvResult::ok) << i;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
}

TEST(MpmcChannelWakeUp, CloseWakesEveryParkedReceiver) {
  auto ch = open<int, ChannelKind::mpmc>(8, park_at_once());
  constexpr int kReceivers = 3;
  std::atomic<int> started{0};
  std::vector<RecvResult> results(kReceivers, RecvResult::empty);
  {
    Watchdog watchdog(stall_limit(), [] { ADD_FAILURE() << "close() did not wake every parked receiver"; });
    std::vector<std::jthread> receivers;
    for (int i = 0; i < kReceivers; ++i) {
      receivers.emplace_back([&, i, rx = ch.rx]() mutable {
        started.fetch_add(1);
        int out = 0;
        results[static_cast<std::size_t>(i)] = rx.recv(out);
      });
    }
    while (started.load() < kReceivers) std::this_thread::yield();
    let_it_park();
    ch.tx.close();
    for (auto& t : receivers) t.join();  // a receiver close() failed to wake hangs here (TIMEOUT)
  }
  for (int i = 0; i < kReceivers; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], RecvResult::closed) << i;
}

// ---------------------------------------------------------------- no lost wake-up, stress

TYPED_TEST(ChannelWakeUp, PingPongThroughTwoParkingChannelsNeverLosesAWakeUp) {
  // Exactly one message in flight: each side parks on every round trip, so each trip
  // is two full park/wake handshakes. A single lost wake-up stops the game.
  const std::uint64_t kRoundTrips = scaled(20000);
  auto ping = open<std::uint64_t, TestFixture::K>(2, park_at_once());
  auto pong = open<std::uint64_t, TestFixture::K>(2, park_at_once());
  std::uint64_t completed = 0, wrong = 0;
  {
    Watchdog watchdog(stall_limit(), [&] {
      ping.tx.close();
      pong.rx.close();
    });
    std::jthread echo([&] {
      std::uint64_t v = 0;
      while (ping.rx.recv(v) == RecvResult::ok) {
        if (pong.tx.send(v + 1) != SendResult::ok) break;
      }
    });
    const TimeBox box(stress_time_box());
    for (std::uint64_t i = 0; i < kRoundTrips && !box.over(i); ++i) {
      if (ping.tx.send(std::uint64_t{i * 2}) != SendResult::ok) break;
      std::uint64_t back = 0;
      if (pong.rx.recv(back) != RecvResult::ok) break;
      if (back != i * 2 + 1) ++wrong;
      ++completed;
      watchdog.tick();
    }
    ping.tx.close();  // lets the echo thread finish
    echo.join();
    EXPECT_FALSE(watchdog.fired()) << "stuck after " << completed << " round trips: a wake-up was lost";
  }
  EXPECT_GT(completed, 0u);
  EXPECT_EQ(wrong, 0u);
}

TYPED_TEST(ChannelWakeUp, ProducersAndConsumersThatAlwaysParkNeverLoseAWakeUp) {
  struct Shape {
    int producers, consumers;
    std::size_t capacity;
  };
  std::vector<Shape> shapes;
  switch (TestFixture::K) {
    case ChannelKind::spsc: shapes = {{1, 1, 2}, {1, 1, 16}}; break;
    case ChannelKind::mpsc: shapes = {{3, 1, 2}, {2, 1, 16}}; break;
    case ChannelKind::mpmc: shapes = {{2, 2, 2}, {3, 1, 16}, {1, 3, 4}}; break;
  }
  for (const Shape& shape : shapes) {
    DeliveryPlan plan;
    plan.time_box = stress_time_box() / static_cast<std::int64_t>(shapes.size());
    plan.producers = shape.producers;
    plan.consumers = shape.consumers;
    plan.capacity = shape.capacity;
    plan.per_producer = scaled(30000) / static_cast<std::uint64_t>(shape.producers);
    plan.transfer = Transfer::blocking_send_and_recv;
    plan.options = park_at_once();
    const DeliveryOutcome outcome = run_delivery<TestFixture::K>(plan);
    expect_exactly_once_in_order(plan, outcome);
  }
}

TYPED_TEST(ChannelWakeUp, TimedWaitsThatParkAreWokenBeforeTheirDeadline) {
  // A lost wake-up under recv_for/send_for would only show as a late return, so this
  // checks the results; the deadlines (an hour) never matter, and the watchdog turns a
  // stuck exchange into a failure.
  const std::uint64_t kRoundTrips = scaled(5000);
  auto ping = open<std::uint64_t, TestFixture::K>(2, park_at_once());
  auto pong = open<std::uint64_t, TestFixture::K>(2, park_at_once());
  const absl::Duration deadline = absl::Hours(1);
  std::uint64_t completed = 0;
  bool wrong = false;
  {
    Watchdog watchdog(stall_limit(), [&] {
      ping.tx.close();
      pong.rx.close();
    });
    std::jthread echo([&] {
      std::uint64_t v = 0;
      while (ping.rx.recv_for(v, deadline) == RecvResult::ok) {
        if (pong.tx.send_for(v + 1, deadline) != SendResult::ok) break;
      }
    });
    const TimeBox box(stress_time_box());
    for (std::uint64_t i = 0; i < kRoundTrips && !box.over(i); ++i) {
      if (ping.tx.send_for(std::uint64_t{i}, deadline) != SendResult::ok) break;
      std::uint64_t back = 0;
      if (pong.rx.recv_for(back, deadline) != RecvResult::ok) break;
      wrong |= back != i + 1;
      ++completed;
      watchdog.tick();
    }
    ping.tx.close();
    echo.join();
    EXPECT_FALSE(watchdog.fired()) << "stuck after " << completed << " round trips";
  }
  EXPECT_GT(completed, 0u);
  EXPECT_FALSE(wrong);
}

}  // namespace
}  // namespace sn::test
