// Internal: the definitions of WorkerPool<W>'s longer members (declared in sn/pool/pool.h):
// creation and wiring, external sends and external timers.
#pragma once

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "sn/pool/pool.h"

namespace sn {

namespace detail {

/// Runs `f` where routing cannot change under it, from a thread outside the pool: at
/// once on a fixed pool; on a resizable one inside the send gate, waiting while a resize
/// holds it. False, with `f` not run, when the pool is stopping or this thread has no
/// seat (no memory).
template <class F>
bool with_stable_routing(PoolState& shared, F&& f) {
  if (!shared.resizable()) {
    f();
    return true;
  }
  auto stopping = [&] { return shared.closing.load(std::memory_order_acquire); };
  GateSeat::Use seat;
  if (!seat) return false;
  while (!stopping()) {
    if (shared.gate.enter(*seat)) {
      f();
      SendGate::leave(*seat);
      return true;
    }
    shared.gate.wait_open(shared.wait, stopping);
  }
  return false;
}

}  // namespace detail

template <class W>
template <class P, class Factory>
absl::StatusOr<std::unique_ptr<WorkerPool<W>>> WorkerPool<W>::create_pool(const PoolConfig& config, P partitioner,
                                                                          Factory&& factory,
                                                                          detail::RemoteRoute<Message>* remote) {
  absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolved = resolve(config);
  if (!resolved.ok()) return resolved.status();
  if (config.dead_letters && !config.dead_letters.template holds<Message>()) {
    return absl::InvalidArgumentError(
        "sn::PoolConfig: the dead-letter sink takes another message type than the workers' (with_dead_letters<M>: M "
        "must be the worker's Message)");
  }
  const std::size_t slots = resolved->size();
  std::unique_ptr<Shared> shared;
  if constexpr (ResizablePartitioner<P>) {
    for (std::size_t i = 0; i < std::max<std::size_t>(partitioner.size(), config.num_workers); ++i) {
      if (partitioner.size() != config.num_workers || !partitioner.contains(i)) {
        return absl::InvalidArgumentError(
            absl::StrCat("sn::WorkerPool: the resizable partitioner's workers must be "
                         "0..num_workers-1 (",
                         config.num_workers, " workers; the partitioner has ", partitioner.size(), ")"));
      }
    }
    shared = std::make_unique<Shared>(detail::Router::resizable(std::move(partitioner), slots));
  } else {
    if (slots != config.num_workers) {
      return absl::InvalidArgumentError(
          "sn::PoolConfig: max_workers above num_workers needs a resizable partitioner (sn::ResizablePartitioner, "
          "such as ConsistentHashPartitioner or RendezvousPartitioner)");
    }
    if constexpr (std::is_same_v<P, HashPartitioner>) {
      shared = std::make_unique<Shared>(detail::Router(slots));
    } else {
      shared = std::make_unique<Shared>(detail::Router::plain(std::move(partitioner), slots));
    }
  }
  shared->remote = remote;  // before any worker runs: their sends read it without a fence
  std::unique_ptr<WorkerPool> pool(new WorkerPool(std::move(shared)));
  if (absl::Status s = pool->template wire<P>(config, std::move(*resolved)); !s.ok()) return s;
  auto kept = std::make_shared<std::decay_t<Factory>>(std::forward<Factory>(factory));
  pool->factory_ = [kept](std::size_t i) -> absl::StatusOr<std::unique_ptr<W>> {
    using Made = detail::FactoryResult<Factory>;  // checked by create()
    try {
      std::unique_ptr<W> w;
      if constexpr (std::is_same_v<Made, W>) {
        w.reset(new W((*kept)(i)));
      } else {
        w = (*kept)(i);
      }
      if (w == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("sn::WorkerPool: the factory returned no worker for index ", i));
      }
      return w;
    } catch (...) {
      return absl::InternalError(absl::StrCat("sn::WorkerPool: the factory failed for worker ", i, ": ",
                                              detail::describe_current_exception()));
    }
  };
  for (std::size_t i = 0; i < config.num_workers; ++i) {
    if (absl::Status s = pool->make_worker(i); !s.ok()) return s;
  }
  if (absl::Status s = pool->start(0, config.num_workers); !s.ok()) return s;
  return pool;
}

