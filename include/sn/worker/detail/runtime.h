// Internal: the parts of a pool that do not depend on the worker class: what travels in
// the queues, the per-worker control block, and the outbox. Users need not read this file.
//
// Wiring of a pool of n workers:
//   - inbox[j]    MPSC, external producers -> worker j (any thread may send);
//   - lane[i][j]  SPSC, worker i -> worker j, for every ordered pair (i == j included);
//   - doorbell[j] the one place worker j parks; every send into any of j's inputs rings it.
//   - control[j]  a word of flags (stop, drain, exit) that worker j reads before it takes
//                 any data, so control never queues behind data.
//
// Memory ordering:
//   - Data: the channels' own protocol (see sn/channel/detail/ring.h).
//   - Sleeping: worker j parks on doorbell[j] with the channels' Dekker handshake
//     (park.h): it registers, runs the heavy barrier and re-checks every input and its
//     control word; a sender publishes into the channel (P1) and then calls
//     doorbell[j].notify() (P2, P3), so either the re-check sees the value or the sender
//     sees the registration and wakes it.
//   - Control: the controller sets flags with fetch_or (seq_cst) and then wakes the
//     doorbell with full fences on its side (notify with asymmetric = false); the worker
//     reads the word with acquire, which pairs with that fetch_or.
//   - Counters are single-writer (relaxed load + store by the owner, relaxed loads by
//     readers) except `remote`, which senders on other threads fetch_add.
//   - Outbox wake-up: worker i, owing messages to a full lane i->j, sets owes.room
//     before it parks (registration, heavy barrier, then a re-check of the lane's free
//     room). Worker j, after taking from that lane (the head store), runs a light
//     barrier and reads owes.room, then the doorbell's waiters: the same Dekker pair.
//   - Quiescence (graceful shutdown): `activity` turns odd (relaxed store) before the
//     worker takes the first message of a batch or flushes its outbox, and even again
//     (release store) after tick(). The odd store precedes, in program order, the
//     release store that publishes the consumed head of that batch, so a reader that
//     sees the head move also sees the odd value. See PoolCore::quiescent_wave.
//   - Resize (pools with a ConsistentHashPartitioner): external senders pass a SendGate
//     (below) around routing and pushing; the resizing thread closes it, waits until no
//     sender is inside, drains the pool to quiescence, moves state and changes the
//     routing while nothing runs, then opens it. The pairs that order it:
//       * a worker's reads of the routing (in hooks) -> the resizer's change: the
//         activity release store and quiescent_wave's acquire load;
//       * the change -> later sends: the gate's open (release) and the senders' acquire
//         check (G2); for workers, clearing kDrain (seq_cst RMW) and their acquire read of
//         the flags word, or the message that wakes them (channel release/acquire);
//       * the resizer's request -> a worker's export/import step: kMigrateRound added to
//         the flags word (seq_cst RMW), read with acquire; the step's results -> the
//         resizer: the migration mutex;
//       * a new worker's on_start -> the resize: the start mutex (report_started).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sn/cache_line.h"
#include "sn/channel/channel.h"
#include "sn/channel/detail/park.h"
#include "sn/detail/perturb.h"
#include "sn/worker/config.h"
#include "sn/worker/envelope.h"
#include "sn/worker/heap.h"

namespace sn::detail {

/// Reaches a sender's ring, for the pool's any-thread sends into an MPSC inbox (which
/// the ring allows; a Sender handle itself is for one thread at a time).
struct ChannelAccess {
  template <class T, ChannelKind K>
  static Ring<T, K>* ring(const Sender<T, K>& s) noexcept {
    return s.ring_;
  }
};

/// Sends to every running worker of `shared` with `send_one(j)`: `count` is how many
/// accepted, `status` is `ok` when all did, else the first other result.
template <class Shared, class SendOne>
SendBatchResult broadcast_to(const Shared& shared, SendOne&& send_one) {
  SendBatchResult result{0, SendResult::ok};
  for (std::size_t j = 0; j < shared.size(); ++j) {
    if (!shared.accepts(j)) continue;
    const SendResult r = send_one(j);
    if (r == SendResult::ok) {
      ++result.count;
    } else if (result.status == SendResult::ok) {
      result.status = r;
    }
  }
  return result;
}

/// Send times travel as 32-bit stamps in units of 2^5 ns (32 ns): they wrap every 137 s,
/// and a receiver recovers the full time from its own clock for any message younger
/// than that.
class SendStamp {
 public:
  static constexpr int kShift = 5;

  static std::uint32_t now() noexcept { return static_cast<std::uint32_t>(steady_ns() >> kShift); }

  static std::chrono::steady_clock::time_point recover(std::uint32_t stamp) noexcept {
    const std::uint64_t now_units = steady_ns() >> kShift;
    const std::uint32_t age = static_cast<std::uint32_t>(now_units) - stamp;  // mod 2^32
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds((now_units - age) << kShift));
  }

