// sn::WorkerPool: runs one Worker per thread (pinned, if asked), routes keyed messages to
// them, fires their timers, and shuts them down without losing any message.
//
// The facade. Its parts live in sn/pool/detail/: the slots and their channels (core.h),
// routing (router.h), the send path (send_path.h, outbox.h, send_gate.h), the worker's
// loop and its sources (loop.h, sources.h, dispatch.h, timers.h), and the type-free
// lifecycle, quiescence and resize protocol (pool_base.h, defined in src/pool/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "sn/call/detail/callback_call.h"
#include "sn/call/future.h"
#include "sn/channel/channel.h"
#include "sn/channel/result.h"
#include "sn/detail/perturb.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/partitioner.h"
#include "sn/partitioners/resizable.h"
#include "sn/pool/config.h"
#include "sn/pool/detail/call_dispatch.h"
#include "sn/pool/detail/create_checks.h"
#include "sn/pool/detail/loop.h"
#include "sn/pool/detail/pool_base.h"
#include "sn/pool/detail/send_path.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/worker_calls.h"
#include "sn/pool/stats.h"
#include "sn/worker/context.h"
#include "sn/worker/timer_id.h"
#include "sn/worker/worker_type.h"

/// shared_nothing: channels, worker pools, partitioners and monitoring.
namespace sn {

template <class W>
class ClusterPool;  // sn/cluster/cluster_pool.h: a WorkerPool on every rank of an MPI job

/// A pool of workers of type W, one thread each.
///
/// Threads: send(), send_to(), broadcast(), the timer calls, stats() and status() may be
/// called from any thread, concurrently, while the pool runs. shutdown(), stop() and the
/// resizes may be called from any thread except the pool's own workers; the first
/// shutdown or stop does the work and later calls return at once. Nothing may be called
/// while the pool is being destroyed.
///
/// Messages: every message the pool accepts is handled (processed or failed) or counted as
/// dropped; PoolStats says which. A send that is refused hands the value back.
template <class W>
class WorkerPool final : public detail::PoolBase,
                         public detail::SendOverloads<WorkerPool<W>, typename W::message_type> {
  // A std::variant Message handled alternative by alternative reports each alternative
  // that has no handler, by name; the general message is for everything else.
  static_assert(WorkerType<W> || !detail::kAlternativesChecked<W>,
                "W must derive from sn::Worker<State, Message> and define "
                "handle_message(State&, sn::Envelope<Message>) (with a std::variant Message: or one "
                "handle_message(State&, sn::Envelope<T>) per alternative T) or "
                "handle_batch(State&, std::span<sn::Envelope<Message>>), returning void or absl::Status");
  using Overloads = detail::SendOverloads<WorkerPool<W>, typename W::message_type>;

 public:
  using worker_type = W;                     ///< The worker class.
  using State = typename W::state_type;      ///< Each worker's state.
  using Message = typename W::message_type;  ///< What the workers handle.

  /// Creates the pool and starts its workers. Returns once every worker has built its
  /// State and run on_start, or with the first error (bad config, placement, init) after
  /// stopping the workers that did start.
  ///
  /// `partitioner(key, n)` picks the worker for send(key, ...); see sn::Partitioner. One
  /// that models sn::ResizablePartitioner (ConsistentHashPartitioner,
  /// RendezvousPartitioner) makes the pool resizable; its ids must be 0..num_workers-1.
  /// `factory(index)` makes worker `index`, returning W or std::unique_ptr<W>; it is
  /// called here, on the calling thread, once per worker, in index order. The pool keeps
  /// it (moved in) for add_worker(), which calls it on the resizing thread.
  ///
  /// Arguments of other kinds (the two swapped, a factory that takes no index or returns
  /// another type) fail to compile with one static_assert that names the fix.
  template <class P, class Factory>
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create(const PoolConfig& config, P partitioner,
                                                            Factory&& factory) {
    if constexpr (detail::create_arguments_ok<W, P, Factory>()) {
      return create_pool(config, std::move(partitioner), std::forward<Factory>(factory));
    } else {
      return absl::InternalError("unreachable: a static_assert refused the arguments");
    }
  }
  /// With one argument after the config: a partitioner (sn::Partitioner or
  /// sn::ResizablePartitioner), and workers made by W's default constructor; or a factory,
  /// and the stable HashPartitioner.
  template <class PartitionerOrFactory>
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create(const PoolConfig& config, PartitionerOrFactory&& second) {
    if constexpr (!detail::AnyPartitioner<std::decay_t<PartitionerOrFactory>>) {
      return create(config, HashPartitioner{}, std::forward<PartitionerOrFactory>(second));
    } else if constexpr (detail::default_constructible_worker<W>()) {
      return create(config, std::forward<PartitionerOrFactory>(second), default_factory);
    } else {
      return absl::InternalError("unreachable: a static_assert refused the arguments");
    }
  }
  /// With the stable HashPartitioner and workers made by W's default constructor.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create(const PoolConfig& config) {
    if constexpr (detail::default_constructible_worker<W>()) {
      return create(config, HashPartitioner{}, default_factory);
    } else {
      return absl::InternalError("unreachable: a static_assert refused the arguments");
    }
  }

