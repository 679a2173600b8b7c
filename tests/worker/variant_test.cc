// Workers whose Message is a std::variant: handlers per alternative, a handler template, a
// handler for the whole variant, and sends of each alternative from every entry point.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/partitioners/key.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

struct Ping {
  std::uint64_t n = 0;
};
struct Pong {
  std::string text;
};
struct Stop {};
using Msg = std::variant<Ping, Pong, Stop>;

/// What the handlers saw, readable from the test's thread.
struct Seen {
  std::atomic<std::uint64_t> pings{0}, ping_sum{0}, pongs{0}, pong_chars{0}, stops{0}, wholes{0};
  std::atomic<std::uint64_t> from_workers{0};
};

struct NoState {};

// One handler per alternative, of mixed result types.
struct PerAlternative : Worker<NoState, Msg> {
  explicit PerAlternative(Seen* seen) : seen_(seen) {}
  void handle_message(NoState&, Envelope<Ping> e) {
    seen_->pings.fetch_add(1);
    seen_->ping_sum.fetch_add(e.payload.n);
    if (e.source.is_worker()) seen_->from_workers.fetch_add(1);
  }
  absl::Status handle_message(NoState&, Envelope<Pong> e) {
    seen_->pongs.fetch_add(1);
    seen_->pong_chars.fetch_add(e.payload.text.size());
    if (e.source.is_worker()) seen_->from_workers.fetch_add(1);
    return absl::OkStatus();
  }
  void handle_message(NoState&, Envelope<Stop> e) {
    seen_->stops.fetch_add(1);
    if (e.source.is_worker()) seen_->from_workers.fetch_add(1);
  }
  Seen* seen_;
};

// The pool accepts a worker that handles every alternative, and its sends take each
// alternative as it is.
static_assert(WorkerType<PerAlternative>);
static_assert(detail::HandlesAlternatives<PerAlternative>);
static_assert(!detail::HandlesWholeMessage<PerAlternative>);

void expect_seen(const Seen& seen, std::uint64_t pings, std::uint64_t ping_sum, std::uint64_t pongs,
                 std::uint64_t pong_chars, std::uint64_t stops) {
  EXPECT_EQ(seen.pings.load(), pings);
  EXPECT_EQ(seen.ping_sum.load(), ping_sum);
  EXPECT_EQ(seen.pongs.load(), pongs);
  EXPECT_EQ(seen.pong_chars.load(), pong_chars);
  EXPECT_EQ(seen.stops.load(), stops);
}

TEST(VariantMessages, EachAlternativeReachesItsOwnHandlerWithItsPayloadExactlyOnce) {
  constexpr std::uint64_t kEach = 300;
  Seen seen;
  auto pool = create_pool<PerAlternative>(PoolConfig().with_num_workers(2), each_worker_gets<PerAlternative>(&seen));
  ASSERT_NE(pool, nullptr);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < kEach; ++i) {
    ASSERT_EQ(pool->send(i, Ping{i}), SendResult::ok);  // an rvalue alternative
    sum += i;
    const Pong pong{std::string(i % 7, 'x')};
    ASSERT_EQ(pool->send(i, pong), SendResult::ok);         // an lvalue alternative: copied
    ASSERT_EQ(pool->send(i, Msg(Stop{})), SendResult::ok);  // the variant itself, as before
  }
  std::uint64_t chars = 0;
  for (std::uint64_t i = 0; i < kEach; ++i) chars += i % 7;
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_seen(seen, kEach, sum, kEach, chars, kEach);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.processed, 3 * kEach);
  expect_balanced(stats);
}

// A handler template sees each alternative as its own type.
struct Generic : Worker<NoState, Msg> {
  explicit Generic(Seen* seen) : seen_(seen) {}
  template <class T>
  void handle_message(NoState&, Envelope<T> e) {
    static_assert(!std::is_same_v<T, Msg>, "a handler template is called per alternative");
    if constexpr (std::is_same_v<T, Ping>) {
      seen_->pings.fetch_add(1);
      seen_->ping_sum.fetch_add(e.payload.n);
    } else if constexpr (std::is_same_v<T, Pong>) {
      seen_->pongs.fetch_add(1);
      seen_->pong_chars.fetch_add(e.payload.text.size());
    } else {
      seen_->stops.fetch_add(1);
    }
  }
  Seen* seen_;
};