template <class W>
template <class P>
absl::Status WorkerPool<W>::wire(const PoolConfig& config, std::vector<ResolvedWorkerConfig> resolved) {
  Shared& shared = *shared_;
  const std::size_t n = resolved.size();
  shared.wait = config.wait;
  shared.full_policy = config.full_policy;
  shared.fault_policy = config.fault_policy;
  shared.restart_limit = config.restart_limit;
  shared.fault_observer = config.fault_observer ? *config.fault_observer : stderr_fault_observer();
  shared.name = config.name;
  shared.timestamps = config.timestamps;
  shared.sequence_numbers = config.sequence_numbers;
  shared.dead_letter_post = detail::DeadLetterPost<Message>(config.dead_letters.template get<Message>(),
                                                            shared.dead_letters_posted, shared.hook_faults);
  idle_tick_ = config.idle_tick;
  env_.idle_tick = config.idle_tick;
  for (std::size_t j = 0; j < n; ++j) {
    auto core = std::make_unique<detail::WorkerCore<Message>>();
    core->config = std::move(resolved[j]);
    auto inbox = Channel<detail::Parcel<Message>>::mpsc(core->config.queue_capacity,
                                                        ChannelOptions().with_wait_policy(config.wait));
    if (!inbox.ok()) return inbox.status();
    core->inbox_tx = std::move(inbox.sender());
    core->inbox_rx = std::move(inbox.receiver());
    auto requests = Channel<detail::RequestParcel<Message>>::mpsc(detail::kCallRingCapacity);
    auto replies = Channel<detail::ReplyParcel>::mpsc(detail::kCallRingCapacity);
    if (!requests.ok()) return requests.status();
    if (!replies.ok()) return replies.status();
    core->requests.attach(std::move(requests.sender()), std::move(requests.receiver()));
    core->reply_tx = std::move(replies.sender());
    core->reply_rx = std::move(replies.receiver());
    core->asymmetric = sync::asymmetric_barriers_available();
    shared.add_core(std::move(core));
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      auto lane = Channel<detail::Parcel<Message>>::spsc(config.mesh_capacity);
      if (!lane.ok()) return lane.status();
      shared.cores[i]->lanes_out.push_back(std::move(lane.sender()));
      shared.cores[j]->lanes_in.push_back(std::move(lane.receiver()));
    }
  }
  shared.timers = std::make_unique<detail::TimerRegistry<Message>>(n);
  workers_.resize(n);
  threads_.resize(n);
  outgoing_.resize(n);
  return absl::OkStatus();
}

template <class W>
absl::Status WorkerPool<W>::make_worker(std::size_t slot) {
  absl::StatusOr<std::unique_ptr<W>> made = factory_(slot);
  if (!made.ok()) return made.status();
  workers_[slot] = std::move(*made);
  return absl::OkStatus();
}

// Pushes into worker `index`'s inbox (any thread but the pool's workers). On any result
// but `ok` and `dropped`, `msg` keeps the value; a dropped one went to the dead letters.
// `inline`: the hot path of every external send; out of the class, a definition is not
// implicitly inline, and GCC then stops inlining the ring's push into it.
template <class W>
inline SendResult WorkerPool<W>::push_external(std::size_t index, Message& msg, std::uint64_t key) noexcept {
  if (!shared_->accepts(index)) [[unlikely]] {
    shared_->external_rejected.fetch_add(1, std::memory_order_relaxed);
    return SendResult::invalid;
  }
  SN_PERTURB_POINT("pool.send.accepted_not_pushed");
  detail::WorkerCore<Message>& core = *shared_->cores[index];
  detail::Parcel<Message> parcel{std::move(msg), key, Source::external(),
                                 shared_->timestamps ? detail::SendStamp::now() : 0};
  SendResult r = core.inbox_tx.try_send_shared(parcel);
  if (r == SendResult::full) [[unlikely]] {
    r = detail::when_full(
        shared_->full_policy, [&] { return core.inbox_tx.send_shared_until(parcel, absl::InfiniteFuture()); },
        [&] {
          core.remote.dropped_full.fetch_add(1, std::memory_order_relaxed);
          shared_->dead_letter(std::move(parcel.payload), key, index, DeadLetterReason::dropped_full);
        });
    if (r == SendResult::dropped) return r;
  }
  if (r == SendResult::ok) [[likely]] {
    core.ring_doorbell();
    return r;
  }
  msg = std::move(parcel.payload);
  shared_->external_rejected.fetch_add(1, std::memory_order_relaxed);
  return r;
}

template <class W>
inline SendResult WorkerPool<W>::deliver_remote(std::size_t slot, std::uint64_t key, Message& msg) noexcept {
  const std::size_t index = slot == kAnyWorker ? shared_->router.route(key).worker : slot;
  if (!shared_->accepts(index)) [[unlikely]]
    return shared_->running() ? SendResult::invalid : SendResult::closed;
  detail::WorkerCore<Message>& core = *shared_->cores[index];
  detail::Parcel<Message> parcel{std::move(msg), key, Source::external(),
                                 shared_->timestamps ? detail::SendStamp::now() : 0};
  const SendResult r = core.inbox_tx.try_send_shared(parcel);
  if (r == SendResult::ok) [[likely]] {
    core.ring_doorbell();
    return r;
  }
  msg = std::move(parcel.payload);
  return r;
}

