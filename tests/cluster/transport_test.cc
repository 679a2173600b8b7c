// The transport loop over an in-memory fake link: records cross between ranks in one
// process exactly once and in order per source, a corrupt frame is rejected and counted,
// frames in flight stay within the bound, credits bound what a receiver holds from each
// sender, a sink that refuses loses nothing, and heartbeats and the watchdog work on a
// clock the tests drive.
#include "sn/cluster/detail/transport.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "fake_link.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
#include "sn/cluster/detail/batcher.h"

namespace transport_test {

using sn::kRouteByKey;
using sn::detail::BatchAppend;
using sn::detail::Batcher;
using sn::detail::BatcherOptions;
using sn::detail::ControlKind;
using sn::detail::ControlMessage;
using sn::detail::SealedFrame;
using sn::detail::Transport;
using sn::detail::TransportOptions;
using Protocol = sn_test::FakeNetwork::Protocol;

const absl::Time kStart = absl::FromUnixSeconds(1000);

/// How one rank is set up.
struct RankSetup {
  std::size_t buffers = 3;    // per destination, in the batcher
  std::size_t in_flight = 2;  // per destination
  std::size_t receive_buffers = 4;
  std::size_t credit_frames = 8;
};

/// One rank: a batcher (the producer), the channel of sealed frames, the transport, and a
/// sink that adds up what it takes and checks that each source's values only increase.
struct Rank {
  Rank(sn_test::FakeNetwork& net, int rank, const RankSetup& setup = {}) : buffers(setup.buffers) {
    BatcherOptions b;
    b.limits.max_frame_bytes = 256;  // nine u64 records a frame
    b.limits.max_message_bytes = 64;
    b.buffers_per_destination = setup.buffers;
    const int ranks = net.link(rank).size();
    batcher = *Batcher::create(static_cast<std::size_t>(ranks), b);
    // Every sealed frame holds a buffer, so a channel with room for all buffers never fills.
    auto [tx, rx] = sn::Channel<SealedFrame>::mpsc(static_cast<std::size_t>(ranks) * setup.buffers);
    frames = std::move(tx);
    TransportOptions t;
    t.limits = b.limits;
    t.max_in_flight_per_destination = setup.in_flight;
    t.receive_buffers = setup.receive_buffers;
    t.credit_frames = setup.credit_frames;
    transport = *Transport::create(
        net.link(rank), std::move(rx), t, [this](int source, const sn::RecordView& r) { return take(source, r); },
        kStart);
  }

  bool take(int source, const sn::RecordView& r) {
    if (refuse && refuse()) {
      ++refusals;
      return false;
    }
    const std::uint64_t value = *sn::decode_message<std::uint64_t>(r.payload);
    auto [last, first] = last_value.try_emplace(source, value);
    if (!first && value <= last->second) ++out_of_order;
    last->second = value;
    ++records;
    keys += r.key;
    values += value;
    return true;
  }

  /// Hands the sealed frames to the transport's channel.
  void hand_over() {
    (void)batcher->drain([&](const SealedFrame& f) { ASSERT_EQ(frames.try_send(f), sn::SendResult::ok); });
  }
  /// Seals every open frame and hands it over.
  void flush() {
    (void)batcher->flush_all();
    hand_over();
  }
  void poll(absl::Time now = kStart) { ASSERT_TRUE(transport->poll(now).ok()); }

