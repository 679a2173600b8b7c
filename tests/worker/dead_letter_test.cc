// Dead letters: every accepted message that is not handled reaches the PoolConfig's sink
// once, with its key, its destination and the reason; without a sink the pool drops and
// counts as before. Handlers block on a Gate where a test needs a queue to stay full, so
// that each reason is produced on purpose rather than by timing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/pool/dead_letters.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

// Payloads that make the handler do something; any other payload is just counted.
constexpr std::uint64_t kWait = 1'000'000'000;      // waits on the probe's gate
constexpr std::uint64_t kThrow = 1'000'000'001;     // throws
constexpr std::uint64_t kStopHere = 1'000'000'002;  // stops the pool from inside (returns at once)
constexpr std::uint64_t kFlood = 1'000'000'003;     // sends `flood` messages to worker `flood_to`

using Letter = DeadLetter<std::uint64_t>;

struct Empty {};

/// What the handlers and the sink record.
struct Probe {
  Gate gate;
  std::function<void()> stop;    // set before any kStopHere is sent
  bool stop_after_wait = false;  // kWait calls stop() once the gate lets it through
  std::size_t flood = 0;         // kFlood sends payloads 1..flood with key = payload
  std::size_t flood_to = 1;
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> handled_sum{0};
  std::atomic<std::uint64_t> sent_sum{0};  // payloads the handlers' sends got accepted (ok or dropped)
  std::mutex mu;
  std::vector<Letter> letters;           // guarded by mu
  std::vector<std::thread::id> threads;  // guarded by mu: where the sink ran

  DeadLetterSink<std::uint64_t> sink() {
    return [this](Letter&& d) {
      std::lock_guard lock(mu);
      letters.push_back(d);
      threads.push_back(std::this_thread::get_id());
    };
  }
  std::vector<Letter> seen() {
    std::lock_guard lock(mu);
    return letters;
  }
  std::uint64_t letters_sum() {
    std::uint64_t sum = 0;
    for (const Letter& d : seen()) sum += d.message;
    return sum;
  }
};

struct Recorder : Worker<Empty, std::uint64_t> {
  explicit Recorder(Probe* p) : p_(p) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    switch (e.payload) {
      case kWait:
        (void)p_->gate.wait();
        if (p_->stop_after_wait) p_->stop();
        break;
      case kThrow: throw std::runtime_error("boom");
      case kStopHere: p_->stop(); break;
      case kFlood:
        for (std::uint64_t v = 1; v <= p_->flood; ++v) {
          const SendResult r = context().send_to(p_->flood_to, std::uint64_t{v}, v);
          if (r == SendResult::ok || r == SendResult::dropped) p_->sent_sum.fetch_add(v);
        }
        break;
      default: p_->handled_sum.fetch_add(e.payload); break;
    }
    p_->handled.fetch_add(1);
  }
  Probe* p_;
};

bool same(const Letter& d, std::uint64_t message, std::uint64_t key, std::size_t worker, DeadLetterReason reason) {
  return d.message == message && d.key == key && d.worker == worker && d.reason == reason;
}

std::string show(const Letter& d) {
  return absl::StrCat("{message ", d.message, ", key ", d.key, ", worker ", d.worker, ", ",
                      std::string(to_string(d.reason)), "}");
}

/// Once the pool has stopped: its drops, the messages its sink got, and the balance.
void expect_dropped(const PoolStats& s, std::uint64_t dropped, std::uint64_t dead_letters) {
  EXPECT_EQ(s.dropped, dropped);
  EXPECT_EQ(s.dead_letters, dead_letters);
  expect_balanced(s);
}

PoolConfig with_sink(Probe& p, PoolConfig config) {
  return config.with_dead_letters<std::uint64_t>(p.sink()).with_fault_observer(nullptr);
}

/// Sends `payload` (key = payload) to worker `to` until a send is dropped; the payloads
/// accepted before it are added to `accepted`. Returns the dropped payload, 0 if none.
std::uint64_t send_until_dropped(WorkerPool<Recorder>& pool, std::size_t to, std::uint64_t first,
                                 std::uint64_t& accepted) {
  for (std::uint64_t v = first; v < first + 10'000; ++v) {
    const SendResult r = pool.send_to(to, std::uint64_t{v}, v);
    if (r == SendResult::ok) accepted += v;
    if (r == SendResult::dropped) return v;
  }
  return 0;
}

