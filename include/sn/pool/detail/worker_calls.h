// Internal: the calls one worker makes (WorkerContext::call) and the two sources through
// which calls reach its loop: RequestSource (requests for it, from anyone) and ReplySource
// (its own calls, completed, and their deadlines). See calls.h for the whole path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/call/detail/callback_call.h"
#include "sn/pool/detail/calls.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/timers.h"
#include "sn/worker/heap.h"

namespace sn::detail {

std::string describe_current_exception();

/// The State type a call's callback takes: f(State&, absl::StatusOr<R>).
template <class F>
struct CallbackArgs : CallbackArgs<decltype(&F::operator())> {};
template <class C, class Ret, class S, class Result>
struct CallbackArgs<Ret (C::*)(S&, Result) const> {
  using State = S;
};
template <class C, class Ret, class S, class Result>
struct CallbackArgs<Ret (C::*)(S&, Result)> {
  using State = S;
};
template <class C, class Ret, class S, class Result>
struct CallbackArgs<Ret (C::*)(S&, Result) const noexcept> {
  using State = S;
};
template <class C, class Ret, class S, class Result>
struct CallbackArgs<Ret (C::*)(S&, Result) noexcept> {
  using State = S;
};

/// What a delivered callback is given besides the result: the caller's State (null when
/// it has none: the callback is skipped), its counters, and where an exception goes.
struct CallbackContext {
  void* state = nullptr;
  CoreBase* core = nullptr;
  absl::Status threw;  // set when the user's callback threw

  void count(const absl::Status& s) noexcept {
    if (s.ok()) {
      core->owned.calls_completed.add(1);
    } else if (absl::IsDeadlineExceeded(s)) {
      core->owned.calls_timed_out.add(1);
    } else {
      core->owned.calls_failed.add(1);
    }
  }
};

/// Wraps a user callback: counts the outcome, skips it without a State, catches a throw.
template <class State, class R, class F>
auto guarded_callback(F&& f) {
  return [f = std::forward<F>(f)](CallbackContext& ctx, absl::StatusOr<R> result) mutable noexcept {
    ctx.count(result.status());
    if (ctx.state == nullptr) return;
    try {
      f(*static_cast<State*>(ctx.state), std::move(result));
    } catch (...) {
      ctx.threw = absl::InternalError(describe_current_exception());
    }
  };
}

/// The steady-clock ns of an absl::Time (for a source's next_deadline).
inline std::int64_t steady_ns_of(absl::Time t) noexcept {
  if (t == absl::InfiniteFuture()) return INT64_MAX;
  const absl::Duration left = t - absl::Now();
  if (left <= absl::ZeroDuration()) return steady_now_ns();
  if (left >= absl::Hours(24 * 365)) return INT64_MAX;
  return steady_now_ns() + absl::ToInt64Nanoseconds(left);
}

/// A call's absolute deadline; a duration beyond any clock is no deadline.
inline absl::Time call_deadline(absl::Duration d) noexcept {
  return d >= absl::Hours(24 * 365 * 100) ? absl::InfiniteFuture() : absl::Now() + d;
}

/// Hands `request` to the key's owner with the answering reference `call` (which it
/// fails, Unavailable, when no worker takes that key now). Any thread; `memory` is the
/// caller's; `reply_by_ring`: the caller is worker `from` and takes answers by value.
template <class M>
void send_request(PoolShared<M>& shared, const CallMemory& memory, std::uint64_t key, M&& request, Source from,
                  bool reply_by_ring, CallStateBase* call) noexcept {
  RequestParcel<M> parcel(std::move(request), key, from, reply_by_ring, call);
  const std::size_t to = shared.router.route(key).worker;
  if (!shared.accepts(to)) return;  // the parcel fails its call as it goes (Unavailable)
  shared.cores[to]->requests.push(std::move(parcel), memory);
}

/// The calls worker `index` makes. Worker thread only.
template <class M>
class WorkerCalls {
 public:
  WorkerCalls(PoolShared<M>& shared, std::size_t index, WorkerHeap& heap)
      : shared_(shared), core_(*shared.cores[index]), index_(index), heap_(heap), table_(heap.resource()) {}

