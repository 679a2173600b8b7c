// sn::WorkerPool: runs one Worker per thread (pinned, if asked), routes keyed messages to
// them, and shuts them down without losing any.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/channel.h"
#include "sn/channel/result.h"
#include "sn/detail/perturb.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/partitioner.h"
#include "sn/worker.h"
#include "sn/worker/arena.h"
#include "sn/worker/config.h"
#include "sn/worker/context.h"
#include "sn/worker/detail/runtime.h"
#include "sn/worker/heap.h"
#include "sn/worker/stats.h"

/// shared_nothing: channels, worker pools, partitioners and monitoring.
namespace sn {

namespace detail {

/// Pins the calling thread to `cpu` (when >= 0), binds its memory to that CPU's NUMA
/// node where the machine allows (reported through *memory_bound) and names the thread.
absl::Status place_current_thread(int cpu, const std::string& name, bool* memory_bound);

/// A readable description of the exception being handled, for a fault's status.
std::string describe_current_exception();

}  // namespace detail

/// A pool of workers of type W, one thread each.
///
/// Threads: send(), send_to(), broadcast(), stats() and status() may be called from any
/// thread, concurrently, while the pool runs. shutdown() and stop() may be called from any
/// thread except the pool's own workers; the first one to run does the work and later calls
/// return at once. Nothing may be called while the pool is being destroyed.
///
/// Messages: every message the pool accepts is handled (processed or failed) or counted as
/// dropped; PoolStats says which. A send that is refused hands the value back.
template <class W>
class WorkerPool {
  static_assert(WorkerType<W>,
                "W must derive from sn::Worker<State, Message> and define "
                "handle_message(State&, sn::Envelope<Message>) or "
                "handle_batch(State&, std::span<sn::Envelope<Message>>), returning void or absl::Status");
  static constexpr bool kBatched = detail::HandlesBatches<W>;

 public:
  using worker_type = W;                      ///< The worker class.
  using State = typename W::state_type;       ///< Each worker's state.
  using Message = typename W::message_type;   ///< What the workers handle.

  /// Creates the pool and starts its workers. Returns once every worker has built its
  /// State and run on_start, or with the first error (bad config, placement, init) after
  /// stopping the workers that did start.
  ///
  /// `partitioner(key, n)` picks the worker for send(key, ...); see sn::Partitioner.
  /// `factory(index)` makes worker `index`, returning W or std::unique_ptr<W>; it is
  /// called here, on the calling thread, once per worker, in index order. The pool keeps
  /// it (moved in) for add_worker(), which calls it on the resizing thread.
  template <Partitioner P, class Factory>
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create(const PoolConfig& config, P partitioner,
                                                            Factory&& factory) {
    absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolved = resolve(config);
    if (!resolved.ok()) return resolved.status();
    std::unique_ptr<WorkerPool> pool(new WorkerPool());
    if (absl::Status s = pool->wire(config, std::move(*resolved), std::move(partitioner)); !s.ok()) return s;
    auto kept = std::make_shared<std::decay_t<Factory>>(std::forward<Factory>(factory));
    pool->factory_ = [kept](std::size_t i) { return make_worker(*kept, i); };
    pool->workers_.resize(pool->capacity());
    pool->threads_.resize(pool->capacity());
    for (std::size_t i = 0; i < config.num_workers; ++i) {
      absl::StatusOr<std::unique_ptr<W>> w = pool->factory_(i);
      if (!w.ok()) return w.status();
      pool->workers_[i] = std::move(*w);
    }
    if (absl::Status s = pool->start(0, config.num_workers); !s.ok()) return s;
    return pool;
  }
  /// With the stable HashPartitioner.
  template <class Factory>
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create(const PoolConfig& config, Factory&& factory) {
    return create(config, HashPartitioner{}, std::forward<Factory>(factory));
  }
  /// With the stable HashPartitioner and default-constructed workers.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> create(const PoolConfig& config)
    requires std::is_default_constructible_v<W>
  {
    return create(config, HashPartitioner{}, [](std::size_t) { return std::make_unique<W>(); });
  }

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Shuts down gracefully (see shutdown()).
  ~WorkerPool() { (void)shutdown(); }

  /// The number of workers running now.
  std::size_t size() const noexcept { return shared_->active.load(std::memory_order_relaxed); }
  /// Worker slots: PoolConfig::max_workers (or num_workers). Worker indices are slots.
  std::size_t capacity() const noexcept { return shared_->size(); }
  /// Whether a worker runs in slot `index` and takes messages. After shutdown() or stop(),
  /// size() and has_worker() still report the workers as they last ran; see running().
  bool has_worker(std::size_t index) const noexcept { return shared_->accepts(index); }

  /// Sends `msg` to the worker that owns `key`. Under FullPolicy::block this waits while
  /// that worker's inbox is full, or while a resize runs (from a worker's own thread it
  /// never waits: see WorkerContext::send). Results: `ok`; `full` (FullPolicy::fail) and
  /// `closed` (shut down or stopped) leave the value with the caller; `dropped`
  /// (FullPolicy::drop) destroyed it.
  SendResult send(std::uint64_t key, Message&& msg) noexcept {
    if (!shared_->resizable() || detail::t_current_pool == shared_.get()) [[likely]] {
      return send_to(shared_->route(key), std::move(msg), key);
    }
    return send_through_gate(key, true, 0, msg);
  }
  /// Sends a copy of `msg`; as send(std::uint64_t, Message&&).
  SendResult send(std::uint64_t key, const Message& msg) requires std::is_copy_constructible_v<Message> {
    Message copy(msg);
    return send(key, std::move(copy));
  }
  /// With a string, byte-span or user key: routes on sn::routing_key(key), which is also
  /// the envelope's key.
  template <class K>
    requires(!std::is_integral_v<K> && !std::is_enum_v<K>)
  SendResult send(const K& key, Message&& msg) noexcept {
    return send(routing_key(key), std::move(msg));
  }

  /// Sends to worker `index`; as send(), plus `invalid` when no worker runs there (checked
  /// first: an index out of range is `invalid` after shutdown too).
  SendResult send_to(std::size_t index, Message&& msg, std::uint64_t key = 0) noexcept {
    if (detail::t_current_pool == shared_.get()) [[unlikely]] {
      return static_cast<WorkerContext<Message>*>(detail::t_current_context)->send_to(index, std::move(msg), key);
    }
    if (shared_->resizable()) [[unlikely]] return send_through_gate(key, false, index, msg);
    return push_external(index, msg, key);
  }
  /// Sends a copy of `msg`; as send_to(std::size_t, Message&&, std::uint64_t).
  SendResult send_to(std::size_t index, const Message& msg, std::uint64_t key = 0)
    requires std::is_copy_constructible_v<Message>
  {
    Message copy(msg);
    return send_to(index, std::move(copy), key);
  }

