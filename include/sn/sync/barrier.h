// sn::sync barriers: the two sides of the asymmetric Dekker handshake every parking
// protocol in the project uses (channels, the pool's doorbells, the send gate).
//
// With Linux membarrier(PRIVATE_EXPEDITED) available, the heavy barrier is that system
// call (run only by the side that is about to sleep or to close a gate) and the light
// barrier is a compiler-only fence, so the hot side pays no fence at all. Without
// membarrier, both are full seq_cst fences. Memory ordering: a light_barrier() on one
// thread and a heavy_barrier() on another order the stores before each against the
// loads after the other, as a pair of seq_cst fences would.
#pragma once

#include <atomic>

namespace sn::sync {

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

}  // namespace sn::sync
