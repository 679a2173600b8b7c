// Internal: what a full lane could not take yet, kept in chunks of the worker's heap.
//
// A worker never waits for room in a lane; under FullPolicy::block what does not fit
// waits in a Backlog, one per lane, until the lane has room. A burst may be far larger
// than the lane, so a backlog grows by chunks rather than by doubling one array: a
// message is moved once into its chunk and once, with the other messages next to it,
// into the lane (one publish per run of a chunk), and nothing already spilled is ever
// copied again. A backlog's first chunk is small, so that a lane that owes a few
// messages holds a few hundred bytes; each next chunk doubles, up to kMaxChunkBytes.
//
// Worker thread only: chunks are allocated and freed on the worker's thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

#include "sn/worker/heap.h"

namespace sn::detail {

/// The memory of one worker's backlogs: allocates their chunks from the worker's heap and
/// counts the bytes they hold, and the most they have held at once, which it also
/// publishes (relaxed stores) for stats readers on other threads. Worker thread only.
class ChunkStore {
 public:
  /// `peak_out` (may be null) receives the peak; it starts from the value already there,
  /// so that a slot's peak outlives the worker that set it.
  ChunkStore(WorkerHeap* heap, std::atomic<std::uint64_t>* peak_out) noexcept
      : heap_(heap), peak_out_(peak_out), peak_(peak_out != nullptr ? peak_out->load(std::memory_order_relaxed) : 0) {}
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  /// `bytes` bytes aligned to `alignment` (a power of two); nullptr when out of memory.
  void* take(std::size_t bytes, std::size_t alignment) noexcept {
    void* p = heap_ != nullptr ? heap_->allocate(bytes, alignment) : nullptr;
    if (p == nullptr) return nullptr;
    bytes_ += bytes;
    if (bytes_ > peak_) {
      peak_ = bytes_;
      if (peak_out_ != nullptr) peak_out_->store(peak_, std::memory_order_relaxed);
    }
    return p;
  }
  /// Frees a chunk of `bytes` bytes from take().
  void give_back(void* chunk, std::size_t bytes) noexcept {
    WorkerHeap::deallocate(chunk);
    bytes_ -= bytes;
  }

  /// Bytes in chunks now.
  std::size_t bytes() const noexcept { return bytes_; }
  /// The most bytes in chunks at once.
  std::uint64_t peak_bytes() const noexcept { return peak_; }

 private:
  WorkerHeap* heap_;
  std::atomic<std::uint64_t>* peak_out_;
  std::size_t bytes_ = 0;
  std::uint64_t peak_;
};

/// A FIFO of T in chunks from a ChunkStore: the part of one lane that did not fit into the
/// lane's channel. Worker thread only.
template <class T>
class Backlog {
 public:
  /// A backlog's first chunk takes about kMinChunkBytes, each next one twice the last, up
  /// to kMaxChunkBytes (always room for at least one T).
  static constexpr std::size_t kMinChunkBytes = 512;
  static constexpr std::size_t kMaxChunkBytes = 16384;

  Backlog() noexcept = default;
  Backlog(const Backlog&) = delete;
  Backlog& operator=(const Backlog&) = delete;
  Backlog(Backlog&& other) noexcept
      : store_(other.store_),
        front_(std::exchange(other.front_, nullptr)),
        back_(std::exchange(other.back_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        next_bytes_(std::exchange(other.next_bytes_, kFirstBytes)) {}
  ~Backlog() { clear(); }

  /// Where its chunks come from; before the first push.
  void attach(ChunkStore* store) noexcept { store_ = store; }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  /// Appends `value` (moved from). False when no chunk could be allocated; `value` is then
  /// untouched.
  bool push(T& value) noexcept {
    if (back_ == nullptr || back_->tail == back_->capacity) {
      if (!add_chunk()) return false;
    }
    ::new (back_->slots() + back_->tail) T(std::move(value));
    ++back_->tail;
    ++size_;
    return true;
  }

  /// The oldest values that lie next to each other (the rest of the front chunk): not
  /// empty unless the backlog is. The caller may move from them, then pop_front them.
  std::span<T> front_run() noexcept {
    if (front_ == nullptr) return {};
    return {front_->slots() + front_->head, front_->tail - front_->head};
  }
  T& front() noexcept { return front_->slots()[front_->head]; }

  /// Destroys the `n` oldest values, at most front_run().size() of them.
  void pop_front(std::size_t n) noexcept {
    T* first = front_->slots() + front_->head;
    std::destroy(first, first + n);
    front_->head += static_cast<std::uint32_t>(n);
    size_ -= n;
    if (front_->head == front_->tail) drop_front();
  }
  void pop() noexcept { pop_front(1); }
  void clear() noexcept {
    while (!empty()) pop_front(front_run().size());
  }

 private:
  struct Chunk {
    Chunk* next;
    std::size_t bytes;       // as allocated, for the store's count
    std::uint32_t capacity;  // slots
    std::uint32_t head;      // the first live slot
    std::uint32_t tail;      // one past the last live slot

    T* slots() noexcept { return std::launder(reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(this) + kHeader)); }
  };
  static constexpr std::size_t kHeader = (sizeof(Chunk) + alignof(T) - 1) / alignof(T) * alignof(T);
  static constexpr std::size_t kAlign = std::max(alignof(Chunk), alignof(T));
  static constexpr std::size_t kFirstBytes = std::max(kMinChunkBytes, kHeader + sizeof(T));
  static constexpr std::size_t kLastBytes = std::max(kMaxChunkBytes, kHeader + sizeof(T));

  bool add_chunk() noexcept {
    const std::size_t bytes = next_bytes_;
    void* raw = store_ != nullptr ? store_->take(bytes, kAlign) : nullptr;
    if (raw == nullptr) return false;
    Chunk* c = ::new (raw) Chunk{nullptr, bytes, static_cast<std::uint32_t>((bytes - kHeader) / sizeof(T)), 0, 0};
    (back_ != nullptr ? back_->next : front_) = c;
    back_ = c;
    next_bytes_ = std::min(bytes * 2, kLastBytes);
    return true;
  }

  /// Frees the front chunk, which holds no value. An empty backlog starts again with a
  /// small chunk.
  void drop_front() noexcept {
    Chunk* c = std::exchange(front_, front_->next);
    if (front_ == nullptr) {
      back_ = nullptr;
      next_bytes_ = kFirstBytes;
    }
    store_->give_back(c, c->bytes);
  }

  ChunkStore* store_ = nullptr;
  Chunk* front_ = nullptr;  // the oldest values; the chunks link front to back
  Chunk* back_ = nullptr;   // where push appends
  std::size_t size_ = 0;
  std::size_t next_bytes_ = kFirstBytes;  // the size of the next chunk
};

}  // namespace sn::detail
