// Internal: the words a pool and its workers exchange outside the channels: single-writer
// counters and the per-worker control flags.
#pragma once

#include <atomic>
#include <cstdint>

namespace sn::detail {

/// A counter with one writing thread: relaxed load + store, no read-modify-write.
struct OwnedCounter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n) noexcept {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

/// Control flags of one worker.
enum ControlFlag : std::uint32_t {
  kStop = 1u << 0,    // stop after the current batch (stop(), or a fault under stop_pool)
  kDrain = 1u << 1,   // graceful shutdown or a resize began: no idle ticks
  kExit = 1u << 2,    // the pool is quiescent: leave the loop
  kRevive = 1u << 3,  // WorkerPool::revive(): an isolated worker builds a new State (the worker clears it)
};
/// The flags word's bits from here up count resize steps asked of the worker (export or
/// import state): the resizer adds kMigrateRound, the worker runs one step per change.
constexpr std::uint32_t kMigrateRound = 1u << 8;

}  // namespace sn::detail