TEST(VariantMessages, AHandlerTemplateIsCalledWithEachAlternativeRatherThanTheVariant) {
  Seen seen;
  auto pool = create_pool<Generic>(PoolConfig().with_num_workers(2), each_worker_gets<Generic>(&seen));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, Ping{5}), SendResult::ok);
  ASSERT_EQ(pool->send(2, Ping{6}), SendResult::ok);
  ASSERT_EQ(pool->send(3, Pong{"four"}), SendResult::ok);
  ASSERT_EQ(pool->send(4, Stop{}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_seen(seen, 2, 11, 1, 4, 1);
  expect_balanced(pool->stats());
}

// A handler for the whole variant wins over a template that would also take it.
struct Whole : Worker<NoState, Msg> {
  explicit Whole(Seen* seen) : seen_(seen) {}
  void handle_message(NoState&, Envelope<Msg> e) {
    seen_->wholes.fetch_add(1);
    if (const Ping* p = std::get_if<Ping>(&e.payload)) seen_->ping_sum.fetch_add(p->n);
  }
  template <class T>
  void handle_message(NoState&, Envelope<T>) {
    seen_->pings.fetch_add(1000);  // never: the whole-variant handler is chosen
  }
  Seen* seen_;
};
static_assert(detail::HandlesWholeMessage<Whole>);

TEST(VariantMessages, AHandlerForTheWholeVariantIsChosenWhenTheWorkerHasOne) {
  Seen seen;
  auto pool = create_pool<Whole>(PoolConfig().with_num_workers(1), each_worker_gets<Whole>(&seen));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, Ping{7}), SendResult::ok);
  ASSERT_EQ(pool->send(1, Stop{}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.wholes.load(), 2u);
  EXPECT_EQ(seen.ping_sum.load(), 7u);
  EXPECT_EQ(seen.pings.load(), 0u);
}

// A Ping with an odd number fails (a status); a Pong that says "throw" throws.
struct Failing : Worker<NoState, Msg> {
  explicit Failing(Seen* seen) : seen_(seen) {}
  absl::Status handle_message(NoState&, Envelope<Ping> e) {
    seen_->pings.fetch_add(1);
    return e.payload.n % 2 == 1 ? absl::InvalidArgumentError("odd ping") : absl::OkStatus();
  }
  void handle_message(NoState&, Envelope<Pong> e) {
    seen_->pongs.fetch_add(1);
    if (e.payload.text == "throw") throw std::runtime_error("pong threw");
  }
  void handle_message(NoState&, Envelope<Stop>) { seen_->stops.fetch_add(1); }
  Seen* seen_;
};

TEST(VariantMessages, AnAlternativeHandlerThatFailsCountsItsMessageAsFailedAndRestartsUnderRestart) {
  Seen seen;
  auto pool = create_pool<Failing>(PoolConfig().with_num_workers(1).with_fault_policy(FaultPolicy::restart),
                                   each_worker_gets<Failing>(&seen));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_EQ(pool->send(i, Ping{i}), SendResult::ok);  // 5 odd
  ASSERT_EQ(pool->send(1, Pong{"throw"}), SendResult::ok);
  ASSERT_EQ(pool->send(1, Pong{"fine"}), SendResult::ok);
  ASSERT_EQ(pool->send(1, Stop{}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.failed, 6u);
  EXPECT_EQ(stats.processed, 7u);
  EXPECT_EQ(stats.restarts, 6u);
  expect_seen(seen, 10, 0, 2, 0, 1);
  expect_balanced(stats);
}

TEST(VariantMessages, AFailingAlternativeHandlerStopsThePoolWithItsErrorUnderStopPool) {
  Seen seen;
  auto pool = create_pool<Failing>(PoolConfig().with_num_workers(1).with_fault_policy(FaultPolicy::stop_pool),
                                   each_worker_gets<Failing>(&seen));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, Ping{3}), SendResult::ok);
  EXPECT_TRUE(has_code_and_mentions(shutdown_or_fail(*pool), absl::StatusCode::kInvalidArgument, "odd ping"));
  EXPECT_EQ(pool->stats().failed, 1u);
  expect_balanced(pool->stats());
}

/// What one handler call saw of its envelope.
struct Record {
  std::size_t alternative;
  std::uint64_t key;
  Source source;
  std::optional<std::uint64_t> sequence;
  bool has_sent_at;
};
struct Records {
  std::mutex mu;
  std::vector<Record> all;
  void add(std::size_t alternative, std::uint64_t key, Source source, std::optional<std::uint64_t> sequence,
           bool has_sent_at) {
    std::lock_guard lock(mu);
    all.push_back({alternative, key, source, sequence, has_sent_at});
  }
};

