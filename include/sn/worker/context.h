// A worker's view of its pool while it runs: who it is, its memory, and sends to other workers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sn/channel/result.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/key.h"
#include "sn/worker/arena.h"
#include "sn/worker/config.h"
#include "sn/worker/detail/runtime.h"
#include "sn/worker/heap.h"

namespace sn {

template <class M>
class WorkerContext;

namespace detail {

/// The pool-wide part of the runtime that contexts and the pool share.
template <class M>
struct PoolShared {
  std::vector<std::unique_ptr<WorkerCore<M>>> cores;  // one per slot
  std::function<std::size_t(std::uint64_t, std::size_t)> custom_partition;  // empty: HashPartitioner or ring
  // A resizable pool's routing (slot = worker id); changes only during a resize, while
  // the gate is closed and the workers are quiescent (see SendGate).
  std::unique_ptr<ConsistentHashPartitioner> ring;
  SendGate gate;  // passed by external senders of a resizable pool
  std::atomic<std::size_t> active{0};  // workers taking messages

  /// The worker that owns `key`. The default HashPartitioner is called directly (one
  /// multiply-high, inlined), the ring of a resizable pool directly, a custom one through
  /// std::function.
  std::size_t route(std::uint64_t key) const {
    if (!custom_partition) [[likely]] {
      if (ring == nullptr) [[likely]] return HashPartitioner{}(key, size());
      return ring->owner(key);
    }
    return custom_partition(key, size());
  }
  bool resizable() const noexcept { return ring != nullptr; }
  /// Whether slot `index` exists and runs a worker that takes messages (in a pool that
  /// cannot resize, every slot does).
  bool accepts(std::size_t index) const noexcept {
    return index < size() && (ring == nullptr || cores[index]->control.active.load(std::memory_order_relaxed));
  }
  FullPolicy full_policy = FullPolicy::block;
  WaitPolicy wait{};  // how external senders wait for a resize to end
  FaultPolicy fault_policy = FaultPolicy::continue_running;
  bool timestamps = false;
  bool sequence_numbers = false;

  // External sends refused (full under fail, closed, invalid): any thread, rare.
  alignas(kFalseSharingRange) std::atomic<std::uint64_t> external_rejected{0};
  // Accepted messages left unhandled at stop, counted by the workers as they exit
  // (their outboxes) or as they drop the rest of a batch a fault halted.
  std::atomic<std::uint64_t> left_by_workers{0};
  // Accepted and destroyed under FullPolicy::drop because a resize held the gate closed.
  std::atomic<std::uint64_t> dropped_at_gate{0};

  std::atomic<bool> closing{false};  // shutdown or stop began

  std::mutex fault_mu;
  absl::Status fault;  // guarded by fault_mu: the first fault that stopped the pool

  /// Slots (max_workers); see `active` for the workers running now.
  std::size_t size() const noexcept { return cores.size(); }

  /// Stops every worker after its current batch and refuses further external sends.
  /// Any thread; idempotent.
  void stop_all() noexcept {
    close_inboxes();
    for (auto& core : cores) core->signal(kStop);
  }

  /// Refuses external sends from now on. The inboxes close before `closing` is set, so
  /// that once running() reads false, every external send returns `closed`.
  void close_inboxes() noexcept {
    for (auto& core : cores) core->inbox_tx.close();
    closing.store(true, std::memory_order_release);
    gate.wake_waiters();  // senders waiting for a resize to end give up (closed)
  }