  /// Starts a call; `callback(State&, StatusOr<R>)` runs once, on this thread, from the
  /// loop (or at once when calls are refused: on_stop, a resize step).
  template <class R, class State, class F>
  void start(std::uint64_t key, M&& request, absl::Duration deadline, F&& callback) noexcept {
    core_.owned.calls_started.add(1);
    auto wrapped = guarded_callback<State, R>(std::forward<F>(callback));
    if (refusing_) {
      CallbackContext ctx = context();
      wrapped(ctx, absl::StatusOr<R>(CallErrors::unavailable()));
      return;
    }
    const absl::Time due = call_deadline(deadline);
    auto* record =
        make_callback_call<R, CallbackContext>(CallMemory::heap(heap_), core_.replies.sink(), due, std::move(wrapped));
    if (record == nullptr) {  // out of memory: the callback is gone with its record
      core_.owned.calls_failed.add(1);
      return;
    }
    record->call_key = key;
    record->late_answers = &shared_.reply_late;
    CallRef waiting = CallRef::adopt(record);
    if (!table_.insert(waiting, due)) {
      (void)record->fail(absl::ResourceExhaustedError("sn: no memory for the call's table entry"));
      (void)waiting.leak();  // the reply source adopts a record it finds without a table id
    }
    if (record->completed()) {  // a deadline of zero or less: nothing to send
      record->release();
      return;
    }
    send_request(shared_, CallMemory::heap(heap_), key, std::move(request), Source::worker(index_), true, record);
  }

  /// Delivers every completed call waiting in the mailbox, after expiring due deadlines.
  /// Returns how many callbacks ran; `fault` gets each callback's exception.
  template <class Fault>
  std::size_t deliver(Fault&& fault) noexcept {
    if (has_deadlines() && deadline_due()) table_.expire_due(absl::Now());
    // Runs the callback of `c`, then drops the caller's reference and `held` more.
    auto run = [&](CallStateBase& c, std::uint32_t held) {
      CallRef ref = c.table_id() == 0 ? CallRef::adopt(&c) : table_.take(c.table_id());
      CallbackContext ctx = context();
      c.deliver(&ctx);
      if (!ctx.threw.ok()) fault(std::move(ctx.threw));
      if (ref) held += 1;
      (void)ref.leak();
      if (held != 0) c.release(held);
    };
    std::size_t ran = 0;
    (void)core_.reply_rx.consume(static_cast<std::size_t>(-1), [&](ReplyParcel&& p) {
      CallStateBase& c = *p.call();
      if (p.settle() == CompleteResult::refused) {  // a deadline or the stop completed it first
        core_.owned.late_replies.add(1);
        const LateLetterTo<M> to{core_.dead_letters, c.call_key, index_};
        p.late(&to);
        c.release();  // the answering reference
        return;
      }
      run(c, 1);  // with the answering reference
      ++ran;
    });
    return ran + core_.replies.take_all([&](CallStateBase& c) { run(c, 0); });
  }
  bool deadline_due() const noexcept { return table_.next_deadline() <= absl::Now(); }
  bool has_deadlines() const noexcept { return table_.next_deadline() != absl::InfiniteFuture(); }
  std::int64_t next_deadline_ns() const noexcept { return steady_ns_of(table_.next_deadline()); }

  /// At stop: fails every pending call (Unavailable) and runs the callbacks of all, in
  /// this thread, before on_stop. Calls made from here on complete at once, Unavailable.
  template <class Fault>
  void finish(Fault&& fault) noexcept {
    refusing_ = true;
    table_.fail_all();
    for (int spins = 0; !table_.empty(); ++spins) {
      if (deliver(fault) == 0) sync::cpu_relax();  // another thread is completing one
      if (spins > 1000) std::this_thread::yield();
    }
    (void)deliver(fault);
  }

  void set_refusing(bool on) noexcept { refusing_ = on; }
  /// Where the caller's State lives now (null without one); set by the loop.
  void set_state(void* state) noexcept { state_ = state; }

 private:
  CallbackContext context() noexcept { return CallbackContext{state_, &core_, absl::OkStatus()}; }

  PoolShared<M>& shared_;
  WorkerCore<M>& core_;
  std::size_t index_;
  WorkerHeap& heap_;
  CallTable table_;
  void* state_ = nullptr;
  bool refusing_ = false;
};

}  // namespace sn::detail
