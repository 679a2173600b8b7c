// message_passing: sn channels against boost.lockfree, moodycamel::ConcurrentQueue and
// oneTBB's concurrent_bounded_queue, through one harness (harness.h) so that every queue
// runs the very same loops. Capacity 1024 everywhere, std::uint64_t payload.
//
// Cases (name = <scenario>/<producers>x<consumers>/<impl>; Google Benchmark appends
// "/real_time" because every case is timed by wall clock):
//   spsc/1x1/*         one value per try_push / try_pop.
//   spsc_batch/1x1/*   batches of 64 values (kBatch) per call: sn send_batch/recv_batch,
//                      boost spsc_queue push(array, n)/pop(array, n), moodycamel
//                      try_enqueue_bulk/try_dequeue_bulk. (oneTBB has no batch call.)
//   mpsc/Px1/*         P producers, one consumer.
//   mpmc/PxC/*         P producers, C consumers.
//   */moodycamel_unbounded  reference only: moodycamel with allocating enqueue, so it
//                      is not bounded at 1024 like the others (see adapters.h).
//   rtt/*              ping-pong between two threads through two SPSC queues; p50/p99
//                      of the round trip as counters. rtt/cacheline is the hardware
//                      floor: one cache line bounced between the same two threads.
// Throughput cases move kMessages values per iteration; items_per_second is values/s.
// P and C take the values 1, 2, 4, 8, ... with P + C at most the number of CPUs this
// process may use; 1x1 is always registered. Each thread is pinned to its own CPU
// (one per physical core first), producers first. Every consumed value is summed and
// checked against the expected count and sum; a mismatch fails the case.
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <oneapi/tbb/version.h>
#include <boost/version.hpp>

#include "adapters.h"
#include "harness.h"

namespace snbench {
namespace {

std::string case_name(const char* scenario, int producers, int consumers, const char* impl) {
  return std::string(scenario) + "/" + std::to_string(producers) + "x" + std::to_string(consumers) + "/" + impl;
}

template <class Q, Mode M>
void add_throughput(const char* scenario, int producers, int consumers, const char* impl) {
  benchmark::RegisterBenchmark(
      case_name(scenario, producers, consumers, impl).c_str(),
      [producers, consumers](benchmark::State& state) { throughput<Q, M>(state, producers, consumers); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

/// 1, 2, 4, ... up to `limit`.
std::vector<int> powers_of_two(int limit) {
  std::vector<int> v;
  for (int n = 1; n <= limit; n *= 2) v.push_back(n);
  return v;
}

void register_all() {
  const int cpus = usable_cpus();

  add_throughput<SnSpsc, Mode::single>("spsc", 1, 1, "sn");
  add_throughput<BoostSpsc, Mode::single>("spsc", 1, 1, "boost_lockfree");
  add_throughput<Moodycamel, Mode::single>("spsc", 1, 1, "moodycamel");
  add_throughput<Tbb, Mode::single>("spsc", 1, 1, "tbb");
  add_throughput<MoodycamelUnbounded, Mode::single>("spsc", 1, 1, "moodycamel_unbounded");

  add_throughput<SnSpsc, Mode::batch>("spsc_batch", 1, 1, "sn");
  add_throughput<BoostSpsc, Mode::batch>("spsc_batch", 1, 1, "boost_lockfree_batch");
  add_throughput<Moodycamel, Mode::batch>("spsc_batch", 1, 1, "moodycamel");
  add_throughput<MoodycamelUnbounded, Mode::batch>("spsc_batch", 1, 1, "moodycamel_unbounded");

  for (int p : powers_of_two(cpus)) {
    if (p > 1 && p + 1 > cpus) break;
    add_throughput<SnMpsc, Mode::single>("mpsc", p, 1, "sn");
    add_throughput<BoostQueue, Mode::single>("mpsc", p, 1, "boost_lockfree");
    add_throughput<Moodycamel, Mode::single>("mpsc", p, 1, "moodycamel");
    add_throughput<Tbb, Mode::single>("mpsc", p, 1, "tbb");
    add_throughput<MoodycamelUnbounded, Mode::single>("mpsc", p, 1, "moodycamel_unbounded");
  }

  for (int p : powers_of_two(cpus)) {
    for (int c : powers_of_two(cpus)) {
      if ((p > 1 || c > 1) && p + c > cpus) continue;
      add_throughput<SnMpmc, Mode::single>("mpmc", p, c, "sn");
      add_throughput<BoostQueue, Mode::single>("mpmc", p, c, "boost_lockfree");
      add_throughput<Moodycamel, Mode::single>("mpmc", p, c, "moodycamel");
      add_throughput<Tbb, Mode::single>("mpmc", p, c, "tbb");
      add_throughput<MoodycamelUnbounded, Mode::single>("mpmc", p, c, "moodycamel_unbounded");
    }
  }

  auto rtt = [](const char* impl, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark((std::string("rtt/") + impl).c_str(), fn)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  };
  rtt("sn", &round_trip<SnSpsc>);
  rtt("boost_lockfree", &round_trip<BoostSpsc>);
  rtt("moodycamel", &round_trip<Moodycamel>);
  rtt("tbb", &round_trip<Tbb>);
  rtt("cacheline", &round_trip_cacheline);
}

void add_context() {
  add_machine_context();
  benchmark::AddCustomContext("capacity", std::to_string(kCapacity));
  benchmark::AddCustomContext("batch", std::to_string(kBatch));
  benchmark::AddCustomContext("messages_per_iteration", std::to_string(kMessages));
  benchmark::AddCustomContext("round_trips_per_iteration", std::to_string(kRoundTrips));
  benchmark::AddCustomContext("boost", BOOST_LIB_VERSION);
  benchmark::AddCustomContext("tbb", TBB_VERSION_STRING);
  benchmark::AddCustomContext("moodycamel", "ConcurrentQueue (Debian libconcurrentqueue-dev)");
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  return snbench::run_benchmarks(argc, argv, snbench::add_context, snbench::register_all);
}
