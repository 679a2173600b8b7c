// Internal: a worker's sending side: its lanes to every worker, and for each lane the
// backlog of messages that did not fit yet (FullPolicy::block; a worker never waits).
//
// A backlog drains into its lane a run of messages at a time, with one publish each
// (Sender::send_batch), from the worker's loop (flush) and also while a handler is still
// sending: every kMoveEvery messages it spills, the outbox moves what the destination
// lane has room for, so that a burst far larger than the lane keeps its receiver busy
// while the sender runs instead of reaching it only once the handler returns.
// Order per lane: a send goes straight into the lane only while the lane's backlog is
// empty; otherwise it joins the backlog's back, and the lane takes from its front.
//
// Worker thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "sn/channel/result.h"
#include "sn/pool/detail/backlog.h"
#include "sn/pool/detail/parcel.h"
#include "sn/pool/detail/send_path.h"
#include "sn/pool/detail/shared.h"
#include "sn/worker/heap.h"

namespace sn::detail {

template <class M>
class Outbox {
 public:
  /// Spilled messages between two attempts to move a backlog into its lane from send().
  static constexpr std::size_t kMoveEvery = 64;

  Outbox(std::size_t self, PoolShared<M>& shared, WorkerHeap& heap)
      : self_(self),
        shared_(shared),
        core_(*shared.cores[self]),
        store_(&heap, &core_.owned.outbox_peak_bytes),
        backlogs_(shared.size()) {
    for (auto& backlog : backlogs_) backlog.attach(&store_);
  }
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Sends to worker `to`. `ok`: in the lane, or in the backlog (FullPolicy::block);
  /// `dropped` (FullPolicy::drop) passed it to the dead letters; `full`, `closed` and `invalid` leave the
  /// value in `msg`. Never waits.
  SendResult send(std::size_t to, M& msg, std::uint64_t key) noexcept {
    if (!shared_.accepts(to) || refusing_) [[unlikely]] {
      core_.owned.rejected.add(1);
      return !shared_.accepts(to) ? SendResult::invalid : SendResult::closed;
    }
    Parcel<M> parcel{std::move(msg), key, Source::worker(self_), shared_.timestamps ? SendStamp::now() : 0};
    Backlog<Parcel<M>>& backlog = backlogs_[to];
    if (backlog.empty()) [[likely]] {
      const SendResult r = core_.lanes_out[to].try_send(std::move(parcel));
      if (r == SendResult::ok) [[likely]] {
        core_.owned.sent.add(1);
        shared_.cores[to]->ring_doorbell();
        return r;
      }
      if (r == SendResult::closed) return refuse(parcel, msg, r);
    }
    // The lane is full, or has a backlog that must go first.
    const SendResult r = when_full(
        shared_.full_policy, [&] { return spill(to, parcel); },
        [&] {
          shared_.cores[to]->remote.dropped_full.fetch_add(1, std::memory_order_relaxed);
          shared_.dead_letter(std::move(parcel.payload), key, to, DeadLetterReason::dropped_full);
        });
    if (r == SendResult::full) return refuse(parcel, msg, r);
    return r;
  }

  /// Messages waiting in the backlogs.
  std::size_t pending() const noexcept { return total_; }

  /// Moves what fits from the backlogs into their lanes, oldest first.
  void flush() noexcept {
    for (std::size_t j = 0; j < backlogs_.size(); ++j) {
      if (!backlogs_[j].empty()) move(j);
    }
    publish_pending();
  }

  /// Whether some lane this worker owes messages to has room now (producer side: exact).
  bool can_move() noexcept {
    for (std::size_t j = 0; j < backlogs_.size(); ++j) {
      if (!backlogs_[j].empty() && core_.lanes_out[j].has_room()) return true;
    }
    return false;
  }

  /// Passes what is left in the backlogs (the pool stopped) to the dead letters, counting
  /// each message as dropped at its destination. Returns how many.
  std::uint64_t discard() noexcept {
    std::uint64_t total = 0;
    for (std::size_t j = 0; j < backlogs_.size(); ++j) {
      Backlog<Parcel<M>>& backlog = backlogs_[j];
      const std::size_t n = backlog.size();
      if (n != 0) shared_.cores[j]->remote.dropped_at_stop.fetch_add(n, std::memory_order_relaxed);
      for (; !backlog.empty(); backlog.pop()) {
        shared_.dead_letter(std::move(backlog.front().payload), backlog.front().key, j, DeadLetterReason::left_at_stop);
      }
      total += n;
    }
    total_ = 0;
    publish_pending();
    return total;
  }

  /// Bytes the backlogs' chunks hold now, and the most they held at once.
  std::size_t bytes() const noexcept { return store_.bytes(); }
  std::uint64_t peak_bytes() const noexcept { return store_.peak_bytes(); }

  /// While set, every send returns `closed` (on_stop, and the hooks of a resize).
  void set_refusing(bool refusing) noexcept { refusing_ = refusing; }

 private:
  /// Under FullPolicy::block: appends to lane `to`'s backlog, and every kMoveEvery spills
  /// moves what that lane has room for. `full` when out of memory (the parcel untouched).
  SendResult spill(std::size_t to, Parcel<M>& parcel) noexcept {
    if (!backlogs_[to].push(parcel)) return SendResult::full;
    core_.owned.sent.add(1);
    ++total_;
    if (++since_move_ == kMoveEvery) {
      since_move_ = 0;
      if (core_.lanes_out[to].has_room()) move(to);
    }
    publish_pending();
    return SendResult::ok;
  }

  /// Moves the front of lane j's backlog into the lane, as much as it has room for, a run
  /// of a chunk per publish; rings j's doorbell when anything moved.
  void move(std::size_t j) noexcept {
    Backlog<Parcel<M>>& backlog = backlogs_[j];
    std::size_t moved = 0;
    while (!backlog.empty()) {
      const SendBatchResult r = core_.lanes_out[j].send_batch(backlog.front_run());
      backlog.pop_front(r.count);
      moved += r.count;
      if (r.status != SendResult::ok) break;  // the lane is full (or closed: discard() takes the rest)
    }
    if (moved == 0) return;
    total_ -= moved;
    shared_.cores[j]->ring_doorbell();
  }

  /// Tells stats readers how many messages wait, and the workers this one owes messages
  /// to whether it owes any (they wake it when they free room).
  void publish_pending() noexcept {
    core_.owned.outbox_pending.store(total_, std::memory_order_relaxed);
    const bool owes = total_ != 0;
    if (owes != owes_) {
      owes_ = owes;
      core_.owes.room.store(owes, std::memory_order_relaxed);
    }
  }

  SendResult refuse(Parcel<M>& parcel, M& msg, SendResult why) noexcept {
    msg = std::move(parcel.payload);
    core_.owned.rejected.add(1);
    return why;
  }

  std::size_t self_;
  PoolShared<M>& shared_;
  WorkerCore<M>& core_;
  ChunkStore store_;                          // before backlogs_, which return their chunks to it
  std::vector<Backlog<Parcel<M>>> backlogs_;  // [j]: overflow of the lane to j
  std::size_t total_ = 0;                     // messages in the backlogs
  std::size_t since_move_ = 0;                // spills since send() last tried to move
  bool owes_ = false;                         // as last stored into core_.owes.room
  bool refusing_ = false;
};

}  // namespace sn::detail
