// Fault injection in pools: handlers that throw or return errors at random rates, a
// worker that stalls while producers push, shutdown() and stop() under full load,
// destruction with messages still queued, and restarts whose init() fails now and then.
// Each scenario runs over the fault and full policies that apply, with 2-3 producers
// and 2 workers, randomized from a fixed seed that the test records (and prints on a
// failure). Every scenario checks the accounting exactly:
//   - accepted == processed + failed + dropped once shutdown() or stop() has returned;
//   - the handlers' own counts of handled and failed messages equal processed and failed;
//   - every send that was refused left its value with the caller and counts as rejected,
//     and every attempt is either accepted or rejected;
//   - every message object made was destroyed, exactly once, when the pool is gone, and
//     each body died as what the stats say it was (processed, failed, dropped, returned);
//     the pools have a dead-letter sink, and every dropped body went through it.
// No assertion depends on time: waits are on progress, and a hang fails the test.
// Each test prints a "[ figures  ]" line; docs/reliability.md quotes a Release run.
#include <atomic>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

// ---------------------------------------------------------------- randomness

/// The base seed; SN_FAULT_SEED=<n> in the environment replaces it (to reproduce a run).
std::uint64_t base_seed() {
  if (const char* s = std::getenv("SN_FAULT_SEED"); s != nullptr && *s != '\0') return std::strtoull(s, nullptr, 0);
  return 0x5eed'2026'0006ULL;
}

/// A stable mix of (seed, x): which messages fail is a function of the seed and the
/// message id alone, whatever the thread interleaving.
std::uint64_t roll(std::uint64_t seed, std::uint64_t x) { return stable_hash(seed ^ stable_hash(x)); }

/// The seed of one test: the base seed mixed with the test's full name, recorded in the
/// test's XML properties and printed with every failure.
std::uint64_t test_seed() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::uint64_t seed =
      roll(base_seed(), stable_hash_bytes(std::string(info->test_suite_name()) + "." + info->name()));
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

// ---------------------------------------------------------------- messages

/// What the handler does with a message.
enum class Fate : std::uint8_t { ok, throws, fails };
/// How a message's body ended: the category its destructor counts it in. `unhandled`:
/// destroyed by the pool, unseen; `dead_letter`: passed to the pool's dead-letter sink.
enum class Outcome : std::uint8_t { unhandled, processed, failed, returned, dead_letter };
constexpr int kOutcomes = 5;

/// Every message body and message object alive, and how the bodies died. Tests take a
/// baseline at the start and compare once their pool is gone.
struct Census {
  std::atomic<long> bodies_live{0};
  std::atomic<long> messages_live{0};
  std::atomic<std::uint64_t> died[kOutcomes] = {};  // [Outcome]
};
Census g_census;

/// A message's heap-allocated payload, with a text longer than any small-string buffer.
struct Body {
  std::uint64_t id;
  Fate fate;
  std::uint32_t hops;  // forwards still to make
  Outcome outcome = Outcome::unhandled;
  std::string text;

  Body(std::uint64_t i, Fate f, std::uint32_t h)
      : id(i), fate(f), hops(h), text(absl::StrCat("message ", i, " carries a heap-allocated text beyond SSO")) {
    g_census.bodies_live.fetch_add(1, std::memory_order_relaxed);
  }
  Body(const Body&) = delete;
  Body& operator=(const Body&) = delete;
  ~Body() {
    g_census.bodies_live.fetch_sub(1, std::memory_order_relaxed);
    g_census.died[static_cast<int>(outcome)].fetch_add(1, std::memory_order_relaxed);
  }
};

/// The message type: owns its body; a moved-from message is empty.
struct Msg {
  std::unique_ptr<Body> body;

  Msg() noexcept { born(); }
  Msg(std::uint64_t id, Fate fate, std::uint32_t hops) : body(std::make_unique<Body>(id, fate, hops)) { born(); }
  Msg(Msg&& o) noexcept : body(std::move(o.body)) { born(); }
  Msg& operator=(Msg&& o) noexcept {
    body = std::move(o.body);
    return *this;
  }
  ~Msg() { g_census.messages_live.fetch_sub(1, std::memory_order_relaxed); }

 private:
  static void born() noexcept { g_census.messages_live.fetch_add(1, std::memory_order_relaxed); }
};

