// The ways a call's request and answer travel (sn/pool/detail/calls.h): a request by value
// through its callee's ring, or spilled into a list when the ring is full; an answer by
// value through the calling worker's reply ring, or through the call's record when that
// ring is full or the answer is too big for a parcel. Whichever way, every call is
// answered exactly once, with the right value, and a late answer is counted.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

/// An answer too big for a reply parcel (40 bytes as an absl::StatusOr).
struct Big {
  std::array<std::uint64_t, 16> words{};
};
struct Echo {  // answered at once with echo_of(n)
  std::uint64_t n;
};
struct EchoBig {  // answered at once with a Big full of n
  std::uint64_t n;
};
struct Slow {  // answered at once, after sleeping
  std::uint64_t n;
  int sleep_ms;
};
struct Hold {};  // a plain message: blocks the worker on the gate
struct Burst {   // a plain message: makes `count` calls to `target`'s owner
  enum Kind { echo, big, slow };
  std::uint64_t target;
  std::uint64_t count;
  Kind kind;
  std::int64_t deadline_ms;
  int slow_ms = 0;  // for `slow`: how long the callee takes
};
using Msg = std::variant<Echo, EchoBig, Slow, Hold, Burst>;

struct Empty {};

constexpr std::uint64_t echo_of(std::uint64_t n) { return n * 3 + 1; }

struct Tally {
  std::atomic<std::uint64_t> ok{0}, wrong{0}, deadline{0}, other_error{0};
  std::uint64_t callbacks() const { return ok.load() + wrong.load() + deadline.load() + other_error.load(); }
  void count(const absl::Status& s) {
    if (absl::IsDeadlineExceeded(s)) {
      deadline.fetch_add(1);
    } else {
      other_error.fetch_add(1);
    }
  }
};

struct Paths : Worker<Empty, Msg> {
  Paths(Tally* tally, Gate* gate) : tally_(tally), gate_(gate) {}

  std::uint64_t handle_call(Empty&, Envelope<Echo> e) { return echo_of(e.payload.n); }
  Big handle_call(Empty&, Envelope<EchoBig> e) {
    Big b;
    b.words.fill(e.payload.n);
    return b;
  }
  std::uint64_t handle_call(Empty&, Envelope<Slow> e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(e.payload.sleep_ms));
    return echo_of(e.payload.n);
  }

  void handle_message(Empty&, Envelope<Hold>) { (void)gate_->wait(); }
  void handle_message(Empty&, Envelope<Burst> e) {
    const Burst b = e.payload;
    for (std::uint64_t i = 0; i < b.count; ++i) {
      if (b.kind == Burst::slow) {
        context().call<std::uint64_t>(b.target, Slow{i, b.slow_ms}, absl::Milliseconds(b.deadline_ms),
                                      [t = tally_, i](Empty&, absl::StatusOr<std::uint64_t> r) {
                                        if (!r.ok()) return t->count(r.status());
                                        (*r == echo_of(i) ? t->ok : t->wrong).fetch_add(1);
                                      });
      } else if (b.kind == Burst::big) {
        context().call<Big>(b.target, EchoBig{i}, absl::Milliseconds(b.deadline_ms),
                            [t = tally_, i](Empty&, absl::StatusOr<Big> r) {
                              if (!r.ok()) return t->count(r.status());
                              bool right = true;
                              for (std::uint64_t w : r->words) right = right && w == i;
                              (right ? t->ok : t->wrong).fetch_add(1);
                            });
      } else {
        context().call<std::uint64_t>(b.target, Echo{i}, absl::Milliseconds(b.deadline_ms),
                                      [t = tally_, i](Empty&, absl::StatusOr<std::uint64_t> r) {
                                        if (!r.ok()) return t->count(r.status());
                                        (*r == echo_of(i) ? t->ok : t->wrong).fetch_add(1);
                                      });
      }
    }
  }
  template <class T>
  void handle_message(Empty&, Envelope<T>) {}  // requests sent as plain messages are ignored

  Tally* tally_;
  Gate* gate_;
};