struct Recorder : Worker<NoState, Msg> {
  explicit Recorder(Records* records) : records_(records) {}
  template <class T>
  void handle_message(NoState&, Envelope<T> e) {
    records_->add(Msg(std::in_place_type<T>).index(), e.key, e.source, e.sequence, e.sent_at.has_value());
  }
  Records* records_;
};

TEST(VariantMessages, TheAlternativesEnvelopeCarriesTheKeySourceSequenceAndSendTime) {
  Records records;
  auto pool = create_pool<Recorder>(PoolConfig().with_num_workers(1).with_sequence_numbers(true).with_timestamps(true),
                                    each_worker_gets<Recorder>(&records));
  ASSERT_NE(pool, nullptr);
  const std::string key = "user:42";
  ASSERT_EQ(pool->send(key, Ping{1}), SendResult::ok);  // a string key with an alternative
  ASSERT_EQ(pool->send(key, Pong{"b"}), SendResult::ok);
  ASSERT_EQ(pool->send_to(0, Stop{}, 9), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  ASSERT_EQ(records.all.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(records.all[i].alternative, i);
    EXPECT_EQ(records.all[i].key, i < 2 ? routing_key(key) : 9u);
    EXPECT_EQ(records.all[i].source, Source::external());
    EXPECT_EQ(records.all[i].sequence, std::optional<std::uint64_t>(i));  // one lane: the inbox
    EXPECT_TRUE(records.all[i].has_sent_at);
  }
}

// On a Ping from outside, sends each alternative to the other workers through every
// context entry point; counts what comes from workers.
struct Relay : Worker<NoState, Msg> {
  explicit Relay(Seen* seen) : seen_(seen) {}
  void handle_message(NoState&, Envelope<Ping> e) {
    seen_->pings.fetch_add(1);
    if (e.source.is_worker()) {
      seen_->from_workers.fetch_add(1);
      return;
    }
    WorkerContext<Msg>& ctx = context();
    const std::size_t next = (ctx.index() + 1) % ctx.pool_size();
    ok(ctx.send(e.key, Ping{e.payload.n}));
    ok(ctx.send(std::string("text-key"), Pong{"abc"}));
    const Pong copied{"de"};
    ok(ctx.send_to(next, copied));
    if (ctx.broadcast(Stop{}).count != ctx.pool_size()) seen_->wholes.fetch_add(1000);
    if (!ctx.send_after(absl::ZeroDuration(), e.key, Pong{"later"}).valid()) seen_->wholes.fetch_add(1000);
  }
  void handle_message(NoState&, Envelope<Pong> e) {
    seen_->pongs.fetch_add(1);
    seen_->pong_chars.fetch_add(e.payload.text.size());
    if (e.source.is_worker()) seen_->from_workers.fetch_add(1);
  }
  void handle_message(NoState&, Envelope<Stop> e) {
    seen_->stops.fetch_add(1);
    if (e.source.is_worker()) seen_->from_workers.fetch_add(1);
  }
  void ok(SendResult r) {
    if (r != SendResult::ok) seen_->wholes.fetch_add(1000);  // wholes counts errors here
  }
  Seen* seen_;
};

TEST(VariantMessages, AWorkerSendsEachAlternativeThroughEveryContextEntryPoint) {
  constexpr std::uint64_t kPings = 20, kWorkers = 3;
  Seen seen;
  auto pool = create_pool<Relay>(PoolConfig().with_num_workers(kWorkers), each_worker_gets<Relay>(&seen));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < kPings; ++i) ASSERT_EQ(pool->send(i, Ping{i}), SendResult::ok);
  // Every Ping from outside makes: 1 Ping, 3 Pongs ("abc", "de", "later"), one Stop per worker.
  ASSERT_TRUE(wait_for_progress([&] { return seen.pongs.load(); }, 3 * kPings));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.wholes.load(), 0u) << "a send from a worker was refused";
  EXPECT_EQ(seen.pings.load(), 2 * kPings);
  EXPECT_EQ(seen.pongs.load(), 3 * kPings);
  EXPECT_EQ(seen.pong_chars.load(), (3 + 2 + 5) * kPings);
  EXPECT_EQ(seen.stops.load(), kWorkers * kPings);
  EXPECT_EQ(seen.from_workers.load(), kPings * (1 + 3 + kWorkers));
  expect_balanced(pool->stats());
}

