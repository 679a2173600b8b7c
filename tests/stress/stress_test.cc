// Stress tests for the SN_PERTURB build mode (label `stress`): each channel kind and a
// worker pool move SN_STRESS_MESSAGES values (default 10^8) while the perturbation points
// of sn/detail/perturb.h yield and sleep at random. Every value is checked on arrival:
// its producer's sequence must grow (FIFO per producer), and at the end the count, sum
// and hash of what arrived must equal what the producers sent. A lost, duplicated or
// corrupted message fails the test; so does a hang (a watchdog closes the channel when
// nothing moves for the stall limit, and the test then fails on the missing messages).
//
// Environment:
//   SN_STRESS_MESSAGES=N   messages per test (default 100000000)
//   SN_STRESS_SECONDS=S    stop sending after S seconds per test (default 0: no bound);
//                          the checks still cover everything that was sent
//   SN_STRESS_SEED=N       the tests' own random choices (default: random, printed)
#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
#include "sn/detail/perturb.h"
#include "sn/partitioners/key.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

/// What one test may do: how many messages, for how long, from which seed.
struct Budget {
  std::uint64_t messages = env_u64("SN_STRESS_MESSAGES", 100'000'000);
  absl::Duration time = absl::Seconds(static_cast<double>(env_u64("SN_STRESS_SECONDS", 0)));
  std::uint64_t seed = env_u64("SN_STRESS_SEED", 0);

  Budget() {
    if (seed == 0) seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  }
  bool bounded() const { return time != absl::ZeroDuration(); }
};

/// The checksum hashes each value (sn::stable_hash, a bijective mixer), so that a swap of
/// two values between producers, or a corrupted bit, changes it even where a plain sum
/// would not.
constexpr std::uint64_t mix(std::uint64_t x) noexcept { return stable_hash(x); }

/// Count, sum and hash-sum of a set of values; order-independent, so producers' and
/// consumers' sums can be compared.
struct Checksum {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  std::uint64_t hashed = 0;

  void add(std::uint64_t v) noexcept {
    ++count;
    sum += v;
    hashed += mix(v);
  }
  void add(const Checksum& o) noexcept {
    count += o.count;
    sum += o.sum;
    hashed += o.hashed;
  }
  friend bool operator==(const Checksum&, const Checksum&) = default;
};

void PrintTo(const Checksum& c, std::ostream* os) {
  *os << "{count " << c.count << ", sum " << c.sum << ", hashed " << c.hashed << "}";
}

/// A value names its producer (top 16 bits) and its position in that producer's stream.
constexpr int kProducerShift = 48;
constexpr std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) noexcept {
  return (producer << kProducerShift) | seq;
}
constexpr std::uint64_t producer_of(std::uint64_t v) noexcept { return v >> kProducerShift; }
constexpr std::uint64_t seq_of(std::uint64_t v) noexcept { return v & ((std::uint64_t{1} << kProducerShift) - 1); }

/// What a consumer saw: the checksum, and how many values broke their producer's order.
struct Seen {
  Checksum sum;
  std::uint64_t out_of_order = 0;
  std::vector<std::uint64_t> next;  // [producer]: the lowest sequence it may see next

  explicit Seen(std::size_t producers) : next(producers, 0) {}
  void take(std::uint64_t v) noexcept {
    const std::uint64_t p = producer_of(v);
    if (p >= next.size() || seq_of(v) < next[p]) {
      ++out_of_order;
    } else {
      next[p] = seq_of(v) + 1;
    }
    sum.add(v);
  }
};

/// Prints what a test moved and what the perturbation points did meanwhile (their counts
/// since `before`), with the seeds that reproduce the run.
void report(const char* what, const Budget& budget, const detail::PerturbCounts& before, std::uint64_t moved,
            absl::Duration took) {
  const detail::PerturbCounts now = detail::perturb_counts();
  std::printf("%s: %" PRIu64 " messages in %.1f s (%.2f M/s); perturbation %s: %" PRIu64 " points, %" PRIu64
              " yields, %" PRIu64 " sleeps; SN_STRESS_SEED=%" PRIu64 " SN_PERTURB_SEED=%" PRIu64 "\n",
              what, moved, absl::ToDoubleSeconds(took), static_cast<double>(moved) / absl::ToDoubleSeconds(took) / 1e6,
              detail::perturb_enabled() ? "on" : "off", now.points - before.points, now.yields - before.yields,
              now.sleeps - before.sleeps, budget.seed, detail::perturb_seed());
  ::testing::Test::RecordProperty("messages", std::to_string(moved));
  ::testing::Test::RecordProperty("injected", std::to_string(now.yields - before.yields + now.sleeps - before.sleeps));
}

