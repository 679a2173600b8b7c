// Internal: where pending timers live. A slab holds timer entries at stable addresses
// (chunks that never move), so that any thread can cancel a timer by its id while the
// worker that holds it may fire it.
//
// Each entry's state word is generation << 2 | state (free, pending, cancelled, fired).
// A TimerId names (pool tag, slab, index, generation mod 2^23); freeing an entry bumps its
// generation, so a stale id no longer matches.
//
// Threads: one allocating thread per slab at a time (the slot's worker; the foreign slab
// allocates under its registry's mutex); any thread frees (a lock-free push on the free
// list: with one thread popping there is no ABA) and cancels.
//
// Memory ordering:
//   - (T1) the allocator fills the entry, then stores `pending` with release; (T2) the
//     holder and cancellers read the word with acquire, so they see the filled entry
//     (the holder got it through its own heap, or through the registry's mutex).
//   - Cancel and fire race on the word with compare-exchange (acq_rel): exactly one of a
//     one-shot timer's cancel and its firing succeeds.
//   - (F1) free: the entry's link is written, then the free-list head is swapped in with
//     release; (F2) the allocator reads the head with acquire and then the link.
//   - Chunks: published with a release store into the directory, read with acquire.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "sn/worker/timer_id.h"

namespace sn::detail {

/// One timer. 32 bytes plus the message, which lives inside.
template <class M>
struct TimerEntry {
  enum : std::uint64_t { kFree = 0, kPending = 1, kCancelled = 2, kFired = 3 };
  static constexpr std::uint64_t state(std::uint64_t word) noexcept { return word & 3; }
  static constexpr std::uint64_t generation(std::uint64_t word) noexcept { return word >> 2; }

  std::atomic<std::uint64_t> word{1 << 2};  // generation 1, free
  std::int64_t period_ns = 0;               // 0: fires once
  std::uint64_t key = 0;
  std::atomic<std::uint32_t> next_free{0};  // free-list link: index + 1, or 0
  alignas(M) unsigned char storage[sizeof(M)];