  /// Sends a copy to every worker. `count` is how many accepted it; `status` is `ok`
  /// when all did, else the first other result.
  SendBatchResult broadcast(const Message& msg) requires std::is_copy_constructible_v<Message> {
    return detail::broadcast_to(*shared_, [&](std::size_t j) { return send_to(j, msg); });
  }

  /// Adds a worker in the lowest free slot, made by the factory given to create(), and
  /// moves to it the keys the ring now gives it, with their state (see
  /// sn/worker/handoff.h). Returns once the new worker takes messages.
  ///
  /// How: external sends wait at a gate; the pool drains to quiescence, so every message
  /// sent before is handled by its old owner; the old owners export the state of the
  /// keys that leave them and the new owners import it; the routing changes; the gate
  /// opens. So no message is handled by a worker that does not own its key, none is
  /// lost, and each producer's messages for a key keep their order.
  ///
  /// `drain_limit` bounds the wait for the pool to become idle (handlers that keep
  /// sending to each other never let it); then DeadlineExceeded, with nothing changed.
  ///
  /// Errors, each leaving the pool as it was: FailedPrecondition when the pool has no
  /// ConsistentHashPartitioner or has stopped; ResourceExhausted when all max_workers
  /// slots run; the factory's or the new worker's init()/on_start() error;
  /// DeadlineExceeded; Aborted when the pool stopped meanwhile. An export_state or
  /// import_state hook that throws does not undo the resize: the result is OK and the
  /// report's hook_failures/hook_error tell (under FaultPolicy::stop_pool the pool then
  /// stops). Any thread but the pool's workers (from a worker: FailedPrecondition);
  /// resizes, shutdown() and stop() run one at a time.
  absl::StatusOr<ResizeReport> add_worker(absl::Duration drain_limit = absl::InfiniteDuration()) {
    if (absl::Status s = not_from_a_worker(); !s.ok()) return s;
    std::lock_guard lock(lifecycle_mu_);
    if (absl::Status s = can_resize(); !s.ok()) return s;
    std::size_t slot = capacity();
    for (std::size_t i = 0; i < capacity() && slot == capacity(); ++i) {
      if (!shared_->cores[i]->control.active.load(std::memory_order_relaxed)) slot = i;
    }
    if (slot == capacity()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("sn::WorkerPool: all ", capacity(), " worker slots are in use; raise PoolConfig::max_workers"));
    }
    absl::StatusOr<ConsistentHashPartitioner> next = ring_with(slot, false);
    if (!next.ok()) return next.status();
    absl::StatusOr<std::unique_ptr<W>> made = factory_(slot);
    if (!made.ok()) return made.status();
    workers_[slot] = std::move(*made);
    if (absl::Status s = start(slot, slot + 1); !s.ok()) {
      workers_[slot].reset();
      return s;
    }
    absl::StatusOr<ResizeReport> report = resize(std::move(*next), slot, false, drain_limit);
    if (!report.ok() && running()) retire_unused(slot);
    return report;
  }

  /// Removes worker `index`: its keys, with their state, go to the workers the ring now
  /// gives them (the protocol of add_worker()); then it runs on_stop and its thread
  /// ends. A later add_worker() may reuse the slot.
  ///
  /// Errors: as add_worker(); NotFound when no worker runs in slot `index`;
  /// FailedPrecondition for the last worker.
  absl::StatusOr<ResizeReport> remove_worker(std::size_t index, absl::Duration drain_limit = absl::InfiniteDuration()) {
    if (absl::Status s = not_from_a_worker(); !s.ok()) return s;
    std::lock_guard lock(lifecycle_mu_);
    if (absl::Status s = can_resize(); !s.ok()) return s;
    if (!shared_->accepts(index)) {
      return absl::NotFoundError(absl::StrCat("sn::WorkerPool: no worker runs in slot ", index));
    }
    if (size() == 1) return absl::FailedPreconditionError("sn::WorkerPool: cannot remove the last worker");
    absl::StatusOr<ConsistentHashPartitioner> next = ring_with(index, true);
    if (!next.ok()) return next.status();
    return resize(std::move(*next), index, true, drain_limit);
  }

  /// Graceful shutdown: refuses new external sends (`closed`), lets the workers handle
  /// every message already accepted, including those they send each other while draining,
  /// then runs on_stop on each and joins the threads. Returns the first fault that stopped
  /// the pool (FaultPolicy::stop_pool, or an init failure on restart), else OK.
  /// From one of the pool's own workers it does nothing and returns FailedPrecondition:
  /// the drain would wait for the calling worker's own batch to end.
  absl::Status shutdown() {
    if (detail::t_current_pool == shared_.get()) [[unlikely]] {
      return absl::FailedPreconditionError(
          "sn::WorkerPool: a worker cannot shut down its own pool (the drain would wait for its own batch); "
          "call shutdown() from outside the pool, or stop() from the worker");
    }
    std::lock_guard lock(lifecycle_mu_);
    if (!finished_) {
      shared_->close_inboxes();
      for (auto& core : shared_->cores) core->signal(detail::kDrain);
      if (wait_until_quiescent() == Quiet::yes) {
        for (auto& core : shared_->cores) core->signal(detail::kExit);
      } else {
        shared_->stop_all();  // a fault stopped the pool while it drained
      }
      finish();
    }
    return status();
  }

  /// Stops every worker after its current batch, runs on_stop on each and joins the
  /// threads. Returns how many accepted messages were left unhandled; they are destroyed
  /// and counted as dropped. Later calls return 0.
  /// From one of the pool's own workers it only asks every worker to stop after its
  /// current batch and returns 0 (a thread cannot join itself): the next shutdown(),
  /// stop() or the destructor, from outside, joins them and counts what was left.
  std::uint64_t stop() {
    // Before the lock: a shutdown() still waiting for quiescence (say, a handler that
    // keeps sending to itself) sees the stop and gives way.
    shared_->stop_all();
    if (detail::t_current_pool == shared_.get()) [[unlikely]] return 0;
    std::lock_guard lock(lifecycle_mu_);
    if (finished_) return 0;
    return finish();
  }

  /// The first fault that stopped the pool, or OK.
  absl::Status status() const {
    std::lock_guard lock(shared_->fault_mu);
    return shared_->fault;
  }

  /// Whether the pool still takes messages.
  bool running() const noexcept { return !shared_->closing.load(std::memory_order_acquire); }

