// Internal: the bounded ring behind all three channel kinds.
// Users need not read this file; see spsc.h, mpsc.h and mpmc.h for the contracts.
//
// One algorithm, specialised at compile time by who may claim slots:
//   - producers: one (SPSC) claims with plain stores; many (MPSC, MPMC) claim with a CAS
//     on `tail`, whose top bit is the closed flag, so a claim and a close cannot cross.
//   - consumers: one (SPSC, MPSC) frees slots by publishing `head`; producers keep a cached
//     copy and re-read it only when the ring looks full. Many consumers (MPMC) claim with
//     a CAS on `head` and free each slot through its sequence word (Vyukov's bounded queue).
//
// Every slot carries a 32-bit sequence word next to its value (ring_slots.h; SPSC rings
// of small trivially copyable values use one word per 64-byte line instead). A value in
// slot i is ready for the consumer at index h when seq == h + 1. A waiting consumer
// therefore polls the very cache line the value arrives in: one line transfer per
// message, which is what keeps the round trip at the hardware floor.

// Cached indices: the producers keep a copy of the consumer's head and read the real
// one only when the ring looks full; the SPSC consumer keeps a copy of the producer's
// tail for batch receives. A single receive needs no copy: the sequence word in the slot
// it polls is the producer's index for that slot. MPMC has no index to cache on either
// side; each side reads the other's progress from the slot's sequence word.
//
// Synchronizing pairs (labels used in the code below):
//   (S1) producer: slots.published() (release)     ->  (S2) consumer: slots.ready_count() (acquire)
//        publishes the constructed value (a slot's or a line's word, ring_slots.h).
//   (H1) consumer: head.store(h + n, release)        ->  (H2) producer: head.load(acquire)
//        single consumer only: the slot was moved from and destroyed; it may be reused.
//   (F1) consumer: slot.seq.store(h + cap, release)  ->  (F2) producer: slot.seq.load(acquire)
//        many consumers only: same as H1/H2, per slot.
//   (T1) SPSC producer: tail.store(t + n, release)   ->  (T2) consumer: tail.load(acquire)
//        everything before index t + n is published (used by batch receives).
//   (C1..C4) the close handshake, see close().
//   (D1..D3) the last receiver's release of what is left, see drop_receiver().
//
// Slot words are kept so that zeroed memory is every slot's initial state
// (ring_slots.h): a ring's pages are committed as they are first written (ring_memory.h),
// not when the channel is created.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "sn/cache_line.h"
#include "sn/channel/detail/ring_memory.h"
#include "sn/channel/detail/ring_slots.h"
#include "sn/channel/detail/send_counters.h"
#include "sn/channel/kind.h"
#include "sn/channel/result.h"
#include "sn/channel/stats.h"
#include "sn/channel/wait_policy.h"
#include "sn/detail/perturb.h"
#include "sn/sync/backoff.h"
#include "sn/sync/block_on.h"
#include "sn/sync/parking_lot.h"

namespace sn::detail {

/// Largest capacity a channel accepts (after rounding up to a power of two). Sequence
/// words are 32 bits wide; they stay unambiguous while a producer is at most one lap
/// ahead, which holds for any capacity up to 2^31.
inline constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 30;
/// Largest slot array a channel allocates.
inline constexpr std::uint64_t kMaxRingBytes = std::uint64_t{1} << 36;

template <class T, ChannelKind K>
class Ring {
 public:
  static constexpr bool kMultiProducer = K != ChannelKind::spsc;
  static constexpr bool kMultiConsumer = K == ChannelKind::mpmc;

  static_assert(std::is_nothrow_move_constructible_v<T>,
                "sn channels require a noexcept move constructor, so that a send either "
                "completes or leaves the value untouched");
  static_assert(std::is_nothrow_destructible_v<T>);

