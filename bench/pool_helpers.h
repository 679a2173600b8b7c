// What the worker-pool benchmark's source files share: the pinned pool they all build,
// the shutdown that fails a case, and the key a given worker owns.
#pragma once

#include <cstddef>
#include <string>

#include <benchmark/benchmark.h>

#include "absl/status/status.h"
#include "harness.h"
#include "sn/partitioners/hash.h"
#include "sn/worker_pool.h"

namespace snbench {

/// Pins worker j of the pool to cpu_for(first_cpu + j).
inline sn::PoolConfig pinned_pool(std::size_t workers, int first_cpu) {
  sn::PoolConfig config =
      sn::PoolConfig().with_num_workers(workers).with_cpu_affinity(true).with_oversubscription(true);
  for (std::size_t j = 0; j < workers; ++j) {
    config.with_worker(j, sn::WorkerConfig().with_cpu(cpu_for(first_cpu + static_cast<int>(j))));
  }
  return config;
}

/// Shuts the pool down; a failure marks the case unless it already failed.
template <class W>
void shutdown_or_skip(sn::WorkerPool<W>& pool, benchmark::State& state) {
  if (const absl::Status s = pool.shutdown(); !s.ok() && !state.error_occurred()) {
    state.SkipWithError(("shutdown: " + s.ToString()).c_str());
  }
}

/// The first key that the pool's HashPartitioner gives worker `index` of `workers`.
inline u64 key_of_worker(std::size_t index, std::size_t workers) {
  u64 key = 0;
  while (sn::HashPartitioner{}(key, workers) != index) ++key;
  return key;
}

/// Registers the rows of pool_burst.cc: one worker's burst far larger than its lane.
void register_pool_burst();

}  // namespace snbench
