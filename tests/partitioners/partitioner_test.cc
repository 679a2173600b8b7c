// The partitioners: stable mappings, balance, movement on growth, and no key affinity
// for round robin.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/jump.h"
#include "sn/partitioners/key.h"
#include "sn/partitioners/round_robin.h"

namespace sn::test {
namespace {

constexpr std::size_t kBalanceKeys = 1'000'000;

std::vector<std::uint64_t> random_keys(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> keys(n);
  for (auto& k : keys) k = rng();
  return keys;
}

template <class P>
double highest_over_mean(const P& p, const std::vector<std::uint64_t>& keys, std::size_t workers) {
  std::vector<std::size_t> load(workers, 0);
  for (std::uint64_t k : keys) ++load[p(k, workers)];
  const double mean = static_cast<double>(keys.size()) / static_cast<double>(workers);
  return static_cast<double>(*std::max_element(load.begin(), load.end())) / mean;
}

// Golden values: these pin the mapping. If one changes, every deployed pool would route
// its keys differently after an upgrade; that must be a deliberate, announced change.
struct Golden {
  std::uint64_t key;
  std::size_t hash_of_8;
  std::size_t hash_of_1000;
  std::size_t jump_of_8;
};
constexpr std::array<Golden, 6> kGolden{{
    {0ull, 0, 0, 0},
    {1ull, 5, 704, 3},
    {42ull, 4, 504, 0},
    {3735928559ull, 6, 821, 6},
    {1099511627776ull, 7, 906, 2},
    {18446744073709551615ull, 3, 393, 7},
}};

TEST(HashPartitioner, MapsKeysToTheSameWorkersOnEveryMachine) {
  for (const Golden& g : kGolden) {
    EXPECT_EQ(HashPartitioner{}(g.key, 8), g.hash_of_8) << g.key;
    EXPECT_EQ(HashPartitioner{}(g.key, 1000), g.hash_of_1000) << g.key;
  }
}

TEST(JumpHashPartitioner, MapsKeysToTheSameWorkersOnEveryMachine) {
  for (const Golden& g : kGolden) EXPECT_EQ(JumpHashPartitioner{}(g.key, 8), g.jump_of_8) << g.key;
}

TEST(StableHash, HashesBytesAsMurmurHash64AReadLittleEndian) {
  // Reference values computed with an independent implementation of MurmurHash64A.
  EXPECT_EQ(stable_hash_bytes(std::string_view("")), 0u);
  EXPECT_EQ(stable_hash_bytes(std::string_view("hello")), 2191231550387646743ull);
  EXPECT_EQ(stable_hash_bytes(std::string_view("the quick brown fox")), 9881903597422184562ull);
}

struct Account {
  std::uint64_t id;
};
std::uint64_t sn_stable_key(const Account& a) { return a.id * 3; }

TEST(RoutingKey, TakesIntegersStringsBytesAndUserTypes) {
  EXPECT_EQ(routing_key(7), 7u);
  EXPECT_EQ(routing_key(std::string("hello")), stable_hash_bytes(std::string_view("hello")));
  EXPECT_EQ(routing_key(std::string_view("hello")), stable_hash_bytes(std::string_view("hello")));
  const std::vector<unsigned char> bytes{'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(routing_key(std::span<const unsigned char>(bytes)), stable_hash_bytes(std::string_view("hello")));
  EXPECT_EQ(routing_key(Account{5}), 15u);
}

TEST(HashPartitioner, SpreadsAMillionRandomKeysOverEightWorkersWithinFivePercent) {
  EXPECT_LE(highest_over_mean(HashPartitioner{}, random_keys(kBalanceKeys, 1), 8), 1.05);
}

TEST(HashPartitioner, SpreadsSequentialKeysEvenly) {
  std::vector<std::uint64_t> keys(kBalanceKeys);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  EXPECT_LE(highest_over_mean(HashPartitioner{}, keys, 8), 1.05);
}

TEST(JumpHashPartitioner, SpreadsAMillionRandomKeysOverEightWorkersWithinFivePercent) {
  EXPECT_LE(highest_over_mean(JumpHashPartitioner{}, random_keys(kBalanceKeys, 2), 8), 1.05);
}

TEST(JumpHashPartitioner, GrowingMovesOnlyKeysForTheNewWorkerAndAboutTheirShare) {
  const std::vector<std::uint64_t> keys = random_keys(kBalanceKeys, 3);
  for (std::size_t n : {1u, 2u, 7u, 8u, 31u}) {
    std::size_t moved = 0;
    for (std::uint64_t k : keys) {
      const std::size_t before = JumpHashPartitioner{}(k, n);
      const std::size_t after = JumpHashPartitioner{}(k, n + 1);
      if (before != after) {
        ++moved;
        ASSERT_EQ(after, n) << "a key moved between two workers that both survive";
      }
    }
    EXPECT_LE(static_cast<double>(moved) / static_cast<double>(keys.size()), 1.2 / static_cast<double>(n + 1)) << n;
  }
}

TEST(Partitioners, AlwaysReturnAnIndexBelowTheWorkerCount) {
  for (std::uint64_t k : random_keys(10'000, 4)) {
    for (std::size_t n : {1u, 2u, 3u, 64u, 1000u}) {
      ASSERT_LT(HashPartitioner{}(k, n), n);
      ASSERT_LT(JumpHashPartitioner{}(k, n), n);
      ASSERT_LT(RoundRobinPartitioner{}(k, n), n);
    }
  }
}

TEST(RoundRobinPartitioner, EachProducerThreadVisitsEveryWorkerInTurnWhateverTheKey) {
  auto visits = [] {
    std::vector<std::size_t> seen;
    for (int i = 0; i < 12; ++i) seen.push_back(RoundRobinPartitioner{}(42, 4));  // same key every time
    return seen;
  };
  std::vector<std::size_t> a, b;
  std::thread ta([&] { a = visits(); });
  std::thread tb([&] { b = visits(); });
  ta.join();
  tb.join();
  for (const auto* seen : {&a, &b}) {
    std::array<int, 4> per_worker{};
    for (std::size_t w : *seen) ++per_worker[w];
    EXPECT_EQ(per_worker, (std::array<int, 4>{3, 3, 3, 3}));
    for (std::size_t i = 1; i < seen->size(); ++i) EXPECT_EQ((*seen)[i], ((*seen)[i - 1] + 1) % 4);
  }
}

}  // namespace
}  // namespace sn::test

namespace sn::test {
namespace {

const std::vector<std::uint32_t> kConsistentGolden{1, 2, 0, 4, 0};

TEST(ConsistentHashPartitioner, SpreadsAMillionRandomKeysOverEightWorkersWithinFifteenPercent) {
  EXPECT_LE(highest_over_mean(ConsistentHashPartitioner(8), random_keys(kBalanceKeys, 5), 8), 1.15);
}

TEST(ConsistentHashPartitioner, AddingAWorkerMovesKeysOnlyToItAndAboutItsShare) {
  const std::vector<std::uint64_t> keys = random_keys(kBalanceKeys, 6);
  for (std::size_t n : {1u, 3u, 8u, 16u}) {
    ConsistentHashPartitioner before(n);
    ConsistentHashPartitioner after(n);
    ASSERT_TRUE(after.add_worker(static_cast<ConsistentHashPartitioner::WorkerId>(n)).ok());
    std::size_t moved = 0;
    for (std::uint64_t k : keys) {
      const auto from = before.owner(k);
      const auto to = after.owner(k);
      if (from != to) {
        ++moved;
        ASSERT_EQ(to, n) << "a key moved between two workers that both survive";
      }
    }
    EXPECT_LE(static_cast<double>(moved) / static_cast<double>(keys.size()), 1.2 / static_cast<double>(n + 1)) << n;
  }
}

TEST(ConsistentHashPartitioner, RemovingAWorkerInTheMiddleMovesOnlyItsKeys) {
  const std::vector<std::uint64_t> keys = random_keys(200'000, 7);
  ConsistentHashPartitioner before(6);
  ConsistentHashPartitioner after(6);
  ASSERT_TRUE(after.remove_worker(2).ok());
  for (std::uint64_t k : keys) {
    if (before.owner(k) != 2) {
      ASSERT_EQ(after.owner(k), before.owner(k));
    }
    ASSERT_NE(after.owner(k), 2u);
  }
  EXPECT_EQ(after.workers(), (std::vector<ConsistentHashPartitioner::WorkerId>{0, 1, 3, 4, 5}));
  EXPECT_LT(after(keys[0], after.size()), after.size());
}

TEST(ConsistentHashPartitioner, RefusesDuplicateMissingAndLastWorkers) {
  ConsistentHashPartitioner p(2);
  EXPECT_EQ(p.add_worker(1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(p.remove_worker(9).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(p.remove_worker(0).ok());
  EXPECT_EQ(p.remove_worker(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.size(), 1u);
}

TEST(ConsistentHashPartitioner, BuildsTheSameRingEverywhere) {
  // Golden owners: the ring depends only on worker ids and virtual nodes.
  const ConsistentHashPartitioner p(8);
  std::vector<std::uint32_t> owners;
  for (std::uint64_t k : {0ull, 1ull, 42ull, 3735928559ull, 1ull << 40}) owners.push_back(p.owner(k));
  EXPECT_EQ(owners, kConsistentGolden);
}

}  // namespace
}  // namespace sn::test
