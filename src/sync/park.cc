// Linux implementation of the sync primitives: futex and membarrier.
#include "sn/sync/barrier.h"
#include "sn/sync/futex.h"

#include "absl/time/clock.h"
#include "sn/detail/check.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace sn::sync {
namespace {

bool register_membarrier() noexcept {
  const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

}  // namespace

bool asymmetric_barriers_available() noexcept {
  // Thread-safe static initialization; registration is per process and idempotent.
  static const bool available = register_membarrier();
  return available;
}

void heavy_barrier(bool asymmetric) noexcept {
  if (asymmetric) {
    // Every running thread of this process executes a full memory barrier before this
    // returns; threads not running pass one when they are next scheduled.
    // Once registration succeeded the kernel does not refuse this command. If it ever
    // did, a fence on this side alone would not close the handshake (publishers only
    // have a compiler fence), and wake-ups could be lost: stop loudly instead.
    SN_CHECK(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0,
             "membarrier(PRIVATE_EXPEDITED) failed after successful registration");
    return;
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, absl::Time deadline) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline != absl::InfiniteFuture()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    ts = absl::ToTimespec(left);
    timeout = &ts;
  }
  // EAGAIN (value changed), EINTR and ETIMEDOUT all mean: return and let the caller re-check.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, timeout, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, count <= 0 ? INT_MAX : count, nullptr,
          nullptr, 0);
}

}  // namespace sn::sync