  void record_fault(absl::Status status) {
    std::lock_guard lock(fault_mu);
    if (fault.ok()) fault = std::move(status);
  }
};

/// The context of the worker running on this thread, if any (for pool sends made from a
/// handler, which must never wait).
inline thread_local const void* t_current_pool = nullptr;
inline thread_local void* t_current_context = nullptr;

}  // namespace detail

/// What a handler can reach besides its State. Obtained from Worker::context(); valid on
/// the worker's own thread while the worker runs (init, on_start, handle_message, tick,
/// on_stop). Not thread-safe: it belongs to that thread.
template <class M>
class WorkerContext {
 public:
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  /// This worker's index: its slot, in [0, max_workers). Without resizes the workers
  /// are 0..pool_size()-1; after a remove_worker() the indices may have gaps.
  std::size_t index() const noexcept { return index_; }
  /// The number of workers running now.
  std::size_t pool_size() const noexcept { return shared_->active.load(std::memory_order_relaxed); }
  /// Whether this worker owns `key` under the pool's partitioner (as send(key) routes).
  bool owns(std::uint64_t key) const { return shared_->route(key) == index_; }
  /// This worker's thread name.
  const std::string& name() const noexcept { return core_->config.name; }
  /// The CPU this worker is pinned to, or -1.
  int cpu() const noexcept { return core_->config.cpu; }

  /// Scratch memory for this iteration; reset after tick().
  TickArena& arena() noexcept { return *arena_; }
  /// This worker's own heap, for long-lived data (see HeapAllocator).
  WorkerHeap& heap() noexcept { return *heap_; }
  /// The heap as a std::pmr::memory_resource, for std::pmr containers.
  std::pmr::memory_resource* memory_resource() noexcept { return heap_->resource(); }

  /// Sends to the worker that owns `key` under the pool's partitioner.
  /// Never waits. `ok`: accepted (in the lane, or in this worker's outbox under
  /// FullPolicy::block); `full` (FullPolicy::fail) and `closed` (the pool is stopping)
  /// leave the value with the caller; `dropped` (FullPolicy::drop) destroyed it.
  SendResult send(std::uint64_t key, M&& msg) noexcept {
    return send_to(shared_->route(key), std::move(msg), key);
  }
  /// Sends a copy of `msg`; as send(std::uint64_t, M&&).
  SendResult send(std::uint64_t key, const M& msg) requires std::is_copy_constructible_v<M> {
    M copy(msg);
    return send(key, std::move(copy));
  }
  /// With a string, byte-span or user key: routes on sn::routing_key(key), which is also
  /// the envelope's key.
  template <class K>
    requires(!std::is_integral_v<K> && !std::is_enum_v<K>)
  SendResult send(const K& key, M&& msg) noexcept {
    return send(routing_key(key), std::move(msg));
  }

  /// Sends to worker `index` (this worker included), with `key` for the envelope.
  /// As send(); `invalid` when there is no such worker.
  SendResult send_to(std::size_t index, M&& msg, std::uint64_t key = 0) noexcept {
    if (!shared_->accepts(index) || refusing_) [[unlikely]] {
      core_->owned.rejected.add(1);
      return !shared_->accepts(index) ? SendResult::invalid : SendResult::closed;
    }
    detail::Parcel<M> parcel{std::move(msg), key, Source::worker(index_),
                             shared_->timestamps ? detail::SendStamp::now() : 0};
    detail::Backlog<detail::Parcel<M>>& backlog = outboxes_[index];
    if (backlog.empty()) [[likely]] {
      const SendResult r = core_->lanes_out[index].try_send(std::move(parcel));
      if (r == SendResult::ok) [[likely]] {
        core_->owned.sent.add(1);
        shared_->cores[index]->ring_doorbell();
        return r;
      }
      if (r == SendResult::closed) {
        msg = std::move(parcel.payload);
        core_->owned.rejected.add(1);
        return r;
      }
    }
    return overflow(index, parcel, msg);
  }
  /// Sends a copy of `msg`; as send_to(std::size_t, M&&, std::uint64_t).
  SendResult send_to(std::size_t index, const M& msg, std::uint64_t key = 0)
    requires std::is_copy_constructible_v<M>
  {
    M copy(msg);
    return send_to(index, std::move(copy), key);
  }

  /// Sends a copy to every worker, this one included. `count` is how many accepted it;
  /// `status` is `ok` when all did, else the first other result.
  SendBatchResult broadcast(const M& msg) requires std::is_copy_constructible_v<M> {
    return detail::broadcast_to(*shared_, [&](std::size_t j) { return send_to(j, msg); });
  }