  std::size_t buffers;
  std::unique_ptr<Batcher> batcher;
  sn::MpscSender<SealedFrame> frames;
  std::unique_ptr<Transport> transport;
  std::function<bool()> refuse;  // when set and true, the sink refuses the record
  std::uint64_t records = 0, keys = 0, values = 0, refusals = 0, out_of_order = 0;
  std::map<int, std::uint64_t> last_value;
};

/// Appends a record, handing frames over and letting `poll` run while no buffer is free.
template <class Poll>
void send(Rank& from, std::size_t to, std::uint64_t key, std::uint64_t value, Poll&& poll) {
  for (int tries = 0; tries < 10000; ++tries) {
    const BatchAppend r = from.batcher->append(to, key, kRouteByKey, value, kStart);
    if (r == BatchAppend::ok) return;
    ASSERT_EQ(r, BatchAppend::no_buffer);
    from.hand_over();
    poll();
  }
  FAIL() << "no buffer came back";
}

/// Appends to `to` until no buffer is free, hands the frames over and polls once; returns
/// the records appended.
std::uint64_t fill(Rank& from, std::size_t to, std::uint64_t& next_value) {
  std::uint64_t appended = 0;
  while (from.batcher->append(to, next_value, kRouteByKey, next_value, kStart) == BatchAppend::ok) {
    ++next_value;
    ++appended;
  }
  from.hand_over();
  from.poll();
  return appended;
}

TEST(TransportOverAFakeLink, TwoRanksExchangeKeyedRecordsAndTheChecksumsMatch) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0), b(net, 1);
  const auto poll_both = [&] {
    a.poll();
    b.poll();
  };
  constexpr std::uint64_t kRecords = 10000;
  std::uint64_t keys_to_b = 0, keys_to_a = 0;
  for (std::uint64_t i = 1; i <= kRecords; ++i) {
    const std::uint64_t key = i * 0x9E3779B97F4A7C15ull;
    send(a, 1, key, i, poll_both);
    send(b, 0, ~key, 2 * i, poll_both);
    keys_to_b += key;
    keys_to_a += ~key;
  }
  a.flush();
  b.flush();
  for (int turn = 0; turn < 100 && !(a.transport->quiet() && b.transport->quiet() && a.transport->credits(1) == 8 &&
                                     b.transport->credits(0) == 8);
       ++turn) {
    poll_both();
  }
  EXPECT_EQ(b.records, kRecords);
  EXPECT_EQ(b.keys, keys_to_b);
  EXPECT_EQ(b.values, kRecords * (kRecords + 1) / 2);
  EXPECT_EQ(a.records, kRecords);
  EXPECT_EQ(a.keys, keys_to_a);
  EXPECT_EQ(a.values, kRecords * (kRecords + 1));
  EXPECT_EQ(a.out_of_order + b.out_of_order, 0u);
  EXPECT_EQ(a.transport->counters().rejected_total() + b.transport->counters().rejected_total(), 0u);
  EXPECT_EQ(b.transport->counters().sequence_gaps, 0u);
  EXPECT_EQ(a.transport->counters().frames_posted, b.transport->counters().frames_arrived);
  EXPECT_EQ(a.transport->counters().records_sent_to[1], kRecords);
  EXPECT_EQ(b.transport->counters().records_received_from[0], kRecords);
  EXPECT_EQ(b.transport->counters().records_received, kRecords);
  EXPECT_TRUE(a.transport->quiet() && b.transport->quiet());
  EXPECT_EQ(a.transport->credits(1), 8u) << "every credit came back";
  EXPECT_EQ(a.batcher->buffers().approx_in_use(1), 0u) << "every buffer came back";
}

TEST(TransportOverAFakeLink, ACorruptFrameIsRejectedCountedAndNoneOfItsRecordsDelivered) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0, {.buffers = 2}), b(net, 1, {.buffers = 2});
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(a.batcher->append(1, i, kRouteByKey, i, kStart), BatchAppend::ok);
  a.flush();
  net.corrupt_next(0, 1);
  a.poll();
  b.poll();
  EXPECT_EQ(b.records, 0u);
  EXPECT_EQ(b.transport->counters().rejected_total(), 1u);
  EXPECT_EQ(b.transport->counters().rejected[static_cast<std::size_t>(sn::FrameError::checksum_mismatch)], 1u);
  EXPECT_EQ(b.transport->counters().frames_arrived, 1u);
  EXPECT_EQ(b.transport->counters().records_received_from[0], 0u);

  ASSERT_EQ(a.batcher->append(1, 9, kRouteByKey, std::uint64_t{9}, kStart), BatchAppend::ok);
  a.flush();
  a.poll();
  b.poll();
  EXPECT_EQ(b.records, 1u) << "the next frame is delivered";
  EXPECT_EQ(b.transport->counters().sequence_gaps, 1u) << "frame 0 never arrived";
}

TEST(TransportOverAFakeLink, ACorruptFrameStillReturnsItsCredit) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0, {.credit_frames = 1}), b(net, 1, {.credit_frames = 1});
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(a.batcher->append(1, i, kRouteByKey, i, kStart), BatchAppend::ok);
  a.flush();
  net.corrupt_next(0, 1);
  a.poll();
  EXPECT_EQ(a.transport->credits(1), 0u);
  b.poll();
  EXPECT_EQ(b.transport->counters().rejected_total(), 1u);
  EXPECT_EQ(net.controls_delivered(1, 0, ControlKind::credit), 0u) << "the credit is on its way";

  ASSERT_EQ(a.batcher->append(1, 9, kRouteByKey, std::uint64_t{9}, kStart), BatchAppend::ok);
  a.flush();
  a.poll();  // takes the credit back before it posts
  EXPECT_EQ(net.controls_delivered(1, 0, ControlKind::credit), 1u);
  EXPECT_EQ(a.transport->counters().frames_posted, 2u);
  EXPECT_EQ(a.transport->counters().credit_stalls, 0u) << "the frame never waited for credit";
  b.poll();
  a.poll();
  EXPECT_EQ(b.records, 1u);
  EXPECT_EQ(a.transport->credits(1), 1u);
  EXPECT_EQ(a.transport->counters().protocol_errors, 0u);
}