TEST(VariantMessages, TimersFromOutsideSendAnAlternativeOnceOrEveryPeriod) {
  Seen seen;
  auto pool = create_pool<PerAlternative>(PoolConfig().with_num_workers(2), each_worker_gets<PerAlternative>(&seen));
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->send_after(absl::Milliseconds(1), 5, Pong{"late"}).valid());
  absl::StatusOr<TimerId> every = pool->send_every(absl::Milliseconds(1), 6, Ping{2});
  ASSERT_TRUE(every.ok()) << every.status();
  ASSERT_TRUE(wait_for_progress([&] { return seen.pings.load(); }, 3));
  ASSERT_TRUE(wait_for_progress([&] { return seen.pongs.load(); }, 1));
  EXPECT_TRUE(pool->cancel(*every));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.pong_chars.load(), 4u);
  EXPECT_EQ(seen.ping_sum.load(), 2 * seen.pings.load());
  expect_balanced(pool->stats());
}

// handle_batch still receives the whole variant, and visits it itself.
struct Batched : Worker<NoState, Msg> {
  explicit Batched(Seen* seen) : seen_(seen) {}
  void handle_batch(NoState&, std::span<Envelope<Msg>> batch) {
    for (Envelope<Msg>& e : batch) {
      std::visit(
          [&](auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Ping>) {
              seen_->pings.fetch_add(1);
              seen_->ping_sum.fetch_add(m.n);
            } else if constexpr (std::is_same_v<T, Pong>) {
              seen_->pongs.fetch_add(1);
              seen_->pong_chars.fetch_add(m.text.size());
            } else {
              seen_->stops.fetch_add(1);
            }
          },
          e.payload);
    }
  }
  Seen* seen_;
};

TEST(VariantMessages, HandleBatchReceivesTheWholeVariantForEachMessage) {
  Seen seen;
  auto pool =
      create_pool<Batched>(PoolConfig().with_num_workers(2).with_batch_size(8), each_worker_gets<Batched>(&seen));
  ASSERT_NE(pool, nullptr);
  for (std::uint64_t i = 0; i < 50; ++i) {
    ASSERT_EQ(pool->send(i, Ping{1}), SendResult::ok);
    ASSERT_EQ(pool->send(i, Pong{"xy"}), SendResult::ok);
  }
  ASSERT_EQ(pool->send(0, Stop{}), SendResult::ok);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_seen(seen, 50, 50, 50, 100, 1);
  expect_balanced(pool->stats());
}

// A move-only alternative travels by move, and a refused send hands it back.
using Owned = std::variant<std::unique_ptr<int>, int>;
struct OwnedSum {
  std::atomic<std::int64_t> sum{0};
};
struct Owner : Worker<NoState, Owned> {
  explicit Owner(OwnedSum* sum) : sum_(sum) {}
  void handle_message(NoState&, Envelope<std::unique_ptr<int>> e) { sum_->sum.fetch_add(*e.payload); }
  void handle_message(NoState&, Envelope<int> e) { sum_->sum.fetch_add(e.payload); }
  OwnedSum* sum_;
};

TEST(VariantMessages, AMoveOnlyAlternativeTravelsByMoveAndARefusedSendHandsItBack) {
  OwnedSum sum;
  auto pool = create_pool<Owner>(PoolConfig().with_num_workers(2), each_worker_gets<Owner>(&sum));
  ASSERT_NE(pool, nullptr);
  auto value = std::make_unique<int>(40);
  ASSERT_EQ(pool->send(1, std::move(value)), SendResult::ok);
  ASSERT_EQ(pool->send(2, 2), SendResult::ok);
  auto refused = std::make_unique<int>(7);
  EXPECT_EQ(pool->send_to(99, std::move(refused)), SendResult::invalid);
  ASSERT_NE(refused, nullptr);  // handed back
  EXPECT_EQ(*refused, 7);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(pool->send(1, std::move(refused)), SendResult::closed);
  EXPECT_NE(refused, nullptr);
  EXPECT_EQ(sum.sum.load(), 42);
  expect_balanced(pool->stats());
}