  M& message() noexcept { return *std::launder(reinterpret_cast<M*>(storage)); }
};

/// What a worker's heap refers to: an entry in some slab.
struct TimerRef {
  std::uint32_t slab;
  std::uint32_t index;
};

/// Id layout: pool tag (8 bits) | slab (11 bits) | index (22 bits) | generation mod 2^23.
/// The tag (never 0, so no id is 0) tells one pool's ids from another's, but for one
/// pool in 255; a slab holds up to 2^22 (4 million) timers.
struct TimerIdCodec {
  static constexpr std::uint64_t kTagBits = 8, kSlabBits = 11, kIndexBits = 22, kGenerationBits = 23;
  static_assert(kTagBits + kSlabBits + kIndexBits + kGenerationBits == 64);
  static constexpr std::uint64_t kGenerationMask = (std::uint64_t{1} << kGenerationBits) - 1;
  static constexpr std::uint32_t kMaxSlabs = 1u << kSlabBits;
  static TimerId make(std::uint32_t tag, std::uint32_t slab, std::uint32_t index, std::uint64_t generation) noexcept {
    return TimerId{(std::uint64_t{tag} << (kSlabBits + kIndexBits + kGenerationBits)) |
                   (std::uint64_t{slab} << (kIndexBits + kGenerationBits)) | (std::uint64_t{index} << kGenerationBits) |
                   (generation & kGenerationMask)};
  }
  static std::uint32_t tag(TimerId id) noexcept {
    return static_cast<std::uint32_t>(id.value >> (kSlabBits + kIndexBits + kGenerationBits));
  }
  static std::uint32_t slab(TimerId id) noexcept {
    return static_cast<std::uint32_t>((id.value >> (kIndexBits + kGenerationBits)) & (kMaxSlabs - 1));
  }
  static std::uint32_t index(TimerId id) noexcept {
    return static_cast<std::uint32_t>((id.value >> kGenerationBits) & ((std::uint64_t{1} << kIndexBits) - 1));
  }
  static std::uint64_t generation(TimerId id) noexcept { return id.value & kGenerationMask; }
};

/// A tag for a new pool's timer ids: 1..255, in turn.
inline std::uint32_t next_timer_tag() noexcept {
  static std::atomic<std::uint32_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % 255 + 1;
}

template <class M>
class TimerSlab {
 public:
  using Entry = TimerEntry<M>;
  static constexpr std::uint32_t kChunkBits = 12, kChunk = 1u << kChunkBits;
  static constexpr std::uint32_t kMaxChunks = (1u << TimerIdCodec::kIndexBits) / kChunk;
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  TimerSlab(std::uint32_t tag, std::uint32_t number)
      : tag_(tag), number_(number), chunks_(new std::atomic<Entry*>[kMaxChunks]) {
    for (std::uint32_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  }
  ~TimerSlab() {
    for (std::uint32_t c = 0; c < kMaxChunks; ++c) {
      Entry* chunk = chunks_[c].load(std::memory_order_relaxed);
      if (chunk == nullptr) break;
      for (std::uint32_t i = 0; i < kChunk; ++i) {
        if (Entry::state(chunk[i].word.load(std::memory_order_relaxed)) != Entry::kFree) chunk[i].message().~M();
      }
      delete[] chunk;
    }
  }
  TimerSlab(const TimerSlab&) = delete;
  TimerSlab& operator=(const TimerSlab&) = delete;

  std::uint32_t number() const noexcept { return number_; }

  /// The allocating thread: a free entry's index, or kNone when out of memory or past
  /// 2^22 entries. The entry stays free until publish().
  std::uint32_t allocate() noexcept {
    std::uint32_t head = free_head_.load(std::memory_order_acquire);  // (F2)
    while (head != 0) {
      const std::uint32_t next = entry(head - 1).next_free.load(std::memory_order_relaxed);
      if (free_head_.compare_exchange_weak(head, next, std::memory_order_acquire)) return head - 1;
    }
    if (used_ % kChunk == 0) {
      const std::uint32_t c = used_ / kChunk;
      if (c >= kMaxChunks) return kNone;
      Entry* chunk = new (std::nothrow) Entry[kChunk];
      if (chunk == nullptr) return kNone;
      chunks_[c].store(chunk, std::memory_order_release);
    }
    return used_++;
  }

  /// The allocating thread: builds the timer in entry `index` and makes it pending.
  TimerId publish(std::uint32_t index, M&& msg, std::uint64_t key, std::int64_t period_ns) noexcept {
    Entry& e = entry(index);
    ::new (e.storage) M(std::move(msg));
    e.key = key;
    e.period_ns = period_ns;
    const std::uint64_t g = Entry::generation(e.word.load(std::memory_order_relaxed));
    e.word.store(g << 2 | Entry::kPending, std::memory_order_release);  // (T1)
    return TimerIdCodec::make(tag_, number_, index, g);
  }

  /// Any thread: the entry an id names, or null when the id cannot name one here.
  Entry* find(TimerId id) const noexcept {
    const std::uint32_t index = TimerIdCodec::index(id);
    Entry* chunk = chunks_[index >> kChunkBits].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : &chunk[index & (kChunk - 1)];
  }

  /// Any thread: pending -> cancelled when `id` names this entry's pending timer.
  static bool cancel(Entry& e, TimerId id) noexcept {
    std::uint64_t w = e.word.load(std::memory_order_acquire);  // (T2)
    if (Entry::state(w) != Entry::kPending ||
        (Entry::generation(w) & TimerIdCodec::kGenerationMask) != TimerIdCodec::generation(id)) {
      return false;
    }
    return e.word.compare_exchange_strong(w, (w & ~std::uint64_t{3}) | Entry::kCancelled, std::memory_order_acq_rel);
  }

  /// The holder: destroys the message and returns the entry to the free list.
  void free(std::uint32_t index) noexcept {
    entry(index).message().~M();
    free_unbuilt(index);
  }
  /// Returns an entry to the free list without a message to destroy (an allocation that
  /// was never published).
  void free_unbuilt(std::uint32_t index) noexcept {
    Entry& e = entry(index);
    std::uint64_t g = Entry::generation(e.word.load(std::memory_order_relaxed)) + 1;
    if ((g & TimerIdCodec::kGenerationMask) == 0) ++g;  // keep ids nonzero
    e.word.store(g << 2 | Entry::kFree, std::memory_order_relaxed);
    std::uint32_t head = free_head_.load(std::memory_order_relaxed);
    do {
      e.next_free.store(head, std::memory_order_relaxed);
    } while (!free_head_.compare_exchange_weak(head, index + 1, std::memory_order_release,  // (F1)
                                               std::memory_order_relaxed));
  }

  Entry& entry(std::uint32_t index) const noexcept {
    return chunks_[index >> kChunkBits].load(std::memory_order_acquire)[index & (kChunk - 1)];
  }

 private:
  const std::uint32_t tag_;
  const std::uint32_t number_;
  std::unique_ptr<std::atomic<Entry*>[]> chunks_;  // [chunk]: kChunk entries, or null
  std::uint32_t used_ = 0;                         // the allocating thread's: entries handed out so far
  std::atomic<std::uint32_t> free_head_{0};        // index + 1 of the first free entry, or 0
};

}  // namespace sn::detail