TEST(TransportOverAFakeLink, InFlightStaysWithinTheBoundWhileTheReceiverDoesNotPoll) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0, {.buffers = 8}), b(net, 1, {.buffers = 8});
  std::uint64_t appended = 0, next = 0;
  for (int turn = 0; turn < 50; ++turn) {
    appended += fill(a, 1, next);
    EXPECT_LE(a.transport->in_flight(1), 2u);
  }
  EXPECT_EQ(net.max_in_flight(0, 1), 2u);
  EXPECT_EQ(a.batcher->buffers().approx_in_use(1), 8u) << "the sender is out of buffers: backpressure";
  EXPECT_EQ(b.records, 0u);
  EXPECT_FALSE(a.transport->idle_to(1));
  EXPECT_TRUE(a.transport->idle_to(0));

  for (int turn = 0; turn < 100 && b.records < appended; ++turn) {
    a.flush();
    a.poll();
    b.poll();
  }
  EXPECT_EQ(b.records, appended) << "once the receiver polls, everything arrives";
  EXPECT_EQ(net.max_in_flight(0, 1), 2u);
}

TEST(TransportOverAFakeLink, CreditsBoundTheFramesAReceiverThatDoesNotPollHoldsFromEachSender) {
  // Eager: sends complete at once and the network keeps the frames, so only credits stop
  // the senders.
  sn_test::FakeNetwork net(3, Protocol::eager);
  const RankSetup setup{.buffers = 8, .in_flight = 4, .credit_frames = 3};
  Rank a(net, 0, setup), b(net, 1, setup), c(net, 2, setup);
  std::uint64_t appended = 0, from_a = 0, from_c = 0;
  for (int turn = 0; turn < 50; ++turn) {
    appended += fill(a, 1, from_a);
    appended += fill(c, 1, from_c);
  }
  for (Rank* sender : {&a, &c}) {
    EXPECT_EQ(sender->transport->counters().frames_posted, 3u);
    EXPECT_EQ(sender->transport->credits(1), 0u);
    EXPECT_EQ(sender->transport->counters().credit_stalls, 1u) << "one stall, counted once over 50 turns";
    EXPECT_GT(sender->transport->waiting(), 0u);
    EXPECT_EQ(sender->transport->in_flight(1), 0u) << "the sends completed: only credit holds them";
    EXPECT_FALSE(sender->transport->idle_to(1));
  }
  EXPECT_EQ(net.held(0, 1), 3u);
  EXPECT_EQ(net.held(2, 1), 3u);
  EXPECT_EQ(b.records, 0u);

  for (int turn = 0; turn < 1000 && b.records < appended; ++turn) {
    a.flush();
    c.flush();
    a.poll();
    c.poll();
    b.poll();
  }
  EXPECT_EQ(b.records, appended) << "once the receiver polls, the senders resume";
  EXPECT_EQ(b.out_of_order, 0u);
  EXPECT_EQ(net.max_held(0, 1), 3u);
  EXPECT_EQ(net.max_held(2, 1), 3u);
  EXPECT_GT(a.transport->counters().credit_stalls, 1u);
}

