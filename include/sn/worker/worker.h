// sn::Worker: the class users derive from to say what a worker owns and how it handles
// messages. The pool that runs workers is in sn/pool/pool.h.
#pragma once

#include <type_traits>

#include "sn/worker/context.h"  // also declares detail::WorkerLoop, which sets context_

namespace sn {

/// Base class of a worker that owns a `State` and handles `Message`s.
///
///   struct Counter : sn::Worker<Counts, std::uint64_t> {
///     void handle_message(Counts& s, sn::Envelope<std::uint64_t> e) { ++s[e.key]; }
///   };
///
/// The pool calls these members of the derived class, on the worker's own thread
/// (name lookup, not virtual dispatch: only handle_message is required):
///
///   R    handle_message(State&, Envelope<Message>)  R is void or absl::Status. A throw or
///                                                   a non-OK status counts the message as
///                                                   failed; PoolConfig::fault_policy says
///                                                   what happens next.
///   R    handle_message(State&, Envelope<T>)        When Message is a std::variant: one per
///                                                   alternative T (or a handler template,
///                                                   `template <class T>`), each with its own
///                                                   R, instead of the one above. The pool
///                                                   moves the alternative the message holds
///                                                   into an Envelope<T> with the same key,
///                                                   source, sequence and sent_at, chosen at
///                                                   compile time. A handler for
///                                                   Envelope<Message> that is not a template
///                                                   takes precedence. An alternative without
///                                                   a handler is a compile error naming it.
///   S    init()                                     Builds the State, where S is State or
///                                                   absl::StatusOr<State>. Without it the
///                                                   State is value-initialized. Runs
///                                                   before on_start, and again after each
///                                                   restart. Its result is moved into the
///                                                   worker's own heap.
///   void on_start(State&)                           Once, before the first message.
///   void tick(State&)                               After every batch of messages, and
///                                                   when an idle worker wakes for
///                                                   PoolConfig::idle_tick.
///   void on_stop(State&)                            Once, after the last message; sends
///                                                   from here are refused (`closed`).
///   void export_state(State&, StateHandoff<T>&)    In a resize (WorkerPool::add_worker,
///   void import_state(State&, std::uint64_t key, T&&)  remove_worker), with
///                                                   `using handoff_type = T;`: the old
///                                                   owner hands off the state of each key
///                                                   that leaves it, the new owner takes
///                                                   it in, while no message is handled.
///                                                   See sn/worker/handoff.h.
///   R    handle_batch(State&, std::span<Envelope<Message>>)
///                                                   Instead of handle_message: the whole
///                                                   batch of one loop iteration at once
///                                                   (up to batch_size messages, in
///                                                   arrival order per lane), for handlers
///                                                   that amortize or prefetch across
///                                                   messages. A throw or non-OK status
///                                                   counts every message of the batch as
///                                                   failed. A std::variant Message arrives
///                                                   whole here (visit it yourself).
///   X    handle_call(State&, Envelope<Req>)         Answers a call (WorkerPool::call,
///   void handle_call(State&, Envelope<Req>, Reply<R>)  WorkerContext::call) whose
///                                                   request is the Message or one of its
///                                                   alternatives: X is R or
///                                                   absl::StatusOr<R>; or later, through
///                                                   the Reply. See docs/workers.md, section Calls.
///   FaultPolicy on_fault(State&, const Fault&)      Decides what a fault of this worker
///                                                   does (else PoolConfig::fault_policy);
///                                                   see sn/pool/supervision.h.
///
/// context() reaches the worker's index, its arena and heap, and sends to other
/// workers. A worker object belongs to one pool and is used only by its thread.
template <class State, class Message>
class Worker {
 public:
  using state_type = State;                     ///< The State template argument.
  using message_type = Message;                 ///< The Message template argument.
  using context_type = WorkerContext<Message>;  ///< What context() returns.

  static_assert(std::is_nothrow_move_constructible_v<Message> && std::is_nothrow_destructible_v<Message>,
                "messages travel through sn channels: they need a noexcept move constructor and destructor");

  Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  /// Public, so that a derived worker with no constructor of its own can be made by
  /// aggregate initialization (`return Counter{};` from a factory): C++ requires the
  /// base's destructor to be accessible there. Not virtual: nothing deletes a worker
  /// through a Worker pointer (the pool owns each as a std::unique_ptr<W>).
  ~Worker() = default;

 protected:
  /// The running worker's context; only on the worker's thread, from a hook.
  context_type& context() noexcept { return *context_; }

 private:
  template <class W>
  friend class detail::WorkerLoop;

  context_type* context_ = nullptr;
};

}  // namespace sn
