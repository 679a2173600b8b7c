// worker_pool: sn::WorkerPool end to end, against CAF 0.17 where CAF has the same workload.
//
// Cases (name = <scenario>/<shape>/<impl>; Google Benchmark appends "/real_time", and
// "/iterations:1/manual_time" to pool_idle):
//   pool_keyed/PxW/sn    P external producer threads send 2^20 keyed messages per
//                        iteration (pool->send(key, key)) over 65,536 distinct keys to W
//                        workers; each worker counts every key in an absl::flat_hash_map on
//                        its own heap (sn::HeapAllocator) and keeps a running count and key
//                        sum, checked per worker after every iteration.
//                        The workers use handle_batch: each batch's map slots are
//                        prefetched before counting, which the batching loop allows.
//   pool_keyed/PxW/sn_per_message  the same, one handle_message call per message, as an
//                        actor must; the difference is what batching is worth.
//   pool_keyed/PxW/sn_variant  as .../sn_per_message, with a std::variant<u64, Flush>
//                        message (16 bytes, not 8) handled per alternative: the same
//                        handle_message(Envelope<u64>), reached through the pool's switch
//                        on the index. The difference is what a variant message costs.
//   pool_keyed/PxW/sn_consistent   as .../sn, routed by a ConsistentHashPartitioner: a
//                        resizable pool, whose external sends pass the resize gate.
//   pool_keyed/PxW/caf   the same messages, keys and routing through CAF's event-based
//                        actors (caf_peer.h), W scheduler threads.
//   pool_mesh/W/sn       every worker sends to every other one from tick(), at most 64 per
//                        tick, round-robin over the destinations; 2^20 messages per iteration
//                        in all. items_per_second counts messages handled.
//   pool_rtt/sn          request and reply between two workers through
//                        WorkerContext::send_to; worker 0 times each round trip with the
//                        harness's ticks(); counters p50_ns, p99_ns, p999_ns.
//   pool_rtt/cacheline   the hardware floor for pool_rtt/sn: one cache line bounced between
//                        two threads pinned to the same two CPUs (harness.h).
//   pool_call_rtt/sn     pool_rtt/sn with calls: worker 0 calls worker 1 through
//                        WorkerContext::call (no deadline); worker 1's handle_call answers
//                        3v + 1; worker 0's callback times the round trip, checks the answer
//                        and makes the next call. Same pinning and wait policy as pool_rtt/sn.
//   pool_call_rtt/caf    the same through CAF: request(callee, infinite, v).then(...) between
//                        two event-based actors, 2 scheduler threads (not pinned: the peer
//                        has no way to pin CAF's threads); timed in the `then` handler.
//   pool_call/external/sn  a plain thread calls a 1-worker pool: pool->call<u64>(v, v,
//                        10 s).get() in a loop, timed per call; p50/p99 and items_per_second.
//   pool_call/external/caf  the same through a caf::scoped_actor: request(callee, infinite,
//                        v).receive(...) against one event-based actor, 1 scheduler thread.
//   pool_burst/...       one worker's burst of 10^6 messages, far more than its lane holds,
//                        against CAF: see pool_burst.cc.
//   pool_idle/...        an idle pool's CPU use and wake-up latency, against a bare futex:
//                        see pool_idle.cc.
//   pool_colocated/...   one unpinned producer beside a worker on every CPU, pinned or not,
//                        per wait policy, and CAF: see pool_colocated.cc.
//   ingress/Px1/inbox    the raw cost of the pool's external ingress design: P producers
//                        into one sn MPSC channel, drained by one consumer...
//   ingress/Px1/lanes    ...against P SPSC channels (one per producer) polled round-robin by
//                        the consumer. 2^21 values per iteration, batches of 64 taken.
// Shapes need one CPU per thread (producers, then workers or the consumer); 1x1, W = 2
// and P = 1 are always registered, larger ones only where the CPUs exist. Every thread
// but CAF's is pinned to its own CPU (one per physical core first); the external callers
// of pool_call/external/* take cpu_for(0) and the callee worker cpu_for(1), as the
// producer and worker of pool_keyed/1x1 do. Every case checks its
// counts and checksums and fails (SkipWithError) on a mismatch; a round that does not
// complete within kStallLimit fails as well instead of hanging.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/container/flat_hash_map.h"
#include "caf_peer.h"
#include "harness.h"
#include "sn/channel/channel.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/sync/block_on.h"
#include "sn/sync/parking_lot.h"
#include "sn/worker_pool.h"
#include "worker_pool.h"