  /// Shuts down gracefully (see shutdown()).
  ~WorkerPool() { (void)shutdown(); }

  using Overloads::send;
  using Overloads::send_to;

  /// Sends `msg` to the worker that owns `key`. Under FullPolicy::block this waits while
  /// that worker's inbox is full, or while a resize runs (from a worker's own thread it
  /// never waits: see WorkerContext::send). Results: `ok`; `full` (FullPolicy::fail) and
  /// `closed` (shut down or stopped) leave the value with the caller; `dropped`
  /// (FullPolicy::drop) passed it to the dead-letter sink, or destroyed it.
  SendResult send(std::uint64_t key, Message&& msg) noexcept {
    if (shared_->remote != nullptr) [[unlikely]] {  // a ClusterPool's: the key may live on another rank
      if (detail::t_current_pool == shared_) return context()->send(key, std::move(msg));
      if (const std::optional<SendResult> r = shared_->remote->forward(key, msg, false)) return *r;
    }
    if (shared_->resizable()) [[unlikely]] {
      if (detail::t_current_pool == shared_) return context()->send(key, std::move(msg));
      return send_through_gate(key, true, 0, msg);
    }
    if (detail::t_current_pool == shared_) [[unlikely]]
      return context()->send(key, std::move(msg));
    return push_external(shared_->router.route(key).worker, msg, key);
  }
  /// Sends to worker `index`; as send(), plus `invalid` when no worker runs there (checked
  /// first: an index out of range is `invalid` after shutdown too).
  SendResult send_to(std::size_t index, Message&& msg, std::uint64_t key = 0) noexcept {
    if (detail::t_current_pool == shared_) [[unlikely]]
      return context()->send_to(index, std::move(msg), key);
    if (shared_->resizable()) [[unlikely]]
      return send_through_gate(key, false, index, msg);
    return push_external(index, msg, key);
  }

  /// Sends `msg` to the owner of `key` after `delay`, from any thread (see
  /// WorkerContext::send_after: the owner when it fires, never early, counted as
  /// accepted when it fires). The key's current owner holds the timer. Returns an
  /// invalid id when the pool has stopped or is out of memory (counted as rejected).
  TimerId send_after(absl::Duration delay, std::uint64_t key, Message msg) noexcept {
    if (detail::t_current_pool == shared_) [[unlikely]]
      return context()->send_after(delay, key, std::move(msg));
    return schedule_external(delay, key, std::move(msg), 0);
  }
  /// Sends a copy of `msg` to the owner of `key` every `period`, from any thread.
  /// InvalidArgument for a period of zero or less; FailedPrecondition once the pool has
  /// stopped; ResourceExhausted when out of memory.
  absl::StatusOr<TimerId> send_every(absl::Duration period, std::uint64_t key,
                                     Message msg) requires std::is_copy_constructible_v<Message> {
    if (detail::t_current_pool == shared_) [[unlikely]]
      return context()->send_every(period, key, std::move(msg));
    if (period <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("sn::WorkerPool::send_every: the period must be positive");
    }
    const std::int64_t ns = absl::ToInt64Nanoseconds(std::min(period, absl::Hours(24 * 365 * 100)));
    TimerId id = schedule_external(period, key, std::move(msg), ns);
    if (id.valid()) return id;
    if (!running()) return absl::FailedPreconditionError("sn::WorkerPool::send_every: the pool has stopped");
    return absl::ResourceExhaustedError("sn::WorkerPool::send_every: no memory for the timer");
  }
  /// Cancels a timer of this pool that has not fired yet (a periodic one stops), from any
  /// thread. False for an id that fired, was cancelled, or names nothing.
  bool cancel(TimerId id) noexcept {
    const std::int64_t slab = shared_->timers->cancel(id);
    if (slab < 0) return false;
    detail::PoolState::count_cancelled(shared_, static_cast<std::uint32_t>(slab));
    return true;
  }