std::unique_ptr<WorkerPool<Paths>> paths_pool(Tally& tally, Gate& gate, std::size_t workers) {
  return create_pool<Paths>(PoolConfig().with_num_workers(workers).with_fault_observer(nullptr),
                            each_worker_gets<Paths>(&tally, &gate));
}

/// The first key the pool gives worker `index` (the default partitioner, HashPartitioner).
std::uint64_t key_of_worker(std::size_t index, std::size_t workers) {
  std::uint64_t key = 0;
  while (HashPartitioner{}(key, workers) != index) ++key;
  return key;
}

/// Waits for `calls` callbacks, shuts the pool down, and checks that every call was
/// answered once, with its value, and nothing counted late.
template <class Pool>
void expect_all_answered(Pool& pool, const Tally& tally, std::uint64_t calls) {
  ASSERT_TRUE(wait_until([&] { return tally.callbacks() == calls; })) << tally.callbacks() << " of " << calls;
  ASSERT_TRUE(shutdown_or_fail(pool).ok());
  EXPECT_EQ(tally.ok.load(), calls);
  EXPECT_EQ(tally.wrong.load(), 0u);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.calls_started, calls);
  EXPECT_EQ(s.calls_handled, calls);
  EXPECT_EQ(s.calls_completed, calls);
  EXPECT_EQ(s.late_replies, 0u);
}

constexpr std::int64_t kNoHurry = 60'000;  // ms: a deadline that does not pass in a test

// A worker calling itself cannot drain its own request ring while its handler runs, so
// its requests spill; it then answers them all in one drain, before it takes any answer,
// so its reply ring fills and the rest of the answers go through the records.
TEST(CallPaths, CallsBeyondEitherRingSpillAndEveryOneIsAnsweredOnceWithItsValue) {
  Tally tally;
  Gate gate;
  auto pool = paths_pool(tally, gate, 1);
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kCalls = 1000;  // several times a ring's 128
  ASSERT_EQ(pool->send(0, Burst{0, kCalls, Burst::echo, kNoHurry}), SendResult::ok);
  expect_all_answered(*pool, tally, kCalls);
}

TEST(CallPaths, AnswersTooBigForAParcelArriveThroughTheRecord) {
  Tally tally;
  Gate gate;
  auto pool = paths_pool(tally, gate, 2);
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kCalls = 300;
  ASSERT_EQ(pool->send_to(0, Burst{key_of_worker(1, 2), kCalls, Burst::big, kNoHurry}), SendResult::ok);
  expect_all_answered(*pool, tally, kCalls);
}

// The callee is held while the caller sends more requests than its ring holds; then
// it answers them all at once, faster than the caller may take them.
TEST(CallPaths, ABlockedCalleeGetsEveryRequestAndEveryAnswerReachesTheCaller) {
  Tally tally;
  Gate gate;
  auto pool = paths_pool(tally, gate, 2);
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kCalls = 2000;
  ASSERT_EQ(pool->send_to(1, Hold{}), SendResult::ok);
  ASSERT_TRUE(gate.wait_until_entered(1));
  ASSERT_EQ(pool->send_to(0, Burst{key_of_worker(1, 2), kCalls, Burst::echo, kNoHurry}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().calls_started == kCalls; }));
  gate.open();
  expect_all_answered(*pool, tally, kCalls);
  EXPECT_EQ(gate.stalls(), 0u);
}

// The callee answers at once, by value, but only after the caller's deadline passed:
// the caller has had DeadlineExceeded, and drops and counts the answer when it arrives.
TEST(CallPaths, AnAnswerByValueAfterTheDeadlineIsDroppedAndCountedLate) {
  Tally tally;
  Gate gate;
  auto pool = paths_pool(tally, gate, 2);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->send_to(0, Burst{key_of_worker(1, 2), 1, Burst::slow, 20, 300}), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return pool->stats().late_replies == 1; })) << "the late answer was not counted";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(tally.deadline.load(), 1u);
  EXPECT_EQ(tally.callbacks(), 1u) << "the late answer must not run the callback again";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.calls_timed_out, 1u);
  EXPECT_EQ(s.late_replies, 1u);
}

