// Internal: a worker's sending side: its lanes to every worker, and for each lane the
// backlog of messages that did not fit yet (FullPolicy::block; a worker never waits).
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
  Outbox(std::size_t self, PoolShared<M>& shared, WorkerHeap& heap)
      : self_(self), shared_(shared), core_(*shared.cores[self]), backlogs_(shared.size()) {
    for (auto& backlog : backlogs_) backlog.attach(&heap);
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
        shared_.full_policy,
        [&] {
          if (!backlog.push(parcel)) return SendResult::full;  // out of memory: hand it back
          core_.owned.sent.add(1);
          if (total_++ == 0) core_.owes.room.store(true, std::memory_order_relaxed);
          core_.owned.outbox_pending.store(total_, std::memory_order_relaxed);
          return SendResult::ok;
        },
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
      Backlog<Parcel<M>>& backlog = backlogs_[j];
      bool moved = false;
      while (!backlog.empty() && core_.lanes_out[j].try_send(std::move(backlog.front())) == SendResult::ok) {
        backlog.pop();
        --total_;
        moved = true;
      }
      if (moved) shared_.cores[j]->ring_doorbell();
    }
    core_.owned.outbox_pending.store(total_, std::memory_order_relaxed);
    if (total_ == 0) core_.owes.room.store(false, std::memory_order_relaxed);
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
    core_.owned.outbox_pending.store(0, std::memory_order_relaxed);
    core_.owes.room.store(false, std::memory_order_relaxed);
    return total;
  }

  /// While set, every send returns `closed` (on_stop, and the hooks of a resize).
  void set_refusing(bool refusing) noexcept { refusing_ = refusing; }

 private:
  SendResult refuse(Parcel<M>& parcel, M& msg, SendResult why) noexcept {
    msg = std::move(parcel.payload);
    core_.owned.rejected.add(1);
    return why;
  }

  std::size_t self_;
  PoolShared<M>& shared_;
  WorkerCore<M>& core_;
  std::vector<Backlog<Parcel<M>>> backlogs_;  // [j]: overflow of the lane to j
  std::size_t total_ = 0;
  bool refusing_ = false;
};

}  // namespace sn::detail
