// Dead letters: messages a pool accepted but will never hand to a handler (dropped by the
// FullPolicy, left over at stop, sent to an isolated worker, or a reply that came too late),
// passed with the reason to an optional sink instead of being destroyed unseen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

namespace sn {

/// Why an accepted message was not handled.
enum class DeadLetterReason : std::uint8_t {
  /// Its destination's queue was full under FullPolicy::drop (an external send, or a send
  /// from a worker, a timer's firing included).
  dropped_full,
  /// An external send under FullPolicy::drop found a resize holding the send gate closed.
  dropped_at_gate,
  /// Still queued (in an inbox, a lane or a worker's outbox) when the pool stopped: by
  /// stop(), by a fault under FaultPolicy::stop_pool (the rest of the failing batch too),
  /// or by the destructor after a stop from inside the pool.
  left_at_stop,
  /// Sent to a worker that FaultPolicy::isolate had taken out of service.
  isolated_worker,
  /// An answer handle_call returned for a call that had already completed (deadline,
  /// shutdown), when it is a value of the Message type (or of one of its alternatives).
  /// Not in `dropped`: it was never accepted as a message.
  late_reply,
};

/// The enumerator's name, such as "dropped_full".
std::string_view to_string(DeadLetterReason r) noexcept;

/// One message the pool accepted and did not handle.
template <class M>
struct DeadLetter {
  /// `worker` when the destination is not known: a send by key that a resize's closed gate
  /// dropped before it was routed (the route may be changing).
  static constexpr std::size_t kUnknownWorker = static_cast<std::size_t>(-1);

  M message;                  ///< The message, moved out of the pool.
  std::uint64_t key = 0;      ///< Its key, as the handler would have seen it.
  std::size_t worker = 0;     ///< The slot it was addressed to, or kUnknownWorker.
  DeadLetterReason reason{};  ///< Why it was not handled.
};

/// Receives the pool's dead letters (PoolConfig::with_dead_letters). It is called on any
/// thread (an external sender's, a worker's, or the one running shutdown(), stop() or the
/// destructor), possibly on several at once: it must be thread-safe, and quick (a worker
/// calls it between messages). It must not call the pool's blocking calls (shutdown, stop,
/// resize); sending the message on elsewhere (another pool, a queue, a log) is its purpose.
/// An exception it throws is caught and counted in PoolStats::hook_faults.
template <class M>
using DeadLetterSink = std::function<void(DeadLetter<M>&&)>;

/// A DeadLetterSink<M> of any message type M, as PoolConfig keeps it (PoolConfig is not a
/// template); WorkerPool<W>::create checks that M is W's message type.
class AnyDeadLetterSink {
 public:
  AnyDeadLetterSink() = default;
  /// Holds `fn`; an empty `fn` holds nothing.
  template <class M>
  explicit AnyDeadLetterSink(DeadLetterSink<M> fn)
      : fn_(fn ? std::make_shared<const DeadLetterSink<M>>(std::move(fn)) : nullptr),
        type_(fn_ ? &kType<M> : nullptr) {}

  /// Whether a sink is set.
  explicit operator bool() const noexcept { return fn_ != nullptr; }
  /// Whether the sink set is a DeadLetterSink<M>.
  template <class M>
  bool holds() const noexcept {
    return type_ == &kType<M>;
  }
  /// The sink, when it is a DeadLetterSink<M>; else nullptr.
  template <class M>
  std::shared_ptr<const DeadLetterSink<M>> get() const noexcept {
    return holds<M>() ? std::static_pointer_cast<const DeadLetterSink<M>>(fn_) : nullptr;
  }

 private:
  // One object per message type; its address names the type (no RTTI needed).
  template <class M>
  static constexpr char kType = 0;

  std::shared_ptr<const void> fn_;
  const void* type_ = nullptr;
};

}  // namespace sn
