// Live resize: add_worker() and remove_worker() on a pool routed by a
// ConsistentHashPartitioner. Only the keys whose owner changes move, with the state the
// workers keep for them (export_state on the old owner, import_state on the new one);
// no message is lost, handled twice, handled by a worker that does not own its key, or
// reordered within one producer's stream for one key. The tests mirror the pool's ring
// with a ConsistentHashPartitioner of their own (a ring depends only on its ids, which
// are slot indices), so every expected owner and every moved key is known exactly.
// None asserts on time; waits are bounded by the stall limit (worker_test_support.h).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/key.h"
#include "sn/partitioners/rendezvous.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Empty {};

/// The partitioner a pool routes by while `slots` are its active workers.
template <class P>
P partitioner_of(const std::set<std::size_t>& slots) {
  P p(0);
  for (std::size_t s : slots) EXPECT_TRUE(p.add_worker(static_cast<typename P::WorkerId>(s)).ok()) << "slot " << s;
  return p;
}
ConsistentHashPartitioner ring_of(const std::set<std::size_t>& slots) {
  return partitioner_of<ConsistentHashPartitioner>(slots);
}

/// The live-resize tests run over every resizable partitioner.
template <class P>
class PoolResize : public ::testing::Test {};
using ResizablePartitioners = ::testing::Types<ConsistentHashPartitioner, RendezvousPartitioner>;
class PartitionerName {
 public:
  template <class P>
  static std::string GetName(int) {
    return std::is_same_v<P, ConsistentHashPartitioner> ? "ConsistentHash" : "Rendezvous";
  }
};
TYPED_TEST_SUITE(PoolResize, ResizablePartitioners, PartitionerName);

/// The slot add_worker() fills next: the lowest one not in use.
std::size_t lowest_free(const std::set<std::size_t>& active) {
  std::size_t s = 0;
  while (active.contains(s)) ++s;
  return s;
}

/// The code of a resize's result (kOk when it succeeded), for EXPECT_EQ.
absl::StatusCode code_of(const absl::StatusOr<ResizeReport>& r) { return r.status().code(); }

/// remove_worker() of a slot that holds no active worker: NotFound or InvalidArgument.
::testing::AssertionResult refused_as_not_active(const absl::StatusOr<ResizeReport>& r) {
  const absl::StatusCode c = code_of(r);
  if (c == absl::StatusCode::kNotFound || c == absl::StatusCode::kInvalidArgument) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected NotFound or InvalidArgument, got " << r.status();
}

/// The status WorkerPool<W>::create returns (for the configurations it must refuse).
template <class W, class... Args>
absl::Status create_status(const PoolConfig& config, Args&&... args) {
  return WorkerPool<W>::create(config, std::forward<Args>(args)...).status();
}

/// The entry of `slot` in a stats snapshot, or nullptr.
const WorkerStats* stats_of(const PoolStats& s, std::size_t slot) {
  for (const WorkerStats& w : s.workers) {
    if (w.index == slot) return &w;
  }
  return nullptr;
}

/// Waits until `done()`, ticking `guard` whenever `progress()` moves: the watchdog then
/// fires only when nothing moves for its whole limit (a resize or a send that hangs),
/// never because the work takes long.
void wait_ticking(Watchdog& guard, const std::function<bool()>& done, const std::function<std::uint64_t()>& progress) {
  std::uint64_t seen = progress();
  while (!done()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    const std::uint64_t now = progress();
    if (now != seen) {
      seen = now;
      guard.tick();
    }
  }
}

/// A worker that only counts what it handles, and checks that it owns each key.
struct SinkLog {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> not_owned{0};
};

struct Sink : Worker<Empty, std::uint64_t> {
  explicit Sink(SinkLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    if (!context().owns(e.key)) log_->not_owned.fetch_add(1, std::memory_order_relaxed);
    log_->handled.fetch_add(1, std::memory_order_relaxed);
  }
  SinkLog* log_;
};

// ---------------------------------------------------------------- counting state that moves

using Counts = std::unordered_map<std::uint64_t, std::uint64_t>;  // key -> messages handled

/// What the counting workers did. The hooks run on the workers' threads: every member is
/// written under `mu`, or is atomic.
struct CountLog {
  struct Export {
    std::size_t worker;  // context().index() of the exporter
    std::size_t self;    // what StateHandoff::self() said
    std::uint64_t key;
    std::size_t new_owner;  // what StateHandoff::new_owner() said
  };
  struct Import {
    std::size_t worker;
    std::uint64_t key;
    std::uint64_t count;
  };
  std::mutex mu;
  std::vector<std::size_t> export_calls;  // the exporter of each export_state call
  std::vector<Export> exports;            // one per hand_off
  std::vector<Import> imports;            // one per import_state call
  // key -> (worker, count), from on_stop
  std::map<std::uint64_t, std::vector<std::pair<std::size_t, std::uint64_t>>> final_counts;
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> not_owned{0};     // a message handled by a worker that does not own its key
  std::atomic<std::uint64_t> import_clash{0};  // an import of a key the importer already had state for
};

struct Counter : Worker<Counts, std::uint64_t> {
  using handoff_type = std::uint64_t;

  explicit Counter(CountLog* log) : log_(log) {}

  void handle_message(Counts& counts, Envelope<std::uint64_t> e) {
    if (!context().owns(e.key)) log_->not_owned.fetch_add(1, std::memory_order_relaxed);
    ++counts[e.key];
    log_->handled.fetch_add(1, std::memory_order_relaxed);
  }

  void export_state(Counts& counts, StateHandoff<std::uint64_t>& out) {
    const std::size_t me = context().index();
    std::vector<CountLog::Export> moved;
    for (auto it = counts.begin(); it != counts.end();) {
      if (!out.leaving(it->first)) {
        ++it;
        continue;
      }
      moved.push_back({me, out.self(), it->first, out.new_owner(it->first)});
      out.hand_off(it->first, std::uint64_t{it->second});
      it = counts.erase(it);
    }
    std::lock_guard lock(log_->mu);
    log_->export_calls.push_back(me);
    log_->exports.insert(log_->exports.end(), moved.begin(), moved.end());
  }

  void import_state(Counts& counts, std::uint64_t key, std::uint64_t&& count) {
    if (!counts.try_emplace(key, count).second) {
      log_->import_clash.fetch_add(1, std::memory_order_relaxed);
      counts[key] += count;
    }
    std::lock_guard lock(log_->mu);
    log_->imports.push_back({context().index(), key, count});
  }

  void on_stop(Counts& counts) {
    std::lock_guard lock(log_->mu);
    for (const auto& [key, count] : counts) log_->final_counts[key].emplace_back(context().index(), count);
  }

  CountLog* log_;
};

/// Sends keys 0..keys-1, `rounds` times over.
void send_rounds(WorkerPool<Counter>& pool, std::uint64_t keys, std::uint64_t rounds) {
  for (std::uint64_t r = 0; r < rounds; ++r) {
    for (std::uint64_t key = 0; key < keys; ++key) ASSERT_EQ(pool.send(key, std::uint64_t{r}), SendResult::ok);
  }
}

/// After shutdown: each key 0..keys-1 sits in exactly one worker's final state, the one
/// `ring` says owns it, with a count of `expected` messages.
template <class P>
void expect_final_counts(CountLog& log, const P& ring, std::uint64_t keys, std::uint64_t expected) {
  std::lock_guard lock(log.mu);
  EXPECT_EQ(log.final_counts.size(), keys) << "keys in the workers' final states";
  for (std::uint64_t key = 0; key < keys; ++key) {
    const auto it = log.final_counts.find(key);
    if (it == log.final_counts.end()) {
      ADD_FAILURE() << "key " << key << " is in no worker's final state";
      continue;
    }
    ASSERT_EQ(it->second.size(), 1u) << "key " << key << " is in " << it->second.size() << " workers' final states";
    EXPECT_EQ(it->second[0].first, ring.owner(key)) << "key " << key << " ended on a worker that does not own it";
    EXPECT_EQ(it->second[0].second, expected) << "key " << key << ": messages lost, counted twice, or state not moved";
  }
}

