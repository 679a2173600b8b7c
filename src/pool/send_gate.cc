// The registry of gate seats: one per thread that sends into a resizable pool.
#include <atomic>
#include <mutex>
#include <new>

#include "sn/pool/detail/send_gate.h"

namespace sn::detail {
namespace {

std::atomic<GateSeat*> g_first_seat{nullptr};
std::mutex g_seats_mu;  // serializes claims; resizers walk the list without it

// Set when this thread's seat was given back at its end: a send from a later
// thread_local destructor gets a temporary seat instead of one that would never return.
thread_local bool t_seats_closed = false;

/// Gives the thread's seat back when its thread ends.
struct SeatReturn {
  GateSeat* seat = nullptr;
  ~SeatReturn() {
    t_seats_closed = true;
    t_gate_seat = nullptr;
    if (seat != nullptr) seat->taken.store(false, std::memory_order_release);
  }
};
thread_local SeatReturn t_seat_return;

GateSeat* take_free_seat() noexcept {
  std::lock_guard lock(g_seats_mu);
  for (GateSeat* s = g_first_seat.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    if (!s->taken.load(std::memory_order_acquire)) {
      s->taken.store(true, std::memory_order_relaxed);
      return s;
    }
  }
  GateSeat* seat = new (std::nothrow) GateSeat;  // never freed: resizers may walk the list at any time
  if (seat == nullptr) return nullptr;
  seat->taken.store(true, std::memory_order_relaxed);
  seat->next = g_first_seat.load(std::memory_order_relaxed);
  g_first_seat.store(seat, std::memory_order_release);  // publishes `next` to the walkers
  return seat;
}

}  // namespace

GateSeat* claim_gate_seat() noexcept {
  GateSeat* seat = take_free_seat();
  if (seat == nullptr) return nullptr;
  if (t_seats_closed) {
    seat->temporary = true;  // GateSeat::Use gives it back after this send
    return seat;
  }
  seat->temporary = false;
  t_seat_return.seat = seat;
  t_gate_seat = seat;
  return seat;
}

void release_gate_seat(GateSeat* seat) noexcept {
  seat->temporary = false;
  seat->taken.store(false, std::memory_order_release);
}

GateSeat* first_gate_seat() noexcept { return g_first_seat.load(std::memory_order_acquire); }

}  // namespace sn::detail