TEST(DeadLetterReason, EveryReasonHasItsName) {
  EXPECT_EQ(to_string(DeadLetterReason::dropped_full), "dropped_full");
  EXPECT_EQ(to_string(DeadLetterReason::dropped_at_gate), "dropped_at_gate");
  EXPECT_EQ(to_string(DeadLetterReason::left_at_stop), "left_at_stop");
  EXPECT_EQ(to_string(DeadLetterReason::isolated_worker), "isolated_worker");
  EXPECT_EQ(to_string(DeadLetterReason::late_reply), "late_reply");
}

TEST(DeadLetters, AnExternalSendDroppedByAFullInboxReachesTheSinkWithItsKeyAndWorker) {
  Probe p;
  auto pool = create_pool<Recorder>(
      with_sink(p, PoolConfig().with_num_workers(2).with_queue_capacity(4).with_full_policy(FullPolicy::drop)),
      each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(1, kWait), SendResult::ok);
  ASSERT_TRUE(p.gate.wait_until_entered());
  std::uint64_t accepted = 0;
  const std::uint64_t dropped = send_until_dropped(*pool, 1, 10, accepted);
  ASSERT_NE(dropped, 0u) << "the inbox never filled";
  p.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const std::vector<Letter> letters = p.seen();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_TRUE(same(letters[0], dropped, dropped, 1, DeadLetterReason::dropped_full)) << show(letters[0]);
  EXPECT_EQ(letters[0].worker, 1u);
  EXPECT_EQ(p.handled_sum.load(), accepted);
  expect_dropped(pool->stats(), 1u, 1u);
}

TEST(DeadLetters, AWorkerSendDroppedByAFullLaneReachesTheSinkWithItsDestination) {
  Probe p;
  p.flood = 64;
  p.flood_to = 1;
  auto pool = create_pool<Recorder>(
      with_sink(p, PoolConfig().with_num_workers(2).with_mesh_capacity(4).with_full_policy(FullPolicy::drop)),
      each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(1, kWait), SendResult::ok);
  ASSERT_TRUE(p.gate.wait_until_entered());
  ASSERT_EQ(pool->send_to(0, kFlood), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return p.handled.load() == 1; })) << "worker 0 handles the flood";
  p.gate.open();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const std::vector<Letter> letters = p.seen();
  ASSERT_FALSE(letters.empty()) << "a lane of 4 took 64 messages";
  for (const Letter& d : letters) {
    EXPECT_TRUE(same(d, d.message, d.message, 1, DeadLetterReason::dropped_full)) << show(d);
  }
  EXPECT_EQ(p.handled_sum.load() + p.letters_sum(), p.sent_sum.load());
  EXPECT_EQ(p.sent_sum.load(), 64u * 65u / 2u) << "every send was accepted: ok or dropped";
  expect_dropped(pool->stats(), letters.size(), letters.size());
}

TEST(DeadLetters, ASendDroppedWhileAResizeHoldsTheGateReachesTheSinkWithoutAWorkerWhenSentByKey) {
  Probe p;
  auto pool = create_pool<Recorder>(
      with_sink(p, PoolConfig().with_num_workers(2).with_max_workers(3).with_full_policy(FullPolicy::drop)),
      ConsistentHashPartitioner(2), each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, kWait), SendResult::ok);
  ASSERT_TRUE(p.gate.wait_until_entered());
  // The resize closes the gate, then waits for worker 0, which waits for the test.
  std::thread resizer([&] { EXPECT_TRUE(pool->add_worker().ok()); });
  std::uint64_t accepted = 0;
  std::uint64_t by_key = 0;
  const absl::Time give_up = absl::Now() + stall_limit();
  for (std::uint64_t v = 10; by_key == 0 && absl::Now() < give_up; ++v) {
    const SendResult r = pool->send(std::uint64_t{77}, std::uint64_t{v});
    if (r == SendResult::ok) accepted += v;
    if (r == SendResult::dropped) by_key = v;
    if (r != SendResult::dropped) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  EXPECT_NE(by_key, 0u) << "the gate never closed";
  EXPECT_EQ(pool->send_to(1, std::uint64_t{5}, 55), SendResult::dropped) << "the gate is still closed";
  p.gate.open();
  resizer.join();
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const std::vector<Letter> letters = p.seen();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_TRUE(same(letters[0], by_key, 77, Letter::kUnknownWorker, DeadLetterReason::dropped_at_gate))
      << show(letters[0]);
  EXPECT_TRUE(same(letters[1], 5, 55, 1, DeadLetterReason::dropped_at_gate)) << show(letters[1]);
  EXPECT_EQ(p.handled_sum.load(), accepted);
  expect_dropped(pool->stats(), 2u, 2u);
}

