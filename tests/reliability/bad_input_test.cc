// Bad input: every public entry point given invalid arguments, closed or empty handles,
// or called after shutdown, returns its documented result: an enum value for the hot
// path, a status code for setup. Each case also checks that a refused value was handed
// back (and counted, for pools). Table-driven: each table is what docs/reliability.md
// lists under "Bad input". Pools start threads, so this runs with the concurrency tests.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/topology/affinity.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"
#if defined(SN_TEST_HAVE_HTTP)
#include "sn/monitoring/http_server.h"
#endif

namespace sn::test {
namespace {

constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max();
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kPrecondition = absl::StatusCode::kFailedPrecondition;

std::string str(std::string_view v) { return std::string(v); }
std::string str(SendResult r) { return str(to_string(r)); }
std::string str(RecvResult r) { return str(to_string(r)); }
template <class R>
std::string str(const BatchResult<R>& r) {
  return absl::StrCat(r.count, " ", str(r.status));
}
std::string str(bool b) { return b ? "true" : "false"; }

// ---------------------------------------------------------------- channel creation

struct Big {
  char bytes[128] = {};
};

template <ChannelKind K>
void check_creation_table() {
  struct Case {
    const char* what;
    std::size_t capacity;
    const char* mentions;
  };
  const Case cases[] = {
      {"capacity 0", 0, "at least 1"},
      {"capacity 2^30 + 1", (std::size_t{1} << 30) + 1, "exceeds the maximum"},
      {"capacity SIZE_MAX", kHuge, "exceeds the maximum"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto ends = Channel<Tracked>::make<K>(c.capacity);
    EXPECT_TRUE(has_code_and_mentions(ends.status(), kInvalid, c.mentions));
    EXPECT_FALSE(ends.sender().valid());
    EXPECT_FALSE(ends.receiver().valid());
    Tracked v(7);
    EXPECT_EQ(ends.sender().try_send(std::move(v)), SendResult::closed);
    EXPECT_TRUE(v.intact()) << "the value stays with the caller";
  }
  // 2^30 slots of 128 bytes: 128 GiB, over the 64 GiB limit on a ring.
  auto big = Channel<Big>::make<K>(std::size_t{1} << 30);
  EXPECT_TRUE(has_code_and_mentions(big.status(), kInvalid, "maximum ring size"));
  EXPECT_FALSE(big.sender().valid());
}

TEST(BadInput, ChannelCreationRefusesBadCapacitiesWithInvalidArgumentAndEmptyHandles) {
  check_creation_table<ChannelKind::spsc>();
  check_creation_table<ChannelKind::mpsc>();
  check_creation_table<ChannelKind::mpmc>();
}

// ---------------------------------------------------------------- handles that cannot work

/// A pair of handles in one of the states below; the send operations use `tx`, the
/// receive operations `rx`.
template <ChannelKind K>
struct Handles {
  Sender<Tracked, K> tx;
  Receiver<Tracked, K> rx;
};

enum class State { default_constructed, moved_from, failed_creation, closed, peer_dropped };

template <ChannelKind K>
Handles<K> make_handles(State state) {
  Handles<K> h;
  switch (state) {
    case State::default_constructed: break;
    case State::moved_from: {
      auto [tx, rx] = Channel<Tracked>::make<K>(4);
      h.tx = std::move(tx);
      h.rx = std::move(rx);
      Sender<Tracked, K> taken_tx(std::move(h.tx));
      Receiver<Tracked, K> taken_rx(std::move(h.rx));
      break;
    }
    case State::failed_creation: {
      auto ends = Channel<Tracked>::make<K>(0);
      h.tx = std::move(ends.sender());
      h.rx = std::move(ends.receiver());
      break;
    }
    case State::closed: {
      auto [tx, rx] = Channel<Tracked>::make<K>(4);
      tx.close();
      h.tx = std::move(tx);
      h.rx = std::move(rx);
      break;
    }
    case State::peer_dropped: {
      auto [tx, dropped_rx] = Channel<Tracked>::make<K>(4);  // its receiver goes out of scope
      auto [dropped_tx, rx] = Channel<Tracked>::make<K>(4);  // its sender goes out of scope
      h.tx = std::move(tx);
      h.rx = std::move(rx);
      break;
    }
  }
  return h;
}

/// One operation, as text: the result, and " value lost" when a refused send did not
/// leave the value with the caller.
template <ChannelKind K>
struct Op {
  const char* name;
  std::function<std::string(Handles<K>&)> run;
  const char* empty_handle;  // default-constructed, moved-from, failed creation
  const char* closed;        // closed with close(), or the other side dropped
};

template <ChannelKind K>
std::vector<Op<K>> channel_ops() {
  auto kept = [](SendResult r, const Tracked& v) { return str(r) + (v.intact() ? "" : " value lost"); };
  return {
      {"try_send",
       [=](Handles<K>& h) {
         Tracked v(1);
         return kept(h.tx.try_send(std::move(v)), v);
       },
       "closed", "closed"},
      {"send",
       [=](Handles<K>& h) {
         Tracked v(1);
         return kept(h.tx.send(std::move(v)), v);
       },
       "closed", "closed"},
      {"send_for",
       [=](Handles<K>& h) {
         Tracked v(1);
         return kept(h.tx.send_for(std::move(v), absl::Milliseconds(1)), v);
       },
       "closed", "closed"},
      {"send_batch of 2",
       [](Handles<K>& h) {
         std::vector<Tracked> v;
         v.emplace_back(1);
         v.emplace_back(2);
         const SendBatchResult r = h.tx.send_batch(std::span<Tracked>(v));
         return str(r) + (v[0].intact() && v[1].intact() ? "" : " value lost");
       },
       "0 closed", "0 closed"},
      {"send_batch of an empty span", [](Handles<K>& h) { return str(h.tx.send_batch(std::span<Tracked>())); },
       "0 closed", "0 ok"},
      {"try_recv",
       [](Handles<K>& h) {
         Tracked out;
         return str(h.rx.try_recv(out));
       },
       "closed", "closed"},
      {"recv",
       [](Handles<K>& h) {
         Tracked out;
         return str(h.rx.recv(out));
       },
       "closed", "closed"},
      {"recv_for",
       [](Handles<K>& h) {
         Tracked out;
         return str(h.rx.recv_for(out, absl::Milliseconds(1)));
       },
       "closed", "closed"},
      {"recv_batch of 2",
       [](Handles<K>& h) {
         std::vector<Tracked> out(2);
         return str(h.rx.recv_batch(std::span<Tracked>(out)));
       },
       "0 closed", "0 closed"},
      {"recv_batch of an empty span", [](Handles<K>& h) { return str(h.rx.recv_batch(std::span<Tracked>())); },
       "0 closed", "0 closed"},
      {"consume(4)", [](Handles<K>& h) { return str(h.rx.consume(4, [](Tracked&&) {})); }, "0 closed", "0 closed"},
      {"consume(0)", [](Handles<K>& h) { return str(h.rx.consume(0, [](Tracked&&) {})); }, "0 closed", "0 closed"},
      {"close (twice)",
       [](Handles<K>& h) {
         h.tx.close();
         h.rx.close();
         h.tx.close();
         return std::string("done");
       },
       "done", "done"},
      {"is_closed", [](Handles<K>& h) { return str(h.tx.is_closed()) + " " + str(h.rx.is_closed()); }, "true true",
       "true true"},
      {"valid", [](Handles<K>& h) { return str(h.tx.valid()) + " " + str(h.rx.valid()); }, "false false", "true true"},
      {"ready", [](Handles<K>& h) { return str(h.rx.ready()); }, "false", "false"},
      {"capacity", [](Handles<K>& h) { return absl::StrCat(h.tx.capacity(), " ", h.rx.capacity()); }, "0 0", "4 4"},
  };
}

template <ChannelKind K>
void check_handle_table() {
  const State states[] = {State::default_constructed, State::moved_from, State::failed_creation, State::closed,
                          State::peer_dropped};
  const char* names[] = {"default-constructed", "moved-from", "failed creation", "closed", "other side dropped"};
  const TrackedCounts start;
  for (std::size_t s = 0; s < std::size(states); ++s) {
    for (const Op<K>& op : channel_ops<K>()) {
      Handles<K> h = make_handles<K>(states[s]);
      const bool empty = states[s] == State::default_constructed || states[s] == State::moved_from ||
                         states[s] == State::failed_creation;
      EXPECT_EQ(op.run(h), empty ? op.empty_handle : op.closed) << names[s] << " handles: " << op.name;
    }
  }
  expect_no_leaks_since(start);
}

TEST(BadInput, EmptyClosedAndOrphanedChannelHandlesReturnClosedAndKeepTheValue) {
  check_handle_table<ChannelKind::spsc>();
  check_handle_table<ChannelKind::mpsc>();
  check_handle_table<ChannelKind::mpmc>();
}

// ---------------------------------------------------------------- PoolConfig

struct Idle : Worker<int, std::string> {
  void handle_message(int&, Envelope<std::string>) {}
};

struct BatchIdle : Worker<int, std::string> {
  void handle_batch(int&, std::span<Envelope<std::string>>) {}
};

TEST(BadInput, PoolConfigsThatCannotWorkAreRefusedBeforeAnyThreadStarts) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  struct Case {
    const char* what;
    PoolConfig config;
    absl::StatusCode code;
    const char* mentions;
  };
  const Case cases[] = {
      {"0 workers", PoolConfig().with_num_workers(0), kInvalid, "num_workers must be at least 1"},
      {"1025 workers", PoolConfig().with_num_workers(1025), kInvalid, "exceeds the maximum of 1024"},
      {"SIZE_MAX workers", PoolConfig().with_num_workers(kHuge), kInvalid, "exceeds the maximum of 1024"},
      {"max_workers below num_workers", PoolConfig().with_num_workers(3).with_max_workers(2), kInvalid,
       "max_workers (2) is below num_workers (3)"},
      {"max_workers of 1025", PoolConfig().with_max_workers(1025), kInvalid, "max_workers of 1025"},
      {"max_workers above num_workers without a ConsistentHashPartitioner",
       PoolConfig().with_num_workers(1).with_max_workers(2), kInvalid, "needs a resizable partitioner"},
      {"queue_capacity 0", PoolConfig().with_queue_capacity(0), kInvalid, "queue_capacity must be at least 1"},
      {"queue_capacity 2^30 + 1", PoolConfig().with_queue_capacity((std::size_t{1} << 30) + 1), kInvalid,
       "queue_capacity of 1073741825 exceeds"},
      {"queue_capacity SIZE_MAX", PoolConfig().with_queue_capacity(kHuge), kInvalid, "queue_capacity of"},
      {"mesh_capacity 0", PoolConfig().with_mesh_capacity(0), kInvalid, "mesh_capacity must be at least 1"},
      {"mesh_capacity SIZE_MAX", PoolConfig().with_mesh_capacity(kHuge), kInvalid, "mesh_capacity of"},
      {"batch_size 0", PoolConfig().with_batch_size(0), kInvalid, "batch_size must be at least 1"},
      {"batch_size 2^30 + 1", PoolConfig().with_batch_size((std::size_t{1} << 30) + 1), kInvalid,
       "batch_size of 1073741825 exceeds"},
      {"batch_size SIZE_MAX", PoolConfig().with_batch_size(kHuge), kInvalid, "batch_size of"},
      {"worker 0 queue_capacity 0", PoolConfig().with_worker(0, WorkerConfig().with_queue_capacity(0)), kInvalid,
       "worker 0 queue_capacity must be at least 1"},
      {"worker 1 batch_size SIZE_MAX",
       PoolConfig().with_num_workers(2).with_worker(1, WorkerConfig().with_batch_size(kHuge)), kInvalid,
       "worker 1 batch_size of"},
      {"settings for worker 2 of 2", PoolConfig().with_num_workers(2).with_worker(2, WorkerConfig()), kInvalid,
       "settings were given for worker 2"},
      {"a CPU without cpu_affinity", PoolConfig().with_worker(0, WorkerConfig().with_cpu(cpus[0])), kInvalid,
       "cpu_affinity is off"},
      {"CPU -1", PoolConfig().with_cpu_affinity(true).with_worker(0, WorkerConfig().with_cpu(-1)), kInvalid,
       "asks for CPU -1, which this process may not use"},
      {"CPU 2^20", PoolConfig().with_cpu_affinity(true).with_worker(0, WorkerConfig().with_cpu(1 << 20)), kInvalid,
       "which this process may not use"},
      {"one CPU for two workers",
       PoolConfig()
           .with_num_workers(2)
           .with_cpu_affinity(true)
           .with_worker(0, WorkerConfig().with_cpu(cpus[0]))
           .with_worker(1, WorkerConfig().with_cpu(cpus[0])),
       kPrecondition, "is asked for twice"},
      {"more pinned workers than CPUs", PoolConfig().with_num_workers(cpus.size() + 1).with_cpu_affinity(true),
       kPrecondition, "pinned workers need as many physical cores"},
      {"idle_tick 0", PoolConfig().with_idle_tick(absl::ZeroDuration()), kInvalid, "idle_tick must be positive"},
      {"idle_tick -1s", PoolConfig().with_idle_tick(absl::Seconds(-1)), kInvalid, "idle_tick must be positive"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::unique_ptr<WorkerPool<Idle>>> pool = WorkerPool<Idle>::create(c.config);
    EXPECT_TRUE(has_code_and_mentions(pool.status(), c.code, c.mentions)) << c.what;
    // The same check guards a worker with handle_batch, whose batch buffer is sized by batch_size.
    absl::StatusOr<std::unique_ptr<WorkerPool<BatchIdle>>> batched = WorkerPool<BatchIdle>::create(c.config);
    EXPECT_TRUE(has_code_and_mentions(batched.status(), c.code, c.mentions)) << c.what << " (handle_batch)";
  }
  // Every WaitPolicy is valid: the counts are plain numbers of rounds (0 parks at once).
  EXPECT_TRUE(resolve(PoolConfig().with_wait_policy(WaitPolicy{0, 0})).ok());
  EXPECT_TRUE(resolve(PoolConfig().with_wait_policy(WaitPolicy{std::numeric_limits<std::uint32_t>::max(),
                                                               std::numeric_limits<std::uint32_t>::max()}))
                  .ok());
}

TEST(BadInput, CreateRefusesABadRingOrAFactoryThatMakesNoWorker) {
  ConsistentHashPartitioner gap(3);
  ASSERT_TRUE(gap.remove_worker(1).ok());
  EXPECT_TRUE(has_code_and_mentions(WorkerPool<Idle>::create(PoolConfig().with_num_workers(2), gap,
                                                             [](std::size_t) { return std::make_unique<Idle>(); })
                                        .status(),
                                    kInvalid, "must be 0..num_workers-1"));
  EXPECT_TRUE(
      has_code_and_mentions(WorkerPool<Idle>::create(PoolConfig().with_num_workers(2), ConsistentHashPartitioner(3),
                                                     [](std::size_t) { return std::make_unique<Idle>(); })
                                .status(),
                            kInvalid, "the partitioner has 3"));
  EXPECT_TRUE(has_code_and_mentions(
      WorkerPool<Idle>::create(PoolConfig().with_num_workers(2),
                               [](std::size_t i) { return i == 1 ? nullptr : std::make_unique<Idle>(); })
          .status(),
      kInvalid, "the factory returned no worker for index 1"));
}

// ---------------------------------------------------------------- a running pool

const std::string kValue = "a message long enough to live on the heap, not in the small-string buffer";

/// Sends `kValue` with `send` and describes the result, adding " value lost" when a
/// refused send did not hand the value back.
std::string try_pool_send(const std::function<SendResult(std::string&&)>& send) {
  std::string v = kValue;
  const SendResult r = send(std::move(v));
  if (r == SendResult::ok || r == SendResult::dropped) return str(r);
  return str(r) + (v == kValue ? "" : " value lost");
}

std::string code(const absl::Status& s) { return absl::StatusCodeToString(s.code()); }
template <class T>
std::string code(const absl::StatusOr<T>& s) {
  return code(s.status());
}

struct PoolCase {
  const char* what;
  std::function<std::string()> run;
  const char* expect;
  std::uint64_t rejects;  // how many sends it adds to PoolStats::rejected
};

void run_pool_table(const std::vector<PoolCase>& cases, const std::function<PoolStats()>& stats) {
  for (const PoolCase& c : cases) {
    const std::uint64_t before = stats().rejected;
    EXPECT_EQ(c.run(), c.expect) << c.what;
    EXPECT_EQ(stats().rejected - before, c.rejects) << c.what << ": refused sends are counted as rejected";
  }
}

TEST(BadInput, ARunningPoolRefusesBadDestinationsAndResizesItCannotDo) {
  auto pool = create_pool<Idle>(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  auto p = pool.get();
  run_pool_table(
      {
          {"send_to(2) of 2 workers",
           [&] { return try_pool_send([&](std::string&& v) { return p->send_to(2, std::move(v)); }); }, "invalid", 1},
          {"send_to(SIZE_MAX)",
           [&] { return try_pool_send([&](std::string&& v) { return p->send_to(kHuge, std::move(v)); }); }, "invalid",
           1},
          {"send_to(1)", [&] { return try_pool_send([&](std::string&& v) { return p->send_to(1, std::move(v)); }); },
           "ok", 0},
          {"add_worker() without a ConsistentHashPartitioner", [&] { return code(p->add_worker()); },
           "FAILED_PRECONDITION", 0},
          {"remove_worker(0) without a ConsistentHashPartitioner", [&] { return code(p->remove_worker(0)); },
           "FAILED_PRECONDITION", 0},
      },
      [&] { return p->stats(); });
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_balanced(pool->stats());

  // A partitioner that names a worker that does not exist.
  auto bad = create_pool<Idle>(
      PoolConfig().with_num_workers(2), [](std::uint64_t, std::size_t n) { return n; },
      [](std::size_t) { return std::make_unique<Idle>(); });
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(try_pool_send([&](std::string&& v) { return bad->send(1, std::move(v)); }), "invalid");
  EXPECT_EQ(bad->stats().rejected, 1u);
  ASSERT_TRUE(shutdown_or_fail(*bad).ok());
}

TEST(BadInput, AResizablePoolRefusesResizesItCannotDoAndStaysAsItWas) {
  auto pool = create_pool<Idle>(PoolConfig().with_num_workers(1).with_max_workers(2), ConsistentHashPartitioner(1),
                                [](std::size_t) { return std::make_unique<Idle>(); });
  ASSERT_NE(pool, nullptr);
  auto p = pool.get();
  run_pool_table(
      {
          {"remove_worker(0), the last worker", [&] { return code(p->remove_worker(0)); }, "FAILED_PRECONDITION", 0},
          {"remove_worker(1), a free slot", [&] { return code(p->remove_worker(1)); }, "NOT_FOUND", 0},
          {"remove_worker(99)", [&] { return code(p->remove_worker(99)); }, "NOT_FOUND", 0},
          {"remove_worker(SIZE_MAX)", [&] { return code(p->remove_worker(kHuge)); }, "NOT_FOUND", 0},
          {"send_to(1), a free slot",
           [&] { return try_pool_send([&](std::string&& v) { return p->send_to(1, std::move(v)); }); }, "invalid", 1},
          {"add_worker()", [&] { return code(p->add_worker()); }, "OK", 0},
          {"add_worker() beyond max_workers", [&] { return code(p->add_worker()); }, "RESOURCE_EXHAUSTED", 0},
          {"send_to(1), now running",
           [&] { return try_pool_send([&](std::string&& v) { return p->send_to(1, std::move(v)); }); }, "ok", 0},
      },
      [&] { return p->stats(); });
  EXPECT_EQ(pool->size(), 2u);
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  expect_balanced(pool->stats());
}

// ---------------------------------------------------------------- after shutdown() and stop()

std::vector<PoolCase> after_the_end(WorkerPool<Idle>* p) {
  const char* resize_error = "FAILED_PRECONDITION";  // both "cannot be resized" and "has stopped"
  return {
      {"send(key)", [=] { return try_pool_send([&](std::string&& v) { return p->send(7, std::move(v)); }); }, "closed",
       1},
      {"send(string key)",
       [=] { return try_pool_send([&](std::string&& v) { return p->send(std::string("user:1"), std::move(v)); }); },
       "closed", 1},
      {"send_to(0)", [=] { return try_pool_send([&](std::string&& v) { return p->send_to(0, std::move(v)); }); },
       "closed", 1},
      {"send_to(99)", [=] { return try_pool_send([&](std::string&& v) { return p->send_to(99, std::move(v)); }); },
       "invalid", 1},
      {"broadcast", [=] { return str(p->broadcast(kValue)); }, "0 closed", 2},
      {"add_worker()", [=] { return code(p->add_worker()); }, resize_error, 0},
      {"remove_worker(0)", [=] { return code(p->remove_worker(0)); }, resize_error, 0},
      {"shutdown() again", [=] { return code(p->shutdown()); }, "OK", 0},
      {"stop() again", [=] { return absl::StrCat(p->stop()); }, "0", 0},
      {"running()", [=] { return str(p->running()); }, "false", 0},
      {"status()", [=] { return code(p->status()); }, "OK", 0},
      {"stats()",
       [=] {
         const PoolStats s = p->stats();
         return absl::StrCat("running ", str(s.running), ", balanced ", str(s.balanced()), ", in flight ",
                             s.in_flight());
       },
       "running false, balanced true, in flight 0", 0},
      {"size() and has_worker(0)", [=] { return absl::StrCat(p->size(), " ", str(p->has_worker(0))); }, "2 true", 0},
  };
}

TEST(BadInput, EveryCallAfterShutdownOrStopIsRefusedOrANoOp) {
  for (const bool resizable : {false, true}) {
    for (const bool by_stop : {false, true}) {
      SCOPED_TRACE(
          absl::StrCat(resizable ? "resizable pool" : "fixed pool", by_stop ? ", after stop()" : ", after shutdown()"));
      const PoolConfig config = PoolConfig().with_num_workers(2).with_max_workers(resizable ? 3 : 0);
      auto factory = [](std::size_t) { return std::make_unique<Idle>(); };
      std::unique_ptr<WorkerPool<Idle>> pool = resizable
                                                   ? create_pool<Idle>(config, ConsistentHashPartitioner(2), factory)
                                                   : create_pool<Idle>(config, factory);
      ASSERT_NE(pool, nullptr);
      ASSERT_EQ(pool->send(1, std::string(kValue)), SendResult::ok);
      if (by_stop) {
        EXPECT_LE(pool->stop(), 1u);
      } else {
        ASSERT_TRUE(shutdown_or_fail(*pool).ok());
      }
      auto* p = pool.get();
      run_pool_table(after_the_end(p), [p] { return p->stats(); });
      expect_balanced(pool->stats());
    }
  }
}

// ---------------------------------------------------------------- from inside the pool

struct Empty {};

/// What a worker's on_stop and handler got back when calling into their own pool.
struct Inside {
  std::atomic<WorkerPool<struct Insider>*> pool{nullptr};
  std::string on_stop[8];  // [index]: the results, in order, written by that worker
  std::atomic<int> resize_codes_seen{0};
  std::string resize[2];  // worker 0's add_worker() and remove_worker(0) from a handler
  std::atomic<bool> lifecycle_seen{false};
  std::string shutdown_code;        // worker 0's shutdown() from a handler
  std::uint64_t stop_left = 99;     // worker 0's stop() from a handler
  std::string on_stop_shutdown[8];  // [index]: shutdown() from that worker's on_stop
};

struct Insider : Worker<Empty, std::string> {
  explicit Insider(Inside* inside) : inside_(inside) {}
  void handle_message(Empty&, Envelope<std::string> e) {
    WorkerPool<Insider>* pool = inside_->pool.load();
    if (e.payload == "shut yourself down, then stop") {
      inside_->shutdown_code = code(pool->shutdown());
      inside_->stop_left = pool->stop();
      inside_->lifecycle_seen.store(true);
      return;
    }
    if (e.payload != "resize yourself") return;
    inside_->resize[0] = code(pool->add_worker());
    inside_->resize[1] = code(pool->remove_worker(0));
    inside_->resize_codes_seen.store(2);
  }
  void on_stop(Empty&) {
    WorkerPool<Insider>* pool = inside_->pool.load();
    std::string& out = inside_->on_stop[context().index()];
    out = absl::StrCat(
        "context().send ", try_pool_send([&](std::string&& v) { return context().send(1, std::move(v)); }),
        "; context().send_to(self) ",
        try_pool_send([&](std::string&& v) { return context().send_to(context().index(), std::move(v)); }),
        "; context().send_to(99) ", try_pool_send([&](std::string&& v) { return context().send_to(99, std::move(v)); }),
        "; context().broadcast ", str(context().broadcast(kValue)), "; pool.send ",
        try_pool_send([&](std::string&& v) { return pool->send(1, std::move(v)); }));
    inside_->on_stop_shutdown[context().index()] = code(pool->shutdown());
  }
  Inside* inside_;
};

TEST(BadInput, SendsFromOnStopAreRefusedWithClosedAndHandBackTheirValue) {
  Inside inside;
  auto pool = create_pool<Insider>(PoolConfig().with_num_workers(2).with_max_workers(3), ConsistentHashPartitioner(2),
                                   each_worker_gets<Insider>(&inside));
  ASSERT_NE(pool, nullptr);
  inside.pool.store(pool.get());
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(inside.on_stop[i],
              "context().send closed; context().send_to(self) closed; context().send_to(99) invalid; "
              "context().broadcast 0 closed; pool.send closed")
        << "worker " << i;
    EXPECT_EQ(inside.on_stop_shutdown[i], "FAILED_PRECONDITION") << "shutdown() from worker " << i << "'s on_stop";
  }
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.rejected, 2u * 6u) << "each worker's six refused sends (broadcast: one per worker)";
  expect_balanced(s);
}

TEST(BadInput, AWorkerThatResizesItsOwnPoolGetsFailedPrecondition) {
  Inside inside;
  auto pool = create_pool<Insider>(PoolConfig().with_num_workers(2).with_max_workers(3), ConsistentHashPartitioner(2),
                                   each_worker_gets<Insider>(&inside));
  ASSERT_NE(pool, nullptr);
  inside.pool.store(pool.get());
  ASSERT_EQ(pool->send_to(0, std::string("resize yourself")), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return inside.resize_codes_seen.load() == 2; }));
  EXPECT_EQ(inside.resize[0], "FAILED_PRECONDITION") << "add_worker() from a worker";
  EXPECT_EQ(inside.resize[1], "FAILED_PRECONDITION") << "remove_worker() from a worker";
  EXPECT_EQ(pool->size(), 2u) << "nothing changed";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

TEST(BadInput, AWorkerThatShutsDownItsOwnPoolGetsFailedPreconditionAndItsStopOnlyAsks) {
  Inside inside;
  auto pool = create_pool<Insider>(PoolConfig().with_num_workers(2), each_worker_gets<Insider>(&inside));
  ASSERT_NE(pool, nullptr);
  inside.pool.store(pool.get());
  ASSERT_EQ(pool->send_to(0, std::string("shut yourself down, then stop")), SendResult::ok);
  ASSERT_TRUE(wait_until([&] { return inside.lifecycle_seen.load(); }));
  EXPECT_EQ(inside.shutdown_code, "FAILED_PRECONDITION") << "shutdown() would wait for its own batch";
  EXPECT_EQ(inside.stop_left, 0u) << "stop() from a worker asks, and joins nothing";
  // The workers stop on their own; the owner's shutdown joins them and balances the books.
  EXPECT_TRUE(wait_until([&] { return !pool->running(); }));
  (void)pool->shutdown();
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.accepted, 1u);
  expect_balanced(s);
}

