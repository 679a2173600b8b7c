// The partitioners: stable mappings, balance, movement on growth, and no key affinity
// for round robin; the resizable ones (consistent hash, rendezvous) through
// ResizablePartitioner too.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/jump.h"
#include "sn/partitioners/key.h"
#include "sn/partitioners/rendezvous.h"
#include "sn/partitioners/resizable.h"
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

namespace sn::test {
namespace {

/// The busiest worker's load over the idlest's, for `workers` workers.
template <class P>
double busiest_over_idlest(const P& p, const std::vector<std::uint64_t>& keys, std::size_t workers) {
  std::vector<std::size_t> load(workers, 0);
  for (std::uint64_t k : keys) ++load[p(k, workers)];
  const auto [least, most] = std::minmax_element(load.begin(), load.end());
  return *least == 0 ? std::numeric_limits<double>::infinity()
                     : static_cast<double>(*most) / static_cast<double>(*least);
}

TEST(ConsistentHashPartitioner, LoadsItsBusiestOfEightWorkersAtMostThirtyPercentAboveItsIdlest) {
  // The ring's points are fixed, so its imbalance is too: about 1.2 over any key sample.
  EXPECT_LE(busiest_over_idlest(ConsistentHashPartitioner(8), random_keys(100'000, 8), 8), 1.3);
}

// Golden owners, from an independent implementation of the weight that rendezvous.h
// documents: stable_hash(stable_hash(key) ^ stable_hash((id + 1) * 0x9e3779b97f4a7c15)),
// the heaviest worker winning. They pin the mapping as kGolden does for the others.
constexpr std::array<std::uint64_t, 6> kRendezvousGoldenKeys{0ull,          1ull,       42ull,
                                                             3735928559ull, 1ull << 40, 18446744073709551615ull};

TEST(RendezvousPartitioner, MapsKeysToTheSameWorkersOnEveryMachine) {
  const RendezvousPartitioner eight(8);
  const RendezvousPartitioner thousand(1000);
  RendezvousPartitioner sparse(0);
  for (RendezvousPartitioner::WorkerId id : {3u, 17u, 40u, RendezvousPartitioner::kIdLimit - 1}) {
    ASSERT_TRUE(sparse.add_worker(id).ok());
  }
  std::vector<std::uint32_t> of_eight, of_thousand, of_sparse;
  for (std::uint64_t k : kRendezvousGoldenKeys) {
    of_eight.push_back(eight.owner(k));
    of_thousand.push_back(thousand.owner(k));
    of_sparse.push_back(sparse.owner(k));
  }
  EXPECT_EQ(of_eight, (std::vector<std::uint32_t>{7, 7, 0, 3, 7, 6}));
  EXPECT_EQ(of_thousand, (std::vector<std::uint32_t>{445, 907, 732, 374, 300, 403}));
  EXPECT_EQ(of_sparse, (std::vector<std::uint32_t>{17, 3, 40, 3, 40, 17}));
}

TEST(RendezvousPartitioner, SpreadsAMillionRandomKeysOverEightWorkersWithinFivePercent) {
  EXPECT_LE(highest_over_mean(RendezvousPartitioner(8), random_keys(kBalanceKeys, 5), 8), 1.05);
}

TEST(RendezvousPartitioner, SpreadsSequentialKeysEvenly) {
  std::vector<std::uint64_t> keys(kBalanceKeys);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  EXPECT_LE(highest_over_mean(RendezvousPartitioner(8), keys, 8), 1.05);
}

TEST(RendezvousPartitioner, LoadsItsBusiestOfEightWorkersAtMostFivePercentAboveItsIdlest) {
  // 12,500 keys a worker: one standard deviation is under 1%.
  EXPECT_LE(busiest_over_idlest(RendezvousPartitioner(8), random_keys(100'000, 8), 8), 1.05);
}

TEST(RendezvousPartitioner, AddingAWorkerMovesKeysOnlyToTheNewWorkerAndAboutItsShare) {
  const std::vector<std::uint64_t> keys = random_keys(kBalanceKeys, 6);
  for (std::size_t n : {1u, 3u, 8u, 16u}) {
    const RendezvousPartitioner before(n);
    RendezvousPartitioner after(n);
    ASSERT_TRUE(after.add_worker(static_cast<RendezvousPartitioner::WorkerId>(n)).ok());
    std::size_t moved = 0;
    for (std::uint64_t k : keys) {
      const auto from = before.owner(k);
      const auto to = after.owner(k);
      if (from != to) {
        ++moved;
        ASSERT_EQ(to, n) << "a key moved between two workers that both survive";
      }
    }
    const double share = static_cast<double>(moved) / static_cast<double>(keys.size());
    EXPECT_LE(share, 1.05 / static_cast<double>(n + 1)) << n;
    EXPECT_GE(share, 0.95 / static_cast<double>(n + 1)) << n;
  }
}

TEST(RendezvousPartitioner, RemovingAWorkerInTheMiddleMovesOnlyItsKeys) {
  const std::vector<std::uint64_t> keys = random_keys(200'000, 7);
  const RendezvousPartitioner before(6);
  RendezvousPartitioner after(6);
  ASSERT_TRUE(after.remove_worker(2).ok());
  for (std::uint64_t k : keys) {
    if (before.owner(k) != 2) {
      ASSERT_EQ(after.owner(k), before.owner(k));
    }
    ASSERT_NE(after.owner(k), 2u);
  }
  EXPECT_EQ(after.workers(), (std::vector<RendezvousPartitioner::WorkerId>{0, 1, 3, 4, 5}));
}

TEST(RendezvousPartitioner, RefusesDuplicateMissingTooLargeAndLastWorkers) {
  RendezvousPartitioner p(2);
  EXPECT_EQ(p.add_worker(1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(p.add_worker(RendezvousPartitioner::kIdLimit).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.add_worker(~RendezvousPartitioner::WorkerId{0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.remove_worker(9).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(p.add_worker(RendezvousPartitioner::kIdLimit - 1).ok());
  ASSERT_TRUE(p.remove_worker(0).ok());
  ASSERT_TRUE(p.remove_worker(RendezvousPartitioner::kIdLimit - 1).ok());
  EXPECT_EQ(p.remove_worker(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.workers(), (std::vector<RendezvousPartitioner::WorkerId>{1}));
}

TEST(RendezvousPartitioner, WithoutWorkersAnswersZeroUntilOneIsAdded) {
  RendezvousPartitioner p(0);
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.owner(42), 0u);
  ASSERT_TRUE(p.add_worker(5).ok());
  EXPECT_EQ(p.owner(42), 5u);
  EXPECT_EQ(p(42, p.size()), 0u);
}

TEST(RendezvousPartitioner, ReturnsTheOwnersPositionAmongItsWorkersAsAPartitioner) {
  RendezvousPartitioner p(0);
  for (RendezvousPartitioner::WorkerId id : {40u, 2u, 17u, 9u}) ASSERT_TRUE(p.add_worker(id).ok());
  ASSERT_EQ(p.workers(), (std::vector<RendezvousPartitioner::WorkerId>{2, 9, 17, 40}));
  for (std::uint64_t k : random_keys(10'000, 9)) {
    const std::size_t position = p(k, p.size());
    ASSERT_LT(position, p.size());
    ASSERT_EQ(p.workers()[position], p.owner(k));
  }
}

TEST(ResizablePartitioner, HoldsForBothResizablePartitionersAndNoOther) {
  static_assert(ResizablePartitioner<ConsistentHashPartitioner>);
  static_assert(ResizablePartitioner<RendezvousPartitioner>);
  static_assert(!ResizablePartitioner<HashPartitioner>);
  static_assert(!ResizablePartitioner<JumpHashPartitioner>);
  static_assert(!ResizablePartitioner<RoundRobinPartitioner>);
}

// ---------------------------------------------------------------- through the concept

/// Both resizable partitioners, through ResizablePartitioner alone (and their
/// constructor from a worker count).
template <class P>
class AResizablePartitioner : public ::testing::Test {};

struct ResizableNames {
  template <class P>
  static std::string GetName(int /*index*/) {
    return std::is_same_v<P, ConsistentHashPartitioner> ? "ConsistentHash" : "Rendezvous";
  }
};
using ResizableTypes = ::testing::Types<ConsistentHashPartitioner, RendezvousPartitioner>;
TYPED_TEST_SUITE(AResizablePartitioner, ResizableTypes, ResizableNames);

/// The partitioner with exactly `ids`, added in the given order.
template <class P>
P with_workers(const std::vector<std::size_t>& ids) {
  P p(0);
  for (std::size_t id : ids) {
    absl::StatusOr<P> next = p.with_worker(id);
    EXPECT_TRUE(next.ok()) << next.status();
    if (next.ok()) p = *std::move(next);
  }
  return p;
}

/// The owner of each key.
template <class P>
std::vector<std::size_t> owners(const P& p, const std::vector<std::uint64_t>& keys) {
  std::vector<std::size_t> out;
  out.reserve(keys.size());
  for (std::uint64_t k : keys) out.push_back(p.owner(k));
  return out;
}

TYPED_TEST(AResizablePartitioner, WithWorkerReturnsACopyWithTheWorkerAndLeavesTheOriginalAlone) {
  const TypeParam three(3);
  const std::vector<std::uint64_t> keys = random_keys(20'000, 10);
  const std::vector<std::size_t> before = owners(three, keys);
  const absl::StatusOr<TypeParam> four = three.with_worker(7);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(four->size(), 4u);
  EXPECT_TRUE(four->contains(7));
  EXPECT_FALSE(three.contains(7));
  EXPECT_EQ(three.size(), 3u);
  EXPECT_EQ(owners(three, keys), before);
  const std::vector<std::size_t> after = owners(*four, keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(after[i] == before[i] || after[i] == 7) << "a key moved between two workers that both survive";
  }
}

TYPED_TEST(AResizablePartitioner, WithoutWorkerReturnsACopyWithoutTheWorkerAndLeavesTheOriginalAlone) {
  const TypeParam four(4);
  const std::vector<std::uint64_t> keys = random_keys(20'000, 11);
  const std::vector<std::size_t> before = owners(four, keys);
  const absl::StatusOr<TypeParam> three = four.without_worker(1);
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->size(), 3u);
  EXPECT_FALSE(three->contains(1));
  EXPECT_TRUE(four.contains(1));
  EXPECT_EQ(owners(four, keys), before);
  const std::vector<std::size_t> after = owners(*three, keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_NE(after[i], 1u);
    if (before[i] != 1) {
      ASSERT_EQ(after[i], before[i]) << "a key of a surviving worker moved";
    }
  }
}

TYPED_TEST(AResizablePartitioner, RefusesWithTheDocumentedCodesAndChangesNothing) {
  const TypeParam two(2);
  EXPECT_EQ(two.with_worker(1).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(two.without_worker(5).status().code(), absl::StatusCode::kNotFound);
  const std::size_t too_large = std::size_t{1} << 31;
  // 2^32 would be worker 0 if the id were narrowed to 32 bits.
  for (std::size_t id : {too_large, std::size_t{1} << 32, std::numeric_limits<std::size_t>::max()}) {
    EXPECT_EQ(two.with_worker(id).status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(two.without_worker(id).status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_FALSE(two.contains(id)) << id;
  }
  const absl::StatusOr<TypeParam> one = two.without_worker(0);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->without_worker(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(two.size(), 2u);
  EXPECT_TRUE(two.contains(0) && two.contains(1));
}

TYPED_TEST(AResizablePartitioner, TakesTheLargestIdItDocuments) {
  const std::size_t largest = (std::size_t{1} << 31) - 1;
  const absl::StatusOr<TypeParam> p = TypeParam(1).with_worker(largest);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->contains(largest));
  std::set<std::size_t> seen;
  for (std::uint64_t k : random_keys(1'000, 12)) seen.insert(p->owner(k));
  EXPECT_EQ(seen, (std::set<std::size_t>{0, largest}));
}

TYPED_TEST(AResizablePartitioner, TwoInstancesBuiltInDifferentOrdersAgreeOnEveryKey) {
  const std::vector<std::size_t> ids{0, 1, 2, 3, 4, 5, 6, 7};
  const TypeParam forward = with_workers<TypeParam>(ids);
  const TypeParam backward = with_workers<TypeParam>({7, 6, 5, 4, 3, 2, 1, 0});
  // A detour: a worker that came and went leaves no trace.
  const absl::StatusOr<TypeParam> detour = with_workers<TypeParam>({3, 9, 0, 5, 1, 7, 2, 6, 4}).without_worker(9);
  ASSERT_TRUE(detour.ok()) << detour.status();
  const std::vector<std::uint64_t> keys = random_keys(100'000, 13);
  const std::vector<std::size_t> expected = owners(TypeParam(8), keys);
  EXPECT_EQ(owners(forward, keys), expected);
  EXPECT_EQ(owners(backward, keys), expected);
  EXPECT_EQ(owners(*detour, keys), expected);
}

TYPED_TEST(AResizablePartitioner, NoKeyEverMovesBetweenTwoWorkersThatStayThroughAnySeriesOfResizes) {
  std::mt19937_64 rng(14);
  const std::vector<std::uint64_t> keys = random_keys(20'000, 15);
  TypeParam p(4);
  std::vector<std::size_t> before = owners(p, keys);
  for (int step = 0; step < 40; ++step) {
    const std::size_t id = rng() % 12;
    const bool adding = !p.contains(id);
    absl::StatusOr<TypeParam> next = adding ? p.with_worker(id) : p.without_worker(id);
    if (!next.ok()) {
      ASSERT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);  // the last worker
      continue;
    }
    p = *std::move(next);
    const std::vector<std::size_t> after = owners(p, keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE(p.contains(after[i]));
      if (adding) {
        ASSERT_TRUE(after[i] == before[i] || after[i] == id) << "step " << step;
      } else if (before[i] != id) {
        ASSERT_EQ(after[i], before[i]) << "step " << step;
      }
    }
    before = after;
  }
}

}  // namespace
}  // namespace sn::test
