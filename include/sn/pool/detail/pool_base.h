// Internal: the part of a pool that does not depend on the worker type: starting and
// joining threads, shutdown and stop with the quiescence check, stats, and the resize
// protocol. Defined in src/pool/; WorkerPool<W> derives from it and supplies, through a
// few virtual calls made once per lifecycle step, what needs W.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/pool/detail/router.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/timers.h"
#include "sn/pool/stats.h"
#include "sn/worker/handoff.h"

namespace sn::detail {

/// Pins the calling thread to `cpu` (when >= 0), binds its memory to that CPU's NUMA
/// node where the machine allows (reported through *memory_bound) and names the thread.
absl::Status place_current_thread(int cpu, const std::string& name, bool* memory_bound);

/// One resize's hand-off, as far as it does not depend on the worker type. A member of
/// the pool, not a local: should the pool be stopped during a resize, the resizer stops
/// waiting, and a worker still in its step must find the object alive.
struct Migration {
  enum class Phase : std::uint8_t { exporting, importing };
  std::mutex mu;
  std::condition_variable done;
  Phase phase = Phase::exporting;  // guarded by mu
  std::size_t waiting = 0;         // guarded by mu: workers yet to finish this step
  std::uint64_t failures = 0;      // guarded by mu: hooks that threw
  absl::Status error;              // guarded by mu: the first of them
  // Written by the resizer before it asks for a step, used by the workers in their step:
  // ordered by the flags word (kMigrateRound added with seq_cst, read with acquire) one
  // way and by `mu` the other.
  std::optional<Router> next;
  std::size_t removed = kNoSlot;        // the slot being removed, if any
  std::size_t timer_adopter = kNoSlot;  // who takes the removed worker's timers
  std::vector<TimerItem> timers;        // the removed worker's timers, in between

  static constexpr std::size_t kNoSlot = static_cast<std::size_t>(-1);

  /// A worker's step is done; `s` is its hooks' outcome.
  void step_done(std::size_t slot, const absl::Status& s, std::atomic<std::uint64_t>& hook_faults);
};

class PoolBase {
 public:
  PoolBase(const PoolBase&) = delete;
  PoolBase& operator=(const PoolBase&) = delete;

  std::size_t size() const noexcept { return state_->active.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return state_->size(); }
  std::uint64_t ring_bytes() const noexcept;
  bool has_worker(std::size_t index) const noexcept { return state_->accepts(index); }
  bool running() const noexcept { return state_->running(); }
  absl::Status status() const;
  PoolStats stats() const;

  absl::Status shutdown();
  std::uint64_t stop();
  absl::Status revive(std::size_t index);
  absl::StatusOr<ResizeReport> add_worker(absl::Duration drain_limit);
  absl::StatusOr<ResizeReport> remove_worker(std::size_t index, absl::Duration drain_limit);

 protected:
  explicit PoolBase(std::unique_ptr<PoolState> state) noexcept : state_(std::move(state)) {}
  ~PoolBase();

  /// Starts the workers of slots [from, to) and waits until each has built its State and
  /// run on_start. On an error the pool stops (at create), or the new worker's thread is
  /// joined (add_worker).
  absl::Status start(std::size_t from, std::size_t to);
  /// A worker thread reports that it started (OK) or could not.
  void report_started(absl::Status status);

  // What needs the worker type, called by the lifecycle above.
  /// Makes the worker for `slot` with the factory given to create().
  virtual absl::Status make_worker(std::size_t slot) = 0;
  /// Runs worker `slot` on the calling thread (the body of its thread).
  virtual void run_worker(std::size_t slot) = 0;
  /// Destroys the worker object of `slot` (its thread has ended).
  virtual void forget_worker(std::size_t slot) = 0;
  /// After the export step: marks the slots that receive state; returns the pieces.
  virtual std::uint64_t plan_imports(std::vector<char>& imports) = 0;
  /// After a resize: drops what is left of the typed hand-off.
  virtual void clear_handoff() = 0;
  /// With every worker joined: cancels timers made outside the pool that no worker took
  /// in; returns how many.
  virtual std::uint64_t cancel_unclaimed_timers() = 0;

  std::unique_ptr<PoolState> state_;
  std::vector<std::thread> threads_;  // [slot]
  Migration migration_;
  std::optional<absl::Duration> idle_tick_;

 private:
  enum class Quiet : std::uint8_t { yes, stopped, timed_out };
  Quiet wait_until_quiescent(absl::Time deadline = absl::InfiniteFuture());
  bool quiescent_wave(std::vector<std::uint64_t>& out) const;
  std::uint64_t finish();
  absl::Status not_from_a_worker() const;
  absl::Status can_resize() const;
  void retire_unused(std::size_t slot);
  absl::StatusOr<ResizeReport> resize(Router next, std::size_t slot, Router::Change change, absl::Duration drain_limit);
  bool run_step(Migration::Phase phase, const std::vector<std::size_t>& slots);

  std::mutex start_mu_;
  std::condition_variable start_cv_;
  std::size_t started_ = 0;       // guarded by start_mu_
  std::size_t start_target_ = 0;  // guarded by start_mu_
  absl::Status start_error_;      // guarded by start_mu_

  std::mutex lifecycle_mu_;
  bool finished_ = false;  // guarded by lifecycle_mu_
};

}  // namespace sn::detail
