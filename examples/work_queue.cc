// Work queue: an MPMC channel shared by several consumers, for load balancing.
//
// Two producers submit jobs of very uneven cost (most are tiny, one in a hundred is a
// few hundred times bigger) into one bounded MPMC channel; four consumers take jobs from
// it one at a time. Consumer 0 is handicapped: each unit of work takes it 4 times as
// long, as if it shared its core with something else. Nobody tells the queue: a consumer
// busy with a big job, or a slow one, simply takes its next job later, while the others
// keep draining the queue. So the work spreads by itself in proportion to speed, where
// dealing the jobs out in advance (a quarter each) would make everyone wait for the
// slowest consumer.
//
// What it shows:
//   - MpmcSender and MpmcReceiver copies, one per thread;
//   - why consumers take one job at a time here: a batch would hoard jobs that an idle
//     consumer could have taken (batching pays off for cheap, uniform messages, as in
//     the pipeline example, not for uneven work);
//   - shutting down: main joins the producers and closes the queue; consumers finish
//     the jobs still queued, then see `closed`;
//   - verification, with nothing shared between consumers but the queue: each consumer
//     records the ids it ran; afterwards every job must have run exactly once, with the
//     cost it was submitted with, and each consumer must have seen each producer's jobs
//     in submission order (MPMC is FIFO per producer, as seen by each consumer).
//
// Usage: work_queue [--jobs=N]     default 2,000,000 (a few seconds); the ctest uses 5,000.
// Exit code 0 only if every check passes. The balance table depends on scheduling and
// is for reading only; no check depends on timing.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "sn/sn.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, jobs, 2'000'000, "jobs to submit, 1..2^32");

