// Internal: a worker's thread. WorkerLoop<W> owns what the thread holds (its arena,
// outbox, timers, context, State and sources) and runs the tick loop:
//
//   for each iteration:
//     1. control flags (a resize step, stop, exit), before any data;
//     2. flush the outbox (what this worker owes full lanes);
//     3. drain the sources within the batch budget (lanes, inbox, due timers);
//     4. handle the batch, tick(), reset the arena;
//     5. with nothing done: wait (spin, yield, park on the doorbell) until a source has
//        something, a flag changes, the outbox can move, or the earliest deadline
//        (a timer, the idle tick) passes.
//
// Quiescence: `activity` is odd from the first message taken (or flush, or firing) of an
// iteration until after its tick (see core.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/detail/perturb.h"
#include "sn/pool/detail/call_sources.h"
#include "sn/pool/detail/dispatch.h"
#include "sn/pool/detail/outbox.h"
#include "sn/pool/detail/polled_sources.h"
#include "sn/pool/detail/pool_base.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/sources.h"
#include "sn/pool/detail/timers.h"
#include "sn/sync/doorbell.h"
#include "sn/worker/arena.h"
#include "sn/worker/context.h"
#include "sn/worker/detail/traits.h"
#include "sn/worker/handoff.h"
#include "sn/worker/heap.h"

namespace sn::detail {

/// What a worker's loop shares with its pool.
template <class W>
struct LoopEnv {
  using Piece = typename StateHandoff<typename HandoffType<W>::type>::Piece;
  PoolShared<typename W::message_type>& shared;
  Migration& migration;
  std::vector<std::vector<Piece>>& outgoing;  // [exporter]: the pieces it handed off
  std::optional<absl::Duration> idle_tick;
};

template <class W>
class WorkerLoop {
  using M = typename W::message_type;
  using Piece = typename LoopEnv<W>::Piece;

 public:
  WorkerLoop(const LoopEnv<W>& env, std::size_t index, W& w, WorkerHeap& heap);
  ~WorkerLoop();
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  /// Builds the State, runs on_start, reports how that went, then loops until stopped
  /// and runs on_stop. `report(status)` is called exactly once.
  template <class Report>
  void run(Report&& report);

 private:
  /// What the sources hand their messages to.
  struct Take {
    WorkerLoop& loop;
    void busy() noexcept { loop.begin_busy(); }
    void operator()(Parcel<M>&& parcel, std::size_t input) noexcept {
      loop.begin_busy();
      loop.dispatcher_.take(std::move(parcel), input);
    }
  };
  enum class Wake : std::uint8_t { idle, work, timed_out };

  void loop();
  Wake wait(std::uint32_t flags);
  bool back_off(std::uint32_t flags);
  void idle_tick();
  void run_tick();
  void migration_step();
  void finish_calls() noexcept;
  void begin_busy() noexcept {
    if (!busy_) {
      core_.owned.activity.store(++activity_, std::memory_order_relaxed);  // odd: see core.h
      busy_ = true;
    }
  }
  void end_busy() noexcept {
    if (busy_) {
      core_.owned.activity.store(++activity_, std::memory_order_release);  // even
      busy_ = false;
    }
  }

