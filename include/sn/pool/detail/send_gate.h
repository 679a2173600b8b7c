// Internal: the gate that external senders of a resizable pool pass, so that a resize can
// find a moment when no external send is in progress. Seats live in src/pool/send_gate.cc.
#pragma once

#include <atomic>
#include <thread>

#include "absl/time/time.h"
#include "sn/cache_line.h"
#include "sn/channel/wait_policy.h"
#include "sn/detail/perturb.h"
#include "sn/sync/barrier.h"
#include "sn/sync/block_on.h"
#include "sn/sync/futex.h"
#include "sn/sync/parking_lot.h"

namespace sn::detail {

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
/// memory (src/pool/send_gate.cc).
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
    if (seat_ != nullptr && seat_->temporary) [[unlikely]]
      release_gate_seat(seat_);
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
///        sync::light_barrier()                               sync::heavy_barrier()
///   (G2) sender: closed.load (acquire)            (G4) resizer: every seat's inside (acquire)
/// Either G2 sees the close (the sender backs out and waits), or G4 sees the sender
/// inside and waits until it leaves (release store of null), after which everything the
/// sender did happens-before the resizer's next step. open() stores false with release,
/// so a sender whose G2 reads it sees everything the resize changed. A thread is inside at most one gate at a time (a
/// send runs no user code), so one seat per thread serves every pool.
class SendGate {
 public:
  SendGate() : asymmetric_(sync::asymmetric_barriers_available()) {}

  /// Sender: enters; false when the gate is closed (then wait_open()).
  bool enter(GateSeat& seat) noexcept {
    seat.inside.store(this, std::memory_order_relaxed);  // (G1)
    sync::light_barrier(asymmetric_);
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
    (void)sync::block_on(lot_, policy, false, absl::InfiniteFuture(), false, true,
                         [&] { return !closed_.load(std::memory_order_acquire) || give_up(); });
  }

  /// Resizer: closes the gate and waits until no sender is inside.
  void close() noexcept {
    closed_.store(true, std::memory_order_relaxed);  // (G3)
    SN_PERTURB_POINT("gate.close.before_barrier");
    sync::heavy_barrier(asymmetric_);
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
    sync::futex_wake(&lot_.epoch, 1 << 30);
  }

 private:
  alignas(kFalseSharingRange) std::atomic<bool> closed_{false};  // read by every send
  bool asymmetric_;
  sync::ParkingLot lot_;
};

}  // namespace sn::detail