namespace snbench {
namespace {

/// Distinct keys of the keyed cases.
constexpr u64 kKeys = 65'536;
/// Keyed messages per iteration, all producers together.
constexpr u64 kKeyedMessages = u64{1} << 20;
/// Worker-to-worker messages per iteration of pool_mesh, all workers together.
constexpr u64 kMeshMessages = u64{1} << 20;
/// Sends per tick() of a pool_mesh worker: one batch's worth, so that a worker sends about
/// as fast as it receives.
constexpr u64 kMeshPerTick = 64;
/// Round trips per iteration of pool_rtt/sn.
constexpr u64 kPoolRoundTrips = u64{1} << 14;

/// The keys of the keyed cases: bench_key(0 ... kKeys - 1).
const std::vector<u64>& keyed_keys() {
  static const std::vector<u64> keys = [] {
    std::vector<u64> k(kKeys);
    for (u64 i = 0; i < kKeys; ++i) k[i] = bench_key(i);
    return k;
  }();
  return keys;
}

std::string shape(int a, int b) { return std::to_string(a) + "x" + std::to_string(b); }

// ------------------------------------------------------------------ pool_keyed

/// Producer p's message i carries keys[(p * per_producer + i) % kKeys] (as CafKeyed does),
/// so message j of the whole round, j in [0, total), carries keys[j % kKeys].
std::vector<KeyedShare> keyed_shares(int workers, u64 total, bool consistent) {
  const std::vector<u64>& keys = keyed_keys();
  const auto w = static_cast<std::size_t>(workers);
  const sn::ConsistentHashPartitioner ring(w);
  std::vector<KeyedShare> shares(w);
  std::vector<u64> hits(kKeys, 0);
  for (u64 j = 0; j < total; ++j) {
    const u64 key = keys[j % kKeys];
    KeyedShare& s = shares[consistent ? ring.owner(key) : sn::HashPartitioner{}(key, w)];
    ++s.count;
    s.sum += key;
    if (hits[j % kKeys]++ == 0) ++s.distinct;
  }
  return shares;
}

/// kConsistent: the pool routes through a ConsistentHashPartitioner, which makes it
/// resizable: each external send then passes the resize gate and looks the key up on the
/// ring (the cost of being able to resize, measured with no resize running).
template <bool kBatched, bool kConsistent = false, class Message = u64>
void keyed_sn(benchmark::State& state, int producers, int workers) {
  using Keyed = KeyedWorker<kBatched, Message>;
  const u64 per_producer = kKeyedMessages / static_cast<u64>(producers);
  const u64 total = per_producer * static_cast<u64>(producers);
  const std::vector<u64>& keys = keyed_keys();
  const std::vector<KeyedShare> shares = keyed_shares(workers, total, kConsistent);
  std::vector<WorkerTally> tallies(static_cast<std::size_t>(workers));
  RoundLatch latch;

  auto make = [&](std::size_t j) {
    return std::make_unique<Keyed>(shares[j], tallies[j], latch, static_cast<std::uint32_t>(workers));
  };
  const sn::PoolConfig config = pinned_pool(static_cast<std::size_t>(workers), producers);
  auto made = [&] {
    if constexpr (kConsistent) {
      return sn::WorkerPool<Keyed>::create(config, sn::ConsistentHashPartitioner(static_cast<std::size_t>(workers)),
                                           make);
    } else {
      return sn::WorkerPool<Keyed>::create(config, make);
    }
  }();
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<Keyed>& pool = **made;

  std::atomic<bool> refused{false};
  {
    Team team;  // destroyed before the pool: producers never outlive it
    for (int p = 0; p < producers; ++p) {
      team.spawn(cpu_for(p), [&, p](Team::Member& m) {
        m.ready();
        while (m.next()) {
          u64 i = static_cast<u64>(p) * per_producer % kKeys;
          for (u64 n = 0; n < per_producer; ++n) {
            const u64 key = keys[i];
            if (pool.send(key, u64{key}) != sn::SendResult::ok) [[unlikely]] {
              refused.store(true, std::memory_order_relaxed);
              break;
            }
            if (++i == kKeys) i = 0;
          }
          m.done();
        }
      });
    }
    if (!team_ready(team, state)) return;

    u64 round = 0;
    for (auto _ : state) {
      latch.reset();
      team.run_round(round);
      std::string error;
      if (refused.load(std::memory_order_relaxed)) {
        error = "a send was refused";
      } else if (!latch.wait(static_cast<std::uint32_t>(workers))) {
        error = "stalled: a worker did not get all its messages";
      }
      if (error.empty()) error = round_mismatch(tallies, shares, round);
      if (!error.empty()) {
        state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + error).c_str());
        break;
      }
      ++round;
    }
  }
  shutdown_or_skip(pool, state);
  for (std::size_t j = 0; j < tallies.size() && !state.error_occurred(); ++j) {
    if (tallies[j].failed.load())
      state.SkipWithError(("worker " + std::to_string(j) + "'s map disagrees with its count").c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(total));
  state.SetLabel(cpu_label(producers + workers));
}

void keyed_caf(benchmark::State& state, int producers, int workers) {
  caf_keyed_rounds(state, producers, workers, keyed_keys(), kKeyedMessages / static_cast<u64>(producers),
                   sn_bench::KeyedWork::count);
  state.SetLabel("caf scheduler threads=" + std::to_string(workers) + ", not pinned");
}

// ------------------------------------------------------------------ pool_mesh

using U64Vector = std::vector<u64, sn::HeapAllocator<u64>>;

struct MeshState {
  U64Vector next_seq;  // [d]: the last value sent to worker d
  u64 remaining = 0;   // still to send in this round
  std::size_t next_dest = 0;
  bool token_pending = false;  // a wake-up token to itself is queued
  u64 received = 0;            // running totals over all rounds
  u64 checksum = 0;
  u64 next_target = 0;
};

/// Worker i sends per_pair values per round to every other worker j: 1, 2, 3, ... on
/// each (i, j) pair over the whole run, so after r rounds j has received n = r * per_pair
/// values summing to n (n + 1) / 2 from each of the other W - 1 workers.
class MeshWorker : public sn::Worker<MeshState, u64> {
 public:
  MeshWorker(u64 per_pair, WorkerTally& tally, RoundLatch& latch, std::uint32_t workers) noexcept
      : per_pair_(per_pair), tally_(tally), latch_(latch), workers_(workers) {}