/// The fate of message `id` when `permille` of them fail: half throw, half return an error.
Fate fate_for(std::uint64_t seed, std::uint64_t id, std::uint32_t permille) {
  const std::uint64_t r = roll(seed, id) % 1000;
  if (r >= permille) return Fate::ok;
  return (r & 1) != 0 ? Fate::throws : Fate::fails;
}

constexpr std::uint64_t kForwarded = std::uint64_t{1} << 39;  // id bit of a forwarded copy
constexpr std::uint64_t kOnStop = std::uint64_t{1} << 38;     // id bit of a send from on_stop
constexpr std::uint32_t kForwardPermille = 200;               // external messages that make one hop

// ---------------------------------------------------------------- the worker

/// What one test sets up and what its workers count; atomics, because several workers
/// write them and the test polls some while the pool runs.
struct Probe {
  std::uint64_t seed = 0;
  std::uint32_t fault_permille = 0;
  std::uint32_t init_fail_permille = 0;  // of the init() calls after the first, per worker
  bool init_throws = false;
  Gate* stall = nullptr;  // worker 0 waits here in its first message
  std::atomic<bool> stall_armed{false};

  std::atomic<std::uint64_t> processed{0}, thrown{0}, errors{0};
  std::atomic<std::uint64_t> init_calls{0}, init_failures{0};
  std::atomic<std::uint64_t> worker_pushed{0}, worker_ok{0}, worker_dropped{0}, worker_rejected{0};
  std::atomic<std::uint64_t> values_lost{0};  // a refused send whose value was gone
  std::atomic<std::uint64_t> values_kept{0};  // a dropped send whose value was still there

  std::uint64_t handled() const { return processed.load() + thrown.load() + errors.load(); }
  std::uint64_t faults() const { return thrown.load() + errors.load() + init_failures.load(); }
};

struct ChaosState {
  std::string label;  // non-trivial, on the worker's heap with the State
  std::uint64_t handled = 0;
};

struct Chaos : Worker<ChaosState, Msg> {
  explicit Chaos(Probe* probe) : probe_(probe) {}

  absl::StatusOr<ChaosState> init() {
    const std::uint64_t k = inits_++;
    probe_->init_calls.fetch_add(1);
    const std::uint64_t r = roll(probe_->seed, (std::uint64_t{context().index()} << 48) ^ k) % 1000;
    if (k > 0 && r < probe_->init_fail_permille) {
      probe_->init_failures.fetch_add(1);
      if (probe_->init_throws) throw std::runtime_error("injected: init() threw");
      return absl::UnavailableError("injected: init() failed");
    }
    return ChaosState{absl::StrCat("worker ", context().index(), " state, build ", k), 0};
  }

  absl::Status handle_message(ChaosState& s, Envelope<Msg> e) {
    Body& b = *e.payload.body;
    if (probe_->stall != nullptr && context().index() == 0 && probe_->stall_armed.exchange(false)) {
      probe_->stall->wait();
    }
    ++s.handled;
    if (b.hops > 0) {
      const std::uint64_t id = b.id | kForwarded;
      send(b.id + 1, Msg(id, fate_for(probe_->seed, id, probe_->fault_permille), b.hops - 1));
    }
    switch (b.fate) {
      case Fate::ok:
        b.outcome = Outcome::processed;
        probe_->processed.fetch_add(1);
        return absl::OkStatus();
      case Fate::throws:
        b.outcome = Outcome::failed;
        probe_->thrown.fetch_add(1);
        throw std::runtime_error("injected: the handler threw");
      case Fate::fails:
        b.outcome = Outcome::failed;
        probe_->errors.fetch_add(1);
        return absl::DataLossError("injected: the handler failed");
    }
    return absl::OkStatus();
  }

  // Sends from on_stop are refused with `closed`, and the value stays here.
  void on_stop(ChaosState&) { send(context().index(), Msg(kOnStop | context().index(), Fate::ok, 0)); }

 private:
  void send(std::uint64_t key, Msg m) {
    probe_->worker_pushed.fetch_add(1);
    const SendResult r = context().send(key, std::move(m));
    switch (r) {
      case SendResult::ok: probe_->worker_ok.fetch_add(1); return;
      case SendResult::dropped:
        probe_->worker_dropped.fetch_add(1);
        if (m.body != nullptr) probe_->values_kept.fetch_add(1);
        return;
      default:
        probe_->worker_rejected.fetch_add(1);
        if (m.body == nullptr) {
          probe_->values_lost.fetch_add(1);
        } else {
          m.body->outcome = Outcome::returned;
        }
        return;
    }
  }

