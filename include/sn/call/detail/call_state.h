// Internal: the completion record of one call, shared by the side that waits for the
// result (a future, a worker's table of pending calls, a deadline) and the side that
// answers (the callee's Reply). The first completion wins; every later one is refused
// and told so, which is how the runtime counts late replies.
//
// State machine of the 32-bit word `state_` (phase in the low two bits, plus a waiter bit):
//
//   pending --claim (CAS, exactly one wins)--> claimed --publish (exchange)--> done
//
//   - The claimer writes the result between claim and publish, then notifies the sink
//     (see CallSink) on its own thread. Every completion kind takes this one path: the
//     reply, an error from the callee, a dropped Reply, a deadline, a cancel, shutdown.
//   - complete_here (the taker completes with an answer that came back by value): when
//     no other thread can complete the record any more, pending goes straight to done
//     with a load and a release store; nobody to wake, no sink to notify.
//   - A completion that finds the phase past `pending` changes nothing and returns
//     CompleteResult::refused. A claim is never undone, so "refused" is final.
//   - kWaiter: a thread is parked (or about to park) on the word with futex_wait.
//     Waiting and publishing are both read-modify-writes of the one word, so they are
//     totally ordered: either the publish sees the bit and wakes, or the waiter's
//     fetch_or sees `done` and does not sleep. futex_wait compares the word in the
//     kernel, so a publish between the fetch_or and the sleep makes it return at once.
//
// Lifetime: an intrusive reference count, set to 2 at creation: the waiting side (a
// CallFuture, a CallRef held by a table or a timer) and the answering side (a Reply).
// The record is destroyed, and its memory released, by whoever drops the last reference,
// on any thread. A completer always holds a reference while it completes, so the record
// outlives the publish, the futex wake and the sink's notification.
//
// Memory: one allocation per call, from CallMemory (call_memory.h), made by the thread
// that starts the call; nothing is allocated on the completion path (the runtime's
// errors are built once, see CallErrors; a callee's own error status is its own).
//
// Memory ordering:
//   - (D1) publish: state_.exchange(done, acq_rel) after the result is written; pairs
//     with (D2), every acquire load or fetch_or that reads `done` before reading the
//     result. Everything the completer did before completing is visible to the reader.
//   - (K) the claim is a compare-exchange (relaxed: it decides only who writes; the
//     result is published by D1).
//   - (R1) release(): refs_.fetch_sub(1, acq_rel); the thread that drops the count to 0
//     sees every write of the other holders (a release sequence of RMWs) before it
//     destroys the record. release(n) by a thread that holds every reference left reads
//     the count with an acquire load instead, which reads the last other holder's RMW.
//   - The sink, the deadline and the ops never change after creation; the record
//     reaches other threads through a channel or a table (release/acquire of their own).
//
// Layout: not split by writer, unlike the channels' indices. A record is written by one
// side at a time (built by the caller, completed by one winner, read by the caller), so
// its one or two lines moving between two cores once each way is the intended traffic,
// as with a ring slot's value and sequence word; padding would triple its size.
//
// Threads: completions, wait_until and completed() from any thread; deliver() by the
// one thread that took the record from its sink (a mailbox's owner, or the completer for
// an inline sink); the table id by the table's owner only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/cache_line.h"
#include "sn/call/detail/call_memory.h"
#include "sn/detail/check.h"
#include "sn/detail/perturb.h"
#include "sn/sync/futex.h"

