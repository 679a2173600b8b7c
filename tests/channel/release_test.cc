// What happens to the values inside a channel when its last receiver goes: they are
// destroyed at once (as in Go, Rust's standard channels and crossbeam), counted as
// discarded, and a value that a racing sender publishes afterwards is destroyed by that
// sender before its send returns. Never twice, never leaked: the Tracked census says so.
#include <atomic>
#include <cstdint>
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

/// A Tracked whose move constructor, once armed, stops on the id kHold until released:
/// it freezes a producer between claiming a slot and publishing it.
struct Held {
  static constexpr int kHold = -7;
  static inline std::atomic<bool> armed{false}, entered{false}, released{false};

  Tracked value;

  explicit Held(int id) : value(id) {}
  Held(Held&& o) noexcept : value(std::move(o.value)) {
    if (value.id == kHold && armed.exchange(false)) {
      entered.store(true, std::memory_order_release);
      while (!released.load(std::memory_order_acquire)) std::this_thread::yield();
    }
  }
  Held& operator=(Held&&) = delete;
  ~Held() = default;

  static void arm() {
    entered = false;
    released = false;
    armed = true;
  }
  static void release() { released.store(true, std::memory_order_release); }
  /// Waits until a producer is held; on a stall, releases it and returns false.
  static bool wait_until_held() {
    const absl::Time give_up = absl::Now() + stall_limit();
    while (!entered.load(std::memory_order_acquire)) {
      if (absl::Now() > give_up) {
        release();
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  }
};

template <class KindT>
class ChannelRelease : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelRelease, AllKinds);

template <class KindT>
class MultiProducerChannelRelease : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(MultiProducerChannelRelease, MultiProducerKinds);

TYPED_TEST(ChannelRelease, DroppingTheLastReceiverDestroysTheValuesInsideAtOnce) {
  const TrackedCounts start;
  for (int lapped : {0, 3, 6}) {  // leave the values at different ring offsets
    auto ch = open<Tracked, TestFixture::K>(4);
    move_round(ch, lapped);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(ch.tx.try_send(Tracked(100 + i)), SendResult::ok);
    const TrackedCounts inside;
    { auto gone = std::move(ch.rx); }
    EXPECT_EQ(Tracked::live.load(), inside.live - 3) << "the three values inside die with the last receiver";
    const ChannelStats s = ch.tx.stats();
    EXPECT_EQ(s.discarded, 3u);
    EXPECT_EQ(s.received, static_cast<std::uint64_t>(lapped));
    EXPECT_EQ(s.sent, static_cast<std::uint64_t>(lapped) + 3);
    EXPECT_EQ(s.approx_depth, 0u);
    Tracked late(7);
    EXPECT_EQ(ch.tx.try_send(std::move(late)), SendResult::closed);
    EXPECT_TRUE(late.intact()) << "a refused value stays with its sender";
  }
  expect_no_leaks_since(start);
}

TYPED_TEST(ChannelRelease, ACopyOfTheReceiverKeepsTheValuesAlive) {
  const TrackedCounts start;
  {
    auto ch = open<Tracked, TestFixture::K>(4);
    ASSERT_EQ(ch.tx.try_send(Tracked(1)), SendResult::ok);
    if constexpr (TestFixture::K == ChannelKind::mpmc) {
      auto copy = ch.rx;
      { auto gone = std::move(ch.rx); }
      EXPECT_EQ(ch.tx.stats().discarded, 0u);
      Tracked out;
      ASSERT_EQ(copy.try_recv(out), RecvResult::ok) << "another receiver is still there";
      EXPECT_EQ(out.id, 1);
    } else {
      ch.tx.close();  // a close alone keeps the values for the receiver to drain
      Tracked out;
      ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
      EXPECT_EQ(out.id, 1);
    }
  }
  expect_no_leaks_since(start);
}

TYPED_TEST(ChannelRelease, AClientWaitingForAReplySeesClosedWhenTheServerLeaves) {
  // The request carries the sender of the client's reply channel. If the request
  // outlived the server's receiver, the reply channel would keep a sender and the
  // client would wait forever.
  struct Request {
    MpscSender<int> reply_to;
  };
  auto requests = open<Request, TestFixture::K>(8);
  auto reply = open<int, ChannelKind::mpsc>(1);
  ASSERT_EQ(requests.tx.try_send(Request{std::move(reply.tx)}), SendResult::ok);
  std::jthread server([rx = std::move(requests.rx)]() mutable { auto gone = std::move(rx); });
  server.join();
  int answer = 0;
  EXPECT_EQ(reply.rx.recv_for(answer, stall_limit()), RecvResult::closed);
}

TYPED_TEST(MultiProducerChannelRelease, AValuePublishedAfterTheLastReceiverLeftIsDestroyedByItsSender) {
  // Interleaving, forced by Held: a producer claims a slot and stops inside the value's
  // move constructor, before it publishes; the last receiver leaves, releasing what is
  // published; the producer then publishes into a channel nobody can receive from.
  const TrackedCounts start;
  {
    auto ch = open<Held, TestFixture::K>(8);
    ASSERT_EQ(ch.tx.try_send(Held(1)), SendResult::ok);
    Held::arm();
    std::jthread producer([tx = ch.tx]() mutable {
      EXPECT_EQ(tx.try_send(Held(Held::kHold)), SendResult::ok) << "it claimed before the close";
    });
    ASSERT_TRUE(Held::wait_until_held());
    { auto gone = std::move(ch.rx); }
    EXPECT_EQ(ch.tx.stats().discarded, 1u) << "only the published value so far";
    Held::release();
    producer.join();
    EXPECT_EQ(ch.tx.stats().discarded, 2u);
    EXPECT_EQ(Tracked::live.load(), start.live) << "the late value died before its send returned, not with the channel";
  }
  expect_no_leaks_since(start);
}

TYPED_TEST(ChannelRelease, RacingSendersAndTheLastReceiverLeaveNothingAliveAndDestroyNothingTwice) {
  const TrackedCounts start;
  const int producers = TestFixture::K == ChannelKind::spsc ? 1 : 3;
  const int rounds = scaled(200);
  for (int round = 0; round < rounds; ++round) {
    auto ch = open<Tracked, TestFixture::K>(16);
    std::atomic<std::uint64_t> sent{0};
    std::vector<std::jthread> threads;
    for (int p = 0; p < producers; ++p) {
      auto sender = [&] {
        if constexpr (TestFixture::K == ChannelKind::spsc) {
          return std::move(ch.tx);
        } else {
          return ch.tx;
        }
      };
      threads.emplace_back([tx = sender(), &sent, p]() mutable {
        for (int i = 0;; ++i) {
          const SendResult r = tx.try_send(Tracked(p * 1'000'000 + i));
          if (r == SendResult::closed) return;
          if (r == SendResult::ok) sent.fetch_add(1, std::memory_order_relaxed);
          if ((i & 7) == 7) std::this_thread::yield();
        }
      });
    }
    { auto ours = std::move(ch.tx); }  // only the producers' handles are left
    std::uint64_t received = 0;
    for (int i = 0; i < round % 23; ++i) {
      Tracked out;
      if (ch.rx.try_recv(out) == RecvResult::ok) ++received;
    }
    { auto gone = std::move(ch.rx); }
    for (auto& t : threads) t.join();
    ASSERT_EQ(Tracked::live.load(), start.live) << "round " << round << ": every value inside was released";
    (void)received;
    ASSERT_EQ(Tracked::bad_destructions.load(), start.bad_destructions) << "round " << round;
  }
  expect_no_leaks_since(start);
}

TEST(MpmcChannel, TryOperationsNeverFailWhileEachThreadSendsThenReceives) {
  // T threads, a ring of T slots, each thread sends one value and then receives one: at
  // every instant the channel holds fewer than T values and at least one for each thread
  // that has sent and not yet received. A linearizable channel never reports full or
  // empty here.
  constexpr int kThreads = 4;
  const int iterations = scaled(20'000);
  auto ch = open<std::uint64_t, ChannelKind::mpmc>(kThreads);
  ASSERT_EQ(ch.tx.capacity(), static_cast<std::size_t>(kThreads));
  std::atomic<std::uint64_t> full{0}, empty{0}, sum_in{0}, sum_out{0};
  StartGate gate;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, tx = ch.tx, rx = ch.rx, t]() mutable {
        gate.arrive_and_wait();
        for (int i = 0; i < iterations; ++i) {
          const std::uint64_t v = static_cast<std::uint64_t>(t) << 32 | static_cast<std::uint64_t>(i);
          if (tx.try_send(std::uint64_t{v}) != SendResult::ok) {
            full.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          sum_in.fetch_add(v, std::memory_order_relaxed);
          std::uint64_t out = 0;
          if (rx.try_recv(out) != RecvResult::ok) {
            empty.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          sum_out.fetch_add(out, std::memory_order_relaxed);
        }
      });
    }
    gate.open_when(kThreads);
  }
  EXPECT_EQ(full.load(), 0u) << "try_send reported full on a channel that never was";
  EXPECT_EQ(empty.load(), 0u) << "try_recv reported empty on a channel that never was";
  std::uint64_t left = 0, out = 0;
  while (ch.rx.try_recv(out) == RecvResult::ok) left += out;
  EXPECT_EQ(sum_in.load(), sum_out.load() + left) << "every value sent was received once";
}

}  // namespace
}  // namespace sn::test
