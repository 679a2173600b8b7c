// Internal: how a worker's loop calls its handlers: the State it owns, the batch buffer
// for handle_batch, the choice of handle_message by alternative for a std::variant
// Message, and the one place where a handler's failure meets the FaultPolicy.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sn/detail/alternative.h"
#include "sn/pool/detail/call_dispatch.h"
#include "sn/pool/detail/calls.h"
#include "sn/pool/detail/parcel.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/supervisor.h"
#include "sn/pool/detail/timers.h"
#include "sn/worker/detail/traits.h"
#include "sn/worker/envelope.h"
#include "sn/worker/heap.h"

namespace sn::detail {

/// A readable description of the exception being handled, for a fault's status.
std::string describe_current_exception();

/// Runs a hook; an exception becomes a status.
template <class Fn>
absl::Status guarded(Fn&& fn) noexcept {
  try {
    fn();
    return absl::OkStatus();
  } catch (...) {
    return absl::InternalError(describe_current_exception());
  }
}

/// Holds a worker's State in its heap; builds it with W::init() when W has one.
template <class W>
class StateBox {
  using State = typename W::state_type;

 public:
  explicit StateBox(WorkerHeap& heap) noexcept : heap_(heap) {}
  ~StateBox() { destroy(); }
  StateBox(const StateBox&) = delete;
  StateBox& operator=(const StateBox&) = delete;

  State& operator*() noexcept { return *state_; }
  /// False after a restart whose init() failed.
  bool built() const noexcept { return state_ != nullptr; }
  absl::Status build(W& w);
  void destroy() noexcept {
    if (state_ == nullptr) return;
    state_->~State();
    WorkerHeap::deallocate(std::exchange(state_, nullptr));
  }

 private:
  WorkerHeap& heap_;
  State* state_ = nullptr;
};

/// Storage for one iteration's envelopes when W has handle_batch, in the worker's heap.
template <class M>
class BatchBuffer {
 public:
  BatchBuffer(WorkerHeap& heap, std::size_t capacity)
      : data_(capacity == 0
                  ? nullptr
                  : static_cast<Envelope<M>*>(heap.allocate(capacity * sizeof(Envelope<M>), alignof(Envelope<M>)))) {
    if (capacity != 0 && data_ == nullptr) throw std::bad_alloc();
  }
  ~BatchBuffer() {
    clear();
    WorkerHeap::deallocate(data_);
  }
  BatchBuffer(const BatchBuffer&) = delete;
  BatchBuffer& operator=(const BatchBuffer&) = delete;

  Envelope<M>& emplace(M&& payload, std::uint64_t key, Source source) noexcept {
    return *::new (&data_[size_++]) Envelope<M>{std::move(payload), key, source, std::nullopt, std::nullopt};
  }
  std::span<Envelope<M>> view() noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept {
    for (std::size_t i = 0; i < size_; ++i) data_[i].~Envelope<M>();
    size_ = 0;
  }

 private:
  Envelope<M>* data_;
  std::size_t size_ = 0;
};

/// AlternativeResult<W, T>, or void where W has no handler for T (AlternativeHandlerCheck
/// reports that).
template <class W, class T>
struct AlternativeResultOrVoid {
  using type = void;
};
template <class W, class T>
requires HandlesAlternative<W, T>
struct AlternativeResultOrVoid<W, T> {
  using type = AlternativeResult<W, T>;
};

/// Calls W's handle_message for a std::variant Message alternative by alternative: the
/// handler for Envelope<T>, where T is the alternative the payload holds, gets that
/// alternative moved out, with the envelope's key, source, sequence and sent_at. A switch
/// on index() generated at compile time: no allocation, no indirect call, and each handler
/// may be inlined. The result is absl::Status when any alternative's handler returns one
/// (OK for those that return void), else void. A valueless payload throws
/// std::bad_variant_access, which fails the message as any throw does.
template <class W, class M>
struct ByAlternative;

template <class W, class... Ts>
struct ByAlternative<W, std::variant<Ts...>> {
  using State = typename W::state_type;
  using Message = std::variant<Ts...>;
  using Result =
      std::conditional_t<(std::is_same_v<typename AlternativeResultOrVoid<W, Ts>::type, absl::Status> || ...),
                         absl::Status, void>;

  static Result call(W& w, State& s, Envelope<Message>& e) { return call(w, s, e, std::index_sequence_for<Ts...>{}); }