// ---------------------------------------------------------------- partitioners

TEST(BadInput, ConsistentHashPartitionerRefusesBadChangesAndStaysAsItWas) {
  ConsistentHashPartitioner ring(2);
  const std::vector<ConsistentHashPartitioner::WorkerId> ids = ring.workers();
  std::vector<std::size_t> owners;
  for (std::uint64_t k = 0; k < 1000; ++k) owners.push_back(ring.owner(k));
  struct Case {
    const char* what;
    std::function<absl::Status()> run;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"add_worker(1), already there", [&] { return ring.add_worker(1); }, absl::StatusCode::kAlreadyExists},
      {"add_worker(2^31)", [&] { return ring.add_worker(1u << 31); }, kInvalid},
      {"add_worker(UINT32_MAX)", [&] { return ring.add_worker(std::numeric_limits<std::uint32_t>::max()); }, kInvalid},
      {"remove_worker(5), not there", [&] { return ring.remove_worker(5); }, absl::StatusCode::kNotFound},
  };
  for (const Case& c : cases) EXPECT_EQ(c.run().code(), c.code) << c.what;
  EXPECT_EQ(ring.workers(), ids);
  for (std::uint64_t k = 0; k < 1000; ++k) EXPECT_EQ(ring.owner(k), owners[k]) << "key " << k;

  ASSERT_TRUE(ring.remove_worker(0).ok());
  EXPECT_EQ(ring.remove_worker(1).code(), kPrecondition) << "the last worker";
  EXPECT_EQ(ring.size(), 1u);

  EXPECT_EQ(ConsistentHashPartitioner(3, 0).virtual_nodes(), 1u) << "0 virtual nodes means 1";
  // A ring built with no workers owns no key: owner() says worker 0 until one is added.
  ConsistentHashPartitioner none(0);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.owner(42), 0u);
  EXPECT_EQ(none(42, 1), 0u);
  ASSERT_TRUE(none.add_worker(7).ok());
  EXPECT_EQ(none.owner(42), 7u);
}