TEST(DeadLetters, MessagesStillQueuedAtStopReachTheSinkOnTheStoppingThreadInOrder) {
  Probe p;
  auto pool = create_pool<Recorder>(with_sink(p, PoolConfig().with_batch_size(1)), each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  p.stop = [&] { (void)pool->stop(); };  // from the worker: only asks it to stop
  ASSERT_EQ(pool->send_to(0, kWait), SendResult::ok);
  ASSERT_TRUE(p.gate.wait_until_entered());
  ASSERT_EQ(pool->send_to(0, kStopHere), SendResult::ok);
  for (std::uint64_t v = 1; v <= 10; ++v) ASSERT_EQ(pool->send_to(0, std::uint64_t{v}, 100 + v), SendResult::ok);
  p.gate.open();
  ASSERT_TRUE(wait_until([&] { return p.handled.load() == 2; }));
  EXPECT_EQ(pool->stop(), 10u);
  const std::vector<Letter> letters = p.seen();
  ASSERT_EQ(letters.size(), 10u);
  for (std::uint64_t v = 1; v <= 10; ++v) {
    EXPECT_TRUE(same(letters[v - 1], v, 100 + v, 0, DeadLetterReason::left_at_stop)) << show(letters[v - 1]);
  }
  for (std::thread::id t : p.threads) EXPECT_EQ(t, std::this_thread::get_id());
  expect_dropped(pool->stats(), 10u, 10u);
}

TEST(DeadLetters, WhatAStoppedWorkerStillOwedReachesTheSinkAddressedToItsDestination) {
  Probe p;
  p.flood = 64;
  p.flood_to = 1;
  p.stop_after_wait = true;
  // A batch of 1: worker 1's batch ends with kWait (a handler runs inside the drain, which
  // would otherwise go on to take from the lane).
  auto pool =
      create_pool<Recorder>(with_sink(p, PoolConfig().with_num_workers(2).with_mesh_capacity(4).with_batch_size(1)),
                            each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  p.stop = [&] { (void)pool->stop(); };  // from worker 1: only asks every worker to stop
  ASSERT_EQ(pool->send_to(1, kWait), SendResult::ok);
  ASSERT_TRUE(p.gate.wait_until_entered());
  // Worker 0 sends 64 into its lane of 4 to worker 1, which is busy: 60 wait in its outbox.
  ASSERT_EQ(pool->send_to(0, kFlood), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return p.handled.load() == 1; }));
  p.gate.open();  // worker 1 stops the pool before it takes anything from the lane
  EXPECT_EQ(pool->stop(), 64u);
  EXPECT_EQ(p.sent_sum.load(), 64u * 65u / 2u) << "under block, every send from a worker is accepted";
  std::vector<Letter> letters = p.seen();
  ASSERT_EQ(letters.size(), 64u);
  std::sort(letters.begin(), letters.end(), [](const Letter& a, const Letter& b) { return a.message < b.message; });
  for (std::uint64_t v = 1; v <= 64; ++v) {
    EXPECT_TRUE(same(letters[v - 1], v, v, 1, DeadLetterReason::left_at_stop)) << show(letters[v - 1]);
  }
  expect_dropped(pool->stats(), 64, 64);
}

