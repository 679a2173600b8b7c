// Internal: calls in the pool. A call is a record (sn/call/detail/call_state.h) with two
// references: the caller's side (a worker's CallTable, or an external CallFuture) and the
// answering side (travelling with the request, then the callee's Reply).
//
//   caller                          callee (the key's owner)
//   record, table entry, deadline
//   Request{payload, key, record} --push--> requests mailbox (unbounded, never full)
//                                   RequestSource drains it: Dispatcher::take_call runs
//                                   handle_call and answers (or a deferred Reply does)
//   replies mailbox <--completion sink--    (or a deadline, a stop: whoever wins the
//   ReplySource drains it: the callback      record's state machine)
//   runs with the caller's State
//
// A reply never waits for room: it travels in its own record through an intrusive list.
// Requests do not take lane slots either, so a request can never deadlock behind data.
//
// Threads: a worker's CallTable and ReplySource are its own; requests are pushed by any
// thread and taken by their callee. Memory ordering: the mailboxes' (call_mailbox.h)
// and the records' (call_state.h); nothing else is shared.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/call/detail/call_mailbox.h"
#include "sn/call/detail/call_memory.h"
#include "sn/call/detail/call_state.h"
#include "sn/call/detail/pending_calls.h"
#include "sn/channel/result.h"
#include "sn/worker/envelope.h"

namespace sn::detail {

/// One request on its way to its callee: the payload and the answering side's reference.
template <class M>
struct Request {
  Request* mailbox_next = nullptr;
  M payload;
  std::uint64_t key;
  Source source;
  CallStateBase* call;  // the answering side's reference; null once taken
  CallMemory::Release free_block;

  /// Null when out of memory (then `payload` is destroyed with the argument's owner).
  static Request* make(const CallMemory& memory, M&& payload, std::uint64_t key, Source source,
                       CallStateBase* call) noexcept {
    void* block = memory.allocate(memory.context, sizeof(Request), alignof(Request));
    if (block == nullptr) return nullptr;
    return ::new (block) Request{nullptr, std::move(payload), key, source, call, memory.release};
  }
  /// Ends the request; a call it still holds fails with `error` (nobody will answer it).
  static void destroy(Request* r, const absl::Status& error) noexcept {
    if (r->call != nullptr) {
      (void)r->call->fail(error);
      r->call->release();
    }
    const CallMemory::Release free_block = r->free_block;
    r->~Request();
    free_block(r, sizeof(Request), alignof(Request));
  }
};

template <class M>
using RequestQueue = Mailbox<Request<M>>;

/// Sends `request` to the slot's queue; on a closed queue fails its call as Unavailable.
template <class M>
void post_request(RequestQueue<M>& queue, Request<M>* request) noexcept {
  if (!queue.push(*request)) Request<M>::destroy(request, CallErrors::unavailable());
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