 private:
  template <std::size_t... I>
  static Result call(W& w, State& s, Envelope<Message>& e, std::index_sequence<I...>) {
    const std::size_t held = e.payload.index();
    if constexpr (std::is_void_v<Result>) {
      if (!((held == I && (one<I>(w, s, e), true)) || ...)) throw std::bad_variant_access();
    } else {
      absl::Status status;
      if (!((held == I && (status = one<I>(w, s, e), true)) || ...)) throw std::bad_variant_access();
      return status;
    }
  }

  template <std::size_t I>
  static Result one(W& w, State& s, Envelope<Message>& e) {
    using T = std::variant_alternative_t<I, Message>;
    if constexpr (AlternativeHandlerCheck<W, T>::value) {
      Envelope<T> alternative{std::move(std::get<I>(e.payload)), e.key, e.source, e.sequence, e.sent_at};
      if constexpr (std::is_void_v<AlternativeResult<W, T>>) {
        w.handle_message(s, std::move(alternative));
        return Result();
      } else {
        return w.handle_message(s, std::move(alternative));
      }
    } else {
      return Result();  // not reached: the check above failed to compile
    }
  }
};

/// Calls W's handle_message for one envelope: the handler for the whole Message when W
/// has one (every non-variant Message), else the one for the alternative it holds.
template <class W>
decltype(auto) handle_one(W& w, typename W::state_type& s, Envelope<typename W::message_type>& e) {
  using M = typename W::message_type;
  if constexpr (!HandlesWholeMessage<W> && kIsVariant<M>) {
    return ByAlternative<W, M>::call(w, s, e);
  } else {
    return w.handle_message(s, std::move(e));
  }
}

/// Turns parcels into envelopes and hands them to the worker's handler (one at a time,
/// or as the iteration's batch), applying the FaultPolicy when one fails. Worker thread.
template <class W>
class Dispatcher {
  using M = typename W::message_type;
  static constexpr bool kBatched = HandlesBatches<W>;

 public:
  Dispatcher(W& w, StateBox<W>& state, PoolShared<M>& shared, CoreBase& core, std::size_t index, WorkerHeap& heap,
             std::size_t batch, std::size_t inputs)
      : w_(w),
        state_(state),
        shared_(shared),
        core_(core),
        index_(index),
        sequences_(shared.sequence_numbers),
        timestamps_(shared.timestamps),
        pending_(heap, kBatched ? batch : 0),
        next_sequence_(inputs, 0),
        restarts_(shared.restart_limit) {}

  /// A message taken from input `input` (a lane's sender, or the inbox).
  void take(Parcel<M>&& parcel, std::size_t input) noexcept {
    if (out_of_service_) [[unlikely]] {
      drop_unhandled(std::move(parcel));
      return;
    }
    if constexpr (kBatched) {
      stamp(pending_.emplace(std::move(parcel.payload), parcel.key, parcel.source), parcel, input);
    } else {
      Envelope<M> envelope{std::move(parcel.payload), parcel.key, parcel.source, std::nullopt, std::nullopt};
      stamp(envelope, parcel, input);
      invoke(FaultSite::handle_message, parcel.key, 1, [&] { return handle_one(w_, *state_, envelope); });
    }
  }

  /// The end of an iteration that took messages: hands a batch over, publishes counts.
  void end_batch() noexcept {
    if constexpr (kBatched) {
      if (pending_.size() != 0) {
        const std::uint64_t first_key = pending_.view()[0].key;
        invoke(FaultSite::handle_batch, first_key, pending_.size(),
               [&] { return w_.handle_batch(*state_, pending_.view()); });
      }
      pending_.clear();
    }
    core_.owned.processed.add(std::exchange(processed_, 0));
    core_.owned.failed.add(std::exchange(failed_, 0));
  }

  /// A request taken from this worker's queue: answers it (see call_dispatch.h). A call
  /// whose deadline passed while it waited is not run; an out-of-service worker answers
  /// Unavailable. A handle_call that throws is a fault (FaultSite::handle_call).
  void take_call(RequestParcel<M>& request) noexcept {
    typename IncomingCall<M>::Back back;
    if (request.reply_by_ring) {
      WorkerCore<M>& caller = *shared_.cores[request.source.worker_index()];
      back = {&caller.reply_tx, &caller.doorbell, caller.asymmetric};
    }
    IncomingCall<M> call(request, back, &shared_.dead_letter_post);
    core_.owned.calls_handled.add(1);
    if (out_of_service_) [[unlikely]] {
      (void)std::move(call).fail(CallErrors::unavailable());
      return;
    }
    if (call.expire_if_due(request.deadline)) return;
    Envelope<M> e{std::move(request.payload), request.key, request.source, std::nullopt, std::nullopt};
    CallOutcome out = answer_call(w_, *state_, std::move(e), std::move(call));
    if (out.late) core_.owned.late_replies.add(1);
    if (!out.fault.ok()) fault(FaultSite::handle_call, request.key, std::move(out.fault), 0);
  }
  /// A call's callback threw on this worker: a fault like a handler's.
  void callback_fault(absl::Status why) noexcept { fault(FaultSite::call_callback, std::nullopt, std::move(why), 0); }
  /// The State, or null while the worker has none (isolated).
  void* state_or_null() noexcept { return state_.built() ? static_cast<void*>(&*state_) : nullptr; }