TYPED_TEST(PoolResize, AddWorkerMovesKeysAndTheirState) {
  constexpr std::uint64_t kKeys = 1000;
  constexpr std::uint64_t kRounds = 3;
  CountLog log;
  const PoolConfig config = PoolConfig().with_num_workers(3).with_max_workers(4);
  auto pool = create_pool<Counter>(config, TypeParam(3), each_worker_gets<Counter>(&log));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->size(), 3u);
  EXPECT_EQ(pool->capacity(), 4u);

  const TypeParam before = partitioner_of<TypeParam>({0, 1, 2});
  const TypeParam after = partitioner_of<TypeParam>({0, 1, 2, 3});
  std::set<std::uint64_t> moving;  // keys whose owner changes
  for (std::uint64_t key = 0; key < kKeys; ++key) {
    if (before.owner(key) != after.owner(key)) moving.insert(key);
  }
  ASSERT_FALSE(moving.empty()) << "test premise: adding a worker moves about a quarter of the keys";

  // No wait before the resize: every message sent before it must be handled by its old
  // owner before the state moves, so the moved counts are complete.
  send_rounds(*pool, kKeys, kRounds);
  absl::StatusOr<ResizeReport> report = pool->add_worker();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->worker, 3u);
  EXPECT_EQ(report->handed_off, moving.size()) << "one hand_off per key that changes owner";
  EXPECT_GE(report->paused, absl::ZeroDuration());
  EXPECT_EQ(pool->size(), 4u);
  EXPECT_EQ(pool->capacity(), 4u);
  {
    std::lock_guard lock(log.mu);
    std::vector<std::size_t> exporters = log.export_calls;
    std::sort(exporters.begin(), exporters.end());
    EXPECT_EQ(exporters, (std::vector<std::size_t>{0, 1, 2})) << "export_state runs once on each worker active before";
    std::set<std::uint64_t> exported;
    for (const CountLog::Export& x : log.exports) {
      EXPECT_EQ(x.self, x.worker) << "StateHandoff::self() is not the exporter";
      EXPECT_EQ(x.worker, before.owner(x.key)) << "key " << x.key << " exported by a worker that did not own it";
      EXPECT_EQ(x.new_owner, 3u) << "key " << x.key;
      EXPECT_TRUE(exported.insert(x.key).second) << "key " << x.key << " handed off twice";
    }
    EXPECT_EQ(exported, moving);
  }

  send_rounds(*pool, kKeys, kRounds);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  {
    std::lock_guard lock(log.mu);
    std::set<std::uint64_t> imported;
    for (const CountLog::Import& x : log.imports) {
      EXPECT_EQ(x.worker, 3u) << "key " << x.key << " imported by a worker that is not its new owner";
      EXPECT_EQ(x.count, kRounds) << "key " << x.key << ": the state moved before every earlier message was handled";
      EXPECT_TRUE(imported.insert(x.key).second) << "key " << x.key << " imported twice";
    }
    EXPECT_EQ(imported, moving);
  }
  expect_final_counts(log, after, kKeys, 2 * kRounds);
  EXPECT_EQ(log.not_owned.load(), 0u) << "messages handled by a worker that does not own their key";
  EXPECT_EQ(log.import_clash.load(), 0u) << "the new owner had state for a key before importing it";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 2 * kKeys * kRounds);
  EXPECT_EQ(log.handled.load(), 2 * kKeys * kRounds);
  EXPECT_EQ(s.workers.size(), 4u);
  ASSERT_NE(stats_of(s, 3), nullptr);
  EXPECT_EQ(stats_of(s, 3)->processed, moving.size() * kRounds)
      << "the new worker handles exactly its keys' later messages";
  expect_balanced(s);
}

TYPED_TEST(PoolResize, RemoveWorkerHandsOffAllItsKeys) {
  constexpr std::uint64_t kKeys = 1000;
  constexpr std::uint64_t kRounds = 3;
  constexpr std::size_t kRemoved = 1;
  CountLog log;
  auto pool = create_pool<Counter>(PoolConfig().with_num_workers(4), TypeParam(4), each_worker_gets<Counter>(&log));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->capacity(), 4u) << "max_workers 0 means num_workers";

  const TypeParam before = partitioner_of<TypeParam>({0, 1, 2, 3});
  const TypeParam after = partitioner_of<TypeParam>({0, 2, 3});
  std::set<std::uint64_t> leaving;  // the removed worker's keys
  for (std::uint64_t key = 0; key < kKeys; ++key) {
    if (before.owner(key) == kRemoved) leaving.insert(key);
  }
  ASSERT_FALSE(leaving.empty());

  send_rounds(*pool, kKeys, kRounds);
  absl::StatusOr<ResizeReport> report = pool->remove_worker(kRemoved);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->worker, kRemoved);
  EXPECT_EQ(report->handed_off, leaving.size()) << "the removed worker hands off every key it owns";
  EXPECT_EQ(pool->size(), 3u);
  EXPECT_EQ(pool->capacity(), 4u);
  {
    std::lock_guard lock(log.mu);
    std::vector<std::size_t> exporters = log.export_calls;
    std::sort(exporters.begin(), exporters.end());
    EXPECT_EQ(exporters, (std::vector<std::size_t>{0, 1, 2, 3}))
        << "export_state runs once on each worker active before";
    std::set<std::uint64_t> exported;
    for (const CountLog::Export& x : log.exports) {
      EXPECT_EQ(x.worker, kRemoved) << "key " << x.key << " moved away from a worker that stays";
      EXPECT_EQ(x.self, x.worker);
      EXPECT_EQ(x.new_owner, after.owner(x.key)) << "key " << x.key;
      EXPECT_TRUE(exported.insert(x.key).second) << "key " << x.key << " handed off twice";
    }
    EXPECT_EQ(exported, leaving);
  }

  send_rounds(*pool, kKeys, kRounds);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  {
    std::lock_guard lock(log.mu);
    std::set<std::uint64_t> imported;
    for (const CountLog::Import& x : log.imports) {
      EXPECT_EQ(x.worker, after.owner(x.key)) << "key " << x.key << " imported by a worker that is not its new owner";
      EXPECT_EQ(x.count, kRounds) << "key " << x.key << ": the state moved before every earlier message was handled";
      EXPECT_TRUE(imported.insert(x.key).second) << "key " << x.key << " imported twice";
    }
    EXPECT_EQ(imported, leaving);
  }
  expect_final_counts(log, after, kKeys, 2 * kRounds);
  EXPECT_EQ(log.not_owned.load(), 0u) << "messages handled by a worker that does not own their key";
  EXPECT_EQ(log.import_clash.load(), 0u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 2 * kKeys * kRounds);
  EXPECT_EQ(s.workers.size(), 4u) << "stats keep the removed worker's slot";
  ASSERT_NE(stats_of(s, kRemoved), nullptr);
  EXPECT_EQ(stats_of(s, kRemoved)->processed, leaving.size() * kRounds)
      << "the removed worker handled exactly its keys' messages sent before the removal";
  expect_balanced(s);
}

// ---------------------------------------------------------------- resizing under load

constexpr std::size_t kProducers = 3;
constexpr std::uint64_t kLoadKeys = 500;

