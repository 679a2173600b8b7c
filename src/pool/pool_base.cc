// The type-free part of a pool: starting and joining threads, shutdown and stop with the
// quiescence check, and the resize protocol.
#include "sn/pool/detail/pool_base.h"

#include <algorithm>
#include <chrono>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sn/detail/perturb.h"
#include "sn/pool/detail/control.h"
#include "sn/pool/detail/dispatch.h"

namespace sn::detail {

void PoolState::note_hook_fault(std::size_t index, FaultSite site, const absl::Status& status) {
  if (status.ok()) return;
  hook_faults.fetch_add(1, std::memory_order_relaxed);
  Fault f = make_fault(name, index, site, std::nullopt, status, 0);
  f.action = fault_policy == FaultPolicy::stop_pool ? FaultPolicy::stop_pool : FaultPolicy::continue_running;
  if (fault_policy == FaultPolicy::stop_pool) {
    record_fault(
        absl::Status(status.code(), absl::StrCat("sn::WorkerPool: worker ", index, ": ", std::string(to_string(site)),
                                                 " failed: ", status.message())));
    stop_all();
  }
  report_fault(f);
}

void PoolState::report_fault(Fault& f) {
  {
    std::lock_guard lock(fault_mu);
    last_fault = describe(f);
    ++faults;
  }
  if (!fault_observer) return;
  try {
    fault_observer(f);
  } catch (...) {  // an observer's own failure must not take the worker down with it
  }
}

absl::Status PoolBase::revive(std::size_t index) {
  if (!has_worker(index)) return absl::NotFoundError(absl::StrCat("sn::WorkerPool::revive: no worker in slot ", index));
  if (!running()) return absl::FailedPreconditionError("sn::WorkerPool::revive: the pool is stopping");
  CoreBase& core = *state_->bases[index];
  if (!core.owned.isolated.load(std::memory_order_relaxed)) {
    return absl::FailedPreconditionError(absl::StrCat("sn::WorkerPool::revive: worker ", index, " is not isolated"));
  }
  core.signal(kRevive);
  return absl::OkStatus();
}

void Migration::step_done(std::size_t slot, const absl::Status& s, std::atomic<std::uint64_t>& hook_faults) {
  std::lock_guard lock(mu);
  if (!s.ok()) {
    hook_faults.fetch_add(1, std::memory_order_relaxed);
    if (failures++ == 0) {
      error = absl::Status(s.code(), absl::StrCat("sn::WorkerPool: worker ", slot, ": ",
                                                  phase == Phase::exporting ? "export_state" : "import_state",
                                                  " failed during a resize: ", s.message()));
    }
  }
  if (--waiting == 0) done.notify_all();
}

PoolBase::~PoolBase() = default;

absl::Status PoolBase::status() const {
  std::lock_guard lock(state_->fault_mu);
  return state_->fault;
}

// ------------------------------------------------------------------ starting

absl::Status PoolBase::start(std::size_t from, std::size_t to) {
  const bool creating = from == 0 && state_->active.load(std::memory_order_relaxed) == 0;
  {
    std::lock_guard lock(start_mu_);
    started_ = 0;
    start_target_ = to - from;
    start_error_ = absl::OkStatus();
  }
  for (std::size_t i = from; i < to; ++i) {
    CoreBase& core = *state_->bases[i];
    core.control.flags.fetch_and(kStop, std::memory_order_seq_cst);  // a reused slot's exit flag
    core.control.started.store(true, std::memory_order_relaxed);
    if (creating) {
      core.control.active.store(true, std::memory_order_relaxed);
      state_->active.fetch_add(1, std::memory_order_relaxed);
    }
    try {
      threads_[i] = std::thread([this, i] { run_worker(i); });
    } catch (const std::system_error& e) {
      report_started(
          absl::ResourceExhaustedError(absl::StrCat("sn::WorkerPool: cannot start worker ", i, ": ", e.what())));
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
  if (first.ok()) return first;
  if (creating) {
    (void)stop();
  } else {
    for (std::size_t i = from; i < to; ++i) {
      if (threads_[i].joinable()) threads_[i].join();
    }
  }
  return first;
}

void PoolBase::report_started(absl::Status status) {
  std::lock_guard lock(start_mu_);
  if (start_error_.ok() && !status.ok()) start_error_ = std::move(status);
  if (++started_ == start_target_) start_cv_.notify_all();
}

// ------------------------------------------------------------------ shutdown

absl::Status PoolBase::shutdown() {
  if (t_current_pool == state_.get()) [[unlikely]] {
    return absl::FailedPreconditionError(
        "sn::WorkerPool: a worker cannot shut down its own pool (the drain would wait for its own batch); "
        "call shutdown() from outside the pool, or stop() from the worker");
  }
  std::lock_guard lock(lifecycle_mu_);
  if (!finished_) {
    state_->close_inboxes();
    for (CoreBase* core : state_->bases) core->signal(kDrain);
    if (wait_until_quiescent() == Quiet::yes) {
      for (CoreBase* core : state_->bases) core->signal(kExit);
    } else {
      state_->stop_all();  // a fault stopped the pool while it drained
    }
    finish();
  }
  return status();
}

std::uint64_t PoolBase::stop() {
  // Before the lock: a shutdown() still waiting for quiescence (say, a handler that keeps
  // sending to itself) sees the stop and gives way.
  state_->stop_all();
  if (t_current_pool == state_.get()) [[unlikely]]
    return 0;
  std::lock_guard lock(lifecycle_mu_);
  if (finished_) return 0;
  return finish();
}

PoolBase::Quiet PoolBase::wait_until_quiescent(absl::Time deadline) {
  std::vector<std::uint64_t> previous, current;
  bool previous_quiet = false;
  absl::Duration pause = absl::Microseconds(10);
  for (;;) {
    for (const CoreBase* core : state_->bases) {
      if ((core->flags() & kStop) != 0) return Quiet::stopped;
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

std::uint64_t PoolBase::ring_bytes() const noexcept {
  std::uint64_t bytes = 0;
  for (const CoreBase* core : state_->bases) bytes += core->ring_bytes();
  return bytes;
}

// One wave of the four-counter check: every channel's consumed then published count,
// every outbox, then every activity word. Two equal waves in a row, each quiet, prove
// that at an instant between them nothing was queued, owed or in progress; with external
// sends refused (and timers paused by the drain flag), nothing can start again.
bool PoolBase::quiescent_wave(std::vector<std::uint64_t>& out) const {
  // Pairs with the fence of a worker's idle tick (busy first, then the control word): the
  // drain flag was set before this wave, so either the wave sees the worker busy, or the
  // worker sees the flag.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  out.clear();
  bool quiet = true;
  for (const CoreBase* core : state_->bases) core->channel_counts(out, quiet);
  for (const CoreBase* core : state_->bases) {
    const std::uint64_t pending = core->owned.outbox_pending.load(std::memory_order_acquire);
    out.push_back(pending);
    quiet = quiet && pending == 0;
  }
  for (const CoreBase* core : state_->bases) {
    const std::uint64_t a = core->owned.activity.load(std::memory_order_acquire);  // pairs with the even store
    out.push_back(a);
    quiet = quiet && (a & 1) == 0;
  }
  return quiet;
}

std::uint64_t PoolBase::finish() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::uint64_t left = state_->left_by_workers.load(std::memory_order_relaxed);
  for (CoreBase* core : state_->bases) {
    const std::uint64_t here = core->discard_queued();
    if (here != 0) core->remote.dropped_at_stop.fetch_add(here, std::memory_order_relaxed);
    left += here;
  }
  (void)cancel_unclaimed_timers();
  finished_ = true;
  return left;
}

}  // namespace sn::detail