  Probe* probe_;
  std::uint64_t inits_ = 0;
};

using Pool = WorkerPool<Chaos>;

// ---------------------------------------------------------------- producers

/// What one producer did; written by its thread only, read after join.
struct Sent {
  std::uint64_t pushed = 0, ok = 0, dropped = 0, full = 0, closed = 0, other = 0;
  std::uint64_t values_lost = 0, values_kept = 0;
  std::uint64_t rejected() const { return full + closed + other; }
  Sent& operator+=(const Sent& o) {
    pushed += o.pushed, ok += o.ok, dropped += o.dropped, full += o.full, closed += o.closed, other += o.other;
    values_lost += o.values_lost, values_kept += o.values_kept;
    return *this;
  }
};

/// Producer `p` sends up to `count` messages, keyed by their ids, and stops at the first
/// `closed` (the pool is stopping). A refused message is destroyed here, as returned.
Sent produce(Pool& pool, const Probe& probe, int p, std::uint64_t count) {
  Sent sent;
  const std::uint64_t tag = static_cast<std::uint64_t>(p + 1) << 40;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t id = tag | i;
    const std::uint32_t hops = roll(probe.seed ^ 0x40b5, id) % 1000 < kForwardPermille ? 1 : 0;
    Msg m(id, fate_for(probe.seed, id, probe.fault_permille), hops);
    ++sent.pushed;
    const SendResult r = pool.send(id, std::move(m));
    switch (r) {
      case SendResult::ok: ++sent.ok; continue;
      case SendResult::dropped:
        ++sent.dropped;
        if (m.body != nullptr) ++sent.values_kept;
        std::this_thread::yield();  // a full queue: let the workers catch up a little
        continue;
      case SendResult::full:
        ++sent.full;
        std::this_thread::yield();
        break;
      case SendResult::closed: ++sent.closed; break;
      default: ++sent.other; break;
    }
    if (m.body == nullptr) {
      ++sent.values_lost;
    } else {
      m.body->outcome = Outcome::returned;
    }
    if (r == SendResult::closed) break;
  }
  return sent;
}

/// `producers` threads running produce() from one start gate.
class Producers {
 public:
  Producers(Pool& pool, const Probe& probe, int producers, std::uint64_t each) : sent_(producers) {
    for (int p = 0; p < producers; ++p) {
      threads_.emplace_back([&, p, each] {
        start_.arrive_and_wait();
        sent_[static_cast<std::size_t>(p)] = produce(pool, probe, p, each);
        done_.fetch_add(1, std::memory_order_release);
      });
    }
    start_.open_when(producers);
  }
  ~Producers() { join(); }
  Producers(const Producers&) = delete;
  Producers& operator=(const Producers&) = delete;

  bool all_done() const { return done_.load(std::memory_order_acquire) == static_cast<int>(threads_.size()); }
  Sent join() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    Sent total;
    for (const Sent& s : sent_) total += s;
    return total;
  }

 private:
  StartGate start_;
  std::vector<Sent> sent_;
  std::atomic<int> done_{0};
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------- accounting

constexpr int kProducers = 3;
constexpr std::size_t kWorkers = 2;

PoolConfig chaos_config(FaultPolicy fault, FullPolicy full, std::size_t queue = 32) {
  return PoolConfig()
      .with_num_workers(kWorkers)
      .with_queue_capacity(queue)
      .with_mesh_capacity(8)
      .with_batch_size(8)
      .with_fault_policy(fault)
      // Chaos injects hundreds of faults: no restart limit, and no line on stderr for each
      // (both have their own tests in tests/worker/supervision_test.cc).
      .with_restart_limit(RestartLimit::unlimited())
      .with_fault_observer(nullptr)
      .with_full_policy(full)
      // Marks each body it is given, so that check_gone() can tell that every message the
      // pool dropped went through it.
      .with_dead_letters<Msg>([](DeadLetter<Msg>&& d) {
        if (d.message.body != nullptr) d.message.body->outcome = Outcome::dead_letter;
      });
}

std::unique_ptr<Pool> chaos_pool(const PoolConfig& config, Probe& probe) {
  return create_pool<Chaos>(config, each_worker_gets<Chaos>(&probe));
}

/// Everything one scenario reports, checked and printed by finish_scenario().
struct Figures {
  std::uint64_t pushed = 0, faults = 0, processed = 0, failed = 0, dropped = 0, rejected = 0, lost = 0;
};

