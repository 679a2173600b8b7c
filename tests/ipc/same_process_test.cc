// The same ring between two threads of one process: one thread creates the channel, the
// other attaches to it through the descriptor (From::fd). ThreadSanitizer cannot follow
// two processes; these tests are the ones it checks (ctest -L ipc in a
// -DSN_SANITIZE=thread tree), so they also read stats() from a third thread while the
// messages move. Counts are scaled down under TSan.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_gtest_support.h"
#include "sn/ipc/ipc.h"

namespace sn::ipc::test {
namespace {

/// The producer thread: attaches to `fd`, sends `n` values of the pattern with every
/// verb, then closes. Stops early when `stop` is set (the test gave up).
void produce(int fd, std::uint64_t n, std::uint64_t seed, const Options& options, const std::atomic<bool>& stop,
             Checksum& sent, absl::Status& attach) {
  absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::fd(fd), options);
  attach = tx.status();
  if (!tx.ok()) return;
  std::array<std::uint64_t, 32> batch{};
  while (sent.count < n && !stop.load(std::memory_order_relaxed)) {
    const std::uint64_t i = sent.count;
    if (i % 5 == 0) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(1 + i % batch.size(), n - i));
      for (std::size_t j = 0; j < k; ++j) batch[j] = pattern(seed, i + j);
      const SendBatchResult b = tx->send_batch(std::span<const std::uint64_t>(batch.data(), k));
      for (std::size_t j = 0; j < b.count; ++j) sent.add(batch[j]);
      if (b.status == SendResult::closed) return;
      if (b.count != 0) continue;
    }
    const std::uint64_t v = pattern(seed, i);
    const SendResult s = i % 2 == 0 ? tx->send_for(v, absl::Milliseconds(100)) : tx->try_send(v);
    if (s == SendResult::closed) return;
    if (s == SendResult::ok) sent.add(v);
    if (s == SendResult::full) std::this_thread::yield();
  }
  tx->close();
}

/// Moves `n` values from a producer thread to this one through a ring of `capacity`,
/// with a third thread reading both ends' stats meanwhile; checks order, count, checksum.
void move_between_threads(std::uint64_t n, std::size_t capacity, const Options& options) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(capacity, options);
  ASSERT_TRUE(rx.ok()) << rx.status();
  constexpr std::uint64_t kSeed = 41;
  std::atomic<bool> stop{false};
  Checksum sent;
  absl::Status attach;
  std::thread producer([&] { produce(rx->fd(), n, kSeed, options, stop, sent, attach); });
  std::thread observer([&] {
    while (!stop.load()) {
      const ChannelStats s = rx->stats();
      if (s.approx_depth > s.capacity || s.received > n) ADD_FAILURE() << "stats out of range";
      std::this_thread::yield();
    }
  });
  Drained d;
  std::uint64_t v = 0;
  std::array<std::uint64_t, 32> batch{};
  const absl::Time give_up = absl::Now() + absl::Seconds(40);
  while (d.last != RecvResult::closed && absl::Now() < give_up) {
    if (d.sum.count % 7 == 3) {
      const RecvBatchResult b = rx->recv_batch(std::span<std::uint64_t>(batch));
      d.last = b.status;
      for (std::size_t j = 0; j < b.count; ++j) {
        if (batch[j] != pattern(kSeed, d.sum.count)) ++d.mismatches;
        d.sum.add(batch[j]);
      }
      if (b.count != 0) continue;
    }
    d.last = rx->recv_for(v, absl::Milliseconds(100));
    if (d.last != RecvResult::ok) continue;
    if (v != pattern(kSeed, d.sum.count)) ++d.mismatches;
    d.sum.add(v);
  }
  stop.store(true);
  producer.join();
  observer.join();
  ASSERT_TRUE(attach.ok()) << attach;
  EXPECT_EQ(d.last, RecvResult::closed);
  EXPECT_EQ(d.mismatches, 0u);
  EXPECT_EQ(d.sum.count, n);
  EXPECT_EQ(d.sum, sent);
  EXPECT_EQ(rx->close_reason(), CloseReason::closed_by_peer);
  EXPECT_EQ(rx->stats().received, n);
}

TEST(IpcSameProcess, TwoThreadsMoveMessagesThroughOneRingInFifoOrderWithMatchingChecksums) {
  move_between_threads(scaled(1'000'000), 1024, Options());
}

