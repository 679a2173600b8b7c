// The tick arena: scratch memory for handlers, freed all at once after every tick.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "sn/worker/heap.h"

namespace sn {

/// Bump allocation for one iteration of a worker's loop.
///
/// Handlers and tick() take scratch space from it; the worker resets it after tick(),
/// which makes everything allocated in that iteration invalid at once (destructors are
/// not run: keep trivially destructible data here, or use it through std::pmr
/// containers whose lifetime ends within the iteration).
///
/// Memory comes from the worker's heap in chunks that are kept across resets, so once
/// the arena has grown to an iteration's peak need, allocating from it never reaches
/// any allocator. Threads: the owning worker's thread only.
class TickArena final : public std::pmr::memory_resource {
 public:
  /// Size of the chunks it takes from the heap unless told otherwise.
  static constexpr std::size_t kDefaultChunkBytes = 64 * 1024;

  /// Takes memory from `heap` in chunks of `chunk_bytes` (at least 1024).
  explicit TickArena(WorkerHeap& heap, std::size_t chunk_bytes = kDefaultChunkBytes) noexcept
      : heap_(heap), chunk_bytes_(chunk_bytes < 1024 ? 1024 : chunk_bytes) {}
  ~TickArena() override;
  TickArena(const TickArena&) = delete;
  TickArena& operator=(const TickArena&) = delete;

  /// `bytes` of storage aligned to `alignment` (a power of two); nullptr when the heap
  /// is out of memory. Valid until the next reset().
  void* try_allocate(std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) noexcept {
    const std::uintptr_t aligned = (cursor_ + (alignment - 1)) & ~(std::uintptr_t{alignment} - 1);
    if (aligned < limit_ && bytes <= limit_ - aligned) [[likely]] {
      cursor_ = aligned + bytes;
      return reinterpret_cast<void*>(aligned);
    }
    return allocate_slow(bytes, alignment);
  }

  /// Constructs a T in the arena; throws std::bad_alloc when out of memory.
  template <class T, class... Args>
  T* make(Args&&... args) {
    void* p = try_allocate(sizeof(T), alignof(T));
    if (p == nullptr) throw std::bad_alloc();
    return ::new (p) T(std::forward<Args>(args)...);
  }

  /// `n` value-initialized Ts; throws std::bad_alloc when out of memory.
  template <class T>
  std::span<T> make_array(std::size_t n) {
    static_assert(std::is_trivially_destructible_v<T>, "the arena never runs destructors");
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    void* p = try_allocate(n * sizeof(T), alignof(T));
    if (p == nullptr) throw std::bad_alloc();
    T* first = static_cast<T*>(p);
    std::uninitialized_value_construct_n(first, n);
    return {first, n};
  }

  /// Frees everything allocated since the last reset; keeps the chunks.
  void reset() noexcept;

  /// Bytes handed out since the last reset (including alignment padding).
  std::size_t used_bytes() const noexcept;
  /// Bytes of chunks held (kept across resets).
  std::size_t reserved_bytes() const noexcept { return reserved_; }
  /// The most bytes used in any one iteration so far.
  std::size_t peak_bytes() const noexcept;

 private:
  struct Chunk {
    Chunk* next;
    std::size_t bytes;  // usable bytes after the header
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = try_allocate(bytes, alignment);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}  // freed by reset()
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  void* allocate_slow(std::size_t bytes, std::size_t alignment) noexcept;
  void enter(Chunk* chunk) noexcept;
  static std::uintptr_t begin_of(Chunk* chunk) noexcept { return reinterpret_cast<std::uintptr_t>(chunk + 1); }

  WorkerHeap& heap_;
  std::size_t chunk_bytes_;
  std::uintptr_t cursor_ = 0;
  std::uintptr_t limit_ = 0;
  Chunk* first_ = nullptr;               // chunks in the order they are used
  Chunk* current_ = nullptr;             // the one cursor_ points into
  std::size_t used_before_current_ = 0;  // bytes used in the chunks before current_
  std::size_t reserved_ = 0;
  std::size_t peak_ = 0;
};

}  // namespace sn
