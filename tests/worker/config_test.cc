// PoolConfig checks: create() refuses every bad setting before it starts a thread, with
// a code that says what kind of problem it is and a message that names the field.
// Only failing configurations go through create() here (no thread starts); the ones
// that succeed are checked with resolve(), so that this file stays single-threaded.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/pool/config.h"
#include "sn/topology/affinity.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Idle : Worker<int, std::uint64_t> {
  void handle_message(int&, Envelope<std::uint64_t>) {}
};

/// create() fails with `code` and a message that mentions `field`.
::testing::AssertionResult refused(const PoolConfig& config, absl::StatusCode code, absl::string_view field) {
  absl::StatusOr<std::unique_ptr<WorkerPool<Idle>>> pool = WorkerPool<Idle>::create(config);
  if (pool.ok()) return ::testing::AssertionFailure() << "create() accepted the configuration";
  return has_code_and_mentions(pool.status(), code, field);
}

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kPrecondition = absl::StatusCode::kFailedPrecondition;

TEST(PoolConfig, ZeroWorkersIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_num_workers(0), kInvalid, "num_workers"));
}

TEST(PoolConfig, MoreWorkersThanTheMeshAllowsIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_num_workers(1u << 20), kInvalid, "num_workers"));
}

TEST(PoolConfig, MaxWorkersBelowNumWorkersIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_num_workers(3).with_max_workers(2), kInvalid, "max_workers"));
}

TEST(PoolConfig, MoreSlotsThanTheMeshAllowsIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_max_workers(1u << 20), kInvalid, "max_workers"));
}

TEST(PoolConfig, SpareSlotsWithoutAConsistentHashPartitionerAreAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_num_workers(2).with_max_workers(4), kInvalid, "ConsistentHashPartitioner"));
}

TEST(PoolConfig, ZeroQueueCapacityIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_queue_capacity(0), kInvalid, "queue_capacity"));
}

TEST(PoolConfig, AQueueCapacityBeyondTheChannelMaximumIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_queue_capacity(std::size_t{1} << 40), kInvalid, "queue_capacity"));
}

TEST(PoolConfig, ZeroMeshCapacityIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_num_workers(2).with_mesh_capacity(0), kInvalid, "mesh_capacity"));
}

TEST(PoolConfig, ZeroBatchSizeIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_batch_size(0), kInvalid, "batch_size"));
}

TEST(PoolConfig, ZeroQueueCapacityForOneWorkerIsAnInvalidArgumentNamingThatWorker) {
  const PoolConfig config = PoolConfig().with_num_workers(3).with_worker(1, WorkerConfig().with_queue_capacity(0));
  EXPECT_TRUE(refused(config, kInvalid, "worker 1 queue_capacity"));
}

TEST(PoolConfig, ZeroBatchSizeForOneWorkerIsAnInvalidArgumentNamingThatWorker) {
  const PoolConfig config = PoolConfig().with_num_workers(3).with_worker(2, WorkerConfig().with_batch_size(0));
  EXPECT_TRUE(refused(config, kInvalid, "worker 2 batch_size"));
}

TEST(PoolConfig, SettingsForAWorkerBeyondThePoolAreAnInvalidArgument) {
  const PoolConfig config = PoolConfig().with_num_workers(2).with_worker(2, WorkerConfig().with_batch_size(8));
  EXPECT_TRUE(refused(config, kInvalid, "worker 2"));
}

TEST(PoolConfig, ACpuForAWorkerWithoutCpuAffinityIsAnInvalidArgument) {
  const PoolConfig config = PoolConfig().with_num_workers(2).with_worker(0, WorkerConfig().with_cpu(0));
  EXPECT_TRUE(refused(config, kInvalid, "cpu_affinity"));
}

TEST(PoolConfig, AZeroIdleTickIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_idle_tick(absl::ZeroDuration()), kInvalid, "idle_tick"));
}

TEST(PoolConfig, ANegativeIdleTickIsAnInvalidArgument) {
  EXPECT_TRUE(refused(PoolConfig().with_idle_tick(absl::Milliseconds(-1)), kInvalid, "idle_tick"));
}

TEST(PoolConfig, ACpuOutsideTheProcessMaskIsAnInvalidArgument) {
  const PoolConfig config = PoolConfig().with_cpu_affinity(true).with_worker(0, WorkerConfig().with_cpu(1 << 20));
  EXPECT_TRUE(refused(config, kInvalid, "CPU"));
}

