// sn::WorkerContext: a worker's view of its pool while it runs: who it is, its memory,
// sends to other workers, and timers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/channel/result.h"
#include "sn/detail/alternative.h"
#include "sn/partitioners/key.h"
#include "sn/pool/detail/outbox.h"
#include "sn/pool/detail/polled_sources.h"
#include "sn/pool/detail/send_path.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/timers.h"
#include "sn/pool/detail/worker_calls.h"
#include "sn/worker/arena.h"
#include "sn/worker/heap.h"
#include "sn/worker/polled_source.h"
#include "sn/worker/timer_id.h"

namespace sn {

namespace detail {
template <class W>
class WorkerLoop;
}  // namespace detail

/// What a handler can reach besides its State. Obtained from Worker::context(); valid on
/// the worker's own thread while the worker runs (init, on_start, handle_message, tick,
/// on_stop). Not thread-safe: it belongs to that thread.
template <class M>
class WorkerContext : public detail::SendOverloads<WorkerContext<M>, M> {
  using Overloads = detail::SendOverloads<WorkerContext<M>, M>;

 public:
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  using Overloads::send;
  using Overloads::send_to;

  /// This worker's index: its slot, in [0, max_workers). Without resizes the workers
  /// are 0..pool_size()-1; after a remove_worker() the indices may have gaps.
  std::size_t index() const noexcept { return index_; }
  /// The number of workers running now.
  std::size_t pool_size() const noexcept { return shared_.active.load(std::memory_order_relaxed); }
  /// Whether this worker owns `key` under the pool's partitioner (as send(key) routes).
  bool owns(std::uint64_t key) const { return shared_.router.owner(key) == index_; }
  /// This worker's thread name.
  const std::string& name() const noexcept { return shared_.cores[index_]->config.name; }
  /// The CPU this worker is pinned to, or -1.
  int cpu() const noexcept { return shared_.cores[index_]->config.cpu; }

  /// Scratch memory for this iteration; reset after tick().
  TickArena& arena() noexcept { return arena_; }
  /// This worker's own heap, for long-lived data (see HeapAllocator).
  WorkerHeap& heap() noexcept { return heap_; }
  /// The heap as a std::pmr::memory_resource, for std::pmr containers.
  std::pmr::memory_resource* memory_resource() noexcept { return heap_.resource(); }

  /// Sends to the worker that owns `key` under the pool's partitioner.
  /// Never waits. `ok`: accepted (in the lane, or in this worker's outbox under
  /// FullPolicy::block); `full` (FullPolicy::fail) and `closed` (the pool is stopping)
  /// leave the value with the caller; `dropped` (FullPolicy::drop) destroyed it.
  SendResult send(std::uint64_t key, M&& msg) noexcept {
    if (shared_.remote != nullptr) [[unlikely]] {
      if (const std::optional<SendResult> r = shared_.remote->forward(key, msg, true)) return *r;
    }
    return outbox_.send(shared_.router.route(key).worker, msg, key);
  }
  /// Sends to worker `index` (this worker included), with `key` for the envelope.
  /// As send(); `invalid` when there is no such worker.
  SendResult send_to(std::size_t index, M&& msg, std::uint64_t key = 0) noexcept {
    return outbox_.send(index, msg, key);
  }

  /// Messages waiting in this worker's outbox (sent under FullPolicy::block while the
  /// destination lane was full).
  std::size_t outbox_size() const noexcept { return outbox_.pending(); }

  /// Sends `msg` to the owner of `key` after `delay`: the owner when it fires, so a key
  /// that moved in a resize meanwhile reaches its new owner. A delay of zero or less
  /// fires at the end of the batch in progress (or the next one); a timer never fires early. This worker
  /// holds the timer; when it fires its message counts as accepted (a send from this
  /// worker). Returns an invalid id when the timer cannot be made (out of memory).
  TimerId send_after(absl::Duration delay, std::uint64_t key, M msg) noexcept {
    return timers_.schedule(to_ns(delay), key, std::move(msg), 0);
  }
  /// Sends a copy of `msg` to the owner of `key` every `period`, the first after one
  /// period, until cancel(). A worker busy past a period skips the missed firings.
  /// InvalidArgument for a period of zero or less; ResourceExhausted when out of memory.
  absl::StatusOr<TimerId> send_every(absl::Duration period, std::uint64_t key,
                                     M msg) requires std::is_copy_constructible_v<M> {
    if (period <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("sn::WorkerContext::send_every: the period must be positive");
    }
    const std::int64_t ns = to_ns(period);
    TimerId id = timers_.schedule(ns, key, std::move(msg), ns);
    if (!id.valid()) return absl::ResourceExhaustedError("sn::WorkerContext::send_every: no memory for the timer");
    return id;
  }
  /// Cancels a timer of this pool (made by any worker or thread) that has not fired yet;
  /// a periodic one stops. False for an id that fired, was cancelled, or names nothing.
  bool cancel(TimerId id) noexcept { return timers_.cancel(id); }