// ------------------------------------------------------------------------ channels

/// The shape and settings of one channel round: fresh channels keep creation, close and
/// drain under stress as well as the steady state.
struct Round {
  std::size_t capacity;
  WaitPolicy wait;
  std::uint64_t per_producer;
  bool close_explicitly;  // the last producer to finish calls close(); else its drop closes
};

template <ChannelKind K>
constexpr std::size_t kProducers = K == ChannelKind::spsc ? 1 : 3;
template <ChannelKind K>
constexpr std::size_t kConsumers = K == ChannelKind::mpmc ? 2 : 1;

/// How long a blocking call waits before it looks at the abort flag again.
constexpr absl::Duration kPoll = absl::Milliseconds(100);

/// A copy of a copyable handle for all but the last thread; the handle itself for the last.
template <class H>
H share(H& h, bool last) {
  if constexpr (std::is_copy_constructible_v<H>) {
    if (!last) return H(h);
  }
  return std::move(h);
}

/// One producer's stream: a mix of try_send, blocking send and batches of random size.
/// Stops early when `stop` is set (time is up, or the watchdog saw a hang).
template <class Tx>
Checksum produce(Tx tx, std::uint64_t producer, std::uint64_t count, std::uint64_t seed, const std::atomic<bool>& stop,
                 std::atomic<std::size_t>& producers_left, bool close_explicitly) {
  std::mt19937_64 rng(seed);
  Checksum sent;
  std::array<std::uint64_t, 32> batch{};
  std::uint64_t seq = 0;
  while (seq < count) {
    if ((seq & 1023) == 0 && stop.load(std::memory_order_relaxed)) break;
    const std::uint64_t op = rng() % 8;
    if (op < 3) {  // one blocking send, with a timeout so that a hang can be broken off
      std::uint64_t v = encode(producer, seq);
      SendResult r;
      while ((r = tx.send_for(std::move(v), kPoll)) == SendResult::timeout && !stop.load()) {
      }
      if (r != SendResult::ok) break;
      sent.add(encode(producer, seq++));
    } else if (op < 5) {  // try_send until it goes in
      std::uint64_t v = encode(producer, seq);
      SendResult r;
      while ((r = tx.try_send(std::move(v))) == SendResult::full && !stop.load(std::memory_order_relaxed)) {
        std::this_thread::yield();
      }
      if (r != SendResult::ok) break;
      sent.add(encode(producer, seq++));
    } else {  // a batch; what does not fit is sent again from where it stopped
      const std::uint64_t n = std::min<std::uint64_t>(1 + rng() % batch.size(), count - seq);
      for (std::uint64_t i = 0; i < n; ++i) batch[i] = encode(producer, seq + i);
      std::uint64_t done = 0;
      bool closed = false;
      while (done < n) {
        SendBatchResult r = tx.send_batch(std::span(batch.data() + done, n - done));
        for (std::uint64_t i = 0; i < r.count; ++i) sent.add(encode(producer, seq + done + i));
        done += r.count;
        if (r.status == SendResult::closed || (done < n && stop.load(std::memory_order_relaxed))) {
          closed = true;
          break;
        }
        if (done < n) std::this_thread::yield();
      }
      seq += done;
      if (closed) break;
    }
  }
  // The last producer closes; before that, a close would refuse the others' sends.
  if (producers_left.fetch_sub(1) == 1 && close_explicitly) tx.close();
  return sent;  // tx is dropped here: the last producer's drop closes the channel
}

/// One consumer: timed blocking receives, try_recv, batches and consume(), until the
/// channel is closed and drained, or `abort` is set (the watchdog saw a hang).
template <class Rx>
void consume_all(Rx rx, Seen& seen, std::uint64_t seed, Watchdog& watchdog, const std::atomic<bool>& abort) {
  std::mt19937_64 rng(seed);
  std::array<std::uint64_t, 32> batch{};
  while (!abort.load(std::memory_order_relaxed)) {
    const std::uint64_t op = rng() % 8;
    if (op < 3) {
      std::uint64_t v = 0;
      const RecvResult r = rx.recv_for(v, kPoll);
      if (r == RecvResult::timeout) continue;
      if (r != RecvResult::ok) return;  // closed and drained
      seen.take(v);
      watchdog.tick();
    } else if (op < 5) {
      std::uint64_t v = 0;
      const RecvResult r = rx.try_recv(v);
      if (r == RecvResult::closed) return;
      if (r == RecvResult::ok) {
        seen.take(v);
        watchdog.tick();
      } else {
        std::this_thread::yield();
      }
    } else if (op < 7) {
      const std::size_t n = 1 + rng() % batch.size();
      const RecvBatchResult r = rx.recv_batch(std::span(batch.data(), n));
      if (r.status == RecvResult::closed) return;
      for (std::size_t i = 0; i < r.count; ++i) seen.take(batch[i]);
      if (r.count != 0) watchdog.tick();
      if (r.count == 0) std::this_thread::yield();
    } else {
      const RecvBatchResult r = rx.consume(1 + rng() % 64, [&](std::uint64_t&& v) { seen.take(v); });
      if (r.status == RecvResult::closed) return;
      if (r.count != 0) watchdog.tick();
      if (r.count == 0) std::this_thread::yield();
    }
  }
}

