// A worker's backlog, single-threaded: the chunked FIFO that keeps what a full lane could
// not take yet, and the chunk store that counts its memory and the peak.
#include "sn/pool/detail/backlog.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gtest/gtest.h"
#include "sn/worker/heap.h"

namespace sn::detail {
namespace {

/// A value that counts its live copies, so that a test sees every one destroyed once.
struct Tracked {
  static inline int live = 0;
  std::uint64_t n = 0;
  std::unique_ptr<int> body;  // move-only, and a moved-from value is told apart

  explicit Tracked(std::uint64_t v) : n(v), body(std::make_unique<int>(static_cast<int>(v))) { ++live; }
  Tracked(Tracked&& other) noexcept : n(other.n), body(std::move(other.body)) { ++live; }
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() { --live; }
};

/// Pops everything, checking that it comes out as 0, 1, 2, ...; returns how many came out.
std::uint64_t drain_in_order(Backlog<Tracked>& backlog, std::uint64_t first = 0) {
  std::uint64_t next = first;
  while (!backlog.empty()) {
    std::span<Tracked> run = backlog.front_run();
    EXPECT_FALSE(run.empty());
    for (Tracked& t : run) {
      EXPECT_EQ(t.n, next);
      EXPECT_TRUE(t.body != nullptr && *t.body == static_cast<int>(next)) << "value " << next << " lost its body";
      ++next;
    }
    backlog.pop_front(run.size());
  }
  return next - first;
}

/// Pushes the values first, first + 1, ..., last - 1.
template <class T>
void push_range(Backlog<T>& backlog, std::uint64_t first, std::uint64_t last) {
  for (std::uint64_t i = first; i < last; ++i) {
    T t(i);
    ASSERT_TRUE(backlog.push(t));
  }
}

/// A backlog with its own heap and store.
template <class T>
struct HeapBacklog {
  WorkerHeap heap;
  ChunkStore store{&heap, nullptr};
  Backlog<T> backlog;