// Late answers whose type is one of the pool's message types become dead letters
// (late_reply), addressed to the caller, with the call's key: one that came back by value
// to a calling worker, and one that went through the record to a caller outside the pool.
struct Slowly {  // answered with Answer{n} after sleep_ms
  std::uint64_t n;
  int sleep_ms;
};
struct Answer {
  std::uint64_t n;
};
struct AskSlowly {  // a plain message: makes worker 0 call Slowly{n, 300} with a 20 ms deadline
  std::uint64_t target;
  std::uint64_t n;
};
using LateMsg = std::variant<Slowly, Answer, AskSlowly>;

struct LateLetters {
  std::mutex mu;
  std::vector<DeadLetter<LateMsg>> letters;
  std::atomic<int> deadlines{0};
};

struct Late : Worker<Empty, LateMsg> {
  explicit Late(LateLetters* l) : l_(l) {}
  Answer handle_call(Empty&, Envelope<Slowly> e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(e.payload.sleep_ms));
    return Answer{e.payload.n};
  }
  void handle_message(Empty&, Envelope<AskSlowly> e) {
    context().call<Answer>(e.payload.target, Slowly{e.payload.n, 300}, absl::Milliseconds(20),
                           [l = l_](Empty&, absl::StatusOr<Answer> r) {
                             if (absl::IsDeadlineExceeded(r.status())) l->deadlines.fetch_add(1);
                           });
  }
  template <class T>
  void handle_message(Empty&, Envelope<T>) {}
  LateLetters* l_;
};

TEST(CallPaths, LateAnswersOfAMessageTypeGoToTheDeadLetterSinkAddressedToTheCaller) {
  LateLetters l;
  auto pool =
      create_pool<Late>(PoolConfig().with_num_workers(2).with_fault_observer(nullptr).with_dead_letters<LateMsg>(
                            [&l](DeadLetter<LateMsg>&& d) {
                              std::lock_guard<std::mutex> lock(l.mu);
                              l.letters.push_back(std::move(d));
                            }),
                        each_worker_gets<Late>(&l));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t callee_key = key_of_worker(1, 2);
  // One at a time: a request still queued when its deadline passes is not run at all.
  auto future = pool->call<Answer>(callee_key, Slowly{42, 300}, absl::Milliseconds(20));  // through the record
  EXPECT_TRUE(absl::IsDeadlineExceeded(future.get().status()));
  ASSERT_TRUE(wait_until([&] { return pool->stats().late_replies == 1; })) << pool->stats().late_replies;
  ASSERT_EQ(pool->send_to(0, AskSlowly{callee_key, 41}), SendResult::ok);  // by value, to worker 0
  ASSERT_TRUE(wait_until([&] { return pool->stats().late_replies == 2; })) << pool->stats().late_replies;
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(l.deadlines.load(), 1);
  std::lock_guard<std::mutex> lock(l.mu);
  ASSERT_EQ(l.letters.size(), 2u);
  for (DeadLetter<LateMsg>& d : l.letters) {
    EXPECT_EQ(d.reason, DeadLetterReason::late_reply);
    EXPECT_EQ(d.key, callee_key);
    ASSERT_TRUE(std::holds_alternative<Answer>(d.message));
    const std::uint64_t n = std::get<Answer>(d.message).n;
    EXPECT_TRUE(n == 41 || n == 42) << n;
    EXPECT_EQ(d.worker, n == 41 ? std::size_t{0} : DeadLetter<LateMsg>::kUnknownWorker) << n;
  }
  EXPECT_EQ(pool->stats().dead_letters, 2u);
}