namespace {

using sn::examples::mix64;

constexpr int kProducers = 2;
constexpr int kConsumers = 4;
constexpr std::size_t kQueueCapacity = 1024;
constexpr int kRoundsPerUnit = 32;  // hash rounds in one unit of work (tens of nanoseconds)
constexpr int kSlowConsumer = 0;    // this consumer does each unit of work...
constexpr int kSlowdown = 4;        // ...this many times over

struct Job {
  std::uint64_t id = 0;
  std::uint32_t cost = 0;      // units of work
  std::uint16_t producer = 0;  // who submitted it (for the ordering check)
};

// The cost of job `id`, deterministic: 90% cost 1-4 units, 9% cost 16-63, 1% cost 256-1023.
std::uint32_t cost_of(std::uint64_t id) noexcept {
  const std::uint64_t h = mix64(id);
  const std::uint64_t bucket = h % 100, r = h >> 32;
  if (bucket < 90) return static_cast<std::uint32_t>(1 + r % 4);
  if (bucket < 99) return static_cast<std::uint32_t>(16 + r % 48);
  return static_cast<std::uint32_t>(256 + r % 768);
}

// The "work": a chain of hash rounds, proportional to the cost. Returns a digest so the
// compiler cannot skip it.
std::uint64_t run(const Job& job, int slowdown) noexcept {
  std::uint64_t x = job.id;
  const std::uint64_t rounds = std::uint64_t{job.cost} * kRoundsPerUnit * static_cast<std::uint64_t>(slowdown);
  for (std::uint64_t i = 0; i < rounds; ++i) x = mix64(x);
  return x;
}

// ---------------------------------------------------------------------------------------
// Producers: producer p submits jobs p, p + kProducers, p + 2 * kProducers, ...

struct ProducerResult {
  std::uint64_t submitted = 0;
  std::uint64_t units = 0;
  sn::examples::Stopwatch clock;
};

void produce(std::uint16_t p, std::uint64_t jobs, sn::MpmcSender<Job> tx, ProducerResult& result) {
  for (std::uint64_t id = p; id < jobs; id += kProducers) {
    const Job job{.id = id, .cost = cost_of(id), .producer = p};
    // send() waits while the queue is full: consumers set the pace (backpressure).
    if (tx.send(Job(job)) != sn::SendResult::ok) break;  // closed: nobody will run it
    ++result.submitted;
    result.units += job.cost;
  }
  result.clock.stop();
}

// ---------------------------------------------------------------------------------------
// Consumers.

struct ConsumerResult {
  std::vector<std::uint64_t> ids;  // every job this consumer ran, in the order it ran them
  std::uint64_t units = 0;
  std::uint64_t wrong_cost = 0;    // jobs whose cost was not the one submitted
  std::uint64_t out_of_order = 0;  // jobs from a producer that came before an earlier one
  std::uint64_t digest = 0;        // XOR of the jobs' results
  sn::examples::Stopwatch clock;
};

void consume(sn::MpmcReceiver<Job> rx, int slowdown, ConsumerResult& result) {
  std::array<std::uint64_t, kProducers> next_id{};  // per producer: ids must keep growing
  for (std::size_t p = 0; p < next_id.size(); ++p) next_id[p] = p;
  Job job;
  // One job at a time: recv waits while the queue is empty and returns `closed` once
  // main has closed it and every queued job has been taken.
  while (rx.recv(job) == sn::RecvResult::ok) {
    result.digest ^= run(job, slowdown);
    result.units += job.cost;
    result.ids.push_back(job.id);
    if (job.cost != cost_of(job.id)) ++result.wrong_cost;
    if (job.producer >= kProducers || job.id < next_id[job.producer]) {
      ++result.out_of_order;
    } else {
      next_id[job.producer] = job.id + kProducers;
    }
  }
  result.clock.stop();
}

// ---------------------------------------------------------------------------------------
// Results.

using Produced = std::array<ProducerResult, kProducers>;
using Consumed = std::array<ConsumerResult, kConsumers>;

struct Totals {
  std::uint64_t submitted = 0, units_submitted = 0;  // by the producers
  std::uint64_t ran = 0, units_ran = 0;              // by the consumers
};

// Prints each thread's rate and adds up what they did.
Totals print_rates(const Produced& produced, const Consumed& consumed) {
  Totals t;
  for (int p = 0; p < kProducers; ++p) {
    sn::examples::print_rate("producer " + std::to_string(p), produced[p].submitted, "jobs",
                             produced[p].clock.seconds());
    t.submitted += produced[p].submitted;
    t.units_submitted += produced[p].units;
  }
  for (int c = 0; c < kConsumers; ++c) {
    sn::examples::print_rate("consumer " + std::to_string(c), consumed[c].ids.size(), "jobs",
                             consumed[c].clock.seconds());
    t.ran += consumed[c].ids.size();
    t.units_ran += consumed[c].units;
  }
  return t;
}

// The balance: jobs and work units each consumer took from the shared queue.
void print_balance(const Consumed& consumed, std::uint64_t units_ran) {
  std::printf("\n  %-10s %7s %12s %14s %7s\n", "consumer", "speed", "jobs", "work units", "share");
  for (int c = 0; c < kConsumers; ++c) {
    const double share =
        units_ran ? 100.0 * static_cast<double>(consumed[c].units) / static_cast<double>(units_ran) : 0.0;
    const std::string speed = c == kSlowConsumer ? "1/" + std::to_string(kSlowdown) : "1";
    std::printf("  %-10d %7s %12s %14s %6.1f%%\n", c, speed.c_str(),
                sn::examples::grouped(consumed[c].ids.size()).c_str(), sn::examples::grouped(consumed[c].units).c_str(),
                share);
  }
  std::printf("  (dealt out in advance, each would get %.1f%% and all would wait for the slowest)\n",
              100.0 / kConsumers);
}

// Every job submitted ran exactly once, with its cost, in its producer's order; returns
// the exit status.
int check_results(std::uint64_t jobs, const Totals& t, const Consumed& consumed) {
  // Exactly once: count how often each id was run.
  std::vector<std::uint8_t> runs(jobs, 0);
  std::uint64_t unknown = 0, wrong_cost = 0, out_of_order = 0;
  for (const ConsumerResult& c : consumed) {
    for (std::uint64_t id : c.ids) {
      if (id >= jobs) {
        ++unknown;
      } else if (runs[id] < 255) {
        ++runs[id];
      }
    }
    wrong_cost += c.wrong_cost;
    out_of_order += c.out_of_order;
  }
  const auto never = static_cast<std::uint64_t>(std::count(runs.begin(), runs.end(), 0));
  const auto twice =
      static_cast<std::uint64_t>(std::count_if(runs.begin(), runs.end(), [](std::uint8_t n) { return n > 1; }));

  sn::examples::Checks check;
  check.expect(t.submitted == jobs, "producers submitted %llu of %llu jobs",
               static_cast<unsigned long long>(t.submitted), static_cast<unsigned long long>(jobs));
  check.expect(t.ran == t.submitted, "consumers ran %llu of the %llu jobs submitted",
               static_cast<unsigned long long>(t.ran), static_cast<unsigned long long>(t.submitted));
  check.expect(never == 0, "%llu jobs never ran", static_cast<unsigned long long>(never));
  check.expect(twice == 0, "%llu jobs ran more than once", static_cast<unsigned long long>(twice));
  check.expect(unknown == 0, "%llu jobs had ids nobody submitted", static_cast<unsigned long long>(unknown));
  check.expect(wrong_cost == 0, "%llu jobs arrived with the wrong cost", static_cast<unsigned long long>(wrong_cost));
  check.expect(t.units_ran == t.units_submitted, "consumers did %llu work units, producers submitted %llu",
               static_cast<unsigned long long>(t.units_ran), static_cast<unsigned long long>(t.units_submitted));
  check.expect(out_of_order == 0, "%llu jobs reached a consumer before an earlier job of their producer",
               static_cast<unsigned long long>(out_of_order));
  return check.finish();
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t jobs = 0;
  if (!sn::examples::parse_flags(argc, argv,
                                 "balances jobs of uneven cost across consumers through one MPMC queue, and checks "
                                 "that each job ran exactly once") ||
      !sn::examples::read_flag(FLAGS_jobs, 1, std::uint64_t{1} << 32, jobs)) {
    return sn::examples::kUsageError;
  }

  auto queue = sn::Channel<Job>::mpmc(kQueueCapacity);
  if (!queue.ok()) {
    std::fprintf(stderr, "cannot create the queue: %s\n", queue.status().ToString().c_str());
    return 2;
  }
  // main keeps one sender (to close the queue) and one receiver (to read its stats);
  // every thread gets its own copy.
  sn::MpmcSender<Job>& tx = queue.sender();
  sn::MpmcReceiver<Job>& rx = queue.receiver();

  std::printf("work_queue: %s jobs from %d producers, run by %d consumers\n", sn::examples::grouped(jobs).c_str(),
              kProducers, kConsumers);

  Produced produced;
  Consumed consumed;
  std::vector<std::thread> producers, consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back(consume, rx, c == kSlowConsumer ? kSlowdown : 1,  // `rx` is copied
                           std::ref(consumed[c]));
  }
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back(produce, static_cast<std::uint16_t>(p), jobs, tx,  // `tx` is copied
                           std::ref(produced[p]));
  }
  for (std::thread& t : producers) t.join();
  tx.close();  // no more jobs: consumers finish what is queued, then see `closed`
  for (std::thread& t : consumers) t.join();

  const Totals totals = print_rates(produced, consumed);
  print_balance(consumed, totals.units_ran);
  sn::examples::print_channel_table({{"jobs (mpmc)", rx.stats()}});
  return check_results(jobs, totals, consumed);
}
