// Zero global allocations in steady state. This executable replaces the global operator
// new and delete (every form) with versions that count, and checks that a warmed-up
// pool handling a stream of messages never reaches them: its State keeps an
// absl::flat_hash_map on the worker's heap (sn::HeapAllocator), handlers take scratch
// space from the tick arena, and sends, batches, ticks, parking and waking allocate
// nothing. A control test shows that the counter does see a State that allocates.
//
// Rules for the measured window: nothing in it may allocate on the test's side either,
// so payloads are plain values, the test waits on an atomic that the workers bump in
// tick() (not on stats(), whose snapshot holds a std::vector), and assertions run after
// the window closes.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/worker/heap.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

// ---------------------------------------------------------------- the counting allocator

namespace {

std::atomic<std::uint64_t> g_allocations{0};

void* counted(std::size_t bytes) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(bytes == 0 ? 1 : bytes);
}

void* counted_aligned(std::size_t bytes, std::align_val_t alignment) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(alignment);
  const std::size_t rounded = (bytes == 0 ? a : (bytes + a - 1) / a * a);  // aligned_alloc wants a multiple
  return std::aligned_alloc(a, rounded);
}

// Out of line, so that GCC does not see free() meet a pointer from `new` where a delete
// is inlined (-Wmismatched-new-delete): here they are the same allocator by design.
[[gnu::noinline]] void release(void* p) noexcept { std::free(p); }

}  // namespace