// Workers call each other and outside threads call the pool while a worker is removed
// and another added: every call completes exactly once (an answer, or Unavailable when
// its callee left, or DeadlineExceeded), and the stats agree.
struct Chat {  // a plain message: makes `count` calls to pseudo-random keys
  std::uint64_t seed;
  std::uint64_t count;
};
using ChatMsg = std::variant<Echo, Hold, Chat>;

struct ChatLog {
  std::atomic<std::uint64_t> callbacks{0}, ok{0}, wrong{0};
};

struct Chatty : Worker<Empty, ChatMsg> {
  explicit Chatty(ChatLog* log) : log_(log) {}
  std::uint64_t handle_call(Empty&, Envelope<Echo> e) { return echo_of(e.payload.n); }
  void handle_call(Empty&, Envelope<Hold>, Reply<std::uint64_t> r) {  // answers later, at stop or never
    if (held_.size() < 16) held_.push_back(std::move(r));
  }
  void handle_message(Empty&, Envelope<Chat> e) {
    std::uint64_t x = e.payload.seed;
    for (std::uint64_t i = 0; i < e.payload.count; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      const std::uint64_t n = x >> 33;
      auto cb = [log = log_, n](Empty&, absl::StatusOr<std::uint64_t> r) {
        log->callbacks.fetch_add(1);
        if (r.ok()) (*r == echo_of(n) ? log->ok : log->wrong).fetch_add(1);
      };
      if (n % 8 == 0) {
        context().call<std::uint64_t>(x, Hold{}, absl::Milliseconds(n % 50), cb);
      } else {
        context().call<std::uint64_t>(x, Echo{n}, absl::Milliseconds(n % 7 == 0 ? 0 : 200), cb);
      }
    }
  }
  template <class T>
  void handle_message(Empty&, Envelope<T>) {}
  std::vector<Reply<std::uint64_t>> held_;
  ChatLog* log_;
};

TEST(CallPaths, CallsInFlightWhileWorkersAreRemovedAndAddedCompleteExactlyOnce) {
  ChatLog log;
  auto pool = create_pool<Chatty>(PoolConfig().with_num_workers(3).with_max_workers(4).with_fault_observer(nullptr),
                                  ConsistentHashPartitioner(3), each_worker_gets<Chatty>(&log));
  ASSERT_NE(pool, nullptr);
  constexpr std::uint64_t kChats = 60, kPerChat = 50, kExternal = 300;
  std::atomic<std::uint64_t> external_done{0}, external_wrong{0};
  std::thread outside([&] {
    for (std::uint64_t i = 0; i < kExternal; ++i) {
      absl::StatusOr<std::uint64_t> r = pool->call<std::uint64_t>(i * 7919, Echo{i}, absl::Seconds(5)).get();
      if (r.ok() && *r != echo_of(i)) external_wrong.fetch_add(1);
      external_done.fetch_add(1);
    }
  });
  for (std::uint64_t c = 0; c < kChats; ++c) {
    ASSERT_EQ(pool->send(c, Chat{c + 1, kPerChat}), SendResult::ok);
    if (c == kChats / 3) {
      EXPECT_TRUE(pool->remove_worker(1).ok());
    }
    if (c == 2 * kChats / 3) {
      EXPECT_TRUE(pool->add_worker().ok());
    }
  }
  outside.join();
  ASSERT_TRUE(wait_until([&] { return log.callbacks.load() == kChats * kPerChat; }))
      << log.callbacks.load() << " of " << kChats * kPerChat;
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(log.callbacks.load(), kChats * kPerChat) << "exactly one callback per call";
  EXPECT_EQ(log.wrong.load(), 0u);
  EXPECT_EQ(external_done.load(), kExternal);
  EXPECT_EQ(external_wrong.load(), 0u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.calls_started, kChats * kPerChat + kExternal);
  EXPECT_EQ(s.calls_completed + s.calls_failed + s.calls_timed_out, kChats * kPerChat);
}

}  // namespace
}  // namespace sn::test
