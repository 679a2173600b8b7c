// sn::ClusterPool: a WorkerPool of the same worker type on every rank of an MPI job, with
// one keyed address space. Every key has one owner worker in the whole cluster: the rank
// owner_rank(routing_key(key), ranks) (a jump hash, sn/cluster/owner.h), then that rank's
// partitioner. send(key, msg) from any thread of any rank, and ctx.send(key, msg) from any
// worker, reach the owner wherever it runs; a key owned on the sender's own rank takes the
// plain pool's path.
//
// Threads: as WorkerPool. create(), shutdown(), stop() and gather_stats() are collective:
// every rank calls them, in the same order, from one thread each.
//
// Messages on the wire: trivially copyable messages are copied as bytes; other types
// provide sn_serialize / sn_deserialize, found by argument-dependent lookup
// (sn/cluster/serialize.h). Every rank must run the same build (create() checks a
// fingerprint of the message type, the wire version and the options).
//
// Accounting: a message sent to another rank counts as accepted on the rank that delivers
// it. stats() folds in what the cluster layer itself dropped (FullPolicy::drop with no
// frame buffer; arrivals after stop()) or failed (payloads that did not decode, records of
// rejected frames), so that after shutdown() the sums over ranks satisfy
// accepted == processed + failed + dropped exactly.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sn/cluster/cluster.h"
#include "sn/cluster/detail/endpoint.h"
#include "sn/cluster/options.h"
#include "sn/cluster/owner.h"
#include "sn/cluster/serialize.h"
#include "sn/cluster/wire.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/key.h"
#include "sn/pool/detail/remote.h"
#include "sn/pool/detail/send_path.h"
#include "sn/pool/pool.h"

