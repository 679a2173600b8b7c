// Internal: where call records get their memory. A call costs one allocation, made by
// the thread that starts the call (make_call in call_state.h); its release runs on
// whichever thread drops the last reference, maybe after the starting worker has exited.
//
// So the release function takes no context: it must stay valid for the life of the
// process. That is why this is not a std::pmr::memory_resource*: a resource's
// deallocate() is a member of an object (a WorkerHeap's resource dies with its worker),
// and a record may outlive it. WorkerHeap::deallocate is static and accepts blocks from
// any thread, even after the heap is gone (they migrate), so a worker's heap fits.
#pragma once

#include <cstddef>
#include <new>

#include "sn/worker/heap.h"

namespace sn::detail {

/// How call records are allocated and released. Trivially copyable; stored in each record.
struct CallMemory {
  /// Returns `bytes` aligned to `alignment`, or nullptr. Only the thread that starts calls.
  using Allocate = void* (*)(void* context, std::size_t bytes, std::size_t alignment) noexcept;
  /// Frees a block from Allocate. Any thread, at any time: it has no context on purpose.
  using Release = void (*)(void* block, std::size_t bytes, std::size_t alignment) noexcept;

  Allocate allocate = nullptr;
  void* context = nullptr;
  Release release = nullptr;

  /// The global operator new and delete: for calls started outside any worker.
  static CallMemory global() noexcept {
    return {[](void*, std::size_t bytes, std::size_t alignment) noexcept -> void* {
              return ::operator new (bytes, std::align_val_t{alignment}, std::nothrow);
            },
            nullptr,
            [](void* block, std::size_t, std::size_t alignment) noexcept {
              ::operator delete (block, std::align_val_t{alignment});
            }};
  }

  /// A worker's mimalloc heap: allocate on that worker's thread only; release anywhere.
  /// Under ThreadSanitizer, the global heap instead: a record freed by another thread
  /// goes back to mimalloc's per-heap free list through atomics that TSan cannot see (it
  /// is not instrumented), so the block's reuse by its heap's thread would be reported
  /// as a race with the freeing thread's last writes.
  static CallMemory heap([[maybe_unused]] WorkerHeap& heap) noexcept {
#if defined(__SANITIZE_THREAD__)
    return global();
#else
    return {[](void* h, std::size_t bytes, std::size_t alignment) noexcept -> void* {
              return static_cast<WorkerHeap*>(h)->allocate(bytes, alignment);
            },
            &heap, [](void* block, std::size_t, std::size_t) noexcept { WorkerHeap::deallocate(block); }};
#endif
  }
};

}  // namespace sn::detail
