// Where workers run: pinned workers stay on the CPU their context and stats report,
// each on its own physical core; unpinned ones report -1. Pools here never have more
// pinned workers than the machine has physical cores, except the one that asks for
// oversubscription on purpose.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sn/topology/affinity.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

/// Slot [i] written only by worker i; read after shutdown.
struct WhereLog {
  explicit WhereLog(std::size_t n) : context_cpu(n, -2), start_cpu(n, -2), wrong_cpu(n, 0), handled(n, 0), names(n) {}
  std::vector<int> context_cpu;  // context().cpu() in on_start
  std::vector<int> start_cpu;    // where on_start actually ran
  std::vector<int> wrong_cpu;    // messages handled off the reported CPU
  std::vector<int> handled;
  std::vector<std::string> names;  // the thread's name in on_start
};

int cpu_now() {
  const absl::StatusOr<int> cpu = current_cpu();
  return cpu.ok() ? *cpu : -3;
}

struct Locator : Worker<Empty, int> {
  explicit Locator(WhereLog* log) : log_(log) {}
  void on_start(Empty&) {
    const std::size_t i = context().index();
    log_->context_cpu[i] = context().cpu();
    log_->start_cpu[i] = cpu_now();
    char name[16] = {};
    if (pthread_getname_np(pthread_self(), name, sizeof(name)) == 0) log_->names[i] = name;
  }
  void handle_message(Empty&, Envelope<int>) {
    const std::size_t i = context().index();
    ++log_->handled[i];
    if (context().cpu() >= 0 && cpu_now() != context().cpu()) ++log_->wrong_cpu[i];
  }
  WhereLog* log_;
};

void send_to_every_worker(WorkerPool<Locator>& pool, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t w = 0; w < pool.size(); ++w) ASSERT_EQ(pool.send_to(w, int{r}), SendResult::ok);
  }
}

TEST(WorkerPlacement, PinnedWorkersRunOnTheirOwnPhysicalCores) {
  const std::vector<int> cores = physical_core_cpus();
  ASSERT_FALSE(cores.empty());
  const std::size_t n = std::min<std::size_t>(2, cores.size());
  WhereLog log(n);
  auto pool =
      create_pool<Locator>(PoolConfig().with_num_workers(n).with_cpu_affinity(true), each_worker_gets<Locator>(&log));
  ASSERT_NE(pool, nullptr);
  send_to_every_worker(*pool, 200);
  const PoolStats live = pool->stats();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  std::set<int> used;
  for (std::size_t i = 0; i < n; ++i) {
    const int cpu = log.context_cpu[i];
    EXPECT_GE(cpu, 0) << "worker " << i << " is not pinned";
    EXPECT_NE(std::find(cores.begin(), cores.end(), cpu), cores.end())
        << "worker " << i << " is on CPU " << cpu << ", not one per physical core";
    EXPECT_EQ(log.start_cpu[i], cpu) << "on_start of worker " << i << " ran off its CPU";
    EXPECT_EQ(log.handled[i], 200);
    EXPECT_EQ(log.wrong_cpu[i], 0) << "worker " << i << " handled messages off its CPU";
    EXPECT_EQ(live.workers[i].cpu, cpu) << "stats disagree with the context for worker " << i;
    EXPECT_EQ(pool->stats().workers[i].cpu, cpu);
    used.insert(cpu);
  }
  EXPECT_EQ(used.size(), n) << "two pinned workers share a core";
}

TEST(WorkerPlacement, AnExplicitCpuIsHonoured) {
  const int cpu = allowed_cpus().back();
  WhereLog log(1);
  const PoolConfig config = PoolConfig().with_cpu_affinity(true).with_worker(0, WorkerConfig().with_cpu(cpu));
  auto pool = create_pool<Locator>(config, each_worker_gets<Locator>(&log));
  ASSERT_NE(pool, nullptr);
  send_to_every_worker(*pool, 50);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.context_cpu[0], cpu);
  EXPECT_EQ(log.start_cpu[0], cpu);
  EXPECT_EQ(log.wrong_cpu[0], 0);
  EXPECT_EQ(pool->stats().workers[0].cpu, cpu);
}

TEST(WorkerPlacement, WithOversubscriptionMorePinnedWorkersThanCoresStartAndRun) {
  const std::vector<int> allowed = allowed_cpus();
  const std::size_t n = physical_core_cpus().size() + 1;
  WhereLog log(n);
  const PoolConfig config = PoolConfig().with_num_workers(n).with_cpu_affinity(true).with_oversubscription(true);
  auto pool = create_pool<Locator>(config, each_worker_gets<Locator>(&log));
  ASSERT_NE(pool, nullptr);
  send_to_every_worker(*pool, 50);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), log.context_cpu[i]), allowed.end()) << "worker " << i;
    EXPECT_EQ(log.start_cpu[i], log.context_cpu[i]) << "worker " << i;
    EXPECT_EQ(log.wrong_cpu[i], 0) << "worker " << i;
    EXPECT_EQ(log.handled[i], 50);
  }
}

TEST(WorkerPlacement, UnpinnedWorkersReportNoCpuAndCarryTheirNames) {
  WhereLog log(2);
  const PoolConfig config =
      PoolConfig().with_num_workers(2).with_name("pool").with_worker(1, WorkerConfig().with_name("special"));
  auto pool = create_pool<Locator>(config, each_worker_gets<Locator>(&log));
  ASSERT_NE(pool, nullptr);
  send_to_every_worker(*pool, 10);
  const PoolStats s = pool->stats();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(log.context_cpu[i], -1);
    EXPECT_EQ(s.workers[i].cpu, -1);
    EXPECT_FALSE(s.workers[i].memory_bound);
  }
  EXPECT_EQ(log.names[0], "pool-0");
  EXPECT_EQ(log.names[1], "special");
  EXPECT_EQ(s.workers[0].name, "pool-0");
  EXPECT_EQ(s.workers[1].name, "special");
}

}  // namespace
}  // namespace sn::test
