// Internal: one process's end of an inter-process ring. Untyped (messages are bytes of a
// fixed maximum size); the typed handles in sender.h and receiver.h wrap it. The hot path
// (try_send, try_recv) is inline; waiting, liveness and closing are in src/ipc/ring_end.cc.
//
// Memory ordering (the pairs are labelled [A]..[D] at each side):
//   [A] The sender writes a slot's payload and length, then release-stores its sequence
//       word (position + 1); the receiver acquire-loads that word and, when it matches,
//       copies the payload out. Everything the sender did before a send happens-before
//       what the receiver does after the receive that returns it.
//   [B] The receiver release-stores its position after copying a slot out; the sender
//       acquire-loads it before it reuses any slot below it.
//   [C] An end's close release-stores its `closed` word after its last publication; the
//       other end acquire-loads it and looks at the ring once more before reporting
//       `closed`, so nothing published before a close is lost.
//   [D] Sleeping (a Dekker handshake): the sleeper stores `parked`, runs a heavy barrier,
//       and looks once more before the futex wait; the publisher stores (the sequence
//       word or its position), runs a light barrier, and loads `parked`. Across
//       processes a process-private membarrier does not reach the peer; the heavy barrier
//       is membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which interrupts every CPU that
//       runs a thread of a process registered for it, so the publisher's light barrier
//       is a compiler barrier. A process that could not register says so in its
//       StateLine, and then both sides use a seq_cst fence. A peer that lies about it
//       can only delay our wake-up by one park slice (a bounded wait), never lose it.
// All atomics live in a MAP_SHARED mapping and are lock-free, so they work between
// processes as between threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/time/time.h"
#include "sn/channel/result.h"
#include "sn/channel/stats.h"
#include "sn/detail/perturb.h"
#include "sn/ipc/detail/layout.h"
#include "sn/ipc/options.h"

namespace sn::ipc::detail {

/// A mapped segment and the descriptor it came from; unmaps and closes on destruction.
struct Mapping {
  std::byte* base = nullptr;
  std::size_t bytes = 0;
  int fd = -1;
  Mapping() = default;
  Mapping(std::byte* b, std::size_t n, int f) noexcept : base(b), bytes(n), fd(f) {}
  Mapping(Mapping&& o) noexcept : base(o.base), bytes(o.bytes), fd(o.fd) {
    o.base = nullptr;
    o.fd = -1;
  }
  Mapping& operator=(Mapping&&) = delete;
  ~Mapping();
};

/// Counters of one end, written by its thread, read by stats() from any thread.
struct EndCounters {
  std::atomic<std::uint64_t> sent{0}, received{0}, send_full{0}, send_closed{0}, send_blocked{0};
  void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // one writer
  }
};

class RingEnd {
 public:
  /// Takes the mapping of a validated segment. `peer_pid` is the peer's process when the
  /// kernel told us (SO_PEERCRED), else 0 (then it is read from the peer's StateLine).
  RingEnd(Mapping mapping, const Geometry& g, Role role, const Options& options, int peer_pid) noexcept;
  ~RingEnd();
  RingEnd(const RingEnd&) = delete;
  RingEnd& operator=(const RingEnd&) = delete;

  // ---- sender
  SendResult try_send(const void* src, std::uint32_t len) noexcept {
    const SendResult r = attempt(src, len);
    if (r == SendResult::full) [[unlikely]]
      counters_.add(counters_.send_full);
    return r;
  }
  SendResult send_until(const void* src, std::uint32_t len, absl::Time deadline) noexcept;
  /// Sends up to n messages of `stride` bytes each (len bytes of each are the message).
  SendBatchResult send_many(const std::byte* src, std::size_t stride, std::uint32_t len, std::size_t n) noexcept;

  // ---- receiver
  /// Copies the next message into dst (message_bytes() of room) and its length into *len.
  RecvResult try_recv(void* dst, std::uint32_t* len) noexcept {
    std::byte* slot = slot_at(pos_);
    if (seq_of(slot).load(std::memory_order_acquire) != static_cast<std::uint32_t>(pos_ + 1)) [[unlikely]]  // [A]
      return nothing_published() ? RecvResult::empty : empty_or_closed(dst, len);
    if (!copy_out(slot, dst, len)) [[unlikely]]
      return corrupt_recv();
    release_slots(1);
    return RecvResult::ok;
  }
  RecvResult recv_until(void* dst, std::uint32_t* len, absl::Time deadline) noexcept;
  /// Receives up to n messages into dst + i * stride.
  RecvBatchResult recv_many(std::byte* dst, std::size_t stride, std::size_t n) noexcept;
  /// Whether a message can be received now (one load).
  bool ready() const noexcept {
    return seq_of(slot_at(pos_)).load(std::memory_order_acquire) == static_cast<std::uint32_t>(pos_ + 1);
  }

  // ---- either end
  void close() noexcept;
  /// Whether this end sees the channel closed (by either side, or a dead, hung or corrupt
  /// peer). A receiver may still have messages to take: see try_recv.
  bool is_closed() const noexcept;
  CloseReason close_reason() const noexcept;
  ChannelStats stats() const noexcept;
  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint32_t message_bytes() const noexcept { return message_bytes_; }
  int fd() const noexcept { return mapping_.fd; }
  int peer_pid() const noexcept { return peer_pid_; }
  Role role() const noexcept { return role_; }

 private:
  std::byte* slot_at(std::uint64_t position) const noexcept { return slots_ + (position & mask_) * slot_bytes_; }
  StateLine& peer_state() const noexcept { return ctl_->state[index_of(other(role_))]; }
  StateLine& my_state() const noexcept { return ctl_->state[index_of(role_)]; }