  /// Creates a ring with one sender and one receiver reference.
  static absl::StatusOr<Ring*> create(std::size_t requested, const ChannelOptions& options) {
    if (requested == 0) {
      return absl::InvalidArgumentError("sn::Channel: capacity must be at least 1");
    }
    if (requested > kMaxCapacity) {
      return absl::InvalidArgumentError(
          absl::StrCat("sn::Channel: capacity ", requested, " exceeds the maximum of ", kMaxCapacity));
    }
    // Many consumers tell "ready at h" (seq == h + 1) from "free at t" (seq == t) only
    // when the two indices differ, so that kind needs at least two slots.
    const std::uint64_t capacity =
        std::max<std::uint64_t>(std::bit_ceil(static_cast<std::uint64_t>(requested)), kMultiConsumer ? 2 : 1);
    const std::uint64_t slot_bytes = Slots::bytes_for(capacity, kMaxRingBytes);
    if (slot_bytes == 0) {
      return absl::InvalidArgumentError(absl::StrCat("sn::Channel: ", capacity, " slots of ", sizeof(T),
                                                     " bytes exceed the maximum ring size of ", kMaxRingBytes,
                                                     " bytes"));
    }
    const std::size_t bytes = kPad + slot_bytes + kPad;
    absl::StatusOr<void*> raw = allocate_ring(bytes, kPad);
    if (!raw.ok()) return raw.status();
    auto* ring = new (std::nothrow) Ring(*raw, bytes, capacity, options);
    if (ring == nullptr) {
      free_ring(*raw, bytes, kPad);
      return absl::ResourceExhaustedError("sn::Channel: cannot allocate the channel");
    }
    return ring;
  }

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // ---------------------------------------------------------------- producer side

  /// Claims up to `want` slots, constructs them from `make(i)` and publishes them.
  /// Returns the count published (0 with full/closed when none).
  template <class Make>
  SendBatchResult try_push(std::uint64_t want, Make&& make) noexcept {
    if constexpr (kMultiProducer) {
      return try_push_many_producers(want, make);
    } else {
      return try_push_single_producer(want, make);
    }
  }

  // ---------------------------------------------------------------- consumer side

  /// Takes up to `max` values, calling `take(T&&)` for each in FIFO order, and frees
  /// their slots. Returns the count taken, or 0 with empty/closed.
  template <class Take>
  RecvBatchResult try_pop(std::uint64_t max, Take&& take) {
    if constexpr (kMultiConsumer) {
      return try_pop_many_consumers(max, take);
    } else {
      return try_pop_single_consumer(max, take);
    }
  }

  // ---------------------------------------------------------------- waiting

  sync::ParkingLot& receivers_lot() noexcept { return not_empty_; }
  sync::ParkingLot& senders_lot() noexcept { return not_full_; }
  const WaitPolicy& wait_policy() const noexcept { return shared_.wait; }
  bool asymmetric() const noexcept { return shared_.asymmetric; }

  // ---------------------------------------------------------------- lifecycle