/// The checks that hold once shutdown() or stop() has returned, while the pool exists.
Figures check_stopped_pool(const Pool& pool, const Probe& probe, const Sent& sent) {
  const PoolStats s = pool.stats();
  expect_balanced(s);
  EXPECT_FALSE(s.running);
  EXPECT_EQ(s.processed, probe.processed.load()) << "the handlers' count of successes";
  EXPECT_EQ(s.failed, probe.thrown.load() + probe.errors.load()) << "the handlers' count of failures";
  EXPECT_EQ(s.accepted, sent.ok + sent.dropped + probe.worker_ok.load() + probe.worker_dropped.load())
      << "accepted counts every send that returned ok or dropped";
  EXPECT_EQ(s.rejected, sent.rejected() + probe.worker_rejected.load()) << "rejected counts every refused send";
  EXPECT_EQ(s.dead_letters, s.dropped) << "with a sink, every drop is a dead letter";
  EXPECT_EQ(sent.pushed + probe.worker_pushed.load(), s.accepted + s.rejected) << "every send is one or the other";
  EXPECT_EQ(sent.values_lost + probe.values_lost.load(), 0u) << "a refused send must hand its value back";
  EXPECT_EQ(sent.values_kept + probe.values_kept.load(), 0u) << "a dropped send must destroy its value";
  EXPECT_EQ(sent.other, 0u) << "no send may be invalid or time out here";
  Figures f;
  f.pushed = sent.pushed + probe.worker_pushed.load();
  f.faults = probe.faults();
  f.processed = s.processed;
  f.failed = s.failed;
  f.dropped = s.dropped;
  f.rejected = s.rejected;
  f.lost = s.accepted - (s.processed + s.failed + s.dropped);
  return f;
}

/// The checks that hold once the pool is destroyed: every message object is gone, and
/// each body died as the figures say.
void check_gone(const Census& before, const Figures& f) {
  EXPECT_EQ(g_census.bodies_live.load(), before.bodies_live.load()) << "message bodies leaked (>) or died twice (<)";
  EXPECT_EQ(g_census.messages_live.load(), before.messages_live.load()) << "message objects leaked or died twice";
  auto died = [&](Outcome o) {
    return g_census.died[static_cast<int>(o)].load() - before.died[static_cast<int>(o)].load();
  };
  EXPECT_EQ(died(Outcome::processed), f.processed);
  EXPECT_EQ(died(Outcome::failed), f.failed);
  EXPECT_EQ(died(Outcome::dead_letter), f.dropped) << "the sink got exactly what the pool counted as dropped";
  EXPECT_EQ(died(Outcome::unhandled), 0u) << "with a sink, the pool destroys nothing unseen";
  EXPECT_EQ(died(Outcome::returned), f.rejected) << "the callers destroyed exactly the values handed back";
}

void print_figures(const char* scenario, const Figures& f) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::printf("[ figures  ] %s %s pushed=%" PRIu64 " faults=%" PRIu64 " processed=%" PRIu64 " failed=%" PRIu64
              " dropped=%" PRIu64 " rejected=%" PRIu64 " lost=%" PRIu64 "\n",
              scenario, info->name(), f.pushed, f.faults, f.processed, f.failed, f.dropped, f.rejected, f.lost);
  std::fflush(stdout);
  ::testing::Test::RecordProperty("pushed", std::to_string(f.pushed));
  ::testing::Test::RecordProperty("faults", std::to_string(f.faults));
  ::testing::Test::RecordProperty("lost", std::to_string(f.lost));
}

/// A census snapshot, copied field by field (atomics do not copy).
void snapshot(Census& out) {
  out.bodies_live.store(g_census.bodies_live.load());
  out.messages_live.store(g_census.messages_live.load());
  for (int i = 0; i < kOutcomes; ++i) out.died[i].store(g_census.died[i].load());
}

/// What every seeded scenario starts from: the census before it, and a probe seeded for
/// this test (recorded as its `seed` property, and named by every failure while it lives).
struct Scenario {
  Census before;
  Probe probe;
  std::optional<::testing::ScopedTrace> trace;

  Scenario() {
    snapshot(before);
    probe.seed = test_seed();
    trace.emplace(__FILE__, __LINE__, absl::StrCat("seed ", probe.seed));
  }
};