/// The seq-th message of `producer` for `key` (counted from 1 per producer and key).
struct Tick {
  std::uint32_t producer = 0;
  std::uint64_t key = 0;
  std::uint64_t seq = 0;
};

/// What a key's owner keeps for it, and what moves with the key.
struct KeyState {
  std::array<std::uint64_t, kProducers> last{};  // the last seq handled from each producer
  std::uint64_t count = 0;                       // messages handled
};
using KeyStates = std::unordered_map<std::uint64_t, KeyState>;

/// Written by the workers: counters atomically, the rest under `mu`.
struct LoadLog {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> wrong_owner{0};   // handled by a worker that does not own the key
  std::atomic<std::uint64_t> out_of_order{0};  // a seq gap or repeat: lost, reordered, duplicated, or state not moved
  std::atomic<std::uint64_t> garbled{0};       // the envelope's key is not the message's, or no such producer
  std::atomic<std::uint64_t> import_clash{0};  // imported a key it already had state for
  std::atomic<std::uint64_t> handed_off{0};    // hand_off calls
  std::atomic<std::uint64_t> imported{0};      // import_state calls
  std::mutex mu;
  std::vector<std::string> first_violations;  // the first of each kind
  // key -> (worker, state), from on_stop
  std::map<std::uint64_t, std::vector<std::pair<std::size_t, KeyState>>> final_states;

  /// Counts a violation; describes the first of its kind.
  template <class Describe>
  void note(std::atomic<std::uint64_t>& counter, Describe&& describe) {
    if (counter.fetch_add(1, std::memory_order_relaxed) != 0) return;
    std::string what = describe();
    std::lock_guard lock(mu);
    first_violations.push_back(std::move(what));
  }
};

struct Sequencer : Worker<KeyStates, Tick> {
  using handoff_type = KeyState;

  explicit Sequencer(LoadLog* log) : log_(log) {}

  void handle_message(KeyStates& states, Envelope<Tick> e) {
    const Tick& t = e.payload;
    const std::size_t me = context().index();
    if (!context().owns(e.key)) {
      log_->note(log_->wrong_owner,
                 [&] { return absl::StrCat("worker ", me, " handled key ", e.key, ", which it does not own"); });
    }
    if (e.key != t.key || t.producer >= kProducers) {
      log_->note(log_->garbled, [&] {
        return absl::StrCat("envelope key ", e.key, " carried key ", t.key, " of producer ", t.producer);
      });
    } else {
      KeyState& state = states[t.key];
      std::uint64_t& last = state.last[t.producer];
      if (t.seq != last + 1) {
        log_->note(log_->out_of_order, [&] {
          return absl::StrCat("worker ", me, ", key ", t.key, ", producer ", t.producer, ": seq ", t.seq, " after ",
                              last);
        });
      }
      last = t.seq;
      ++state.count;
    }
    log_->handled.fetch_add(1, std::memory_order_relaxed);
  }

  void export_state(KeyStates& states, StateHandoff<KeyState>& out) {
    for (auto it = states.begin(); it != states.end();) {
      if (!out.leaving(it->first)) {
        ++it;
        continue;
      }
      log_->handed_off.fetch_add(1, std::memory_order_relaxed);
      out.hand_off(it->first, std::move(it->second));
      it = states.erase(it);
    }
  }

  void import_state(KeyStates& states, std::uint64_t key, KeyState&& in) {
    log_->imported.fetch_add(1, std::memory_order_relaxed);
    if (!states.try_emplace(key, std::move(in)).second) {
      const std::size_t me = context().index();
      log_->note(log_->import_clash,
                 [&] { return absl::StrCat("worker ", me, " imported key ", key, ", which it already had"); });
    }
  }

  void on_stop(KeyStates& states) {
    std::lock_guard lock(log_->mu);
    for (const auto& [key, state] : states) log_->final_states[key].emplace_back(context().index(), state);
  }

  LoadLog* log_;
};

/// One step of a resize schedule: add a worker (to the lowest free slot), or remove the
/// worker in `slot`.
struct Resize {
  bool add = true;
  std::size_t slot = 0;
};
constexpr Resize kAddWorker{true, 0};
constexpr Resize remove_slot(std::size_t slot) { return Resize{false, slot}; }

/// Runs `schedule` against a pool that `handled` shows busy: before each step it waits
/// until `between` more messages were handled (ticking `guard`), then resizes and checks
/// the slot it changed. Keeps `active` in step. Returns the reports, up to the first
/// failure (reported as a test failure).
template <class Pool>
std::vector<ResizeReport> run_schedule(Pool& pool, const std::vector<Resize>& schedule, std::set<std::size_t>& active,
                                       const std::atomic<std::uint64_t>& handled, std::uint64_t between,
                                       Watchdog& guard) {
  std::vector<ResizeReport> reports;
  for (const Resize& step : schedule) {
    const std::size_t resizes = reports.size();
    const std::uint64_t target = handled.load(std::memory_order_relaxed) + between;
    const bool progressed = wait_for_progress(
        [&] {
          guard.tick();  // wait_for_progress fails by itself when nothing moves
          return handled.load(std::memory_order_relaxed);
        },
        target);
    if (!progressed) {
      ADD_FAILURE() << "the workers stopped handling messages before resize " << resizes;
      break;
    }
    const std::size_t expected_slot = step.add ? lowest_free(active) : step.slot;
    absl::StatusOr<ResizeReport> report = step.add ? pool.add_worker() : pool.remove_worker(step.slot);
    if (!report.ok()) {
      ADD_FAILURE() << "resize " << resizes << (step.add ? " (add)" : " (remove)") << " failed: " << report.status();
      break;
    }
    if (report->worker != expected_slot) {
      ADD_FAILURE() << "resize " << resizes << " changed slot " << report->worker << ", expected " << expected_slot;
      break;
    }
    if (step.add) {
      active.insert(report->worker);
    } else {
      active.erase(report->worker);
    }
    reports.push_back(*report);
    EXPECT_EQ(pool.size(), active.size()) << "after resize " << reports.size();
  }
  return reports;
}

