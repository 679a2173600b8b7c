// The transport loop over an in-memory fake link: records cross between two ranks in one
// process exactly once, a corrupt frame is rejected and counted, and frames in flight
// stay within the bound while the receiver does not poll.
#include "sn/cluster/detail/transport.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

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
using sn::detail::SealedFrame;
using sn::detail::Transport;
using sn::detail::TransportOptions;

const absl::Time kStart = absl::FromUnixSeconds(1000);

/// One rank: a batcher (the producer), the channel of sealed frames, and the transport.
struct Rank {
  Rank(sn_test::FakeNetwork& net, int rank, std::size_t buffers, std::size_t in_flight) {
    BatcherOptions b;
    b.limits.max_frame_bytes = 256;  // nine u64 records a frame
    b.limits.max_message_bytes = 64;
    b.buffers_per_destination = buffers;
    const int ranks = net.link(rank).size();
    batcher = *Batcher::create(static_cast<std::size_t>(ranks), b);
    // Every sealed frame holds a buffer, so a channel with room for all buffers never fills.
    auto [tx, rx] = sn::Channel<SealedFrame>::mpsc(static_cast<std::size_t>(ranks) * buffers);
    frames = std::move(tx);
    TransportOptions t;
    t.limits = b.limits;
    t.max_in_flight_per_destination = in_flight;
    t.receive_buffers = 4;
    transport = *Transport::create(net.link(rank), std::move(rx), t, [this](int, const sn::RecordView& r) {
      ++records;
      keys += r.key;
      values += *sn::decode_message<std::uint64_t>(r.payload);
    });
  }

  /// Hands the sealed frames to the transport's channel.
  void hand_over() {
    (void)batcher->drain([&](const SealedFrame& f) { ASSERT_EQ(frames.try_send(f), sn::SendResult::ok); });
  }

  std::unique_ptr<Batcher> batcher;
  sn::MpscSender<SealedFrame> frames;
  std::unique_ptr<Transport> transport;
  std::uint64_t records = 0, keys = 0, values = 0;
};

/// Appends a record, handing frames over and letting `poll` run while no buffer is free.
template <class Poll>
void send(Rank& from, std::size_t to, std::uint64_t key, std::uint64_t value, Poll&& poll) {
  for (int tries = 0; tries < 1000; ++tries) {
    const BatchAppend r = from.batcher->append(to, key, kRouteByKey, value, kStart);
    if (r == BatchAppend::ok) return;
    ASSERT_EQ(r, BatchAppend::no_buffer);
    from.hand_over();
    poll();
  }
  FAIL() << "no buffer came back";
}

TEST(TransportOverAFakeLink, TwoRanksExchangeKeyedRecordsAndTheChecksumsMatch) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0, 3, 2), b(net, 1, 3, 2);
  const auto poll_both = [&] {
    ASSERT_TRUE(a.transport->poll().ok());
    ASSERT_TRUE(b.transport->poll().ok());
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
  (void)a.batcher->flush_all();
  (void)b.batcher->flush_all();
  a.hand_over();
  b.hand_over();
  for (int turn = 0; turn < 100 && (a.records < kRecords || b.records < kRecords); ++turn) poll_both();
  EXPECT_EQ(b.records, kRecords);
  EXPECT_EQ(b.keys, keys_to_b);
  EXPECT_EQ(b.values, kRecords * (kRecords + 1) / 2);
  EXPECT_EQ(a.records, kRecords);
  EXPECT_EQ(a.keys, keys_to_a);
  EXPECT_EQ(a.values, kRecords * (kRecords + 1));
  EXPECT_EQ(a.transport->counters().rejected_total() + b.transport->counters().rejected_total(), 0u);
  EXPECT_EQ(b.transport->counters().sequence_gaps, 0u);
  EXPECT_EQ(a.batcher->buffers().approx_in_use(1), 0u) << "every buffer came back";
}

TEST(TransportOverAFakeLink, ACorruptFrameIsRejectedCountedAndNoneOfItsRecordsDelivered) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0, 2, 2), b(net, 1, 2, 2);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(a.batcher->append(1, i, kRouteByKey, i, kStart), BatchAppend::ok);
  (void)a.batcher->flush_all();
  a.hand_over();
  net.corrupt_next(0, 1);
  ASSERT_TRUE(a.transport->poll().ok());
  ASSERT_TRUE(b.transport->poll().ok());
  EXPECT_EQ(b.records, 0u);
  EXPECT_EQ(b.transport->counters().rejected_total(), 1u);
  EXPECT_EQ(b.transport->counters().rejected[static_cast<std::size_t>(sn::FrameError::checksum_mismatch)], 1u);

  ASSERT_EQ(a.batcher->append(1, 9, kRouteByKey, std::uint64_t{9}, kStart), BatchAppend::ok);
  (void)a.batcher->flush_all();
  a.hand_over();
  ASSERT_TRUE(a.transport->poll().ok());
  ASSERT_TRUE(b.transport->poll().ok());
  EXPECT_EQ(b.records, 1u) << "the next frame is delivered";
  EXPECT_EQ(b.transport->counters().sequence_gaps, 1u) << "frame 0 never arrived";
}

TEST(TransportOverAFakeLink, InFlightStaysWithinTheBoundWhileTheReceiverDoesNotPoll) {
  sn_test::FakeNetwork net(2);
  Rank a(net, 0, 8, 2), b(net, 1, 8, 2);
  std::uint64_t appended = 0;
  for (int turn = 0; turn < 50; ++turn) {
    while (a.batcher->append(1, appended, kRouteByKey, appended, kStart) == BatchAppend::ok) ++appended;
    a.hand_over();
    ASSERT_TRUE(a.transport->poll().ok());
    EXPECT_LE(a.transport->in_flight(1), 2u);
  }
  EXPECT_EQ(net.max_in_flight(0, 1), 2u);
  EXPECT_EQ(a.batcher->buffers().approx_in_use(1), 8u) << "the sender is out of buffers: backpressure";
  EXPECT_EQ(b.records, 0u);

  for (int turn = 0; turn < 100 && b.records < appended; ++turn) {
    (void)a.batcher->flush_all();
    a.hand_over();
    ASSERT_TRUE(a.transport->poll().ok());
    ASSERT_TRUE(b.transport->poll().ok());
  }
  EXPECT_EQ(b.records, appended) << "once the receiver polls, everything arrives";
  EXPECT_EQ(net.max_in_flight(0, 1), 2u);
}

TEST(TransportOverAFakeLink, AFrameLongerThanTheReceiveBufferIsRejectedAsTooLong) {
  sn_test::FakeNetwork net(2);
  Rank b(net, 1, 2, 2);
  std::vector<std::byte> big(1024, std::byte{0x5A});
  ASSERT_TRUE(net.link(0).post_send(1, big, 0).ok());
  ASSERT_TRUE(b.transport->poll().ok());
  EXPECT_EQ(b.transport->counters().rejected[static_cast<std::size_t>(sn::FrameError::too_long)], 1u);
  EXPECT_EQ(b.records, 0u);
}

}  // namespace transport_test