TEST(TransportOverAFakeLink, ASinkThatRefusesEveryOtherRecordLosesNoneAndKeepsEachSourcesOrder) {
  sn_test::FakeNetwork net(3, Protocol::eager);
  const RankSetup setup{.credit_frames = 2};
  Rank a(net, 0, setup), b(net, 1, setup), c(net, 2, setup);
  bool refuse_next = false;
  b.refuse = [&] { return refuse_next = !refuse_next; };
  const auto poll_all = [&] {
    a.poll();
    c.poll();
    b.poll();
  };
  constexpr std::uint64_t kRecords = 2000;
  std::uint64_t keys = 0;
  std::size_t most_pending = 0;
  for (std::uint64_t i = 1; i <= kRecords; ++i) {
    send(a, 1, i, i, poll_all);
    send(c, 1, i << 32, i, poll_all);
    keys += i + (i << 32);
    most_pending = std::max(most_pending, b.transport->pending_deliveries());
  }
  a.flush();
  c.flush();
  for (int turn = 0; turn < 100000 && !(b.records == 2 * kRecords && a.transport->quiet() && c.transport->quiet());
       ++turn) {
    poll_all();
  }
  EXPECT_EQ(b.records, 2 * kRecords);
  EXPECT_EQ(b.keys, keys);
  EXPECT_EQ(b.values, kRecords * (kRecords + 1));
  EXPECT_EQ(b.out_of_order, 0u);
  EXPECT_EQ(b.transport->counters().delivery_stalls, b.refusals);
  EXPECT_GE(b.refusals, 2 * kRecords - 1);
  EXPECT_GT(most_pending, 0u);
  EXPECT_LE(most_pending, 4u) << "at most credit_frames from each sender";
  EXPECT_EQ(b.transport->pending_deliveries(), 0u);
  EXPECT_EQ(b.transport->counters().records_received_from[0], kRecords);
  EXPECT_EQ(b.transport->counters().records_received_from[2], kRecords);
  EXPECT_EQ(b.transport->counters().records_received, 2 * kRecords);
  EXPECT_EQ(b.transport->counters().sequence_gaps, 0u);
  EXPECT_LE(net.max_held(0, 1), 2u);
  EXPECT_LE(net.max_held(2, 1), 2u);
}

TEST(TransportOverAFakeLink, AFrameLongerThanTheReceiveBufferIsRejectedAsTooLongAndReturnsItsCredit) {
  sn_test::FakeNetwork net(2);
  Rank b(net, 1, {.buffers = 2});
  std::vector<std::byte> big(1024, std::byte{0x5A});
  ASSERT_TRUE(net.link(0).post_send(1, big, 0).ok());
  b.poll();
  EXPECT_EQ(b.transport->counters().rejected[static_cast<std::size_t>(sn::FrameError::too_long)], 1u);
  EXPECT_EQ(b.transport->counters().frames_arrived, 1u);
  EXPECT_EQ(b.records, 0u);
  std::vector<sn::detail::ReceivedControl> controls;
  ASSERT_TRUE(net.link(0).poll_control(controls).ok());
  ASSERT_EQ(controls.size(), 1u);
  EXPECT_EQ(controls[0].source, 1);
  EXPECT_EQ(controls[0].message.kind, ControlKind::credit);
  EXPECT_EQ(controls[0].message.value, 1u);
}

TEST(TransportOverAFakeLink, HeartbeatsGoOnlyToPeersThatNothingElseWasPostedTo) {
  sn_test::FakeNetwork net(3);
  Rank a(net, 0), b(net, 1), c(net, 2);
  std::uint64_t value = 0;
  for (int ms = 10; ms <= 1000; ms += 10) {
    const absl::Time now = kStart + absl::Milliseconds(ms);
    if (ms % 50 == 0) {
      ASSERT_EQ(a.batcher->append(1, value, kRouteByKey, value, now), BatchAppend::ok);
      ++value;
      a.flush();
    }
    a.poll(now);
    b.poll(now);
    c.poll(now);
  }
  a.poll(kStart + absl::Milliseconds(1000));  // takes what ranks 1 and 2 posted last
  EXPECT_EQ(b.records, value);
  EXPECT_EQ(net.controls_delivered(0, 1, ControlKind::heartbeat), 0u) << "frames went to rank 1";
  EXPECT_EQ(net.controls_delivered(1, 0, ControlKind::heartbeat), 0u) << "credits went to rank 0";
  EXPECT_EQ(net.controls_delivered(1, 0, ControlKind::credit), value);
  EXPECT_GE(net.controls_delivered(0, 2, ControlKind::heartbeat), 9u);
  EXPECT_GE(net.controls_delivered(2, 0, ControlKind::heartbeat), 9u);
  EXPECT_GE(net.controls_delivered(1, 2, ControlKind::heartbeat), 9u);
  EXPECT_EQ(a.transport->counters().protocol_errors, 0u);
}