  /// Adds a worker in the lowest free slot, made by the factory given to create(), and
  /// moves to it the keys the partitioner now gives it, with their state (see
  /// sn/worker/handoff.h). Returns once the new worker takes messages.
  ///
  /// How: external sends wait at a gate; the pool drains to quiescence, so every message
  /// sent before is handled by its old owner; the old owners export the state of the
  /// keys that leave them and the new owners import it; the routing changes; the gate
  /// opens. So no message is handled by a worker that does not own its key, none is
  /// lost, and each producer's messages for a key keep their order. Timers wait while
  /// the pool drains; those of a removed worker go to another worker.
  ///
  /// `drain_limit` bounds the wait for the pool to become idle (handlers that keep
  /// sending to each other never let it); then DeadlineExceeded, with nothing changed.
  ///
  /// Errors, each leaving the pool as it was: FailedPrecondition when the pool's
  /// partitioner is not resizable or the pool has stopped; ResourceExhausted when all
  /// max_workers slots run; the factory's or the new worker's init()/on_start() error;
  /// DeadlineExceeded; Aborted when the pool stopped meanwhile. An export_state or
  /// import_state hook that throws does not undo the resize: the result is OK and the
  /// report's hook_failures/hook_error tell (under FaultPolicy::stop_pool the pool then
  /// stops). Any thread but the pool's workers (from a worker: FailedPrecondition);
  /// resizes, shutdown() and stop() run one at a time.
  absl::StatusOr<ResizeReport> add_worker(absl::Duration drain_limit = absl::InfiniteDuration()) {
    return PoolBase::add_worker(drain_limit);
  }
  /// Removes worker `index`: its keys, with their state, go to the workers the
  /// partitioner now gives them (the protocol of add_worker()); then it runs on_stop and
  /// its thread ends. A later add_worker() may reuse the slot.
  ///
  /// Errors: as add_worker(); NotFound when no worker runs in slot `index`;
  /// FailedPrecondition for the last worker.
  absl::StatusOr<ResizeReport> remove_worker(std::size_t index, absl::Duration drain_limit = absl::InfiniteDuration()) {
    return PoolBase::remove_worker(index, drain_limit);
  }

  /// Graceful shutdown: refuses new external sends (`closed`), lets the workers handle
  /// every message already accepted, including those they send each other while draining,
  /// then cancels the timers still pending (counted in PoolStats::timers_cancelled), runs
  /// on_stop on each worker and joins the threads. Returns the first fault that stopped
  /// the pool (FaultPolicy::stop_pool, or an init failure on restart), else OK.
  /// From one of the pool's own workers it does nothing and returns FailedPrecondition:
  /// the drain would wait for the calling worker's own batch to end.
  absl::Status shutdown() { return PoolBase::shutdown(); }
  /// Stops every worker after its current batch, cancels pending timers, runs on_stop on
  /// each and joins the threads. Returns how many accepted messages were left unhandled;
  /// they are counted as dropped and passed to the dead-letter sink (or destroyed). Later
  /// calls return 0.
  /// From one of the pool's own workers it only asks every worker to stop after its
  /// current batch and returns 0 (a thread cannot join itself): the next shutdown(),
  /// stop() or the destructor, from outside, joins them and counts what was left.
  std::uint64_t stop() { return PoolBase::stop(); }

