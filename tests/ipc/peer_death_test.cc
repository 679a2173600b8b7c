// A peer process that dies: SIGKILLed mid-stream, before it sent anything, or exiting
// without closing. The surviving side must take every message that was published, then
// see the channel closed with peer_exited, within a bounded time.
#include <signal.h>

#include <cstdint>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_gtest_support.h"
#include "sn/ipc/ipc.h"

namespace sn::ipc::test {
namespace {

/// How soon a death must be seen: the pidfd is polled every liveness period (2 ms) and a
/// parked end looks again every park slice (10 ms); the rest is slack for a loaded machine.
constexpr absl::Duration kSeenWithin = absl::Seconds(3);

/// Receives `first` messages, SIGKILLs the sender, and drains until closed: every value
/// must continue the pattern, and nothing published may be left behind.
void expect_clean_death_of_sender(Receiver<std::uint64_t>& rx, Remote& r, std::uint64_t seed, std::uint64_t first) {
  Drained d = drain(rx, seed, absl::Seconds(30), {}, first);
  ASSERT_GE(d.sum.count, first) << "the sender did not get going";
  r.peer->kill(SIGKILL);
  const absl::Time killed = absl::Now();
  d = drain(rx, seed, patience(), d);
  const absl::Duration took = absl::Now() - killed;
  EXPECT_EQ(d.last, RecvResult::closed);
  EXPECT_LT(took, kSeenWithin);
  EXPECT_EQ(d.mismatches, 0u) << "a message was lost, repeated or reordered";
  EXPECT_EQ(rx.close_reason(), CloseReason::peer_exited);
  // The sender's own count of what it published (its position line) is all taken.
  EXPECT_EQ(rx.stats().approx_depth, 0u);
  std::uint64_t v = 0;
  EXPECT_EQ(rx.try_recv(v), RecvResult::closed);
  EXPECT_EQ(rx.peer_pid(), r.peer->pid());
}

TEST(IpcPeerDeath, AReceiverGetsEveryPublishedMessageThenPeerExitedWhenTheProducerIsKilled) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(1024);
  ASSERT_TRUE(rx.ok()) << rx.status();
  Remote r({"--role=sender", "--from=socket:3", "--do=send", "--seed=21"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  expect_clean_death_of_sender(*rx, r, 21, scaled(50'000));
}

TEST(IpcPeerDeath, AReceiverThatAttachedThroughItsOwnSocketPairStillSeesTheCreatorDie) {
  // The socket pair is this process's, so the kernel's word on the peer (SO_PEERCRED)
  // names this process: the peer's pid must come from elsewhere.
  Remote r({"--role=sender", "--create=1024", "--share=3", "--do=send", "--seed=22"});
  absl::StatusOr<Receiver<std::uint64_t>> rx = attach_receiver<std::uint64_t>(From::socket(r.sock.ours));
  ASSERT_TRUE(rx.ok()) << rx.status();
  ASSERT_TRUE(r.signalled());
  expect_clean_death_of_sender(*rx, r, 22, scaled(50'000));
}

TEST(IpcPeerDeath, AReceiverSeesPeerExitedWhenTheSenderIsKilledBeforeSendingAnything) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(64);
  ASSERT_TRUE(rx.ok()) << rx.status();
  Remote r({"--role=sender", "--from=socket:3", "--do=hang"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  std::uint64_t v = 0;
  EXPECT_EQ(rx->recv_for(v, absl::Milliseconds(20)), RecvResult::timeout);
  r.peer->kill(SIGKILL);
  const absl::Time killed = absl::Now();
  RecvResult last = RecvResult::timeout;
  while (last == RecvResult::timeout && absl::Now() - killed < patience()) {
    last = rx->recv_for(v, absl::Milliseconds(50));
  }
  EXPECT_EQ(last, RecvResult::closed);
  EXPECT_LT(absl::Now() - killed, kSeenWithin);
  EXPECT_EQ(rx->close_reason(), CloseReason::peer_exited);
}

TEST(IpcPeerDeath, ASenderThatExitsWithoutClosingLeavesItsMessagesThenPeerExited) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(4096);
  ASSERT_TRUE(rx.ok()) << rx.status();
  // It sends 3000, then _exits: no destructor runs, so it never closes.
  Remote r({"--role=sender", "--from=socket:3", "--do=send", "--count=3000", "--seed=23", "--end=exit"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  ASSERT_EQ(r.peer->exit_code(patience()), kPeerOk);
  const Drained d = drain(*rx, 23, patience());
  EXPECT_EQ(d.last, RecvResult::closed);
  EXPECT_EQ(d.sum.count, 3000u);
  EXPECT_EQ(d.mismatches, 0u);
  EXPECT_EQ(rx->close_reason(), CloseReason::peer_exited);
}

/// Sends until the first `first` went through, SIGKILLs the receiver, then keeps sending
/// until `closed`.
void expect_clean_death_of_receiver(Sender<std::uint64_t>& tx, Remote& r, std::uint64_t first) {
  std::uint64_t sent = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (sent < first && absl::Now() < give_up) {
    const SendResult s = tx.send_for(pattern(31, sent), absl::Milliseconds(50));
    ASSERT_NE(s, SendResult::closed) << to_string(tx.close_reason());
    if (s == SendResult::ok) ++sent;
  }
  ASSERT_EQ(sent, first);
  r.peer->kill(SIGKILL);
  const absl::Time killed = absl::Now();
  SendResult s = SendResult::ok;
  while (s != SendResult::closed && absl::Now() - killed < patience()) {
    s = tx.send_for(pattern(31, sent), absl::Milliseconds(50));
    if (s == SendResult::ok) ++sent;
  }
  EXPECT_EQ(s, SendResult::closed);
  EXPECT_LT(absl::Now() - killed, kSeenWithin);
  EXPECT_EQ(tx.close_reason(), CloseReason::peer_exited);
  EXPECT_TRUE(tx.is_closed());
  EXPECT_EQ(tx.try_send(0), SendResult::closed);
}

TEST(IpcPeerDeath, ASenderSeesPeerExitedWhenTheConsumerIsKilledMidStream) {
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(256);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--do=recv", "--seed=31"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  expect_clean_death_of_receiver(*tx, r, scaled(50'000));
}

TEST(IpcPeerDeath, ASenderThatAttachedThroughItsOwnSocketPairStillSeesTheCreatorDie) {
  Remote r({"--role=receiver", "--create=256", "--share=3", "--do=recv", "--seed=31"});
  absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::socket(r.sock.ours));
  ASSERT_TRUE(tx.ok()) << tx.status();
  ASSERT_TRUE(r.signalled());
  expect_clean_death_of_receiver(*tx, r, scaled(50'000));
}

}  // namespace
}  // namespace sn::ipc::test
