// Supervision: what a worker does when a handler or hook fails (FaultPolicy), how often it
// may restart before the fault escalates (RestartLimit, as Erlang's intensity and period),
// and what a fault looks like to the worker's on_fault hook and to the pool's observer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sn {

/// What a worker does when a handler throws or returns a non-OK absl::Status (or tick()
/// throws). A failed message is counted as failed in every case.
enum class FaultPolicy : std::uint8_t {
  /// Go on with the next message and the same State.
  continue_running,
  /// Destroy the State and build a new one with init(), then go on; within the pool's
  /// RestartLimit, beyond which the fault escalates.
  restart,
  /// Stop the whole pool as stop() does; shutdown() then reports the fault.
  stop_pool,
  /// Drop the worker's State and take it out of service: the messages it is sent from
  /// then on are dropped (counted in WorkerStats::dropped and WorkerStats::isolated_drops)
  /// until WorkerPool::revive() gives it a new State. The rest of the pool runs on.
  isolate,
};

/// The enumerator's name, such as "restart".
std::string_view to_string(FaultPolicy p) noexcept;

/// How often a worker may restart: at most `max_restarts` within any `within` window
/// (Erlang's intensity and period); the restart after that escalates to `escalate_to`,
/// which is FaultPolicy::stop_pool or FaultPolicy::isolate. With `backoff` set, a
/// restarted worker finishes the batch in progress, then waits that long before it takes
/// its next batch, twice as long after
/// each further restart in the window, at most `max_backoff`; it still obeys stop and
/// shutdown while it waits, and messages sent to it queue meanwhile.
struct RestartLimit {
  std::uint32_t max_restarts = 10;                   ///< Restarts allowed per window; 0: escalate at once.
  absl::Duration within = absl::Seconds(5);          ///< The window (positive).
  FaultPolicy escalate_to = FaultPolicy::stop_pool;  ///< stop_pool or isolate.
  absl::Duration backoff = absl::ZeroDuration();     ///< Wait after the first restart of a window.
  absl::Duration max_backoff = absl::Seconds(1);     ///< The longest wait (at least `backoff`).

  /// No limit: every fault under FaultPolicy::restart restarts (the behaviour before
  /// restart limits existed).
  static RestartLimit unlimited() noexcept {
    RestartLimit l;
    l.max_restarts = std::numeric_limits<std::uint32_t>::max();
    return l;
  }
};

/// Where a fault happened.
enum class FaultSite : std::uint8_t {
  handle_message,  ///< A handler of one message (handle_message).
  handle_batch,    ///< handle_batch: every message of the batch is counted as failed.
  tick,            ///< tick().
  init,            ///< init() while restarting: the pool stops (there is no State to go on with).
  on_stop,         ///< on_stop(): reported, nothing else happens.
  resize,          ///< export_state or import_state during a resize: reported; under
                   ///< FaultPolicy::stop_pool the resize fails and the pool stops.
  handle_call,     ///< handle_call threw (the caller gets Internal with the text).
  call_callback,   ///< A call's callback threw, on the calling worker.
};

/// The enumerator's name, such as "handle_message".
std::string_view to_string(FaultSite s) noexcept;

/// One fault, as the worker's on_fault hook and the pool's fault observer see it.
struct Fault {
  std::string_view pool;                       ///< The pool's name (PoolConfig::name).
  std::size_t worker = 0;                      ///< The worker's slot.
  FaultSite site = FaultSite::handle_message;  ///< The handler or hook that failed.
  std::optional<std::uint64_t> key;            ///< The failed message's key (a batch: its first); none for a hook.
  absl::Status status;                         ///< The handler's status, or Internal with the exception's text.
  std::uint64_t messages = 0;                  ///< Messages counted as failed (0 for a hook).
  /// For the observer: what the pool did, after on_fault and the RestartLimit (an
  /// escalated restart shows the escalation). Unset while on_fault runs.
  std::optional<FaultPolicy> action;
  bool escalated = false;  ///< For the observer: a restart went past the RestartLimit.
};

/// A Fault with every field but the observer's.
inline Fault make_fault(std::string_view pool, std::size_t worker, FaultSite site, std::optional<std::uint64_t> key,
                        absl::Status status, std::uint64_t messages) {
  Fault f;
  f.pool = pool;
  f.worker = worker;
  f.site = site;
  f.key = key;
  f.status = std::move(status);
  f.messages = messages;
  return f;
}

/// One line describing `fault`, as the default observer writes it:
/// `sn: pool "p" worker 3: handle_message failed (key 42): INTERNAL: threw: boom -> restart`.
std::string describe(const Fault& fault);

/// Called once per fault, on the thread of the worker that failed (or the thread that ran
/// the hook), after the action was applied; off the message path, but it delays that
/// worker: keep it short. Workers call it concurrently: it must be thread-safe. It must
/// not call back into the pool's blocking calls (shutdown, resize).
using FaultObserver = std::function<void(const Fault&)>;

/// The default observer: writes describe(fault) to stderr, at most `lines_per_second`
/// lines per second (per observer, so per pool); the faults beyond that are counted, and
/// the count is written as one line when the next line is, or when the observer is
/// destroyed. Thread-safe.
FaultObserver stderr_fault_observer(int lines_per_second = 10);

}  // namespace sn