TEST(PoolConfig, MorePinnedWorkersThanPhysicalCoresIsAFailedPrecondition) {
  const std::size_t cores = physical_core_cpus().size();
  ASSERT_GT(cores, 0u);
  const PoolConfig config = PoolConfig().with_num_workers(cores + 1).with_cpu_affinity(true);
  EXPECT_TRUE(refused(config, kPrecondition, "with_oversubscription(true)"));
  EXPECT_TRUE(refused(config, kPrecondition, absl::StrCat("pin at most ", cores, " workers")));
}

TEST(PoolConfig, TheSameCpuForTwoWorkersIsAFailedPreconditionWithoutOversubscription) {
  const int cpu = allowed_cpus().front();
  const PoolConfig config = PoolConfig()
                                .with_num_workers(2)
                                .with_cpu_affinity(true)
                                .with_worker(0, WorkerConfig().with_cpu(cpu))
                                .with_worker(1, WorkerConfig().with_cpu(cpu));
  EXPECT_TRUE(refused(config, kPrecondition, "with_oversubscription(true)"));
  EXPECT_TRUE(refused(config, kPrecondition, absl::StrCat("may use ", allowed_cpus().size(), " CPUs")));
}

TEST(PoolConfig, MorePinnedWorkersThanCoresResolveWithOversubscription) {
  const std::vector<int> cores = physical_core_cpus();
  const std::vector<int> allowed = allowed_cpus();
  const std::size_t n = cores.size() + 1;
  absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolved =
      resolve(PoolConfig().with_num_workers(n).with_cpu_affinity(true).with_oversubscription(true));
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_EQ(resolved->size(), n);
  // The first workers take one physical core each, in topology order; the rest share.
  for (std::size_t i = 0; i < cores.size(); ++i) EXPECT_EQ((*resolved)[i].cpu, cores[i]) << "worker " << i;
  for (const ResolvedWorkerConfig& r : *resolved) {
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), r.cpu), allowed.end()) << r.name << " on CPU " << r.cpu;
  }
}

TEST(PoolConfig, AsManyPinnedWorkersAsCoresResolveToDistinctCores) {
  const std::vector<int> cores = physical_core_cpus();
  absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolved =
      resolve(PoolConfig().with_num_workers(cores.size()).with_cpu_affinity(true));
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  std::vector<int> cpus;
  for (const ResolvedWorkerConfig& r : *resolved) cpus.push_back(r.cpu);
  std::vector<int> expected = cores;
  std::sort(cpus.begin(), cpus.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(cpus, expected);
}

TEST(PoolConfig, WorkersTakeThePoolSettingsUnlessTheirOwnOverrideThem) {
  const PoolConfig config =
      PoolConfig().with_num_workers(3).with_queue_capacity(32).with_batch_size(7).with_name("pool").with_worker(
          1, WorkerConfig().with_queue_capacity(8).with_batch_size(2).with_name("special"));
  absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolved = resolve(config);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_EQ(resolved->size(), 3u);
  const std::vector<ResolvedWorkerConfig>& r = *resolved;
  EXPECT_EQ(r[0].queue_capacity, 32u);
  EXPECT_EQ(r[0].batch_size, 7u);
  EXPECT_EQ(r[0].name, "pool-0");
  EXPECT_EQ(r[0].cpu, -1);
  EXPECT_EQ(r[1].queue_capacity, 8u);
  EXPECT_EQ(r[1].batch_size, 2u);
  EXPECT_EQ(r[1].name, "special");
  EXPECT_EQ(r[2].queue_capacity, 32u);
  EXPECT_EQ(r[2].name, "pool-2");
}

TEST(PoolConfig, PoliciesHaveReadableNames) {
  EXPECT_EQ(to_string(FullPolicy::block), "block");
  EXPECT_EQ(to_string(FullPolicy::fail), "fail");
  EXPECT_EQ(to_string(FullPolicy::drop), "drop");
  EXPECT_EQ(to_string(FaultPolicy::continue_running), "continue_running");
  EXPECT_EQ(to_string(FaultPolicy::restart), "restart");
  EXPECT_EQ(to_string(FaultPolicy::stop_pool), "stop_pool");
}

}  // namespace
}  // namespace sn::test