TEST(DeadLetters, TheRestOfABatchThatAFaultHaltedReachesTheSinkAsLeftAtStop) {
  Probe p;
  auto pool = create_pool<Recorder>(with_sink(p, PoolConfig().with_fault_policy(FaultPolicy::stop_pool)),
                                    each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, kWait), SendResult::ok);
  ASSERT_TRUE(p.gate.wait_until_entered());
  ASSERT_EQ(pool->send_to(0, kThrow), SendResult::ok);
  for (std::uint64_t v = 1; v <= 3; ++v) ASSERT_EQ(pool->send_to(0, std::uint64_t{v}, 10 * v), SendResult::ok);
  p.gate.open();
  EXPECT_FALSE(shutdown_or_fail(*pool).ok());
  const std::vector<Letter> letters = p.seen();
  ASSERT_EQ(letters.size(), 3u);
  for (std::uint64_t v = 1; v <= 3; ++v) {
    EXPECT_TRUE(same(letters[v - 1], v, 10 * v, 0, DeadLetterReason::left_at_stop)) << show(letters[v - 1]);
  }
  EXPECT_EQ(pool->stats().failed, 1u);
  expect_dropped(pool->stats(), 3, 3);
}

TEST(DeadLetters, MessagesSentToAnIsolatedWorkerReachTheSinkAsIsolatedWorker) {
  Probe p;
  auto pool =
      create_pool<Recorder>(with_sink(p, PoolConfig().with_num_workers(2).with_fault_policy(FaultPolicy::isolate)),
                            each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(1, kThrow), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().workers[1].isolated; }));
  ASSERT_EQ(pool->send_to(1, std::uint64_t{7}, 70), SendResult::ok);
  ASSERT_EQ(pool->send_to(1, std::uint64_t{8}, 80), SendResult::ok);
  ASSERT_EQ(pool->send_to(0, std::uint64_t{9}, 90), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const std::vector<Letter> letters = p.seen();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_TRUE(same(letters[0], 7, 70, 1, DeadLetterReason::isolated_worker)) << show(letters[0]);
  EXPECT_TRUE(same(letters[1], 8, 80, 1, DeadLetterReason::isolated_worker)) << show(letters[1]);
  EXPECT_EQ(p.handled_sum.load(), 9u) << "worker 0 runs on";
  EXPECT_EQ(pool->stats().isolated_drops, 2u);
  expect_dropped(pool->stats(), 2, 2);
}

/// Forwards each message to the next key until its hop count (the payload's low 2 bits)
/// runs out; counts what it handled and what its sends got accepted.
struct Forwarder : Worker<Empty, std::uint64_t> {
  explicit Forwarder(Probe* p) : p_(p) {}
  void handle_message(Empty&, Envelope<std::uint64_t> e) {
    p_->handled_sum.fetch_add(e.payload);
    if ((e.payload & 3) != 0) {
      const std::uint64_t next = e.payload - 1;
      const SendResult r = context().send(e.key + 1, std::uint64_t{next});
      if (r == SendResult::ok || r == SendResult::dropped) p_->sent_sum.fetch_add(next);
    }
  }
  Probe* p_;
};

TEST(DeadLetters, WithASinkEveryAcceptedMessageIsHandledOrDeadLetteredExactlyOnce) {
  for (const FullPolicy policy : {FullPolicy::drop, FullPolicy::block}) {
    SCOPED_TRACE(to_string(policy));
    Probe p;
    auto pool = create_pool<Forwarder>(
        with_sink(
            p, PoolConfig().with_num_workers(3).with_queue_capacity(8).with_mesh_capacity(4).with_full_policy(policy)),
        each_worker_gets<Forwarder>(&p));
    ASSERT_NE(pool, nullptr);
    constexpr int kProducers = 2;
    const std::uint64_t per_producer = scaled(20'000);
    StartGate start;
    std::vector<std::thread> producers;
    for (int t = 0; t < kProducers; ++t) {
      producers.emplace_back([&, t] {
        start.arrive_and_wait();
        for (std::uint64_t i = 0; i < per_producer; ++i) {
          const std::uint64_t v = ((static_cast<std::uint64_t>(t) * per_producer + i) << 2) | (i & 3);
          const SendResult r = pool->send(i, std::uint64_t{v});
          if (r == SendResult::ok || r == SendResult::dropped) p.sent_sum.fetch_add(v);
          if (r == SendResult::closed) break;
        }
      });
    }
    start.open_when(kProducers);
    // Stop while the producers still send: what is queued then is left at stop.
    EXPECT_TRUE(wait_for_progress(
        [&] {
          const PoolStats now = pool->stats();
          return now.processed + now.dropped;
        },
        per_producer / 2));
    (void)pool->stop();
    for (std::thread& t : producers) t.join();
    const PoolStats s = pool->stats();
    EXPECT_EQ(p.handled_sum.load() + p.letters_sum(), p.sent_sum.load());
    EXPECT_EQ(s.dead_letters, p.seen().size());
    EXPECT_EQ(s.dropped, s.dead_letters) << "with a sink, every drop is a dead letter";
    if (policy == FullPolicy::drop) {
      EXPECT_GT(s.dead_letters, 0u) << "queues of 4 and 8 overflowed";
    }
    expect_balanced(s);
  }
}

struct Boxed : Worker<Empty, std::unique_ptr<std::uint64_t>> {
  void handle_message(Empty&, Envelope<std::unique_ptr<std::uint64_t>> e) {
    if (*e.payload == 0) throw std::runtime_error("zero");
  }
};

TEST(DeadLetters, AMoveOnlyMessageReachesTheSinkIntact) {
  std::mutex mu;
  std::vector<std::uint64_t> seen;
  auto pool = create_pool<Boxed>(
      PoolConfig()
          .with_fault_policy(FaultPolicy::isolate)
          .with_fault_observer(nullptr)
          .with_dead_letters<std::unique_ptr<std::uint64_t>>([&](DeadLetter<std::unique_ptr<std::uint64_t>>&& d) {
            std::lock_guard lock(mu);
            seen.push_back(d.message != nullptr ? *d.message : 0);
          }),
      [](std::size_t) { return std::make_unique<Boxed>(); });
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, std::make_unique<std::uint64_t>(0)), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().workers[0].isolated; }));
  ASSERT_EQ(pool->send_to(0, std::make_unique<std::uint64_t>(42)), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, std::vector<std::uint64_t>{42});
}

