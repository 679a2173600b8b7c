// Internal: calls in the pool. A call is a record (sn/call/detail/call_state.h) with two
// references: the caller's side (a worker's CallTable, or an external CallFuture) and the
// answering side (travelling with the request, then the callee).
//
//   caller                              callee (the key's owner)
//   record, table entry, deadline
//   RequestParcel{payload, key, record}
//     --push--> RequestQueue: a ring of parcels by value, spilling into a list of
//               blocks when the ring is full (never refused for room)
//                                       RequestSource drains it: Dispatcher::take_call
//                                       runs handle_call and answers through IncomingCall:
//   reply ring  <--ReplyParcel{record, result}--   a worker caller, an answer at once that
//                                                  fits a parcel, room in the ring
//   replies mailbox <--record's completion sink--  anything else: a deferred Reply, an
//                                                  external caller, a full ring, a big
//                                                  reply, a deadline, a stop
//   ReplySource drains both: the callback runs with the caller's State
//
// The fast path (ring to ring) moves one line each way, as a plain message does; the
// record never leaves the caller's cache (see reply_parcel.h). Every other completion
// goes through the record's state machine, as before: whoever claims it first wins.
// A reply never waits for room (a full reply ring falls back to the record), and
// requests do not take lane slots, so a request can never deadlock behind data.
//
// Threads: a worker's CallTable, reply ring (consumer side) and ReplySource are its own;
// requests are pushed by any thread and taken by their callee; reply parcels are pushed
// by callee workers. Memory ordering: the rings' (sn/channel/detail/ring.h), the
// mailboxes' (call_mailbox.h) and the records' (call_state.h); nothing else is shared.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/call/detail/call_mailbox.h"
#include "sn/call/detail/call_memory.h"
#include "sn/call/detail/call_state.h"
#include "sn/call/detail/pending_calls.h"
#include "sn/call/detail/reply_parcel.h"
#include "sn/call/reply.h"
#include "sn/channel/receiver.h"
#include "sn/channel/result.h"
#include "sn/channel/sender.h"
#include "sn/pool/dead_letters.h"
#include "sn/pool/detail/dead_letter_post.h"
#include "sn/sync/doorbell.h"
#include "sn/worker/envelope.h"

namespace sn::detail {

/// One request on its way to its callee, by value: the payload, the answering side's
/// reference, and what the callee needs to know of the record without reading it (its
/// reply type and deadline: reading them there would pull the caller's line across).
template <class M>
struct RequestParcel {
  M payload;
  std::uint64_t key;
  Source source;
  bool reply_by_ring;     // the caller is a worker that takes ReplyParcels (source names it)
  CallStateBase* call;    // the answering reference; null once taken
  const void* reply_tag;  // the record's reply_tag()
  absl::Time deadline;    // the record's deadline()

  RequestParcel(M&& p, std::uint64_t k, Source from, bool by_ring, CallStateBase* c) noexcept
      : payload(std::move(p)),
        key(k),
        source(from),
        reply_by_ring(by_ring),
        call(c),
        reply_tag(c->reply_tag()),
        deadline(c->deadline()) {}
  RequestParcel(RequestParcel&& o) noexcept
      : payload(std::move(o.payload)),
        key(o.key),
        source(o.source),
        reply_by_ring(o.reply_by_ring),
        call(std::exchange(o.call, nullptr)),
        reply_tag(o.reply_tag),
        deadline(o.deadline) {}
  RequestParcel& operator=(RequestParcel&&) = delete;
  /// A request nobody took (its callee stopped): the call fails, Unavailable.
  ~RequestParcel() {
    if (call != nullptr) {
      (void)call->fail(CallErrors::unavailable());
      std::exchange(call, nullptr)->release();
    }
  }
};

/// A request that did not fit its callee's ring: the same parcel in its own block.
template <class M>
struct RequestBlock {
  RequestBlock* mailbox_next = nullptr;
  RequestParcel<M> parcel;
  CallMemory::Release free_block;

  /// Null when out of memory (`parcel` is left as it was).
  static RequestBlock* make(const CallMemory& memory, RequestParcel<M>& parcel) noexcept {
    void* block = memory.allocate(memory.context, sizeof(RequestBlock), alignof(RequestBlock));
    if (block == nullptr) return nullptr;
    return ::new (block) RequestBlock{nullptr, std::move(parcel), memory.release};
  }
  static void destroy(RequestBlock* b) noexcept {
    const CallMemory::Release free_block = b->free_block;
    b->~RequestBlock();
    free_block(b, sizeof(RequestBlock), alignof(RequestBlock));
  }
};

/// How many requests (and, per caller, replies) travel by value before the queue spills.
inline constexpr std::size_t kCallRingCapacity = 128;

/// The requests for one worker, from any thread. A ring of parcels, with a list of blocks
/// for what does not fit; one close handshake (the list's, call_mailbox.h) covers both, so
/// once close() returns nothing more gets in, and the owner takes what did.
template <class M>
class RequestQueue {
 public:
  using Tx = Sender<RequestParcel<M>, ChannelKind::mpsc>;
  using Rx = Receiver<RequestParcel<M>, ChannelKind::mpsc>;