  /// Asks the owner of `key` for an answer, from any thread: it runs its handle_call for
  /// `request` (the Message or one of its alternatives; W must have a handle_call for
  /// it that answers R, checked at compile time). The future's get() waits (spinning a
  /// few microseconds, then asleep in the kernel) for the reply, DeadlineExceeded once
  /// `deadline` has passed (zero or less: at once), Unavailable (the pool stops or the
  /// callee is removed), or the callee's error; wait_until() and ready() bound or avoid
  /// the wait. An invalid future (get() says FailedPrecondition) only when out of memory.
  template <class R, class Req>
  CallFuture<R> call(std::uint64_t key, Req&& request, absl::Duration deadline) noexcept {
    using Q = std::remove_cvref_t<Req>;
    check_call<R, Q>();
    const absl::Time due = detail::call_deadline(deadline);
    auto* record =
        detail::make_call_record<detail::CallState<R>>(detail::CallMemory::global(), detail::CallSink{}, due);
    if (record == nullptr) return {};
    if (due != absl::InfiniteFuture()) (void)record->expire_if_due(absl::Now());
    post_call(key, Message(std::forward<Req>(request)), record);
    return CallFuture<R>::adopt(record);
  }
  /// As call() above, but `callback(absl::StatusOr<R>)` runs once instead, on the thread
  /// that completes the call: the callee's worker, or the caller's own thread when the
  /// call fails at once. The deadline is checked when the callee takes the request (one
  /// past it is DeadlineExceeded and not run); for a deadline that holds however slow the
  /// callee is, wait on a future. A throw from the callback is
  /// caught and counted in hook_faults.
  template <class R, class Req, class F>
  void call(std::uint64_t key, Req&& request, absl::Duration deadline, F&& callback) noexcept {
    using Q = std::remove_cvref_t<Req>;
    check_call<R, Q>();
    detail::PoolState* state = shared_;
    auto guarded = [f = std::forward<F>(callback), state](absl::StatusOr<R> result) mutable noexcept {
      try {
        f(std::move(result));
      } catch (...) {
        state->hook_faults.fetch_add(1, std::memory_order_relaxed);
      }
    };
    auto* record = detail::make_callback_call<R>(detail::CallMemory::global(), detail::inline_sink(),
                                                 detail::call_deadline(deadline), std::move(guarded));
    if (record == nullptr) return;
    post_call(key, Message(std::forward<Req>(request)), record);  // takes the answering side's reference
    record->release();  // the waiting side's: nobody waits, the sink delivers on completion
  }

  /// Puts worker `index`, isolated by a fault (FaultPolicy::isolate, or a RestartLimit
  /// escalating to it), back in service: it builds a new State with init() and starts a
  /// fresh restart window. Asynchronous: the worker does it at the top of its next loop
  /// iteration (WorkerStats::isolated turns false then; if init() fails it stays isolated
  /// and the fault is reported). Messages it was sent while isolated stay dropped.
  /// NotFound when no worker runs in slot `index`; FailedPrecondition when it is not
  /// isolated or the pool is stopping. Any thread.
  absl::Status revive(std::size_t index) { return PoolBase::revive(index); }

  /// The number of workers running now.
  std::size_t size() const noexcept { return PoolBase::size(); }
  /// Worker slots: PoolConfig::max_workers (or num_workers). Worker indices are slots.
  std::size_t capacity() const noexcept { return PoolBase::capacity(); }
  /// Whether a worker runs in slot `index` and takes messages. After shutdown() or stop(),
  /// size() and has_worker() still report the workers as they last ran; see running().
  bool has_worker(std::size_t index) const noexcept { return PoolBase::has_worker(index); }
  /// Whether the pool still takes messages.
  bool running() const noexcept { return PoolBase::running(); }
  /// The first fault that stopped the pool, or OK.
  absl::Status status() const { return PoolBase::status(); }
  /// A snapshot of every worker and the totals, readable from any thread at any time.
  PoolStats stats() const { return PoolBase::stats(); }
  /// Bytes of address space the pool's channel rings reserve, for every slot (max_workers):
  /// the formula in docs/tuning.md ("Memory"). Memory is committed as slots are first
  /// written, so an idle pool's resident size is far smaller. Any thread.
  std::uint64_t ring_bytes() const noexcept { return PoolBase::ring_bytes(); }

