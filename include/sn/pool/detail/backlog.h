// Internal: a growable FIFO in a worker's heap, for what a full lane could not take yet.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

#include "sn/worker/heap.h"

namespace sn::detail {

/// A growable FIFO in a worker's heap: the part of one lane that did not fit into the
/// lane's channel. Worker thread only.
template <class T>
class Backlog {
 public:
  Backlog() noexcept = default;
  Backlog(const Backlog&) = delete;
  Backlog& operator=(const Backlog&) = delete;
  Backlog(Backlog&& other) noexcept
      : heap_(other.heap_),
        slots_(std::exchange(other.slots_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  ~Backlog() {
    clear();
    WorkerHeap::deallocate(slots_);
  }

  void attach(WorkerHeap* heap) noexcept { heap_ = heap; }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  T& front() noexcept { return slots_[head_]; }

  /// False when the heap is out of memory; `value` is then untouched.
  bool push(T& value) noexcept {
    if (size_ == capacity_ && !grow()) return false;
    ::new (&slots_[(head_ + size_) & (capacity_ - 1)]) T(std::move(value));
    ++size_;
    return true;
  }
  void pop() noexcept {
    slots_[head_].~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
  }
  void clear() noexcept {
    while (size_ != 0) pop();
  }

 private:
  bool grow() noexcept {
    const std::size_t capacity = capacity_ == 0 ? 16 : capacity_ * 2;
    if (heap_ == nullptr || capacity > static_cast<std::size_t>(-1) / sizeof(T)) return false;
    T* slots = static_cast<T*>(heap_->allocate(capacity * sizeof(T), alignof(T)));
    if (slots == nullptr) return false;
    for (std::size_t i = 0; i < size_; ++i) {
      T& from = slots_[(head_ + i) & (capacity_ - 1)];
      ::new (&slots[i]) T(std::move(from));
      from.~T();
    }
    WorkerHeap::deallocate(slots_);
    slots_ = slots;
    capacity_ = capacity;
    head_ = 0;
    return true;
  }

  WorkerHeap* heap_ = nullptr;
  T* slots_ = nullptr;
  std::size_t capacity_ = 0;  // a power of two, or 0
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sn::detail