  static std::atomic_ref<std::uint32_t> seq_of(std::byte* slot) noexcept {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(slot));
  }
  static std::atomic_ref<std::uint32_t> length_of(std::byte* slot) noexcept {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(slot + 4));
  }
  /// A send without counting a refusal: ok, full or closed.
  SendResult attempt(const void* src, std::uint32_t len) noexcept {
    if (closed_ != CloseReason::open || peer_state().closed.load(std::memory_order_acquire) != 0) [[unlikely]]
      return count_closed();  // [C]
    if (pos_ - peer_pos_ >= capacity_ && !refresh_room()) [[unlikely]]
      return closed_ != CloseReason::open ? count_closed() : SendResult::full;
    write_slot(src, len);
    publish_done(1);
    return SendResult::ok;
  }
  void write_slot(const void* src, std::uint32_t len) noexcept {
    std::byte* slot = slot_at(pos_);
    if (len != 0) std::memcpy(slot + kSlotPrefix, src, len);  // an empty span may have no data()
    length_of(slot).store(len, std::memory_order_relaxed);
    SN_PERTURB_POINT("ipc.send.before_publish");
    seq_of(slot).store(static_cast<std::uint32_t>(pos_ + 1), std::memory_order_release);  // [A]
    ++pos_;
  }
  /// After n slots were written: the position for stats, the counter, a wake if owed.
  void publish_done(std::uint64_t n) noexcept {
    ctl_->position[0].position.store(pos_, std::memory_order_relaxed);  // for stats only
    counters_.add(counters_.sent, n);
    if ((++calls_ & kLivenessEvery) == 0) [[unlikely]]
      (void)peer_gone();  // a sender learns of a dead receiver without filling the ring
    notify_peer();
  }
  /// Copies a published slot out and moves past it. Copy, then validate: the peer may
  /// change the length after we read it, so it is read once, into a local. False (and
  /// nothing moved) for a length no correct sender writes.
  bool copy_out(std::byte* slot, void* dst, std::uint32_t* len) noexcept {
    std::uint32_t n = message_bytes_;
    if (bytes_) {
      n = length_of(slot).load(std::memory_order_relaxed);
      if (n > message_bytes_) [[unlikely]]
        return false;
    }
    std::memcpy(dst, slot + kSlotPrefix, n);
    *len = n;
    ++pos_;
    return true;
  }
  /// After n slots were copied out: frees them for the sender, counts, wakes it if owed.
  void release_slots(std::uint64_t n) noexcept {
    SN_PERTURB_POINT("ipc.recv.before_release");
    ctl_->position[1].position.store(pos_, std::memory_order_release);  // [B]
    counters_.add(counters_.received, n);
    notify_peer();
  }
  /// [D] the publisher's half: wake the peer if it sleeps.
  void notify_peer() noexcept {
    SN_PERTURB_POINT("ipc.notify.before_barrier");
    if (light_barrier_) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    if (ctl_->wait[index_of(other(role_))].parked.load(std::memory_order_relaxed) != 0) [[unlikely]]
      wake_peer();
  }

  /// The empty ring's fast answer, without a call: true ("empty") unless a close is in
  /// sight or it is time for the slow path's look at the peer process. Reading the clock
  /// on every empty poll costs a busy-polling receiver about 10 ns, enough to show in a
  /// round trip; the peer's `closed` word is a cache hit and is read every time.
  bool nothing_published() noexcept {
    return closed_ == CloseReason::open && peer_state().closed.load(std::memory_order_acquire) == 0 &&
           (++empty_polls_ & kLivenessPollMask) != 0;
  }
  bool refresh_room() noexcept;
  RecvResult empty_or_closed(void* dst, std::uint32_t* len) noexcept;
  RecvResult corrupt_recv() noexcept;
  SendResult count_closed() noexcept;
  void wake_peer() noexcept;
  bool peer_gone() noexcept;
  void park(absl::Time deadline) noexcept;
  void fail(CloseReason why) noexcept;

  static constexpr std::uint64_t kLivenessEvery = 4095;   // sends between two looks at the peer
  static constexpr std::uint64_t kLivenessPollMask = 63;  // empty polls between two slow paths

  Mapping mapping_;
  Control* ctl_;
  std::byte* slots_;
  std::uint64_t capacity_;
  std::uint64_t mask_;
  std::uint32_t slot_bytes_;
  std::uint32_t message_bytes_;
  bool bytes_;
  bool light_barrier_;  // this process registered for the global expedited membarrier
  Role role_;
  Options options_;
  std::uint64_t pos_ = 0;       // sender: next position to write; receiver: next to read
  std::uint64_t peer_pos_ = 0;  // sender: the receiver's position last read
  std::uint64_t calls_ = 0;
  std::uint64_t empty_polls_ = 0;
  CloseReason closed_ = CloseReason::open;               // this end's verdict (written by its thread)
  std::atomic<CloseReason> verdict_{CloseReason::open};  // the same, for stats() elsewhere
  int peer_pid_ = 0;
  int pidfd_ = -1;
  std::int64_t next_liveness_ns_ = 0;
  std::int64_t stalled_since_ns_ = -1;  // sender: when the receiver last failed to make room
  std::uint64_t stalled_at_ = 0;        // ... and its position then
  EndCounters counters_;
};

/// The process-wide membarrier registration (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED),
/// made once; false where the kernel or a seccomp filter refuses it.
bool register_global_barrier() noexcept;

}  // namespace sn::ipc::detail