/// shutdown()'s result under `fault`: OK unless a handler's fault stopped the pool.
void expect_shutdown_status(const absl::Status& shut, FaultPolicy fault, const Probe& probe) {
  if (fault == FaultPolicy::stop_pool && probe.thrown.load() + probe.errors.load() != 0) {
    EXPECT_TRUE(shut.code() == absl::StatusCode::kInternal || shut.code() == absl::StatusCode::kDataLoss) << shut;
    EXPECT_TRUE(absl::StrContains(shut.message(), "handler failed")) << shut;
  } else {
    EXPECT_TRUE(shut.ok()) << shut;
  }
}

/// Progress of a pool towards `target` handled messages; reads the target at once when
/// the pool stopped (a stop_pool fault), so that waiting on it never stalls.
std::function<std::uint64_t()> handled_or_stopped(const Pool& pool, std::uint64_t target) {
  return [&pool, target] {
    const PoolStats s = pool.stats();
    return s.running ? s.processed + s.failed : target;
  };
}

// ---------------------------------------------------------------- parameters

using Policies = std::tuple<FaultPolicy, FullPolicy>;

std::string name_of(std::string_view v) { return std::string(v); }

std::string policies_name(FaultPolicy fault, FullPolicy full) {
  return absl::StrCat(name_of(to_string(fault)), "_", name_of(to_string(full)));
}

const auto kAllFaultPolicies =
    ::testing::Values(FaultPolicy::continue_running, FaultPolicy::restart, FaultPolicy::stop_pool);
// With isolate every worker is soon out of service: only for scenarios that wait for no progress.
const auto kFaultPoliciesWithIsolate = ::testing::Values(FaultPolicy::continue_running, FaultPolicy::restart,
                                                         FaultPolicy::stop_pool, FaultPolicy::isolate);
const auto kAllFullPolicies = ::testing::Values(FullPolicy::block, FullPolicy::fail, FullPolicy::drop);

// ---------------------------------------------------------------- handlers fail at random rates

class RandomHandlerFaults : public ::testing::TestWithParam<std::tuple<FaultPolicy, FullPolicy, std::uint32_t>> {};

TEST_P(RandomHandlerFaults, EveryMessageIsAccountedForAndNoneLeaks) {
  const auto [fault, full, permille] = GetParam();
  Scenario scenario;
  Probe& probe = scenario.probe;
  probe.fault_permille = permille;
  Figures f;
  {
    auto pool = chaos_pool(chaos_config(fault, full), probe);
    ASSERT_NE(pool, nullptr);
    Sent sent;
    {
      Producers producers(*pool, probe, kProducers, scaled(2000));
      sent = producers.join();
    }
    expect_shutdown_status(shutdown_or_fail(*pool), fault, probe);
    f = check_stopped_pool(*pool, probe, sent);
    if (fault != FaultPolicy::stop_pool) {
      EXPECT_EQ(sent.closed, 0u) << "nothing stopped the pool";
      EXPECT_EQ(f.dropped, sent.dropped + probe.worker_dropped.load() + pool->stats().isolated_drops)
          << "shutdown() handled everything accepted that no isolated worker dropped";
    }
    if (fault == FaultPolicy::restart) {
      EXPECT_EQ(pool->stats().restarts, f.failed) << "one restart per failure";
    }
    if (full == FullPolicy::block) {
      EXPECT_EQ(sent.full, 0u) << "a blocking send never returns full";
    }
  }
  check_gone(scenario.before, f);
  print_figures("random-handler-faults", f);
}

INSTANTIATE_TEST_SUITE_P(PoolFaults, RandomHandlerFaults,
                         ::testing::Combine(kFaultPoliciesWithIsolate, kAllFullPolicies,
                                            ::testing::Values(10u, 100u, 500u)),
                         [](const auto& p) {
                           return absl::StrCat(policies_name(std::get<0>(p.param), std::get<1>(p.param)), "_",
                                               std::get<2>(p.param), "permille");
                         });

// ---------------------------------------------------------------- a worker stalls

class StalledWorker : public ::testing::TestWithParam<Policies> {};