  /// Runs tick(), when the worker has a State; a failure is a fault like a handler's.
  void tick() noexcept {
    if constexpr (requires { w_.tick(*state_); }) {
      if (out_of_service_) return;
      if (absl::Status s = guarded([&] { w_.tick(*state_); }); !s.ok()) {
        shared_.hook_faults.fetch_add(1, std::memory_order_relaxed);
        fault(FaultSite::tick, std::nullopt, std::move(s), 0);
      }
    }
  }

  /// A revived worker (WorkerPool::revive): a new State and a fresh restart window.
  void revive() noexcept {
    if (!isolated_) return;
    restarts_.reset();
    if (absl::Status built = state_.build(w_); !built.ok()) {
      report(FaultSite::init, std::nullopt, std::move(built), 0, FaultPolicy::isolate, false);
      return;
    }
    set_isolated(false);
  }

  /// Whether a fault stopped the pool in this worker.
  bool halted() const noexcept { return halted_; }
  /// Whether the worker takes no messages into handlers (halted or isolated).
  bool out_of_service() const noexcept { return out_of_service_; }
  /// With a restart backoff running: the steady-clock ns before which the worker takes
  /// no message; 0 otherwise.
  std::int64_t resume_at_ns() const noexcept { return resume_at_ns_; }
  void clear_backoff() noexcept { resume_at_ns_ = 0; }

 private:
  /// The envelope's optional fields, when the pool asks for them.
  void stamp(Envelope<M>& envelope, const Parcel<M>& parcel, std::size_t input) noexcept {
    if (sequences_) [[unlikely]]
      envelope.sequence = next_sequence_[input]++;
    if (timestamps_) [[unlikely]]
      envelope.sent_at = SendStamp::recover(parcel.stamp);
  }

  /// The one place a handler is called: a throw or a non-OK status is a fault.
  template <class Call>
  void invoke(FaultSite site, std::uint64_t key, std::uint64_t count, Call&& call) noexcept {
    try {
      if constexpr (std::is_void_v<decltype(call())>) {
        call();
        processed_ += count;
      } else {
        absl::Status s = call();
        if (s.ok()) [[likely]] {
          processed_ += count;
        } else {
          failed_ += count;
          fault(site, key, std::move(s), count);
        }
      }
    } catch (...) {
      failed_ += count;
      fault(site, key, absl::InternalError(absl::StrCat("threw: ", describe_current_exception())), count);
    }
  }

  /// A message this worker will not handle (halted by a fault, or isolated): counted as
  /// dropped, so that the pool's accounting stays exact, and passed to the dead letters.
  void drop_unhandled(Parcel<M>&& parcel) noexcept {
    if (halted_) {
      core_.remote.dropped_at_stop.fetch_add(1, std::memory_order_relaxed);
      shared_.left_by_workers.fetch_add(1, std::memory_order_relaxed);
    } else {
      core_.owned.isolated_drops.add(1);
    }
    shared_.dead_letter(std::move(parcel.payload), parcel.key, index_,
                        halted_ ? DeadLetterReason::left_at_stop : DeadLetterReason::isolated_worker);
  }

