// A worker's memory, single-threaded: the tick arena (bump allocation that keeps its
// chunks across resets) and the worker heap with its allocators.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory_resource>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "gtest/gtest.h"
#include "sn/worker/arena.h"
#include "sn/worker/heap.h"

namespace sn {
namespace {

bool aligned_to(const void* p, std::size_t alignment) { return reinterpret_cast<std::uintptr_t>(p) % alignment == 0; }

// ---------------------------------------------------------------- TickArena

TEST(TickArena, EveryAllocationHonoursItsAlignmentAndKeepsItsBytes) {
  WorkerHeap heap;
  TickArena arena(heap, 4096);
  struct Block {
    unsigned char* p;
    std::size_t bytes;
    unsigned char fill;
  };
  std::vector<Block> blocks;
  unsigned char fill = 1;
  for (int round = 0; round < 8; ++round) {
    for (std::size_t alignment = 1; alignment <= 4096; alignment *= 2) {
      const std::size_t bytes = 3 + alignment / 2 + static_cast<std::size_t>(round) * 7;
      void* p = arena.try_allocate(bytes, alignment);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(aligned_to(p, alignment)) << p << " for alignment " << alignment;
      std::memset(p, fill, bytes);
      blocks.push_back({static_cast<unsigned char*>(p), bytes, fill});
      fill = static_cast<unsigned char>(fill == 255 ? 1 : fill + 1);
    }
  }
  // No two allocations of one iteration overlap: each still holds its own pattern.
  for (const Block& b : blocks) {
    EXPECT_EQ(std::count(b.p, b.p + b.bytes, b.fill), static_cast<std::ptrdiff_t>(b.bytes));
  }
  // Everything the arena hands out comes from the worker's heap (owns() looks only at
  // word-aligned pointers).
  for (const Block& b : blocks) {
    if (aligned_to(b.p, alignof(void*))) {
      EXPECT_TRUE(heap.owns(b.p));
    }
  }
}

TEST(TickArena, ResetReusesTheChunksSoReservedBytesStayConstant) {
  WorkerHeap heap;
  TickArena arena(heap, 4096);
  // One iteration: many small allocations that need several chunks.
  auto iteration = [&] {
    std::vector<void*> got;
    for (int i = 0; i < 200; ++i) {
      void* p = arena.try_allocate(48 + static_cast<std::size_t>(i % 5) * 16, 16);
      EXPECT_NE(p, nullptr);
      got.push_back(p);
    }
    return got;
  };
  const std::vector<void*> first = iteration();
  const std::size_t reserved = arena.reserved_bytes();
  EXPECT_GT(reserved, 4096u) << "the iteration should have needed more than one chunk";
  EXPECT_GT(arena.used_bytes(), 0u);
  const std::size_t heap_used = heap.used_bytes();
  for (int i = 0; i < 100; ++i) {
    arena.reset();
    EXPECT_EQ(arena.used_bytes(), 0u);
    const std::vector<void*> again = iteration();
    EXPECT_EQ(again, first) << "iteration " << i << " did not reuse the same memory";
    EXPECT_EQ(arena.reserved_bytes(), reserved) << "iteration " << i;
  }
  EXPECT_EQ(heap.used_bytes(), heap_used) << "the arena took more from the heap after its first iteration";
  EXPECT_GE(arena.peak_bytes(), arena.used_bytes());
}

TEST(TickArena, AllocationsLargerThanAChunkSucceedAndAreReusedAfterReset) {
  WorkerHeap heap;
  TickArena arena(heap, 4096);
  constexpr std::size_t kLarge = 100 * 1024;
  std::size_t reserved = 0;
  for (int i = 0; i < 20; ++i) {
    void* small_before = arena.try_allocate(100);
    auto* large = static_cast<unsigned char*>(arena.try_allocate(kLarge, 64));
    void* small_after = arena.try_allocate(100);
    ASSERT_NE(small_before, nullptr);
    ASSERT_NE(large, nullptr);
    ASSERT_NE(small_after, nullptr);
    EXPECT_TRUE(aligned_to(large, 64));
    std::memset(large, 0xAB, kLarge);
    std::memset(small_after, 0xCD, 100);
    std::memset(small_before, 0xEF, 100);
    EXPECT_EQ(std::count(large, large + kLarge, 0xAB), static_cast<std::ptrdiff_t>(kLarge));
    EXPECT_GE(arena.used_bytes(), kLarge + 200);
    if (i == 0) {
      reserved = arena.reserved_bytes();
      EXPECT_GE(reserved, kLarge);
    } else {
      EXPECT_EQ(arena.reserved_bytes(), reserved) << "iteration " << i;
    }
    arena.reset();
  }
  EXPECT_GE(arena.peak_bytes(), kLarge + 200);
}

TEST(TickArena, MakeArrayValueInitializesReusedMemory) {
  WorkerHeap heap;
  TickArena arena(heap, 4096);
  constexpr std::size_t kCount = 1000;
  std::span<std::uint64_t> dirty = arena.make_array<std::uint64_t>(kCount);
  std::fill(dirty.begin(), dirty.end(), ~std::uint64_t{0});
  arena.reset();
  std::span<std::uint64_t> clean = arena.make_array<std::uint64_t>(kCount);
  ASSERT_EQ(clean.size(), kCount);
  EXPECT_EQ(clean.data(), dirty.data()) << "expected the reset arena to hand out the same memory again";
  EXPECT_EQ(std::count(clean.begin(), clean.end(), 0u), static_cast<std::ptrdiff_t>(kCount));

  struct WithDefaults {
    int answer = 42;
    double zero;
  };
  arena.reset();
  std::memset(arena.try_allocate(sizeof(WithDefaults) * 16, alignof(WithDefaults)), 0xFF, sizeof(WithDefaults) * 16);
  arena.reset();
  std::span<WithDefaults> made = arena.make_array<WithDefaults>(16);
  for (const WithDefaults& w : made) {
    EXPECT_EQ(w.answer, 42);
    EXPECT_EQ(w.zero, 0.0);
  }
}

TEST(TickArena, MakeConstructsInPlace) {
  WorkerHeap heap;
  TickArena arena(heap);
  struct Pair {
    int a;
    long b;
  };
  Pair* p = arena.make<Pair>(Pair{3, 4});
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned_to(p, alignof(Pair)));
  EXPECT_EQ(p->a, 3);
  EXPECT_EQ(p->b, 4);
}

TEST(TickArena, APmrVectorGrowsInsideTheArena) {
  WorkerHeap heap;
  TickArena arena(heap, 4096);
  for (int round = 0; round < 3; ++round) {
    {
      std::pmr::vector<std::uint64_t> v(&arena);
      for (std::uint64_t i = 0; i < 10000; ++i) v.push_back(i * 3);
      ASSERT_EQ(v.size(), 10000u);
      for (std::uint64_t i = 0; i < 10000; ++i) ASSERT_EQ(v[i], i * 3);
      EXPECT_TRUE(heap.owns(v.data()));
      EXPECT_GE(arena.used_bytes(), 10000 * sizeof(std::uint64_t));
    }
    arena.reset();
  }
  EXPECT_TRUE(arena.is_equal(arena));
}

// ---------------------------------------------------------------- WorkerHeap

TEST(WorkerHeap, OwnsWhatItAllocatedAndNothingElse) {
  WorkerHeap heap;
  WorkerHeap other;
  void* mine = heap.allocate(64);
  void* theirs = other.allocate(64);
  void* from_malloc = std::malloc(64);
  ASSERT_NE(mine, nullptr);
  ASSERT_NE(theirs, nullptr);
  EXPECT_TRUE(heap.owns(mine));
  EXPECT_FALSE(heap.owns(theirs));
  EXPECT_FALSE(heap.owns(from_malloc));
  EXPECT_FALSE(heap.owns(nullptr));
  int on_stack = 0;
  EXPECT_FALSE(heap.owns(&on_stack));
  WorkerHeap::deallocate(mine);
  WorkerHeap::deallocate(theirs);
  WorkerHeap::deallocate(nullptr);
  std::free(from_malloc);
}

TEST(WorkerHeap, OverAlignedAllocationsAreAligned) {
  WorkerHeap heap;
  for (std::size_t alignment = 1; alignment <= 8192; alignment *= 2) {
    void* p = heap.allocate(24, alignment);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned_to(p, alignment)) << alignment;
    EXPECT_TRUE(heap.owns(p));
    WorkerHeap::deallocate(p);
  }
}

