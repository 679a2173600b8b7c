// Helpers for the call tests: call memory that counts its blocks, process CPU time, and
// the owner's side of the mailbox handshake (wait on the doorbell with a time limit).
#pragma once

#include <time.h>

#include <atomic>
#include <cstddef>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "sn/call/detail/call_mailbox.h"
#include "sn/call/detail/call_memory.h"
#include "sn/channel/wait_policy.h"
#include "sn/sync/doorbell.h"
#include "sn/sync/parking_lot.h"

namespace sn::test {

/// Call memory over the global heap that counts blocks, so that a test can check one
/// allocation per call and none left behind.
struct CountingCallMemory {
  static inline std::atomic<long> allocated{0};
  static inline std::atomic<long> released{0};

  static detail::CallMemory get() noexcept {
    return {[](void*, std::size_t bytes, std::size_t alignment) noexcept -> void* {
              allocated.fetch_add(1, std::memory_order_relaxed);
              return ::operator new (bytes, std::align_val_t{alignment}, std::nothrow);
            },
            nullptr,
            [](void* block, std::size_t, std::size_t alignment) noexcept {
              released.fetch_add(1, std::memory_order_relaxed);
              ::operator delete (block, std::align_val_t{alignment});
            }};
  }
  static long live() noexcept { return allocated.load() - released.load(); }
};

/// Call memory that has none: every allocation fails.
inline detail::CallMemory exhausted_call_memory() noexcept {
  return {[](void*, std::size_t, std::size_t) noexcept -> void* { return nullptr; }, nullptr,
          [](void*, std::size_t, std::size_t) noexcept {}};
}

/// CPU time used so far by every thread of this process.
inline absl::Duration process_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

/// What the owner's wait on its doorbell ended with.
enum class MailboxWait { published, would_block, timed_out };

/// The owner's side of the mailbox handshake: parks on `doorbell` (after `policy`'s spins)
/// until `mailbox` has a record, or until `limit` passes.
inline MailboxWait wait_for_mail(const detail::CallMailbox& mailbox, sync::Doorbell& doorbell, bool asymmetric,
                                 absl::Duration limit, const WaitPolicy& policy = WaitPolicy{}) {
  return sync::block_on(doorbell, policy, asymmetric, sync::this_thread_spin_history(), absl::Now() + limit,
                        MailboxWait::would_block, MailboxWait::timed_out,
                        [&] { return mailbox.published() ? MailboxWait::published : MailboxWait::would_block; });
}

}  // namespace sn::test