TYPED_TEST(PoolResize, ResizeUnderLoadLosesNothingAndKeepsEachKeyOnItsOwner) {
  constexpr std::size_t kCapacity = 6;
  LoadLog log;
  const PoolConfig config =
      PoolConfig().with_num_workers(3).with_max_workers(kCapacity).with_queue_capacity(256).with_full_policy(
          FullPolicy::block);
  auto pool = create_pool<Sequencer>(config, TypeParam(3), each_worker_gets<Sequencer>(&log));
  ASSERT_NE(pool, nullptr);

  // From {0, 1, 2}: grow to all six slots and shrink to three, removing from the middle
  // and refilling freed slots on the way; every slot runs a worker at some point.
  const std::vector<Resize> schedule{kAddWorker,     kAddWorker,     remove_slot(1), kAddWorker,
                                     remove_slot(3), remove_slot(0), kAddWorker,     kAddWorker,
                                     kAddWorker,     remove_slot(2), remove_slot(4), remove_slot(5)};
  const std::uint64_t between = scaled(3000);  // messages handled before each resize
  const std::uint64_t tail = scaled(2000);     // messages per producer after the last one

  // [p][key]: the last seq producer p sent for key (written by producer p only).
  std::vector<std::vector<std::uint64_t>> sent(kProducers, std::vector<std::uint64_t>(kLoadKeys, 0));
  std::vector<int> refused(kProducers, 0);
  std::atomic<bool> resized{false};
  std::atomic<std::size_t> producing{kProducers};
  // Ticked by the test's thread only while it sees messages handled, never inside a
  // resize: a resize that hangs (or sends that stay blocked) stops the pool.
  Watchdog guard(stall_limit(), [&pool] {
    ADD_FAILURE() << "no progress: a resize or a send hangs; stopping the pool";
    (void)pool->stop();
  });
  StartGate start;
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng(p + 1);
      std::vector<std::uint64_t>& last_sent = sent[p];
      start.arrive_and_wait();
      // Until the resizes are done, then `tail` more.
      for (std::uint64_t after = 0; after < tail;) {
        if (resized.load(std::memory_order_acquire)) ++after;
        const std::uint64_t key = rng() % kLoadKeys;
        const SendResult r = pool->send(key, Tick{static_cast<std::uint32_t>(p), key, last_sent[key] + 1});
        if (r != SendResult::ok) {
          ++refused[p];  // under FullPolicy::block, while the pool runs, every send is accepted
          break;
        }
        ++last_sent[key];
      }
      producing.fetch_sub(1, std::memory_order_release);
    });
  }
  start.open_when(static_cast<int>(kProducers));

  std::set<std::size_t> active{0, 1, 2};
  const std::vector<ResizeReport> reports = run_schedule(*pool, schedule, active, log.handled, between, guard);
  const std::size_t resizes = reports.size();
  std::uint64_t reported_hand_offs = 0;
  for (const ResizeReport& r : reports) reported_hand_offs += r.handed_off;
  EXPECT_EQ(pool->capacity(), kCapacity);
  resized.store(true, std::memory_order_release);
  wait_ticking(
      guard, [&] { return producing.load(std::memory_order_acquire) == 0; },
      [&] { return log.handled.load(std::memory_order_relaxed); });
  for (std::thread& t : producers) t.join();
  guard.stop();
  EXPECT_EQ(resizes, schedule.size());
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  std::uint64_t total_sent = 0;
  for (std::size_t p = 0; p < kProducers; ++p) {
    EXPECT_EQ(refused[p], 0) << "producer " << p << ": a send was refused while the pool ran";
    for (std::uint64_t n : sent[p]) total_sent += n;
  }
  {
    std::lock_guard lock(log.mu);
    for (const std::string& v : log.first_violations) ADD_FAILURE() << "first of its kind: " << v;
  }
  EXPECT_EQ(log.wrong_owner.load(), 0u) << "messages handled by a worker that does not own their key";
  EXPECT_EQ(log.out_of_order.load(), 0u)
      << "messages lost, reordered, handled twice, or handled before their key's state arrived";
  EXPECT_EQ(log.garbled.load(), 0u);
  EXPECT_EQ(log.import_clash.load(), 0u);
  EXPECT_GT(reported_hand_offs, 0u) << "test premise: keys with state changed owner";
  EXPECT_EQ(log.handed_off.load(), reported_hand_offs) << "ResizeReport::handed_off does not count the hand_off calls";
  EXPECT_EQ(log.imported.load(), reported_hand_offs) << "a handed-off state was never imported, or imported twice";
  EXPECT_EQ(log.handled.load(), total_sent);

  // Each key ends on its owner under the final ring, holding every producer's last seq.
  const TypeParam final_ring = partitioner_of<TypeParam>(active);
  {
    std::lock_guard lock(log.mu);
    std::uint64_t keys_sent = 0;
    for (std::uint64_t key = 0; key < kLoadKeys; ++key) {
      std::uint64_t expected_count = 0;
      for (std::size_t p = 0; p < kProducers; ++p) expected_count += sent[p][key];
      const auto it = log.final_states.find(key);
      if (expected_count == 0) {
        EXPECT_EQ(it, log.final_states.end()) << "key " << key << " was never sent but has state";
        continue;
      }
      ++keys_sent;
      if (it == log.final_states.end()) {
        ADD_FAILURE() << "key " << key << " is in no worker's final state";
        continue;
      }
      ASSERT_EQ(it->second.size(), 1u) << "key " << key << " is in " << it->second.size() << " workers' final states";
      const auto& [worker, state] = it->second[0];
      EXPECT_EQ(worker, final_ring.owner(key)) << "key " << key << " ended on a worker that does not own it";
      EXPECT_EQ(state.count, expected_count) << "key " << key;
      for (std::size_t p = 0; p < kProducers; ++p) {
        EXPECT_EQ(state.last[p], sent[p][key]) << "key " << key << ", producer " << p;
      }
    }
    EXPECT_EQ(log.final_states.size(), keys_sent);
  }

  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, total_sent);
  EXPECT_EQ(s.failed + s.dropped, 0u);
  EXPECT_EQ(s.workers.size(), kCapacity) << "stats list every slot that ever ran a worker";
  expect_balanced(s);
}

// ---------------------------------------------------------------- workers without hooks

/// No export_state or import_state: nothing moves. Per-key order is still kept, which a
/// table shared by all workers checks (a key is handled by one worker at a time).
struct OrderLog {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> wrong_owner{0};
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::uint64_t> last;  // key -> last seq handled; guarded by mu
  std::uint64_t out_of_order = 0;                         // guarded by mu
};

struct Stateless : Worker<Empty, Tick> {
  explicit Stateless(OrderLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<Tick> e) {
    if (!context().owns(e.key)) log_->wrong_owner.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(log_->mu);
      std::uint64_t& last = log_->last[e.key];
      if (e.payload.seq != last + 1) ++log_->out_of_order;
      last = e.payload.seq;
    }
    log_->handled.fetch_add(1, std::memory_order_relaxed);
  }
  OrderLog* log_;
};

TYPED_TEST(PoolResize, AWorkerWithoutHandoffHooksCanBeResizedAndLosesNothing) {
  constexpr std::uint64_t kKeys = 100;
  OrderLog log;
  auto pool = create_pool<Stateless>(PoolConfig().with_num_workers(2).with_max_workers(4).with_queue_capacity(128),
                                     TypeParam(2), each_worker_gets<Stateless>(&log));
  ASSERT_NE(pool, nullptr);

  const std::vector<Resize> schedule{kAddWorker, kAddWorker,     remove_slot(0),
                                     kAddWorker, remove_slot(2), remove_slot(1)};
  const std::uint64_t between = scaled(2000);
  const std::uint64_t tail = scaled(2000);
  std::vector<std::uint64_t> sent(kKeys, 0);  // written by the producer only
  int refused = 0;
  std::atomic<bool> resized{false};
  std::atomic<bool> producing{true};
  Watchdog guard(stall_limit(), [&pool] {
    ADD_FAILURE() << "no progress: a resize or a send hangs; stopping the pool";
    (void)pool->stop();
  });
  std::thread producer([&] {
    for (std::uint64_t i = 0, after = 0; after < tail; ++i) {
      if (resized.load(std::memory_order_acquire)) ++after;
      const std::uint64_t key = (i * 37) % kKeys;
      if (pool->send(key, Tick{0, key, sent[key] + 1}) != SendResult::ok) {
        ++refused;
        break;
      }
      ++sent[key];
    }
    producing.store(false, std::memory_order_release);
  });

  std::set<std::size_t> active{0, 1};
  const std::vector<ResizeReport> reports = run_schedule(*pool, schedule, active, log.handled, between, guard);
  const std::size_t resizes = reports.size();
  for (const ResizeReport& r : reports) EXPECT_EQ(r.handed_off, 0u) << "a worker without hooks hands nothing off";
  resized.store(true, std::memory_order_release);
  wait_ticking(
      guard, [&] { return !producing.load(std::memory_order_acquire); },
      [&] { return log.handled.load(std::memory_order_relaxed); });
  producer.join();
  guard.stop();
  EXPECT_EQ(resizes, schedule.size());
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  std::uint64_t total_sent = 0;
  for (std::uint64_t n : sent) total_sent += n;
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(log.handled.load(), total_sent);
  EXPECT_EQ(log.wrong_owner.load(), 0u);
  {
    std::lock_guard lock(log.mu);
    EXPECT_EQ(log.out_of_order, 0u) << "messages lost, reordered or handled twice across the resizes";
    for (std::uint64_t key = 0; key < kKeys; ++key) EXPECT_EQ(log.last[key], sent[key]) << "key " << key;
  }
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, total_sent);
  expect_balanced(s);
}

