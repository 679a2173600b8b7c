// A project outside the tree that runs a pool across MPI ranks through the installed
// sn::cluster: every rank counts what it owns, and rank 0 checks the sum over ranks.
#include <atomic>
#include <cstdint>
#include <cstdio>

#include "sn/cluster/cluster.h"
#include "sn/cluster/cluster_pool.h"

namespace {
std::atomic<std::uint64_t> g_handled{0};

struct Count : sn::Worker<int, std::uint64_t> {
  void handle_message(int&, sn::Envelope<std::uint64_t>) { g_handled.fetch_add(1); }
};
}  // namespace

int main() {
  auto cluster = sn::Cluster::create();
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster consumer: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  auto pool = sn::ClusterPool<Count>::create(**cluster, sn::PoolConfig());
  if (!pool.ok()) {
    std::fprintf(stderr, "cluster consumer: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  for (std::uint64_t key = 0; key < 1000; ++key) (void)(*pool)->send(key, std::uint64_t{key});
  if (!(*pool)->shutdown().ok()) return 1;
  auto all = (*cluster)->all_gather(g_handled.load());
  if (!all.ok()) return 1;
  std::uint64_t total = 0;
  for (std::uint64_t n : *all) total += n;
  const std::uint64_t want = 1000 * static_cast<std::uint64_t>((*cluster)->size());
  std::printf("cluster consumer, rank %d: %llu handled here, %llu of %llu over %d ranks\n", (*cluster)->rank(),
              static_cast<unsigned long long>(g_handled.load()), static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(want), (*cluster)->size());
  return total == want ? 0 : 1;
}