  /// Closes the channel. Idempotent and callable from any thread.
  ///
  /// After close() returns: every send fails with `closed`, and receivers see `closed`
  /// once they have taken every value whose send returned `ok`.
  ///   (C1) closer: state = closing; then, SPSC: heavy barrier, wait for busy == 0 (acquire);
  ///        many producers: tail |= closed bit (a claim CAS can no longer succeed).
  ///   (C2) SPSC producer: busy = 1; light barrier; state.load() -- Dekker with C1, so
  ///        either the producer sees `closing`, or the closer waits for its publication.
  ///   (C3) closer: state.store(closed, release)  ->  (C4) receiver: state.load(acquire),
  ///        after which the final tail is visible and `h == tail` means drained.
  void close() noexcept {
    std::uint32_t expected = kOpen;
    if (!shared_.state.compare_exchange_strong(expected, kClosing, std::memory_order_seq_cst)) {
      // Someone else is closing; wait until they are done so that the caller sees a
      // closed channel on return.
      while (shared_.state.load(std::memory_order_acquire) != kClosed) std::this_thread::yield();
      return;
    }
    SN_PERTURB_POINT("ring.close.after_closing");
    if constexpr (kMultiProducer) {
      prod_.tail.fetch_or(kClosedBit, std::memory_order_acq_rel);  // (C1)
    } else {
      sync::heavy_barrier(shared_.asymmetric);  // (C1)
      while (prod_.busy.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }
    SN_PERTURB_POINT("ring.close.before_closed");
    shared_.state.store(kClosed, std::memory_order_release);  // (C3)
    wake_all(not_empty_);
    wake_all(not_full_);
  }

  bool is_closed() const noexcept { return shared_.state.load(std::memory_order_acquire) != kOpen; }

  void add_sender() noexcept {
    life_.senders.fetch_add(1, std::memory_order_relaxed);
    life_.refs.fetch_add(1, std::memory_order_relaxed);
  }
  void add_receiver() noexcept {
    life_.receivers.fetch_add(1, std::memory_order_relaxed);
    life_.refs.fetch_add(1, std::memory_order_relaxed);
  }
  /// Drops a sender reference; the last one closes the channel (disconnect).
  void drop_sender() noexcept {
    if (life_.senders.fetch_sub(1, std::memory_order_acq_rel) == 1) close();
    drop_ref();
  }
  /// Drops a receiver reference. The last one closes the channel and destroys the values
  /// still inside, as Go's and Rust's channels do: a value that holds a handle to another
  /// channel (a reply sender in a request, say) must not outlive every receiver, or its
  /// own receiver waits forever. Nobody can receive them any more; stats() counts them as
  /// `discarded`.
  ///
  /// A producer that claimed a slot before the close may publish it after this release
  /// has passed: it then releases it itself (see release_if_receivers_gone).
  ///   (D1) last receiver: receivers_gone = 1; heavy barrier; read the slots' sequences.
  ///        many producers: publish (S1); light barrier; read receivers_gone -- Dekker,
  ///        so either the release sees the value, or its producer sees that all
  ///        receivers are gone; both may, and the release lock makes that harmless.
  ///   (D2) releaser: released.store(index, release)  ->  (D3) stats(), the destructor.
  void drop_receiver() noexcept {
    if (life_.receivers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      close();
      shared_.receivers_gone.store(1, std::memory_order_relaxed);  // (D1)
      if constexpr (kMultiProducer) sync::heavy_barrier(shared_.asymmetric);
      release_values();
    }
    drop_ref();
  }

  /// Registers a failure-counter cell for a new sender handle; nullptr when out of memory.
  SendCounterCell* new_counter_cell() noexcept { return life_.counters.add(); }
  /// Folds a cell's counts into the channel's totals and frees it.
  void retire_counter_cell(SendCounterCell* cell) noexcept { life_.counters.retire(cell); }

  ChannelStats stats() const noexcept {
    ChannelStats s;
    // Read head before tail: both only grow. SPSC publishes each slot before its tail,
    // so the consumer may briefly be ahead of the tail; report sent >= received anyway.
    // `released` is read first: once it is set, the head is final (no receiver is left).
    const std::uint64_t released = cons_.released.load(std::memory_order_acquire);  // (D3) pairs with (D2)
    s.received = cons_.head.load(std::memory_order_acquire);
    s.discarded = released > s.received ? released - s.received : 0;
    s.sent = std::max(s.received + s.discarded, prod_.tail.load(std::memory_order_acquire) & ~kClosedBit);
    s.approx_depth = s.sent - s.received - s.discarded;
    s.capacity = shared_.capacity;
    s.closed = is_closed();
    life_.counters.add_to(s);
    return s;
  }

  std::uint64_t capacity() const noexcept { return shared_.capacity; }
  std::size_t bytes() const noexcept { return shared_.bytes; }

  /// What a receive would report if nothing were ready: `empty` or `closed` (drained).
  RecvResult state_when_nothing_ready() const noexcept {
    return empty_or_closed(cons_.head.load(std::memory_order_acquire)).status;
  }

  /// Whether a send would find a free slot now, without sending. Exact for a single
  /// producer (only it moves the tail); a hint with many producers. Producer side only.
  bool has_room() noexcept {
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed) & ~kClosedBit;
    if (free_from(t, 1) != 0) return true;
    // Once the last receiver released what was inside, the head no longer moves: measure
    // from `released` (>= head, so it only ever finds more room). Read only here, off the
    // path that finds room, so that the outbox's probe does not touch the consumers' line.
    const std::uint64_t released = cons_.released.load(std::memory_order_acquire);  // (D3)
    return released != 0 && t - released < shared_.capacity;
  }

