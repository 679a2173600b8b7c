// Internal: the definitions of sn::ClusterPool's members (sn/cluster/cluster_pool.h).
#pragma once

#include "sn/cluster/cluster_pool.h"

namespace sn {

template <class W>
std::uint64_t ClusterPool<W>::fingerprint(const ClusterOptions& o) noexcept {
  // typeid names are the same on every rank of one build; sizes catch another build.
  const std::string text = absl::StrCat(
      typeid(W).name(), "|", typeid(Message).name(), "|", sizeof(Message), "|", alignof(Message), "|", kWireVersion,
      "|", o.limits.max_frame_bytes, "|", o.limits.max_message_bytes, "|", o.buffers_per_destination, "|",
      o.credit_frames, "|", o.receive_buffers, "|", absl::ToInt64Nanoseconds(o.flush_after), "|",
      absl::ToInt64Nanoseconds(o.heartbeat_every), "|", absl::ToInt64Nanoseconds(o.peer_timeout));
  return stable_hash_bytes(std::string_view(text));
}

template <class W>
absl::Status ClusterPool<W>::agree(Cluster& cluster, const absl::Status& mine, const char* step) {
  absl::StatusOr<std::vector<std::uint64_t>> all = cluster.all_gather(mine.ok() ? 1 : 0);
  if (!all.ok()) return all.status();
  if (!mine.ok()) return mine;
  for (std::size_t r = 0; r < all->size(); ++r) {
    if ((*all)[r] == 0) {
      return absl::AbortedError(
          absl::StrCat("sn::ClusterPool::create: rank ", static_cast<std::uint64_t>(r), " failed to ", step));
    }
  }
  return absl::OkStatus();
}

template <class W>
template <class P, class Factory>
absl::StatusOr<std::unique_ptr<ClusterPool<W>>> ClusterPool<W>::create(Cluster& cluster, const PoolConfig& config,
                                                                       const ClusterOptions& options, P partitioner,
                                                                       Factory&& factory) {
  absl::Status valid = options.validate();
  if (valid.ok() && config.max_workers > config.num_workers) {
    valid = absl::InvalidArgumentError(
        "sn::ClusterPool: local resizes (max_workers above num_workers) are not "
        "supported yet; give every rank num_workers workers");
  }
  if (absl::Status s = agree(cluster, valid, "validate its options"); !s.ok()) return s;
  absl::StatusOr<std::vector<std::uint64_t>> prints = cluster.all_gather(fingerprint(options));
  if (!prints.ok()) return prints.status();
  for (std::size_t r = 0; r < prints->size(); ++r) {
    if ((*prints)[r] != (*prints)[0]) {
      return absl::FailedPreconditionError(absl::StrCat("sn::ClusterPool::create: rank ", static_cast<std::uint64_t>(r),
                                                        " runs another build, message type or ClusterOptions "
                                                        "than rank 0 (fingerprints differ)"));
    }
  }
  std::unique_ptr<ClusterPool> pool(new ClusterPool(cluster, options));
  if (pool->ranks_ > 1) {
    absl::StatusOr<std::unique_ptr<detail::ClusterEndpoint>> e =
        detail::ClusterEndpoint::create(cluster, options, *pool);
    if (!e.ok()) return e.status();  // every rank fails alike: the communicator could not be made
    pool->endpoint_ = *std::move(e);
    pool->deferred_.resize(static_cast<std::size_t>(pool->ranks_));
  }
  detail::RemoteRoute<Message>* route = pool->ranks_ > 1 ? pool.get() : nullptr;
  absl::StatusOr<std::unique_ptr<WorkerPool<W>>> local =
      WorkerPool<W>::create_pool(config, std::move(partitioner), std::forward<Factory>(factory), route);
  if (absl::Status s = agree(cluster, local.status(), "create its pool"); !s.ok()) {
    if (local.ok()) (void)(*local)->stop();
    pool->finished_ = true;  // nothing to drain: no rank sent anything yet
    return s;
  }
  pool->local_ = *std::move(local);
  pool->live_.store(pool->local_.get(), std::memory_order_release);  // pairs with live()'s acquire
  return pool;
}

template <class W>
ClusterPool<W>::~ClusterPool() {
  if (local_ != nullptr) (void)shutdown();
  join_fault_stopper();
  endpoint_.reset();  // the workers are gone: nothing calls forward() any more
  live_.store(nullptr, std::memory_order_relaxed);
  local_.reset();
}

// ---------------------------------------------------------------- sending to other ranks

template <class W>
std::optional<SendResult> ClusterPool<W>::forward(std::uint64_t key, Message& msg, bool from_worker) noexcept {
  const int to = owner_rank(key, ranks_);
  if (to == rank_) return std::nullopt;
  if (endpoint_->failed()) [[unlikely]]
    return SendResult::closed;
  try {
    std::unique_lock lock(endpoint_->mutex());
    std::deque<Deferred>& waiting = deferred_[static_cast<std::size_t>(to)];
    if (waiting.empty()) {
      switch (endpoint_->append(to, key, kRouteByKey, msg)) {
        case detail::BatchAppend::ok: return SendResult::ok;
        case detail::BatchAppend::too_large:
          too_large_.fetch_add(1, std::memory_order_relaxed);
          return SendResult::invalid;
        case detail::BatchAppend::no_buffer: break;
      }
    }
    return when_no_buffer(lock, to, key, msg, from_worker);
  } catch (...) {  // an sn_serialize hook threw: the message stays with the caller
    return SendResult::invalid;
  }
}

// Called with the endpoint's mutex held, when `to` has no free frame buffer or workers'
// sends to it are already waiting (which keep their order ahead of this one).
template <class W>
SendResult ClusterPool<W>::when_no_buffer(std::unique_lock<std::mutex>& lock, int to, std::uint64_t key, Message& msg,
                                          bool from_worker) noexcept {
  std::deque<Deferred>& waiting = deferred_[static_cast<std::size_t>(to)];
  if (from_worker) {  // a worker never waits: its send waits in the deferred queue instead
    waiting.push_back(Deferred{key, std::move(msg)});
    ++deferred_total_;
    deferred_count_.fetch_add(1, std::memory_order_relaxed);
    return SendResult::ok;
  }
  return detail::when_full(
      local_->shared_->full_policy,
      [&] {
        for (;;) {
          if (!endpoint_->wait_for_buffer(lock)) return SendResult::closed;
          if (!waiting.empty()) continue;
          switch (endpoint_->append(to, key, kRouteByKey, msg)) {
            case detail::BatchAppend::ok: return SendResult::ok;
            case detail::BatchAppend::too_large:
              too_large_.fetch_add(1, std::memory_order_relaxed);
              return SendResult::invalid;
            case detail::BatchAppend::no_buffer: break;
          }
        }
      },
      [&] { drop(std::move(msg), key); });
}

template <class W>
void ClusterPool<W>::drop(Message&& msg, std::uint64_t key) noexcept {
  dropped_.fetch_add(1, std::memory_order_relaxed);
  if (WorkerPool<W>* pool = live()) {  // else a worker's on_start sent it: destroyed with the deferred queue
    pool->shared_->dead_letter(std::move(msg), key, DeadLetter<Message>::kUnknownWorker,
                               DeadLetterReason::dropped_full);
  }
}

template <class W>
bool ClusterPool<W>::pump_deferred() noexcept {
  if (deferred_total_ == 0) return false;
  for (std::size_t to = 0; to < deferred_.size(); ++to) {
    std::deque<Deferred>& waiting = deferred_[to];
    while (!waiting.empty()) {
      Deferred& d = waiting.front();
      detail::BatchAppend r = detail::BatchAppend::too_large;
      try {
        r = endpoint_->append(static_cast<int>(to), d.key, kRouteByKey, d.message);
      } catch (...) {  // an sn_serialize hook threw: accepted, so counted as dropped below
      }
      if (r == detail::BatchAppend::no_buffer) break;
      if (r == detail::BatchAppend::too_large) {
        too_large_.fetch_add(1, std::memory_order_relaxed);
        drop(std::move(d.message), d.key);
      }
      waiting.pop_front();
      --deferred_total_;
    }
  }
  return deferred_total_ > 0;
}

// ---------------------------------------------------------------- receiving from other ranks

template <class W>
bool ClusterPool<W>::deliver(int /*source*/, const RecordView& record) noexcept {
  WorkerPool<W>* pool = live();
  if (pool == nullptr) [[unlikely]]
    return false;  // a faster rank's worker sent before create() returned here
  std::optional<Message> msg;
  try {
    msg = decode_message<Message>(record.payload);
  } catch (...) {
    msg.reset();
  }
  if (!msg) {
    decode_failures_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const std::size_t slot = record.slot == kRouteByKey ? WorkerPool<W>::kAnyWorker : record.slot;
  const SendResult r = pool->deliver_remote(slot, record.key, *msg);
  if (r == SendResult::full) return false;  // the transport offers it again on a later turn
  if (r != SendResult::ok) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    pool->shared_->dead_letter(std::move(*msg), record.key, DeadLetter<Message>::kUnknownWorker,
                               DeadLetterReason::left_at_stop);
  }
  return true;
}

template <class W>
void ClusterPool<W>::on_fault(const absl::Status& /*fault*/) noexcept {
  closing_.store(true, std::memory_order_release);
  // Not on the transport thread: stopping joins the workers.
  WorkerPool<W>* pool = live();
  std::lock_guard lock(fault_mu_);
  if (pool != nullptr && !fault_stopper_.joinable()) {
    try {
      fault_stopper_ = std::thread([pool] { (void)pool->stop(); });
    } catch (...) {
      pool->shared_->stop_all();  // no thread: at least stop the workers; a later stop() joins them
    }
  }
}

// ---------------------------------------------------------------- lifecycle and figures

template <class W>
void ClusterPool<W>::join_fault_stopper() {
  std::thread stopper;
  {
    std::lock_guard lock(fault_mu_);
    stopper = std::move(fault_stopper_);
  }
  if (stopper.joinable()) stopper.join();
}

template <class W>
absl::Status ClusterPool<W>::shutdown() {
  if (finished_) return finish_status_;
  finished_ = true;
  closing_.store(true, std::memory_order_release);
  absl::Status s = endpoint_ != nullptr ? endpoint_->terminate(false) : absl::OkStatus();
  if (endpoint_ != nullptr && s.ok())
    lost_.store(endpoint_->stats().lost_in_rejected_frames, std::memory_order_relaxed);
  join_fault_stopper();
  absl::Status local = local_->shutdown();
  finish_status_ = !s.ok() ? s : local;
  return finish_status_;
}

template <class W>
std::uint64_t ClusterPool<W>::stop() {
  if (finished_) return 0;
  finished_ = true;
  closing_.store(true, std::memory_order_release);
  join_fault_stopper();
  // Records that arrive once the local pool is closed are dropped by deliver(): from the
  // moment the inboxes close, during the local stop too.
  const std::uint64_t dropped_before = dropped_.load(std::memory_order_relaxed);
  std::uint64_t left = local_->stop();
  if (endpoint_ != nullptr) {
    finish_status_ = endpoint_->terminate(true);
    if (!endpoint_->failed()) lost_.store(endpoint_->stats().lost_in_rejected_frames, std::memory_order_relaxed);
  }
  return left + (dropped_.load(std::memory_order_relaxed) - dropped_before);
}

template <class W>
PoolStats ClusterPool<W>::stats() const {
  PoolStats s = local_->stats();
  const std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  const std::uint64_t failed = decode_failures_.load(std::memory_order_relaxed) + lost_.load(std::memory_order_relaxed);
  s.accepted += dropped + failed;
  s.dropped += dropped;
  s.failed += failed;
  return s;
}

template <class W>
ClusterStats ClusterPool<W>::cluster_stats() {
  ClusterStats s;
  if (endpoint_ != nullptr) s = endpoint_->stats();
  s.rank = rank_;
  s.ranks = ranks_;
  s.decode_failures = decode_failures_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.too_large = too_large_.load(std::memory_order_relaxed);
  s.deferred = deferred_count_.load(std::memory_order_relaxed);
  return s;
}

template <class W>
absl::StatusOr<std::vector<RankStats>> ClusterPool<W>::gather_stats() {
  const PoolStats p = stats();
  const ClusterStats c = cluster_stats();
  const std::uint64_t mine[] = {p.accepted, p.processed,    p.failed,           p.dropped,
                                p.rejected, c.records_sent, c.records_received, c.frames_rejected};
  std::vector<RankStats> all(static_cast<std::size_t>(ranks_));
  std::uint64_t RankStats::*fields[] = {
      &RankStats::accepted, &RankStats::processed,    &RankStats::failed,           &RankStats::dropped,
      &RankStats::rejected, &RankStats::records_sent, &RankStats::records_received, &RankStats::frames_rejected};
  for (std::size_t f = 0; f < std::size(fields); ++f) {
    absl::StatusOr<std::vector<std::uint64_t>> v = cluster_.all_gather(mine[f]);
    if (!v.ok()) return v.status();
    for (std::size_t r = 0; r < all.size(); ++r) all[r].*fields[f] = (*v)[r];
  }
  for (std::size_t r = 0; r < all.size(); ++r) all[r].rank = static_cast<int>(r);
  return all;
}

template <class W>
absl::Status ClusterPool<W>::status() const {
  if (endpoint_ != nullptr && endpoint_->failed()) return endpoint_->fault();
  return local_->status();
}

}  // namespace sn
