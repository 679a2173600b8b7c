// sn::sync futex: sleeping on a 32-bit word until another thread changes it and wakes it
// (Linux futex, process-private), and the pause instruction for spin loops.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace sn::sync {

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

}  // namespace sn::sync
