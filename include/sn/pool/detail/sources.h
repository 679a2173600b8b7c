// Internal: the inputs a worker's loop polls. Each source has the same small interface:
//
//   bool ready() const            something can be taken now (cheap: one cache line each)
//   bool published() const        another thread published something (what a sleeping
//                                 worker waits for; no clock read: a source's own
//                                 deadline is the wait's deadline)
//   std::size_t drain(budget, take)   takes up to `budget` messages, passing each to
//                                 take(Parcel&&, input); returns how many it took
//   std::int64_t next_deadline()  the steady-clock ns at which it will have something
//                                 without any thread publishing (INT64_MAX: never)
//
// The set is fixed at compile time (Sources<...> over a tuple): no virtual call per message.
// Today's sources: the mesh lanes from every worker, the inbox from other threads, and
// the worker's timers (whose drain sends rather than takes).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

#include "sn/pool/detail/core.h"
#include "sn/pool/detail/outbox.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/timers.h"
#include "sn/sync/barrier.h"

namespace sn::detail {

inline constexpr std::int64_t kNoDeadline = INT64_MAX;

/// Takes from one channel: the first message on its own, the rest of the budget (one
/// read of the producer's index) only when a second one is already there, so that a
/// lone message, the latency case, never waits for a second cache miss.
template <class Rx, class Take>
std::size_t drain_channel(Rx& rx, std::size_t budget, Take&& take) noexcept {
  std::size_t got = rx.consume(1, take).count;
  if (got != 0 && budget > 1 && rx.ready()) got += rx.consume(budget - 1, take).count;
  return got;
}

/// The lanes from every worker (this one included), polled round-robin from a rotating
/// start so that no sender starves the others.
template <class M>
class MeshSource {
 public:
  MeshSource(PoolShared<M>& shared, WorkerCore<M>& core) noexcept : shared_(shared), core_(core) {}

  bool ready() const noexcept { return first_ready() != kNone; }
  /// As ready(), and the next drain starts at the lane that has a message.
  bool published() const noexcept {
    const std::size_t i = first_ready();
    if (i == kNone) return false;
    start_ = i;
    return true;
  }
  std::int64_t next_deadline() const noexcept { return kNoDeadline; }

  template <class Take>
  std::size_t drain(std::size_t budget, Take&& take) noexcept {
    const std::size_t n = core_.lanes_in.size();
    std::size_t taken = 0;
    for (std::size_t k = 0; k < n && taken < budget; ++k) {
      std::size_t input = start_ + k;
      if (input >= n) input -= n;
      auto& lane = core_.lanes_in[input];
      if (!lane.ready()) continue;
      const std::size_t got = drain_channel(lane, budget - taken, [&](Parcel<M>&& p) { take(std::move(p), input); });
      taken += got;
      if (got != 0) wake_if_owed(input);
    }
    start_ = start_ + 1 >= n ? 0 : start_ + 1;
    return taken;
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  /// Lanes first in the wait's check: they carry the latency-sensitive traffic.
  std::size_t first_ready() const noexcept {
    for (std::size_t i = 0; i < core_.lanes_in.size(); ++i) {
      if (core_.lanes_in[i].ready()) return i;
    }
    return kNone;
  }
  /// Room was freed in lane input->this: wake its producer if it owes into it.
  void wake_if_owed(std::size_t input) noexcept {
    CoreBase& producer = *shared_.bases[input];
    sync::light_barrier(core_.asymmetric);  // pairs with the producer's heavy barrier
    if (producer.owes.room.load(std::memory_order_relaxed)) producer.ring_doorbell();
  }

  PoolShared<M>& shared_;
  WorkerCore<M>& core_;
  mutable std::size_t start_ = 0;  // where the next drain starts; published() moves it
};

/// The inbox: external senders' messages. Backpressure: while the worker owes messages
/// to full lanes it takes none, so external producers wait instead of adding to the work.
template <class M>
class InboxSource {
 public:
  InboxSource(WorkerCore<M>& core, const Outbox<M>& outbox) noexcept : core_(core), outbox_(outbox) {}

  bool ready() const noexcept { return outbox_.pending() == 0 && core_.inbox_rx.ready(); }
  bool published() const noexcept { return ready(); }
  std::int64_t next_deadline() const noexcept { return kNoDeadline; }

  template <class Take>
  std::size_t drain(std::size_t budget, Take&& take) noexcept {
    if (!ready()) return 0;
    const std::size_t input = core_.lanes_in.size();
    return drain_channel(core_.inbox_rx, budget, [&](Parcel<M>&& p) { take(std::move(p), input); });
  }

