// partitioners: how fast each partitioner routes a key, against std::hash plus %.
//
//   route/<name>   items_per_second over 4,096 random 64-bit keys per iteration, with
//                  `workers` = 8, or the count the name ends in (consistent_64,
//                  rendezvous_4...). Every index is checked to be in range and summed,
//                  so the work cannot be optimized away.
//   resize/<name>  the time of one with_worker() on a resizable partitioner of 64
//                  workers: a copy with a 65th (what a pool's resize builds).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/jump.h"
#include "sn/partitioners/rendezvous.h"
#include "sn/partitioners/round_robin.h"

namespace {

constexpr std::size_t kKeys = 4096;

const std::vector<std::uint64_t>& keys() {
  static const std::vector<std::uint64_t> k = [] {
    std::mt19937_64 rng(2026);
    std::vector<std::uint64_t> v(kKeys);
    for (auto& x : v) x = rng();
    return v;
  }();
  return k;
}

/// std::hash plus %: the baseline a hand-rolled router uses. (libstdc++'s std::hash of an
/// integer is the identity, so this is one division per key.)
struct StdHashMod {
  std::size_t operator()(std::uint64_t key, std::size_t workers) const noexcept {
    return std::hash<std::uint64_t>{}(key) % workers;
  }
};

template <class P>
void route(benchmark::State& state, const P& partitioner, std::size_t worker_count) {
  // A pool's worker count is a run-time value: keep the compiler from folding it (into a
  // mask for std_hash_mod's %, say).
  std::size_t workers = worker_count;
  benchmark::DoNotOptimize(workers);
  const std::vector<std::uint64_t>& k = keys();
  std::size_t out_of_range = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::uint64_t key : k) {
      const std::size_t w = partitioner(key, workers);
      out_of_range += w >= workers ? 1 : 0;
      sum += w;
    }
    benchmark::DoNotOptimize(sum);
  }
  if (out_of_range != 0) state.SkipWithError("a partitioner returned an index out of range");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kKeys));
}

template <class P>
void resize(benchmark::State& state, const P& partitioner) {
  std::size_t id = partitioner.size();
  benchmark::DoNotOptimize(id);
  for (auto _ : state) {
    auto bigger = partitioner.with_worker(id);
    if (!bigger.ok()) state.SkipWithError("with_worker failed");
    benchmark::DoNotOptimize(bigger);
  }
}

void register_all() {
  benchmark::RegisterBenchmark("route/hash", [](benchmark::State& s) { route(s, sn::HashPartitioner{}, 8); });
  benchmark::RegisterBenchmark("route/jump", [](benchmark::State& s) { route(s, sn::JumpHashPartitioner{}, 8); });
  benchmark::RegisterBenchmark("route/consistent_8",
                               [](benchmark::State& s) { route(s, sn::ConsistentHashPartitioner(8), 8); });
  benchmark::RegisterBenchmark("route/consistent_64",
                               [](benchmark::State& s) { route(s, sn::ConsistentHashPartitioner(64), 64); });
  for (std::size_t n : {4u, 8u, 16u, 64u}) {
    benchmark::RegisterBenchmark(("route/rendezvous_" + std::to_string(n)).c_str(),
                                 [n](benchmark::State& s) { route(s, sn::RendezvousPartitioner(n), n); });
  }
  benchmark::RegisterBenchmark("resize/consistent_64",
                               [](benchmark::State& s) { resize(s, sn::ConsistentHashPartitioner(64)); });
  benchmark::RegisterBenchmark("resize/rendezvous_64",
                               [](benchmark::State& s) { resize(s, sn::RendezvousPartitioner(64)); });
  benchmark::RegisterBenchmark("route/round_robin",
                               [](benchmark::State& s) { route(s, sn::RoundRobinPartitioner{}, 8); });
  benchmark::RegisterBenchmark("route/std_hash_mod", [](benchmark::State& s) { route(s, StdHashMod{}, 8); });
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