// ---------------------------------------------------------------- slots

/// What one worker object keeps: the slot and incarnation it was made for, and what it
/// handled. A fresh State starts from init().
struct Life {
  std::size_t slot = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t handled = 0;
};

/// Written under `mu` (the factory runs on the resizing thread, the hooks on the workers').
struct LifeLog {
  struct Seen {
    std::size_t slot;
    std::uint64_t incarnation;
    std::uint64_t handled;
    friend bool operator==(const Seen&, const Seen&) = default;
    friend void PrintTo(const Seen& s, std::ostream* os) {
      *os << "{slot " << s.slot << ", incarnation " << s.incarnation << ", handled " << s.handled << "}";
    }
  };
  std::mutex mu;
  std::vector<std::size_t> factory_calls;                    // the slot of each call, in order
  std::vector<std::pair<std::size_t, std::uint64_t>> inits;  // (context index, incarnation)
  std::vector<Seen> stops;
  std::atomic<std::uint64_t> misplaced{0};  // a State or worker object in another slot, or a State not its own
};

struct Lifecycle : Worker<Life, std::uint64_t> {
  Lifecycle(LifeLog* log, std::size_t slot, std::uint64_t incarnation)
      : log_(log), slot_(slot), incarnation_(incarnation) {}
  Life init() {
    std::lock_guard lock(log_->mu);
    log_->inits.emplace_back(context().index(), incarnation_);
    return Life{slot_, incarnation_, 0};
  }
  void handle_message(Life& life, Envelope<std::uint64_t>) {
    if (life.slot != context().index() || slot_ != context().index() || life.incarnation != incarnation_) {
      log_->misplaced.fetch_add(1, std::memory_order_relaxed);
    }
    ++life.handled;
  }
  void on_stop(Life& life) {
    std::lock_guard lock(log_->mu);
    log_->stops.push_back({context().index(), life.incarnation, life.handled});
  }
  LifeLog* log_;
  std::size_t slot_;
  std::uint64_t incarnation_;
};

TYPED_TEST(PoolResize, AnAddedWorkerTakesTheLowestFreeSlotWithANewWorkerAndAFreshState) {
  constexpr std::uint64_t kKeys = 300;
  LifeLog log;
  auto factory = [probe = &log](std::size_t slot) {
    std::lock_guard lock(probe->mu);
    probe->factory_calls.push_back(slot);
    return std::make_unique<Lifecycle>(probe, slot, probe->factory_calls.size() - 1);
  };
  auto pool = create_pool<Lifecycle>(PoolConfig().with_num_workers(3).with_max_workers(4), TypeParam(3), factory);
  ASSERT_NE(pool, nullptr);
  const TypeParam three = partitioner_of<TypeParam>({0, 1, 2});
  const TypeParam four = partitioner_of<TypeParam>({0, 1, 2, 3});
  std::uint64_t old_slot_1 = 0, new_slot_1 = 0;  // messages for the worker in slot 1, before and after
  for (std::uint64_t key = 0; key < kKeys; ++key) {
    old_slot_1 += three.owner(key) == 1 ? 1 : 0;
    new_slot_1 += four.owner(key) == 1 ? 1 : 0;
  }
  ASSERT_GT(old_slot_1, 0u);
  ASSERT_GT(new_slot_1, 0u);

  for (std::uint64_t key = 0; key < kKeys; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
  absl::StatusOr<ResizeReport> removed = pool->remove_worker(1);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(pool->size(), 2u);
  absl::StatusOr<ResizeReport> refilled = pool->add_worker();  // slots 1 and 3 are free
  ASSERT_TRUE(refilled.ok()) << refilled.status();
  EXPECT_EQ(refilled->worker, 1u) << "add_worker fills the lowest free slot";
  absl::StatusOr<ResizeReport> grown = pool->add_worker();
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_EQ(grown->worker, 3u);
  EXPECT_EQ(pool->size(), 4u);
  {
    std::lock_guard lock(log.mu);
    EXPECT_EQ(log.factory_calls, (std::vector<std::size_t>{0, 1, 2, 1, 3}))
        << "the factory makes the worker of each new slot";
  }
  for (std::uint64_t key = 0; key < kKeys; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  EXPECT_EQ(log.misplaced.load(), 0u) << "a worker ran in another slot than its own, or with another worker's State";
  std::lock_guard lock(log.mu);
  std::vector<std::pair<std::size_t, std::uint64_t>> inits = log.inits;
  std::sort(inits.begin(), inits.end());
  EXPECT_EQ(inits, (std::vector<std::pair<std::size_t, std::uint64_t>>{{0, 0}, {1, 1}, {1, 3}, {2, 2}, {3, 4}}))
      << "each new worker builds its own State with init(), in its own slot";
  // The worker now in slot 1 started from a fresh State: it counted only the messages
  // sent after it was added, not its predecessor's.
  const auto new_one =
      std::find_if(log.stops.begin(), log.stops.end(), [](const LifeLog::Seen& seen) { return seen.incarnation == 3; });
  ASSERT_NE(new_one, log.stops.end()) << "the re-added worker never ran on_stop";
  EXPECT_EQ(*new_one, (LifeLog::Seen{1, 3, new_slot_1}));
  // Whether a removed worker runs on_stop is not specified; if it did, it saw its own State.
  for (const LifeLog::Seen& seen : log.stops) {
    if (seen.incarnation == 1) {
      EXPECT_EQ(seen, (LifeLog::Seen{1, 1, old_slot_1}));
    }
  }
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 2 * kKeys);
  expect_balanced(s);
}

// ---------------------------------------------------------------- keys that are not integers

struct UserId {
  std::uint64_t id;
};
std::uint64_t sn_stable_key(const UserId& u) { return stable_hash(u.id ^ 0x5eedULL); }

/// Records where each message went and the key its envelope carried; the payload names
/// the key it was sent with.
struct KeyLog {
  struct Seen {
    std::size_t worker;
    std::uint64_t key;
  };
  std::mutex mu;
  std::map<std::string, std::vector<Seen>> by_payload;  // guarded by mu
};

struct KeyWitness : Worker<Empty, std::string> {
  explicit KeyWitness(KeyLog* log) : log_(log) {}
  void handle_message(Empty&, Envelope<std::string> e) {
    std::lock_guard lock(log_->mu);
    log_->by_payload[e.payload].push_back({context().index(), e.key});
  }
  KeyLog* log_;
};

/// Sends one message per key form through `pool` and checks that each arrived once, with
/// routing_key(key) in its envelope, at the worker `owner(routing_key)` names.
template <class Owner, class... Args>
void expect_keys_route_by_routing_key(const PoolConfig& config, Owner owner, Args&&... args) {
  KeyLog log;
  auto pool = create_pool<KeyWitness>(config, std::forward<Args>(args)..., each_worker_gets<KeyWitness>(&log));
  ASSERT_NE(pool, nullptr);
  std::map<std::string, std::uint64_t> expected;  // payload -> routing key
  for (int i = 0; i < 60; ++i) {
    const std::string name = absl::StrCat("user-", i);
    ASSERT_EQ(pool->send(name, std::string(name)), SendResult::ok);
    expected[name] = routing_key(name);
    const std::string viewed = absl::StrCat("view-", i);
    ASSERT_EQ(pool->send(std::string_view(viewed), std::string(viewed)), SendResult::ok);
    expected[viewed] = routing_key(std::string_view(viewed));
  }
  ASSERT_EQ(pool->send("a string literal", std::string("a string literal")), SendResult::ok);
  expected["a string literal"] = routing_key(std::string_view("a string literal"));
  const std::array<unsigned char, 5> bytes{'b', 'y', 't', 'e', 's'};
  ASSERT_EQ(pool->send(std::span<const unsigned char>(bytes), std::string("bytes")), SendResult::ok);
  expected["bytes"] = routing_key(std::span<const unsigned char>(bytes));
  ASSERT_EQ(pool->send(UserId{42}, std::string("user id 42")), SendResult::ok);
  expected["user id 42"] = sn_stable_key(UserId{42});
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());

  // The routing keys the test expects are those of the same bytes, whatever the key's type.
  EXPECT_EQ(expected["bytes"], routing_key(std::string("bytes")));
  EXPECT_EQ(expected["a string literal"], stable_hash_bytes(std::string_view("a string literal")));
  std::lock_guard lock(log.mu);
  EXPECT_EQ(log.by_payload.size(), expected.size());
  for (const auto& [payload, key] : expected) {
    const auto it = log.by_payload.find(payload);
    if (it == log.by_payload.end()) {
      ADD_FAILURE() << "\"" << payload << "\" never arrived";
      continue;
    }
    ASSERT_EQ(it->second.size(), 1u) << "\"" << payload << "\"";
    EXPECT_EQ(it->second[0].key, key) << "\"" << payload << "\": the envelope's key is not routing_key(key)";
    EXPECT_EQ(it->second[0].worker, owner(key)) << "\"" << payload << "\" reached another worker than its key's owner";
  }
}