  /// Asks the owner of `key` for an answer: it runs its handle_call for `request` (the
  /// pool's Message, or one of its alternatives), and `callback(State&,
  /// absl::StatusOr<R>)` runs once, later, on this worker's thread (never inside this
  /// call), with the reply or: DeadlineExceeded once `deadline` has passed (zero or less:
  /// at once); Unavailable when the callee is removed or the pool stops (and for calls
  /// made from on_stop, whose callback runs at once); InvalidArgument when the callee
  /// answers another reply type; Unimplemented when it has no handle_call for the
  /// request; or the callee's own error (its status, or "threw: " and the exception's
  /// text). Never waits: requests and replies travel outside the lanes and are never
  /// refused for lack of room. The callback must be a lambda (or class) taking (State&,
  /// absl::StatusOr<R>), movable without throwing; a throw from it is a fault
  /// (FaultSite::call_callback).
  template <class R, class Req, class F>
  void call(std::uint64_t key, Req&& request, absl::Duration deadline, F&& callback) noexcept {
    using Q = std::remove_cvref_t<Req>;
    static_assert(std::is_same_v<Q, M> || detail::IsAlternativeOf<Q, M>,
                  "sn::WorkerContext::call: the request must be the pool's Message or one of its alternatives");
    using State = typename detail::CallbackArgs<std::decay_t<F>>::State;
    static_assert(std::is_invocable_v<std::decay_t<F>&, State&, absl::StatusOr<R>>,
                  "sn::WorkerContext::call: the callback must take (State&, absl::StatusOr<R>)");
    calls_.template start<R, State>(key, M(std::forward<Req>(request)), deadline, std::forward<F>(callback));
  }

  /// Makes this worker poll `source` too, until it is finished() or the worker stops
  /// (see sn/worker/polled_source.h): its messages are handled like the inbox's, in this
  /// worker. InvalidArgument for a null source; ResourceExhausted when out of memory.
  absl::Status add_source(std::unique_ptr<PolledSource<M>> source) {
    if (source == nullptr) return absl::InvalidArgumentError("sn::WorkerContext::add_source: the source is null");
    try {
      polled_.add(std::move(source));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("sn::WorkerContext::add_source: no memory for the source");
    }
    return absl::OkStatus();
  }
  /// Sources this worker polls now.
  std::size_t source_count() const noexcept { return polled_.size(); }

 private:
  template <class W>
  friend class detail::WorkerLoop;
  friend Overloads;

  WorkerContext(std::size_t index, detail::PoolShared<M>& shared, WorkerHeap& heap, TickArena& arena,
                detail::Outbox<M>& outbox, detail::WorkerTimers<M>& timers, detail::WorkerCalls<M>& calls,
                detail::PolledSources<M>& polled) noexcept
      : index_(index),
        shared_(shared),
        heap_(heap),
        arena_(arena),
        outbox_(outbox),
        timers_(timers),
        calls_(calls),
        polled_(polled) {}

  static std::int64_t to_ns(absl::Duration d) noexcept {
    return d >= absl::Nanoseconds(INT64_MAX / 2) ? INT64_MAX / 2 : absl::ToInt64Nanoseconds(d);
  }
  template <class Fn>
  void for_each_target(Fn&& fn) {
    for (std::size_t j = 0; j < shared_.size(); ++j) {
      if (shared_.accepts(j)) fn(j);
    }
  }

  std::size_t index_;
  detail::PoolShared<M>& shared_;
  WorkerHeap& heap_;
  TickArena& arena_;
  detail::Outbox<M>& outbox_;
  detail::WorkerTimers<M>& timers_;
  detail::WorkerCalls<M>& calls_;
  detail::PolledSources<M>& polled_;
};

}  // namespace sn