template <class KindT>
class ChannelStress : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelStress, AllKinds);

TYPED_TEST(ChannelStress, EveryMessageArrivesOnceInProducerOrderUnderPerturbation) {
  constexpr ChannelKind kKind = TestFixture::K;
  constexpr std::size_t P = kProducers<kKind>, C = kConsumers<kKind>;
  const Budget budget;
  std::mt19937_64 rng(budget.seed ^ static_cast<std::uint64_t>(kKind));
  constexpr std::array<std::size_t, 6> kCapacities{1, 2, 8, 64, 256, 4096};
  const std::array<WaitPolicy, 3> kWaits{WaitPolicy::park_immediately(), WaitPolicy{64, 4}, WaitPolicy{}};

  std::atomic<bool> time_up{false};  // producers stop; consumers drain what was sent
  const detail::PerturbCounts before = detail::perturb_counts();
  const absl::Time start = absl::Now();
  Checksum sent_total, seen_total;
  std::uint64_t out_of_order = 0, rounds = 0;
  bool stalled = false;
  // Rounds on fresh channels: 256 laps of the ring each, from 2^12 to 2^20 messages, so
  // that the slow tiny rings see as many creations and closes as the fast big ones.
  for (std::uint64_t left = budget.messages; left != 0 && !time_up.load() && !stalled; ++rounds) {
    const std::size_t capacity = kCapacities[rng() % kCapacities.size()];
    const std::uint64_t this_round =
        std::min<std::uint64_t>(left, std::clamp<std::uint64_t>(capacity * 256, 1 << 12, 1 << 20));
    const Round round{capacity, kWaits[rng() % kWaits.size()], (this_round + P - 1) / P, rng() % 2 == 0};
    auto ends = open<std::uint64_t, kKind>(round.capacity, ChannelOptions().with_wait_policy(round.wait));
    // A hang stops everyone (their blocking calls time out and look at the flag), and
    // the checks below fail on what did not arrive.
    std::atomic<bool> abort{false};
    Watchdog watchdog(stall_limit(), [&] {
      abort.store(true);
      time_up.store(true);
    });
    std::vector<Seen> seen(C, Seen(P));
    std::vector<Checksum> sent(P);
    std::vector<std::thread> threads;
    std::atomic<std::size_t> producers_left{P};
    for (std::size_t c = 0; c < C; ++c) {
      threads.emplace_back([&, c, rx = share(ends.rx, c + 1 == C), seed = rng()]() mutable {
        consume_all(std::move(rx), seen[c], seed, watchdog, abort);
      });
    }
    for (std::size_t p = 0; p < P; ++p) {
      threads.emplace_back([&, p, tx = share(ends.tx, p + 1 == P), seed = rng()]() mutable {
        sent[p] = produce(std::move(tx), p, round.per_producer, seed, time_up, producers_left, round.close_explicitly);
      });
    }
    for (auto& t : threads) t.join();
    watchdog.stop();
    stalled = watchdog.fired();
    for (const Checksum& s : sent) sent_total.add(s);
    for (const Seen& s : seen) {
      seen_total.add(s.sum);
      out_of_order += s.out_of_order;
    }
    left -= std::min(left, round.per_producer * P);
    if (budget.bounded() && absl::Now() - start >= budget.time) time_up.store(true);
  }
  report(kKind == ChannelKind::spsc   ? "spsc 1x1"
         : kKind == ChannelKind::mpsc ? "mpsc 3x1"
                                      : "mpmc 3x2",
         budget, before, seen_total.count, absl::Now() - start);
  std::printf("  %" PRIu64 " rounds\n", rounds);
  EXPECT_FALSE(stalled) << "nothing moved for " << stall_limit() << " (seed " << budget.seed << ")";
  EXPECT_EQ(seen_total, sent_total) << "seed " << budget.seed;
  EXPECT_EQ(out_of_order, 0u) << "seed " << budget.seed;
  if (!budget.bounded()) {
    EXPECT_GE(sent_total.count, budget.messages);
  }
}