 private:
  WorkerCore<M>& core_;
  const Outbox<M>& outbox_;
};

/// The worker's timers. Draining fires the due ones: each sends its message through the
/// worker's outbox to the key's owner at that moment. Paused while the pool drains (a
/// shutdown or a resize), so that nothing is sent once the pool was found quiescent.
template <class M>
class TimerSource {
 public:
  TimerSource(PoolShared<M>& shared, const CoreBase& core, WorkerTimers<M>& timers, Outbox<M>& outbox) noexcept
      : shared_(shared), core_(core), timers_(timers), outbox_(outbox) {}

  bool ready() const noexcept {
    if (paused_ || timers_.idle()) [[likely]]
      return false;
    return timers_.next_due() <= steady_now_ns();
  }
  /// Timers made by other threads wait to be taken in; the worker's own timers are the
  /// wait's deadline instead (no clock read while spinning).
  bool published() const noexcept { return !paused_ && timers_.has_incoming(); }
  std::int64_t next_deadline() const noexcept {
    if (paused_ || timers_.idle()) [[likely]]
      return kNoDeadline;
    return timers_.next_due();
  }

  /// Fires up to `budget` due timers, after take.busy(). Returns 0: a firing is a send,
  /// not a message taken, so it does not make a batch (nor a tick) by itself.
  template <class Take>
  std::size_t drain(std::size_t budget, Take&& take) {
    if (!ready()) [[likely]]
      return 0;
    take.busy();  // before the first send: the quiescence check must see this worker busy,
    // or this worker must see the drain. The flags were read at the top of the iteration,
    // maybe before a shutdown or a resize set kDrain and found the pool quiescent; a
    // firing now would send after that (into a worker about to exit, or to a key's old
    // owner while its state moves). So, as the idle tick does: busy, fence, flags again.
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with signal()'s fetch_or
    if ((core_.flags() & (kStop | kDrain | kExit)) != 0) [[unlikely]] {
      paused_ = true;
      return 0;
    }
    (void)timers_.fire_due(steady_now_ns(), budget, [&](std::uint64_t key, M&& msg) {
      (void)outbox_.send(shared_.router.route(key).worker, msg, key);  // a refusal is counted there
    });
    return 0;
  }

  void set_paused(bool paused) noexcept { paused_ = paused; }

 private:
  PoolShared<M>& shared_;
  const CoreBase& core_;
  WorkerTimers<M>& timers_;
  Outbox<M>& outbox_;
  bool paused_ = false;
};

/// A fixed set of sources. Each iteration drains the message sources in order from a
/// rotating first one, so that a source that fills the budget every time starves none
/// of the others; the last source (the timers) always goes last, so that a timer that
/// falls due during a batch fires at its end.
template <class... S>
class Sources {
 public:
  static constexpr std::size_t kRotating = sizeof...(S) - 1;
  explicit Sources(S&... sources) noexcept : sources_(sources...) {}

  bool any_ready() const noexcept {
    return std::apply([](const auto&... s) { return (s.ready() || ...); }, sources_);
  }
  /// Whether another thread published into any source (a sleeping worker's check).
  bool any_published() const noexcept {
    return std::apply([](const auto&... s) { return (s.published() || ...); }, sources_);
  }
  std::int64_t next_deadline() const noexcept {
    return std::apply([](const auto&... s) { return std::min({s.next_deadline()...}); }, sources_);
  }
  /// Drains every source within `budget`; returns how many messages were taken.
  template <class Take>
  std::size_t drain(std::size_t budget, Take& take) {
    std::size_t taken = 0;
    for (std::size_t k = 0; k < kRotating; ++k) {
      std::size_t i = first_ + k;
      if (i >= kRotating) i -= kRotating;
      if (taken < budget) taken += drain_one(i, budget - taken, take, std::index_sequence_for<S...>{});
    }
    first_ = first_ + 1 == kRotating ? 0 : first_ + 1;
    taken += std::get<kRotating>(sources_).drain(budget, take);
    return taken;
  }
  template <std::size_t I>
  auto& get() noexcept {
    return std::get<I>(sources_);
  }

 private:
  template <class Take, std::size_t... I>
  std::size_t drain_one(std::size_t which, std::size_t budget, Take& take, std::index_sequence<I...>) {
    std::size_t got = 0;
    ((which == I ? (void)(got = std::get<I>(sources_).drain(budget, take)) : (void)0), ...);
    return got;
  }

  std::tuple<S&...> sources_;
  std::size_t first_ = 0;
};

}  // namespace sn::detail