namespace sn {

/// One rank's figures, as gather_stats() collects them.
struct RankStats {
  int rank = 0;                        ///< The rank.
  std::uint64_t accepted = 0;          ///< PoolStats::accepted, cluster drops and failures folded in.
  std::uint64_t processed = 0;         ///< PoolStats::processed.
  std::uint64_t failed = 0;            ///< PoolStats::failed, with decode failures and lost records.
  std::uint64_t dropped = 0;           ///< PoolStats::dropped, with the cluster layer's drops.
  std::uint64_t rejected = 0;          ///< PoolStats::rejected: sends refused (never accepted).
  std::uint64_t records_sent = 0;      ///< ClusterStats::records_sent.
  std::uint64_t records_received = 0;  ///< ClusterStats::records_received.
  std::uint64_t frames_rejected = 0;   ///< ClusterStats::frames_rejected.
};

/// A pool of workers of type W on every rank of the job (see the top of this header).
template <class W>
class ClusterPool final : public detail::SendOverloads<ClusterPool<W>, typename W::message_type>,
                          private detail::RemoteRoute<typename W::message_type>,
                          private detail::EndpointHooks {
  using Overloads = detail::SendOverloads<ClusterPool<W>, typename W::message_type>;

 public:
  using worker_type = W;                     ///< The worker class.
  using Message = typename W::message_type;  ///< What the workers handle.
  static_assert(WireMessage<Message>,
                "sn::ClusterPool: the Message must be trivially copyable or have sn_serialize / sn_deserialize "
                "functions (sn/cluster/serialize.h)");

  /// Collective. Creates this rank's pool (as WorkerPool::create with `partitioner` and
  /// `factory`) and joins it to the others. InvalidArgument for bad options or config;
  /// FailedPrecondition when the ranks disagree (another build, message type or options);
  /// Aborted when another rank failed to create its pool; max_workers above num_workers
  /// (local resizes) is not supported yet.
  template <class P, class Factory>
  static absl::StatusOr<std::unique_ptr<ClusterPool>> create(Cluster& cluster, const PoolConfig& config,
                                                             const ClusterOptions& options, P partitioner,
                                                             Factory&& factory);
  /// With workers made by `factory(index)` and the stable HashPartitioner.
  template <class Factory>
  static absl::StatusOr<std::unique_ptr<ClusterPool>> create(Cluster& cluster, const PoolConfig& config,
                                                             const ClusterOptions& options, Factory&& factory) {
    return create(cluster, config, options, HashPartitioner{}, std::forward<Factory>(factory));
  }
  /// With workers made by W's default constructor and the stable HashPartitioner.
  static absl::StatusOr<std::unique_ptr<ClusterPool>> create(Cluster& cluster, const PoolConfig& config,
                                                             const ClusterOptions& options = {}) {
    return create(cluster, config, options, HashPartitioner{}, [](std::size_t) { return std::make_unique<W>(); });
  }

  /// Collective: shuts down (see shutdown()) if that has not happened yet.
  ~ClusterPool();
  ClusterPool(const ClusterPool&) = delete;
  ClusterPool& operator=(const ClusterPool&) = delete;

  using Overloads::send;
  using Overloads::send_to;

  /// Sends `msg` to the owner of `key`, on whichever rank. Results as WorkerPool::send,
  /// and for a key owned elsewhere: under FullPolicy::block the sender waits while every
  /// frame buffer for that rank is in use (bounded memory; the receiver's credits hold
  /// them); `invalid` when the message's wire form exceeds max_message_bytes; `closed`
  /// once shutdown began or the cluster failed.
  SendResult send(std::uint64_t key, Message&& msg) noexcept {
    if (closing_.load(std::memory_order_acquire) && detail::t_current_pool != local_->shared_) [[unlikely]] {
      return SendResult::closed;
    }
    return local_->send(key, std::move(msg));
  }
  /// Sends to worker `index` of this rank.
  SendResult send_to(std::size_t index, Message&& msg, std::uint64_t key = 0) noexcept {
    if (closing_.load(std::memory_order_acquire) && detail::t_current_pool != local_->shared_) [[unlikely]] {
      return SendResult::closed;
    }
    return local_->send_to(index, std::move(msg), key);
  }

  /// The rank that owns `key`.
  int owner_of(std::uint64_t key) const noexcept { return owner_rank(key, ranks_); }
  /// Whether `key` is owned on this rank.
  bool is_local(std::uint64_t key) const noexcept { return owner_of(key) == rank_; }
  /// This rank, in [0, ranks()).
  int rank() const noexcept { return rank_; }
  /// The number of ranks in the job.
  int ranks() const noexcept { return ranks_; }

  /// Collective graceful shutdown of the whole cluster: refuses new sends from outside
  /// the workers (`closed`), then waits until no message is left anywhere (in frames, in
  /// flight between ranks, in any worker's queue, including what handlers keep sending
  /// meanwhile), decided by repeated reductions of every rank's frame counts until two
  /// agree; then shuts the local pool down. Returns the watchdog's or the link's fault;
  /// DataLoss when frames that were sent never arrived while every rank stayed idle for
  /// peer_timeout (their records are counted as failed); else the local pool's status.
  absl::Status shutdown();
  /// Collective stop: stops the local pool after each worker's current batch, then waits
  /// for the frames in flight to land (counted as dropped). Returns how many accepted
  /// messages this rank left unhandled. Later calls return 0.
  std::uint64_t stop();

  /// This rank's statistics, the cluster layer's drops and failures folded in (see the
  /// top of this header). Any thread.
  PoolStats stats() const;
  /// This rank's cluster counters. Any thread but the pool's workers.
  ClusterStats cluster_stats();
  /// Collective: every rank's figures, in rank order (on every rank).
  absl::StatusOr<std::vector<RankStats>> gather_stats();
  /// The fault that stopped the cluster (Unavailable naming a silent rank, or the link's
  /// error), else the local pool's status.
  absl::Status status() const;
  /// Whether the pool still takes sends from outside its workers.
  bool running() const noexcept { return !closing_.load(std::memory_order_acquire) && local_->running(); }

  /// This rank's pool: its stats(), its workers. Keyed sends through it also reach other
  /// ranks; its shutdown() and stop() are this rank's alone (use the cluster pool's).
  WorkerPool<W>& local() noexcept { return *local_; }

  /// For tests: the untyped half (null with one rank).
  detail::ClusterEndpoint* endpoint_for_testing() noexcept { return endpoint_.get(); }

 private:
  friend Overloads;
  struct Deferred {
    std::uint64_t key;
    Message message;
  };

  ClusterPool(Cluster& cluster, const ClusterOptions& options)
      : cluster_(cluster), options_(options), rank_(cluster.rank()), ranks_(cluster.size()) {}
  static std::uint64_t fingerprint(const ClusterOptions& options) noexcept;
  /// Collective: every rank says whether its step went well; the first failure wins.
  static absl::Status agree(Cluster& cluster, const absl::Status& mine, const char* step);

  template <class Fn>
  void for_each_target(Fn&& fn) {
    for (std::size_t j = 0; j < local_->capacity(); ++j) {
      if (local_->has_worker(j)) fn(j);
    }
  }

  // RemoteRoute: keyed sends of this rank's pool.
  std::optional<SendResult> forward(std::uint64_t key, Message& msg, bool from_worker) noexcept override;
  SendResult when_no_buffer(std::unique_lock<std::mutex>& lock, int to, std::uint64_t key, Message& msg,
                            bool from_worker) noexcept;
  // EndpointHooks: the transport thread.
  bool deliver(int source, const RecordView& record) noexcept override;
  bool pump_deferred() noexcept override;
  bool locally_busy() const noexcept override {
    WorkerPool<W>* pool = live();
    return pool != nullptr && pool->stats().in_flight() > 0;
  }
  void on_fault(const absl::Status& fault) noexcept override;
  void drop(Message&& msg, std::uint64_t key) noexcept;
  /// The local pool once create() has made it, for the transport thread (which may hear
  /// from a faster rank before create() returns here); null before.
  WorkerPool<W>* live() const noexcept { return live_.load(std::memory_order_acquire); }
  /// Waits for the thread that a fault started to stop the local pool, if any.
  void join_fault_stopper();

  Cluster& cluster_;
  ClusterOptions options_;
  int rank_;
  int ranks_;
  std::unique_ptr<detail::ClusterEndpoint> endpoint_;  // null with one rank
  std::unique_ptr<WorkerPool<W>> local_;
  std::atomic<WorkerPool<W>*> live_{nullptr};  // local_.get(), published (release) once made
  std::atomic<bool> closing_{false};
  bool finished_ = false;  // shutdown() or stop() ran (the calling thread's)
  absl::Status finish_status_;
  std::mutex fault_mu_;        // guards fault_stopper_: set on the transport thread, joined by the caller's
  std::thread fault_stopper_;  // stops the local pool after a fault (never on the transport thread)

  // Guarded by endpoint_->mutex(): workers' sends that found no frame buffer, per rank.
  std::vector<std::deque<Deferred>> deferred_;
  std::size_t deferred_total_ = 0;

  std::atomic<std::uint64_t> dropped_{0};          // the cluster layer's drops
  std::atomic<std::uint64_t> decode_failures_{0};  // counted as failed
  std::atomic<std::uint64_t> too_large_{0};
  std::atomic<std::uint64_t> deferred_count_{0};
  std::atomic<std::uint64_t> lost_{0};  // records of rejected frames, learnt at shutdown
};

}  // namespace sn

#include "sn/cluster/detail/cluster_pool_impl.h"  // IWYU pragma: export
