// Shared helpers for the worker-pool tests: creating a pool or failing the test, bounded
// waits that turn a hang into a failure, and a gate that handlers block on until the
// test opens it. The thread helpers (StartGate, Watchdog, stall_limit, scaled) come from
// channel_test_support.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/worker_pool.h"

namespace sn::test {

/// Creates a pool and fails the current test if that fails; nullptr then (callers
/// ASSERT_NE(pool, nullptr)).
template <class W, class... Args>
std::unique_ptr<WorkerPool<W>> create_pool(const PoolConfig& config, Args&&... args) {
  absl::StatusOr<std::unique_ptr<WorkerPool<W>>> pool = WorkerPool<W>::create(config, std::forward<Args>(args)...);
  EXPECT_TRUE(pool.ok()) << pool.status();
  if (!pool.ok()) return nullptr;
  return std::move(*pool);
}

/// A factory that gives every worker the same constructor arguments (typically a pointer
/// to the test's probe).
template <class W, class... Args>
auto each_worker_gets(Args... args) {
  return [=](std::size_t) { return std::make_unique<W>(args...); };
}

/// Polls `done` until it returns true; false after `limit`. The limit only matters when
/// something is broken: it turns a hang into a failure.
inline bool wait_until(const std::function<bool()>& done, absl::Duration limit = stall_limit()) {
  const absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

/// Waits until `count()` reaches `target`; false if it stops moving for the stall limit
/// first. Unlike a fixed deadline this only fails when nothing progresses, so a slow or
/// oversubscribed machine makes the wait longer, never a failure.
inline bool wait_for_progress(const std::function<std::uint64_t()>& count, std::uint64_t target,
                              absl::Duration stall = stall_limit()) {
  std::uint64_t seen = count();
  absl::Time last_change = absl::Now();
  while (seen < target) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    const std::uint64_t now = count();
    if (now != seen) {
      seen = now;
      last_change = absl::Now();
    } else if (absl::Now() - last_change > stall) {
      return false;
    }
  }
  return true;
}

/// Something handlers block on until the test opens it: makes a worker busy for as long
/// as the test needs, without any timing. A waiter that is not let through within the
/// stall limit gives up and counts a stall (checked by the test), so that a broken test
/// ends instead of hanging.
class Gate {
 public:
  /// Blocks until open(); false if it gave up.
  bool wait() {
    entered_.fetch_add(1, std::memory_order_acq_rel);
    const absl::Time give_up = absl::Now() + stall_limit();
    while (!open_.load(std::memory_order_acquire)) {
      if (absl::Now() > give_up) {
        stalls_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
  }
  void open() noexcept { open_.store(true, std::memory_order_release); }
  bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }
  /// How many wait() calls have begun (whether or not they returned).
  std::uint64_t entered() const noexcept { return entered_.load(std::memory_order_acquire); }
  /// Waits (bounded) until at least `n` wait() calls have begun.
  bool wait_until_entered(std::uint64_t n = 1) const {
    return wait_until([&] { return entered() >= n; });
  }
  std::uint64_t stalls() const noexcept { return stalls_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> open_{false};
  std::atomic<std::uint64_t> entered_{0};
  std::atomic<std::uint64_t> stalls_{0};
};

/// shutdown() under a watchdog: if it has not returned within the stall limit (a
/// message that is never handled, a lost wake-up), the watchdog reports the hang and
/// calls stop(), which ends a shutdown that waits for a quiescence that never comes.
template <class W>
absl::Status shutdown_or_fail(WorkerPool<W>& pool) {
  Watchdog guard(stall_limit(), [&pool] {
    ADD_FAILURE() << "shutdown() hangs: the pool never became quiescent; stopping it";
    (void)pool.stop();
  });
  return pool.shutdown();
}

/// Checks the accounting identity that every pool promises once shutdown() or stop()
/// has returned.
inline void expect_balanced(const PoolStats& s) {
  EXPECT_TRUE(s.balanced()) << "accepted " << s.accepted << " != processed " << s.processed << " + failed " << s.failed
                            << " + dropped " << s.dropped;
  EXPECT_EQ(s.in_flight(), 0u);
}

/// Whether `status` carries `code` and mentions `text`, for EXPECT_TRUE with a readable
/// failure.
inline ::testing::AssertionResult has_code_and_mentions(const absl::Status& status, absl::StatusCode code,
                                                        absl::string_view text) {
  if (status.code() != code) {
    return ::testing::AssertionFailure() << "expected code " << absl::StatusCodeToString(code) << ", got " << status;
  }
  if (!absl::StrContains(status.message(), text)) {
    return ::testing::AssertionFailure() << "the message does not mention \"" << text << "\": " << status;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sn::test
