// Stress test of sn::ipc across processes, for the SN_PERTURB build (label `stress`): a
// producer process (ipc_test_peer --do=stress: a random mix of try_send, send_for and
// send_batch) sends SN_STRESS_MESSAGES values (default 10^8) through a shared-memory ring
// to this process, which takes them with a random mix of recv_for, try_recv and
// recv_batch. Both processes run the ring's perturbation points (ipc.send.before_publish,
// ipc.recv.before_release, ipc.notify.before_barrier, ipc.park.after_recheck). Every value
// must be the next of the producer's pattern (FIFO, no loss, no duplicate), and the count
// and checksum must equal what the producer reports. One run parks at once on both sides,
// on a small ring, to stress the sleep/wake handshake between processes. A stall (nothing
// arrives for the stall limit) kills the producer and fails the test.
//
// Environment: SN_STRESS_MESSAGES, SN_STRESS_SECONDS (stop sending after S seconds; the
// checks still cover everything sent) and SN_STRESS_SEED, as in stress_test.cc.
#include <signal.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_test_support.h"
#include "sn/detail/perturb.h"
#include "sn/ipc/ipc.h"

namespace sn::ipc::test {
namespace {

struct StressRun {
  std::uint64_t messages = env_u64("SN_STRESS_MESSAGES", 100'000'000);
  std::uint64_t seconds = env_u64("SN_STRESS_SECONDS", 0);
  std::uint64_t seed = env_u64("SN_STRESS_SEED", 0);
  StressRun() {
    if (seed == 0) seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  }
};

/// What this process took: in order against the pattern, with its checksum.
struct Taken {
  Checksum sum;
  std::uint64_t out_of_order = 0;
  bool stalled = false;
  RecvResult last = RecvResult::timeout;
  void take(std::uint64_t v, std::uint64_t seed) noexcept {
    if (v != pattern(seed, sum.count)) ++out_of_order;
    sum.add(v);
  }
};

/// Receives until `closed`, with a random mix of verbs; gives up after `stall` without a message.
Taken consume(Receiver<std::uint64_t>& rx, std::uint64_t seed, absl::Duration stall) {
  Taken t;
  std::mt19937_64 rng(seed ^ 0xc0c0);
  std::array<std::uint64_t, 64> batch{};
  absl::Time last_progress = absl::Now();
  std::uint64_t count_then = 0;
  for (;;) {
    const std::uint64_t before = t.sum.count;
    const std::uint64_t op = rng() % 4;
    if (op == 0) {
      const RecvBatchResult r = rx.recv_batch(std::span<std::uint64_t>(batch.data(), 1 + rng() % batch.size()));
      for (std::size_t i = 0; i < r.count; ++i) t.take(batch[i], seed);
      t.last = r.status;
    } else {
      std::uint64_t v = 0;
      t.last = op == 1 ? rx.try_recv(v) : rx.recv_for(v, absl::Milliseconds(100));
      if (t.last == RecvResult::ok) t.take(v, seed);
    }
    if (t.last == RecvResult::closed) return t;
    if (t.sum.count != before) continue;
    // Nothing this time: the clock is read only here, off the busy path.
    const absl::Time now = absl::Now();
    if (t.sum.count != count_then) {
      count_then = t.sum.count;
      last_progress = now;
    } else if (now - last_progress > stall) {
      t.stalled = true;
      return t;
    }
  }
}

// Parking at once makes nearly every message a sleep and a wake (a membarrier and two
// futex calls, about 0.2 M messages/s here), so that run moves at most kParkingMessages:
// enough handshakes to stress the protocol, without the stage's full 10^8.
constexpr std::uint64_t kParkingMessages = 2'000'000;

void stress(const char* what, std::size_t capacity, bool park) {
  StressRun run;
  if (park) run.messages = std::min(run.messages, kParkingMessages);
  Options options;
  if (park) options.with_wait_policy(WaitPolicy::park_immediately());
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(capacity, options);
  ASSERT_TRUE(rx.ok()) << rx.status();
  SocketPair sock;
  std::vector<std::string> args = {"--role=sender",
                                   "--from=socket:3",
                                   "--ctl=3",
                                   "--do=stress",
                                   "--count=" + std::to_string(run.messages),
                                   "--seed=" + std::to_string(run.seed),
                                   "--seconds=" + std::to_string(run.seconds),
                                   "--lifetime=7200"};
  if (park) args.push_back("--park");
  Peer producer(SN_IPC_TEST_PEER, args, {{sock.theirs, 3}});
  sock.close_theirs();
  ASSERT_TRUE(producer.started());
  ASSERT_TRUE(rx->share(sock.ours).ok());
  ASSERT_EQ(read_byte_within(sock.ours, absl::Seconds(30)), 'A') << "the producer did not attach";
  const sn::detail::PerturbCounts before = sn::detail::perturb_counts();
  const absl::Time start = absl::Now();
  const Taken t = consume(*rx, run.seed, absl::Seconds(20));
  const absl::Duration took = absl::Now() - start;
  if (t.stalled) producer.kill(SIGKILL);
  sock.close_ours();
  const int code = producer.exit_code(absl::Seconds(30));
  const sn::detail::PerturbCounts now = sn::detail::perturb_counts();
  std::printf("%s: %" PRIu64 " messages in %.1f s (%.2f M/s); perturbation %s here: %" PRIu64 " points, %" PRIu64
              " yields, %" PRIu64 " sleeps; SN_STRESS_SEED=%" PRIu64 "\n",
              what, t.sum.count, absl::ToDoubleSeconds(took),
              static_cast<double>(t.sum.count) / absl::ToDoubleSeconds(took) / 1e6,
              sn::detail::perturb_enabled() ? "on" : "off", now.points - before.points, now.yields - before.yields,
              now.sleeps - before.sleeps, run.seed);
  ::testing::Test::RecordProperty("messages", std::to_string(t.sum.count));
  EXPECT_FALSE(t.stalled) << "nothing arrived for 20 s (seed " << run.seed << ")";
  EXPECT_EQ(t.last, RecvResult::closed);
  EXPECT_EQ(rx->close_reason(), CloseReason::closed_by_peer) << to_string(rx->close_reason());
  EXPECT_EQ(t.out_of_order, 0u) << "seed " << run.seed;
  EXPECT_EQ(code, kPeerOk) << producer.output();
  EXPECT_EQ(std::strtoull(producer.value_of("sent").c_str(), nullptr, 10), t.sum.count) << producer.output();
  EXPECT_EQ(std::strtoull(producer.value_of("checksum").c_str(), nullptr, 10), t.sum.hashed) << "seed " << run.seed;
  if (run.seconds == 0) {
    EXPECT_EQ(t.sum.count, run.messages);
  }
}

TEST(IpcStress, EveryMessageFromAnotherProcessArrivesOnceInOrderUnderPerturbation) {
  stress("ipc 1x1 across processes", 1024, false);
}

TEST(IpcStress, ParkingAtOnceOnASmallRingKeepsEveryMessageUnderPerturbation) {
  stress("ipc 1x1 across processes, parking at once", 8, true);
}

}  // namespace
}  // namespace sn::ipc::test
