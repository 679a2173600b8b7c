// Internal: the pool-wide state that the facade, the worker contexts and the loops share.
// PoolState is type-free (src/pool/ works on it); PoolShared<M> adds the typed slots.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sn/cache_line.h"
#include "sn/channel/wait_policy.h"
#include "sn/pool/config.h"
#include "sn/pool/detail/core.h"
#include "sn/pool/detail/dead_letter_post.h"
#include "sn/pool/detail/remote.h"
#include "sn/pool/detail/router.h"
#include "sn/pool/detail/send_gate.h"
#include "sn/pool/detail/timers.h"

namespace sn::detail {

/// What every part of a pool reads, whatever its message type.
struct PoolState {
  explicit PoolState(Router r) noexcept : router(std::move(r)) {}
  PoolState(const PoolState&) = delete;
  PoolState& operator=(const PoolState&) = delete;
  virtual ~PoolState() = default;

  std::vector<CoreBase*> bases;  // [slot]: the same objects as PoolShared::cores
  // Changes only during a resize, while the gate is closed and the workers are quiescent.
  Router router;
  SendGate gate;                       // passed by external senders of a resizable pool
  std::atomic<std::size_t> active{0};  // workers taking messages

  FullPolicy full_policy = FullPolicy::block;
  WaitPolicy wait{};  // how external senders wait for a resize to end
  FaultPolicy fault_policy = FaultPolicy::continue_running;
  RestartLimit restart_limit{};
  FaultObserver fault_observer;  // empty: faults are only counted
  std::string name;              // PoolConfig::name, for faults
  bool timestamps = false;
  bool sequence_numbers = false;

  // External sends refused (full under fail, closed, invalid): any thread, rare.
  alignas(kFalseSharingRange) std::atomic<std::uint64_t> external_rejected{0};
  // Accepted messages left unhandled at stop, counted by the workers as they exit
  // (their outboxes) or as they drop the rest of a batch a fault halted.
  std::atomic<std::uint64_t> left_by_workers{0};
  // Accepted and destroyed under FullPolicy::drop because a resize held the gate closed.
  std::atomic<std::uint64_t> dropped_at_gate{0};
  // Exceptions from hooks that handle no message, the dead-letter sink included.
  std::atomic<std::uint64_t> hook_faults{0};
  std::atomic<std::uint64_t> external_calls{0};  // calls made from outside the pool (pool->call)
  std::atomic<std::uint64_t> reply_late{0};      // answers through a Reply that came too late (any thread)
  // Messages passed to the dead-letter sink (each also counted where it was dropped).
  std::atomic<std::uint64_t> dead_letters_posted{0};
  // Timers made outside the pool and cancelled (those of a slot count at its core).
  std::atomic<std::uint64_t> foreign_timers_cancelled{0};

  std::atomic<bool> closing{false};  // shutdown or stop began

  mutable std::mutex fault_mu;
  absl::Status fault;        // guarded by fault_mu: the first fault that stopped the pool
  std::string last_fault;    // guarded by fault_mu: describe() of the latest fault
  std::uint64_t faults = 0;  // guarded by fault_mu: every fault reported

  /// Slots (max_workers); see `active` for the workers running now.
  std::size_t size() const noexcept { return bases.size(); }
  bool resizable() const noexcept { return router.resizable(); }
  /// Whether slot `index` exists and runs a worker that takes messages (in a pool that
  /// cannot resize, every slot does).
  bool accepts(std::size_t index) const noexcept {
    return index < size() && (!resizable() || bases[index]->control.active.load(std::memory_order_relaxed));
  }
  bool running() const noexcept { return !closing.load(std::memory_order_acquire); }

  /// Stops every worker after its current batch and refuses further external sends.
  /// Any thread; idempotent.
  void stop_all() noexcept {
    close_inboxes();
    for (CoreBase* core : bases) core->signal(kStop);
  }
  /// Refuses external sends from now on. The inboxes close before `closing` is set, so
  /// that once running() reads false, every external send returns `closed`.
  void close_inboxes() noexcept {
    for (CoreBase* core : bases) core->close_inbox();
    closing.store(true, std::memory_order_release);
    gate.wake_waiters();  // senders waiting for a resize to end give up (closed)
  }
  void record_fault(absl::Status status) {
    std::lock_guard lock(fault_mu);
    if (fault.ok()) fault = std::move(status);
  }
  /// Counts one cancelled timer against the slab it lived in (a WorkerTimers callback).
  static void count_cancelled(void* pool, std::uint32_t slab) noexcept {
    auto& self = *static_cast<PoolState*>(pool);
    if (slab < self.size()) {
      self.bases[slab]->remote.timers_cancelled.fetch_add(1, std::memory_order_relaxed);
    } else {
      self.foreign_timers_cancelled.fetch_add(1, std::memory_order_relaxed);
    }
  }
  /// Counts a hook's failure and reports it; under FaultPolicy::stop_pool it also stops
  /// the pool. For hooks that no supervision applies to (on_stop, resize hooks).
  void note_hook_fault(std::size_t index, FaultSite site, const absl::Status& status);
  /// Keeps `fault` as the last one and passes it to the observer. Any thread; the
  /// observer runs outside the lock.
  void report_fault(Fault& fault);
};

/// The pool-wide state with the typed slots.
template <class M>
struct PoolShared : PoolState {
  using PoolState::PoolState;
  std::vector<std::unique_ptr<WorkerCore<M>>> cores;  // [slot]
  std::unique_ptr<TimerRegistry<M>> timers;           // made once the slots are known
  DeadLetterPost<M> dead_letter_post;                 // set when wired; the cores point to it
  RemoteRoute<M>* remote = nullptr;                   // keys owned elsewhere (sn::ClusterPool); set before start

  void add_core(std::unique_ptr<WorkerCore<M>> core) {
    core->dead_letters = &dead_letter_post;
    core->slot = cores.size();
    bases.push_back(core.get());
    cores.push_back(std::move(core));
  }
  /// An accepted message that will not be handled, addressed to `worker` (or
  /// DeadLetter<M>::kUnknownWorker): to the sink, or destroyed. The caller counts it as
  /// dropped. Any thread.
  void dead_letter(M&& msg, std::uint64_t key, std::size_t worker, DeadLetterReason reason) const noexcept {
    dead_letter_post.post(std::move(msg), key, worker, reason);
  }
};

/// The pool and the context of the worker running on this thread, if any (sends made
/// from a handler must never wait, and a worker may not shut down its own pool).
inline thread_local const void* t_current_pool = nullptr;
inline thread_local void* t_current_context = nullptr;

}  // namespace sn::detail