  /// A snapshot of every worker and the totals, readable from any thread at any time.
  PoolStats stats() const {
    PoolStats total;
    total.running = running();
    total.workers.reserve(capacity());
    // Done counters first, accepted after, so that in_flight() is rarely understated
    // (a worker counts a send just after publishing it, so it is not a guarantee).
    for (std::size_t j = 0; j < capacity(); ++j) {
      const detail::WorkerCore<Message>& core = *shared_->cores[j];
      if (!core.control.started.load(std::memory_order_relaxed)) continue;
      WorkerStats& w = total.workers.emplace_back();
      w.index = j;
      w.name = core.config.name;
      w.active = core.control.active.load(std::memory_order_relaxed);
      w.cpu = core.owned.cpu.load(std::memory_order_relaxed);
      w.memory_bound = core.owned.memory_bound.load(std::memory_order_relaxed);
      w.processed = core.owned.processed.get();
      w.failed = core.owned.failed.get();
      w.dropped = core.remote.dropped_full.load(std::memory_order_relaxed) +
                  core.remote.dropped_at_stop.load(std::memory_order_relaxed);
      w.batches = core.owned.batches.get();
      w.ticks = core.owned.ticks.get();
      w.restarts = core.owned.restarts.get();
      w.parks = core.owned.parks.get();
      w.time_parked = absl::Nanoseconds(core.owned.parked_ns.get());
      w.sent = core.owned.sent.get();
      w.rejected = core.owned.rejected.get();
      w.queue_depth = core.inbox_rx.stats().approx_depth + core.owned.outbox_pending.load(std::memory_order_relaxed);
      for (const auto& lane : core.lanes_in) w.queue_depth += lane.stats().approx_depth;
    }
    for (const WorkerStats& w : total.workers) {
      total.processed += w.processed;
      total.failed += w.failed;
      total.dropped += w.dropped;
      total.batches += w.batches;
      total.ticks += w.ticks;
      total.restarts += w.restarts;
      total.parks += w.parks;
      total.time_parked += w.time_parked;
      total.queue_depth += w.queue_depth;
      total.rejected += w.rejected;
    }
    total.rejected += shared_->external_rejected.load(std::memory_order_relaxed);
    total.hook_faults = hook_faults_.load(std::memory_order_relaxed);
    const std::uint64_t dropped_at_gate = shared_->dropped_at_gate.load(std::memory_order_relaxed);
    total.dropped += dropped_at_gate;
    total.accepted += dropped_at_gate;
    for (std::size_t j = 0; j < capacity(); ++j) {
      const detail::WorkerCore<Message>& core = *shared_->cores[j];
      total.accepted += core.inbox_tx.stats().sent + core.owned.sent.get() +
                        core.remote.dropped_full.load(std::memory_order_relaxed);
    }
    return total;
  }

 private:
  using Core = detail::WorkerCore<Message>;
  using Parcel = detail::Parcel<Message>;
  using Context = WorkerContext<Message>;

  WorkerPool() : shared_(std::make_unique<detail::PoolShared<Message>>()) {}

  // ------------------------------------------------------------------ external sends

  /// Pushes into worker `index`'s inbox (any thread but the pool's workers). On any
  /// result but `ok` and `dropped`, `msg` keeps the value.
  SendResult push_external(std::size_t index, Message& msg, std::uint64_t key) noexcept {
    if (!shared_->accepts(index)) [[unlikely]] {
      shared_->external_rejected.fetch_add(1, std::memory_order_relaxed);
      return SendResult::invalid;
    }
    SN_PERTURB_POINT("pool.send.accepted_not_pushed");
    detail::WorkerCore<Message>& core = *shared_->cores[index];
    detail::Parcel<Message> parcel{std::move(msg), key, Source::external(),
                                   shared_->timestamps ? detail::SendStamp::now() : 0};
    auto* ring = core.inbox_ring;
    auto attempt = [&] {
      return ring->try_push(1, [&](std::size_t) -> detail::Parcel<Message>&& { return std::move(parcel); }).status;
    };
    SendResult r = attempt();
    if (r == SendResult::full) [[unlikely]] {
      switch (shared_->full_policy) {
        case FullPolicy::block:
          r = detail::block_on(ring->senders_lot(), ring->wait_policy(), ring->asymmetric(), absl::InfiniteFuture(),
                               SendResult::full, SendResult::timeout, attempt);
          break;
        case FullPolicy::drop:
          core.remote.dropped_full.fetch_add(1, std::memory_order_relaxed);
          return SendResult::dropped;
        case FullPolicy::fail:
          break;
      }
    }
    if (r == SendResult::ok) [[likely]] {
      core.ring_doorbell();
      return r;
    }
    msg = std::move(parcel.payload);
    shared_->external_rejected.fetch_add(1, std::memory_order_relaxed);
    return r;
  }

  /// An external send into a resizable pool: routes and pushes inside the gate, so that
  /// a resize can find a moment when no external send is in progress (see SendGate).
  SendResult send_through_gate(std::uint64_t key, bool by_key, std::size_t index, Message& msg) noexcept {
    detail::PoolShared<Message>& shared = *shared_;
    auto stopping = [&] { return shared.closing.load(std::memory_order_acquire); };
    detail::GateSeat::Use seat;
    if (!seat) [[unlikely]] {  // no memory for this thread's seat
      shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
      return SendResult::full;
    }
    for (;;) {
      if (shared.gate.enter(*seat)) [[likely]] {
        const SendResult r = push_external(by_key ? shared.route(key) : index, msg, key);
        detail::SendGate::leave(*seat);
        return r;
      }
      // A resize holds the gate: as if the inbox were full.
      if (stopping()) break;
      switch (shared.full_policy) {
        case FullPolicy::block:
          shared.gate.wait_open(shared.wait, stopping);
          continue;
        case FullPolicy::drop: {
          [[maybe_unused]] Message gone(std::move(msg));
          shared.dropped_at_gate.fetch_add(1, std::memory_order_relaxed);
          return SendResult::dropped;
        }
        case FullPolicy::fail:
          shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
          return SendResult::full;
      }
    }
    shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
    return SendResult::closed;
  }

  template <class Factory>
  static absl::StatusOr<std::unique_ptr<W>> make_worker(Factory& factory, std::size_t index) {
    using Made = std::invoke_result_t<Factory&, std::size_t>;
    static_assert(std::is_same_v<Made, W> || std::is_same_v<Made, std::unique_ptr<W>>,
                  "the factory must return W or std::unique_ptr<W> for a worker index");
    try {
      std::unique_ptr<W> w;
      if constexpr (std::is_same_v<Made, W>) {
        w.reset(new W(factory(index)));
      } else {
        w = factory(index);
      }
      if (w == nullptr) return absl::InvalidArgumentError(absl::StrCat("sn::WorkerPool: the factory returned no worker for index ", index));
      return w;
    } catch (...) {
      return absl::InternalError(absl::StrCat("sn::WorkerPool: the factory failed for worker ", index, ": ",
                                              detail::describe_current_exception()));
    }
  }

  // ------------------------------------------------------------------ setup

