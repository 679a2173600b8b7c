// Internal: the two sources through which calls reach a worker's loop (see calls.h).
//   RequestSource  requests for this worker, from any thread: runs handle_call;
//   ReplySource    this worker's own calls, completed (or past their deadline): runs
//                  their callbacks with its State.
// Both drain their whole mailbox at once (a mailbox is taken whole; see call_mailbox.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sn/pool/detail/calls.h"
#include "sn/pool/detail/core.h"
#include "sn/pool/detail/dispatch.h"
#include "sn/pool/detail/worker_calls.h"

namespace sn::detail {

template <class W>
class RequestSource {
  using M = typename W::message_type;

 public:
  RequestSource(WorkerCore<M>& core, Dispatcher<W>& dispatcher) noexcept : core_(core), dispatcher_(dispatcher) {}

  bool ready() const noexcept { return core_.requests.published(); }
  bool published() const noexcept { return ready(); }
  std::int64_t next_deadline() const noexcept { return INT64_MAX; }

  template <class Take>
  std::size_t drain(std::size_t, Take& take) noexcept {
    if (!ready()) [[likely]]
      return 0;
    take.busy();
    return core_.requests.take_all([&](RequestParcel<M>& r) { dispatcher_.take_call(r); });
  }

 private:
  WorkerCore<M>& core_;
  Dispatcher<W>& dispatcher_;
};

template <class W>
class ReplySource {
  using M = typename W::message_type;

 public:
  ReplySource(WorkerCore<M>& core, WorkerCalls<M>& calls, Dispatcher<W>& dispatcher) noexcept
      : core_(core), calls_(calls), dispatcher_(dispatcher) {}

  bool ready() const noexcept { return published() || (calls_.has_deadlines() && calls_.deadline_due()); }
  /// Answers and completions pushed by other threads; the deadlines are next_deadline() instead.
  bool published() const noexcept { return core_.reply_rx.ready() || core_.replies.published(); }
  std::int64_t next_deadline() const noexcept { return calls_.has_deadlines() ? calls_.next_deadline_ns() : INT64_MAX; }

  template <class Take>
  std::size_t drain(std::size_t, Take& take) noexcept {
    if (!ready()) [[likely]]
      return 0;
    take.busy();
    calls_.set_state(dispatcher_.state_or_null());
    return calls_.deliver([&](absl::Status why) { dispatcher_.callback_fault(std::move(why)); });
  }

 private:
  WorkerCore<M>& core_;
  WorkerCalls<M>& calls_;
  Dispatcher<W>& dispatcher_;
};

}  // namespace sn::detail
