// A hostile peer: a process that attached properly, then maps the segment itself and
// writes random values into the words this side reads (the header, the positions, the
// state and wait lines, the slots' sequence and length words) while this side uses its
// end. This side must never crash, hang or read out of bounds (the suite runs under
// AddressSanitizer in CI): every call returns an allowed result within its bound, and
// once the peer is gone the channel ends `closed` within a bounded time.
#include <signal.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_gtest_support.h"
#include "sn/ipc/ipc.h"

namespace sn::ipc::test {
namespace {

// --targets bits of the helper (ipc_test_peer.cc).
constexpr int kHeader = 1, kPositions = 2, kStates = 4, kWaits = 8, kSeqs = 16, kLengths = 32, kPids = 64;
constexpr int kEverything = 127;

constexpr std::uint64_t kScribbleMs = 300;

/// Hands `h`'s segment to the hostile helper and lets it start once this side has found
/// the helper's process (its pidfd is open, so that a lie about its pid or attachment,
/// written later, cannot hide its death). `poke` makes one short, bounded call on `h`.
template <class Handle, class Poke>
void start_hostile(Handle& h, Remote& r, Poke poke) {
  ASSERT_TRUE(h.share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  const absl::Time give_up = absl::Now() + patience();
  while (h.peer_pid() != r.peer->pid() && absl::Now() < give_up) poke();
  ASSERT_EQ(h.peer_pid(), r.peer->pid()) << "this side never looked at its peer";
  r.go();
}

std::vector<std::string> hostile_args(const char* role, const char* type, int targets, int seed) {
  return {std::string("--role=") + role,
          "--from=socket:3",
          std::string("--type=") + type,
          "--max=40",
          "--do=hostile",
          "--targets=" + std::to_string(targets),
          "--seed=" + std::to_string(seed),
          "--ms=" + std::to_string(kScribbleMs),
          "--end=exit"};
}

bool allowed(RecvResult r) {
  return r == RecvResult::ok || r == RecvResult::empty || r == RecvResult::closed || r == RecvResult::timeout;
}
bool allowed(SendResult r) {
  return r == SendResult::ok || r == SendResult::full || r == SendResult::closed || r == SendResult::timeout;
}

/// Receives with every verb until `closed`, or until `limit`; counts results outside the
/// allowed set and messages longer than the maximum.
template <class Rx>
RecvResult receive_through(Rx& rx, absl::Duration limit, std::uint64_t& bad) {
  const absl::Time give_up = absl::Now() + limit;
  RecvResult last = RecvResult::timeout;
  for (std::uint64_t i = 0; absl::Now() < give_up; ++i) {
    if constexpr (std::is_same_v<Rx, ByteReceiver>) {
      std::vector<std::byte> m;
      last = i % 2 == 0 ? rx.recv_for(m, absl::Milliseconds(5)) : rx.try_recv(m);
      if (m.size() > rx.max_message_bytes()) ++bad;
    } else {
      std::array<std::uint64_t, 16> batch{};
      std::uint64_t v = 0;
      if (i % 3 == 2) {
        const RecvBatchResult b = rx.recv_batch(std::span<std::uint64_t>(batch));
        if (b.count > batch.size()) ++bad;
        last = b.status;
      } else {
        last = i % 3 == 0 ? rx.recv_for(v, absl::Milliseconds(5)) : rx.try_recv(v);
      }
    }
    if (!allowed(last)) ++bad;
    if (last == RecvResult::closed) break;
  }
  return last;
}

/// Sends with every verb until `closed`, or until `limit`.
SendResult send_through(Sender<std::uint64_t>& tx, absl::Duration limit, std::uint64_t& bad) {
  const absl::Time give_up = absl::Now() + limit;
  SendResult last = SendResult::timeout;
  const std::array<std::uint64_t, 16> batch{};
  for (std::uint64_t i = 0; absl::Now() < give_up; ++i) {
    if (i % 3 == 2) {
      const SendBatchResult b = tx.send_batch(std::span<const std::uint64_t>(batch));
      if (b.count > batch.size()) ++bad;
      last = b.status;
    } else {
      last = i % 3 == 0 ? tx.send_for(i, absl::Milliseconds(5)) : tx.try_send(i);
    }
    if (!allowed(last)) ++bad;
    if (last == SendResult::closed) break;
  }
  return last;
}

struct Hostility {
  const char* type;  // u64 or bytes
  int targets;
  int seed;
};

class IpcHostileSender : public ::testing::TestWithParam<Hostility> {};

template <class Rx>
void survive_hostile_sender(Rx& rx, const Hostility& h) {
  Remote r(hostile_args("sender", h.type, h.targets, h.seed));
  start_hostile(rx, r, [&] {
    std::uint64_t ignored = 0;
    (void)receive_through(rx, absl::Milliseconds(5), ignored);
  });
  std::uint64_t bad = 0;
  (void)receive_through(rx, absl::Milliseconds(kScribbleMs), bad);
  r.peer->kill(SIGKILL);  // if it is still at it
  const RecvResult last = receive_through(rx, patience(), bad);
  EXPECT_EQ(last, RecvResult::closed) << "the channel outlived its hostile peer";
  EXPECT_NE(rx.close_reason(), CloseReason::open);
  EXPECT_NE(rx.close_reason(), CloseReason::closed_here);
  EXPECT_EQ(bad, 0u);
}

TEST_P(IpcHostileSender, AReceiverEndsClosedWithoutCrashingOrReadingOutOfBounds) {
  const Hostility h = GetParam();
  if (std::string(h.type) == "bytes") {
    absl::StatusOr<ByteReceiver> rx = create_byte_receiver(16, 40);
    ASSERT_TRUE(rx.ok()) << rx.status();
    survive_hostile_sender(*rx, h);
  } else {
    absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(16);
    ASSERT_TRUE(rx.ok()) << rx.status();
    survive_hostile_sender(*rx, h);
  }
}

INSTANTIATE_TEST_SUITE_P(Words, IpcHostileSender,
                         ::testing::Values(Hostility{"u64", kSeqs | kLengths, 1},
                                           Hostility{"bytes", kSeqs | kLengths, 2},
                                           Hostility{"u64", kPositions | kWaits, 3},
                                           Hostility{"bytes", kHeader | kStates | kPids, 4},
                                           Hostility{"u64", kEverything, 5}, Hostility{"bytes", kEverything, 6}),
                         [](const ::testing::TestParamInfo<Hostility>& i) {
                           return std::string(i.param.type) + "_targets_" + std::to_string(i.param.targets);
                         });

class IpcHostileReceiver : public ::testing::TestWithParam<int> {};

TEST_P(IpcHostileReceiver, ASenderEndsClosedWithoutCrashingOrOverrunningTheRing) {
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(16);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r(hostile_args("receiver", "u64", GetParam(), 10 + GetParam()));
  start_hostile(*tx, r, [&] {
    std::uint64_t ignored = 0;
    (void)send_through(*tx, absl::Milliseconds(5), ignored);
  });
  std::uint64_t bad = 0;
  (void)send_through(*tx, absl::Milliseconds(kScribbleMs), bad);
  r.peer->kill(SIGKILL);
  const SendResult last = send_through(*tx, patience(), bad);
  EXPECT_EQ(last, SendResult::closed) << "the channel outlived its hostile peer";
  EXPECT_NE(tx->close_reason(), CloseReason::open);
  EXPECT_EQ(bad, 0u);
  EXPECT_LE(tx->stats().approx_depth, tx->capacity());
  EXPECT_LE(tx->stats().discarded, tx->capacity());
}

INSTANTIATE_TEST_SUITE_P(Words, IpcHostileReceiver, ::testing::Values(kPositions, kWaits | kStates, kEverything),
                         [](const ::testing::TestParamInfo<int>& i) { return "targets_" + std::to_string(i.param); });

TEST(IpcHostilePeer, AnImpossibleLengthClosesTheChannelAsPeerCorruptAfterTheGoodMessages) {
  absl::StatusOr<ByteReceiver> rx = create_byte_receiver(16, 32);
  ASSERT_TRUE(rx.ok()) << rx.status();
  Remote r({"--role=sender", "--from=socket:3", "--type=bytes", "--max=32", "--do=plant_length", "--count=5"});
  ASSERT_TRUE(rx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  std::vector<std::byte> got, want;
  std::uint64_t good = 0;
  RecvResult last = RecvResult::timeout;
  const absl::Time give_up = absl::Now() + patience();
  while (absl::Now() < give_up && last != RecvResult::closed) {
    last = rx->recv_for(got, absl::Milliseconds(50));
    if (last != RecvResult::ok) continue;
    fill_bytes(1, good, 32, want);
    EXPECT_EQ(got, want) << "message " << good;
    ++good;
  }
  EXPECT_EQ(last, RecvResult::closed);
  EXPECT_EQ(good, 5u);
  EXPECT_EQ(rx->close_reason(), CloseReason::peer_corrupt);
  EXPECT_EQ(rx->try_recv(got), RecvResult::closed);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

TEST(IpcHostilePeer, AReceiverPositionPastEverythingSentClosesTheSenderAsPeerCorrupt) {
  absl::StatusOr<Sender<std::uint64_t>> tx = create_sender<std::uint64_t>(16);
  ASSERT_TRUE(tx.ok()) << tx.status();
  Remote r({"--role=receiver", "--from=socket:3", "--do=plant_position"});
  ASSERT_TRUE(tx->share(r.sock.ours).ok());
  ASSERT_TRUE(r.signalled());
  ASSERT_TRUE(r.signalled('P'));
  std::uint64_t sent = 0;
  SendResult last = SendResult::ok;
  for (int i = 0; i < 100 && last != SendResult::closed; ++i) {
    last = tx->send_for(std::uint64_t{1}, absl::Milliseconds(20));
    if (last == SendResult::ok) ++sent;
  }
  EXPECT_EQ(last, SendResult::closed);
  EXPECT_EQ(sent, 16u);  // the ring's room, and not one slot more
  EXPECT_EQ(tx->close_reason(), CloseReason::peer_corrupt);
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
}

}  // namespace
}  // namespace sn::ipc::test
