// pool_colocated: one external producer thread, not pinned, and a worker on every CPU,
// so that the producer always shares a CPU with a worker: what pinning the workers and
// the wait policies cost when the cores are not the workers' alone (part of the
// worker_pool binary).
//
// Each iteration the producer sends kMessages keyed messages, message i carrying key
// bench_key(i % kKeys) as its payload, through pool->send(key, key). Each worker counts
// every key in an absl::flat_hash_map on its own heap, computes keyed_sine(key) per
// message (caf_peer.h), and keeps a running count and key sum, checked per worker after
// every iteration (SkipWithError on a loss or a mismatch); at shutdown each worker's map
// must agree with its count.
//
//   pool_colocated/unpinned/sn     W = usable CPUs workers, not pinned, default wait policy;
//   pool_colocated/pinned/sn       worker j pinned to cpu_for(j), default wait policy;
//   pool_colocated/pinned/sn_park  as pinned/sn, with WaitPolicy::park_immediately();
//   pool_colocated/pinned/sn_spin  as pinned/sn, with WaitPolicy::low_latency();
//   pool_colocated/caf             the same messages, keys and work through CAF's
//                                  event-based actors (caf_peer.h), W scheduler threads
//                                  (CAF's threads are not pinned).
//
// The sn rows also report parks_per_kmsg: times a worker slept in the kernel, per 1,000
// messages (each such sleep costs a wake-up on the producer's side).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "caf_peer.h"
#include "harness.h"
#include "sn/partitioners/hash.h"
#include "sn/worker_pool.h"
#include "worker_pool.h"

namespace snbench {
namespace {

/// Messages per iteration, and the distinct keys they carry.
constexpr u64 kMessages = 600'000;
constexpr u64 kKeys = 60;

const std::vector<u64>& colocated_keys() {
  static const std::vector<u64> keys = [] {
    std::vector<u64> k(kKeys);
    for (u64 i = 0; i < kKeys; ++i) k[i] = bench_key(i);
    return k;
  }();
  return keys;
}

/// What worker j must see per iteration, precomputed from the keys and the partitioner.
std::vector<KeyedShare> shares_of(std::size_t workers) {
  std::vector<KeyedShare> shares(workers);
  const std::vector<u64>& keys = colocated_keys();
  for (u64 i = 0; i < kMessages; ++i) {
    KeyedShare& s = shares[sn::HashPartitioner{}(keys[i % kKeys], workers)];
    ++s.count;
    s.sum += keys[i % kKeys];
    if (i < kKeys) ++s.distinct;
  }
  return shares;
}

/// One message at a time (handle_message), as CAF's actor takes them, with a sine each.
using ColocatedWorker = KeyedWorker<false, u64, sn_bench::KeyedWork::count_and_sine>;

enum class Pinning : std::uint8_t { unpinned, pinned };

void colocated_sn(benchmark::State& state, Pinning pinning, sn::WaitPolicy wait) {
  const int workers = usable_cpus();
  const auto w = static_cast<std::size_t>(workers);
  const std::vector<KeyedShare> shares = shares_of(w);
  std::vector<WorkerTally> tallies(w);
  RoundLatch latch;
  sn::PoolConfig config = pinning == Pinning::pinned ? pinned_pool(w, 0) : sn::PoolConfig().with_num_workers(w);
  auto made = sn::WorkerPool<ColocatedWorker>::create(config.with_wait_policy(wait), [&](std::size_t j) {
    return std::make_unique<ColocatedWorker>(shares[j], tallies[j], latch, static_cast<std::uint32_t>(workers));
  });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<ColocatedWorker>& pool = **made;
  const std::vector<u64>& keys = colocated_keys();
  std::atomic<bool> refused{false};
  const std::uint64_t parks_before = pool.stats().parks;
  {
    Team team;  // destroyed before the pool: the producer never outlives it
    team.spawn(Team::kUnpinned, [&](Team::Member& m) {
      m.ready();
      while (m.next()) {
        for (u64 i = 0; i < kMessages; ++i) {
          const u64 key = keys[i % kKeys];
          if (pool.send(key, u64{key}) != sn::SendResult::ok) [[unlikely]] {
            refused.store(true, std::memory_order_relaxed);
            break;
          }
        }
        m.done();
      }
    });
    if (!team_ready(team, state)) return;
    u64 round = 0;
    for (auto _ : state) {
      latch.reset();
      team.run_round(round);
      std::string error = refused.load(std::memory_order_relaxed) ? "a send was refused"
                          : !latch.wait(static_cast<std::uint32_t>(workers))
                              ? "stalled: a worker did not get all its messages"
                              : round_mismatch(tallies, shares, round);
      if (!error.empty()) {
        state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + error).c_str());
        break;
      }
      ++round;
    }
  }
  const double parks = static_cast<double>(pool.stats().parks - parks_before);
  shutdown_or_skip(pool, state);
  for (std::size_t j = 0; j < tallies.size() && !state.error_occurred(); ++j) {
    if (tallies[j].failed.load()) state.SkipWithError(("worker " + std::to_string(j) + "'s map disagrees").c_str());
  }
  const auto messages = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kMessages);
  state.SetItemsProcessed(messages);
  state.counters["parks_per_kmsg"] = messages == 0 ? 0.0 : parks * 1e3 / static_cast<double>(messages);
  state.SetLabel(pinning == Pinning::pinned ? "producer not pinned, workers " + cpu_label(workers)
                                            : "producer and workers not pinned");
}

void colocated_caf(benchmark::State& state) {
  const int workers = usable_cpus();
  caf_keyed_rounds(state, 1, workers, colocated_keys(), kMessages, sn_bench::KeyedWork::count_and_sine);
  state.SetLabel("caf scheduler threads=" + std::to_string(workers) + ", producer and threads not pinned");
}

}  // namespace

void register_pool_colocated() {
  auto add = [](const std::string& name, std::function<void(benchmark::State&)> fn) {
    benchmark::RegisterBenchmark(name.c_str(), std::move(fn))->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  add("pool_colocated/unpinned/sn", [](benchmark::State& s) { colocated_sn(s, Pinning::unpinned, sn::WaitPolicy{}); });
  add("pool_colocated/pinned/sn", [](benchmark::State& s) { colocated_sn(s, Pinning::pinned, sn::WaitPolicy{}); });
  add("pool_colocated/pinned/sn_park",
      [](benchmark::State& s) { colocated_sn(s, Pinning::pinned, sn::WaitPolicy::park_immediately()); });
  add("pool_colocated/pinned/sn_spin",
      [](benchmark::State& s) { colocated_sn(s, Pinning::pinned, sn::WaitPolicy::low_latency()); });
  add("pool_colocated/caf", colocated_caf);
}

}  // namespace snbench