TEST_P(StalledWorker, ProducersPushingIntoItLoseNothingOnceItIsReleased) {
  const auto [fault, full] = GetParam();
  constexpr std::size_t kQueue = 8;
  Scenario scenario;
  Probe& probe = scenario.probe;
  Gate gate;
  probe.fault_permille = 50;
  probe.stall = &gate;
  probe.stall_armed.store(true);
  Figures f;
  {
    auto pool = chaos_pool(chaos_config(fault, full, kQueue), probe);
    ASSERT_NE(pool, nullptr);
    Sent sent;
    bool still_running = false;
    {
      Producers producers(*pool, probe, kProducers, scaled(1000));
      // Worker 0 waits on the gate in its first message; hold it there until its inbox
      // has filled and the full policy has acted (or the pool stopped, or the producers
      // are through).
      ASSERT_TRUE(wait_until([&] {
        const PoolStats s = pool->stats();
        if (!s.running || producers.all_done()) return true;
        switch (full) {
          case FullPolicy::block: return s.workers[0].queue_depth >= kQueue;
          case FullPolicy::fail: return s.rejected > 0;
          case FullPolicy::drop: return s.dropped > 0;
        }
        return true;
      })) << "the stalled worker's inbox never filled";
      still_running = pool->running();
      gate.open();
      sent = producers.join();
    }
    expect_shutdown_status(shutdown_or_fail(*pool), fault, probe);
    f = check_stopped_pool(*pool, probe, sent);
    EXPECT_EQ(gate.stalls(), 0u);
    if (still_running && fault != FaultPolicy::stop_pool) {
      if (full == FullPolicy::fail) {
        EXPECT_GT(sent.full, 0u) << "the stalled worker's full inbox refused sends";
      }
      if (full == FullPolicy::drop) {
        EXPECT_GT(sent.dropped, 0u) << "the stalled worker's full inbox dropped sends";
      }
    }
    if (full == FullPolicy::block) {
      EXPECT_EQ(sent.full, 0u);
    }
  }
  check_gone(scenario.before, f);
  print_figures("stalled-worker", f);
}