  HeapBacklog() { backlog.attach(&store); }
};

TEST(Backlog, KeepsTheOrderAcrossManyChunksAndDestroysEachValueOnce) {
  constexpr std::uint64_t kCount = 100'000;
  HeapBacklog<Tracked> b;
  {
    Tracked first(0);
    ASSERT_TRUE(b.backlog.push(first));
    EXPECT_EQ(first.body, nullptr) << "push moves the value in";
  }
  push_range(b.backlog, 1, kCount);
  EXPECT_EQ(b.backlog.size(), kCount);
  EXPECT_EQ(Tracked::live, static_cast<int>(kCount));
  EXPECT_EQ(drain_in_order(b.backlog), kCount);
  EXPECT_EQ(Tracked::live, 0);
  EXPECT_EQ(b.store.bytes(), 0u) << "a drained backlog gives every chunk back";
}

TEST(Backlog, TakesPartOfARunAndKeepsTheRestInOrder) {
  HeapBacklog<Tracked> b;
  Backlog<Tracked>& backlog = b.backlog;
  push_range(backlog, 0, 1000);
  // As a lane with room for 3 takes them: a few from the front of a run at a time.
  std::uint64_t next = 0;
  while (backlog.size() > 500) {
    std::span<Tracked> run = backlog.front_run();
    const std::size_t take = std::min<std::size_t>(3, run.size());
    for (std::size_t k = 0; k < take; ++k) EXPECT_EQ(run[k].n, next + k);
    backlog.pop_front(take);
    next += take;
  }
  push_range(backlog, 1000, 1200);
  EXPECT_EQ(drain_in_order(backlog, next), 1200 - next);
  EXPECT_EQ(Tracked::live, 0);
}

TEST(Backlog, DestroysWhatItStillHoldsWhenItIsDestroyed) {
  WorkerHeap heap;
  ChunkStore store(&heap, nullptr);
  {
    Backlog<Tracked> backlog;
    backlog.attach(&store);
    push_range(backlog, 0, 5000);
    backlog.pop_front(1);
  }
  EXPECT_EQ(Tracked::live, 0);
  EXPECT_EQ(store.bytes(), 0u) << "its chunks go back as it is destroyed";
}

TEST(Backlog, AFewValuesTakeASmallChunkAndABurstGrowsTheChunks) {
  WorkerHeap heap;
  ChunkStore store(&heap, nullptr);
  Backlog<std::uint64_t> backlog;
  backlog.attach(&store);
  std::uint64_t v = 1;
  ASSERT_TRUE(backlog.push(v));
  EXPECT_LE(store.bytes(), Backlog<std::uint64_t>::kMinChunkBytes) << "one message must not cost a big chunk";
  constexpr std::uint64_t kCount = 1'000'000;
  for (std::uint64_t i = 1; i < kCount; ++i) ASSERT_TRUE(backlog.push(i));
  // Chunks double up to kMaxChunkBytes, so the headers and the part-filled last chunk
  // cost a few percent at most.
  EXPECT_LE(store.bytes(), kCount * sizeof(std::uint64_t) * 105 / 100 + Backlog<std::uint64_t>::kMaxChunkBytes);
  EXPECT_GE(store.bytes(), kCount * sizeof(std::uint64_t));
  backlog.clear();
  EXPECT_EQ(store.bytes(), 0u);
  ASSERT_TRUE(backlog.push(v));
  EXPECT_LE(store.bytes(), Backlog<std::uint64_t>::kMinChunkBytes) << "an emptied backlog starts small again";
}

TEST(ChunkStore, PublishesThePeakAndStartsFromTheOneAlreadyPublished) {
  WorkerHeap heap;
  std::atomic<std::uint64_t> peak{0};
  {
    ChunkStore store(&heap, &peak);
    Backlog<std::uint64_t> backlog;
    backlog.attach(&store);
    for (std::uint64_t i = 0; i < 10'000; ++i) ASSERT_TRUE(backlog.push(i));
    const std::size_t held = store.bytes();
    EXPECT_EQ(peak.load(), held);
    backlog.clear();
    EXPECT_EQ(store.bytes(), 0u);
    EXPECT_EQ(store.peak_bytes(), held) << "the peak stays after the backlog drains";
    EXPECT_EQ(peak.load(), held);
  }
  const std::uint64_t before = peak.load();
  ChunkStore next(&heap, &peak);  // a later worker in the same slot
  EXPECT_EQ(next.peak_bytes(), before);
  Backlog<std::uint64_t> small;
  small.attach(&next);
  std::uint64_t v = 7;
  ASSERT_TRUE(small.push(v));
  EXPECT_EQ(peak.load(), before) << "a smaller backlog does not lower the slot's peak";
}

TEST(Backlog, APushWithoutMemoryFailsAndLeavesTheValueWithTheCaller) {
  ChunkStore store(nullptr, nullptr);  // no heap: every chunk allocation fails
  Backlog<Tracked> backlog;
  backlog.attach(&store);
  {
    Tracked t(42);
    EXPECT_FALSE(backlog.push(t));
    ASSERT_NE(t.body, nullptr);
    EXPECT_EQ(*t.body, 42);
  }
  EXPECT_TRUE(backlog.empty());
  EXPECT_EQ(Tracked::live, 0);
}

/// A value wider than a cache line: the chunks keep its alignment.
struct alignas(128) Wide {
  explicit Wide(std::uint64_t v) noexcept : n(v) {}
  std::uint64_t n;
};

TEST(Backlog, KeepsTheAlignmentOfAnOverAlignedValue) {
  HeapBacklog<Wide> b;
  Backlog<Wide>& backlog = b.backlog;
  push_range(backlog, 0, 1000);
  std::uint64_t next = 0;
  while (!backlog.empty()) {
    std::span<Wide> run = backlog.front_run();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(run.data()) % alignof(Wide), 0u);
    for (const Wide& w : run) EXPECT_EQ(w.n, next++);
    backlog.pop_front(run.size());
  }
  EXPECT_EQ(next, 1000u);
}

}  // namespace
}  // namespace sn::detail
