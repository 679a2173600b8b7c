// Targeted interleavings that broke the ring before 8a71702 ("Fix four ring bugs found
// in review"). Each test forces or strongly provokes one specific interleaving and says
// which one. (The single-threaded regression for one-slot MPMC rings is in
// lifetime_test.cc.)
#include <array>
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

/// An int whose move constructor, once armed, stops on the value kHold until released:
/// it freezes a producer in the middle of a send_batch, between publishing the slots
/// before the held one and publishing the batch's tail.
struct Gated {
  static constexpr int kHold = 1000;
  static inline std::atomic<bool> armed{false}, entered{false}, released{false};

  int value = 0;

  Gated() = default;
  explicit Gated(int v) noexcept : value(v) {}
  Gated(Gated&& o) noexcept : value(o.value) {
    if (value == kHold && armed.exchange(false)) {
      entered.store(true, std::memory_order_release);
      while (!released.load(std::memory_order_acquire)) std::this_thread::yield();
    }
  }
  Gated& operator=(Gated&& o) noexcept {
    value = o.value;
    return *this;
  }
  ~Gated() = default;

  /// Waits until a producer is held; on a stall, releases it and returns false.
  static bool wait_until_held() {
    const absl::Time give_up = absl::Now() + stall_limit();
    while (!entered.load(std::memory_order_acquire)) {
      if (absl::Now() > give_up) {
        released.store(true, std::memory_order_release);
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  }
};

/// Arms Gated and starts a producer that sends {10, kHold, 12, 13} through `tx` as one
/// batch: it publishes slot 0, then stops inside the move of kHold (slot 1) until
/// Gated::released is set.
template <class Tx>
std::jthread start_held_batch_send(Tx& tx) {
  Gated::armed = true;
  Gated::entered = false;
  Gated::released = false;
  return std::jthread([&tx] {
    std::array<Gated, 4> batch = {Gated(10), Gated(Gated::kHold), Gated(12), Gated(13)};
    EXPECT_EQ(tx.send_batch(std::span(batch)).count, 4u);
  });
}

TEST(SpscChannel, BatchReceiveNeverTakesSlotsTheProducerHasNotPublished) {
  // Regression (fixed in 8a71702). Interleaving, forced by Gated:
  //   producer: send_batch({10, HOLD, 12, 13}) constructs slot 0 and publishes its seq,
  //             then stops inside the move constructor of slot 1; `tail` is still 0.
  //   consumer: recv_batch #1 finds nothing through `tail` and falls back to the per-slot
  //             check, which takes slot 0: head = 1 > tail = 0.
  //   consumer: recv_batch #2 computed avail = tail - head = 0 - 1, which wrapped to
  //             2^64 - 1, and took 4 slots without checking them: one being constructed
  //             and three never constructed (ring.h, try_pop_single_consumer).
  auto ch = open<Gated, ChannelKind::spsc>(8);
  std::jthread producer = start_held_batch_send(ch.tx);
  ASSERT_TRUE(Gated::wait_until_held()) << "the producer never reached the held value";

  std::array<Gated, 4> out{};
  const RecvBatchResult first = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(first.count, 1u) << "only slot 0 is published";
  EXPECT_EQ(out[0].value, 10);
  const RecvBatchResult second = ch.rx.recv_batch(std::span(out));
  EXPECT_EQ(second.count, 0u) << "took slots the producer had not published (head ran past tail)";
  EXPECT_EQ(second.status, RecvResult::empty);

  Gated::released.store(true, std::memory_order_release);
  producer.join();
  std::vector<int> rest;
  for (int i = 0; i < 3; ++i) {
    Gated g;
    if (ch.rx.try_recv(g) != RecvResult::ok) break;
    rest.push_back(g.value);
  }
  EXPECT_EQ(rest, (std::vector<int>{Gated::kHold, 12, 13})) << "the rest of the batch must still arrive, in order";
}

TEST(SpscChannel, ConsumeNeverTakesSlotsTheProducerHasNotPublished) {
  // Same interleaving as above, through consume(), which shares the batch path.
  auto ch = open<Gated, ChannelKind::spsc>(8);
  std::jthread producer = start_held_batch_send(ch.tx);
  ASSERT_TRUE(Gated::wait_until_held()) << "the producer never reached the held value";

  std::vector<int> got;
  Gated single;
  ASSERT_EQ(ch.rx.try_recv(single), RecvResult::ok) << "slot 0 is published";  // head = 1 > tail = 0
  got.push_back(single.value);
  const RecvBatchResult r = ch.rx.consume(4, [&](Gated&& g) { got.push_back(g.value); });
  EXPECT_EQ(r.count, 0u) << "consume took slots the producer had not published (head ran past tail)";

  Gated::released.store(true, std::memory_order_release);
  producer.join();
  if (r.count == 0) {
    (void)ch.rx.consume(4, [&](Gated&& g) { got.push_back(g.value); });
    EXPECT_EQ(got, (std::vector<int>{10, Gated::kHold, 12, 13}));
  }
}

TEST(MpscChannel, ProducersNeverClaimASlotTheConsumerHasNotFreed) {
  // Regression (fixed in 8a71702). Provokes the race on the producers' shared copy of
  // the consumer's head (ring.h, free_from): producer A loads head = h and is preempted
  // before it stores h into cached_head; meanwhile the others refresh cached_head past h
  // and the consumer frees more slots; A then stores its old h. Then t - cached_head
  // exceeded the capacity, capacity - (t - head) wrapped to a huge "free" count, and
  // every later claim succeeded on a full ring, overwriting values never received. The
  // consumer then waited forever for the first overwritten slot (its sequence word had
  // moved a lap ahead); before the fix this failed within a second, with stats showing
  // hundreds of thousands of values "inside" a two-slot ring.
  //
  // Several producers spinning on a two-slot ring against one consumer, on few cores,
  // preempt each other inside that window often. Not deterministic: a pass is evidence,
  // not proof.
  constexpr int kProducers = 3;
  const std::uint64_t per_producer = scaled(300000);
  std::vector<std::uint64_t> sent(kProducers, 0);
  const absl::Duration stall = kUnderTsan ? absl::Seconds(20) : absl::Seconds(5);
  auto ch = open<std::uint64_t, ChannelKind::mpsc>(2);
  StartGate gate;
  std::vector<std::int64_t> last(kProducers, -1);
  std::uint64_t received = 0, out_of_order = 0;
  bool stalled = false;
  ChannelStats at_stall;
  {
    std::vector<std::jthread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p, tx = ch.tx]() mutable {
        gate.arrive_and_wait();
        const TimeBox box(stress_time_box());
        std::uint64_t s = 0;
        while (s < per_producer && !box.over(s)) {
          const SendResult r = tx.try_send(std::uint64_t{static_cast<std::uint64_t>(p) << 32 | s});
          if (r == SendResult::ok) ++s;
          if (r == SendResult::closed) break;
        }
        sent[static_cast<std::size_t>(p)] = s;
      });
    }
    { auto gone = std::move(ch.tx); }
    gate.open_when(kProducers);
    std::uint64_t v = 0;
    for (;;) {
      const RecvResult r = ch.rx.recv_for(v, stall);
      if (r == RecvResult::closed) break;
      if (r == RecvResult::timeout) {
        stalled = true;
        at_stall = ch.rx.stats();
        ch.rx.close();  // releases the producers
        break;
      }
      const auto p = static_cast<std::size_t>(v >> 32);
      const auto s = static_cast<std::int64_t>(v & 0xffffffffu);
      if (p >= last.size() || s != last[p] + 1) ++out_of_order;
      if (p < last.size()) last[p] = s;
      ++received;
    }
  }
  const std::uint64_t total_sent = sent[0] + sent[1] + sent[2];
  EXPECT_FALSE(stalled) << "the consumer waited " << stall << " for a value after " << received << "; stats then: sent "
                        << at_stall.sent << ", received " << at_stall.received << ", depth " << at_stall.approx_depth
                        << " in " << at_stall.capacity << " slots (a value was overwritten in its slot)";
  EXPECT_EQ(out_of_order, 0u) << "a producer's sequence skipped or repeated: a value was lost";
  EXPECT_EQ(received, total_sent) << "values received vs sends that returned ok";
}

}  // namespace
}  // namespace sn::test
