// WorkerHeap on mimalloc's first-class heaps, and the tick arena's chunk management.
#include "sn/worker/heap.h"

#include <mimalloc.h>

#include <algorithm>
#include <new>

#include "sn/worker/arena.h"

namespace sn {
namespace {

mi_heap_t* as_heap(void* heap) noexcept { return static_cast<mi_heap_t*>(heap); }

bool add_block_size(const mi_heap_t*, const mi_heap_area_t*, void* block, size_t block_size, void* arg) {
  if (block != nullptr) *static_cast<std::size_t*>(arg) += block_size;
  return true;
}

}  // namespace

WorkerHeap::WorkerHeap() : heap_(mi_heap_new()) {
  if (heap_ == nullptr) throw std::bad_alloc();
}

// mi_heap_delete (not mi_heap_destroy): live blocks move to the default heap instead of
// being freed under whoever still points at them.
WorkerHeap::~WorkerHeap() { mi_heap_delete(as_heap(heap_)); }

void* WorkerHeap::allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (alignment <= alignof(std::max_align_t)) return mi_heap_malloc(as_heap(heap_), bytes);
  return mi_heap_malloc_aligned(as_heap(heap_), bytes, alignment);
}

void WorkerHeap::deallocate(void* p) noexcept { mi_free(p); }

bool WorkerHeap::owns(const void* p) const noexcept { return p != nullptr && mi_heap_check_owned(as_heap(heap_), p); }

std::size_t WorkerHeap::used_bytes() const noexcept {
  std::size_t total = 0;
  mi_heap_visit_blocks(as_heap(heap_), true, &add_block_size, &total);
  return total;
}

TickArena::~TickArena() {
  for (Chunk* c = first_; c != nullptr;) WorkerHeap::deallocate(std::exchange(c, c->next));
}

void TickArena::enter(Chunk* chunk) noexcept {
  if (current_ != nullptr) used_before_current_ += current_->bytes;
  current_ = chunk;
  cursor_ = begin_of(chunk);
  limit_ = cursor_ + chunk->bytes;
}

void* TickArena::allocate_slow(std::size_t bytes, std::size_t alignment) noexcept {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return nullptr;
  const std::size_t need = bytes + alignment;  // room for any alignment padding
  if (need < bytes) return nullptr;            // overflow
  // Chunks kept from earlier iterations come first; a chunk too small for this request
  // is skipped for the rest of the iteration.
  Chunk* next = current_ == nullptr ? first_ : current_->next;
  while (next != nullptr && next->bytes < need) {
    enter(next);
    next = next->next;
  }
  if (next == nullptr) {
    const std::size_t usable = std::max(chunk_bytes_, need);
    if (usable > static_cast<std::size_t>(-1) - sizeof(Chunk)) return nullptr;
    void* raw = heap_.allocate(sizeof(Chunk) + usable, alignof(Chunk));
    if (raw == nullptr) return nullptr;
    next = ::new (raw) Chunk{nullptr, usable};
    reserved_ += usable;
    if (current_ != nullptr) {
      next->next = current_->next;
      current_->next = next;
    } else {
      next->next = first_;
      first_ = next;
    }
  }
  enter(next);
  return try_allocate(bytes, alignment);
}

void TickArena::reset() noexcept {
  peak_ = std::max(peak_, used_bytes());
  used_before_current_ = 0;
  current_ = nullptr;
  cursor_ = limit_ = 0;
  if (first_ != nullptr) enter(first_);
}

std::size_t TickArena::used_bytes() const noexcept {
  if (current_ == nullptr) return 0;
  return used_before_current_ + (cursor_ - begin_of(current_));
}

std::size_t TickArena::peak_bytes() const noexcept { return std::max(peak_, used_bytes()); }

}  // namespace sn