// An external send into a resizable pool: routes and pushes inside the gate, so that a
// resize can find a moment when no external send is in progress (see SendGate).
template <class W>
inline SendResult WorkerPool<W>::send_through_gate(std::uint64_t key, bool by_key, std::size_t index,
                                                   Message& msg) noexcept {
  Shared& shared = *shared_;
  auto stopping = [&] { return shared.closing.load(std::memory_order_acquire); };
  detail::GateSeat::Use seat;
  if (!seat) [[unlikely]] {  // no memory for this thread's seat
    shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
    return SendResult::full;
  }
  for (;;) {
    if (shared.gate.enter(*seat)) [[likely]] {
      const SendResult r = push_external(by_key ? shared.router.route(key).worker : index, msg, key);
      detail::SendGate::leave(*seat);
      return r;
    }
    // A resize holds the gate: as if the inbox were full.
    if (stopping()) break;
    bool waited = false;
    const SendResult r = detail::when_full(
        shared.full_policy,
        [&] {
          shared.gate.wait_open(shared.wait, stopping);
          waited = true;
          return SendResult::ok;
        },
        [&] {
          shared.dropped_at_gate.fetch_add(1, std::memory_order_relaxed);
          // By key, the owner is not known: the resize may be changing it.
          shared.dead_letter(std::move(msg), key, by_key ? DeadLetter<Message>::kUnknownWorker : index,
                             DeadLetterReason::dropped_at_gate);
        });
    if (waited) continue;
    if (r == SendResult::full) shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
    return r;
  }
  shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
  return SendResult::closed;
}

// Sends a call's request (with the answering reference `call`) to the key's owner; a
// call that completed already (its deadline passed) or that no worker can take now
// completes here.
template <class W>
void WorkerPool<W>::post_call(std::uint64_t key, Message&& request, detail::CallStateBase* call) noexcept {
  Shared& shared = *shared_;
  shared.external_calls.fetch_add(1, std::memory_order_relaxed);
  call->call_key = key;
  call->late_answers = &shared.reply_late;
  auto refuse = [&] {
    (void)call->fail(detail::CallErrors::unavailable());  // refused when the deadline completed it
    call->release();
  };
  if (call->completed() || !shared.running()) return refuse();
  // Through the gate of a resizable pool: the route must not change (nor the router be
  // replaced) while the request goes to the key's owner.
  const bool sent = detail::with_stable_routing(shared, [&] {
    detail::send_request(shared, detail::CallMemory::global(), key, std::move(request), Source::external(), false,
                         call);
  });
  if (!sent) refuse();
}

// A timer made outside the pool: held by the key's owner now, through the gate of a
// resizable pool (so that its holder cannot be leaving).
template <class W>
TimerId WorkerPool<W>::schedule_external(absl::Duration delay, std::uint64_t key, Message&& msg,
                                         std::int64_t period) noexcept {
  Shared& shared = *shared_;
  auto stopping = [&] { return shared.closing.load(std::memory_order_acquire); };
  const std::int64_t delay_ns =
      absl::ToInt64Nanoseconds(std::clamp(delay, absl::ZeroDuration(), absl::Hours(24 * 365 * 100)));
  auto schedule = [&]() -> TimerId {
    const std::size_t holder = shared.router.route(key).worker;
    TimerId id;
    try {
      id = shared.timers->schedule_foreign(holder, detail::steady_now_ns() + delay_ns, std::move(msg), key, period,
                                           [&] { return !stopping() && shared.accepts(holder); });
    } catch (...) {  // a message whose move threw: cannot happen for a Worker's Message
      id = TimerId{};
    }
    if (!id.valid()) return id;
    shared.bases[holder]->remote.timers_scheduled.fetch_add(1, std::memory_order_relaxed);
    shared.bases[holder]->ring_doorbell();
    return id;
  };
  TimerId id;
  (void)detail::with_stable_routing(shared, [&] { id = schedule(); });
  if (!id.valid()) shared.external_rejected.fetch_add(1, std::memory_order_relaxed);
  return id;
}

template <class W>
std::uint64_t WorkerPool<W>::plan_imports(std::vector<char>& imports) {
  std::uint64_t pieces = 0;
  for (const std::vector<Piece>& out : outgoing_) {
    for (const Piece& piece : out) imports[piece.to] = 1;
    pieces += out.size();
  }
  return pieces;
}

template <class W>
std::uint64_t WorkerPool<W>::cancel_unclaimed_timers() {
  std::uint64_t cancelled =
      shared_->timers->cancel_unclaimed([&](std::uint32_t slab) { detail::PoolState::count_cancelled(shared_, slab); });
  for (const detail::TimerItem& item : migration_.timers) {  // a resize stopped half-way
    if (shared_->timers->release(item.ref, true)) {
      detail::PoolState::count_cancelled(shared_, item.ref.slab);
      ++cancelled;
    }
  }
  migration_.timers.clear();
  return cancelled;
}

}  // namespace sn
