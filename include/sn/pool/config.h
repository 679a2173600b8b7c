// How a pool and its workers are set up: builders that are checked when the pool is created.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/channel/wait_policy.h"
#include "sn/pool/dead_letters.h"
#include "sn/pool/supervision.h"

namespace sn {

/// What a send does when the destination's queue is full.
enum class FullPolicy : std::uint8_t {
  /// External sends wait for room (backpressure). Sends from inside a worker never wait
  /// (that could deadlock a cycle of workers): a message that does not fit is kept in
  /// the sending worker's outbox, delivered in order before anything newer on the same
  /// lane, and while any outbox holds messages the worker stops taking external messages,
  /// which passes the backpressure on to the external producers.
  block,
  /// The send returns `full` and the value stays with the caller.
  fail,
  /// The value is counted in `dropped` and passed to the dead-letter sink (destroyed when
  /// there is none); the send returns `dropped`.
  drop,
};

/// The enumerator's name, such as "block".
std::string_view to_string(FullPolicy p) noexcept;

/// Settings of one worker; anything left unset comes from the PoolConfig.
struct WorkerConfig {
  std::optional<std::size_t> queue_capacity;  ///< Slots of this worker's external inbox.
  std::optional<std::size_t> batch_size;      ///< Messages handled per loop iteration, at most.
  std::optional<WaitPolicy> wait;             ///< Spin and yield rounds before parking when idle.
  std::optional<int> cpu;                     ///< Pin to this logical CPU (needs cpu_affinity).
  std::string name;                           ///< Thread name (15 bytes shown by the OS); default "<pool>-<index>".

  // clang-format off
  /// Sets queue_capacity; returns `*this`, so that calls chain.
  WorkerConfig& with_queue_capacity(std::size_t n) { queue_capacity = n; return *this; }
  /// Sets batch_size; returns `*this`, so that calls chain.
  WorkerConfig& with_batch_size(std::size_t n) { batch_size = n; return *this; }
  /// Sets wait; returns `*this`, so that calls chain.
  WorkerConfig& with_wait_policy(WaitPolicy w) { wait = w; return *this; }
  /// Sets cpu; returns `*this`, so that calls chain.
  WorkerConfig& with_cpu(int c) { cpu = c; return *this; }
  /// Sets name; returns `*this`, so that calls chain.
  WorkerConfig& with_name(std::string n) { name = std::move(n); return *this; }
  // clang-format on
};

/// Settings of a pool. Every field has a usable default; create() checks them all and
/// reports the first problem as InvalidArgument (or FailedPrecondition for placement).
struct PoolConfig {
  /// Workers that create() starts: 1 to 1024 (as for max_workers; more is InvalidArgument).
  std::size_t num_workers = 1;
  /// Worker slots the pool reserves for add_worker() (a live resize, which needs a
  /// ConsistentHashPartitioner); 0 means num_workers. Inboxes, the mesh of lanes and
  /// (with cpu_affinity) CPUs are set up for every slot when the pool is created.
  std::size_t max_workers = 0;
  /// Pin each worker to its own physical core (SMT siblings skipped), in topology order,
  /// and bind its memory to that core's NUMA node.
  bool cpu_affinity = false;
  /// With cpu_affinity: allow more workers than physical cores (they then share cores).
  bool allow_oversubscription = false;
  /// Slots of each worker's external inbox (rounded up to a power of two).
  std::size_t queue_capacity = 1024;
  /// Slots of each worker-to-worker lane (one SPSC channel per ordered pair of workers,
  /// so the mesh holds num_workers^2 of them).
  std::size_t mesh_capacity = 256;
  /// Messages handled per loop iteration, at most, before tick() runs (1 to 2^30).
  std::size_t batch_size = 64;
  /// How an idle worker waits for work: spin, yield, then park in the kernel.
  WaitPolicy wait{};
  /// When set, an idle worker also wakes up this often to run tick(). Unset: an idle
  /// worker sleeps until a message arrives, and tick() runs after every batch.
  std::optional<absl::Duration> idle_tick;
  /// What a send does when the destination's queue is full.
  FullPolicy full_policy = FullPolicy::block;
  /// What a worker does when a handler throws or returns an error (unless its on_fault
  /// hook decides); see sn/pool/supervision.h.
  FaultPolicy fault_policy = FaultPolicy::continue_running;
  /// How often a worker may restart before the fault escalates.
  RestartLimit restart_limit{};
  /// Called once per fault. Unset: one line per fault to stderr, at most 10 per second per
  /// pool, then a count of those not shown. An empty function: faults are only counted.
  std::optional<FaultObserver> fault_observer;
  /// Receives every accepted message that is not handled, with the reason (see
  /// sn/pool/dead_letters.h); its message type must be the workers'. Unset: those messages
  /// are destroyed, counted in `dropped` as they are with a sink.
  AnyDeadLetterSink dead_letters;
  /// Stamp Envelope::sequence (a counter per lane, kept by the receiving worker).
  bool sequence_numbers = false;
  /// Stamp Envelope::sent_at (reads the clock once per send).
  bool timestamps = false;
  /// Prefix of the workers' thread names.
  std::string name = "sn";
  /// Per-worker settings, by slot index; may be shorter than the slot count.
  std::vector<WorkerConfig> workers;