TEST(WorkerHeap, UsedBytesGrowWithLiveBlocksAndShrinkWhenTheyAreFreed) {
  WorkerHeap heap;
  const std::size_t empty = heap.used_bytes();
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(heap.allocate(1000));
  const std::size_t full = heap.used_bytes();
  EXPECT_GE(full, empty + 100 * 1000);
  for (void* p : blocks) WorkerHeap::deallocate(p);
  EXPECT_LT(heap.used_bytes(), full);
}

TEST(WorkerHeap, BlocksOutliveTheHeapThatAllocatedThem) {
  void* escaped = nullptr;
  {
    WorkerHeap heap;
    escaped = heap.allocate(256);
    ASSERT_NE(escaped, nullptr);
    std::memset(escaped, 0x5A, 256);
  }
  auto* bytes = static_cast<unsigned char*>(escaped);
  EXPECT_EQ(std::count(bytes, bytes + 256, 0x5A), 256);
  WorkerHeap::deallocate(escaped);
}

TEST(WorkerHeap, ItsMemoryResourceServesPmrContainers) {
  WorkerHeap heap;
  std::pmr::vector<int> v(heap.resource());
  for (int i = 0; i < 5000; ++i) v.push_back(i);
  EXPECT_TRUE(heap.owns(v.data()));
  EXPECT_GE(heap.used_bytes(), 5000 * sizeof(int));
  EXPECT_TRUE(heap.resource()->is_equal(*heap.resource()));
  WorkerHeap other;
  EXPECT_FALSE(heap.resource()->is_equal(*other.resource()));
}