TEST(PoolResizeRing, KeysThatAreNotIntegersRouteByTheirRoutingKey) {
  const ConsistentHashPartitioner ring = ring_of({0, 1, 2});
  expect_keys_route_by_routing_key(
      PoolConfig().with_num_workers(3).with_max_workers(4),
      [&ring](std::uint64_t key) -> std::size_t { return ring.owner(key); }, ConsistentHashPartitioner(3));
}

TEST(PoolResizeRing, KeysThatAreNotIntegersRouteByTheirRoutingKeyWithTheDefaultPartitioner) {
  expect_keys_route_by_routing_key(PoolConfig().with_num_workers(3),
                                   [](std::uint64_t key) -> std::size_t { return HashPartitioner{}(key, 3); });
}

// ---------------------------------------------------------------- concurrent resizes

/// Runs `resize(r)` on `threads` threads at once; returns each one's result.
template <class Fn>
std::vector<absl::StatusOr<ResizeReport>> resize_at_once(int threads, Fn resize) {
  std::vector<absl::StatusOr<ResizeReport>> results(static_cast<std::size_t>(threads), absl::UnknownError("not run"));
  StartGate start;
  std::vector<std::thread> resizers;
  for (int r = 0; r < threads; ++r) {
    resizers.emplace_back([&, r] {
      start.arrive_and_wait();
      results[static_cast<std::size_t>(r)] = resize(r);
    });
  }
  start.open_when(threads);
  for (std::thread& t : resizers) t.join();
  return results;
}

TYPED_TEST(PoolResize, ConcurrentResizesSerializeAndEachGetsItsOwnSlot) {
  constexpr int kResizers = 4;
  SinkLog log;
  auto pool = create_pool<Sink>(PoolConfig().with_num_workers(1).with_max_workers(1 + kResizers), TypeParam(1),
                                each_worker_gets<Sink>(&log));
  ASSERT_NE(pool, nullptr);
  // A producer keeps sending while the resizes run (up to a cap: it only adds load).
  const std::uint64_t cap = scaled(200000);
  std::atomic<bool> stop_sending{false};
  std::uint64_t sent = 0;
  int refused = 0;
  std::thread producer([&] {
    for (std::uint64_t key = 0; key < cap && (!stop_sending.load(std::memory_order_acquire) || key < 1000); ++key) {
      if (pool->send(key, std::uint64_t{key}) != SendResult::ok) {
        ++refused;
        return;
      }
      ++sent;
    }
  });

  Watchdog guard(stall_limit(), [&pool] {
    ADD_FAILURE() << "a resize hangs; stopping the pool";
    (void)pool->stop();
  });
  // Four threads add at once: each gets a slot of its own.
  const std::vector<absl::StatusOr<ResizeReport>> added =
      resize_at_once(kResizers, [&pool](int) { return pool->add_worker(); });
  guard.tick();
  const std::size_t size_after_adds = pool->size();
  const absl::StatusCode one_too_many = code_of(pool->add_worker());
  // Then four threads remove slots 0..3 at once: only slot 4 is left.
  const std::vector<absl::StatusOr<ResizeReport>> removed =
      resize_at_once(kResizers, [&pool](int r) { return pool->remove_worker(static_cast<std::size_t>(r)); });
  const std::size_t size_after_removes = pool->size();
  const absl::StatusCode last_one = code_of(pool->remove_worker(4));
  stop_sending.store(true, std::memory_order_release);
  producer.join();
  guard.stop();

  std::set<std::size_t> slots;
  for (const auto& r : added) {
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) slots.insert(r->worker);
  }
  EXPECT_EQ(slots, (std::set<std::size_t>{1, 2, 3, 4}));
  EXPECT_EQ(size_after_adds, 5u);
  EXPECT_EQ(one_too_many, absl::StatusCode::kResourceExhausted);
  for (int r = 0; r < kResizers; ++r) {
    const auto& result = removed[static_cast<std::size_t>(r)];
    EXPECT_TRUE(result.ok()) << "removing slot " << r << ": " << result.status();
    if (result.ok()) {
      EXPECT_EQ(result->worker, static_cast<std::size_t>(r));
    }
  }
  EXPECT_EQ(size_after_removes, 1u);
  EXPECT_EQ(last_one, absl::StatusCode::kFailedPrecondition) << "slot 4 is the last worker";

  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(log.handled.load(), sent);
  EXPECT_EQ(log.not_owned.load(), 0u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, sent);
  EXPECT_EQ(s.workers.size(), 5u);
  expect_balanced(s);
}