  /// Whether a value is published at the head, without taking it. Exact for a single
  /// consumer (only it moves the head); a hint with many consumers. Reads the slot's
  /// sequence word like a receive does (S2), so it sees every publication (S1) that a
  /// receive at this point would see.
  bool has_ready() const noexcept {
    const std::uint64_t h = cons_.head.load(kMultiConsumer ? std::memory_order_acquire : std::memory_order_relaxed);
    return shared_.slots.ready_count(h, 1) == 1;  // (S2)
  }

 private:
  // Bytes before and after the slots, and the alignment of the allocation: at least one
  // false-sharing range, and enough for an over-aligned T.
  using Slots = SlotsFor<T, kMultiProducer || kMultiConsumer>;
  static constexpr std::size_t kPad = std::max(kFalseSharingRange, Slots::kAlign);
  static constexpr std::uint64_t kClosedBit = std::uint64_t{1} << 63;
  static constexpr std::uint32_t kOpen = 0, kClosing = 1, kClosed = 2;

  Ring(void* raw, std::size_t bytes, std::uint64_t capacity, const ChannelOptions& options) noexcept {
    shared_.raw = raw;
    shared_.bytes = bytes;
    shared_.slots.attach(static_cast<unsigned char*>(raw) + kPad, capacity);
    shared_.capacity = capacity;
    shared_.wait = options.wait;
    shared_.asymmetric = sync::asymmetric_barriers_available();
    // The memory is zero: every slot's stored word is 0, i.e. seq == position, free for
    // the producer at index t == position (checked by many consumers' producers).
  }

  ~Ring() {
    // All handles are gone (refs reached zero with acq_rel), so nothing runs concurrently
    // and every claimed slot was published. Destroy what was never received: exactly once.
    const std::uint64_t tail = prod_.tail.load(std::memory_order_relaxed) & ~kClosedBit;
    const std::uint64_t from =
        std::max(cons_.head.load(std::memory_order_relaxed), cons_.released.load(std::memory_order_relaxed));
    for (std::uint64_t i = from; i < tail; ++i) value(i)->~T();
    free_ring(shared_.raw, shared_.bytes, kPad);
  }

