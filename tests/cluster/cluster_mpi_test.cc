// sn::Cluster under mpirun (ctest label `mpi`): every rank runs these tests on one Cluster.
//   mpirun -np N cluster_mpi_tests --expect-ranks=N
// Every rank prints its own report (interleaved); a failing rank exits non-zero, and
// mpirun passes that on.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sn/cluster/cluster.h"

namespace sn::test {
namespace {

std::unique_ptr<Cluster> g_cluster;  // created in main, before the tests; destroyed after
int g_expected_ranks = 0;

TEST(ClusterOnSeveralRanks, KnowsItsRankAndTheNumberOfRanks) {
  ASSERT_NE(g_cluster, nullptr);
  EXPECT_EQ(g_cluster->size(), g_expected_ranks);
  EXPECT_GE(g_cluster->rank(), 0);
  EXPECT_LT(g_cluster->rank(), g_cluster->size());
  EXPECT_NE(g_cluster->library_version(), "");
}

TEST(ClusterOnSeveralRanks, GathersOneValueFromEveryRankInRankOrder) {
  auto all = g_cluster->all_gather(static_cast<std::uint64_t>(g_cluster->rank()) * 10 + 1);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<std::size_t>(g_cluster->size()));
  for (std::size_t r = 0; r < all->size(); ++r) EXPECT_EQ((*all)[r], r * 10 + 1);
}

TEST(ClusterOnSeveralRanks, SendsOneByteAroundTheRingAndBack) {
  const int n = g_cluster->size();
  const int me = g_cluster->rank();
  const int next = (me + 1) % n;
  const int prev = (me + n - 1) % n;
  // Out: my rank to the next; in: the previous rank's.
  std::byte out{static_cast<unsigned char>(0x40 + me)};
  std::byte in{0};
  auto got = g_cluster->send_receive(next, std::span(&out, 1), prev, std::span(&in, 1));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 1u);
  EXPECT_EQ(in, std::byte{static_cast<unsigned char>(0x40 + prev)});
  // Back: each rank returns what it received, plus one, to where it came from.
  std::byte reply{static_cast<unsigned char>(static_cast<unsigned char>(in) + 1)};
  std::byte echoed{0};
  got = g_cluster->send_receive(prev, std::span(&reply, 1), next, std::span(&echoed, 1));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(echoed, std::byte{static_cast<unsigned char>(0x40 + me + 1)});
}

TEST(ClusterOnSeveralRanks, RefusesAPeerThatDoesNotExist) {
  std::byte b{0};
  EXPECT_EQ(g_cluster->send_receive(g_cluster->size(), std::span(&b, 1), 0, std::span(&b, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClusterOnSeveralRanks, RefusesASecondClusterInTheSameProcess) {
  auto second = Cluster::create();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ClusterOnSeveralRanks, MeetsEveryRankAtABarrier) { EXPECT_TRUE(g_cluster->barrier().ok()); }

}  // namespace
}  // namespace sn::test

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    constexpr std::string_view kFlag = "--expect-ranks=";
    if (std::string_view(argv[i]).starts_with(kFlag)) sn::test::g_expected_ranks = std::atoi(argv[i] + kFlag.size());
  }
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