TYPED_TEST(PoolResize, AResizeRacingShutdownEitherCompletesOrIsRefused) {
  SinkLog log;
  auto pool = create_pool<Sink>(PoolConfig().with_num_workers(2).with_max_workers(3), TypeParam(2),
                                each_worker_gets<Sink>(&log));
  ASSERT_NE(pool, nullptr);
  std::atomic<std::uint64_t> resizes{0};
  std::atomic<bool> shut_down{false};
  std::uint64_t accepted = 0;
  int unexpected_send = 0;
  std::thread producer([&] {
    for (std::uint64_t key = 0;; ++key) {
      const SendResult r = pool->send(key, std::uint64_t{key});
      if (r == SendResult::ok) {
        ++accepted;
        continue;
      }
      if (r != SendResult::closed) ++unexpected_send;
      return;
    }
  });
  std::string resizer_failure;
  std::atomic<bool> resizer_done{false};
  std::thread resizer([&] {
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag.store(true, std::memory_order_release); }
    } done{resizer_done};
    // Adds slot 2 and removes it again until a resize is refused; once shutdown() has
    // returned, the next one must be.
    for (;;) {
      const bool after_shutdown = shut_down.load(std::memory_order_acquire);
      absl::StatusOr<ResizeReport> r = pool->add_worker();
      if (r.ok()) r = pool->remove_worker(r->worker);
      if (code_of(r) == absl::StatusCode::kFailedPrecondition) return;
      if (!r.ok()) {
        resizer_failure = absl::StrCat("a resize failed with ", r.status().ToString());
        return;
      }
      if (after_shutdown) {
        resizer_failure = "a resize succeeded after shutdown() had returned";
        return;
      }
      resizes.fetch_add(2, std::memory_order_relaxed);
    }
  });
  EXPECT_TRUE(wait_until([&] { return resizes.load(std::memory_order_relaxed) >= 6 || resizer_done.load(); }));
  EXPECT_GE(resizes.load(), 6u) << "the resizes stopped before the shutdown";
  const absl::Status shut = shutdown_or_fail(*pool);
  shut_down.store(true, std::memory_order_release);
  resizer.join();
  producer.join();

  ASSERT_TRUE(shut.ok()) << shut;
  EXPECT_TRUE(resizer_failure.empty()) << resizer_failure;
  EXPECT_EQ(unexpected_send, 0);
  EXPECT_GT(accepted, 0u);
  EXPECT_EQ(log.handled.load(), accepted) << "an accepted message was lost when a resize met shutdown";
  EXPECT_EQ(log.not_owned.load(), 0u);
  EXPECT_FALSE(pool->running());
  EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kFailedPrecondition);
  expect_balanced(pool->stats());
}

// ---------------------------------------------------------------- errors

TEST(PoolResizeRing, APoolWithoutAConsistentHashPartitionerCannotResize) {
  SinkLog log;
  {
    // Every slot is in use too, but the partitioner is what rules a resize out.
    auto pool = create_pool<Sink>(PoolConfig().with_num_workers(2), each_worker_gets<Sink>(&log));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kFailedPrecondition) << "HashPartitioner";
    EXPECT_EQ(code_of(pool->remove_worker(1)), absl::StatusCode::kFailedPrecondition) << "HashPartitioner";
    EXPECT_EQ(pool->size(), 2u);
    for (std::uint64_t key = 0; key < 100; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
    EXPECT_EQ(log.handled.load(), 100u) << "a refused resize must leave the pool working";
    EXPECT_EQ(log.not_owned.load(), 0u) << "owns() disagrees with the HashPartitioner's routing";
  }
  {
    auto by_key = [](std::uint64_t key, std::size_t n) { return static_cast<std::size_t>(key % n); };
    auto pool = create_pool<Sink>(PoolConfig().with_num_workers(2), by_key, each_worker_gets<Sink>(&log));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kFailedPrecondition) << "a custom partitioner";
    EXPECT_EQ(code_of(pool->remove_worker(0)), absl::StatusCode::kFailedPrecondition) << "a custom partitioner";
    EXPECT_EQ(pool->size(), 2u);
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  }
}

TYPED_TEST(PoolResize, AddWorkerWithEverySlotInUseIsResourceExhausted) {
  SinkLog log;
  {
    auto pool = create_pool<Sink>(PoolConfig().with_num_workers(2), TypeParam(2), each_worker_gets<Sink>(&log));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(pool->capacity(), 2u);
    EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kResourceExhausted)
        << "max_workers defaults to num_workers";
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  }
  auto pool = create_pool<Sink>(PoolConfig().with_num_workers(2).with_max_workers(3), TypeParam(2),
                                each_worker_gets<Sink>(&log));
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<ResizeReport> third = pool->add_worker();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->worker, 2u);
  EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool->size(), 3u);
  ASSERT_TRUE(pool->remove_worker(0).ok());
  absl::StatusOr<ResizeReport> refill = pool->add_worker();
  ASSERT_TRUE(refill.ok()) << refill.status();
  EXPECT_EQ(refill->worker, 0u) << "a freed slot can be filled again";
  EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

TYPED_TEST(PoolResize, RemovingASlotWithoutAnActiveWorkerIsRefused) {
  SinkLog log;
  auto pool = create_pool<Sink>(PoolConfig().with_num_workers(2).with_max_workers(4), TypeParam(2),
                                each_worker_gets<Sink>(&log));
  ASSERT_NE(pool, nullptr);
  EXPECT_TRUE(refused_as_not_active(pool->remove_worker(2))) << "a free slot";
  EXPECT_TRUE(refused_as_not_active(pool->remove_worker(4))) << "one past the last slot";
  EXPECT_TRUE(refused_as_not_active(pool->remove_worker(static_cast<std::size_t>(-1))));
  EXPECT_EQ(pool->size(), 2u);
  ASSERT_TRUE(pool->remove_worker(0).ok());
  EXPECT_TRUE(refused_as_not_active(pool->remove_worker(0))) << "a slot whose worker was removed";
  EXPECT_EQ(pool->size(), 1u);
  for (std::uint64_t key = 0; key < 100; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.handled.load(), 100u);
  EXPECT_EQ(log.not_owned.load(), 0u);
}

TYPED_TEST(PoolResize, TheLastWorkerCannotBeRemoved) {
  SinkLog log;
  auto pool = create_pool<Sink>(PoolConfig().with_num_workers(1).with_max_workers(2), TypeParam(1),
                                each_worker_gets<Sink>(&log));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(code_of(pool->remove_worker(0)), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pool->size(), 1u);
  absl::StatusOr<ResizeReport> added = pool->add_worker();
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->worker, 1u);
  ASSERT_TRUE(pool->remove_worker(0).ok());
  EXPECT_EQ(code_of(pool->remove_worker(1)), absl::StatusCode::kFailedPrecondition) << "slot 1 is now the last worker";
  EXPECT_EQ(pool->size(), 1u);
  for (std::uint64_t key = 0; key < 100; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{key}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.handled.load(), 100u);
  EXPECT_EQ(log.not_owned.load(), 0u);
}

// ---------------------------------------------------------------- failures around a resize

/// Counts per key like Counter, but its export_state throws after handing off the first
/// key it would move.
struct ThrowingExporter : Worker<Counts, std::uint64_t> {
  using handoff_type = std::uint64_t;
  explicit ThrowingExporter(SinkLog* log) : log_(log) {}
  void handle_message(Counts& counts, Envelope<std::uint64_t> e) {
    ++counts[e.key];
    log_->handled.fetch_add(1, std::memory_order_relaxed);
  }
  void export_state(Counts& counts, StateHandoff<std::uint64_t>& out) {
    for (const auto& [key, count] : counts) {
      if (!out.leaving(key)) continue;
      out.hand_off(key, std::uint64_t{count});
      throw std::runtime_error("export broke");
    }
  }
  void import_state(Counts& counts, std::uint64_t key, std::uint64_t&& count) { counts[key] += count; }
  SinkLog* log_;
};

TYPED_TEST(PoolResize, AnExportThatThrowsIsReportedAndThePoolGoesOn) {
  SinkLog log;
  auto pool = create_pool<ThrowingExporter>(PoolConfig().with_num_workers(2).with_max_workers(3), TypeParam(2),
                                            each_worker_gets<ThrowingExporter>(&log));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t key = 0; key < 200; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{1}), SendResult::ok);
  absl::StatusOr<ResizeReport> report = pool->add_worker();
  ASSERT_TRUE(report.ok()) << "the resize itself completed: " << report.status();
  EXPECT_EQ(report->hook_failures, 2u) << "both old workers had keys to hand off, and each threw";
  EXPECT_EQ(report->handed_off, 2u) << "each handed off one key before it threw";
  EXPECT_TRUE(absl::StrContains(report->hook_error.message(), "export_state")) << report->hook_error;
  EXPECT_EQ(pool->size(), 3u);
  for (std::uint64_t key = 0; key < 200; ++key) ASSERT_EQ(pool->send(key, std::uint64_t{1}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.handled.load(), 400u);
  EXPECT_EQ(pool->stats().hook_faults, 2u);
}

