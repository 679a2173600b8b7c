// The resize protocol of a pool whose partitioner models ResizablePartitioner (see
// WorkerPool::add_worker for the contract, and sn/pool/detail/core.h for the ordering).
#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sn/pool/detail/dispatch.h"
#include "sn/pool/detail/pool_base.h"

namespace sn::detail {

absl::StatusOr<ResizeReport> PoolBase::add_worker(absl::Duration drain_limit) {
  if (absl::Status s = not_from_a_worker(); !s.ok()) return s;
  std::lock_guard lock(lifecycle_mu_);
  if (absl::Status s = can_resize(); !s.ok()) return s;
  std::size_t slot = capacity();
  for (std::size_t i = 0; i < capacity() && slot == capacity(); ++i) {
    if (!state_->bases[i]->control.active.load(std::memory_order_relaxed)) slot = i;
  }
  if (slot == capacity()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sn::WorkerPool: all ", capacity(), " worker slots are in use; raise PoolConfig::max_workers"));
  }
  absl::StatusOr<Router> next = state_->router.changed(slot, Router::Change::add);
  if (!next.ok()) return next.status();
  if (absl::Status s = make_worker(slot); !s.ok()) return s;
  if (absl::Status s = start(slot, slot + 1); !s.ok()) {
    forget_worker(slot);
    return s;
  }
  absl::StatusOr<ResizeReport> report = resize(std::move(*next), slot, Router::Change::add, drain_limit);
  if (!report.ok() && running()) retire_unused(slot);
  return report;
}

absl::StatusOr<ResizeReport> PoolBase::remove_worker(std::size_t index, absl::Duration drain_limit) {
  if (absl::Status s = not_from_a_worker(); !s.ok()) return s;
  std::lock_guard lock(lifecycle_mu_);
  if (absl::Status s = can_resize(); !s.ok()) return s;
  if (!state_->accepts(index)) {
    return absl::NotFoundError(absl::StrCat("sn::WorkerPool: no worker runs in slot ", index));
  }
  if (size() == 1) return absl::FailedPreconditionError("sn::WorkerPool: cannot remove the last worker");
  absl::StatusOr<Router> next = state_->router.changed(index, Router::Change::remove);
  if (!next.ok()) return next.status();
  return resize(std::move(*next), index, Router::Change::remove, drain_limit);
}

absl::Status PoolBase::not_from_a_worker() const {
  if (t_current_pool != state_.get()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "sn::WorkerPool: a worker cannot resize its own pool (the resize waits for every worker to be idle)");
}

absl::Status PoolBase::can_resize() const {
  if (!state_->resizable()) {
    return absl::FailedPreconditionError(
        "sn::WorkerPool: only a pool created with a resizable partitioner (sn::ResizablePartitioner, such as "
        "ConsistentHashPartitioner or RendezvousPartitioner) can be resized");
  }
  if (finished_ || !running()) return absl::FailedPreconditionError("sn::WorkerPool: the pool has stopped");
  return absl::OkStatus();
}

void PoolBase::retire_unused(std::size_t slot) {
  state_->bases[slot]->signal(kExit);
  threads_[slot].join();
  forget_worker(slot);
}

// Holds lifecycle_mu_. `slot` was just started (adding) or is the worker to remove.
// Returns the report, or an error when nothing changed.
absl::StatusOr<ResizeReport> PoolBase::resize(Router next, std::size_t slot, Router::Change change,
                                              absl::Duration drain_limit) {
  PoolState& shared = *state_;
  Migration& m = migration_;
  const bool removing = change == Router::Change::remove;
  // Everything that allocates happens before the gate closes.
  std::vector<std::size_t> running_slots, exporters, importers;
  std::vector<char> imports(capacity(), 0);
  importers.reserve(capacity());
  for (std::size_t i = 0; i < capacity(); ++i) {
    if (threads_[i].joinable()) running_slots.push_back(i);
    if (shared.accepts(i)) exporters.push_back(i);  // a new worker owns nothing yet
  }
  m.next.emplace(std::move(next));
  m.removed = removing ? slot : Migration::kNoSlot;
  m.timer_adopter = Migration::kNoSlot;
  for (std::size_t i : exporters) {
    if (removing && i != slot) {
      m.timer_adopter = i;  // the lowest surviving slot takes the removed worker's timers
      break;
    }
  }
  m.timers.clear();
  {
    std::lock_guard lock(m.mu);
    m.failures = 0;
    m.error = absl::OkStatus();
  }

  const absl::Time began = absl::Now();
  absl::Status outcome;
  bool switched = false;
  std::uint64_t pieces = 0;
  auto aborted = [] { return absl::AbortedError("sn::WorkerPool: the pool stopped during the resize"); };
  shared.gate.close();
  for (std::size_t i : running_slots) shared.bases[i]->signal(kDrain);
  try {
    // Everything sent before the gate closed is handled by its old owner first.
    switch (
        wait_until_quiescent(drain_limit == absl::InfiniteDuration() ? absl::InfiniteFuture() : began + drain_limit)) {
      case Quiet::yes: break;
      case Quiet::stopped: outcome = aborted(); break;
      case Quiet::timed_out:
        outcome = absl::DeadlineExceededError(
            absl::StrCat("sn::WorkerPool: the pool did not become idle within ", absl::FormatDuration(drain_limit),
                         " (do handlers keep sending to each other?); nothing was changed"));
        break;
    }
    if (outcome.ok() && !run_step(Migration::Phase::exporting, exporters)) outcome = aborted();
    if (outcome.ok()) {
      pieces = plan_imports(imports);
      if (m.timer_adopter != Migration::kNoSlot) imports[m.timer_adopter] = 1;
      for (std::size_t i = 0; i < capacity(); ++i) {
        if (imports[i] != 0) importers.push_back(i);
      }
      if (!run_step(Migration::Phase::importing, importers)) outcome = aborted();
    }
    if (outcome.ok()) {
      // Nothing runs: no sender is inside the gate and every worker is idle.
      shared.router.replace(std::move(*m.next));
      CoreBase& changed = *shared.bases[slot];
      changed.control.active.store(!removing, std::memory_order_relaxed);
      if (removing) {
        shared.active.fetch_sub(1, std::memory_order_relaxed);
        changed.signal(kExit);  // before the drain flag clears: no idle tick after this
      } else {
        shared.active.fetch_add(1, std::memory_order_relaxed);
      }
      switched = true;
    }
  } catch (...) {  // allocation in the quiescence check, before any state moved
    outcome = absl::ResourceExhaustedError(
        absl::StrCat("sn::WorkerPool: resize failed before moving any state: ", describe_current_exception()));
  }
  for (std::size_t i : running_slots) {
    if (switched && removing && i == slot) continue;
    shared.bases[i]->control.flags.fetch_and(~std::uint32_t{kDrain}, std::memory_order_seq_cst);
    shared.bases[i]->doorbell.ring(false);
  }
  shared.gate.open();  // before the removed worker's on_stop, which may take its time
  const absl::Duration paused = absl::Now() - began;
  // Not switched: the hand-off stays as it is (a worker of a stopped pool may still be
  // in its step); the next resize starts it afresh, and finish() cancels stray timers.
  if (!switched) return outcome;
  if (removing) {
    threads_[slot].join();
    forget_worker(slot);
  }
  m.next.reset();
  clear_handoff();
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

// Asks each worker in `slots` for one step of the hand-off and waits until they all have
// done it. False if the pool stopped meanwhile.
bool PoolBase::run_step(Migration::Phase phase, const std::vector<std::size_t>& slots) {
  Migration& m = migration_;
  {
    std::lock_guard lock(m.mu);
    m.phase = phase;
    m.waiting = slots.size();
  }
  for (std::size_t i : slots) {
    state_->bases[i]->control.flags.fetch_add(kMigrateRound, std::memory_order_seq_cst);
    state_->bases[i]->doorbell.ring(false);
  }
  std::unique_lock lock(m.mu);
  while (m.waiting != 0) {
    if (!running()) return false;  // stopped: a worker may leave without its step
    m.done.wait_for(lock, std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace sn::detail