TEST(HeapAllocator, AFlatHashMapWithItAllocatesInsideTheHeap) {
  WorkerHeap heap;
  using Alloc = HeapAllocator<std::pair<const std::uint64_t, std::uint64_t>>;
  using Map =
      absl::flat_hash_map<std::uint64_t, std::uint64_t, absl::Hash<std::uint64_t>, std::equal_to<std::uint64_t>, Alloc>;
  const std::size_t before = heap.used_bytes();
  {
    Map map{Alloc(heap)};
    for (std::uint64_t k = 0; k < 10000; ++k) map[k] = k * k;
    EXPECT_GE(heap.used_bytes(), before + 10000 * sizeof(std::pair<const std::uint64_t, std::uint64_t>));
    for (std::uint64_t k = 0; k < 10000; k += 97) {
      auto it = map.find(k);
      ASSERT_NE(it, map.end());
      EXPECT_EQ(it->second, k * k);
      EXPECT_TRUE(heap.owns(&*it)) << "entry for key " << k << " lives outside the heap";
    }
  }
  EXPECT_EQ(heap.used_bytes(), before) << "the map's memory went back to the heap";
}

TEST(HeapAllocator, CopiesCompareEqualOnlyWhenTheyShareTheHeap) {
  WorkerHeap a;
  WorkerHeap b;
  HeapAllocator<int> on_a(a);
  HeapAllocator<double> rebound(on_a);
  HeapAllocator<int> on_b(b);
  EXPECT_TRUE(on_a == rebound);
  EXPECT_FALSE(on_a == on_b);
  EXPECT_EQ(rebound.heap(), &a);
  int* p = on_a.allocate(10);
  EXPECT_TRUE(a.owns(p));
  EXPECT_FALSE(b.owns(p));
  on_a.deallocate(p, 10);
}

}  // namespace
}  // namespace sn
