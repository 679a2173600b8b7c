// A worker's own memory: one mimalloc heap per worker, and allocators that draw from it.
// mimalloc itself stays behind this header (src/worker/heap.cc).
#pragma once

#include <cstddef>
#include <memory_resource>
#include <new>
#include <type_traits>

namespace sn {

/// A private heap (a mimalloc mi_heap_t) owned by one worker thread.
///
/// Threads: allocate() only on the thread that created the heap (the worker's own
/// thread: State, containers inside it, and the tick arena's chunks). deallocate() from
/// any thread: a block freed elsewhere goes back to this heap.
///
/// Destroying the heap (when the worker exits) does not free blocks that are still in
/// use: they migrate to the process's default heap, so a value that escaped the worker
/// (for example inside a message) stays valid.
class WorkerHeap {
 public:
  /// A heap for the calling thread. Throws std::bad_alloc if mimalloc cannot make one.
  WorkerHeap();
  ~WorkerHeap();
  WorkerHeap(const WorkerHeap&) = delete;
  WorkerHeap& operator=(const WorkerHeap&) = delete;

  /// nullptr when out of memory. `alignment` must be a power of two.
  void* allocate(std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) noexcept;
  /// Frees a block from allocate() (of any WorkerHeap); nullptr is ignored.
  static void deallocate(void* p) noexcept;
  /// Whether `p` was allocated from this heap and is still live.
  bool owns(const void* p) const noexcept;

  /// Bytes in this heap's live blocks (walks the heap: for tests and diagnostics, not hot paths).
  std::size_t used_bytes() const noexcept;

  /// The heap as a polymorphic memory resource, for std::pmr containers.
  std::pmr::memory_resource* resource() noexcept { return &resource_; }

 private:
  class Resource final : public std::pmr::memory_resource {
   public:
    explicit Resource(WorkerHeap& heap) noexcept : heap_(heap) {}

   private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
      void* p = heap_.allocate(bytes, alignment);
      if (p == nullptr) throw std::bad_alloc();
      return p;
    }
    void do_deallocate(void* p, std::size_t, std::size_t) override { WorkerHeap::deallocate(p); }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

    WorkerHeap& heap_;
  };

  void* heap_;  // mi_heap_t*
  Resource resource_{*this};
};

/// A standard allocator over a WorkerHeap, for containers inside a worker's State:
///   absl::flat_hash_map<K, V, absl::Hash<K>, std::equal_to<K>, sn::HeapAllocator<std::pair<const K, V>>>
///       counts{sn::HeapAllocator<std::pair<const K, V>>(context().heap())};
/// Allocate only on the heap's own thread (the worker); copies compare equal when they
/// share the heap.
template <class T>
class HeapAllocator {
 public:
  using value_type = T;  ///< What it allocates.

  /// Allocates from `heap`, which must outlive it.
  explicit HeapAllocator(WorkerHeap& heap) noexcept : heap_(&heap) {}
  /// The same heap, for another type.
  template <class U>
  HeapAllocator(const HeapAllocator<U>& other) noexcept : heap_(other.heap()) {}  // NOLINT: rebinding

  /// Room for `n` values of T. Throws std::bad_array_new_length when the size overflows,
  /// std::bad_alloc when the heap has no memory left.
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    void* p = heap_->allocate(n * sizeof(T), alignof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  /// Gives back memory from allocate().
  void deallocate(T* p, std::size_t) noexcept { WorkerHeap::deallocate(p); }

  /// The heap it allocates from.
  WorkerHeap* heap() const noexcept { return heap_; }

  /// Equal when they share the heap.
  template <class U>
  friend bool operator==(const HeapAllocator& a, const HeapAllocator<U>& b) noexcept {
    return a.heap() == b.heap();
  }

 private:
  WorkerHeap* heap_;
};

}  // namespace sn