 private:
  static std::uint64_t steady_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
};

/// What travels in the queues. The handler's Envelope is built from it; its sequence
/// number is counted by the receiver, so it takes no room here. With an 8-byte message
/// a slot is 32 bytes: two per cache line, none straddling two lines (a straddling slot
/// costs the consumer a second cache miss).
template <class M>
struct Parcel {
  M payload;
  std::uint64_t key;
  Source source;
  std::uint32_t stamp;  // SendStamp, only with PoolConfig::timestamps
};

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

/// A counter with one writing thread: relaxed load + store, no read-modify-write.
struct OwnedCounter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n) noexcept { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

/// Control flags of one worker.
enum ControlFlag : std::uint32_t {
  kStop = 1u << 0,     // stop after the current batch (stop(), or a fault under stop_pool)
  kDrain = 1u << 1,    // graceful shutdown or a resize began: no idle ticks
  kExit = 1u << 2,     // the pool is quiescent: leave the loop
};
/// The flags word's bits from here up count resize steps asked of the worker (export or
/// import state): the resizer adds kMigrateRound, the worker runs one step per change.
constexpr std::uint32_t kMigrateRound = 1u << 8;

/// One thread's seat at the send gates: which gate, if any, the thread is inside. Every
/// thread that sends into a resizable pool gets one, for its lifetime (it is reused after
/// the thread ends); a resize looks at all of them.
struct alignas(kFalseSharingRange) GateSeat {
  std::atomic<const void*> inside{nullptr};  // written by its thread only
  std::atomic<bool> taken{false};
  bool temporary = false;    // its thread's thread_locals are being destroyed: given back after one send
  GateSeat* next = nullptr;  // set before the seat is published, then constant

