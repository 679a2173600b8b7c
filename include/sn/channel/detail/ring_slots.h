// Internal: how a ring lays out its slots, and the words that say what is in them.
// Users need not read this file; ring.h uses one of the two layouts below.
//
//   SeqSlots   every slot carries a 32-bit sequence word beside its value (Vyukov's
//              bounded queue). Needed by many producers or many consumers, whose claims
//              complete out of order, and used for every value that is not small and
//              trivially copyable.
//   LineSlots  one producer and one consumer, small trivially copyable values: each
//              64-byte line holds one 64-bit word, the count of values published up to
//              the end of that line, and then as many values as fit (seven of 8 bytes,
//              fourteen of 4). The values sit densely, so a batch moves about half the
//              lines it would with a word per slot, and a waiting consumer still polls
//              the very line its value arrives in.
//
// Both keep their words relative to zero: freshly mapped (zeroed) memory is the initial
// state of every slot, so a ring's pages are committed as they are first written.
//
// Synchronizing pairs (the labels of ring.h):
//   (S1) producer: published(index, end) stores with release  ->  (S2) consumer:
//        ready_count() loads with acquire: the value is constructed.
//   (F1)/(F2) SeqSlots only: a consumer frees a slot for the next lap (store_seq, release);
//        a producer checks it (load_seq, acquire).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace sn::detail {

/// A slot of SeqSlots: a sequence word and room for one value.
template <class T>
struct Slot {
  std::uint32_t seq;  // accessed only through std::atomic_ref (SeqSlots::load_seq, store_seq)
  alignas(T) unsigned char storage[sizeof(T)];

  T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
};

/// A 32-bit sequence word per slot. A slot is free for the producer at index t when
/// seq == t, and holds a value ready for the consumer at index h when seq == h + 1. The
/// word stores seq - position, so that zero is every slot's initial state.
template <class T>
class SeqSlots {
 public:
  static constexpr std::size_t kAlign = alignof(Slot<T>);

  /// Bytes for `capacity` slots; 0 when they would exceed `limit`.
  static constexpr std::uint64_t bytes_for(std::uint64_t capacity, std::uint64_t limit) noexcept {
    return capacity > limit / sizeof(Slot<T>) ? 0 : capacity * sizeof(Slot<T>);
  }

  void attach(void* base, std::uint64_t capacity) noexcept {
    slots_ = static_cast<Slot<T>*>(base);
    mask_ = capacity - 1;
  }

  T* value(std::uint64_t index) const noexcept { return slot(index).value(); }

  /// (S1) The value at `index` is constructed; `end` is one past the last of its batch.
  void published(std::uint64_t index, std::uint64_t /*end*/) noexcept {
    store_seq(index, index + 1, std::memory_order_release);
  }
  /// (S2) How many values from index h on are published, up to `max`.
  std::uint64_t ready_count(std::uint64_t h, std::uint64_t max) const noexcept {
    std::uint64_t n = 0;
    while (n < max && load_seq(h + n, std::memory_order_acquire) == static_cast<std::uint32_t>(h + n + 1)) ++n;
    return n;
  }

  std::uint32_t load_seq(std::uint64_t index, std::memory_order order) const noexcept {
    const auto stored = std::atomic_ref<std::uint32_t>(slot(index).seq).load(order);
    return stored + static_cast<std::uint32_t>(index & mask_);
  }
  void store_seq(std::uint64_t index, std::uint64_t seq, std::memory_order order) noexcept {
    std::atomic_ref<std::uint32_t>(slot(index).seq).store(static_cast<std::uint32_t>(seq - (index & mask_)), order);
  }

 private:
  Slot<T>& slot(std::uint64_t index) const noexcept { return slots_[index & mask_]; }

  Slot<T>* slots_ = nullptr;
  std::uint64_t mask_ = 0;
};

/// Whether values of type T may travel in LineSlots: small enough that several share a
/// line, and copied as bytes (so no per-slot lifetime needs tracking).
template <class T>
inline constexpr bool kLinePackable = std::is_trivially_copyable_v<T>&& std::is_trivially_destructible_v<T> &&
                                      sizeof(T) <= 8 && std::has_single_bit(sizeof(T)) && alignof(T) <= sizeof(T);

/// Single producer and single consumer only: a 64-bit word per 64-byte line, then the
/// line's values. Value index i lives in line i / kPerLine, position i % kPerLine; the
/// ring of `capacity` values has bit_ceil(capacity / kPerLine) lines, at least a lap's
/// worth, so two values in flight never share a place. A line's word is the index one
/// past the last value published in it, which only grows: a value at h is ready when
/// the word of its line exceeds h.
template <class T>
class LineSlots {
 public:
  static constexpr std::size_t kLineBytes = 64;
  static constexpr std::uint64_t kPerLine = (kLineBytes - sizeof(std::uint64_t)) / sizeof(T);
  static constexpr std::size_t kAlign = kLineBytes;
  static_assert(kLinePackable<T>);

  struct alignas(kLineBytes) Line {
    std::uint64_t published;  // accessed only through std::atomic_ref
    alignas(T) unsigned char values[kPerLine * sizeof(T)];
  };
  static_assert(sizeof(Line) == kLineBytes);

  static constexpr std::uint64_t lines_for(std::uint64_t capacity) noexcept {
    return std::bit_ceil((capacity + kPerLine - 1) / kPerLine);
  }
  static constexpr std::uint64_t bytes_for(std::uint64_t capacity, std::uint64_t limit) noexcept {
    const std::uint64_t lines = lines_for(capacity);
    return lines > limit / kLineBytes ? 0 : lines * kLineBytes;
  }

  void attach(void* base, std::uint64_t capacity) noexcept {
    lines_ = static_cast<Line*>(base);
    mask_ = lines_for(capacity) - 1;
  }

  T* value(std::uint64_t index) const noexcept {
    const std::uint64_t line = index / kPerLine;
    const std::uint64_t pos = index - line * kPerLine;
    return std::launder(reinterpret_cast<T*>(lines_[line & mask_].values + pos * sizeof(T)));
  }

  /// (S1) The value at `index` is constructed: publishes its line when it is the line's
  /// last, or the batch's (`end` is one past the batch's last index).
  void published(std::uint64_t index, std::uint64_t end) noexcept {
    const std::uint64_t next = index + 1;
    if (next == end || next % kPerLine == 0) {
      std::atomic_ref<std::uint64_t>(lines_[(index / kPerLine) & mask_].published)
          .store(next, std::memory_order_release);
    }
  }
  /// (S2) How many values from index h on are published, up to `max`.
  std::uint64_t ready_count(std::uint64_t h, std::uint64_t max) const noexcept {
    std::uint64_t n = 0;
    while (n < max) {
      const std::uint64_t i = h + n;
      const std::uint64_t line = i / kPerLine;
      const std::uint64_t word =
          std::atomic_ref<std::uint64_t>(lines_[line & mask_].published).load(std::memory_order_acquire);  // (S2)
      if (word <= i) break;
      // Everything below `word` in this line is ready; the next line may be too.
      n += std::min(max - n, word - i);
      if (word != (line + 1) * kPerLine) break;
    }
    return n;
  }

 private:
  Line* lines_ = nullptr;
  std::uint64_t mask_ = 0;
};

/// The layout a ring of kind (many producers?, many consumers?) uses for T.
template <class T, bool kMany>
using SlotsFor = std::conditional_t<!kMany && kLinePackable<T>, LineSlots<T>, SeqSlots<T>>;

}  // namespace sn::detail