/// One round of the release race: producers send Tracked values until the channel
/// closes while the only receiver takes a few and leaves. Returns whether the census was
/// back to `baseline` once every send had returned (before the senders' handles go).
template <ChannelKind K>
bool release_round(std::mt19937_64& rng, long baseline) {
  constexpr std::size_t P = kProducers<K>;
  auto ends = open<Tracked, K>(std::size_t{1} << (rng() % 7), ChannelOptions().with_wait_policy(WaitPolicy{64, 4}));
  std::vector<std::thread> threads;
  std::vector<Sender<Tracked, K>> keep;  // the producers' handles outlive their sends
  for (std::size_t p = 0; p < P; ++p) keep.push_back(share(ends.tx, p + 1 == P));
  for (std::size_t p = 0; p < P; ++p) {
    threads.emplace_back([&tx = keep[p], p] {
      for (int i = 0;; ++i) {
        const SendResult r = tx.try_send(Tracked(static_cast<int>(p) * 1'000'000 + i));
        if (r == SendResult::closed) return;
        if (r == SendResult::full) std::this_thread::yield();
      }
    });
  }
  const std::uint64_t take = rng() % 64;
  for (std::uint64_t i = 0; i < take; ++i) {
    Tracked out;
    if (ends.rx.try_recv(out) != RecvResult::ok) std::this_thread::yield();
  }
  { auto gone = std::move(ends.rx); }
  for (auto& t : threads) t.join();
  return Tracked::live.load() == baseline;
}

TYPED_TEST(ChannelStress, TheLastReceiverLeavingMidStreamReleasesEveryValueOnceUnderPerturbation) {
  constexpr ChannelKind kKind = TestFixture::K;
  const Budget budget;
  std::mt19937_64 rng(budget.seed ^ static_cast<std::uint64_t>(kKind));
  const TrackedCounts start;
  const absl::Time began = absl::Now(), give_up = began + absl::Seconds(10);
  const detail::PerturbCounts before = detail::perturb_counts();
  std::uint64_t rounds = 0, leftover_rounds = 0;
  for (; rounds < 20'000 && absl::Now() < give_up; ++rounds) {
    if (!release_round<kKind>(rng, start.live)) ++leftover_rounds;
  }
  report(kKind == ChannelKind::spsc   ? "release spsc"
         : kKind == ChannelKind::mpsc ? "release mpsc"
                                      : "release mpmc",
         budget, before, rounds, absl::Now() - began);
  std::printf("  (rounds, not messages: each a fresh channel whose receiver leaves mid-stream)\n");
  EXPECT_EQ(leftover_rounds, 0u) << "rounds that left a value alive after every send returned (seed " << budget.seed
                                 << ")";
  expect_no_leaks_since(start);
}

// ------------------------------------------------------------------------ pool

/// A worker that checks each producer's order per key, sums what it handles, and forwards
/// one message in four once to another worker (through the mesh of lanes and outboxes).
struct PoolSums {
  Checksum external;   // values sent from outside, as first handled
  Checksum forwarded;  // values handled after one hop
  std::uint64_t forward_failures = 0;
  std::uint64_t out_of_order = 0;
  std::vector<std::uint64_t> next;  // [producer * kKeys + key]
};

constexpr std::uint64_t kKeys = 64;
constexpr std::uint64_t kHopBit = std::uint64_t{1} << 47;  // below the producer field

struct StressWorker : Worker<PoolSums, std::uint64_t> {
  std::size_t producers;
  explicit StressWorker(std::size_t p) : producers(p) {}
  PoolSums init() {
    PoolSums s;
    s.next.assign(producers * kKeys, 0);
    return s;
  }
  void handle_message(PoolSums& s, Envelope<std::uint64_t> e) {
    const std::uint64_t v = e.payload;
    if ((v & kHopBit) != 0) {
      s.forwarded.add(v & ~kHopBit);
      return;
    }
    // Per producer and key, the pool keeps order: each value's sequence exceeds the last.
    const std::uint64_t slot = producer_of(v) * kKeys + e.key;
    if (slot >= s.next.size() || seq_of(v) < s.next[slot]) {
      ++s.out_of_order;
    } else {
      s.next[slot] = seq_of(v) + 1;
    }
    s.external.add(v);
    if (mix(v) % 4 == 0) {
      if (context().send(e.key + 1, v | kHopBit) != SendResult::ok) ++s.forward_failures;
    }
  }
  void on_stop(PoolSums& s) { totals->merge(s); }