  template <class P>
  absl::Status wire(const PoolConfig& config, std::vector<ResolvedWorkerConfig> resolved, P partitioner) {
    detail::PoolShared<Message>& shared = *shared_;
    const std::size_t n = resolved.size();
    if constexpr (std::is_same_v<P, ConsistentHashPartitioner>) {
      const std::vector<ConsistentHashPartitioner::WorkerId>& ids = partitioner.workers();
      for (std::size_t i = 0; i < ids.size() || i < config.num_workers; ++i) {
        if (i >= ids.size() || i >= config.num_workers || ids[i] != i) {
          return absl::InvalidArgumentError(absl::StrCat(
              "sn::WorkerPool: the ConsistentHashPartitioner's workers must be 0..num_workers-1 (", config.num_workers,
              " workers; the ring has ", ids.size(), ")"));
        }
      }
      shared.ring = std::make_unique<ConsistentHashPartitioner>(std::move(partitioner));
    } else {
      if (n != config.num_workers) {
        return absl::InvalidArgumentError(
            "sn::PoolConfig: max_workers above num_workers needs a ConsistentHashPartitioner (to resize)");
      }
      if constexpr (!std::is_same_v<P, HashPartitioner>) {
        shared.custom_partition = [p = std::move(partitioner)](std::uint64_t key, std::size_t workers) -> std::size_t {
          return static_cast<std::size_t>(p(key, workers));
        };
      }
    }
    shared.wait = config.wait;
    shared.full_policy = config.full_policy;
    shared.fault_policy = config.fault_policy;
    shared.timestamps = config.timestamps;
    shared.sequence_numbers = config.sequence_numbers;
    idle_tick_ = config.idle_tick;
    for (std::size_t j = 0; j < n; ++j) {
      auto core = std::make_unique<Core>();
      core->config = std::move(resolved[j]);
      const ChannelOptions options = ChannelOptions().with_wait_policy(config.wait);
      auto inbox = Channel<Parcel>::mpsc(core->config.queue_capacity, options);
      if (!inbox.ok()) return inbox.status();
      core->inbox_tx = std::move(inbox.sender());
      core->inbox_rx = std::move(inbox.receiver());
      core->inbox_ring = detail::ChannelAccess::ring(core->inbox_tx);
      core->asymmetric = core->inbox_ring->asymmetric();
      shared.cores.push_back(std::move(core));
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        auto lane = Channel<Parcel>::spsc(config.mesh_capacity);
        if (!lane.ok()) return lane.status();
        shared.cores[i]->lanes_out.push_back(std::move(lane.sender()));
        shared.cores[j]->lanes_in.push_back(std::move(lane.receiver()));
      }
    }
    return absl::OkStatus();
  }

  /// Starts the workers of slots [from, to) and waits until each has built its State and
  /// run on_start. On an error the pool stops (at create), or the new worker's thread is
  /// joined (add_worker).
  absl::Status start(std::size_t from, std::size_t to) {
    const bool creating = from == 0 && shared_->active.load(std::memory_order_relaxed) == 0;
    {
      std::lock_guard lock(start_mu_);
      started_ = 0;
      start_target_ = to - from;
      start_error_ = absl::OkStatus();
    }
    for (std::size_t i = from; i < to; ++i) {
      Core& core = *shared_->cores[i];
      core.control.flags.fetch_and(detail::kStop, std::memory_order_seq_cst);  // a reused slot's exit flag
      core.control.started.store(true, std::memory_order_relaxed);
      if (creating) {
        core.control.active.store(true, std::memory_order_relaxed);
        shared_->active.fetch_add(1, std::memory_order_relaxed);
      }
      try {
        threads_[i] = std::thread([this, i] { run(i); });
      } catch (const std::system_error& e) {
        report_started(absl::ResourceExhaustedError(absl::StrCat("sn::WorkerPool: cannot start worker ", i, ": ", e.what())));
        for (std::size_t k = i + 1; k < to; ++k) report_started(absl::CancelledError());
        break;
      }
    }
    absl::Status first;
    {
      std::unique_lock lock(start_mu_);
      start_cv_.wait(lock, [&] { return started_ == start_target_; });
      first = start_error_;
    }
    if (!first.ok()) {
      if (creating) {
        (void)stop();
      } else {
        for (std::size_t i = from; i < to; ++i) {
          if (threads_[i].joinable()) threads_[i].join();
        }
      }
      return first;
    }
    return absl::OkStatus();
  }

  void report_started(absl::Status status) {
    std::lock_guard lock(start_mu_);
    if (start_error_.ok() && !status.ok()) start_error_ = std::move(status);
    if (++started_ == start_target_) start_cv_.notify_all();
  }

  // ------------------------------------------------------------------ the worker thread

  /// Holds the State in the worker's heap; builds it with W::init() when W has one.
  class StateBox {
   public:
    explicit StateBox(WorkerHeap& heap) noexcept : heap_(heap) {}
    ~StateBox() { destroy(); }
    StateBox(const StateBox&) = delete;
    StateBox& operator=(const StateBox&) = delete;

    State& operator*() noexcept { return *state_; }
    /// False after a restart whose init() failed.
    bool built() const noexcept { return state_ != nullptr; }

    absl::Status build(W& w) {
      void* memory = heap_.allocate(sizeof(State), alignof(State));
      if (memory == nullptr) return absl::ResourceExhaustedError("sn::WorkerPool: no memory for the worker's State");
      try {
        if constexpr (requires { w.init(); }) {
          using Init = decltype(w.init());
          static_assert(std::is_same_v<Init, State> || std::is_same_v<Init, absl::StatusOr<State>>,
                        "init() must return State or absl::StatusOr<State>");
          if constexpr (std::is_same_v<Init, State>) {
            state_ = ::new (memory) State(w.init());
          } else {
            absl::StatusOr<State> made = w.init();
            if (!made.ok()) {
              WorkerHeap::deallocate(memory);
              return made.status();
            }
            state_ = ::new (memory) State(std::move(*made));
          }
        } else {
          static_assert(std::is_default_constructible_v<State>,
                        "a State that is not default-constructible needs W::init()");
          state_ = ::new (memory) State();
        }
      } catch (...) {
        WorkerHeap::deallocate(memory);
        return absl::InternalError(absl::StrCat("init() threw: ", detail::describe_current_exception()));
      }
      return absl::OkStatus();
    }

    void destroy() noexcept {
      if (state_ == nullptr) return;
      state_->~State();
      WorkerHeap::deallocate(std::exchange(state_, nullptr));
    }

   private:
    WorkerHeap& heap_;
    State* state_ = nullptr;
  };

  /// Storage for one iteration's envelopes when W has handle_batch, in the worker's heap.
  class BatchBuffer {
   public:
    BatchBuffer(WorkerHeap& heap, std::size_t capacity)
        : data_(capacity == 0 ? nullptr
                              : static_cast<Envelope<Message>*>(
                                    heap.allocate(capacity * sizeof(Envelope<Message>), alignof(Envelope<Message>)))) {
      if (capacity != 0 && data_ == nullptr) throw std::bad_alloc();
    }
    ~BatchBuffer() {
      clear();
      WorkerHeap::deallocate(data_);
    }
    BatchBuffer(const BatchBuffer&) = delete;
    BatchBuffer& operator=(const BatchBuffer&) = delete;

    Envelope<Message>& emplace(Message&& payload, std::uint64_t key, Source source) noexcept {
      return *::new (&data_[size_++]) Envelope<Message>{std::move(payload), key, source, std::nullopt, std::nullopt};
    }
    std::span<Envelope<Message>> view() noexcept { return {data_, size_}; }
    std::size_t size() const noexcept { return size_; }
    void clear() noexcept {
      for (std::size_t i = 0; i < size_; ++i) data_[i].~Envelope<Message>();
      size_ = 0;
    }

   private:
    Envelope<Message>* data_;
    std::size_t size_ = 0;
  };

  /// Runs a hook; an exception becomes a status.
  template <class Fn>
  static absl::Status guarded(Fn&& fn) noexcept {
    try {
      fn();
      return absl::OkStatus();
    } catch (...) {
      return absl::InternalError(detail::describe_current_exception());
    }
  }

  // ------------------------------------------------------------------ resizing

  using Handoff = typename detail::HandoffType<W>::type;
  using Piece = typename StateHandoff<Handoff>::Piece;
  static_assert(std::is_nothrow_move_constructible_v<Handoff>,
                "handoff_type must have a noexcept move constructor: a resize moves it between threads");

  /// One resize's hand-off. A member, not a local: should the pool be stopped during a
  /// resize, the resizer stops waiting, and a worker still in its step must find the
  /// object alive.
  struct Migration {
    enum class Phase : std::uint8_t { exporting, importing };
    std::mutex mu;
    std::condition_variable done;
    Phase phase = Phase::exporting;  // guarded by mu
    std::size_t waiting = 0;         // guarded by mu: workers yet to finish this step
    std::uint64_t failures = 0;      // guarded by mu: hooks that threw
    absl::Status error;              // guarded by mu: the first of them
    // Written by the resizer before it asks for a step, used by the workers in their
    // step: ordered by the flags word (kMigrateRound added with seq_cst, read with
    // acquire) one way and by `mu` the other.
    std::optional<ConsistentHashPartitioner> next;
    // [exporter]: what it handed off, sorted by destination by the exporter itself, so
    // that importer i takes its range from each, and the resizer allocates nothing while
    // state is on the move.
    std::vector<std::vector<Piece>> outgoing;
  };

  /// The pool's ring with `slot` added or removed.
  absl::StatusOr<ConsistentHashPartitioner> ring_with(std::size_t slot, bool removing) const {
    try {
      ConsistentHashPartitioner next = *shared_->ring;
      const auto id = static_cast<ConsistentHashPartitioner::WorkerId>(slot);
      absl::Status s = removing ? next.remove_worker(id) : next.add_worker(id);
      if (!s.ok()) return s;
      return next;
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("sn::WorkerPool: no memory for the resized ring");
    }
  }

  /// A resize waits for every worker to be idle, so one of them cannot ask for it.
  absl::Status not_from_a_worker() const {
    if (detail::t_current_pool != shared_.get()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "sn::WorkerPool: a worker cannot resize its own pool (the resize waits for every worker to be idle)");
  }

  absl::Status can_resize() const {
    if (!shared_->resizable()) {
      return absl::FailedPreconditionError(
          "sn::WorkerPool: only a pool created with a ConsistentHashPartitioner can be resized");
    }
    if (finished_ || !running()) return absl::FailedPreconditionError("sn::WorkerPool: the pool has stopped");
    return absl::OkStatus();
  }

  /// A worker started by add_worker() whose resize did not happen leaves again: it took
  /// no message (its slot never turned active).
  void retire_unused(std::size_t slot) {
    shared_->cores[slot]->signal(detail::kExit);
    threads_[slot].join();
    workers_[slot].reset();
  }

  /// The resize protocol (see add_worker()). Holds lifecycle_mu_. `slot` was just started
  /// (adding) or is the worker to remove. Returns the report, or an error when nothing
  /// changed.
  absl::StatusOr<ResizeReport> resize(ConsistentHashPartitioner next, std::size_t slot, bool removing,
                                      absl::Duration drain_limit) {
    detail::PoolShared<Message>& shared = *shared_;
    Migration& m = migration_;
    // Everything that allocates happens before the gate closes.
    std::vector<std::size_t> running_slots, exporters, importers;
    std::vector<char> imports(capacity(), 0);
    importers.reserve(capacity());
    for (std::size_t i = 0; i < capacity(); ++i) {
      if (threads_[i].joinable()) running_slots.push_back(i);
      if (shared.accepts(i)) exporters.push_back(i);  // a new worker owns nothing yet
    }
    m.next.emplace(std::move(next));
    m.outgoing.assign(capacity(), {});
    {
      std::lock_guard lock(m.mu);
      m.failures = 0;
      m.error = absl::OkStatus();
    }

    const absl::Time began = absl::Now();
    absl::Status outcome;
    bool switched = false;
    std::uint64_t pieces = 0;
    shared.gate.close();
    for (std::size_t i : running_slots) shared.cores[i]->signal(detail::kDrain);
    try {
      // Everything sent before the gate closed is handled by its old owner first.
      switch (wait_until_quiescent(drain_limit == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                                             : began + drain_limit)) {
        case Quiet::yes:
          break;
        case Quiet::stopped:
          outcome = absl::AbortedError("sn::WorkerPool: the pool stopped during the resize");
          break;
        case Quiet::timed_out:
          outcome = absl::DeadlineExceededError(absl::StrCat(
              "sn::WorkerPool: the pool did not become idle within ", absl::FormatDuration(drain_limit),
              " (do handlers keep sending to each other?); nothing was changed"));
          break;
      }
      if (outcome.ok() && !run_step(Migration::Phase::exporting, exporters)) {
        outcome = absl::AbortedError("sn::WorkerPool: the pool stopped during the resize");
      }
      if (outcome.ok()) {
        for (const std::vector<Piece>& out : m.outgoing) {
          for (const Piece& piece : out) imports[piece.to] = 1;
          pieces += out.size();
        }
        for (std::size_t i = 0; i < capacity(); ++i) {
          if (imports[i] != 0) importers.push_back(i);
        }
        if (!run_step(Migration::Phase::importing, importers)) {
          outcome = absl::AbortedError("sn::WorkerPool: the pool stopped during the resize");
        }
      }
      if (outcome.ok()) {
        // Nothing runs: no sender is inside the gate and every worker is idle.
        *shared.ring = std::move(*m.next);
        Core& changed = *shared.cores[slot];
        changed.control.active.store(!removing, std::memory_order_relaxed);
        if (removing) {
          shared.active.fetch_sub(1, std::memory_order_relaxed);
          changed.signal(detail::kExit);  // before the drain flag clears: no idle tick after this
        } else {
          shared.active.fetch_add(1, std::memory_order_relaxed);
        }
        switched = true;
      }
    } catch (...) {  // allocation in the quiescence check, before any state moved
      outcome = absl::ResourceExhaustedError(
          absl::StrCat("sn::WorkerPool: resize failed before moving any state: ", detail::describe_current_exception()));
    }
    for (std::size_t i : running_slots) {
      if (switched && removing && i == slot) continue;
      shared.cores[i]->control.flags.fetch_and(~std::uint32_t{detail::kDrain}, std::memory_order_seq_cst);
      shared.cores[i]->doorbell.notify(false, 1);
    }
    shared.gate.open();  // before the removed worker's on_stop, which may take its time
    const absl::Duration paused = absl::Now() - began;
    if (!switched) return outcome;
    if (removing) {
      threads_[slot].join();
      workers_[slot].reset();
    }
    m.next.reset();
    for (std::vector<Piece>& out : m.outgoing) out.clear();
    ResizeReport report{slot, pieces, paused, 0, absl::OkStatus()};
    {
      std::lock_guard lock(m.mu);
      report.hook_failures = m.failures;
      report.hook_error = m.error;
    }
    if (!report.hook_error.ok() && shared.fault_policy == FaultPolicy::stop_pool) {
      shared.record_fault(report.hook_error);
      shared.stop_all();
    }
    return report;
  }

  /// Asks each worker in `slots` for one step of the hand-off and waits until they all
  /// have done it. False if the pool stopped meanwhile.
  bool run_step(typename Migration::Phase phase, const std::vector<std::size_t>& slots) {
    Migration& m = migration_;
    {
      std::lock_guard lock(m.mu);
      m.phase = phase;
      m.waiting = slots.size();
    }
    for (std::size_t i : slots) {
      shared_->cores[i]->control.flags.fetch_add(detail::kMigrateRound, std::memory_order_seq_cst);
      shared_->cores[i]->doorbell.notify(false, 1);
    }
    std::unique_lock lock(m.mu);
    while (m.waiting != 0) {
      if (!running()) return false;  // stopped: a worker may leave without its step
      m.done.wait_for(lock, std::chrono::milliseconds(1));
    }
    return true;
  }

  /// A worker's step of the hand-off, on its thread: export_state or import_state.
  /// Sends from these hooks are refused: the pool must stay idle while state moves.
  void migration_step(std::size_t i, W& w, StateBox& state, Context& context) {
    Migration& m = migration_;
    typename Migration::Phase phase;
    {
      std::lock_guard lock(m.mu);
      phase = m.phase;
    }
    absl::Status s;
    if constexpr (detail::HandsOffState<W>) {
      context.refusing_ = true;
      if (!state.built()) {
        s = absl::FailedPreconditionError("it has no State (a restart failed)");
      } else if (phase == Migration::Phase::exporting) {
        std::vector<Piece>& out = m.outgoing[i];
        StateHandoff<Handoff> handoff(i, &*m.next, &out);
        s = guarded([&] { w.export_state(*state, handoff); });
        // Moves are noexcept and a failed buffer allocation makes stable_sort work in place.
        std::stable_sort(out.begin(), out.end(), [](const Piece& a, const Piece& b) { return a.to < b.to; });
      } else {
        for (std::vector<Piece>& out : m.outgoing) {
          auto [first, last] = std::ranges::equal_range(out, i, {}, &Piece::to);
          for (Piece& piece : std::ranges::subrange(first, last)) {
            s.Update(guarded([&] { w.import_state(*state, piece.key, std::move(piece.value)); }));
          }
        }
      }
      context.refusing_ = false;
    }
    std::lock_guard lock(m.mu);
    if (!s.ok()) {
      hook_faults_.fetch_add(1, std::memory_order_relaxed);
      if (m.failures++ == 0) {
        m.error = absl::Status(s.code(), absl::StrCat("sn::WorkerPool: worker ", i, ": ",
                                                       phase == Migration::Phase::exporting ? "export_state" : "import_state",
                                                       " failed during a resize: ", s.message()));
      }
    }
    if (--m.waiting == 0) m.done.notify_all();
  }

  void run(std::size_t i) {
    Core& core = *shared_->cores[i];
    bool memory_bound = false;
    absl::Status placed = detail::place_current_thread(core.config.cpu, core.config.name, &memory_bound);
    core.owned.cpu.store(placed.ok() ? core.config.cpu : -1, std::memory_order_relaxed);
    core.owned.memory_bound.store(memory_bound, std::memory_order_relaxed);
    if (!placed.ok()) {
      report_started(std::move(placed));
      return;
    }
    std::optional<WorkerHeap> heap;
    try {
      heap.emplace();
    } catch (const std::bad_alloc&) {
      report_started(absl::ResourceExhaustedError(absl::StrCat("sn::WorkerPool: worker ", i, ": no heap")));
      return;
    }
    TickArena arena(*heap);
    Context context(i, shared_.get(), &*heap, &arena);
    W& w = *workers_[i];
    w.context_ = &context;
    detail::t_current_pool = shared_.get();
    detail::t_current_context = &context;
    StateBox state(*heap);
    // Before reporting the start: a resize may ask this worker for a step right after.
    const std::uint32_t round = core.flags() / detail::kMigrateRound;
    absl::Status started = state.build(w);
    if (started.ok()) {
      if constexpr (requires { w.on_start(*state); }) started = guarded([&] { w.on_start(*state); });
    }
    if (!started.ok()) {
      report_started(absl::Status(started.code(), absl::StrCat("sn::WorkerPool: worker ", i, " did not start: ", started.message())));
    } else {
      report_started(absl::OkStatus());
      try {
        loop(core, context, w, state, arena, round);
      } catch (const std::bad_alloc&) {  // the handle_batch buffer; hooks catch their own
        shared_->record_fault(absl::ResourceExhaustedError(
            absl::StrCat("sn::WorkerPool: worker ", i, ": out of memory for its batch buffer")));
        shared_->stop_all();
      }
      context.refusing_ = true;
      if constexpr (requires { w.on_stop(*state); }) {
        if (state.built()) note_hook_fault(i, "on_stop", guarded([&] { w.on_stop(*state); }));
      }
    }
    state.destroy();
    const std::uint64_t left = context.discard_outboxes();
    if (left != 0) shared_->left_by_workers.fetch_add(left, std::memory_order_relaxed);
    detail::t_current_pool = nullptr;
    detail::t_current_context = nullptr;
    w.context_ = nullptr;
  }

  /// The tick loop: take up to batch_size messages, handle them, tick, reset the arena;
  /// wait (spin, yield, park) only when there was nothing to do.
  void loop(Core& core, Context& context, W& w, StateBox& state, TickArena& arena, std::uint32_t round) {
    const std::size_t n = shared_->size();
    const std::size_t inputs = n + 1;  // lanes 0..n-1, then the inbox
    const std::size_t batch = core.config.batch_size;
    const bool sequences = shared_->sequence_numbers;
    const bool timestamps = shared_->timestamps;
    const std::optional<absl::Duration> idle_tick = idle_tick_;
    std::vector<std::uint64_t> next_sequence(inputs, 0);
    std::uint64_t activity = 0;
    std::size_t first_input = 0;
    std::size_t known_ready = Core::kNone;  // an input the wait saw a message on
    bool busy = false;     // activity is odd
    bool halted = false;   // a fault stopped the pool in this batch
    std::uint64_t processed = 0, failed = 0;
    absl::Time last_tick = idle_tick ? absl::Now() : absl::InfinitePast();

    auto begin_busy = [&] {
      if (!busy) {
        core.owned.activity.store(++activity, std::memory_order_relaxed);  // odd: see runtime.h
        busy = true;
      }
    };
    auto end_busy = [&] {
      if (busy) {
        core.owned.activity.store(++activity, std::memory_order_release);  // even
        busy = false;
      }
    };
    auto fault = [&](absl::Status why, std::uint64_t messages) {
      failed += messages;
      switch (shared_->fault_policy) {
        case FaultPolicy::continue_running:
          return;
        case FaultPolicy::restart:
          state.destroy();
          if (absl::Status rebuilt = state.build(w); !rebuilt.ok()) {
            shared_->record_fault(absl::Status(rebuilt.code(), absl::StrCat("sn::WorkerPool: worker ", context.index(),
                                                                             ": restart failed: ", rebuilt.message())));
            shared_->stop_all();
            halted = true;
            return;
          }
          core.owned.restarts.add(1);
          return;
        case FaultPolicy::stop_pool:
          shared_->record_fault(absl::Status(why.code(), absl::StrCat("sn::WorkerPool: worker ", context.index(),
                                                                       ": handler failed: ", why.message())));
          shared_->stop_all();
          halted = true;
          return;
      }
    };
    // handle_batch: the iteration's envelopes, built in place as messages are taken.
    BatchBuffer pending(context.heap(), kBatched ? batch : 0);
    [[maybe_unused]] auto collect = [&](Parcel&& parcel, std::size_t input) {
      begin_busy();
      Envelope<Message>& envelope = pending.emplace(std::move(parcel.payload), parcel.key, parcel.source);
      if (sequences) envelope.sequence = next_sequence[input]++;
      if (timestamps) envelope.sent_at = detail::SendStamp::recover(parcel.stamp);
    };
    [[maybe_unused]] auto handle_pending = [&] {
      const std::uint64_t count = pending.size();
      const bool needs_reason = shared_->fault_policy == FaultPolicy::stop_pool;
      if constexpr (kBatched) {
        try {
          if constexpr (std::is_void_v<detail::BatchHandleResult<W>>) {
            w.handle_batch(*state, pending.view());
            processed += count;
          } else {
            absl::Status s = w.handle_batch(*state, pending.view());
            if (s.ok()) [[likely]] {
              processed += count;
            } else {
              fault(std::move(s), count);
            }
          }
        } catch (...) {
          fault(needs_reason ? absl::InternalError(absl::StrCat("threw: ", detail::describe_current_exception()))
                             : absl::InternalError("threw"),
                count);
        }
      }
      pending.clear();
    };
    [[maybe_unused]] auto handle_one = [&]([[maybe_unused]] Parcel&& parcel, [[maybe_unused]] std::size_t input) {
      if constexpr (!kBatched) {
        begin_busy();
        if (halted) [[unlikely]] {
          core.remote.dropped_at_stop.fetch_add(1, std::memory_order_relaxed);
          shared_->left_by_workers.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        Envelope<Message> envelope{std::move(parcel.payload), parcel.key, parcel.source, std::nullopt, std::nullopt};
        if (sequences) envelope.sequence = next_sequence[input]++;
        if (timestamps) envelope.sent_at = detail::SendStamp::recover(parcel.stamp);
        const bool needs_reason = shared_->fault_policy == FaultPolicy::stop_pool;
        try {
          if constexpr (std::is_void_v<detail::HandleResult<W>>) {
            w.handle_message(*state, std::move(envelope));
            ++processed;
          } else {
            absl::Status s = w.handle_message(*state, std::move(envelope));
            if (s.ok()) [[likely]] {
              ++processed;
            } else {
              fault(std::move(s), 1);
            }
          }
        } catch (...) {
          fault(needs_reason ? absl::InternalError(absl::StrCat("threw: ", detail::describe_current_exception()))
                             : absl::InternalError("threw"),
                1);
        }
      }
    };
    auto handle = [&](Parcel&& parcel, std::size_t input) {
      if constexpr (kBatched) {
        collect(std::move(parcel), input);
      } else {
        handle_one(std::move(parcel), input);
      }
    };
    auto run_tick = [&] {
      if constexpr (requires { w.tick(*state); }) {
        if (!halted) note_hook_fault(context.index(), "tick", guarded([&] { w.tick(*state); }));
      }
      core.owned.ticks.add(1);
      arena.reset();
    };

    for (;;) {
      const std::uint32_t flags = core.flags();
      if (flags / detail::kMigrateRound != round) [[unlikely]] {  // before the stop check: the resizer waits for it
        round = flags / detail::kMigrateRound;
        migration_step(context.index(), w, state, context);
      }
      if ((flags & (detail::kStop | detail::kExit)) != 0) return;
      SN_PERTURB_POINT("worker.loop.after_flags");

      // Control first (above), then what this worker owes others, then its inputs.
      if (context.outbox_total_ != 0) {
        begin_busy();
        context.flush_outboxes();
      }
      std::size_t taken = 0;
      // Polls only the slot a message would arrive in (one cache line per input). The
      // first message is taken on its own, and the rest of the batch (one read of the
      // producer's index) only when a second one is already there: a lone message, the
      // latency case, never waits for a second cache miss.
      auto drain = [&](auto& rx, std::size_t input) {
        // The wait already saw a message on the input it woke for.
        if (input != known_ready && !rx.ready()) return;
        known_ready = Core::kNone;
        auto take = [&](Parcel&& p) { handle(std::move(p), input); };
        std::size_t got = rx.consume(1, take).count;
        if (got != 0 && taken + 1 < batch && rx.ready()) got += rx.consume(batch - taken - 1, take).count;
        taken += got;
        if (input != n && got != 0) {
          // Room was freed in lane input->this: wake its producer if it owes into it.
          Core& producer = *shared_->cores[input];
          detail::light_barrier(core.asymmetric);  // pairs with the producer's heavy barrier
          if (producer.owes.room.load(std::memory_order_relaxed)) producer.ring_doorbell();
        }
      };
      for (std::size_t k = 0; k < inputs && taken < batch; ++k) {
        std::size_t input = first_input + k;
        if (input >= inputs) input -= inputs;
        if (input == n) {
          // Backpressure: while this worker owes messages to full lanes, external
          // producers wait instead of adding to the work.
          if (context.outbox_total_ == 0) drain(core.inbox_rx, n);
        } else {
          drain(core.lanes_in[input], input);
        }
      }
      first_input = first_input + 1 == inputs ? 0 : first_input + 1;

      if (taken != 0) {
        if constexpr (kBatched) handle_pending();
        run_tick();
        SN_PERTURB_POINT("worker.batch.handled_still_busy");
        core.owned.processed.add(std::exchange(processed, 0));
        core.owned.failed.add(std::exchange(failed, 0));
        core.owned.batches.add(1);
        end_busy();
        if (idle_tick) last_tick = absl::Now();
        continue;
      }
      end_busy();  // an outbox flush alone
      if (halted) return;

      // Nothing to do: wait for a message, a control flag, room for the outbox (the
      // consumer rings the doorbell when it frees some), or the idle-tick deadline.
      const absl::Time deadline = idle_tick && (flags & detail::kDrain) == 0 ? last_tick + *idle_tick
                                                                              : absl::InfiniteFuture();
      SN_PERTURB_POINT("worker.idle.before_wait");
      enum class Wake : std::uint8_t { idle, work, timed_out };
      const Wake wake = detail::block_on(
          core.doorbell, core.config.wait, core.asymmetric, deadline, Wake::idle, Wake::timed_out,
          [&] {
            const bool owes = context.outbox_total_ != 0;
            const std::size_t ready = core.first_ready(!owes);
            if (ready != Core::kNone) {
              first_input = known_ready = ready;  // start the next iteration where the message is
              return Wake::work;
            }
            return core.flags() != flags || (owes && context.outbox_can_move()) ? Wake::work : Wake::idle;
          },
          [&](absl::Duration slept) {
            core.owned.parks.add(1);
            core.owned.parked_ns.add(static_cast<std::uint64_t>(absl::ToInt64Nanoseconds(slept)));
          });
      if (wake == Wake::timed_out && idle_tick && absl::Now() >= last_tick + *idle_tick) {
        // Busy first, then look at the flags again: either shutdown's quiescence check
        // sees this worker busy, or this worker sees the drain and does not tick (a tick
        // may send, and nothing may be sent once the pool has been found quiescent).
        begin_busy();
        SN_PERTURB_POINT("worker.idle_tick.busy_before_fence");
        std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with signal()'s fetch_or
        if ((core.flags() & (detail::kStop | detail::kDrain | detail::kExit)) == 0) run_tick();
        end_busy();
        last_tick = absl::Now();
      }
    }
  }

  void note_hook_fault(std::size_t index, const char* hook, absl::Status status) {
    if (status.ok()) return;
    hook_faults_.fetch_add(1, std::memory_order_relaxed);
    if (shared_->fault_policy == FaultPolicy::stop_pool) {
      shared_->record_fault(absl::Status(status.code(), absl::StrCat("sn::WorkerPool: worker ", index, ": ", hook,
                                                                      " failed: ", status.message())));
      shared_->stop_all();
    }
  }

  // ------------------------------------------------------------------ shutdown

  /// Waits until no message is anywhere and no worker is busy (see runtime.h). Returns
  /// false if the pool was stopped meanwhile (a fault under stop_pool).
  enum class Quiet : std::uint8_t { yes, stopped, timed_out };
  Quiet wait_until_quiescent(absl::Time deadline = absl::InfiniteFuture()) {
    std::vector<std::uint64_t> previous, current;
    bool previous_quiet = false;
    absl::Duration pause = absl::Microseconds(10);
    for (;;) {
      for (const auto& core : shared_->cores) {
        if ((core->flags() & detail::kStop) != 0) return Quiet::stopped;
      }
      SN_PERTURB_POINT("pool.quiescence.between_waves");
      const bool quiet = quiescent_wave(current);
      if (quiet && previous_quiet && current == previous) return Quiet::yes;
      if (absl::Now() >= deadline) return Quiet::timed_out;
      previous.swap(current);
      previous_quiet = quiet;
      absl::SleepFor(quiet ? absl::Microseconds(10) : pause);
      pause = std::min(pause * 2, absl::Milliseconds(1));
    }
  }

  /// One wave of the four-counter check: every lane's consumed then published count, every
  /// outbox, then every activity word. Two equal waves in a row, each quiet, prove that at
  /// an instant between them nothing was queued, owed or in progress; with external sends
  /// refused, nothing can start again.
  bool quiescent_wave(std::vector<std::uint64_t>& out) const {
    // Pairs with the fence of a worker's idle tick (busy first, then the control word):
    // the drain flag was set before this wave, so either the wave sees the worker busy,
    // or the worker sees the flag.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    out.clear();
    bool quiet = true;
    auto add_lane = [&](const ChannelStats& s) {  // stats() reads received before sent
      out.push_back(s.received);
      out.push_back(s.sent);
      quiet = quiet && s.sent == s.received;
    };
    for (const auto& core : shared_->cores) {
      add_lane(core->inbox_rx.stats());
      for (const auto& lane : core->lanes_in) add_lane(lane.stats());
    }
    for (const auto& core : shared_->cores) {
      const std::uint64_t pending = core->owned.outbox_pending.load(std::memory_order_acquire);
      out.push_back(pending);
      quiet = quiet && pending == 0;
    }
    for (const auto& core : shared_->cores) {
      const std::uint64_t a = core->owned.activity.load(std::memory_order_acquire);  // pairs with the even store
      out.push_back(a);
      quiet = quiet && (a & 1) == 0;
    }
    return quiet;
  }

  /// Joins the workers and destroys what is still queued, counting it as dropped.
  /// Returns how many accepted messages were left. Holds lifecycle_mu_.
  std::uint64_t finish() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    std::uint64_t left = shared_->left_by_workers.load(std::memory_order_relaxed);
    auto discard = [](auto& rx) -> std::uint64_t {
      return rx.consume(static_cast<std::size_t>(-1), [](Parcel&&) {}).count;
    };
    for (auto& core : shared_->cores) {
      std::uint64_t here = 0;
      // The inbox is closed, so its tail is final; but a sender may have claimed a slot
      // and not yet filled it, with more filled slots behind. Drain until `closed`
      // (closed and empty), not merely until the first empty slot.
      for (;;) {
        here += discard(core->inbox_rx);
        if (core->inbox_rx.consume(1, [&](Parcel&&) { ++here; }).status == RecvResult::closed) break;
        std::this_thread::yield();
      }
      // The lanes' producers are the workers, all joined: everything sent is published.
      for (auto& lane : core->lanes_in) here += discard(lane);
      if (here != 0) core->remote.dropped_at_stop.fetch_add(here, std::memory_order_relaxed);
      left += here;
    }
    finished_ = true;
    return left;
  }

  std::unique_ptr<detail::PoolShared<Message>> shared_;
  std::function<absl::StatusOr<std::unique_ptr<W>>(std::size_t)> factory_;
  std::vector<std::unique_ptr<W>> workers_;  // [slot]; empty where no worker runs
  std::vector<std::thread> threads_;         // [slot]
  Migration migration_;
  std::optional<absl::Duration> idle_tick_;
  std::atomic<std::uint64_t> hook_faults_{0};

  std::mutex start_mu_;
  std::condition_variable start_cv_;
  std::size_t started_ = 0;       // guarded by start_mu_
  std::size_t start_target_ = 0;  // guarded by start_mu_
  absl::Status start_error_;  // guarded by start_mu_

  std::mutex lifecycle_mu_;
  bool finished_ = false;  // guarded by lifecycle_mu_
};

}  // namespace sn