  void drop_ref() noexcept {
    if (life_.refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Destroys the published values nobody can receive any more, in index order, up to
  /// the first slot still being written. The channel is closed, so the tail is final.
  /// Serialised by a lock: the last receiver and late producers may both get here.
  void release_values() noexcept {
    while (cons_.releasing.exchange(1, std::memory_order_acquire) != 0) std::this_thread::yield();
    SN_PERTURB_POINT("ring.release.locked");
    std::uint64_t i =
        std::max(cons_.head.load(std::memory_order_relaxed), cons_.released.load(std::memory_order_relaxed));
    const std::uint64_t tail = prod_.tail.load(std::memory_order_acquire) & ~kClosedBit;
    // A single producer published everything below its tail before the close completed.
    while (i < tail && (!kMultiProducer || shared_.slots.ready_count(i, 1) == 1)) {  // (S2)
      value(i)->~T();
      ++i;
    }
    cons_.released.store(i, std::memory_order_release);  // (D2)
    cons_.releasing.store(0, std::memory_order_release);
  }

  /// Called by a producer after publishing: if the channel closed meanwhile and the last
  /// receiver is gone, the value it just published is nobody's; release it (D1).
  void release_if_receivers_gone() noexcept {
    sync::light_barrier(shared_.asymmetric);  // (D1) Dekker with drop_receiver()
    if (shared_.state.load(std::memory_order_relaxed) != kOpen &&
        shared_.receivers_gone.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      release_values();
    }
  }

  T* value(std::uint64_t index) const noexcept { return shared_.slots.value(index); }
  // Many producers or many consumers only (SeqSlots).
  std::uint32_t load_seq(std::uint64_t index, std::memory_order order) const noexcept {
    return shared_.slots.load_seq(index, order);
  }
  void store_seq(std::uint64_t index, std::uint64_t seq, std::memory_order order) noexcept {
    shared_.slots.store_seq(index, seq, order);
  }

  /// How many parked threads a publication of n values (or n freed slots) wakes; 0 = all.
  /// One is enough when slots complete in index order, so that whatever a woken thread
  /// fails to use was used by somebody else. With many consumers, claims complete out of
  /// order (a slot published or freed behind one still in flight), and a woken thread can
  /// re-park while its value waits (likewise receivers woken by a close while a claim
  /// is still in flight), so there every publication wakes everyone parked.
  static constexpr int wake_count(std::uint64_t n) noexcept { return n == 1 && !kMultiConsumer ? 1 : 0; }

  static void wake_all(sync::ParkingLot& lot) noexcept {
    lot.epoch.fetch_add(1, std::memory_order_release);
    sync::futex_wake(&lot.epoch, 0);
  }

  /// Free slots from index t as seen through the cached head, refreshing it when short.
  /// Single consumer only.
  std::uint64_t free_from(std::uint64_t t, std::uint64_t want) noexcept {
    // The cached head is stale (lower) at worst -- with many producers a slow one may
    // even store an older value over a newer one -- which under-reports free space and
    // never over-reports it: the consumer only moves head forward. A head more than a
    // lap behind t reads as "no space" rather than wrapping around.
    auto free_at = [&](std::uint64_t head) {
      const std::uint64_t used = t - head;
      return used >= shared_.capacity ? 0 : shared_.capacity - used;
    };
    std::uint64_t free = free_at(prod_.cached_head.load(std::memory_order_acquire));
    if (free < want) {
      SN_PERTURB_POINT("ring.push.before_head_refresh");
      const std::uint64_t head = cons_.head.load(std::memory_order_acquire);  // (H2) pairs with (H1)
      prod_.cached_head.store(head, std::memory_order_release);               // hands H2 on to other producers
      free = free_at(head);
    }
    return free;
  }

  template <class Make>
  void construct_and_publish(std::uint64_t t, std::uint64_t n, Make& make) noexcept {
    for (std::uint64_t i = 0; i < n; ++i) {
      new (value(t + i)) T(make(i));
      SN_PERTURB_POINT("ring.push.before_publish");
      shared_.slots.published(t + i, t + n);  // (S1)
    }
  }

  template <class Make>
  SendBatchResult try_push_single_producer(std::uint64_t want, Make& make) noexcept {
    prod_.busy.store(1, std::memory_order_relaxed);  // (C2) Dekker with close()
    sync::light_barrier(shared_.asymmetric);
    SN_PERTURB_POINT("ring.spsc_push.between_busy_and_state");
    if (shared_.state.load(std::memory_order_relaxed) != kOpen) [[unlikely]] {
      prod_.busy.store(0, std::memory_order_release);
      return {0, SendResult::closed};
    }
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);  // only we write it
    const std::uint64_t n = std::min(want, free_from(t, want));
    if (n == 0) [[unlikely]] {
      prod_.busy.store(0, std::memory_order_release);
      return {0, SendResult::full};
    }
    construct_and_publish(t, n, make);
    SN_PERTURB_POINT("ring.spsc_push.before_tail");
    prod_.tail.store(t + n, std::memory_order_release);  // (T1) one index publish per batch
    prod_.busy.store(0, std::memory_order_release);      // (C2) pairs with close()'s acquire
    not_empty_.notify(shared_.asymmetric, wake_count(n));
    return {n, n == want ? SendResult::ok : SendResult::full};
  }

  template <class Make>
  SendBatchResult try_push_many_producers(std::uint64_t want, Make& make) noexcept {
    std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);
    std::uint64_t n;
    [[maybe_unused]] sync::Backoff backoff;
    for (;;) {
      if (t & kClosedBit) [[unlikely]]
        return {0, SendResult::closed};
      if constexpr (kMultiConsumer) {
        n = 0;
        bool stale = false;
        while (n < want) {
          const std::uint32_t seq = load_seq(t + n, std::memory_order_acquire);  // (F2)
          const auto diff = static_cast<std::int32_t>(seq - static_cast<std::uint32_t>(t + n));
          if (diff == 0) {
            ++n;
          } else {
            stale = diff > 0;  // another producer already claimed t + n: our t is old
            break;
          }
        }
        // Not free, and not claimed by another producer: full, unless a consumer has
        // claimed the value there and is still moving it out (then wait for it, so that
        // `full` is only said of a full channel).
        if (n == 0 && (stale || consumer_in_flight(t))) {
          if (!stale) backoff.pause();  // waits for the other thread's half of the slot
          t = prod_.tail.load(std::memory_order_relaxed);
          continue;
        }
      } else {
        n = std::min(want, free_from(t, want));
        if (n == 0) {
          // Full, or our t is so old that head has passed it: only the first is an answer.
          const std::uint64_t now = prod_.tail.load(std::memory_order_relaxed);
          if (now != t) {
            t = now;
            continue;
          }
        }
      }
      if (n == 0) return {0, SendResult::full};
      SN_PERTURB_POINT("ring.mp_push.before_claim");
      // Relaxed: the acquire loads above already ordered us after the slot was freed;
      // the CAS only decides which producer owns [t, t + n).
      if (prod_.tail.compare_exchange_weak(t, t + n, std::memory_order_relaxed, std::memory_order_relaxed)) {
        break;
      }
    }
    SN_PERTURB_POINT("ring.mp_push.claimed_not_published");
    construct_and_publish(t, n, make);
    release_if_receivers_gone();
    not_empty_.notify(shared_.asymmetric, wake_count(n));
    return {n, n == want ? SendResult::ok : SendResult::full};
  }

