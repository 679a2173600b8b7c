// The cluster's owner rule: every rank computes the same owner from the key alone, the
// ranks share keys evenly, and within each rank its partitioner still spreads them evenly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sn/cluster/owner.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/key.h"

namespace sn::test {
namespace {

constexpr std::size_t kKeys = 200'000;

TEST(OwnerRank, IsAPureFunctionSoEveryRankComputesTheSameOwner) {
  // The same owner whatever computes it: at compile time (as another process would,
  // with no shared state), and at run time, for integer and string keys alike.
  static_assert(owner_rank(12345, 3) == owner_rank(12345, 3));
  constexpr int at_compile_time = owner_rank(987654321, 7);
  EXPECT_EQ(owner_rank(987654321, 7), at_compile_time);
  EXPECT_EQ(owner_rank_of(std::string("user-17"), 5), owner_rank(stable_hash_bytes("user-17"), 5));
  EXPECT_EQ(owner_rank_of(std::uint64_t{17}, 5), owner_rank(17, 5));
}

TEST(OwnerRank, IsPinnedSoThatABuildThatChangesTheRuleFailsHere) {
  // Ranks of different builds must agree: these values are the rule, and changing them
  // changes the wire contract (bump kWireVersion).
  const std::vector<std::vector<int>> expected{
      {1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1},  // 2 ranks, keys 0..11
      {1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 2, 2},  // 3 ranks
      {1, 1, 3, 0, 4, 0, 0, 3, 1, 0, 2, 3},  // 5 ranks
  };
  const int ranks[] = {2, 3, 5};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    std::vector<int> got;
    for (std::uint64_t k = 0; k < 12; ++k) got.push_back(owner_rank(k, ranks[i]));
    EXPECT_EQ(got, expected[i]) << ranks[i] << " ranks";
  }
}

TEST(OwnerRank, OneRankOwnsEverything) {
  for (std::uint64_t k = 0; k < 1000; ++k) EXPECT_EQ(owner_rank(k, 1), 0);
}

TEST(OwnerRank, SpreadsKeysEvenlyOverTheRanks) {
  for (int ranks : {2, 3, 5, 8}) {
    std::vector<std::size_t> count(static_cast<std::size_t>(ranks));
    for (std::uint64_t k = 0; k < kKeys; ++k) ++count[static_cast<std::size_t>(owner_rank(k, ranks))];
    const double fair = static_cast<double>(kKeys) / ranks;
    for (int r = 0; r < ranks; ++r) {
      EXPECT_NEAR(static_cast<double>(count[static_cast<std::size_t>(r)]), fair, 0.03 * fair)
          << "rank " << r << " of " << ranks;
    }
  }
}

TEST(OwnerRank, LeavesTheLocalPartitionerAnEvenSpreadWithinEachRank) {
  // The rank and the worker come from the same routing value; the salt keeps them
  // independent, so each rank's keys still cover its workers evenly.
  constexpr int kRanks = 3;
  constexpr std::size_t kWorkers = 4;
  std::vector<std::size_t> count(kRanks * kWorkers);
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    const auto rank = static_cast<std::size_t>(owner_rank(k, kRanks));
    ++count[rank * kWorkers + HashPartitioner{}(k, kWorkers)];
  }
  const double fair = static_cast<double>(kKeys) / (kRanks * kWorkers);
  for (std::size_t i = 0; i < count.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(count[i]), fair, 0.05 * fair)
        << "rank " << i / kWorkers << " worker " << i % kWorkers;
  }
}

TEST(OwnerRank, GrowingTheClusterMovesKeysOnlyToTheNewRank) {
  for (int ranks = 1; ranks < 6; ++ranks) {
    std::size_t moved = 0;
    for (std::uint64_t k = 0; k < 20'000; ++k) {
      const int before = owner_rank(k, ranks);
      const int after = owner_rank(k, ranks + 1);
      if (before != after) {
        EXPECT_EQ(after, ranks) << "key " << k;
        ++moved;
      }
    }
    EXPECT_NEAR(static_cast<double>(moved), 20'000.0 / (ranks + 1), 0.05 * 20'000.0 / (ranks + 1));
  }
}

}  // namespace
}  // namespace sn::test