  MeshState init() {
    MeshState s{U64Vector(workers_, 0, sn::HeapAllocator<u64>(context().heap()))};
    s.next_dest = next_after(context().index());
    s.next_target = per_pair_ * (workers_ - 1);
    return s;
  }

  // An external message starts a round; a message from itself is the token that keeps
  // it ticking while it has more to send and nothing arrives.
  void handle_message(MeshState& s, sn::Envelope<u64> e) {
    if (e.source.is_external()) {
      s.remaining += per_pair_ * (workers_ - 1);
    } else if (e.source.worker_index() == context().index()) {
      s.token_pending = false;
    } else {
      ++s.received;
      s.checksum += e.payload;
    }
  }

  // Sends only while nothing waits in the outbox (a destination's lane was full), so the
  // case measures the lanes, not a growing backlog.
  void tick(MeshState& s) {
    for (u64 k = 0; k < kMeshPerTick && s.remaining != 0 && context().outbox_size() == 0; ++k) {
      const std::size_t d = s.next_dest;
      s.next_dest = next_after(d);
      if (s.next_dest == context().index()) s.next_dest = next_after(s.next_dest);
      if (context().send_to(d, ++s.next_seq[d]) != sn::SendResult::ok) tally_.failed.store(true);
      --s.remaining;
    }
    if (s.remaining != 0 && !s.token_pending) {
      if (context().send_to(context().index(), u64{0}) != sn::SendResult::ok) tally_.failed.store(true);
      s.token_pending = true;
    }
    tally_.handled.store(s.received, std::memory_order_relaxed);
    tally_.checksum.store(s.checksum, std::memory_order_relaxed);
    if (s.received >= s.next_target) {
      s.next_target += per_pair_ * (workers_ - 1);
      latch_.arrive(workers_);
    }
  }

