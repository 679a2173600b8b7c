// The registry of gate seats: one per thread that sends into a resizable pool.
#include <atomic>
#include <mutex>

#include "sn/worker/detail/runtime.h"

namespace sn::detail {
namespace {

std::atomic<GateSeat*> g_first_seat{nullptr};
std::mutex g_seats_mu;  // serializes claims; readers walk the list without it

/// Gives the seat back when its thread ends.
struct SeatReturn {
  GateSeat* seat = nullptr;
  ~SeatReturn() {
    if (seat == nullptr) return;
    t_gate_seat = nullptr;
    seat->taken.store(false, std::memory_order_release);
  }
};
thread_local SeatReturn t_seat_return;

}  // namespace

GateSeat* claim_gate_seat() {
  GateSeat* seat = nullptr;
  {
    std::lock_guard lock(g_seats_mu);
    for (GateSeat* s = g_first_seat.load(std::memory_order_acquire); s != nullptr; s = s->next) {
      if (!s->taken.load(std::memory_order_acquire)) {
        s->taken.store(true, std::memory_order_relaxed);
        seat = s;
        break;
      }
    }
    if (seat == nullptr) {
      seat = new GateSeat;  // never freed: resizers may walk the list at any time
      seat->taken.store(true, std::memory_order_relaxed);
      seat->next = g_first_seat.load(std::memory_order_relaxed);
      g_first_seat.store(seat, std::memory_order_release);  // publishes `next` to the walkers
    }
  }
  t_seat_return.seat = seat;
  t_gate_seat = seat;
  return seat;
}

GateSeat* first_gate_seat() noexcept { return g_first_seat.load(std::memory_order_acquire); }

}  // namespace sn::detail