namespace sn::detail {

class CallStateBase;

/// The outcome of one completion attempt.
enum class [[nodiscard]] CompleteResult : std::uint8_t{
    completed,  ///< This attempt won: its result is the call's.
    refused,    ///< Another completion won first; this one changed nothing.
};

/// Who hears about a completion: notify(context, call) runs once, on the completing
/// thread, after the result is published. A null notify means nobody (a future polls or
/// parks on the record itself). Fixed at creation.
struct CallSink {
  void (*notify)(void* context, CallStateBase& call) noexcept = nullptr;
  void* context = nullptr;
};

/// The statuses the runtime completes calls with. Built once and never destroyed, so
/// completing with one copies a reference-counted status and allocates nothing.
struct CallErrors {
  static const absl::Status& deadline_exceeded() noexcept {
    static const absl::Status* s = new absl::Status(absl::DeadlineExceededError("sn: the call's deadline passed"));
    return *s;
  }
  static const absl::Status& unavailable() noexcept {
    static const absl::Status* s =
        new absl::Status(absl::UnavailableError("sn: the callee cannot answer (removed, or the pool is stopping)"));
    return *s;
  }
  /// A Reply destroyed without an answer: the callee abandoned the call. Cancelled, not
  /// Internal (nothing in sn broke) nor Unavailable (retrying the same callee would
  /// likely be abandoned again): the callee chose not to answer.
  static const absl::Status& reply_dropped() noexcept {
    static const absl::Status* s =
        new absl::Status(absl::CancelledError("sn: the callee dropped the reply handle without answering"));
    return *s;
  }
  static const absl::Status& cancelled() noexcept {
    static const absl::Status* s = new absl::Status(absl::CancelledError("sn: the caller cancelled the call"));
    return *s;
  }
};

/// The type-free part of a call record: state, references, sink, deadline, links.
class CallStateBase {
 public:
  /// What differs between record types; one static table per type.
  struct Ops {
    void (*fail)(CallStateBase& call, const absl::Status& error) noexcept;  ///< Writes an error result.
    void (*deliver)(CallStateBase& call, void* context) noexcept;           ///< Runs the callback; null: none.
    void (*destroy)(CallStateBase& call) noexcept;                          ///< Ends the record, frees it.
  };

  CallStateBase(const CallStateBase&) = delete;
  CallStateBase& operator=(const CallStateBase&) = delete;

  // ---------------------------------------------------------------- any thread

  /// Completes the call with `error` (an OK status becomes Internal) unless it completed.
  CompleteResult fail(const absl::Status& error) noexcept;
  /// Completes with DeadlineExceeded when `now` is at or past the deadline.
  CompleteResult expire_if_due(absl::Time now) noexcept {
    return now >= deadline_ ? fail(CallErrors::deadline_exceeded()) : CompleteResult::refused;
  }
  /// Whether the result is published; after true, the result may be read (D2).
  bool completed() const noexcept { return phase(state_.load(std::memory_order_acquire)) == kDone; }  // (D2)
  /// Whether no completion has claimed the call yet: a hint, stale at once.
  bool unclaimed() const noexcept { return phase(state_.load(std::memory_order_relaxed)) == kPending; }
  /// Waits until completed() or `deadline` (a wait, not the call's deadline): spins
  /// briefly, then parks on a futex. Returns completed().
  bool wait_until(absl::Time deadline) noexcept;
  absl::Time deadline() const noexcept { return deadline_; }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  /// Drops one reference; the last one destroys the record.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) ops_->destroy(*this);  // (R1)
  }
  /// Drops `n` references, all held by the calling thread. When they are all there are,
  /// nobody else can reach the record: it is destroyed without a read-modify-write.
  void release(std::uint32_t n) noexcept {
    if (refs_.load(std::memory_order_acquire) == n || refs_.fetch_sub(n, std::memory_order_acq_rel) == n) {  // (R1)
      ops_->destroy(*this);
    }
  }

  // ---------------------------------------------------------------- the taker

  /// Whether the record carries a callback (deliver() runs it).
  bool has_callback() const noexcept { return ops_->deliver != nullptr; }
  /// Runs the record's callback with the result, once, on the thread that took the
  /// record from its sink. `context` goes to the callback (a worker's State, say).
  void deliver(void* context) noexcept {
    SN_CHECK(completed() && has_callback(), "sn: a call was delivered before it completed, or has no callback");
    ops_->deliver(*this, context);
  }

  // ---------------------------------------------------------------- owners of links

  /// The id a PendingCalls table gave it (the table's owner only).
  std::uint64_t table_id() const noexcept { return table_id_; }
  /// Identifies the reply type R of the CallState<R> this is (see reply_tag_of<R>()).
  const void* reply_tag() const noexcept { return reply_tag_; }
  void set_table_id(std::uint64_t id) noexcept { table_id_ = id; }
  /// The intrusive link of CallMailbox (the pusher writes it, the owner reads it after taking).
  CallStateBase* mailbox_next = nullptr;
  /// The key the call was sent to, for the caller's own use (a late answer's dead
  /// letter); set by the starting thread before the request leaves.
  std::uint64_t call_key = 0;
  /// Where a Reply counts an answer that came too late (null: nowhere); set by the
  /// starting thread before the request leaves.
  std::atomic<std::uint64_t>* late_answers = nullptr;