  /// Messages waiting in this worker's outbox (sent under FullPolicy::block while the
  /// destination lane was full).
  std::size_t outbox_size() const noexcept { return outbox_total_; }

 private:
  template <class W>
  friend class WorkerPool;

  WorkerContext(std::size_t index, detail::PoolShared<M>* shared, WorkerHeap* heap, TickArena* arena)
      : index_(index), shared_(shared), core_(shared->cores[index].get()), heap_(heap), arena_(arena) {
    outboxes_.resize(shared->size());
    for (auto& backlog : outboxes_) backlog.attach(heap);
  }

  /// The lane to `index` was full, or already had a backlog that must go first.
  SendResult overflow(std::size_t index, detail::Parcel<M>& parcel, M& msg) noexcept {
    switch (shared_->full_policy) {
      case FullPolicy::block:
        if (outboxes_[index].push(parcel)) {
          core_->owned.sent.add(1);
          if (outbox_total_++ == 0) core_->owes.room.store(true, std::memory_order_relaxed);
          core_->owned.outbox_pending.store(outbox_total_, std::memory_order_relaxed);
          return SendResult::ok;
        }
        break;  // out of memory: hand it back
      case FullPolicy::drop:
        shared_->cores[index]->remote.dropped_full.fetch_add(1, std::memory_order_relaxed);
        return SendResult::dropped;  // `parcel` is destroyed by the caller's frame
      case FullPolicy::fail:
        break;
    }
    msg = std::move(parcel.payload);
    core_->owned.rejected.add(1);
    return SendResult::full;
  }

  /// Moves what fits from the outboxes into their lanes, oldest first. Returns whether
  /// anything moved.
  bool flush_outboxes() noexcept {
    bool moved_any = false;
    for (std::size_t j = 0; j < outboxes_.size(); ++j) {
      detail::Backlog<detail::Parcel<M>>& backlog = outboxes_[j];
      bool moved = false;
      while (!backlog.empty() && core_->lanes_out[j].try_send(std::move(backlog.front())) == SendResult::ok) {
        backlog.pop();
        --outbox_total_;
        moved = true;
      }
      if (moved) {
        shared_->cores[j]->ring_doorbell();
        moved_any = true;
      }
    }
    core_->owned.outbox_pending.store(outbox_total_, std::memory_order_relaxed);
    if (outbox_total_ == 0) core_->owes.room.store(false, std::memory_order_relaxed);
    return moved_any;
  }

  /// Whether some lane this worker owes messages to has room now (producer side: exact).
  bool outbox_can_move() noexcept {
    for (std::size_t j = 0; j < outboxes_.size(); ++j) {
      if (!outboxes_[j].empty() && core_->lanes_out[j].has_room()) return true;
    }
    return false;
  }

  /// Destroys what is left in the outboxes (the pool stopped), counting each message as
  /// dropped at its destination. Returns how many.
  std::uint64_t discard_outboxes() noexcept {
    std::uint64_t total = 0;
    for (std::size_t j = 0; j < outboxes_.size(); ++j) {
      const std::size_t n = outboxes_[j].size();
      outboxes_[j].clear();
      if (n != 0) shared_->cores[j]->remote.dropped_at_stop.fetch_add(n, std::memory_order_relaxed);
      total += n;
    }
    outbox_total_ = 0;
    core_->owned.outbox_pending.store(0, std::memory_order_relaxed);
    core_->owes.room.store(false, std::memory_order_relaxed);
    return total;
  }

  std::size_t index_;
  detail::PoolShared<M>* shared_;
  detail::WorkerCore<M>* core_;
  WorkerHeap* heap_;
  TickArena* arena_;
  std::vector<detail::Backlog<detail::Parcel<M>>> outboxes_;  // [j]: overflow of the lane to j
  std::size_t outbox_total_ = 0;
  bool refusing_ = false;  // set for on_stop: nobody is left to receive
};

}  // namespace sn