std::string name_policies(const ::testing::TestParamInfo<Policies>& info) {
  return policies_name(std::get<0>(info.param), std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(PoolFaults, StalledWorker, ::testing::Combine(kAllFaultPolicies, kAllFullPolicies),
                         name_policies);

// ---------------------------------------------------------------- shutdown() and stop() under load

/// Producers that keep sending until the pool refuses them: far more than the test waits for.
constexpr std::uint64_t kUntilClosed = std::uint64_t{1} << 22;

class ShutdownUnderLoad : public ::testing::TestWithParam<Policies> {};

TEST_P(ShutdownUnderLoad, HandlesEveryAcceptedMessageWhileProducersStillPush) {
  const auto [fault, full] = GetParam();
  Scenario scenario;
  Probe& probe = scenario.probe;
  probe.fault_permille = 20;
  Figures f;
  {
    auto pool = chaos_pool(chaos_config(fault, full, 16), probe);
    ASSERT_NE(pool, nullptr);
    absl::Status shut;
    Sent sent;
    {
      Producers producers(*pool, probe, kProducers, kUntilClosed);
      const std::uint64_t target = scaled(4000);
      EXPECT_TRUE(wait_for_progress(handled_or_stopped(*pool, target), target));
      shut = shutdown_or_fail(*pool);
      sent = producers.join();
    }
    expect_shutdown_status(shut, fault, probe);
    f = check_stopped_pool(*pool, probe, sent);
    EXPECT_GT(sent.closed, 0u) << "the producers were still pushing when the pool closed";
    if (fault != FaultPolicy::stop_pool) {
      EXPECT_EQ(f.dropped, sent.dropped + probe.worker_dropped.load())
          << "shutdown() handled every accepted message; only the full policy dropped any";
    }
  }
  check_gone(scenario.before, f);
  print_figures("shutdown-under-load", f);
}

INSTANTIATE_TEST_SUITE_P(PoolFaults, ShutdownUnderLoad, ::testing::Combine(kAllFaultPolicies, kAllFullPolicies),
                         name_policies);

class StopUnderLoad : public ::testing::TestWithParam<Policies> {};

TEST_P(StopUnderLoad, ReturnsExactlyWhatItLeftUnhandledWhileProducersStillPush) {
  const auto [fault, full] = GetParam();
  Scenario scenario;
  Probe& probe = scenario.probe;
  probe.fault_permille = 20;
  Figures f;
  {
    auto pool = chaos_pool(chaos_config(fault, full, 16), probe);
    ASSERT_NE(pool, nullptr);
    std::uint64_t left = 0;
    Sent sent;
    {
      Producers producers(*pool, probe, kProducers, kUntilClosed);
      const std::uint64_t target = scaled(4000);
      EXPECT_TRUE(wait_for_progress(handled_or_stopped(*pool, target), target));
      left = pool->stop();
      sent = producers.join();
    }
    f = check_stopped_pool(*pool, probe, sent);
    EXPECT_EQ(f.dropped, left + sent.dropped + probe.worker_dropped.load())
        << "stop() returns every accepted message it left; the full policy dropped the rest";
    EXPECT_GT(sent.closed, 0u);
    EXPECT_EQ(pool->stop(), 0u) << "a second stop() has nothing left";
    expect_shutdown_status(pool->shutdown(), fault, probe);
    expect_balanced(pool->stats());
  }
  check_gone(scenario.before, f);
  print_figures("stop-under-load", f);
}

INSTANTIATE_TEST_SUITE_P(PoolFaults, StopUnderLoad, ::testing::Combine(kAllFaultPolicies, kAllFullPolicies),
                         name_policies);

// ---------------------------------------------------------------- destruction with messages queued

class DestroyedWhileQueued : public ::testing::TestWithParam<Policies> {};

// The destructor shuts down: under continue_running and restart it handles everything
// still queued; under stop_pool a fault may have stopped the pool with messages queued,
// and the destructor destroys those. The stats are gone with the pool, so the bodies'
// own census does the accounting.
TEST_P(DestroyedWhileQueued, TheDestructorHandlesOrDestroysEveryQueuedMessage) {
  const auto [fault, full] = GetParam();
  Scenario scenario;
  Probe& probe = scenario.probe;
  const Census& before = scenario.before;
  probe.fault_permille = 20;
  Sent sent;
  {
    auto pool = chaos_pool(chaos_config(fault, full, 64), probe);
    ASSERT_NE(pool, nullptr);
    {
      Producers producers(*pool, probe, 2, scaled(3000));
      sent = producers.join();
    }
    pool.reset();  // no shutdown() first: the inboxes are usually far from empty
  }
  auto died = [&](Outcome o) {
    return g_census.died[static_cast<int>(o)].load() - before.died[static_cast<int>(o)].load();
  };
  const std::uint64_t accepted = sent.ok + sent.dropped + probe.worker_ok.load() + probe.worker_dropped.load();
  EXPECT_EQ(g_census.bodies_live.load(), before.bodies_live.load());
  EXPECT_EQ(g_census.messages_live.load(), before.messages_live.load());
  EXPECT_EQ(died(Outcome::processed), probe.processed.load());
  EXPECT_EQ(died(Outcome::failed), probe.thrown.load() + probe.errors.load());
  EXPECT_EQ(died(Outcome::returned), sent.rejected() + probe.worker_rejected.load());
  EXPECT_EQ(died(Outcome::unhandled), 0u) << "with a sink, the pool destroys nothing unseen";
  EXPECT_EQ(accepted, probe.handled() + died(Outcome::dead_letter)) << "an accepted message was lost";
  EXPECT_EQ(sent.values_lost + probe.values_lost.load(), 0u);
  EXPECT_EQ(sent.values_kept + probe.values_kept.load(), 0u);
  if (fault != FaultPolicy::stop_pool) {
    EXPECT_EQ(died(Outcome::dead_letter), sent.dropped + probe.worker_dropped.load())
        << "the destructor's shutdown handled everything still queued";
  }
  Figures f;
  f.pushed = sent.pushed + probe.worker_pushed.load();
  f.faults = probe.faults();
  f.processed = died(Outcome::processed);
  f.failed = died(Outcome::failed);
  f.dropped = died(Outcome::dead_letter);
  f.rejected = died(Outcome::returned);
  f.lost = accepted - (f.processed + f.failed + f.dropped);
  print_figures("destroyed-while-queued", f);
}

INSTANTIATE_TEST_SUITE_P(PoolFaults, DestroyedWhileQueued, ::testing::Combine(kAllFaultPolicies, kAllFullPolicies),
                         name_policies);

// One worker, one message per batch, a full inbox behind a fault that stops the pool:
// exactly the messages behind it are still queued when the pool is destroyed. No
// dead-letter sink here: the pool destroys them.
TEST(PoolFaults, DestroyingAPoolThatAFaultStoppedDestroysExactlyTheMessagesStillQueued) {
  constexpr std::size_t kQueue = 16;
  Census before;
  snapshot(before);
  Gate gate;
  Probe probe;
  probe.stall = &gate;
  probe.stall_armed.store(true);
  std::uint64_t accepted = 0, refused = 0;
  {
    auto pool = create_pool<Chaos>(PoolConfig()
                                       .with_num_workers(1)
                                       .with_queue_capacity(kQueue)
                                       .with_batch_size(1)
                                       .with_full_policy(FullPolicy::fail)
                                       .with_fault_policy(FaultPolicy::stop_pool),
                                   each_worker_gets<Chaos>(&probe));
    ASSERT_NE(pool, nullptr);
    ASSERT_EQ(pool->send_to(0, Msg(0, Fate::ok, 0)), SendResult::ok);
    ++accepted;
    ASSERT_TRUE(gate.wait_until_entered(1));
    // Behind the held message: one that throws, then enough to fill the inbox, then one
    // that does not fit.
    ASSERT_EQ(pool->send_to(0, Msg(1, Fate::throws, 0)), SendResult::ok);
    ++accepted;
    for (std::uint64_t i = 2;; ++i) {
      Msg m(i, Fate::ok, 0);
      const SendResult r = pool->send_to(0, std::move(m));
      if (r == SendResult::ok) {
        ++accepted;
        continue;
      }
      ASSERT_EQ(r, SendResult::full);
      ASSERT_NE(m.body, nullptr);
      m.body->outcome = Outcome::returned;
      ++refused;
      break;
    }
    // The held message's slot may still count as taken while its handler runs.
    ASSERT_GE(accepted, kQueue);
    gate.open();
    ASSERT_TRUE(wait_until([&] { return !pool->running(); })) << "the fault did not stop the pool";
    pool.reset();
  }
  auto died = [&](Outcome o) {
    return g_census.died[static_cast<int>(o)].load() - before.died[static_cast<int>(o)].load();
  };
  EXPECT_EQ(died(Outcome::processed), 1u);
  EXPECT_EQ(died(Outcome::failed), 1u);
  EXPECT_EQ(died(Outcome::unhandled), accepted - 2) << "the messages behind the fault, destroyed with the pool";
  EXPECT_EQ(died(Outcome::returned), refused + 1) << "the refused send, and on_stop's";
  EXPECT_EQ(probe.worker_rejected.load(), 1u) << "on_stop's send was refused";
  EXPECT_EQ(g_census.bodies_live.load(), before.bodies_live.load());
  EXPECT_EQ(g_census.messages_live.load(), before.messages_live.load());
  Figures f{accepted + refused + probe.worker_pushed.load(), 1, 1, 1, accepted - 2, refused + 1, 0};
  print_figures("destroyed-after-fault", f);
}

// ---------------------------------------------------------------- restarts whose init() fails

class RestartWithFailingInit : public ::testing::TestWithParam<std::tuple<FullPolicy, bool>> {};

TEST_P(RestartWithFailingInit, AFailedRestartStopsThePoolAndLosesNothing) {
  const auto [full, throws] = GetParam();
  Scenario scenario;
  Probe& probe = scenario.probe;
  probe.fault_permille = 50;
  probe.init_fail_permille = 250;
  probe.init_throws = throws;
  Figures f;
  {
    auto pool = chaos_pool(chaos_config(FaultPolicy::restart, full, 16), probe);
    ASSERT_NE(pool, nullptr);
    Sent sent;
    {
      Producers producers(*pool, probe, kProducers, scaled(2000));
      sent = producers.join();
    }
    const absl::Status shut = shutdown_or_fail(*pool);
    f = check_stopped_pool(*pool, probe, sent);
    const PoolStats s = pool->stats();
    EXPECT_EQ(s.restarts, probe.init_calls.load() - kWorkers - probe.init_failures.load())
        << "a restart counts once its init() succeeded";
    if (probe.init_failures.load() == 0) {
      EXPECT_TRUE(shut.ok()) << shut;
    } else {
      EXPECT_TRUE(has_code_and_mentions(shut, throws ? absl::StatusCode::kInternal : absl::StatusCode::kUnavailable,
                                        "restart failed"));
      EXPECT_TRUE(absl::StrContains(shut.message(), throws ? "init() threw" : "init() failed")) << shut;
    }
  }
  check_gone(scenario.before, f);
  print_figures("restart-init-fails", f);
}

INSTANTIATE_TEST_SUITE_P(PoolFaults, RestartWithFailingInit, ::testing::Combine(kAllFullPolicies, ::testing::Bool()),
                         [](const auto& p) {
                           return absl::StrCat(name_of(to_string(std::get<0>(p.param))),
                                               std::get<1>(p.param) ? "_init_throws" : "_init_returns_error");
                         });

}  // namespace
}  // namespace sn::test