  class Use;
};
static_assert(sizeof(GateSeat) == kFalseSharingRange);

/// Claims a seat for the calling thread, kept until the thread ends; nullptr when out of
/// memory (src/worker/gate.cc).
GateSeat* claim_gate_seat() noexcept;
/// Gives a temporary seat back.
void release_gate_seat(GateSeat* seat) noexcept;
/// Every seat ever handed out, newest first (the list only grows).
GateSeat* first_gate_seat() noexcept;
inline thread_local GateSeat* t_gate_seat = nullptr;

/// The calling thread's seat for the length of one send.
class GateSeat::Use {
 public:
  Use() noexcept : seat_(t_gate_seat != nullptr ? t_gate_seat : claim_gate_seat()) {}
  ~Use() {
    if (seat_ != nullptr && seat_->temporary) [[unlikely]] release_gate_seat(seat_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  explicit operator bool() const noexcept { return seat_ != nullptr; }
  GateSeat& operator*() const noexcept { return *seat_; }

 private:
  GateSeat* seat_;
};

/// The gate external senders of a resizable pool pass: routing and pushing happen inside,
/// and a resize closes it to get a moment when no external send is in progress.
///
/// Memory ordering: a Dekker pair, with the channels' asymmetric barriers (park.h), so
/// that the sender's side is two plain stores and a load, with no read-modify-write:
///   (G1) sender: seat.inside = this (relaxed)     (G3) resizer: closed = true (relaxed)
///        light_barrier()                               heavy_barrier()
///   (G2) sender: closed.load (acquire)            (G4) resizer: every seat's inside (acquire)
/// Either G2 sees the close (the sender backs out and waits), or G4 sees the sender
/// inside and waits until it leaves (release store of null), after which everything the
/// sender did happens-before the resizer's next step. open() stores false with release,
/// so a sender whose G2 reads it sees everything the resize changed. A thread is inside at most one gate at a time (a send
/// runs no user code), so one seat per thread serves every pool.
class SendGate {
 public:
  SendGate() : asymmetric_(asymmetric_barriers_available()) {}

  /// Sender: enters; false when the gate is closed (then wait_open()).
  bool enter(GateSeat& seat) noexcept {
    seat.inside.store(this, std::memory_order_relaxed);  // (G1)
    light_barrier(asymmetric_);
    SN_PERTURB_POINT("gate.enter.between_seat_and_check");
    if (closed_.load(std::memory_order_acquire)) [[unlikely]] {  // (G2); acquire pairs with open()
      seat.inside.store(nullptr, std::memory_order_release);
      return false;
    }
    return true;
  }
  static void leave(GateSeat& seat) noexcept { seat.inside.store(nullptr, std::memory_order_release); }

  /// Sender: waits until the gate opens or `give_up()` returns true.
  template <class GiveUp>
  void wait_open(const WaitPolicy& policy, GiveUp&& give_up) {
    (void)block_on(lot_, policy, false, absl::InfiniteFuture(), false, true,
                   [&] { return !closed_.load(std::memory_order_acquire) || give_up(); });
  }

  /// Resizer: closes the gate and waits until no sender is inside.
  void close() noexcept {
    closed_.store(true, std::memory_order_relaxed);  // (G3)
    SN_PERTURB_POINT("gate.close.before_barrier");
    heavy_barrier(asymmetric_);
    for (GateSeat* seat = first_gate_seat(); seat != nullptr; seat = seat->next) {
      while (seat->inside.load(std::memory_order_acquire) == this) std::this_thread::yield();  // (G4)
    }
  }
  /// Resizer: opens the gate and wakes the senders that wait.
  void open() noexcept {
    closed_.store(false, std::memory_order_release);
    wake_waiters();
  }
  /// Wakes the waiting senders (they look at the gate, or at why they should give up).
  void wake_waiters() noexcept {
    lot_.epoch.fetch_add(1, std::memory_order_release);
    futex_wake(&lot_.epoch, 1 << 30);
  }

 private:
  alignas(kFalseSharingRange) std::atomic<bool> closed_{false};  // read by every send
  bool asymmetric_;
  ParkingLot lot_;
};

/// Everything about one worker that other threads touch, grouped by the thread that writes it.
template <class M>
struct WorkerCore {
  using InboxTx = Sender<Parcel<M>, ChannelKind::mpsc>;
  using InboxRx = Receiver<Parcel<M>, ChannelKind::mpsc>;
  using LaneTx = Sender<Parcel<M>, ChannelKind::spsc>;
  using LaneRx = Receiver<Parcel<M>, ChannelKind::spsc>;

  // ---- written by the worker thread (relaxed stores), read by stats() and shutdown.
  struct alignas(kFalseSharingRange) Owned {
    OwnedCounter processed, failed, batches, ticks, restarts, parks, parked_ns, sent, rejected;
    OwnedCounter dropped_at_stop;            // its outbox's messages at stop (for their destinations: see remote)
    std::atomic<std::uint64_t> activity{0};  // odd while a batch or flush is in progress
    std::atomic<std::uint64_t> outbox_pending{0};
    std::atomic<int> cpu{-1};
    std::atomic<bool> memory_bound{false};
  } owned;

  // ---- written by senders on any thread (fetch_add), rare: drops under FullPolicy::drop.
  struct alignas(kFalseSharingRange) Remote {
    std::atomic<std::uint64_t> dropped_full{0};  // accepted, then destroyed for lack of room
    std::atomic<std::uint64_t> dropped_at_stop{0};  // accepted, still queued when the pool stopped
  } remote;

  // ---- written by the worker when its outbox turns non-empty or empty; read by the
  // workers it owes messages to, after each batch they take from its lane, so that they
  // wake it when they free room (it may be parked with nothing else to do).
  struct alignas(kFalseSharingRange) Owes {
    std::atomic<bool> room{false};
  } owes;

  // ---- written by the controller (stop/shutdown/fault/resize), read by the worker every
  // iteration; `active` is read by senders too, and changes only while a resize holds the
  // pool quiescent (see SendGate).
  struct alignas(kFalseSharingRange) Control {
    std::atomic<std::uint32_t> flags{0};
    std::atomic<bool> active{false};   // a worker runs in this slot and takes messages
    std::atomic<bool> started{false};  // a worker has run in this slot (listed in stats)
  } control;

  ParkingLot doorbell;

  // ---- set up before the thread starts; then the handles are the worker thread's.
  InboxTx inbox_tx;  // never used as a handle: sends go through inbox_ring, from any thread
  InboxRx inbox_rx;
  Ring<Parcel<M>, ChannelKind::mpsc>* inbox_ring = nullptr;
  std::vector<LaneRx> lanes_in;   // [i]: from worker i
  std::vector<LaneTx> lanes_out;  // [j]: to worker j
  ResolvedWorkerConfig config;
  bool asymmetric = false;

  /// Wakes the worker if it sleeps. Call after publishing into one of its inputs.
  void ring_doorbell() noexcept { doorbell.notify(asymmetric, 1); }

  /// Sets control flags and wakes the worker, from any thread.
  void signal(std::uint32_t flags) noexcept {
    control.flags.fetch_or(flags, std::memory_order_seq_cst);  // pairs with the worker's acquire load
    doorbell.notify(false, 1);
  }
  std::uint32_t flags() const noexcept { return control.flags.load(std::memory_order_acquire); }

  /// The first input with a message now: a lane index (the sending worker), the inbox as
  /// lanes_in.size(), or kNone; the inbox only with `with_inbox` (a worker that owes
  /// messages does not take external ones). Lanes first: they carry the
  /// latency-sensitive traffic. Worker thread (the consumer) only.
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t first_ready(bool with_inbox) const noexcept {
    for (std::size_t i = 0; i < lanes_in.size(); ++i) {
      if (lanes_in[i].ready()) return i;
    }
    return with_inbox && inbox_rx.ready() ? lanes_in.size() : kNone;
  }
};

}  // namespace sn::detail