TEST(DeadLetters, ASinkForAnotherMessageTypeIsInvalidArgumentAtCreate) {
  Probe p;
  auto made = WorkerPool<Recorder>::create(
      PoolConfig().with_dead_letters<std::int64_t>([](DeadLetter<std::int64_t>&&) {}), each_worker_gets<Recorder>(&p));
  ASSERT_FALSE(made.ok());
  EXPECT_TRUE(has_code_and_mentions(made.status(), absl::StatusCode::kInvalidArgument, "dead-letter sink"));
}

TEST(DeadLetters, WithoutASinkDropsAreCountedAsBefore) {
  for (const bool empty_sink : {false, true}) {
    SCOPED_TRACE(empty_sink ? "an empty function" : "no sink");
    Probe p;
    PoolConfig config = PoolConfig().with_num_workers(2).with_queue_capacity(4).with_full_policy(FullPolicy::drop);
    if (empty_sink) config.with_dead_letters<std::uint64_t>(nullptr);
    EXPECT_FALSE(config.dead_letters);
    auto pool = create_pool<Recorder>(config, each_worker_gets<Recorder>(&p));
    ASSERT_NE(pool, nullptr);
    ASSERT_EQ(pool->send_to(1, kWait), SendResult::ok);
    ASSERT_TRUE(p.gate.wait_until_entered());
    std::uint64_t accepted = 0;
    ASSERT_NE(send_until_dropped(*pool, 1, 10, accepted), 0u);
    p.gate.open();
    ASSERT_TRUE(shutdown_or_fail(*pool).ok());
    EXPECT_EQ(p.handled_sum.load(), accepted);
    expect_dropped(pool->stats(), 1, 0);
    EXPECT_EQ(pool->stats().hook_faults, 0u);
  }
}

TEST(DeadLetters, ASinkThatThrowsIsCountedAsAHookFaultAndThePoolRunsOn) {
  Probe p;
  auto pool = create_pool<Recorder>(
      PoolConfig()
          .with_num_workers(2)
          .with_fault_policy(FaultPolicy::isolate)
          .with_fault_observer(nullptr)
          .with_dead_letters<std::uint64_t>([](Letter&&) { throw std::runtime_error("sink broke"); }),
      each_worker_gets<Recorder>(&p));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(1, kThrow), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().workers[1].isolated; }));
  ASSERT_EQ(pool->send_to(1, std::uint64_t{7}), SendResult::ok);
  ASSERT_EQ(pool->send_to(0, std::uint64_t{9}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(p.handled_sum.load(), 9u);
  EXPECT_EQ(pool->stats().hook_faults, 1u) << "the sink threw";
  expect_dropped(pool->stats(), 1, 1);
}

}  // namespace
}  // namespace sn::test
