// What a cluster pool costs for keys it owns itself: the pool_keyed/1x1 shape (one
// producer thread, one worker, 2^20 keyed u64 messages a round) through a plain
// WorkerPool and through a one-rank ClusterPool, in the same run:
//
//   cluster/pool_keyed_1x1/sn           WorkerPool<W>::send
//   cluster/pool_keyed_1x1/sn_one_rank  ClusterPool<W>::send on a one-rank job: the same
//                                       path, plus the cluster's closing check (a
//                                       one-rank cluster pool installs no remote route)
//
// Run it as one rank: mpirun -np 1 cluster_local_bench (scripts/bench_cluster.sh does).
// Each round checks the worker's count and sum of what it handled.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "harness.h"
#include "sn/cluster/cluster.h"
#include "sn/cluster/cluster_pool.h"
#include "sn/worker_pool.h"
#include "worker_pool.h"

namespace snbench {
namespace {

using u64 = std::uint64_t;
constexpr u64 kMessages = u64{1} << 20;

sn::Cluster* g_cluster = nullptr;

/// The worker's running totals, read by the producer between rounds.
struct alignas(sn::kFalseSharingRange) Totals {
  std::atomic<u64> count{0};
  std::atomic<u64> sum{0};
};

struct Summer : sn::Worker<u64, u64> {
  explicit Summer(Totals& t) : totals(t) {}
  void handle_batch(u64& seen, std::span<sn::Envelope<u64>> batch) {
    u64 sum = 0;
    for (const sn::Envelope<u64>& e : batch) sum += e.payload;
    seen += batch.size();
    totals.sum.fetch_add(sum, std::memory_order_relaxed);
    totals.count.fetch_add(batch.size(), std::memory_order_release);  // pairs with the producer's acquire
  }
  Totals& totals;
};

sn::PoolConfig one_worker() { return sn::PoolConfig().with_num_workers(1).with_queue_capacity(4096); }

template <class Pool>
void keyed_rounds(benchmark::State& state, Pool& pool, Totals& totals) {
  u64 round = 0;
  for (auto _ : state) {
    for (u64 i = 0; i < kMessages; ++i) {
      if (pool.send(bench_key(i), u64{i}) != sn::SendResult::ok) [[unlikely]] {
        state.SkipWithError("a send was refused");
        return;
      }
    }
    ++round;
    while (totals.count.load(std::memory_order_acquire) < round * kMessages) {
    }
  }
  const u64 want_sum = round * (kMessages * (kMessages - 1) / 2);
  if (totals.count.load() != round * kMessages || totals.sum.load() != want_sum) {
    state.SkipWithError("checksum mismatch: the worker did not get every message once");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(round * kMessages));
}

void keyed_plain(benchmark::State& state) {
  Totals totals;
  auto pool =
      sn::WorkerPool<Summer>::create(one_worker(), [&](std::size_t) { return std::make_unique<Summer>(totals); });
  if (!pool.ok()) return state.SkipWithError(pool.status().ToString().c_str());
  keyed_rounds(state, **pool, totals);
  if (!(*pool)->shutdown().ok()) state.SkipWithError("shutdown failed");
}

void keyed_cluster(benchmark::State& state) {
  Totals totals;
  auto pool = sn::ClusterPool<Summer>::create(*g_cluster, one_worker(), {},
                                              [&](std::size_t) { return std::make_unique<Summer>(totals); });
  if (!pool.ok()) return state.SkipWithError(pool.status().ToString().c_str());
  keyed_rounds(state, **pool, totals);
  if (!(*pool)->shutdown().ok()) state.SkipWithError("shutdown failed");
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  auto cluster = sn::Cluster::create();
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster_local_bench: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  if ((*cluster)->size() != 1) {
    if ((*cluster)->rank() == 0) std::fprintf(stderr, "cluster_local_bench: run it as one rank (mpirun -np 1)\n");
    return 2;
  }
  snbench::g_cluster = cluster->get();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  snbench::add_machine_context();
  // Each repetition makes its own pool; run with --benchmark_enable_random_interleaving=true
  // (scripts/bench_cluster.sh does) so that both rows see the same moments of a noisy machine.
  benchmark::RegisterBenchmark("cluster/pool_keyed_1x1/sn", snbench::keyed_plain)->UseRealTime();
  benchmark::RegisterBenchmark("cluster/pool_keyed_1x1/sn_one_rank", snbench::keyed_cluster)->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