void* operator new(std::size_t bytes) {
  if (void* p = counted(bytes)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t bytes) {
  if (void* p = counted(bytes)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept { return counted(bytes); }
void* operator new[](std::size_t bytes, const std::nothrow_t&) noexcept { return counted(bytes); }
void* operator new(std::size_t bytes, std::align_val_t alignment) {
  if (void* p = counted_aligned(bytes, alignment)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t bytes, std::align_val_t alignment) {
  if (void* p = counted_aligned(bytes, alignment)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return counted_aligned(bytes, alignment);
}
void* operator new[](std::size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return counted_aligned(bytes, alignment);
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }

namespace sn::test {
namespace {

std::uint64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }

/// Where the control test's pointers escape to, so the compiler cannot elide the
/// allocations it makes.
std::atomic<void*> g_sink{nullptr};

constexpr std::uint64_t kKeys = 1024;

/// A message as a plain value: building one allocates nothing.
struct Reading {
  std::uint64_t value = 0;
  std::uint32_t weight = 0;
};

/// Messages handled so far, published by the workers from tick(); the test's only
/// window into the pool while it measures.
std::atomic<std::uint64_t> g_handled{0};

/// Waits until the workers have reported `target` messages, without allocating
/// (no stats(), no std::function); false after the stall limit without progress.
bool wait_handled(std::uint64_t target) {
  std::uint64_t seen = g_handled.load(std::memory_order_acquire);
  absl::Time last_change = absl::Now();
  while (seen < target) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    const std::uint64_t now = g_handled.load(std::memory_order_acquire);
    if (now != seen) {
      seen = now;
      last_change = absl::Now();
    } else if (absl::Now() - last_change > stall_limit()) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- a worker that allocates nothing

using Alloc = HeapAllocator<std::pair<const std::uint64_t, std::uint64_t>>;
using Totals =
    absl::flat_hash_map<std::uint64_t, std::uint64_t, absl::Hash<std::uint64_t>, std::equal_to<std::uint64_t>, Alloc>;

struct HeapState {
  Totals totals;
  std::uint64_t unreported = 0;
};

struct HeapCounter : Worker<HeapState, Reading> {
  HeapState init() { return HeapState{Totals(Alloc(context().heap())), 0}; }
  void handle_message(HeapState& s, Envelope<Reading> e) {
    // Scratch from the tick arena, as a handler would for a temporary.
    std::span<std::uint64_t> scratch = context().arena().make_array<std::uint64_t>(16);
    for (std::size_t i = 0; i < scratch.size(); ++i) scratch[i] = e.payload.value + i;
    s.totals[e.key] += scratch[15] * e.payload.weight;
    ++s.unreported;
  }
  void tick(HeapState& s) {
    if (s.unreported != 0) g_handled.fetch_add(std::exchange(s.unreported, 0), std::memory_order_release);
  }
};

// ---------------------------------------------------------------- a worker that does allocate

struct GrowingState {
  std::vector<std::uint64_t> seen;  // global allocator: grows as messages arrive
  std::uint64_t unreported = 0;
};

struct Hoarder : Worker<GrowingState, Reading> {
  void handle_message(GrowingState& s, Envelope<Reading> e) {
    s.seen.push_back(e.payload.value);
    ++s.unreported;
  }
  void tick(GrowingState& s) {
    if (s.unreported != 0) g_handled.fetch_add(std::exchange(s.unreported, 0), std::memory_order_release);
  }
};

/// Sends `n` readings over the same kKeys keys from the test's thread.
template <class W>
void send_readings(WorkerPool<W>& pool, std::uint64_t n, bool& all_ok) {
  for (std::uint64_t i = 0; i < n; ++i) {
    if (pool.send(i % kKeys, Reading{i, 3}) != SendResult::ok) all_ok = false;
  }
}

/// Warms `pool` up (every key seen, arenas grown, workers parked and woken again),
/// then returns how many global allocations handling `n` more messages made. The
/// counter is read after the last stats() call before the window and before any
/// assertion after it.
template <class W>
std::uint64_t allocations_in_steady_state(WorkerPool<W>& pool, std::uint64_t n) {
  g_handled.store(0);
  bool ok = true;
  std::uint64_t expected = 0;
  for (int round = 0; round < 3; ++round) {
    send_readings(pool, 4 * kKeys, ok);
    expected += 4 * kKeys;
    EXPECT_TRUE(wait_handled(expected)) << "warm-up round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the workers park, then wake them
  }
  EXPECT_TRUE(ok);
  EXPECT_EQ(pool.stats().in_flight(), 0u);  // last stats() before the window

  const std::uint64_t before = allocations();
  send_readings(pool, n, ok);
  const bool handled = wait_handled(expected + n);
  const std::uint64_t after = allocations();

  EXPECT_TRUE(ok) << "a send in the measured window was refused";
  EXPECT_TRUE(handled) << "the workers stopped before handling every message";
  return after - before;
}

std::uint64_t window_size() { return kUnderTsan ? 50000 : 200000; }

TEST(WorkerAllocation, TheCountingAllocatorSeesAnAllocation) {
  const std::uint64_t before = allocations();
  auto* p = new int(7);
  auto* q = new (std::align_val_t{64}) double(1.0);
  auto* r = new (std::nothrow) char[100];
  g_sink.store(p);
  g_sink.store(q);
  g_sink.store(r);
  const std::uint64_t after = allocations();
  delete p;
  ::operator delete (q, std::align_val_t{64});
  delete[] r;
  EXPECT_EQ(after - before, 3u);
}

TEST(WorkerAllocation, AWarmPoolHandlesMessagesWithoutGlobalAllocations) {
  auto pool = create_pool<HeapCounter>(PoolConfig().with_num_workers(2).with_queue_capacity(1024));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t n = window_size();
  const std::uint64_t made = allocations_in_steady_state(*pool, n);
  EXPECT_EQ(made, 0u) << made << " global allocations while handling " << n << " messages in steady state";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.processed, 12 * kKeys + n);
  expect_balanced(s);
}

TEST(WorkerAllocation, AWarmPoolWithIdleTicksAndSequenceNumbersAllocatesNothing) {
  const PoolConfig config = PoolConfig()
                                .with_num_workers(2)
                                .with_queue_capacity(256)
                                .with_batch_size(16)
                                .with_idle_tick(absl::Milliseconds(1))
                                .with_sequence_numbers(true)
                                .with_timestamps(true);
  auto pool = create_pool<HeapCounter>(config);
  ASSERT_NE(pool, nullptr);
  const std::uint64_t n = window_size() / 2;
  const std::uint64_t made = allocations_in_steady_state(*pool, n);
  EXPECT_EQ(made, 0u) << made << " global allocations while handling " << n << " messages in steady state";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

TEST(WorkerAllocation, AStateThatGrowsAStdVectorIsCounted) {
  auto pool = create_pool<Hoarder>(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  const std::uint64_t made = allocations_in_steady_state(*pool, window_size());
  EXPECT_GT(made, 0u) << "the counter missed the vector's growth: the zero above would prove nothing";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
}

}  // namespace
}  // namespace sn::test