 protected:
  CallStateBase(const Ops& ops, CallSink sink, absl::Time deadline, CallMemory::Release free_block,
                const void* reply_tag) noexcept
      : ops_(&ops), sink_(sink), deadline_(deadline), free_block_(free_block), reply_tag_(reply_tag) {}
  ~CallStateBase() = default;

  /// Claims the call, runs `write()` (which constructs the result), publishes, and
  /// notifies the sink unless `notify` is false (the completer is the taker itself).
  template <class Write>
  CompleteResult complete_with(Write&& write, bool notify = true) noexcept;
  /// Whether the result was written (for destructors: the claimer always publishes).
  bool written() const noexcept { return phase(state_.load(std::memory_order_acquire)) == kDone; }

  template <class Record>
  static void destroy_record(CallStateBase& call) noexcept {
    auto* record = static_cast<Record*>(&call);
    const CallMemory::Release free_block = record->free_block_;
    record->~Record();
    free_block(record, sizeof(Record), alignof(Record));
  }

 private:
  static constexpr std::uint32_t kPending = 0, kClaimed = 1, kDone = 2, kPhase = 3, kWaiter = 4;
  static constexpr std::uint32_t phase(std::uint32_t word) noexcept { return word & kPhase; }
  /// Spins in wait_until before parking: a few microseconds, a fast reply's round trip.
  static constexpr int kSpins = 128;

  std::atomic<std::uint32_t> state_{kPending};
  std::atomic<std::uint32_t> refs_{2};
  const Ops* ops_;
  const CallSink sink_;
  const absl::Time deadline_;
  const CallMemory::Release free_block_;
  const void* const reply_tag_;
  std::uint64_t table_id_ = 0;
};

static_assert(sizeof(CallStateBase) <= 2 * kCacheLineSize, "a call record's shared part stays small (see Layout)");

/// One address per reply type: what a record's reply_tag() is compared with.
template <class R>
inline constexpr char kReplyTag = 0;
template <class R>
constexpr const void* reply_tag_of() noexcept {
  return &kReplyTag<R>;
}

/// A call record whose result is an absl::StatusOr<R>.
template <class R>
class CallState : public CallStateBase {
 public:
  static_assert(!std::is_void_v<R> && !std::is_reference_v<R>, "a call's reply is a value type (use an empty struct)");
  static_assert(std::is_nothrow_move_constructible_v<R>,
                "a call's reply needs a noexcept move constructor: completing a call must not throw");

  /// A record with no callback (a future's), or, with `ops`, the base of one that has.
  CallState(CallMemory::Release free_block, CallSink sink, absl::Time deadline, const Ops* ops = nullptr) noexcept
      : CallStateBase(ops == nullptr ? kOps : *ops, sink, deadline, free_block, reply_tag_of<R>()) {}
  ~CallState() {
    if (written()) result().~StatusOr();
  }

  /// Completes with `result` (a value or an error) unless the call completed.
  CompleteResult complete(absl::StatusOr<R>&& result) noexcept {
    return complete_with([&] { ::new (storage_) absl::StatusOr<R>(std::move(result)); });
  }
  /// As complete(), by the thread that takes the record from its sink, which delivers it
  /// itself, so the sink is not notified: an answer that came back by value through the
  /// caller's reply ring (sn/call/detail/reply_parcel.h). Only for a record that no other
  /// thread can complete any more (the answering side gave up its reference to the
  /// taker, and nobody waits on the record): the claim is then a plain load and store.
  CompleteResult complete_here(absl::StatusOr<R>&& result) noexcept {
    return complete_with([&] { ::new (storage_) absl::StatusOr<R>(std::move(result)); }, false);
  }
  /// The result, once completed() returned true; its one reader may move from it.
  absl::StatusOr<R>& result() noexcept { return *std::launder(reinterpret_cast<absl::StatusOr<R>*>(storage_)); }

 protected:
  static void fail_as(CallStateBase& call, const absl::Status& error) noexcept {
    ::new (static_cast<CallState&>(call).storage_) absl::StatusOr<R>(error);
  }

