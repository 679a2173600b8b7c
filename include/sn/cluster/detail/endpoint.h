// ClusterEndpoint: the untyped half of a ClusterPool. Producers (any thread) append
// records for other ranks to its batcher under one mutex; the transport thread gives it a
// turn in which it seals frames that are due, sends and receives them over MPI (a
// communicator of its own, with credits, heartbeats and the watchdog), hands received
// records to the typed pool (EndpointHooks::deliver), and runs the termination waves of a
// shutdown. No MPI type appears here: the MPI half lives in src/cluster/endpoint.cc.
//
// Threads: append, wait_for_buffer and the counters under mutex() from any thread;
// terminate(), stats() and the destructor from any thread except the transport thread
// and the pool's workers; EndpointHooks are called on the transport thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "sn/channel/channel.h"
#include "sn/cluster/detail/batcher.h"
#include "sn/cluster/options.h"
#include "sn/cluster/wire.h"

namespace sn {
class Cluster;
}  // namespace sn

namespace sn::detail {

/// What the typed pool does for its endpoint, on the transport thread.
class EndpointHooks {
 public:
  /// A record from rank `source` for this rank's workers. False: the worker's inbox is
  /// full; the same record is offered again on a later turn. True: taken (delivered, or
  /// counted as dropped or failed).
  virtual bool deliver(int source, const RecordView& record) noexcept = 0;
  /// Moves workers' deferred sends into frames while buffers allow; called with the
  /// endpoint's mutex held. Returns true while some remain.
  virtual bool pump_deferred() noexcept = 0;
  /// Whether this rank's workers still have messages to handle (a shutdown's waves wait).
  virtual bool locally_busy() const noexcept = 0;
  /// The watchdog or the link failed; called once. The pool stops.
  virtual void on_fault(const absl::Status& fault) noexcept = 0;

 protected:
  ~EndpointHooks() = default;
};

class ClusterEndpoint {
 public:
  /// Collective: every rank creates its pools' endpoints in the same order. Takes a
  /// communicator of its own (MPI_Comm_dup) and attaches to the transport thread.
  static absl::StatusOr<std::unique_ptr<ClusterEndpoint>> create(Cluster& cluster, const ClusterOptions& options,
                                                                 EndpointHooks& hooks);
  /// Detaches from the transport thread. After terminate() has returned OK on every rank.
  ~ClusterEndpoint();
  ClusterEndpoint(const ClusterEndpoint&) = delete;
  ClusterEndpoint& operator=(const ClusterEndpoint&) = delete;

  int rank() const noexcept { return rank_; }
  int ranks() const noexcept { return ranks_; }

  /// Guards the batcher and the typed pool's deferred sends.
  std::mutex& mutex() noexcept { return mu_; }
  /// Appends a record for rank `to`, handing any frame it sealed to the transport thread.
  template <WireMessage T>
  BatchAppend append(int to, std::uint64_t key, std::uint32_t slot, const T& message);
  /// Releases `lock` (on mutex()) for a moment so that the transport thread can free a
  /// buffer, for a sender that waits (FullPolicy::block). False once the endpoint failed.
  bool wait_for_buffer(std::unique_lock<std::mutex>& lock);

  /// Whether the watchdog or the link failed.
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  /// The failure, or OK.
  absl::Status fault() const;

  /// Collective: returns once every rank called it and no message is left anywhere in
  /// the cluster (in a frame, in flight, or in a worker's queue, unless `ignore_local`:
  /// after stop()), or with the fault that prevented it.
  absl::Status terminate(bool ignore_local);

  /// This endpoint's counters (from the transport thread and under the mutex).
  ClusterStats stats();

  /// For tests: flips one bit of the next frame this rank seals, whatever its destination.
  void corrupt_next_frame() noexcept { corrupt_next_.store(true, std::memory_order_relaxed); }

 private:
  struct Net;  // the MPI half: link, transport, waves (src/cluster/endpoint.cc)
  friend struct Net;
  ClusterEndpoint(Cluster& cluster, const ClusterOptions& options, EndpointHooks& hooks);
  /// Hands sealed frames to the transport thread; wakes it when it has new work (a sealed
  /// frame, or `opened`: a record in a frame that was empty, which it may send when idle).
  void handed_over(bool opened) noexcept;
  /// The transport thread's clock reading at its last turn.
  absl::Time coarse_now() const noexcept { return absl::FromUnixNanos(clock_ns_.load(std::memory_order_relaxed)); }

  Cluster& cluster_;
  ClusterOptions options_;
  EndpointHooks& hooks_;
  int rank_ = 0;
  int ranks_ = 1;
  std::atomic<bool> failed_{false};
  std::atomic<bool> corrupt_next_{false};  // tests
  std::atomic<std::int64_t> clock_ns_{0};  // written each turn by the transport thread

  // A std::mutex rather than absl::Mutex: ThreadSanitizer sees its pthread calls, while an
  // Abseil built without TSan (Debian's) hides absl::Mutex's synchronisation from it.
  mutable std::mutex mu_;
  std::unique_ptr<Batcher> batcher_;  // guarded by mu_
  MpscSender<SealedFrame> frames_;    // guarded by mu_
  absl::Status fault_;                // guarded by mu_

  std::unique_ptr<Net> net_;  // transport thread
};

// ---------------------------------------------------------------- definitions

template <WireMessage T>
BatchAppend ClusterEndpoint::append(int to, std::uint64_t key, std::uint32_t slot, const T& message) {
  // The clock matters only for a frame's first record (its flush deadline); the transport
  // thread's last reading is recent enough for that, and costs no clock call per record.
  const BatchAppend r = batcher_->append(static_cast<std::size_t>(to), key, slot, message, coarse_now());
  const bool first = r == BatchAppend::ok && batcher_->open_records(static_cast<std::size_t>(to)) == 1;
  handed_over(first);
  return r;
}

}  // namespace sn::detail