 private:
  std::size_t next_after(std::size_t d) const noexcept { return d + 1 == workers_ ? 0 : d + 1; }

  u64 per_pair_;
  WorkerTally& tally_;
  RoundLatch& latch_;
  std::uint32_t workers_;
};

void mesh_sn(benchmark::State& state, int workers) {
  const auto w = static_cast<u64>(workers);
  const u64 per_pair = kMeshMessages / (w * (w - 1));
  const u64 total = per_pair * w * (w - 1);
  std::vector<WorkerTally> tallies(static_cast<std::size_t>(workers));
  RoundLatch latch;
  auto made = sn::WorkerPool<MeshWorker>::create(pinned_pool(static_cast<std::size_t>(workers), 0), [&](std::size_t j) {
    return std::make_unique<MeshWorker>(per_pair, tallies[j], latch, static_cast<std::uint32_t>(workers));
  });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<MeshWorker>& pool = **made;

  u64 round = 0;
  for (auto _ : state) {
    latch.reset();
    std::string error;
    if (pool.broadcast(u64{0}).status != sn::SendResult::ok) {
      error = "the start message was refused";
    } else if (!latch.wait(static_cast<std::uint32_t>(workers))) {
      error = "stalled: a worker did not get all its messages";
    }
    const u64 n = (round + 1) * per_pair;
    const u64 want_count = n * (w - 1);
    const u64 want_sum = n * (n + 1) / 2 * (w - 1);
    for (std::size_t j = 0; error.empty() && j < tallies.size(); ++j) {
      const u64 count = tallies[j].handled.load(std::memory_order_relaxed);
      const u64 sum = tallies[j].checksum.load(std::memory_order_relaxed);
      if (tallies[j].failed.load() || count != want_count || sum != want_sum) {
        error = "worker " + std::to_string(j) + " received " + std::to_string(count) + " (expected " +
                std::to_string(want_count) + "), checksum " + std::to_string(sum) + " (expected " +
                std::to_string(want_sum) + ")" + (tallies[j].failed.load() ? ", a send was refused" : "");
      }
    }
    if (!error.empty()) {
      state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + error).c_str());
      break;
    }
    ++round;
  }
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(total));
  state.SetLabel(cpu_label(workers));
}

// ------------------------------------------------------------------ pool_rtt

struct RttState {
  U64Vector samples;  // worker 0: ticks per round trip of the current round
  u64 next = 0;       // round trips done in this round
  u64 last_tick = 0;
  u64 value = 0;  // the last request's payload, distinct over the run
};

/// Where worker 0's samples are, for the main thread to read between rounds.
struct RttShared {
  std::span<const u64> samples;
  std::atomic<bool> bad_echo{false};
  RoundLatch latch;
};

/// What both round-trip workers (pool_rtt/sn, pool_call_rtt/sn) have in common: worker
/// 0's sample buffer, allocated in init() on the worker's heap so that recording never
/// allocates, and handed to the main thread in on_start(), which runs before create()
/// returns and so is ordered before the main thread's reads.
class RttSides : public sn::Worker<RttState, u64> {
 public:
  RttState init() {
    RttState s{U64Vector(sn::HeapAllocator<u64>(context().heap()))};
    if (context().index() == 0) s.samples.resize(kPoolRoundTrips);
    return s;
  }
  void on_start(RttState& s) {
    if (context().index() == 0) shared_.samples = s.samples;
  }

