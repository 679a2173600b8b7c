// pool_burst: one worker sends far more than its lane holds, from one handler call.
//
//   pool_burst/sn    a 2-worker pool (pinned_pool(2, 0), the default wait policy and
//                    mesh capacity, 256). An external message starts worker 0's handler,
//                    which sends kBurst increments 1, 2, ..., kBurst keyed to worker 1
//                    (WorkerContext::send with a key worker 1 owns), then the question for
//                    the total through the same lane. Worker 1 adds the increments up,
//                    checking that each is the previous one plus 1, and answers worker 0
//                    with a message; worker 0 hands the answer to the main thread. All but
//                    256 of the increments pass through worker 0's outbox (FullPolicy::block:
//                    a worker never waits). Counter outbox_peak_bytes: the most memory
//                    worker 0's outbox held (WorkerStats::outbox_peak_bytes).
//   pool_burst/sn_lane_fits  the same with lanes of kBurst + 1 slots, so that nothing
//                    spills: the lane's own throughput, what pool_burst/sn aims at.
//   pool_burst/caf   the same through CAF: an event-based actor sends the increments to
//                    another (send(counter, i)) in one handler call, then
//                    request(counter, infinite, total); 2 scheduler threads, not pinned.
//
// The question travels as a message, not a call (WorkerContext::call): calls travel outside
// the lanes, so a call could overtake the increments still in the outbox. CAF keeps one
// sender's messages in order, so its request comes after the increments.
//
// Both fail (SkipWithError) unless the answer is kBurst * (kBurst + 1) / 2 with every
// increment in order; items_per_second counts the increments.

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>

#include "caf_peer.h"
#include "harness.h"
#include "sn/worker_pool.h"
#include "worker_pool.h"

namespace snbench {
namespace {

/// Increments per burst.
constexpr u64 kBurst = 1'000'000;
/// What the counter answers when every increment arrived once and in order.
constexpr u64 kBurstTotal = kBurst * (kBurst + 1) / 2;
/// The question for the total; increments start at 1.
constexpr u64 kAskTotal = 0;

/// What the workers hand the main thread, published by the latch.
struct BurstShared {
  RoundLatch latch;
  u64 answer = 0;
  std::string error;  // set by worker 0 (a refused send) or worker 1 (at start)
};

struct BurstState {
  u64 total = 0;
  u64 last = 0;  // the previous increment
  bool in_order = true;
};

/// Worker 0 sends the burst; worker 1 counts it and answers the total.
class BurstWorker : public sn::Worker<BurstState, u64> {
 public:
  BurstWorker(BurstShared& shared, u64 counter_key) noexcept : shared_(shared), counter_key_(counter_key) {}

  void on_start(BurstState&) {
    if (context().index() == 1 && !context().owns(counter_key_)) shared_.error = "worker 1 does not own the key";
  }

  void handle_message(BurstState& s, sn::Envelope<u64> e) {
    if (context().index() == 1) return count(s, e.payload);
    if (e.source.is_external()) return burst();
    shared_.answer = e.payload;
    shared_.latch.arrive(1);
  }

 private:
  void burst() {
    bool accepted = true;
    for (u64 i = 1; i <= kBurst; ++i) accepted &= context().send(counter_key_, u64{i}) == sn::SendResult::ok;
    accepted &= context().send(counter_key_, u64{kAskTotal}) == sn::SendResult::ok;
    if (!accepted) {
      shared_.error = "a send was refused";
      shared_.latch.arrive(1);
    }
  }

  void count(BurstState& s, u64 v) {
    if (v != kAskTotal) {
      s.in_order = s.in_order && v == s.last + 1;
      s.last = v;
      s.total += v;
      return;
    }
    const u64 answer = s.in_order ? s.total : 0;  // 0: out of order, a wrong total
    s = BurstState{};
    if (context().send_to(0, u64{answer}) != sn::SendResult::ok) shared_.error = "the answer was refused";
  }

  BurstShared& shared_;
  u64 counter_key_;
};

/// Why a round failed, or empty.
std::string burst_failure(bool done, u64 answer, const std::string& error) {
  if (!error.empty()) return error;
  if (!done) return "stalled";
  if (answer != kBurstTotal) return "total " + std::to_string(answer) + ", expected " + std::to_string(kBurstTotal);
  return "";
}

/// `mesh_capacity`: 0 for the pool's default lanes, or lanes the burst fits in.
void burst_sn(benchmark::State& state, std::size_t mesh_capacity) {
  BurstShared shared;
  const u64 counter_key = key_of_worker(1, 2);
  sn::PoolConfig config = pinned_pool(2, 0);
  if (mesh_capacity != 0) config.with_mesh_capacity(mesh_capacity);
  auto made = sn::WorkerPool<BurstWorker>::create(
      config, [&](std::size_t) { return std::make_unique<BurstWorker>(shared, counter_key); });
  if (!made.ok()) {
    state.SkipWithError(("pool: " + made.status().ToString()).c_str());
    return;
  }
  sn::WorkerPool<BurstWorker>& pool = **made;
  u64 round = 0;
  for (auto _ : state) {
    shared.latch.reset();
    shared.answer = 0;
    const bool done = pool.send_to(0, u64{0}) == sn::SendResult::ok && shared.latch.wait(1);
    if (const std::string why = burst_failure(done, shared.answer, shared.error); !why.empty()) {
      state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + why).c_str());
      break;
    }
    ++round;
  }
  const sn::PoolStats stats = pool.stats();
  shutdown_or_skip(pool, state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kBurst));
  state.SetLabel(cpu_label(2));
  state.counters["parks"] = static_cast<double>(stats.parks);
  state.counters["outbox_peak_bytes"] = static_cast<double>(stats.workers[0].outbox_peak_bytes);
}

void burst_caf(benchmark::State& state) {
  try {
    sn_bench::CafBurst caf(2);
    u64 round = 0;
    for (auto _ : state) {
      const u64 answer = caf.run(kBurst);
      if (const std::string why = burst_failure(true, answer, ""); !why.empty()) {
        state.SkipWithError(("checksum mismatch in round " + std::to_string(round) + ": " + why).c_str());
        break;
      }
      ++round;
    }
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("CAF: ") + e.what()).c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kBurst));
  state.SetLabel("caf scheduler threads=2, not pinned");
}

}  // namespace

void register_pool_burst() {
  auto add = [](const char* name, auto fn) {
    benchmark::RegisterBenchmark(name, fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  add("pool_burst/sn", [](benchmark::State& s) { burst_sn(s, 0); });
  add("pool_burst/sn_lane_fits", [](benchmark::State& s) { burst_sn(s, std::size_t{kBurst} + 1); });
  add("pool_burst/caf", burst_caf);
  benchmark::AddCustomContext("burst_messages_per_iteration", std::to_string(kBurst));
}

}  // namespace snbench