  // clang-format off
  /// Sets num_workers; returns `*this`, so that calls chain.
  PoolConfig& with_num_workers(std::size_t n) { num_workers = n; return *this; }
  /// Sets max_workers; returns `*this`, so that calls chain.
  PoolConfig& with_max_workers(std::size_t n) { max_workers = n; return *this; }
  /// Sets cpu_affinity; returns `*this`, so that calls chain.
  PoolConfig& with_cpu_affinity(bool on) { cpu_affinity = on; return *this; }
  /// Sets allow_oversubscription; returns `*this`, so that calls chain.
  PoolConfig& with_oversubscription(bool allowed) { allow_oversubscription = allowed; return *this; }
  /// Sets queue_capacity; returns `*this`, so that calls chain.
  PoolConfig& with_queue_capacity(std::size_t n) { queue_capacity = n; return *this; }
  /// Sets mesh_capacity; returns `*this`, so that calls chain.
  PoolConfig& with_mesh_capacity(std::size_t n) { mesh_capacity = n; return *this; }
  /// Sets batch_size; returns `*this`, so that calls chain.
  PoolConfig& with_batch_size(std::size_t n) { batch_size = n; return *this; }
  /// Sets wait; returns `*this`, so that calls chain.
  PoolConfig& with_wait_policy(WaitPolicy w) { wait = w; return *this; }
  /// Sets idle_tick; returns `*this`, so that calls chain.
  PoolConfig& with_idle_tick(absl::Duration every) { idle_tick = every; return *this; }
  /// Sets full_policy; returns `*this`, so that calls chain.
  PoolConfig& with_full_policy(FullPolicy p) { full_policy = p; return *this; }
  /// Sets fault_policy; returns `*this`, so that calls chain.
  PoolConfig& with_fault_policy(FaultPolicy p) { fault_policy = p; return *this; }
  /// Sets restart_limit; returns `*this`, so that calls chain.
  PoolConfig& with_restart_limit(RestartLimit l) { restart_limit = l; return *this; }
  /// Sets fault_observer (nullptr: silent); returns `*this`, so that calls chain.
  PoolConfig& with_fault_observer(FaultObserver fn) { fault_observer = std::move(fn); return *this; }
  /// Sets dead_letters (an empty function: none); returns `*this`, so that calls chain.
  /// M is the workers' message type: `with_dead_letters<Msg>([](sn::DeadLetter<Msg>&& d) { ... })`.
  template <class M>
  PoolConfig& with_dead_letters(DeadLetterSink<M> fn) { dead_letters = AnyDeadLetterSink(std::move(fn)); return *this; }
  /// Sets sequence_numbers; returns `*this`, so that calls chain.
  PoolConfig& with_sequence_numbers(bool on) { sequence_numbers = on; return *this; }
  /// Sets timestamps; returns `*this`, so that calls chain.
  PoolConfig& with_timestamps(bool on) { timestamps = on; return *this; }
  /// Sets name; returns `*this`, so that calls chain.
  PoolConfig& with_name(std::string n) { name = std::move(n); return *this; }
  // clang-format on
  /// Settings for worker slot `index` (below num_workers, or max_workers when set).
  PoolConfig& with_worker(std::size_t index, WorkerConfig config) {
    if (workers.size() <= index) workers.resize(index + 1);
    workers[index] = std::move(config);
    return *this;
  }
};

/// One worker's settings after defaults, checks and placement.
struct ResolvedWorkerConfig {
  std::size_t queue_capacity = 0;  ///< Slots of the worker's external inbox.
  std::size_t batch_size = 0;      ///< Messages handled per loop iteration, at most.
  WaitPolicy wait{};               ///< How the worker waits when idle.
  int cpu = -1;                    ///< -1: not pinned.
  std::string name;                ///< The thread name.
};

/// The number of worker slots `config` asks for: max_workers, or num_workers when unset.
std::size_t slot_count(const PoolConfig& config) noexcept;

/// Checks `config` and works out every worker slot's settings, including its CPU when
/// cpu_affinity is on. InvalidArgument for a bad value, FailedPrecondition when the
/// machine cannot place the workers as asked.
absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolve(const PoolConfig& config);

}  // namespace sn