 protected:
  explicit RttSides(RttShared& shared) noexcept : shared_(shared) {}
  RttShared& shared_;
};

/// Worker 0 sends a request to worker 1, which echoes it back; worker 0 times the round
/// trip and sends the next one, kPoolRoundTrips per round. An external message starts a
/// round.
class RttWorker : public RttSides {
 public:
  explicit RttWorker(RttShared& shared) noexcept : RttSides(shared) {}

  void handle_message(RttState& s, sn::Envelope<u64> e) {
    if (context().index() == 1) {
      if (context().send_to(0, std::move(e.payload)) != sn::SendResult::ok) shared_.bad_echo.store(true);
      return;
    }
    if (e.source.is_external()) {
      s.next = 0;
      s.last_tick = ticks();
    } else {
      const u64 now = ticks();
      s.samples[s.next++] = now - s.last_tick;
      s.last_tick = now;
      if (e.payload != s.value) shared_.bad_echo.store(true);
      if (s.next == kPoolRoundTrips) {
        shared_.latch.arrive(1);
        return;
      }
    }
    if (context().send_to(1, ++s.value) != sn::SendResult::ok) shared_.bad_echo.store(true);
  }
};

/// Why a round of a round-trip case failed, empty when it did not (read after the
/// round's latch).
std::string round_failure(const RttShared& shared) { return shared.bad_echo.load() ? "wrong echo" : ""; }

/// The rounds of pool_rtt/sn and pool_call_rtt/sn: a 2-worker pool of `make()`'s workers
/// (pinned_pool(2, 0), WaitPolicy::low_latency()); an external message to worker 0 starts
/// each round, and worker 0 arrives at the latch when it is done.
template <class RttW, class Shared, class Make>
void pool_round_trips(benchmark::State& state, Shared& shared, Make make) {
  auto made = sn::WorkerPool<RttW>::create(pinned_pool(2, 0).with_wait_policy(sn::WaitPolicy::low_latency()),
                                           [&](std::size_t) { return make(); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<RttW>& pool = **made;
  std::vector<u64> samples;
  u64 round = 0;
  for (auto _ : state) {
    shared.latch.reset();
    const bool done = pool.send_to(0, u64{0}) == sn::SendResult::ok && shared.latch.wait(1);
    if (const std::string why = round_failure(shared); !done || !why.empty()) {
      state.SkipWithError(
          ("checksum mismatch in round " + std::to_string(round) + ": " + (why.empty() ? "stalled" : why)).c_str());
      break;
    }
    samples.insert(samples.end(), shared.samples.begin(), shared.samples.end());
    ++round;
  }
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kPoolRoundTrips));
  state.SetLabel(cpu_label(2));
  if (!state.error_occurred()) report_latency(state, samples);
}

// WaitPolicy::low_latency(): a user who wants the lowest round trip configures it, and it
// is what the floor does (both threads spin). The default policy also spins through a
// round trip; the difference is how long an idle worker spins before it parks.
void rtt_sn(benchmark::State& state) {
  RttShared shared;
  pool_round_trips<RttWorker>(state, shared, [&] { return std::make_unique<RttWorker>(shared); });
}

// ------------------------------------------------------------------ pool_call

struct Nothing {};

/// pool_rtt/sn's shared part, and why a round failed (set by worker 0, or by worker 1 at
/// start; published by the latch's arrive), empty when fine.
struct CallRttShared : RttShared {
  std::string error;
};
std::string round_failure(const CallRttShared& shared) { return shared.error; }

/// pool_rtt/sn with calls: worker 0 calls worker 1 (WorkerContext::call, no deadline, as
/// CAF's peer asks with `infinite`); worker 1's handle_call answers call_answer(v); worker
/// 0's callback times the round trip, checks the answer and makes the next call,
/// kPoolRoundTrips per round. An external message starts a round.
class CallRttWorker : public RttSides {
 public:
  CallRttWorker(CallRttShared& shared, u64 callee_key) noexcept
      : RttSides(shared), call_shared_(shared), callee_key_(callee_key) {}