  const LoopEnv<W>& env_;
  PoolShared<M>& shared_;
  std::size_t index_;
  W& w_;
  WorkerCore<M>& core_;
  WorkerHeap& heap_;
  TickArena arena_;
  Outbox<M> outbox_;
  WorkerTimers<M> timers_;
  WorkerCalls<M> calls_;
  PolledSources<M> polled_;  // before context_, which adds to it
  WorkerContext<M> context_;
  StateBox<W> state_;
  Dispatcher<W> dispatcher_;
  MeshSource<M> mesh_;
  InboxSource<M> inbox_;
  RequestSource<W> requests_;
  ReplySource<W> replies_;
  TimerSource<M> timer_source_;
  Sources<MeshSource<M>, InboxSource<M>, RequestSource<W>, ReplySource<W>, PolledSources<M>, TimerSource<M>> sources_;
  sync::SpinHistory spin_history_;  // whether spinning lately kept a runnable thread off this CPU
  std::uint64_t activity_ = 0;
  bool busy_ = false;
  std::uint32_t round_ = 0;  // resize steps done
  absl::Time last_tick_ = absl::InfinitePast();
};

/// The body of worker `index`'s thread: places it, makes its heap, runs its loop.
/// `report(status)` is called exactly once, when the worker started or could not.
template <class W, class Report>
void run_worker_thread(const LoopEnv<W>& env, std::size_t index, W& w, Report&& report) {
  CoreBase& core = *env.shared.bases[index];
  bool memory_bound = false;
  absl::Status placed = place_current_thread(core.config.cpu, core.config.name, &memory_bound);
  core.owned.cpu.store(placed.ok() ? core.config.cpu : -1, std::memory_order_relaxed);
  core.owned.memory_bound.store(memory_bound, std::memory_order_relaxed);
  if (!placed.ok()) return report(std::move(placed));
  std::optional<WorkerHeap> heap;
  std::optional<WorkerLoop<W>> loop;
  try {
    heap.emplace();
  } catch (const std::bad_alloc&) {
    return report(absl::ResourceExhaustedError(absl::StrCat("sn::WorkerPool: worker ", index, ": no heap")));
  }
  try {
    loop.emplace(env, index, w, *heap);
  } catch (const std::bad_alloc&) {  // the handle_batch buffer, sized by batch_size, or the outbox table
    return report(absl::ResourceExhaustedError(
        absl::StrCat("sn::WorkerPool: worker ", index, ": out of memory for its batch buffer or outbox")));
  }
  loop->run(report);
}

// ------------------------------------------------------------------ definitions

template <class W>
WorkerLoop<W>::WorkerLoop(const LoopEnv<W>& env, std::size_t index, W& w, WorkerHeap& heap)
    : env_(env),
      shared_(env.shared),
      index_(index),
      w_(w),
      core_(*env.shared.cores[index]),
      heap_(heap),
      arena_(heap),
      outbox_(index, env.shared, heap),
      timers_(index, *env.shared.timers,
              OwnedCounterSet{&core_.owned.timers_scheduled, &core_.owned.timers_fired, &core_.owned.timers_expired},
              &PoolState::count_cancelled, &env.shared),
      calls_(env.shared, index, heap),
      polled_(env.shared, core_),
      context_(index, env.shared, heap, arena_, outbox_, timers_, calls_, polled_),
      state_(heap),
      dispatcher_(w, state_, env.shared, core_, index, heap, core_.config.batch_size, env.shared.size() + 1),
      mesh_(env.shared, core_),
      inbox_(core_, outbox_),
      requests_(core_, dispatcher_),
      replies_(core_, calls_, dispatcher_),
      timer_source_(env.shared, core_, timers_, outbox_),
      sources_(mesh_, inbox_, requests_, replies_, polled_, timer_source_) {
  core_.requests.reopen();  // a slot a resize reuses
  w_.context_ = &context_;
  t_current_pool = &shared_;
  t_current_context = &context_;
}

template <class W>
WorkerLoop<W>::~WorkerLoop() {
  t_current_pool = nullptr;
  t_current_context = nullptr;
  w_.context_ = nullptr;
}

template <class W>
template <class Report>
void WorkerLoop<W>::run(Report&& report) {
  // Before reporting the start: a resize may ask this worker for a step right after.
  round_ = core_.flags() / kMigrateRound;
  absl::Status started = state_.build(w_);
  if (started.ok()) {
    if constexpr (requires { w_.on_start(*state_); }) started = guarded([&] { w_.on_start(*state_); });
  }
  if (!started.ok()) {
    report(absl::Status(started.code(),
                        absl::StrCat("sn::WorkerPool: worker ", index_, " did not start: ", started.message())));
    finish_calls();
    state_.destroy();
    (void)timers_.cancel_all();
    return;
  }
  report(absl::OkStatus());
  last_tick_ = env_.idle_tick ? absl::Now() : absl::InfinitePast();
  loop();
  outbox_.set_refusing(true);
  finish_calls();
  if constexpr (requires { w_.on_stop(*state_); }) {
    if (state_.built()) shared_.note_hook_fault(index_, FaultSite::on_stop, guarded([&] { w_.on_stop(*state_); }));
  }
  polled_.clear();  // on_removed(false): what is left stays in each source
  state_.destroy();
  const std::uint64_t left = outbox_.discard();
  if (left != 0) shared_.left_by_workers.fetch_add(left, std::memory_order_relaxed);
  (void)timers_.cancel_all();  // counted as cancelled
}

template <class W>
void WorkerLoop<W>::loop() {
  const std::size_t batch = core_.config.batch_size;
  Take take{*this};
  for (;;) {
    const std::uint32_t flags = core_.flags();
    if (flags / kMigrateRound != round_) [[unlikely]] {  // before the stop check: the resizer waits for it
      round_ = flags / kMigrateRound;
      migration_step();
    }
    if ((flags & (kStop | kExit)) != 0) return;
    SN_PERTURB_POINT("worker.loop.after_flags");
    timer_source_.set_paused((flags & kDrain) != 0);
    polled_.set_paused((flags & kDrain) != 0);  // a source that never empties must not stall a drain
    if ((flags & kRevive) != 0) [[unlikely]] {
      core_.control.flags.fetch_and(~std::uint32_t{kRevive}, std::memory_order_acq_rel);
      dispatcher_.revive();
      continue;
    }
    if (dispatcher_.resume_at_ns() != 0) [[unlikely]] {
      if (back_off(flags)) continue;
    }

    if (outbox_.pending() != 0) {
      begin_busy();
      outbox_.flush();
    }
    if (sources_.drain(batch, take) != 0) {
      dispatcher_.end_batch();
      run_tick();
      SN_PERTURB_POINT("worker.batch.handled_still_busy");
      core_.owned.batches.add(1);
      end_busy();
      if (env_.idle_tick) last_tick_ = absl::Now();
      continue;
    }
    end_busy();  // an outbox flush or timer firings alone
    if (dispatcher_.halted()) return;
    if (wait(flags) == Wake::timed_out && env_.idle_tick && absl::Now() >= last_tick_ + *env_.idle_tick) idle_tick();
  }
}

/// Nothing to do: waits for a message, a control flag, room for the outbox (the consumer
/// rings the doorbell when it frees some), or the earliest deadline.
template <class W>
typename WorkerLoop<W>::Wake WorkerLoop<W>::wait(std::uint32_t flags) {
  absl::Time deadline = env_.idle_tick && (flags & kDrain) == 0 ? last_tick_ + *env_.idle_tick : absl::InfiniteFuture();
  if (const std::int64_t due = sources_.next_deadline(); due != kNoDeadline) {
    const std::int64_t now = steady_now_ns();
    deadline = std::min(deadline, due <= now ? absl::Now() : absl::Now() + absl::Nanoseconds(due - now));
  }
  SN_PERTURB_POINT("worker.idle.before_wait");
  return sync::block_on(
      core_.doorbell, core_.config.wait, core_.asymmetric, spin_history_, deadline, Wake::idle, Wake::timed_out,
      [&] {
        if (sources_.any_published()) return Wake::work;  // the mesh starts where the message is
        const bool owes = outbox_.pending() != 0;
        return core_.flags() != flags || (owes && outbox_.can_move()) ? Wake::work : Wake::idle;
      },
      [&](absl::Duration slept) {
        core_.owned.parks.add(1);
        core_.owned.parked_ns.add(static_cast<std::uint64_t>(absl::ToInt64Nanoseconds(slept)));
      });
}

/// A restart's backoff: takes no message until it ends, but wakes for any control flag
/// (stop, drain, a resize step). True while it runs (the caller starts over).
template <class W>
bool WorkerLoop<W>::back_off(std::uint32_t flags) {
  const std::int64_t now = steady_now_ns();
  const std::int64_t until = dispatcher_.resume_at_ns();
  if (now >= until || (flags & kDrain) != 0) {  // over, or a drain needs every message handled
    dispatcher_.clear_backoff();
    return false;
  }
  (void)sync::block_on(
      core_.doorbell, core_.config.wait, core_.asymmetric, spin_history_, absl::Now() + absl::Nanoseconds(until - now),
      Wake::idle, Wake::timed_out, [&] { return core_.flags() != flags ? Wake::work : Wake::idle; },
      [](absl::Duration) {});
  return true;
}

/// At stop, before on_stop: refuses new requests and fails those queued (Unavailable),
/// then completes every call this worker made and runs their callbacks.
template <class W>
void WorkerLoop<W>::finish_calls() noexcept {
  core_.requests.close();
  calls_.set_state(dispatcher_.state_or_null());
  calls_.finish([&](absl::Status why) { dispatcher_.callback_fault(std::move(why)); });
}

template <class W>
void WorkerLoop<W>::idle_tick() {
  // Busy first, then look at the flags again: either shutdown's quiescence check sees this
  // worker busy, or this worker sees the drain and does not tick (a tick may send, and
  // nothing may be sent once the pool has been found quiescent).
  begin_busy();
  SN_PERTURB_POINT("worker.idle_tick.busy_before_fence");
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with signal()'s fetch_or
  if ((core_.flags() & (kStop | kDrain | kExit)) == 0) run_tick();
  end_busy();
  last_tick_ = absl::Now();
}

template <class W>
void WorkerLoop<W>::run_tick() {
  dispatcher_.tick();
  core_.owned.ticks.add(1);
  arena_.reset();
}

/// A step of a resize's hand-off, on this thread: export_state or import_state, and the
/// removed worker's timers. Sends from the hooks are refused: the pool must stay idle
/// while state moves.
template <class W>
void WorkerLoop<W>::migration_step() {
  Migration& m = env_.migration;
  Migration::Phase phase;
  {
    std::lock_guard lock(m.mu);
    phase = m.phase;
  }
  absl::Status s;
  if (phase == Migration::Phase::exporting && m.removed == index_) {
    try {
      timers_.hand_over(m.timers);
    } catch (const std::bad_alloc&) {
      s = absl::ResourceExhaustedError("no memory to hand its timers over");
    }
  }
  if (phase == Migration::Phase::importing && m.timer_adopter == index_) {
    try {
      timers_.adopt(m.timers);
      m.timers.clear();
    } catch (const std::bad_alloc&) {
      s = absl::ResourceExhaustedError("no memory to take the removed worker's timers");
    }
  }
  if constexpr (HandsOffState<W>) {
    outbox_.set_refusing(true);
    calls_.set_refusing(true);
    if (!state_.built()) {
      s = absl::FailedPreconditionError("it has no State (a restart failed)");
    } else if (phase == Migration::Phase::exporting) {
      std::vector<Piece>& out = env_.outgoing[index_];
      StateHandoff<typename HandoffType<W>::type> handoff(index_, &*m.next, &out);
      s.Update(guarded([&] { w_.export_state(*state_, handoff); }));
      // Moves are noexcept and a failed buffer allocation makes stable_sort work in place.
      std::stable_sort(out.begin(), out.end(), [](const Piece& a, const Piece& b) { return a.to < b.to; });
    } else {
      for (std::vector<Piece>& out : env_.outgoing) {
        auto [first, last] = std::ranges::equal_range(out, index_, {}, &Piece::to);
        for (Piece& piece : std::ranges::subrange(first, last)) {
          s.Update(guarded([&] { w_.import_state(*state_, piece.key, std::move(piece.value)); }));
        }
      }
    }
    outbox_.set_refusing(false);
    calls_.set_refusing(false);
  }
  if (!s.ok()) {
    Fault f = make_fault(shared_.name, index_, FaultSite::resize, std::nullopt, s, 0);
    f.action = shared_.fault_policy == FaultPolicy::stop_pool ? FaultPolicy::stop_pool : FaultPolicy::continue_running;
    shared_.report_fault(f);
  }
  m.step_done(index_, s, shared_.hook_faults);
}

}  // namespace sn::detail