// The overload set: which argument types each sender takes, for a plain, a string and a
// variant message.
template <class M>
struct Sink : Worker<NoState, M> {
  void handle_message(NoState&, Envelope<M>) {}
};
template <class P, class V>
concept TakesEverywhere = requires(P& p, V v, std::string k) {
  p.send(std::uint64_t{1}, std::move(v));
  p.send(1, v);
  p.send(k, std::move(v));
  p.send_to(0, std::move(v));
  p.send_to(0, v, 3);
  p.broadcast(v);
};
using IntOrString = std::variant<int, std::string>;

static_assert(TakesEverywhere<WorkerPool<Sink<std::uint64_t>>, std::uint64_t>);
static_assert(TakesEverywhere<WorkerContext<std::uint64_t>, std::uint64_t>);
static_assert(TakesEverywhere<WorkerPool<Sink<std::string>>, std::string>);
static_assert(TakesEverywhere<WorkerContext<std::string>, std::string>);
static_assert(TakesEverywhere<WorkerPool<Sink<IntOrString>>, IntOrString>);
static_assert(TakesEverywhere<WorkerPool<Sink<IntOrString>>, int>);
static_assert(TakesEverywhere<WorkerPool<Sink<IntOrString>>, std::string>);
static_assert(TakesEverywhere<WorkerPool<Sink<IntOrString>>, const std::string>);
static_assert(TakesEverywhere<WorkerContext<IntOrString>, int>);
static_assert(TakesEverywhere<WorkerContext<IntOrString>, std::string>);
static_assert(TakesEverywhere<WorkerPool<Sink<std::variant<Ping, Pong, Stop>>>, Stop>);
// Exactly the alternative: a type that merely converts is not one (it still reaches the
// Message overloads through the variant's own conversion).
static_assert(detail::IsAlternativeOf<int, IntOrString>);
static_assert(!detail::IsAlternativeOf<long, IntOrString>);
static_assert(!detail::IsAlternativeOf<const char*, IntOrString>);
static_assert(!detail::IsAlternativeOf<IntOrString, IntOrString>);
static_assert(!detail::IsAlternativeOf<int, std::variant<int, int>>);
static_assert(!detail::IsAlternativeOf<int, int>);
// A non-alternative that does not convert is refused by overload resolution.
template <class P, class V>
concept TakesByKey = requires(P& p, V v) {
  p.send(1, std::move(v));
};
static_assert(!TakesByKey<WorkerPool<Sink<std::variant<Ping, Pong>>>, Stop>);
static_assert(!TakesByKey<WorkerContext<std::variant<Ping, Pong>>, Stop>);
static_assert(!TakesByKey<WorkerPool<Sink<std::uint64_t>>, Stop>);
// The sends stay noexcept where the alternative moves without throwing.
static_assert(noexcept(std::declval<WorkerPool<Sink<Msg>>&>().send(1, Stop{})));
static_assert(noexcept(std::declval<WorkerContext<Msg>&>().send_to(0, Ping{})));

struct IntOrStringSeen {
  std::atomic<std::uint64_t> ints{0}, int_sum{0}, strings{0}, string_chars{0};
};
struct IntOrStringWorker : Worker<NoState, IntOrString> {
  explicit IntOrStringWorker(IntOrStringSeen* seen) : seen_(seen) {}
  void handle_message(NoState&, Envelope<int> e) {
    seen_->ints.fetch_add(1);
    seen_->int_sum.fetch_add(static_cast<std::uint64_t>(e.payload));
  }
  void handle_message(NoState&, Envelope<std::string> e) {
    seen_->strings.fetch_add(1);
    seen_->string_chars.fetch_add(e.payload.size());
  }
  IntOrStringSeen* seen_;
};

TEST(VariantMessages, AnIntAndAStringReachTheirOwnHandlersAndAStringLiteralBecomesAString) {
  IntOrStringSeen seen;
  auto pool =
      create_pool<IntOrStringWorker>(PoolConfig().with_num_workers(2), each_worker_gets<IntOrStringWorker>(&seen));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send(1, 5), SendResult::ok);
  ASSERT_EQ(pool->send(std::string("k"), std::string("hello")), SendResult::ok);
  ASSERT_EQ(pool->send(2, "abc"), SendResult::ok);  // converts to the variant, as before
  EXPECT_EQ(pool->broadcast(1).count, 2u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(seen.ints.load(), 3u);
  EXPECT_EQ(seen.int_sum.load(), 7u);
  EXPECT_EQ(seen.strings.load(), 2u);
  EXPECT_EQ(seen.string_chars.load(), 8u);
  expect_balanced(pool->stats());
}

}  // namespace
}  // namespace sn::test