TEST(TransportOverAFakeLink, SilentPeerNamesARankThatStoppedPolling) {
  sn_test::FakeNetwork net(3);
  Rank a(net, 0), b(net, 1), c(net, 2);
  const absl::Duration timeout = absl::Milliseconds(250);
  absl::Time now = kStart;
  for (int ms = 10; ms <= 1000; ms += 10) {
    now = kStart + absl::Milliseconds(ms);
    a.poll(now);
    b.poll(now);
    c.poll(now);
    EXPECT_EQ(a.transport->silent_peer(now, timeout), -1);
    EXPECT_EQ(c.transport->silent_peer(now, timeout), -1);
  }
  // Rank 2 stops polling; its last heartbeats reach ranks 0 and 1 by their next poll.
  for (int ms = 1010; ms <= 2000; ms += 10) {
    now = kStart + absl::Milliseconds(ms);
    a.poll(now);
    b.poll(now);
    if (ms == 1200) {
      EXPECT_EQ(a.transport->silent_peer(now, timeout), -1);
    }
  }
  EXPECT_EQ(a.transport->silent_peer(now, timeout), 2);
  EXPECT_EQ(b.transport->silent_peer(now, timeout), 2);
  EXPECT_EQ(a.transport->silent_peer(now, absl::Seconds(2)), -1);
  EXPECT_EQ(c.transport->silent_peer(now, timeout), 0) << "the lowest rank it has not heard from";
}

TEST(TransportOverAFakeLink, ControlsNeverExceedTwoInFlightAndCreditsOwedMeanwhileGoBackInOneMessage) {
  sn_test::FakeNetwork net(2, Protocol::eager);
  Rank a(net, 0), b(net, 1, {.buffers = 8, .in_flight = 8});
  std::uint64_t next = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(b.batcher->append(0, next, kRouteByKey, next, kStart), BatchAppend::ok);
    ++next;
    b.flush();  // one frame each
  }
  b.poll(kStart);
  EXPECT_EQ(b.transport->credits(0), 3u);
  // Rank 1 stops polling. Rank 0 refuses every record for 300 ms, then takes them.
  a.refuse = [&] { return true; };
  for (int ms = 10; ms <= 5000; ms += 10) {
    if (ms == 300) a.refuse = nullptr;
    a.poll(kStart + absl::Milliseconds(ms));
    ASSERT_LE(net.link(0).controls_in_flight(1), 2u);
  }
  EXPECT_EQ(a.records, 5u);
  EXPECT_EQ(net.max_controls_in_flight(0, 1), 2u);
  EXPECT_EQ(a.transport->counters().controls_sent, 2u) << "two heartbeats, then nothing more fitted";
  // Rank 1 polls: it frees both slots, and the five credits go back in one message.
  b.poll(kStart + absl::Seconds(5));
  a.poll(kStart + absl::Seconds(5));
  b.poll(kStart + absl::Seconds(5));
  EXPECT_EQ(net.controls_delivered(0, 1, ControlKind::heartbeat), 2u);
  EXPECT_EQ(net.controls_delivered(0, 1, ControlKind::credit), 1u);
  EXPECT_EQ(b.transport->credits(0), 8u);
  EXPECT_EQ(b.transport->counters().protocol_errors, 0u);
}

TEST(TransportOverAFakeLink, AnUnknownControlKindAndAnExcessCreditAreCountedAsProtocolErrors) {
  sn_test::FakeNetwork net(2);
  Rank b(net, 1);
  ASSERT_TRUE(net.link(0).post_control(1, ControlMessage{static_cast<ControlKind>(99), 0, 1}).ok());
  ASSERT_TRUE(net.link(0).post_control(1, ControlMessage{ControlKind::credit, 0, 1}).ok());
  EXPECT_EQ(net.link(0).post_control(1, ControlMessage{ControlKind::heartbeat}).code(),
            absl::StatusCode::kResourceExhausted)
      << "the link refuses a third control in flight";
  b.poll();
  EXPECT_EQ(b.transport->counters().controls_received, 2u);
  EXPECT_EQ(b.transport->counters().protocol_errors, 2u);
  EXPECT_EQ(b.transport->credits(0), 8u) << "clamped to credit_frames";
}

TEST(TransportOverAFakeLink, RefusesOptionsThatCannotWork) {
  sn_test::FakeNetwork net(2);
  auto [tx, rx] = sn::Channel<SealedFrame>::mpsc(4);
  const auto sink = [](int, const sn::RecordView&) { return true; };
  TransportOptions no_credit;
  no_credit.credit_frames = 0;
  EXPECT_EQ(Transport::create(net.link(0), std::move(rx), no_credit, sink).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto [tx2, rx2] = sn::Channel<SealedFrame>::mpsc(4);
  TransportOptions no_heartbeat;
  no_heartbeat.heartbeat_every = absl::ZeroDuration();
  EXPECT_EQ(Transport::create(net.link(0), std::move(rx2), no_heartbeat, sink).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace transport_test
