// Internal: the spin -> yield -> park machinery shared by every channel kind.
// Users need not read this file; it is public only because the channels are templates.
//
// Lost wake-ups are ruled out by a Dekker handshake between the two sides:
//
//   waiting side (slow path)             publishing side (hot path)
//   waiters.fetch_add(1)      (W1)       publish slot / index      (P1)
//   heavy_barrier()           (W2)       light_barrier()           (P2)
//   re-try the operation      (W3)       waiters.load()            (P3)
//   futex_wait(epoch, e)                 if waiters: epoch++, futex_wake
//
// Either the waiter's re-try (W3) sees the publication (P1), or the publisher's load (P3)
// sees the waiter. With Linux membarrier(PRIVATE_EXPEDITED) available, the heavy barrier
// is that system call (run only when parking) and the light barrier is a compiler-only
// fence, so the publishing hot path pays one plain load and no fence. Without membarrier,
// both barriers are full seq_cst fences. The epoch read before W1 closes the remaining
// window: a wake between W3 and futex_wait changes the epoch, so futex_wait returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/cache_line.h"
#include "sn/channel/wait_policy.h"
#include "sn/detail/perturb.h"

namespace sn::detail {

/// Registers this process for membarrier once; returns true when the asymmetric
/// barriers can be used. Thread-safe, cheap after the first call.
bool asymmetric_barriers_available() noexcept;

/// The slow side of the handshake: a full barrier on every thread of the process.
void heavy_barrier(bool asymmetric) noexcept;

/// The fast side of the handshake.
inline void light_barrier(bool asymmetric) noexcept {
  if (asymmetric) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with membarrier in heavy_barrier
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the fence in heavy_barrier
  }
}

/// Sleeps while *word == expected, until woken or the deadline passes (spurious returns allowed).
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, absl::Time deadline) noexcept;
/// Wakes up to `count` threads sleeping on word.
void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

/// One place where threads of one side park, on its own false-sharing range.
/// `waiters` is written only by parking threads and read by every publisher, so the
/// line stays shared (read-only) in the publishers' caches while nobody parks.
struct alignas(kFalseSharingRange) ParkingLot {
  std::atomic<std::uint32_t> epoch{0};    // futex word, bumped by each wake
  std::atomic<std::uint32_t> waiters{0};  // threads between W1 and their return

  /// Publisher side, called after the publication (P1). `count` threads are woken.
  void notify(bool asymmetric, int count) noexcept {
    SN_PERTURB_POINT("park.notify.before_barrier");
    light_barrier(asymmetric);                                   // (P2)
    if (waiters.load(std::memory_order_relaxed) != 0) [[unlikely]] {  // (P3) pairs with (W1)
      epoch.fetch_add(1, std::memory_order_release);
      futex_wake(&epoch, count);
    }
  }

  bool has_waiters() const noexcept { return waiters.load(std::memory_order_relaxed) != 0; }
};
static_assert(sizeof(ParkingLot) == kFalseSharingRange);
static_assert(alignof(ParkingLot) == kFalseSharingRange);

/// What block_on tells about each sleep in the kernel; the default ignores it.
struct IgnoreParking {
  void operator()(absl::Duration) const noexcept {}
};

/// Runs `attempt` until it returns something other than `would_block`, waiting between
/// attempts as `policy` says. Returns `timed_out` if the deadline passes first.
/// `attempt` must be idempotent while it fails. `parked(d)` is called after each sleep
/// in the kernel with its length (two clock reads per sleep, none on the other phases).
template <class Result, class Attempt, class Parked = IgnoreParking>
Result block_on(ParkingLot& lot, const WaitPolicy& policy, bool asymmetric, absl::Time deadline,
                Result would_block, Result timed_out, Attempt&& attempt, Parked&& parked = {}) {
  // The deadline is checked in every phase (in the spin phase every 64 rounds, to keep
  // clock reads rare): a long spin policy must not stretch a short timeout.
  const bool timed = deadline != absl::InfiniteFuture();
  for (std::uint32_t i = 0; i < policy.spin_iterations; ++i) {
    Result r = attempt();
    if (r != would_block) return r;
    if (timed && (i & 63) == 63 && absl::Now() >= deadline) return timed_out;
    cpu_relax();
  }
  for (std::uint32_t i = 0; i < policy.yield_iterations; ++i) {
    Result r = attempt();
    if (r != would_block) return r;
    if (timed && absl::Now() >= deadline) return timed_out;
    std::this_thread::yield();
  }
  // Leaves the lot on every exit, an exception from `attempt` included, so that
  // publishers do not keep paying for a wake-up nobody waits for.
  struct Registration {
    ParkingLot& lot;
    explicit Registration(ParkingLot& l) noexcept : lot(l) {
      lot.waiters.fetch_add(1, std::memory_order_seq_cst);  // (W1) pairs with (P3)
    }
    ~Registration() { lot.waiters.fetch_sub(1, std::memory_order_relaxed); }
  };
  for (;;) {
    const std::uint32_t e = lot.epoch.load(std::memory_order_acquire);
    Registration registered(lot);
    SN_PERTURB_POINT("park.registered_before_barrier");
    heavy_barrier(asymmetric);  // (W2)
    Result r = attempt();       // (W3) sees (P1) unless P3 sees W1
    if (r != would_block) return r;
    const absl::Time now = absl::Now();
    if (now >= deadline) return timed_out;
    SN_PERTURB_POINT("park.rechecked_before_futex_wait");
    futex_wait(&lot.epoch, e, deadline);
    if constexpr (!std::is_same_v<std::remove_cvref_t<Parked>, IgnoreParking>) parked(absl::Now() - now);
  }
}

}  // namespace sn::detail