TEST(IpcSameProcess, ThreadsThatParkAtOnceOnATinyRingStillMoveEveryMessage) {
  move_between_threads(scaled(100'000), 2, Options().with_wait_policy(WaitPolicy::park_immediately()));
}

TEST(IpcSameProcess, ParkedThreadsAreWokenForEveryMessageOfAPingPong) {
  // Two channels, each a one-slot ring, both ends parking at once: every message wakes a
  // sleeping thread. A wake-up the handshake loses costs a whole park slice (10 ms)
  // instead of microseconds, so a broken handshake shows in the median round trip.
  const Options park = Options().with_wait_policy(WaitPolicy::park_immediately());
  absl::StatusOr<Receiver<std::uint64_t>> ping_rx = create_receiver<std::uint64_t>(1, park);
  absl::StatusOr<Receiver<std::uint64_t>> pong_rx = create_receiver<std::uint64_t>(1, park);
  ASSERT_TRUE(ping_rx.ok() && pong_rx.ok());
  const std::uint64_t rounds = scaled(2000);
  absl::StatusOr<Sender<std::uint64_t>> ping = attach_sender<std::uint64_t>(From::fd(ping_rx->fd()), park);
  ASSERT_TRUE(ping.ok()) << ping.status();
  std::atomic<bool> echo_ok{true};
  std::thread echo([&] {
    absl::StatusOr<Sender<std::uint64_t>> back = attach_sender<std::uint64_t>(From::fd(pong_rx->fd()), park);
    if (!back.ok()) return echo_ok.store(false);
    std::uint64_t v = 0;
    while (ping_rx->recv_for(v, patience()) == RecvResult::ok) {
      if (back->send_for(v + 1, patience()) != SendResult::ok) return echo_ok.store(false);
    }
  });
  std::vector<absl::Duration> trips;
  std::uint64_t wrong = 0, done = 0;
  for (; done < rounds; ++done) {
    const absl::Time start = absl::Now();
    std::uint64_t back = 0;
    if (ping->send_for(2 * done, patience()) != SendResult::ok) break;
    if (pong_rx->recv_for(back, patience()) != RecvResult::ok) break;
    if (back != 2 * done + 1) ++wrong;
    trips.push_back(absl::Now() - start);
  }
  ping->close();
  echo.join();
  EXPECT_TRUE(echo_ok.load());
  EXPECT_EQ(done, rounds);
  EXPECT_EQ(wrong, 0u);
  // A machine shared with other work delays some round trips; lost wake-ups would delay most.
  ASSERT_FALSE(trips.empty());
  std::nth_element(trips.begin(), trips.begin() + trips.size() / 2, trips.end());
  EXPECT_LT(trips[trips.size() / 2], absl::Milliseconds(5)) << "the median round trip";
}

TEST(IpcSameProcess, ByteMessagesMoveBetweenThreadsIntact) {
  constexpr std::size_t kMax = 200;
  const std::uint64_t n = scaled(50'000);
  absl::StatusOr<ByteReceiver> rx = create_byte_receiver(64, kMax);
  ASSERT_TRUE(rx.ok()) << rx.status();
  std::atomic<bool> sender_ok{true};
  std::thread producer([&] {
    absl::StatusOr<ByteSender> tx = attach_byte_sender(From::fd(rx->fd()), kMax);
    if (!tx.ok()) return sender_ok.store(false);
    std::vector<std::byte> m;
    for (std::uint64_t i = 0; i < n; ++i) {
      fill_bytes(43, i, kMax, m);
      if (tx->send_for(m, patience()) != SendResult::ok) return sender_ok.store(false);
    }
  });  // the handle's drop closes the channel
  std::vector<std::byte> got, want;
  std::uint64_t count = 0, mismatches = 0;
  RecvResult last = RecvResult::timeout;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (last != RecvResult::closed && absl::Now() < give_up) {
    last = rx->recv_for(got, absl::Milliseconds(100));
    if (last != RecvResult::ok) continue;
    fill_bytes(43, count++, kMax, want);
    if (got != want) ++mismatches;
  }
  producer.join();
  EXPECT_TRUE(sender_ok.load());
  EXPECT_EQ(last, RecvResult::closed);
  EXPECT_EQ(count, n);
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace sn::ipc::test
