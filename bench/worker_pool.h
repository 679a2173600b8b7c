// What the source files of the worker_pool benchmark share: how a case pins its pool and
// shuts it down, the key a given worker owns, the keyed workers and the check of their rounds, and the registration
// of the cases each file holds (worker_pool.cc runs them all in one binary, in the order
// it calls these).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "caf_peer.h"
#include "harness.h"
#include "sn/partitioners/hash.h"
#include "sn/worker_pool.h"

namespace snbench {

/// Key i of the keyed cases: SplitMix64 of i, the same for sn and CAF in every run.
inline u64 bench_key(u64 i) noexcept {
  u64 z = (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

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

/// What one worker reports to the main thread, on its own false-sharing range. Written
/// in tick() (relaxed; published by RoundLatch::arrive), read by the main thread after
/// the round.
struct alignas(sn::kFalseSharingRange) WorkerTally {
  std::atomic<u64> handled{0};
  std::atomic<u64> checksum{0};
  std::atomic<bool> failed{false};  // a send was refused, or a check inside the worker failed
};

// ------------------------------------------------------------------ keyed workers

using CountMap =
    absl::flat_hash_map<u64, u64, absl::Hash<u64>, std::equal_to<u64>, sn::HeapAllocator<std::pair<const u64, u64>>>;

struct KeyedState {
  CountMap counts;
  u64 pending = 0;  // handled since the last tick
  u64 handled = 0;  // running totals over all rounds
  u64 checksum = 0;
  u64 next_target = 0;  // `handled` at the end of the current round
  double sines = 0;     // KeyedWork::count_and_sine
};

/// What worker j must see per round: precomputed from the keys and the partitioner.
struct KeyedShare {
  u64 count = 0;
  u64 sum = 0;
  u64 distinct = 0;
};

/// The second alternative of pool_keyed/.../sn_variant's message; never sent.
struct Flush {};

/// kBatched: the worker takes each iteration's batch through handle_batch and prefetches
/// every key's map slot before it counts (the map is 2 MiB, beyond L2, so each count is
/// a cache miss that the prefetches overlap). Without it, handle_message counts one
/// message at a time, as the CAF actor must. Message is u64, or std::variant<u64, Flush>,
/// whose u64 alternative the same handle_message takes. kWork: also keyed_sine(key) per
/// message, kept in the state (caf_peer.h; the CAF actor does the same).
template <bool kBatched, class Message = u64, sn_bench::KeyedWork kWork = sn_bench::KeyedWork::count>
class KeyedWorker : public sn::Worker<KeyedState, Message> {
 public:
  KeyedWorker(KeyedShare share, WorkerTally& tally, RoundLatch& latch, std::uint32_t workers) noexcept
      : share_(share), tally_(tally), latch_(latch), workers_(workers) {}

  KeyedState init() {
    KeyedState s{CountMap(sn::HeapAllocator<std::pair<const u64, u64>>(this->context().heap()))};
    s.counts.reserve(share_.distinct);
    s.next_target = share_.count;
    return s;
  }

  void handle_message(KeyedState& s, sn::Envelope<u64> e) requires(!kBatched) {
    ++s.counts[e.key];
    s.checksum += e.payload;
    if constexpr (kWork == sn_bench::KeyedWork::count_and_sine) s.sines += sn_bench::keyed_sine(e.key);
    ++s.pending;
  }
  void handle_message(KeyedState&, sn::Envelope<Flush>) requires(!kBatched) {}

  void handle_batch(KeyedState& s, std::span<sn::Envelope<u64>> batch) requires(kBatched) {
    for (const sn::Envelope<u64>& e : batch) s.counts.prefetch(e.key);
    for (const sn::Envelope<u64>& e : batch) {
      ++s.counts[e.key];
      s.checksum += e.payload;
    }
    s.pending += batch.size();
  }

  // Reports per batch to the worker's own tally line; the shared latch is touched once
  // per round, so that W workers do not contend on a counter in the measured loop.
  void tick(KeyedState& s) {
    if (s.pending == 0) return;
    s.handled += s.pending;
    s.pending = 0;
    tally_.handled.store(s.handled, std::memory_order_relaxed);
    tally_.checksum.store(s.checksum, std::memory_order_relaxed);
    if (s.handled >= s.next_target) {
      s.next_target += share_.count;
      latch_.arrive(workers_);
    }
  }

  // The map itself must agree with the running count: every message counted once, under
  // exactly the keys this worker owns.
  void on_stop(KeyedState& s) {
    u64 total = 0;
    for (const auto& [key, n] : s.counts) total += n;
    benchmark::DoNotOptimize(s.sines);
    if (total != s.handled || s.counts.size() != share_.distinct) tally_.failed.store(true, std::memory_order_relaxed);
  }

 private:
  KeyedShare share_;
  WorkerTally& tally_;
  RoundLatch& latch_;
  std::uint32_t workers_;
};

/// Why round `round` (from 0) went wrong, empty when every worker j has handled
/// (round + 1) times its share, with the matching key sum.
inline std::string round_mismatch(const std::vector<WorkerTally>& tallies, const std::vector<KeyedShare>& shares,
                                  u64 round) {
  for (std::size_t j = 0; j < tallies.size(); ++j) {
    const u64 handled = tallies[j].handled.load(std::memory_order_relaxed);
    const u64 sum = tallies[j].checksum.load(std::memory_order_relaxed);
    if (handled != (round + 1) * shares[j].count || sum != (round + 1) * shares[j].sum) {
      return "worker " + std::to_string(j) + " handled " + std::to_string(handled) + " (expected " +
             std::to_string((round + 1) * shares[j].count) + "), checksum " + std::to_string(sum) + " (expected " +
             std::to_string((round + 1) * shares[j].sum) + ")";
    }
  }
  return "";
}

/// The CAF peer of a keyed case: `producers` threads each send `per_producer` messages
/// over `keys` to `workers` actors doing `work`, once per iteration; each round's count
/// and key sum are checked (SkipWithError on a mismatch).
inline void caf_keyed_rounds(benchmark::State& state, int producers, int workers, const std::vector<u64>& keys,
                             u64 per_producer, sn_bench::KeyedWork work) {
  const u64 total = per_producer * static_cast<u64>(producers);
  u64 expected_sum = 0;
  for (u64 j = 0; j < total; ++j) expected_sum += keys[j % keys.size()];
  try {
    sn_bench::CafKeyed caf(producers, workers, workers, work);
    for (auto _ : state) {
      const sn_bench::KeyedResult r = caf.run(keys, per_producer);
      if (r.handled != total || r.checksum != expected_sum) {
        state.SkipWithError(("checksum mismatch: handled " + std::to_string(r.handled) + " of " +
                             std::to_string(total) + ", checksum " + std::to_string(r.checksum) + " (expected " +
                             std::to_string(expected_sum) + ")")
                                .c_str());
        break;
      }
    }
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("CAF: ") + e.what()).c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(total));
}

/// The first key that the pool's HashPartitioner gives worker `index` of `workers`.
inline u64 key_of_worker(std::size_t index, std::size_t workers) {
  u64 key = 0;
  while (sn::HashPartitioner{}(key, workers) != index) ++key;
  return key;
}

// ------------------------------------------------------------------ registration

/// pool_idle/* (pool_idle.cc): what an idle pool costs, and how fast a parked worker wakes.
void register_pool_idle();
/// pool_colocated/* (pool_colocated.cc): one unpinned producer beside a worker on every CPU.
void register_pool_colocated();
/// pool_burst/* (pool_burst.cc): one worker's burst far larger than its lane.
void register_pool_burst();

}  // namespace snbench