  struct Totals {
    std::mutex mu;
    PoolSums sum;
    void merge(const PoolSums& s) {
      std::lock_guard lock(mu);
      sum.external.add(s.external);
      sum.forwarded.add(s.forwarded);
      sum.forward_failures += s.forward_failures;
      sum.out_of_order += s.out_of_order;
    }
  };
  Totals* totals = nullptr;
};

TEST(PoolStress, EveryMessageIsHandledOnceAndForwardsArriveUnderPerturbation) {
  const Budget budget;
  constexpr std::size_t kProducersN = 2, kWorkers = 2;
  StressWorker::Totals totals;
  auto pool = create_pool<StressWorker>(PoolConfig()
                                            .with_num_workers(kWorkers)
                                            .with_queue_capacity(64)
                                            .with_mesh_capacity(16)
                                            .with_batch_size(32)
                                            .with_wait_policy(WaitPolicy{64, 4}),
                                        [&](std::size_t) {
                                          auto w = std::make_unique<StressWorker>(kProducersN);
                                          w->totals = &totals;
                                          return w;
                                        });
  ASSERT_NE(pool, nullptr);

  std::atomic<bool> time_up{false};
  // A hang stops the pool: blocked sends wake with `closed`, and the checks below fail.
  std::atomic<bool> stalled{false};
  Watchdog watchdog(stall_limit(), [&] {
    stalled.store(true);
    time_up.store(true);
    (void)pool->stop();
  });
  std::vector<Checksum> sent(kProducersN), forwarded_expected(kProducersN);
  std::vector<std::uint64_t> refused(kProducersN, 0);
  const detail::PerturbCounts before = detail::perturb_counts();
  const absl::Time start = absl::Now();
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < kProducersN; ++p) {
    producers.emplace_back([&, p, seed = budget.seed + p] {
      std::mt19937_64 rng(seed);
      std::vector<std::uint64_t> seq(kKeys, 0);
      const std::uint64_t count = budget.messages / kProducersN;
      for (std::uint64_t i = 0; i < count; ++i) {
        if ((i & 1023) == 0) {
          watchdog.tick();
          if (time_up.load(std::memory_order_relaxed)) break;
        }
        const std::uint64_t key = rng() % kKeys;
        const std::uint64_t v = encode(p, seq[key]++);
        if (pool->send(key, std::uint64_t{v}) != SendResult::ok) {
          ++refused[p];
          continue;
        }
        sent[p].add(v);
        if (mix(v) % 4 == 0) forwarded_expected[p].add(v);
      }
    });
  }
  std::thread timer([&] {
    if (!budget.bounded()) return;
    while (!time_up.load() && absl::Now() - start < budget.time) absl::SleepFor(absl::Milliseconds(50));
    time_up.store(true);
  });
  for (auto& t : producers) t.join();
  time_up.store(true);
  timer.join();
  watchdog.stop();
  const absl::Status done = pool->shutdown();
  const PoolStats stats = pool->stats();
  pool.reset();

  Checksum sent_total, forwarded_total;
  std::uint64_t refused_total = 0;
  for (std::size_t p = 0; p < kProducersN; ++p) {
    sent_total.add(sent[p]);
    forwarded_total.add(forwarded_expected[p]);
    refused_total += refused[p];
  }
  report("pool 2x2", budget, before, sent_total.count + forwarded_total.count, absl::Now() - start);
  EXPECT_FALSE(stalled.load()) << "nothing moved for " << stall_limit() << " (seed " << budget.seed << ")";
  EXPECT_TRUE(done.ok()) << done;
  EXPECT_EQ(refused_total, 0u);
  EXPECT_EQ(totals.sum.external, sent_total) << "seed " << budget.seed;
  EXPECT_EQ(totals.sum.forwarded, forwarded_total) << "seed " << budget.seed;
  EXPECT_EQ(totals.sum.forward_failures, 0u);
  EXPECT_EQ(totals.sum.out_of_order, 0u);
  EXPECT_EQ(stats.accepted, sent_total.count + forwarded_total.count);  // worker sends count too
  EXPECT_EQ(stats.processed, sent_total.count + forwarded_total.count);
  EXPECT_EQ(stats.failed + stats.dropped, 0u);
  if (!budget.bounded()) {
    EXPECT_GE(sent_total.count, budget.messages / kProducersN * kProducersN);
  }
}

}  // namespace
}  // namespace sn::test
