// sn::ClusterPool under mpirun (ctest label `mpi`), on 2 and 3 ranks:
//   mpirun -np N cluster_pool_mpi_tests
// Every rank runs every test, in order; each test's collective calls (create, shutdown,
// stop, gather_stats) are made by every rank, and its checks use EXPECT so that a failure
// on one rank never leaves the others waiting in a collective.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/cluster/cluster.h"
#include "sn/cluster/cluster_pool.h"

namespace sn::test {
namespace {

std::unique_ptr<Cluster> g_cluster;  // created in main, before the tests; destroyed after

constexpr std::size_t kKeys = 16;

/// A message that may hop on: each hop goes to another key, owned by whichever rank.
struct Hop {
  std::uint64_t value = 0;
  std::uint32_t hops = 0;      // sends left after this one
  std::uint32_t sleep_us = 0;  // the handler sleeps this long on the slow rank
};

/// What this rank's workers saw (one process is one rank).
struct Tally {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> value_sum{0};
  std::atomic<std::uint64_t> not_owned{0};
  std::atomic<std::uint64_t> per_key[kKeys] = {};
  std::atomic<int> slow_rank{-1};
  std::atomic<std::uint64_t> last[4][kKeys] = {};  // [sender rank][key]: the last ordered value handled
  std::atomic<std::uint64_t> out_of_order{0};
  void reset() {
    handled = 0;
    value_sum = 0;
    not_owned = 0;
    for (auto& k : per_key) k = 0;
    slow_rank = -1;
    for (auto& row : last) {
      for (auto& v : row) v = 0;
    }
    out_of_order = 0;
  }
};
Tally g_tally;

std::uint64_t next_key(std::uint64_t key) { return (key * 31 + 7) % kKeys; }

/// Hop::hops of the ordered test's messages: never forwarded, checked for order instead.
constexpr std::uint32_t kOrdered = 0xFFFFFFFFu;

struct Hopper : Worker<int, Hop> {
  void handle_message(int&, Envelope<Hop> e) {
    if (owner_rank(e.key, g_cluster->size()) != g_cluster->rank()) g_tally.not_owned.fetch_add(1);
    g_tally.handled.fetch_add(1, std::memory_order_relaxed);
    g_tally.value_sum.fetch_add(e.payload.value, std::memory_order_relaxed);
    if (e.key < kKeys) g_tally.per_key[e.key].fetch_add(1, std::memory_order_relaxed);
    if (e.payload.hops == kOrdered && e.key < kKeys) {  // value: sender rank << 40 | its count from 1
      std::atomic<std::uint64_t>& last = g_tally.last[e.payload.value >> 40][e.key];
      const std::uint64_t n = e.payload.value & ((std::uint64_t{1} << 40) - 1);
      if (n <= last.load(std::memory_order_relaxed)) g_tally.out_of_order.fetch_add(1);
      last.store(n, std::memory_order_relaxed);
      return;
    }
    if (e.payload.sleep_us != 0 && g_tally.slow_rank.load() == g_cluster->rank()) {
      absl::SleepFor(absl::Microseconds(e.payload.sleep_us));
    }
    if (e.payload.hops > 0) {
      Hop next = e.payload;
      --next.hops;
      EXPECT_EQ(context().send(next_key(e.key), std::move(next)), SendResult::ok);
    }
  }
};
using Pool = ClusterPool<Hopper>;

/// Every rank's value, summed.
std::uint64_t sum_over_ranks(std::uint64_t mine) {
  auto all = g_cluster->all_gather(mine);
  EXPECT_TRUE(all.ok()) << all.status();
  return all.ok() ? std::accumulate(all->begin(), all->end(), std::uint64_t{0}) : 0;
}

/// Sums of the gathered figures over ranks, checked to balance.
RankStats checked_totals(Pool& pool) {
  auto all = pool.gather_stats();
  EXPECT_TRUE(all.ok()) << all.status();
  RankStats t;
  if (!all.ok()) return t;
  for (const RankStats& r : *all) {
    t.accepted += r.accepted;
    t.processed += r.processed;
    t.failed += r.failed;
    t.dropped += r.dropped;
    t.records_sent += r.records_sent;
    t.records_received += r.records_received;
    t.frames_rejected += r.frames_rejected;
  }
  EXPECT_EQ(t.accepted, t.processed + t.failed + t.dropped) << "accepted " << t.accepted << " processed " << t.processed
                                                            << " failed " << t.failed << " dropped " << t.dropped;
  return t;
}

std::unique_ptr<Pool> make_pool(const PoolConfig& config, const ClusterOptions& options = {}) {
  g_tally.reset();
  EXPECT_TRUE(g_cluster->barrier().ok());  // no rank still reads the tally of the last test
  auto pool = Pool::create(*g_cluster, config, options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

TEST(ClusterPoolOnSeveralRanks, KeyedMessagesFromEveryRankReachTheirOwnersWithExactPerKeyTotals) {
  auto pool = make_pool(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kPerRank = 20'000;
  for (std::uint64_t i = 0; i < kPerRank; ++i) {
    ASSERT_EQ(pool->send(i % kKeys, Hop{i + 1, 0, 0}), SendResult::ok);
  }
  EXPECT_TRUE(pool->shutdown().ok());
  const auto ranks = static_cast<std::uint64_t>(g_cluster->size());
  EXPECT_EQ(g_tally.not_owned.load(), 0u);
  EXPECT_EQ(sum_over_ranks(g_tally.handled), kPerRank * ranks);
  EXPECT_EQ(sum_over_ranks(g_tally.value_sum), ranks * kPerRank * (kPerRank + 1) / 2);
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    EXPECT_EQ(sum_over_ranks(g_tally.per_key[k]), kPerRank / kKeys * ranks) << "key " << k;
    if (!pool->is_local(k)) {
      EXPECT_EQ(g_tally.per_key[k].load(), 0u) << "key " << k << " was handled on a rank that does not own it";
    }
  }
  const RankStats t = checked_totals(*pool);
  EXPECT_EQ(t.records_sent, t.records_received);
  EXPECT_GT(t.records_sent, 0u);
}

TEST(ClusterPoolOnSeveralRanks, WorkersSendToWorkersOnOtherRanksAndShutdownWaitsForEveryHop) {
  auto pool = make_pool(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kPerRank = 3'000, kHops = 5;
  for (std::uint64_t i = 0; i < kPerRank; ++i) {
    ASSERT_EQ(pool->send(i % kKeys, Hop{1, static_cast<std::uint32_t>(kHops), 0}), SendResult::ok);
  }
  // No waiting: the shutdown itself must see the hops still travelling between ranks.
  EXPECT_TRUE(pool->shutdown().ok());
  const auto ranks = static_cast<std::uint64_t>(g_cluster->size());
  EXPECT_EQ(sum_over_ranks(g_tally.handled), kPerRank * ranks * (kHops + 1));
  EXPECT_EQ(g_tally.not_owned.load(), 0u);
  const RankStats t = checked_totals(*pool);
  EXPECT_EQ(t.processed, kPerRank * ranks * (kHops + 1));
  EXPECT_EQ(pool->send(1, Hop{}), SendResult::closed);
}

TEST(ClusterPoolOnSeveralRanks, EachSendersMessagesToAKeyAreHandledInTheOrderItSentThem) {
  // Frames of every size: sealed when full (64 KiB, sent by rendezvous) or as soon as the
  // link is idle (a few records, sent eagerly), so later small frames can complete before
  // an earlier large one; the receiver must still hand them over in order.
  auto pool = make_pool(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kPerRank = 60'000;
  const auto me = static_cast<std::uint64_t>(pool->rank());
  for (std::uint64_t i = 1; i <= kPerRank; ++i) {
    ASSERT_EQ(pool->send(i % kKeys, Hop{me << 40 | i, kOrdered, 0}), SendResult::ok);
    if (i % 5000 == 0) absl::SleepFor(absl::Microseconds(200));  // let the link go idle now and then
  }
  EXPECT_TRUE(pool->shutdown().ok());
  EXPECT_EQ(g_tally.out_of_order.load(), 0u);
  EXPECT_EQ(sum_over_ranks(g_tally.handled), kPerRank * static_cast<std::uint64_t>(g_cluster->size()));
}

TEST(ClusterPoolOnSeveralRanks, StopCountsWhatWasLeftAndTheSumsOverRanksStillBalance) {
  auto pool = make_pool(PoolConfig().with_num_workers(1));
  ASSERT_NE(pool, nullptr);
  g_tally.slow_rank = 0;  // rank 0's worker sleeps, so that work is left when stop() comes
  for (std::uint64_t i = 0; i < 2'000; ++i) {
    ASSERT_EQ(pool->send(i % kKeys, Hop{1, 3, 20}), SendResult::ok);
  }
  const std::uint64_t left = pool->stop();
  const RankStats t = checked_totals(*pool);
  EXPECT_EQ(sum_over_ranks(left), t.dropped);
  EXPECT_EQ(pool->stop(), 0u);
}

TEST(ClusterPoolOnSeveralRanks, ASlowRankHoldsItsSendersAtItsCreditsAndLosesNothing) {
  ClusterOptions o;
  o.limits.max_frame_bytes = 1024;  // about 30 records a frame
  o.limits.max_message_bytes = 256;
  o.buffers_per_destination = 2;
  o.credit_frames = 2;
  auto pool = make_pool(PoolConfig().with_num_workers(1).with_queue_capacity(64), o);
  ASSERT_NE(pool, nullptr);
  g_tally.slow_rank = 1;
  // Keys owned by rank 1, sent from every other rank.
  std::vector<std::uint64_t> keys;
  for (std::uint64_t k = 0; keys.size() < 4; ++k) {
    if (pool->owner_of(k) == 1) keys.push_back(k);
  }
  constexpr std::uint64_t kPerRank = 3'000;
  if (pool->rank() != 1) {
    for (std::uint64_t i = 0; i < kPerRank; ++i) {
      ASSERT_EQ(pool->send(keys[i % keys.size()], Hop{i, 0, 50}), SendResult::ok);
    }
  }
  const ClusterStats during = pool->cluster_stats();
  EXPECT_TRUE(pool->shutdown().ok());
  const auto senders = static_cast<std::uint64_t>(g_cluster->size() - 1);
  EXPECT_EQ(sum_over_ranks(g_tally.handled), kPerRank * senders);
  // Rank 1 handles one message every 50 us or more; the senders finish their loop only
  // as fast as its credits come back, far sooner than the 150 ms the messages take.
  if (pool->rank() != 1) {
    EXPECT_GT(during.credit_stalls, 0u);
  } else {
    EXPECT_GT(pool->cluster_stats().delivery_stalls, 0u);
  }
  (void)checked_totals(*pool);
}

TEST(ClusterPoolOnSeveralRanks, ACorruptFrameIsRejectedAndItsRecordsAreCountedAsFailed) {
  auto pool = make_pool(PoolConfig().with_num_workers(1));
  ASSERT_NE(pool, nullptr);
  std::uint64_t key = 0;
  while (pool->owner_of(key) != 1) ++key;
  if (pool->rank() == 0) {
    pool->endpoint_for_testing()->corrupt_next_frame();
    for (std::uint64_t i = 0; i < 100; ++i) ASSERT_EQ(pool->send(key, Hop{1, 0, 0}), SendResult::ok);
  }
  EXPECT_TRUE(pool->shutdown().ok());
  const RankStats t = checked_totals(*pool);
  EXPECT_EQ(t.frames_rejected, 1u);
  EXPECT_GT(t.failed, 0u);
  EXPECT_EQ(t.processed + t.failed, 100u);
  if (pool->rank() == 1) {
    const ClusterStats c = pool->cluster_stats();
    EXPECT_EQ(c.rejected_by_reason[static_cast<std::size_t>(FrameError::checksum_mismatch)], 1u);
    EXPECT_EQ(c.lost_in_rejected_frames, t.failed);
  }
}

TEST(ClusterPoolOnSeveralRanks, RefusesOptionsThatDifferBetweenRanks) {
  g_tally.reset();
  ClusterOptions o;
  o.credit_frames = 4 + static_cast<std::size_t>(g_cluster->rank());
  auto pool = Pool::create(*g_cluster, PoolConfig(), o);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kFailedPrecondition) << pool.status();
}

struct Big {
  std::array<std::byte, 512> bytes{};
};
struct BigSink : Worker<int, Big> {
  void handle_message(int&, Envelope<Big>) {}
};

TEST(ClusterPoolOnSeveralRanks, AMessageOverTheSizeLimitIsRefusedAsInvalidAndStaysWithTheCaller) {
  ClusterOptions o;
  o.limits.max_frame_bytes = 1024;
  o.limits.max_message_bytes = 256;
  EXPECT_TRUE(g_cluster->barrier().ok());
  auto pool = ClusterPool<BigSink>::create(*g_cluster, PoolConfig(), o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::uint64_t key = 0;
  while ((*pool)->is_local(key)) ++key;
  Big big;
  big.bytes[0] = std::byte{7};
  EXPECT_EQ((*pool)->send(key, std::move(big)), SendResult::invalid);
  EXPECT_EQ(big.bytes[0], std::byte{7});
  EXPECT_EQ((*pool)->cluster_stats().too_large, 1u);
  EXPECT_TRUE((*pool)->shutdown().ok());
}

}  // namespace
}  // namespace sn::test

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  auto cluster = sn::Cluster::create();
  if (!cluster.ok()) {
    std::fprintf(stderr, "sn::Cluster::create: %s\n", std::string(cluster.status().message()).c_str());
    return 1;
  }
  sn::test::g_cluster = std::move(*cluster);
  const int result = RUN_ALL_TESTS();
  sn::test::g_cluster.reset();  // MPI_Finalize, on every rank
  return result;
}