  RequestQueue(sync::Doorbell* doorbell, bool asymmetric) noexcept : spill_(doorbell, asymmetric) {}
  /// Before the pool starts: the ring (without one, every request spills).
  void attach(Tx tx, Rx rx) noexcept {
    tx_ = std::move(tx);
    rx_ = std::move(rx);
  }

  /// Any thread: queues the request and wakes the owner. A closed queue fails the call
  /// (Unavailable); no memory for a spilled block fails it with ResourceExhausted.
  void push(RequestParcel<M>&& parcel, const CallMemory& memory) noexcept {
    (void)spill_.push_with([&](auto&& append) {
      if (tx_.try_send_shared(parcel) == SendResult::ok) [[likely]]
        return;
      if (RequestBlock<M>* b = RequestBlock<M>::make(memory, parcel)) {
        append(*b);
      } else {
        (void)parcel.call->fail(absl::ResourceExhaustedError("sn: no memory for the call's request"));
      }
    });
  }  // a parcel still holding its call (closed) fails it as it goes
  /// Bytes the ring reserves.
  std::size_t ring_bytes() const noexcept { return tx_.ring_bytes(); }
  /// Whether a request waits (a hint except to the owner).
  bool published() const noexcept { return rx_.ready() || spill_.published(); }
  /// The owner: passes every request waiting to `f(RequestParcel<M>&)`, the ring's first.
  template <class F>
  std::size_t take_all(F&& f) noexcept {
    std::size_t n = rx_.consume(static_cast<std::size_t>(-1), [&](RequestParcel<M>&& p) { f(p); }).count;
    return n + spill_.take_all([&](RequestBlock<M>& b) {
      f(b.parcel);
      RequestBlock<M>::destroy(&b);
    });
  }
  /// The owner, at its stop: refuses every later request, then fails those queued.
  void close() noexcept {
    spill_.close();
    (void)take_all([](RequestParcel<M>&) {});  // each parcel fails its call as it is destroyed
  }
  /// Takes requests again (a slot that a resize reuses).
  void reopen() noexcept { spill_.reopen(); }

 private:
  Mailbox<RequestBlock<M>> spill_;
  Tx tx_;
  Rx rx_;
};

/// Where calling workers take their answers by value (see reply_parcel.h).
using ReplyTx = Sender<ReplyParcel, ChannelKind::mpsc>;
using ReplyRx = Receiver<ReplyParcel, ChannelKind::mpsc>;

/// Where a late answer goes as a dead letter (DeadLetterReason::late_reply): the pool's
/// post, the call's key, and the worker it was addressed to (the caller, or
/// DeadLetter<M>::kUnknownWorker for a caller outside the pool).
template <class M>
struct LateLetterTo {
  const DeadLetterPost<M>* post = nullptr;
  std::uint64_t key = 0;
  std::size_t worker = DeadLetter<M>::kUnknownWorker;

  /// Posts `answer` when it holds a value the pool's Message can be made from (an R that
  /// is M, or an alternative of a variant M); any other answer is only counted.
  template <class R>
  void post_answer(absl::StatusOr<R>& answer) const noexcept {
    if constexpr (std::is_constructible_v<M, R&&>) {
      if (post == nullptr || !answer.ok()) return;
      try {
        post->post(M(std::move(*answer)), key, worker, DeadLetterReason::late_reply);
      } catch (...) {  // making the message threw: the answer is dropped, as without a sink
      }
    }
  }
};

/// A ReplyParcel's late handling in a pool of M: a dead letter (see LateLetterTo).
template <class M, class R>
struct LateLetter {
  static void late(absl::StatusOr<R>& answer, const void* to) noexcept {
    static_cast<const LateLetterTo<M>*>(to)->post_answer(answer);
  }
};

/// The callee's side of one request: the answering reference and the way back. It
/// answers through the caller's reply ring when it can (see the file comment), else
/// through the record. Dropped without an answer, it fails the call as a dropped Reply
/// does. Worker thread (the callee's).
template <class M>
class IncomingCall {
 public:
  /// The way back through a caller's reply ring: the ring, and the caller's doorbell.
  struct Back {
    ReplyTx* ring = nullptr;  // null: answers go through the record
    sync::Doorbell* doorbell = nullptr;
    bool asymmetric = false;
  };
  IncomingCall(RequestParcel<M>& r, Back back, const DeadLetterPost<M>* dead_letters) noexcept
      : call_(std::exchange(r.call, nullptr)),
        reply_tag_(r.reply_tag),
        back_(back),
        late_{dead_letters, r.key, r.source.is_worker() ? r.source.worker_index() : DeadLetter<M>::kUnknownWorker} {}
  IncomingCall(IncomingCall&& other) noexcept
      : call_(std::exchange(other.call_, nullptr)),
        reply_tag_(other.reply_tag_),
        back_(other.back_),
        late_(other.late_) {}
  IncomingCall& operator=(IncomingCall&&) = delete;
  ~IncomingCall() { (void)std::move(*this).any_reply(); }