  /// The supervision decision, made here only: the worker's on_fault hook (or the pool's
  /// FaultPolicy), then the RestartLimit; then the action, then the report.
  void fault(FaultSite site, std::optional<std::uint64_t> key, absl::Status why, std::uint64_t messages) noexcept {
    FaultPolicy action = wanted_action(site, key, why, messages);
    bool escalated = false;
    if (action == FaultPolicy::restart && !restarts_.try_restart(steady_now_ns())) {
      action = restarts_.limit().escalate_to;
      escalated = true;
    }
    switch (action) {
      case FaultPolicy::continue_running: break;
      case FaultPolicy::restart: restart(); break;
      case FaultPolicy::isolate:
        state_.destroy();
        set_isolated(true);
        break;
      case FaultPolicy::stop_pool: {
        const std::string_view name = site == FaultSite::handle_message || site == FaultSite::handle_batch
                                          ? std::string_view("handler")
                                          : to_string(site);
        const absl::string_view what(name.data(), name.size());
        stop_pool(absl::Status(
            why.code(), absl::StrCat("sn::WorkerPool: worker ", index_, ": ",
                                     escalated ? "restart limit reached: " : "", what, " failed: ", why.message())));
        break;
      }
    }
    report(site, key, std::move(why), messages, action, escalated);
  }
  /// What the worker's on_fault hook asks for, or the pool's FaultPolicy.
  FaultPolicy wanted_action(FaultSite site, std::optional<std::uint64_t> key, const absl::Status& why,
                            std::uint64_t messages) noexcept {
    if constexpr (requires(const Fault& f) {
                    { w_.on_fault(*state_, f) } -> std::same_as<FaultPolicy>;
                  }) {
      if (state_.built()) {
        const Fault f = make_fault(shared_.name, index_, site, key, why, messages);
        FaultPolicy chosen = shared_.fault_policy;
        if (guarded([&] { chosen = w_.on_fault(*state_, f); }).ok()) return chosen;
        shared_.hook_faults.fetch_add(1, std::memory_order_relaxed);  // on_fault threw: the policy decides
      }
    }
    return shared_.fault_policy;
  }
  void restart() noexcept {
    state_.destroy();
    if (absl::Status rebuilt = state_.build(w_); !rebuilt.ok()) {
      stop_pool(absl::Status(rebuilt.code(),
                             absl::StrCat("sn::WorkerPool: worker ", index_, ": restart failed: ", rebuilt.message())));
      report(FaultSite::init, std::nullopt, std::move(rebuilt), 0, FaultPolicy::stop_pool, false);
      return;
    }
    core_.owned.restarts.add(1);
    const std::int64_t now = steady_now_ns();
    if (const std::int64_t wait = restarts_.backoff_ns(now); wait > 0) resume_at_ns_ = now + wait;
  }
  void report(FaultSite site, std::optional<std::uint64_t> key, absl::Status why, std::uint64_t messages,
              FaultPolicy action, bool escalated) noexcept {
    Fault f = make_fault(shared_.name, index_, site, key, std::move(why), messages);
    f.action = action;
    f.escalated = escalated;
    shared_.report_fault(f);
  }
  void stop_pool(absl::Status why) noexcept {
    shared_.record_fault(std::move(why));
    shared_.stop_all();
    halted_ = true;
    out_of_service_ = true;
  }
  void set_isolated(bool on) noexcept {
    isolated_ = on;
    out_of_service_ = halted_ || on;
    core_.owned.isolated.store(on, std::memory_order_relaxed);
  }

  W& w_;
  StateBox<W>& state_;
  PoolShared<M>& shared_;
  CoreBase& core_;
  std::size_t index_;
  const bool sequences_;
  const bool timestamps_;
  BatchBuffer<M> pending_;
  std::vector<std::uint64_t> next_sequence_;  // [input]
  RestartBudget restarts_;
  std::uint64_t processed_ = 0, failed_ = 0;
  std::int64_t resume_at_ns_ = 0;  // a restart backoff runs until then
  bool halted_ = false;            // a fault stopped the pool
  bool isolated_ = false;          // FaultPolicy::isolate: no State until revived
  bool out_of_service_ = false;    // halted_ || isolated_: messages are dropped
};

template <class W>
absl::Status StateBox<W>::build(W& w) {
  void* memory = heap_.allocate(sizeof(State), alignof(State));
  if (memory == nullptr) return absl::ResourceExhaustedError("sn::WorkerPool: no memory for the worker's State");
  try {
    if constexpr (requires { w.init(); }) {
      using Init = decltype(w.init());
      static_assert(std::is_same_v<Init, State> || std::is_same_v<Init, absl::StatusOr<State>>,
                    "init() must return State or absl::StatusOr<State>");
      if constexpr (std::is_same_v<Init, State>) {
        state_ = ::new (memory) State(w.init());
      } else {
        absl::StatusOr<State> made = w.init();
        if (!made.ok()) {
          WorkerHeap::deallocate(memory);
          return made.status();
        }
        state_ = ::new (memory) State(std::move(*made));
      }
    } else {
      static_assert(std::is_default_constructible_v<State>,
                    "a State that is not default-constructible needs W::init()");
      state_ = ::new (memory) State();
    }
  } catch (...) {
    WorkerHeap::deallocate(memory);
    return absl::InternalError(absl::StrCat("init() threw: ", describe_current_exception()));
  }
  return absl::OkStatus();
}

}  // namespace sn::detail