  /// Many consumers, after slot t was found neither free nor claimed: whether a consumer
  /// has claimed the value in it (index t - capacity) and not freed the slot yet. If no
  /// consumer has, the channel held `capacity` values when the head was read: full.
  /// The fence orders the head's load after the slot's, as crossbeam's ArrayQueue does.
  bool consumer_in_flight(std::uint64_t t) const noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return cons_.head.load(std::memory_order_relaxed) + shared_.capacity > t;
  }

  /// Many consumers, after slot h was found neither ready nor taken: whether a producer
  /// has claimed it and not published it yet. If none has, the channel was empty when
  /// the tail was read. A closed channel keeps claims from starting, not from finishing.
  bool producer_in_flight(std::uint64_t h) const noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return (prod_.tail.load(std::memory_order_relaxed) & ~kClosedBit) > h;
  }

  /// Called when the slot at head is not ready: empty, or closed and fully drained.
  RecvBatchResult empty_or_closed(std::uint64_t head) const noexcept {
    if (shared_.state.load(std::memory_order_acquire) != kClosed) {  // (C4) pairs with (C3)
      return {0, RecvResult::empty};
    }
    SN_PERTURB_POINT("ring.pop.closed_before_tail");
    // Closed: no claim can succeed any more, so the tail is final. A claimed slot that
    // is not published yet will be shortly; report empty until it is.
    const std::uint64_t tail = prod_.tail.load(std::memory_order_acquire) & ~kClosedBit;
    return {0, head < tail ? RecvResult::empty : RecvResult::closed};
  }

  template <class Take>
  RecvBatchResult try_pop_single_consumer(std::uint64_t max, Take& take) {
    const std::uint64_t h = cons_.head.load(std::memory_order_relaxed);  // only we write it
    std::uint64_t n = 0;
    if constexpr (!kMultiProducer) {
      // Batch fast path: the cached tail vouches for every slot below it, so no
      // per-slot sequence is read. Single pops skip it and poll the slot instead.
      if (max > 1) {
        std::uint64_t avail = cons_.cached_tail > h ? cons_.cached_tail - h : 0;
        if (avail < max) {
          cons_.cached_tail = prod_.tail.load(std::memory_order_acquire);  // (T2) pairs with (T1)
          // Single pops follow the sequence words, which are published before the tail,
          // so head may be ahead of the tail we just read.
          avail = cons_.cached_tail > h ? cons_.cached_tail - h : 0;
        }
        n = std::min(max, avail);
      }
    }
    if (n == 0) {
      // Per-slot check: the consumer polls the line the value arrives in.
      n = shared_.slots.ready_count(h, max);  // (S2) pairs with (S1)
      if (n == 0) return empty_or_closed(h);
    }
    // Publish head even if `take` throws, so that no value is taken twice.
    struct Publish {
      Ring* ring;
      std::uint64_t head;
      std::uint64_t done = 0;
      ~Publish() {
        if (done == 0) return;
        SN_PERTURB_POINT("ring.sc_pop.before_head");
        ring->cons_.head.store(head + done, std::memory_order_release);  // (H1) pairs with (H2)
        ring->not_full_.notify(ring->shared_.asymmetric, wake_count(done));
      }
    } publish{this, h};
    SN_PERTURB_POINT("ring.sc_pop.seen_not_taken");
    for (; publish.done < n;) {
      T* v = value(h + publish.done);
      T value(std::move(*v));
      v->~T();
      ++publish.done;
      take(std::move(value));
    }
    return {n, RecvResult::ok};
  }

  template <class Take>
  RecvBatchResult try_pop_many_consumers(std::uint64_t max, Take& take) {
    std::uint64_t h = cons_.head.load(std::memory_order_relaxed);
    std::uint64_t n;
    sync::Backoff backoff;
    for (;;) {
      n = 0;
      bool stale = false;
      while (n < max) {
        const std::uint32_t seq = load_seq(h + n, std::memory_order_acquire);  // (S2)
        const auto diff = static_cast<std::int32_t>(seq - static_cast<std::uint32_t>(h + n + 1));
        if (diff == 0) {
          ++n;
        } else {
          stale = diff > 0;  // another consumer already took h + n
          break;
        }
      }
      if (n == 0) {
        // Not ready, and not taken by another consumer: empty (or closed), unless a
        // producer has claimed the slot and is still writing it (then wait for it, so
        // that `empty` is only said of an empty channel).
        if (!stale && !producer_in_flight(h)) return empty_or_closed(h);
        if (!stale) backoff.pause();  // waits for the other thread's half of the slot
        h = cons_.head.load(std::memory_order_relaxed);
        continue;
      }
      SN_PERTURB_POINT("ring.mc_pop.before_claim");
      if (cons_.head.compare_exchange_weak(h, h + n, std::memory_order_relaxed, std::memory_order_relaxed)) {
        break;
      }
    }
    SN_PERTURB_POINT("ring.mc_pop.claimed_not_freed");
    // We own [h, h + n). Move every value out before running user code, so that a
    // throwing `take` cannot strand claimed slots.
    std::uint64_t i = 0;
    auto free_slot = [&](std::uint64_t k) {
      store_seq(h + k, h + k + shared_.capacity, std::memory_order_release);  // (F1) pairs with (F2)
    };
    if (n == 1) {
      T* v = value(h);
      T value(std::move(*v));
      v->~T();
      free_slot(0);
      not_full_.notify(shared_.asymmetric, wake_count(1));
      take(std::move(value));
      return {1, RecvResult::ok};
    }
    // Batch takes (recv_batch) only move-assign into the caller's storage, which is
    // required to be noexcept, so no claimed slot can be stranded by an exception.
    for (; i < n; ++i) {
      T* v = value(h + i);
      take(std::move(*v));
      v->~T();
      free_slot(i);
    }
    not_full_.notify(shared_.asymmetric, 0);
    return {n, RecvResult::ok};
  }

  // Read-mostly: written in the constructor, and `state` once more at close.
  struct alignas(kFalseSharingRange) Shared {
    Slots slots;  // the slot array and its index mask
    void* raw = nullptr;
    std::size_t bytes = 0;  // of the allocation at raw
    std::uint64_t mask = 0;
    std::uint64_t capacity = 0;
    WaitPolicy wait{};
    bool asymmetric = false;
    std::atomic<std::uint32_t> state{kOpen};
    std::atomic<std::uint32_t> receivers_gone{0};  // set once, by the last receiver (D1)
  };
  // Written by producers.
  struct alignas(kFalseSharingRange) ProducerSide {
    std::atomic<std::uint64_t> tail{0};         // SPSC: published count; MP: claim index | closed bit
    std::atomic<std::uint64_t> cached_head{0};  // single consumer: producers' copy of head
    std::atomic<std::uint32_t> busy{0};         // SPSC: producer inside a send (close handshake)
  };
  // Written by consumers.
  struct alignas(kFalseSharingRange) ConsumerSide {
    std::atomic<std::uint64_t> head{0};  // SC: taken count; MC: claim index
    std::uint64_t cached_tail = 0;       // SPSC: consumer's copy of the producer's tail
    // Written once no receiver is left, by whoever releases what remains (D2).
    std::atomic<std::uint64_t> released{0};   // every value below this index is destroyed
    std::atomic<std::uint32_t> releasing{0};  // the release lock
  };
  // Written when handles are created, copied or destroyed.
  struct alignas(kFalseSharingRange) Lifecycle {
    std::atomic<std::uint32_t> senders{1};
    std::atomic<std::uint32_t> receivers{1};
    std::atomic<std::uint32_t> refs{2};
    SendCounters counters;
  };

  Shared shared_;
  ProducerSide prod_;
  ConsumerSide cons_;
  sync::ParkingLot not_empty_;  // receivers park here; producers notify
  sync::ParkingLot not_full_;   // senders park here; consumers notify
  Lifecycle life_;

  template <class, ChannelKind>
  friend struct RingLayout;
};

/// Compile-time proof of the layout: each writer group is aligned to, and fills whole,
/// false-sharing ranges, so consecutive members of Ring never share one.
template <class T, ChannelKind K>
struct RingLayout {
  using R = Ring<T, K>;
  template <class G>
  static constexpr bool kOwnRange = alignof(G) == kFalseSharingRange && sizeof(G) % kFalseSharingRange == 0;
  static_assert(kOwnRange<typename R::Shared>);
  static_assert(kOwnRange<typename R::ProducerSide>);
  static_assert(kOwnRange<typename R::ConsumerSide>);
  static_assert(kOwnRange<sync::ParkingLot>);
  static_assert(kOwnRange<typename R::Lifecycle>);
  static_assert(alignof(R) == kFalseSharingRange && sizeof(R) == 6 * kFalseSharingRange,
                "shared, producer, consumer, two parking lots and lifecycle: one range each");
  static_assert(R::kPad >= kFalseSharingRange, "the slot array is padded at both ends");
  static constexpr bool kProven = true;
};

}  // namespace sn::detail