  /// Whether the caller asked for an R; when not, fails the call (InvalidArgument).
  template <class R>
  bool expects() noexcept {
    if (reply_tag_ == reply_tag_of<R>()) return true;
    (void)std::move(*this).fail(
        absl::InvalidArgumentError("sn: the callee answers this request with another reply type"));
    return false;
  }
  /// Answers with `result` (the caller asked for R: see expects). Returns whether the
  /// answer came too late (known here only when it went through the record; then it is
  /// a dead letter, see LateLetterTo).
  template <class R>
  bool answer(absl::StatusOr<R>&& result) && noexcept;
  /// Answers with `error`; returns whether it came too late.
  bool fail(const absl::Status& error) && noexcept {
    if (call_ == nullptr) return false;
    const bool late = call_->fail(error) == CompleteResult::refused;
    std::exchange(call_, nullptr)->release();
    return late;
  }
  /// Completes the call with DeadlineExceeded when `deadline` (its own) has passed.
  bool expire_if_due(absl::Time deadline) noexcept {
    if (call_ == nullptr || deadline == absl::InfiniteFuture()) return false;
    const absl::Time now = absl::Now();
    if (now < deadline) return false;
    (void)call_->expire_if_due(now);
    std::exchange(call_, nullptr)->release();
    return true;
  }
  /// The handle a deferred handle_call takes (answers go through the record).
  AnyReply any_reply() && noexcept { return AnyReply::adopt(std::exchange(call_, nullptr)); }

 private:
  CallStateBase* call_;
  const void* reply_tag_;
  Back back_;
  LateLetterTo<M> late_;
};

template <class M>
template <class R>
bool IncomingCall<M>::answer(absl::StatusOr<R>&& result) && noexcept {
  if (call_ == nullptr) return false;
  if constexpr (ReplyParcel::kFits<R>) {
    if (back_.ring != nullptr) {
      ReplyParcel parcel(std::exchange(call_, nullptr), std::move(result), LateLetter<M, R>{});
      if (back_.ring->try_send_shared(parcel) == SendResult::ok) [[likely]] {
        back_.doorbell->ring(back_.asymmetric);
        return false;
      }
      call_ = std::move(parcel).hand_back(result);  // the ring is full: through the record
    }
  }
  auto* call = static_cast<CallState<R>*>(std::exchange(call_, nullptr));
  const bool late = call->complete(std::move(result)) == CompleteResult::refused;  // leaves `result` when refused
  if (late) late_.post_answer(result);
  call->release();
  return late;
}

/// A worker's calls in progress: the table that holds the caller's references, and their
/// deadlines, earliest first. Worker thread only.
class CallTable {
 public:
  explicit CallTable(std::pmr::memory_resource* memory) : pending_(memory), deadlines_(memory) {}
  CallTable(const CallTable&) = delete;
  CallTable& operator=(const CallTable&) = delete;

  /// Keeps the caller's reference; false when out of memory (the reference is kept by
  /// the caller then).
  bool insert(CallRef& call, absl::Time deadline) noexcept {
    const CallId id = pending_.insert(call);
    if (!id.valid()) return false;
    if (deadline != absl::InfiniteFuture()) {
      try {
        deadlines_.push_back({deadline, id});
        std::push_heap(deadlines_.begin(), deadlines_.end(), Later{});
      } catch (const std::bad_alloc&) {  // the record's own check still applies when it is taken
        (void)pending_.find(id)->fail(CallErrors::deadline_exceeded());
      }
    }
    return true;
  }
  /// The caller's reference to a completed call, out of the table (empty for a stale id).
  CallRef take(std::uint64_t table_id) noexcept { return pending_.take(CallId{table_id}); }
  /// Expires the calls whose deadline passed; a call that completed meanwhile is skipped.
  void expire_due(absl::Time now) noexcept {
    while (!deadlines_.empty() && deadlines_.front().due <= now) {
      if (CallStateBase* c = pending_.find(deadlines_.front().id)) (void)c->expire_if_due(now);
      std::pop_heap(deadlines_.begin(), deadlines_.end(), Later{});
      deadlines_.pop_back();
    }
  }
  /// The earliest deadline, or InfiniteFuture.
  absl::Time next_deadline() const noexcept {
    return deadlines_.empty() ? absl::InfiniteFuture() : deadlines_.front().due;
  }
  /// At stop: completes every call still pending with Unavailable.
  void fail_all() noexcept {
    (void)pending_.fail_all(CallErrors::unavailable());
    deadlines_.clear();
  }
  bool empty() const noexcept { return pending_.empty(); }

 private:
  struct Deadline {
    absl::Time due;
    CallId id;
  };
  struct Later {
    bool operator()(const Deadline& a, const Deadline& b) const noexcept { return a.due > b.due; }
  };

  PendingCalls pending_;
  std::pmr::vector<Deadline> deadlines_;
};

}  // namespace sn::detail