  void on_start(RttState& s) {
    RttSides::on_start(s);
    if (context().index() == 1 && !context().owns(callee_key_)) call_shared_.error = "worker 1 does not own the key";
  }

  // Worker 0 only: the external start of a round.
  void handle_message(RttState& s, sn::Envelope<u64>) {
    s.next = 0;
    s.last_tick = ticks();
    call_next(s);
  }

  // Worker 1 only.
  u64 handle_call(RttState&, sn::Envelope<u64> e) { return sn_bench::call_answer(e.payload); }

 private:
  void call_next(RttState& s) {
    context().call<u64>(
        callee_key_, ++s.value, absl::InfiniteDuration(), [this](RttState& st, absl::StatusOr<u64> reply) {
          const u64 now = ticks();
          st.samples[st.next++] = now - st.last_tick;
          st.last_tick = now;
          if (!reply.ok() || *reply != sn_bench::call_answer(st.value)) {
            call_shared_.error =
                reply.ok() ? "wrong reply " + std::to_string(*reply) + " to request " + std::to_string(st.value)
                           : "call failed: " + reply.status().ToString();
            shared_.latch.arrive(1);
          } else if (st.next == kPoolRoundTrips) {
            shared_.latch.arrive(1);
          } else {
            call_next(st);
          }
        });
  }

  CallRttShared& call_shared_;
  u64 callee_key_;
};

// Pinned and waiting as pool_rtt/sn, so that the two rows differ only by call against send.
void call_rtt_sn(benchmark::State& state) {
  CallRttShared shared;
  const u64 callee_key = key_of_worker(1, 2);
  pool_round_trips<CallRttWorker>(state, shared, [&] { return std::make_unique<CallRttWorker>(shared, callee_key); });
}

void call_rtt_caf(benchmark::State& state) {
  std::vector<u64> round_samples(kPoolRoundTrips);
  std::vector<u64> samples;
  try {
    sn_bench::CafCalls caf(2);
    u64 round = 0;
    for (auto _ : state) {
      if (!caf.actor_round_trips(round * kPoolRoundTrips + 1, round_samples, ticks)) {
        state.SkipWithError(
            ("checksum mismatch in round " + std::to_string(round) + ": a wrong reply or an error").c_str());
        break;
      }
      samples.insert(samples.end(), round_samples.begin(), round_samples.end());
      ++round;
    }
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("CAF: ") + e.what()).c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kPoolRoundTrips));
  state.SetLabel("caf scheduler threads=2, not pinned");
  if (!state.error_occurred()) report_latency(state, samples);
}

/// Answers call_answer(v); plain messages are not sent to it.
class AnswerWorker : public sn::Worker<Nothing, u64> {
 public:
  void handle_message(Nothing&, sn::Envelope<u64>) {}
  u64 handle_call(Nothing&, sn::Envelope<u64> e) { return sn_bench::call_answer(e.payload); }
};

/// The external caller of pool_call/external/*: a team member on cpu_for(0) that makes
/// kPoolRoundTrips calls per round through `call(v, samples)` (false: stop, `error` says
/// why); the main thread sleeps meanwhile. The callee runs on cpu_for(1).
template <class Call>
void external_calls(benchmark::State& state, std::string& error, Call call) {
  std::vector<u64> round_samples(kPoolRoundTrips);
  std::vector<u64> samples;
  {
    Team team;
    team.spawn(cpu_for(0), [&](Team::Member& m) {
      m.ready();
      while (m.next()) {
        (void)call(m.round() * kPoolRoundTrips + 1, round_samples);
        m.done();
      }
    });
    if (!team_ready(team, state)) return;
    u64 round = 0;
    for (auto _ : state) {
      team.run_round(round);
      if (!error.empty()) {
        state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + error).c_str());
        break;
      }
      samples.insert(samples.end(), round_samples.begin(), round_samples.end());
      ++round;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kPoolRoundTrips));
  if (!state.error_occurred()) report_latency(state, samples);
}

