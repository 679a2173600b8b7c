// Delivery between two processes: order, counts and checksums both ways, byte messages,
// closing from either side, backpressure, send_for's timeout and hang detection. The
// other process is ipc_test_peer (started by Remote, ipc_gtest_support.h).
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_gtest_support.h"
#include "sn/ipc/ipc.h"

namespace sn::ipc::test {
namespace {

using std::to_string;

TEST(IpcChannel, MessagesArriveInFifoOrderWithExactCountsAndChecksums) {
  const std::uint64_t n = scaled(1'000'000), seed = 7;
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(4096);
  ASSERT_TRUE(rx.ok()) << rx.status();
  Remote r({"--role=sender", "--from=socket:3", "--do=send", "--count=" + to_string(n), "--seed=7", "--end=close"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  const Drained d = drain(*rx, seed, absl::Seconds(45));
  EXPECT_EQ(d.last, RecvResult::closed);
  EXPECT_EQ(d.mismatches, 0u);
  EXPECT_EQ(d.sum.count, n);
  EXPECT_EQ(rx->close_reason(), CloseReason::closed_by_peer);
  EXPECT_EQ(rx->stats().received, n);
  EXPECT_EQ(rx->stats().approx_depth, 0u);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  EXPECT_EQ(reported(*r.peer, "sent"), n);
  EXPECT_EQ(reported(*r.peer, "checksum"), d.sum.hashed);
}

TEST(IpcChannel, AStreamSentFromTheCreatingProcessArrivesIntactInTheAttachedOne) {
  const std::uint64_t n = scaled(1'000'000), seed = 11;
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(1024);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--do=recv", "--count=" + to_string(n), "--seed=11"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  Checksum sent;
  std::vector<std::uint64_t> batch(100);
  const absl::Time give_up = absl::Now() + absl::Seconds(45);
  while (sent.count < n && absl::Now() < give_up) {
    if (sent.count % 3 == 0) {  // a batch, in part when the ring is nearly full
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(batch.size(), n - sent.count));
      for (std::size_t i = 0; i < k; ++i) batch[i] = pattern(seed, sent.count + i);
      const SendBatchResult b = tx->send_batch(std::span<const std::uint64_t>(batch.data(), k));
      ASSERT_NE(b.status, SendResult::closed);
      for (std::size_t i = 0; i < b.count; ++i) sent.add(batch[i]);
      if (b.count != 0) continue;
    }
    const std::uint64_t v = pattern(seed, sent.count);
    const SendResult s = tx->send_for(v, absl::Milliseconds(100));
    ASSERT_TRUE(s == SendResult::ok || s == SendResult::timeout) << to_string(s);
    if (s == SendResult::ok) sent.add(v);
  }
  ASSERT_EQ(sent.count, n);
  tx->close();
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  EXPECT_EQ(reported(*r.peer, "received"), n);
  EXPECT_EQ(reported(*r.peer, "checksum"), sent.hashed);
  EXPECT_EQ(tx->stats().sent, n);
}

TEST(IpcClose, ASenderThatClosesLetsTheReceiverDrainEverythingThenSeeClosedByPeer) {
  constexpr std::uint64_t kSent = 1000;
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(4096);
  ASSERT_TRUE(rx.ok()) << rx.status();
  Remote r({"--role=sender", "--from=socket:3", "--do=send", "--count=1000", "--seed=3", "--end=close"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  // Take nothing until the sender has closed: everything it sent must still arrive.
  const absl::Time give_up = absl::Now() + patience();
  while (!rx->is_closed() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(rx->is_closed());
  EXPECT_EQ(rx->close_reason(), CloseReason::closed_by_peer);
  EXPECT_TRUE(rx->ready());
  const Drained d = drain(*rx, 3, patience());
  EXPECT_EQ(d.last, RecvResult::closed);
  EXPECT_EQ(d.sum.count, kSent);
  EXPECT_EQ(d.mismatches, 0u);
  std::uint64_t v = 0;
  EXPECT_EQ(rx->try_recv(v), RecvResult::closed);
  EXPECT_EQ(rx->close_reason(), CloseReason::closed_by_peer);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

TEST(IpcClose, AReceiverThatClosesEarlyMakesTheSenderSeeClosedByPeer) {
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(64);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--do=recv", "--count=100", "--seed=5", "--end=close"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  std::uint64_t sent = 0;
  SendResult s = SendResult::ok;
  const absl::Time give_up = absl::Now() + patience();
  while (absl::Now() < give_up) {
    s = tx->send_for(pattern(5, sent), absl::Milliseconds(50));
    if (s == SendResult::closed) break;
    if (s == SendResult::ok) ++sent;
  }
  ASSERT_EQ(s, SendResult::closed);
  EXPECT_GE(sent, 100u);
  EXPECT_EQ(tx->close_reason(), CloseReason::closed_by_peer);
  EXPECT_TRUE(tx->is_closed());
  EXPECT_EQ(tx->try_send(1), SendResult::closed);
  // What the receiver left behind, as it reported it: at most what was sent after its 100.
  EXPECT_LE(tx->stats().discarded, sent - 100);
  EXPECT_GE(tx->stats().send_closed, 2u);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  EXPECT_EQ(reported(*r.peer, "received"), 100u);
}

TEST(IpcBackpressure, SendBlocksOnAFullRingUntilTheReceiverCatchesUpAndEverythingArrives) {
  const std::uint64_t n = scaled(50'000);
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(16);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r(
      {"--role=receiver", "--from=socket:3", "--do=recv", "--count=" + to_string(n), "--seed=9", "--pause-ms=200"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  Checksum sent;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t v = pattern(9, i);
    const SendResult s = tx->send(v);  // bounded: a receiver that stops is declared hung
    ASSERT_EQ(s, SendResult::ok) << "message " << i << ", " << to_string(tx->close_reason());
    sent.add(v);
  }
  EXPECT_GE(tx->stats().send_blocked, 1u);  // the receiver took nothing for 200 ms
  EXPECT_EQ(tx->stats().sent, n);
  tx->close();
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  EXPECT_EQ(reported(*r.peer, "received"), n);
  EXPECT_EQ(reported(*r.peer, "checksum"), sent.hashed);
}

TEST(IpcBackpressure, SendForOnAFullRingTimesOutAfterItsDurationAndLeavesTheChannelOpen) {
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(8);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--do=hang"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_EQ(tx->try_send(i), SendResult::ok);
  EXPECT_EQ(tx->try_send(8), SendResult::full);
  const absl::Time start = absl::Now();
  EXPECT_EQ(tx->send_for(8, absl::Milliseconds(100)), SendResult::timeout);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(100));
  EXPECT_LT(took, patience());
  EXPECT_EQ(tx->close_reason(), CloseReason::open);
  EXPECT_FALSE(tx->is_closed());
  EXPECT_EQ(tx->stats().send_full, 2u);
  EXPECT_EQ(tx->stats().send_blocked, 1u);
  EXPECT_EQ(tx->stats().approx_depth, 8u);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

TEST(IpcHangDetection, ASenderDeclaresAReceiverThatStopsConsumingHungAfterHangTimeout) {
  const absl::Duration hang = absl::Milliseconds(300);
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(8, Options().with_hang_timeout(hang));
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--do=hang"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_EQ(tx->try_send(i), SendResult::ok);
  const absl::Time start = absl::Now();
  EXPECT_EQ(tx->send_for(8, patience()), SendResult::closed);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, hang - absl::Milliseconds(20));  // the coarse clock's tick
  EXPECT_LT(took, patience());
  EXPECT_EQ(tx->close_reason(), CloseReason::peer_hung);
  EXPECT_EQ(tx->try_send(9), SendResult::closed);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

TEST(IpcHangDetection, AReceiverThatIsSlowButMovingIsNotDeclaredHung) {
  const std::uint64_t n = 2000;
  absl::StatusOr<Sender<std::uint64_t>> tx =
      create_sender<std::uint64_t>(4, Options().with_hang_timeout(absl::Seconds(1)));
  ASSERT_TRUE(tx.ok()) << tx.status();
  // The receiver pauses 200 ms (less than the hang timeout) before it starts.
  Remote r({"--role=receiver", "--from=socket:3", "--do=recv", "--count=2000", "--seed=2", "--pause-ms=200"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(tx->send_for(pattern(2, i), patience()), SendResult::ok) << i << " " << to_string(tx->close_reason());
  }
  EXPECT_EQ(tx->close_reason(), CloseReason::open);
  tx->close();
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

TEST(IpcByteMessages, ByteMessagesOfEveryLengthUpToTheMaximumArriveIntact) {
  constexpr std::size_t kMax = 100;
  const std::uint64_t n = scaled(20'000);
  absl::StatusOr<ByteReceiver> rx = create_byte_receiver(256, kMax);
  ASSERT_TRUE(rx.ok()) << rx.status();
  EXPECT_EQ(rx->max_message_bytes(), kMax);
  Remote r({"--role=sender", "--from=socket:3", "--type=bytes", "--max=100", "--do=send", "--count=" + to_string(n),
            "--seed=4", "--end=close"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  std::vector<std::byte> got, want;
  std::uint64_t count = 0, mismatches = 0, empty_messages = 0;
  RecvResult last = RecvResult::timeout;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    last = rx->recv_for(got, absl::Milliseconds(50));
    if (last == RecvResult::closed) break;
    if (last != RecvResult::ok) continue;
    fill_bytes(4, count++, kMax, want);
    if (got != want) ++mismatches;
    if (got.empty()) ++empty_messages;
  }
  EXPECT_EQ(last, RecvResult::closed);
  EXPECT_EQ(count, n);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(empty_messages, 0u);  // zero-length messages are messages too
  EXPECT_EQ(rx->close_reason(), CloseReason::closed_by_peer);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

TEST(IpcByteMessages, AMessageLongerThanTheMaximumIsInvalidAndNothingIsSent) {
  constexpr std::size_t kMax = 100;
  absl::StatusOr<ByteSender> tx = create_byte_sender(8, kMax);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--type=bytes", "--max=100", "--do=recv", "--count=50", "--seed=6"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  const std::vector<std::byte> too_long(kMax + 1, std::byte{7});
  EXPECT_EQ(tx->try_send(too_long), SendResult::invalid);
  EXPECT_EQ(tx->send(too_long), SendResult::invalid);
  EXPECT_EQ(tx->send_for(too_long, absl::Milliseconds(10)), SendResult::invalid);
  EXPECT_EQ(tx->stats().sent, 0u);
  std::vector<std::byte> m;
  for (std::uint64_t i = 0; i < 50; ++i) {
    fill_bytes(6, i, kMax, m);
    ASSERT_EQ(tx->send_for(m, patience()), SendResult::ok) << i;
  }
  EXPECT_EQ(tx->stats().sent, 50u);
  tx->close();
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  EXPECT_EQ(reported(*r.peer, "received"), 50u);
}

}  // namespace
}  // namespace sn::ipc::test