 private:
  static constexpr Ops kOps{&fail_as, nullptr, &destroy_record<CallState>};

  alignas(absl::StatusOr<R>) unsigned char storage_[sizeof(absl::StatusOr<R>)];
};

/// An owning reference to a record (one count of its references), move-only: what a
/// table or a timer holds (CallRef), and what a future or a Reply is built on.
template <class T>
class OwnedCall {
 public:
  OwnedCall() noexcept = default;
  /// Takes over one reference the caller owns.
  static OwnedCall adopt(T* call) noexcept { return OwnedCall(call); }
  OwnedCall(OwnedCall&& other) noexcept : call_(std::exchange(other.call_, nullptr)) {}
  OwnedCall& operator=(OwnedCall&& other) noexcept {
    if (this != &other) {
      reset();
      call_ = std::exchange(other.call_, nullptr);
    }
    return *this;
  }
  OwnedCall(const OwnedCall&) = delete;
  OwnedCall& operator=(const OwnedCall&) = delete;
  ~OwnedCall() { reset(); }

  T* get() const noexcept { return call_; }
  T* operator->() const noexcept { return call_; }
  explicit operator bool() const noexcept { return call_ != nullptr; }
  /// Gives up ownership without dropping the reference.
  T* leak() noexcept { return std::exchange(call_, nullptr); }
  /// Drops the reference (the last one destroys the record).
  void reset() noexcept {
    if (call_ != nullptr) std::exchange(call_, nullptr)->release();
  }

 private:
  explicit OwnedCall(T* call) noexcept : call_(call) {}
  T* call_ = nullptr;
};
/// A reference to a record of any type.
using CallRef = OwnedCall<CallStateBase>;

/// Allocates and builds a record of type Record with two references (waiting side and
/// answering side). Null when the memory is exhausted. Record's constructor takes the
/// release function first, then `args`.
template <class Record, class... Args>
Record* make_call_record(const CallMemory& memory, Args&&... args) noexcept {
  static_assert(std::is_nothrow_constructible_v<Record, CallMemory::Release, Args&&...>);
  void* block = memory.allocate(memory.context, sizeof(Record), alignof(Record));
  if (block == nullptr) return nullptr;
  return ::new (block) Record(memory.release, std::forward<Args>(args)...);
}

// ---------------------------------------------------------------- definitions

inline CompleteResult CallStateBase::fail(const absl::Status& error) noexcept {
  return complete_with([&] {
    if (error.ok()) [[unlikely]] {
      ops_->fail(*this, absl::InternalError("sn: a call was failed with an OK status"));
    } else {
      ops_->fail(*this, error);
    }
  });
}

template <class Write>
CompleteResult CallStateBase::complete_with(Write&& write, bool notify) noexcept {
  std::uint32_t word = state_.load(std::memory_order_relaxed);
  if (!notify && word == kPending) {  // complete_here: no other completer, no waiter
    write();
    state_.store(kDone, std::memory_order_release);  // (D1) for completed()'s readers
    return CompleteResult::completed;
  }
  do {
    if (phase(word) != kPending) return CompleteResult::refused;
  } while (!state_.compare_exchange_weak(word, (word & kWaiter) | kClaimed, std::memory_order_relaxed));  // (K)
  SN_PERTURB_POINT("call.claimed_before_result");
  write();
  const std::uint32_t before = state_.exchange(kDone, std::memory_order_acq_rel);  // (D1) pairs with (D2)
  if ((before & kWaiter) != 0) sync::futex_wake(&state_, 0);                       // 0: wake all
  if (notify && sink_.notify != nullptr) sink_.notify(sink_.context, *this);
  return CompleteResult::completed;
}

inline bool CallStateBase::wait_until(absl::Time deadline) noexcept {
  for (int i = 0; i < kSpins; ++i) {
    if (completed()) return true;
    sync::cpu_relax();
  }
  for (;;) {
    const std::uint32_t word = state_.fetch_or(kWaiter, std::memory_order_acquire);  // (D2) when it reads done
    if (phase(word) == kDone) return true;
    if (absl::Now() >= deadline) return false;
    SN_PERTURB_POINT("call.waiter_before_futex_wait");
    sync::futex_wait(&state_, word | kWaiter, deadline);
  }
}

}  // namespace sn::detail