// The deadline (kStallLimit) makes a lost reply fail the row instead of hanging it; it
// costs the call two clock reads, which CAF's `infinite` peer does not pay.
void external_call_sn(benchmark::State& state) {
  auto made = sn::WorkerPool<AnswerWorker>::create(pinned_pool(1, 1).with_wait_policy(sn::WaitPolicy::low_latency()),
                                                   [](std::size_t) { return std::make_unique<AnswerWorker>(); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<AnswerWorker>& pool = **made;
  const absl::Duration deadline = absl::FromChrono(kStallLimit);
  std::string error;
  external_calls(state, error, [&](u64 first, std::vector<u64>& out) {
    u64 last = ticks();
    for (std::size_t i = 0; i < out.size(); ++i) {
      const u64 v = first + i;
      const absl::StatusOr<u64> reply = pool.call<u64>(v, u64{v}, deadline).get();
      const u64 now = ticks();
      out[i] = now - last;
      last = now;
      if (!reply.ok() || *reply != sn_bench::call_answer(v)) {
        error = reply.ok() ? "wrong reply " + std::to_string(*reply) + " to request " + std::to_string(v)
                           : "call failed: " + reply.status().ToString();
        return false;
      }
    }
    return true;
  });
  shutdown_or_skip(pool, state);
  state.SetLabel(cpu_label(2));
}

void external_call_caf(benchmark::State& state) {
  std::string error;
  try {
    sn_bench::CafCalls caf(1);
    external_calls(state, error, [&](u64 first, std::vector<u64>& out) {
      if (caf.external_calls(first, out, ticks)) return true;
      error = "a wrong reply or an error";
      return false;
    });
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("CAF: ") + e.what()).c_str());
  }
  state.SetLabel("caller cpu=" + std::to_string(cpu_for(0)) + ", caf scheduler threads=1, not pinned");
}

// ------------------------------------------------------------------ ingress

/// A producer end with the harness's try_push, over an sn sender of either kind.
template <sn::ChannelKind K>
struct PushEnd {
  sn::Sender<u64, K> tx;
  bool try_push(u64 v) noexcept { return tx.try_send(std::move(v)) == sn::SendResult::ok; }
};

/// P producers send to one consumer through one MPSC channel (`lanes` = false) or one
/// SPSC channel each (`lanes` = true), which the consumer polls round-robin taking up to
/// kBatch from each, as a worker takes from its inputs.
template <bool kLanes>
void ingress(benchmark::State& state, int producers) {
  const u64 per_producer = kMessages / static_cast<u64>(producers);
  const u64 total = per_producer * static_cast<u64>(producers);
  constexpr sn::ChannelKind kKind = kLanes ? sn::ChannelKind::spsc : sn::ChannelKind::mpsc;
  using Ends = typename sn::Channel<u64>::template EndpointsOf<kKind>;
  std::vector<Ends> channels;
  for (int c = 0; c < (kLanes ? producers : 1); ++c) {
    channels.push_back(sn::Channel<u64>::make<kKind>(kCapacity));
    if (!channels.back().ok()) {
      state.SkipWithError(channels.back().status().ToString().c_str());
      return;
    }
  }
  std::atomic<bool> abort{false};
  ConsumerTally tally;

  Team team;
  for (int p = 0; p < producers; ++p) {
    team.spawn(cpu_for(p), [&, p](Team::Member& m) {
      PushEnd<kKind> tx;
      if constexpr (kLanes) {
        tx.tx = std::move(channels[static_cast<std::size_t>(p)].sender());
      } else {
        tx.tx = channels[0].sender();  // a copy per producer thread, as MPSC senders are used
      }
      Spinner spin(abort);
      m.ready();
      while (m.next()) {
        (void)produce(tx, spin, m.round() * total + static_cast<u64>(p) * per_producer + 1, per_producer);
        m.done();
      }
    });
  }
  team.spawn(cpu_for(producers), [&](Team::Member& m) {
    std::vector<sn::Receiver<u64, kKind>> inputs;
    for (Ends& ends : channels) inputs.push_back(std::move(ends.receiver()));
    Spinner spin(abort);
    m.ready();
    while (m.next()) {
      u64 count = 0, sum = 0;
      while (count < total) {
        u64 taken = 0;
        for (auto& rx : inputs) taken += rx.consume(kBatch, [&](u64&& v) { sum += v; }).count;
        count += taken;
        if (taken != 0) {
          spin.reset();
        } else if (!spin.spin()) {
          break;
        }
      }
      tally.count = count;
      tally.sum = sum;
      m.done();
    }
  });
  if (!team_ready(team, state)) return;

  u64 round = 0;
  for (auto _ : state) {
    team.run_round(round);
    const u64 expected_sum = round * total * total + total * (total + 1) / 2;
    if (abort.load() || tally.count != total || tally.sum != expected_sum) {
      state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": received " +
                           std::to_string(tally.count) + " of " + std::to_string(total) + " values, sum " +
                           std::to_string(tally.sum) + " (expected " + std::to_string(expected_sum) + ")" +
                           (abort.load() ? ", stalled" : ""))
                              .c_str());
      break;
    }
    ++round;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(total));
  state.SetLabel(cpu_label(producers + 1));
}