 private:
  friend Overloads;
  friend class ClusterPool<W>;
  using Shared = detail::PoolShared<Message>;
  using Piece = typename detail::LoopEnv<W>::Piece;

  explicit WorkerPool(std::unique_ptr<Shared> shared)
      : PoolBase(std::move(shared)), shared_(static_cast<Shared*>(state_.get())) {}

  WorkerContext<Message>* context() const noexcept {
    return static_cast<WorkerContext<Message>*>(detail::t_current_context);
  }
  template <class Fn>
  void for_each_target(Fn&& fn) {
    for (std::size_t j = 0; j < shared_->size(); ++j) {
      if (shared_->accepts(j)) fn(j);
    }
  }

  SendResult push_external(std::size_t index, Message& msg, std::uint64_t key) noexcept;
  SendResult send_through_gate(std::uint64_t key, bool by_key, std::size_t index, Message& msg) noexcept;
  void post_call(std::uint64_t key, Message&& request, detail::CallStateBase* call) noexcept;
  template <class R, class Q>
  static constexpr void check_call() {
    static_assert(std::is_same_v<Q, Message> || detail::IsAlternativeOf<Q, Message>,
                  "sn::WorkerPool::call: the request must be the pool's Message or one of its alternatives");
    static_assert(detail::answers_with<W, Q, R>(),
                  "sn::WorkerPool::call: the worker has no handle_call(State&, sn::Envelope<Req>) answering R "
                  "(returning R or absl::StatusOr<R>, or taking an sn::Reply<R>)");
  }
  TimerId schedule_external(absl::Duration delay, std::uint64_t key, Message&& msg, std::int64_t period) noexcept;
  template <class P, class Factory>
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create_pool(const PoolConfig& config, P partitioner,
                                                                 Factory&& factory,
                                                                 detail::RemoteRoute<Message>* remote = nullptr);
  /// A message from another rank for worker `slot` (or the owner of `key` when slot is
  /// kAnyWorker): pushed without waiting, whatever the FullPolicy. `full` leaves it with
  /// the caller (the transport offers it again later); `closed` once the pool stopped;
  /// `invalid` for a slot where no worker runs.
  SendResult deliver_remote(std::size_t slot, std::uint64_t key, Message& msg) noexcept;
  static constexpr std::size_t kAnyWorker = static_cast<std::size_t>(-1);
  static std::unique_ptr<W> default_factory(std::size_t) { return std::make_unique<W>(); }
  template <class P>
  absl::Status wire(const PoolConfig& config, std::vector<ResolvedWorkerConfig> resolved);

  absl::Status make_worker(std::size_t slot) override;
  void run_worker(std::size_t slot) override {
    detail::run_worker_thread(env_, slot, *workers_[slot], [this](absl::Status s) { report_started(std::move(s)); });
  }
  void forget_worker(std::size_t slot) override { workers_[slot].reset(); }
  std::uint64_t plan_imports(std::vector<char>& imports) override;
  void clear_handoff() override {
    for (std::vector<Piece>& out : outgoing_) out.clear();
  }
  std::uint64_t cancel_unclaimed_timers() override;

  Shared* shared_;
  std::function<absl::StatusOr<std::unique_ptr<W>>(std::size_t)> factory_;
  std::vector<std::unique_ptr<W>> workers_;   // [slot]; empty where no worker runs
  std::vector<std::vector<Piece>> outgoing_;  // [exporter]: a resize's hand-off
  detail::LoopEnv<W> env_{*shared_, migration_, outgoing_, std::nullopt};
};

}  // namespace sn

#include "sn/pool/detail/pool_impl.h"  // IWYU pragma: export