// ---------------------------------------------------------------- the metrics endpoint

#if defined(SN_TEST_HAVE_HTTP)
TEST(BadInput, MetricsServerRefusesBadPortsThreadsSourcesAndAddresses) {
  const MetricsServer::Sources sources{[] { return std::string("sn_x_total 1\n"); }, [] { return std::string("{}"); }};
  enum class Serve { both, metrics_only, json_only };
  struct Case {
    const char* what;
    const char* address;
    int port;
    int threads;
    Serve serve;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"port -1", "127.0.0.1", -1, 1, Serve::both, kInvalid},
      {"port 65536", "127.0.0.1", 65536, 1, Serve::both, kInvalid},
      {"threads 0", "127.0.0.1", 0, 0, Serve::both, kInvalid},
      {"threads -3", "127.0.0.1", 0, -3, Serve::both, kInvalid},
      {"no json source", "127.0.0.1", 0, 1, Serve::metrics_only, kInvalid},
      {"no metrics source", "127.0.0.1", 0, 1, Serve::json_only, kInvalid},
      {"an address that is not one", "not an address", 0, 1, Serve::both, absl::StatusCode::kUnavailable},
      {"address 999.1.1.1", "999.1.1.1", 0, 1, Serve::both, absl::StatusCode::kUnavailable},
      {"another host's address", "192.0.2.1", 0, 1, Serve::both, absl::StatusCode::kUnavailable},
  };
  for (const Case& c : cases) {
    MetricsServer::Options options;
    options.address = c.address;
    options.port = c.port;
    options.threads = c.threads;
    MetricsServer::Sources given = sources;
    if (c.serve == Serve::metrics_only) given.json = nullptr;
    if (c.serve == Serve::json_only) given.metrics = nullptr;
    EXPECT_EQ(MetricsServer::start(options, given).status().code(), c.code) << c.what;
  }
  absl::StatusOr<std::unique_ptr<MetricsServer>> first = MetricsServer::start({}, sources);
  ASSERT_TRUE(first.ok()) << first.status();
  MetricsServer::Options taken;
  taken.port = (*first)->port();
  EXPECT_EQ(MetricsServer::start(taken, sources).status().code(), absl::StatusCode::kUnavailable) << "a taken port";
  (*first)->stop();
  (*first)->stop();
}
#endif

}  // namespace
}  // namespace sn::test