// ------------------------------------------------------------------ registration

void register_all() {
  const int cpus = usable_cpus();
  auto add = [](const std::string& name, std::function<void(benchmark::State&)> fn) {
    return benchmark::RegisterBenchmark(name.c_str(), std::move(fn))->UseRealTime()->Unit(benchmark::kMillisecond);
  };

  for (int n : {1, 2, 4, 8}) {
    if (n > 1 && 2 * n > cpus) break;
    add("pool_keyed/" + shape(n, n) + "/sn", [n](benchmark::State& s) { keyed_sn<true>(s, n, n); });
    add("pool_keyed/" + shape(n, n) + "/sn_per_message", [n](benchmark::State& s) { keyed_sn<false>(s, n, n); });
    add("pool_keyed/" + shape(n, n) + "/sn_variant",
        [n](benchmark::State& s) { keyed_sn<false, false, std::variant<u64, Flush>>(s, n, n); });
    add("pool_keyed/" + shape(n, n) + "/sn_consistent", [n](benchmark::State& s) { keyed_sn<true, true>(s, n, n); });
    add("pool_keyed/" + shape(n, n) + "/caf", [n](benchmark::State& s) { keyed_caf(s, n, n); });
  }
  for (int w : {2, 4, 8}) {
    if (w > 2 && w > cpus) break;
    add("pool_mesh/" + std::to_string(w) + "/sn", [w](benchmark::State& s) { mesh_sn(s, w); });
  }
  add("pool_rtt/sn", rtt_sn);
  add("pool_rtt/cacheline", round_trip_cacheline);
  add("pool_call_rtt/sn", call_rtt_sn);
  add("pool_call_rtt/caf", call_rtt_caf);
  add("pool_call/external/sn", external_call_sn);
  add("pool_call/external/caf", external_call_caf);
  register_pool_idle();
  register_pool_colocated();
  register_pool_burst();
  for (int p : {1, 2, 4, 8}) {
    if (p > 1 && p + 1 > cpus) break;
    add("ingress/" + shape(p, 1) + "/inbox", [p](benchmark::State& s) { ingress<false>(s, p); });
    add("ingress/" + shape(p, 1) + "/lanes", [p](benchmark::State& s) { ingress<true>(s, p); });
  }
}

void add_context() {
  add_machine_context();
  benchmark::AddCustomContext("keys", std::to_string(kKeys));
  benchmark::AddCustomContext("keyed_messages_per_iteration", std::to_string(kKeyedMessages));
  benchmark::AddCustomContext("mesh_messages_per_iteration", std::to_string(kMeshMessages));
  benchmark::AddCustomContext("pool_round_trips_per_iteration", std::to_string(kPoolRoundTrips));
  benchmark::AddCustomContext("floor_round_trips_per_iteration", std::to_string(kRoundTrips));
  benchmark::AddCustomContext("caf", "0.17 (Debian libcaf-dev), stealing scheduler");
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  return snbench::run_benchmarks(argc, argv, snbench::add_context, snbench::register_all);
}
