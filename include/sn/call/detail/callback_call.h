// Internal: calls whose result goes to a callback instead of a future. The callback runs
// exactly once, with the result, on the thread that delivers the record:
//
//   - inline_sink(): the completing thread delivers at once (the callee's thread, or the
//     thread that failed the call: a deadline, a cancel, a shutdown). The callback form
//     of a call made from outside the pool.
//   - a CallMailbox's sink(): the completing thread pushes the record into the mailbox
//     and its owner delivers it when it takes it, passing a context (a worker's State):
//     how a worker's ctx.call(..., callback) runs its callback on the calling worker.
//
// The callback is f(absl::StatusOr<R>) when Context is void, else
// f(Context&, absl::StatusOr<R>). It must not throw (deliver is noexcept: the runtime
// wraps user callbacks in its fault policy) and must be nothrow move-constructible.
//
// Memory ordering and lifetime: those of the record (call_state.h); the callback is
// moved in at creation and destroyed with the record, by whoever releases it last.
#pragma once

#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/call/detail/call_memory.h"
#include "sn/call/detail/call_state.h"

namespace sn::detail {

template <class R, class F, class Context>
class CallbackCall final : public CallState<R> {
 public:
  static_assert(std::is_nothrow_move_constructible_v<F>, "a call's callback must be nothrow move-constructible");

  CallbackCall(CallMemory::Release free_block, CallSink sink, absl::Time deadline, F&& f) noexcept
      : CallState<R>(free_block, sink, deadline, &kOps), f_(std::move(f)) {}

 private:
  static void deliver_as(CallStateBase& call, void* context) noexcept {
    auto& self = static_cast<CallbackCall&>(call);
    if constexpr (std::is_void_v<Context>) {
      self.f_(std::move(self.result()));
    } else {
      self.f_(*static_cast<Context*>(context), std::move(self.result()));
    }
  }

  static constexpr CallStateBase::Ops kOps{&CallState<R>::fail_as, &deliver_as,
                                           &CallStateBase::template destroy_record<CallbackCall>};

  F f_;
};

/// The sink that delivers on the completing thread (with no context).
inline CallSink inline_sink() noexcept {
  return {[](void*, CallStateBase& call) noexcept { call.deliver(nullptr); }, nullptr};
}

/// Makes a callback call with two references (the waiting side's, for its deadline or
/// its table, and the answering side's, for a Reply). Null when the memory is exhausted.
/// A deadline that has passed completes the call at once with DeadlineExceeded (so with
/// an inline sink the callback has run when this returns).
template <class R, class Context = void, class F>
CallbackCall<R, std::decay_t<F>, Context>* make_callback_call(const CallMemory& memory, CallSink sink,
                                                              absl::Time deadline, F&& f) {
  using Record = CallbackCall<R, std::decay_t<F>, Context>;
  std::decay_t<F> callback(std::forward<F>(f));
  Record* call = make_call_record<Record>(memory, sink, deadline, std::move(callback));
  if (call != nullptr && deadline != absl::InfiniteFuture()) (void)call->expire_if_due(absl::Now());
  return call;
}

}  // namespace sn::detail
