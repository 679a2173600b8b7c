// sn::CallFuture<R>: how a thread outside the pool waits for, or polls, the result of a
// call; and make_call, which makes a future and the Reply that answers it.
//
// The call's deadline is the future's to enforce: ready(), wait*() and get() complete
// the call with DeadlineExceeded once it has passed, so a caller never waits past it and
// no timer is needed for futures. A wait spins for about a microsecond, then parks on a
// futex in the call's record (sn/call/detail/call_state.h): it never spins a core.
//
// A future destroyed before its call completes is safe: the answer, when it comes, is
// written into the record and freed with it, and the callee's Reply sees `delivered`
// (the call did complete; nobody read it). To tell the callee nobody waits, cancel().
//
// WorkerPool::call returns a CallFuture; see docs/workers.md#calls.
//
// Memory ordering: everything the callee did before its answer is visible to the thread
// that sees ready() (or a wait) return true, and so to get().
// Threads: one thread at a time uses a future; it may be moved to another thread.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/call/detail/call_memory.h"
#include "sn/call/detail/call_state.h"
#include "sn/call/reply.h"

namespace sn {

/// The waiting side of one call of reply type R. Move-only.
template <class R>
class CallFuture {
 public:
  /// A future with no call.
  CallFuture() noexcept = default;
  /// For the runtime: takes over one reference to `call`.
  static CallFuture adopt(detail::CallState<R>* call) noexcept { return CallFuture(call); }
  // Move-only (the reference's moves). Destroying or assigning over a future lets go of
  // its call, which is safe while the call is pending: the answer is then freed with it.

  /// Whether it holds a call whose result was not taken by get().
  bool valid() const noexcept { return static_cast<bool>(call_); }
  /// Whether the result is there (past the deadline, this completes the call with
  /// DeadlineExceeded first: one clock read while the call is pending).
  bool ready() noexcept {
    if (!call_ || call_->completed()) return static_cast<bool>(call_);
    (void)call_->expire_if_due(absl::Now());
    return call_->completed();
  }
  /// Waits until ready(): at the latest until the call's deadline.
  void wait() noexcept { (void)wait_until(absl::InfiniteFuture()); }
  /// Waits until ready() or `until`, whichever comes first; returns ready().
  bool wait_until(absl::Time until) noexcept;
  /// Waits until ready() or for `timeout`; returns ready().
  bool wait_for(absl::Duration timeout) noexcept { return wait_until(absl::Now() + timeout); }
  /// Waits, then takes the result; the future is then no longer valid(). On a future
  /// with no call: FailedPrecondition.
  absl::StatusOr<R> get();
  /// Completes the call with Cancelled unless it completed; returns whether it did. The
  /// result (Cancelled, or the answer that won) stays to be taken by get().
  bool cancel() noexcept {
    return call_ && call_->fail(detail::CallErrors::cancelled()) == detail::CompleteResult::completed;
  }
  /// The call's deadline (InfiniteFuture when it has none).
  absl::Time deadline() const noexcept { return !call_ ? absl::InfinitePast() : call_->deadline(); }

 private:
  explicit CallFuture(detail::CallState<R>* call) noexcept
      : call_(detail::OwnedCall<detail::CallState<R>>::adopt(call)) {}

  detail::OwnedCall<detail::CallState<R>> call_;
};

/// A future and the Reply that answers it.
template <class R>
struct CallPair {
  CallFuture<R> future;  ///< For the caller.
  Reply<R> reply;        ///< For the callee.
};

/// Starts a call with `deadline` (InfiniteFuture for none): one allocation from
/// `memory`. ResourceExhausted when there is no memory. A deadline that has passed
/// already completes the call at once with DeadlineExceeded (the reply is then too_late).
template <class R>
absl::StatusOr<CallPair<R>> make_call(absl::Time deadline,
                                      const detail::CallMemory& memory = detail::CallMemory::global()) {
  auto* call = detail::make_call_record<detail::CallState<R>>(memory, detail::CallSink{}, deadline);
  if (call == nullptr) return absl::ResourceExhaustedError("sn::make_call: no memory for the call's record");
  if (deadline != absl::InfiniteFuture()) (void)call->expire_if_due(absl::Now());
  return CallPair<R>{CallFuture<R>::adopt(call), Reply<R>::adopt(call)};
}

// ---------------------------------------------------------------- definitions

template <class R>
bool CallFuture<R>::wait_until(absl::Time until) noexcept {
  if (!call_) return false;
  const absl::Time due = call_->deadline();
  if (until < due) return call_->wait_until(until);
  if (call_->wait_until(due)) return true;
  (void)call_->expire_if_due(absl::Now());
  // Completed now, by this thread or by an answer that claimed the call first and is
  // between its claim and its publish: a short wait either way.
  return call_->wait_until(absl::InfiniteFuture());
}

template <class R>
absl::StatusOr<R> CallFuture<R>::get() {
  if (!call_) {
    return absl::FailedPreconditionError("sn::CallFuture::get: no call (moved from, or the result was taken)");
  }
  wait();
  absl::StatusOr<R> result = std::move(call_->result());
  call_.reset();
  return result;
}

}  // namespace sn