/// A pool whose handlers never stop sending to each other never becomes idle.
struct Chatter : Worker<Empty, std::uint64_t> {
  void handle_message(Empty&, Envelope<std::uint64_t> e) { (void)context().send(e.key + 1, e.payload + 1); }
};

TYPED_TEST(PoolResize, AResizeThatCannotDrainGivesUpAtItsLimitAndChangesNothing) {
  auto pool = create_pool<Chatter>(PoolConfig().with_num_workers(2).with_max_workers(3), TypeParam(2),
                                   [](std::size_t) { return std::make_unique<Chatter>(); });
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, std::uint64_t{0}), SendResult::ok);  // circulates for ever
  absl::StatusOr<ResizeReport> report = pool->add_worker(absl::Milliseconds(20));
  EXPECT_EQ(code_of(report), absl::StatusCode::kDeadlineExceeded) << report.status();
  EXPECT_EQ(pool->size(), 2u);
  EXPECT_FALSE(pool->has_worker(2));
  EXPECT_EQ(pool->send(7, std::uint64_t{0}), SendResult::ok) << "the gate opened again";
  report = pool->remove_worker(0, absl::Milliseconds(20));
  EXPECT_EQ(code_of(report), absl::StatusCode::kDeadlineExceeded) << report.status();
  EXPECT_EQ(pool->size(), 2u);
  (void)pool->stop();
  EXPECT_TRUE(pool->stats().balanced());
}

/// Worker 1's on_stop waits until the test has sent a message from another thread: the
/// gate must be open by the time a removed worker runs on_stop.
struct SlowStop : Worker<Empty, std::uint64_t> {
  struct Probe {
    std::atomic<bool> stopping{false};
    std::atomic<bool> sent{false};
    std::atomic<bool> saw_send{false};
  };
  explicit SlowStop(Probe* probe) : probe_(probe) {}
  void handle_message(Empty&, Envelope<std::uint64_t>) {}
  void on_stop(Empty&) {
    if (context().index() != 1) return;
    probe_->stopping.store(true, std::memory_order_release);
    probe_->saw_send.store(wait_until([&] { return probe_->sent.load(std::memory_order_acquire); }),
                           std::memory_order_release);
  }
  Probe* probe_;
};

TYPED_TEST(PoolResize, SendsFlowWhileARemovedWorkerRunsOnStop) {
  SlowStop::Probe probe;
  auto pool = create_pool<SlowStop>(PoolConfig().with_num_workers(3), TypeParam(3), each_worker_gets<SlowStop>(&probe));
  ASSERT_NE(pool, nullptr);
  std::thread remover([&] { EXPECT_TRUE(pool->remove_worker(1).ok()); });
  ASSERT_TRUE(wait_until([&] { return probe.stopping.load(std::memory_order_acquire); }));
  EXPECT_EQ(pool->send(5, std::uint64_t{1}), SendResult::ok);
  probe.sent.store(true, std::memory_order_release);
  remover.join();
  EXPECT_TRUE(probe.saw_send.load()) << "the send waited for on_stop: the gate was still closed";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

/// Asks its own pool to grow from inside a handler, and records the answer.
struct SelfResizer : Worker<Empty, std::uint64_t> {
  explicit SelfResizer(std::atomic<WorkerPool<SelfResizer>*>* pool, std::atomic<int>* code)
      : pool_(pool), code_(code) {}
  void handle_message(Empty&, Envelope<std::uint64_t>) {
    code_->store(static_cast<int>(code_of(pool_->load()->add_worker())), std::memory_order_release);
  }
  std::atomic<WorkerPool<SelfResizer>*>* pool_;
  std::atomic<int>* code_;
};

TYPED_TEST(PoolResize, AWorkerCannotResizeItsOwnPool) {
  std::atomic<WorkerPool<SelfResizer>*> self{nullptr};
  std::atomic<int> code{-1};
  auto pool = create_pool<SelfResizer>(PoolConfig().with_num_workers(1).with_max_workers(2), TypeParam(1),
                                       each_worker_gets<SelfResizer>(&self, &code));
  ASSERT_NE(pool, nullptr);
  self.store(pool.get(), std::memory_order_release);
  ASSERT_EQ(pool->send(1, std::uint64_t{1}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return code.load(std::memory_order_acquire) != -1; }));
  EXPECT_EQ(code.load(), static_cast<int>(absl::StatusCode::kFailedPrecondition)) << "it would wait for itself";
  EXPECT_EQ(pool->size(), 1u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

TYPED_TEST(PoolResize, ResizingAfterShutdownOrStopIsAFailedPrecondition) {
  SinkLog log;
  const PoolConfig config = PoolConfig().with_num_workers(2).with_max_workers(3);
  {
    auto pool = create_pool<Sink>(config, TypeParam(2), each_worker_gets<Sink>(&log));
    ASSERT_NE(pool, nullptr);
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
    EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kFailedPrecondition) << "after shutdown()";
    EXPECT_EQ(code_of(pool->remove_worker(1)), absl::StatusCode::kFailedPrecondition) << "after shutdown()";
  }
  {
    auto pool = create_pool<Sink>(config, TypeParam(2), each_worker_gets<Sink>(&log));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(pool->stop(), 0u);
    EXPECT_EQ(code_of(pool->add_worker()), absl::StatusCode::kFailedPrecondition) << "after stop()";
    EXPECT_EQ(code_of(pool->remove_worker(1)), absl::StatusCode::kFailedPrecondition) << "after stop()";
  }
}

TEST(PoolResizeRing, CreateRefusesARingWhoseIdsAreNotTheFirstSlots) {
  SinkLog log;
  ConsistentHashPartitioner one_and_two(3);
  ASSERT_TRUE(one_and_two.remove_worker(0).ok());
  EXPECT_EQ(create_status<Sink>(PoolConfig().with_num_workers(2), one_and_two, each_worker_gets<Sink>(&log)).code(),
            absl::StatusCode::kInvalidArgument)
      << "ids 1 and 2 for workers 0 and 1";
  EXPECT_EQ(
      create_status<Sink>(PoolConfig().with_num_workers(2), ConsistentHashPartitioner(3), each_worker_gets<Sink>(&log))
          .code(),
      absl::StatusCode::kInvalidArgument)
      << "three ids for two workers";
  EXPECT_EQ(create_status<Sink>(PoolConfig().with_num_workers(3).with_max_workers(4), ConsistentHashPartitioner(2),
                                each_worker_gets<Sink>(&log))
                .code(),
            absl::StatusCode::kInvalidArgument)
      << "two ids for three workers";
  EXPECT_EQ(log.handled.load(), 0u);
}

TEST(PoolResizeRing, CreateRefusesMaxWorkersBelowNumWorkers) {
  SinkLog log;
  const PoolConfig config = PoolConfig().with_num_workers(3).with_max_workers(2);
  EXPECT_EQ(create_status<Sink>(config, ConsistentHashPartitioner(3), each_worker_gets<Sink>(&log)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(create_status<Sink>(config, each_worker_gets<Sink>(&log)).code(), absl::StatusCode::kInvalidArgument)
      << "with the default partitioner too";
  auto pool = create_pool<Sink>(PoolConfig().with_num_workers(3).with_max_workers(3), ConsistentHashPartitioner(3),
                                each_worker_gets<Sink>(&log));
  ASSERT_NE(pool, nullptr) << "max_workers equal to num_workers is allowed";
  EXPECT_EQ(pool->capacity(), 3u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

}  // namespace
}  // namespace sn::test
