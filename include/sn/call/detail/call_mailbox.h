// Internal: the list through which completed calls travel back to the worker that
// started them. Unbounded and intrusive (the link is in the record), so a push never
// fails and never waits: a reply is never refused for lack of space, and so can never
// deadlock behind requests that wait for room.
//
// A Treiber stack that the owner empties whole: push is one compare-exchange on `head`
// (a retry only when another push got in between: lock-free); take_all() swaps the head
// for null and reverses the chain, so records come out in the order their pushes took
// effect (FIFO per producer, and overall). Taking the whole chain, never one node, rules
// out ABA.
//
// Waking the owner: a push rings the doorbell given at construction (the worker's
// sync::Doorbell) with the handshake of sn/sync/doorbell.h:
//
//   owner (about to sleep)                  pusher
//   doorbell.state = asleep         (W1)    head CAS, release          (M1) = (P1)
//   heavy_barrier()                 (W2)    light_barrier()            (P2)
//   published()?  (head.load)       (W3)    doorbell.state == asleep?  (P3)
//   futex_wait(state)                       if so: mark awake, wake
//
// Either the owner's re-check (W3) sees the record, or the pusher's load (P3) sees the
// owner registered and wakes it. sync::block_on(Doorbell&, ...) is that owner side; the
// pool's loop does the same for all its sources at once.
//
// Ending: a pusher still runs (ringing the doorbell) after its record can be taken, so
// the owner must not destroy the mailbox, or the doorbell, merely because it has taken
// every record it waits for. Each push is counted in `pushing` for its whole length;
// quiesce() waits until none is in progress, and the destructor calls it. It returns
// soon once no new push can start: at a worker's stop, once its PendingCalls table is
// empty, every call that points here has completed, so later completions are refused
// before they reach the sink.
//
// Memory ordering:
//   - (M1) push: head.compare_exchange(..., release) pairs with (M2) take_all:
//     head.exchange(nullptr, acquire). Everything the pusher did before push(c), the
//     completion of c included, is visible to the owner after the take_all that returns c.
//   - (Q1) push: pushing.fetch_add(1, relaxed) comes before M1 in program order, so an
//     owner that took the record (M2) reads a count that includes it; (Q2) the pusher's
//     pushing.fetch_sub(1, release) after the doorbell pairs with (Q3) quiesce's acquire
//     load: once it reads 0, no pusher touches the mailbox or the doorbell again.
//
// Threads: push() from any thread; take_all() by the owner only (one thread at a time,
// checked in debug builds); published() from any thread (a hint except to the owner).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "sn/cache_line.h"
#include "sn/call/detail/call_state.h"
#include "sn/detail/check.h"
#include "sn/detail/perturb.h"
#include "sn/sync/doorbell.h"
#include "sn/sync/futex.h"

namespace sn::detail {

/// The list itself, over any record type with a `Node* mailbox_next` link. The pool's
/// request queue uses it with its own records; CallMailbox is the one for call records.
///
/// Closing (for a queue whose owner goes away): close() makes later pushes fail, waits
/// for pushes in progress and returns; the owner then takes what got in. The pair:
/// close() stores `closed` and then reads `pushing` (both seq_cst, (X1)); a push adds to
/// `pushing` and then reads `closed` (both seq_cst, (X2)): either the push sees the
/// mailbox closed and backs out, or close() sees it in progress and waits for it, after
/// which the owner's take_all finds its record.
template <class Node>
class Mailbox {
 public:
  /// A mailbox that rings `doorbell` after each push (none: nobody to wake; the owner polls).
  /// `asymmetric`: as the owner's heavy barrier is (sync::asymmetric_barriers_available()).
  explicit Mailbox(sync::Doorbell* doorbell = nullptr, bool asymmetric = false) noexcept
      : pushers_{doorbell, asymmetric} {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  /// Waits for pushes in progress (quiesce()). The owner must have taken every record (a
  /// record left here would never run its caller's callback): checked.
  ~Mailbox() {
    quiesce();
    SN_CHECK(!published(), "sn: a call mailbox was destroyed with records in it");
  }

  /// Any thread: appends `node` and rings the doorbell. False, with nothing done, once
  /// the mailbox is closed.
  bool push(Node& node) noexcept {
    return push_with([&](auto&& append) { append(node); });
  }
  /// Any thread: runs `publish(append)` inside the push protocol, then rings the
  /// doorbell; `publish` may pass nodes to `append(Node&)` or publish elsewhere (a queue
  /// that spills into this list), and the close handshake covers whatever it publishes.
  /// False, with `publish` not run, once the mailbox is closed.
  template <class Publish>
  bool push_with(Publish&& publish) noexcept;
  /// Whether a record waits. One load; the owner's wait loop polls it.
  bool published() const noexcept { return list_.head.load(std::memory_order_relaxed) != nullptr; }
  /// The owner: takes every record, oldest first, passing each to `f(Node&)`.
  /// `f` may release the record. Returns how many.
  template <class F>
  std::size_t take_all(F&& f) noexcept(noexcept(f(std::declval<Node&>())));

  /// The owner: waits until no push is in progress (spins briefly, then yields: a
  /// pusher that got its record in is a doorbell ring away from done).
  void quiesce() const noexcept;
  /// Refuses every later push, then waits for those in progress (see the class comment).
  void close() noexcept {
    pushers_.closed.store(true, std::memory_order_seq_cst);  // (X1)
    quiesce();
  }
  /// Takes pushes again (a slot that a resize reuses).
  void reopen() noexcept { pushers_.closed.store(false, std::memory_order_release); }

 private:
  // ---- the list: written by pushers that append, polled by the owner (published()).
  struct alignas(kFalseSharingRange) List {
    std::atomic<Node*> head{nullptr};
  } list_;
  // ---- the push protocol: written by every pusher (pushing), read by the closer. Apart
  // from `list_`, so that a push_with() that publishes elsewhere (a ring) does not take
  // the line the owner polls; the rest constant, read by pushers.
  struct alignas(kFalseSharingRange) Pushers {
    sync::Doorbell* doorbell;
    bool asymmetric;
    std::atomic<bool> closed{false};
    std::atomic<std::uint32_t> pushing{0};  // pushes between their start and their doorbell
  } pushers_;
  // ---- the owner's.
  struct alignas(kFalseSharingRange) Owner {
    RoleGuard role;
  } owner_;
};

/// The mailbox that completed calls travel back through.
class CallMailbox : public Mailbox<CallStateBase> {
 public:
  using Mailbox::Mailbox;
  /// A sink for records whose completion should come here (see CallSink).
  CallSink sink() noexcept { return {&push_from_sink, this}; }

 private:
  static void push_from_sink(void* mailbox, CallStateBase& call) noexcept {
    (void)static_cast<CallMailbox*>(mailbox)->push(call);  // never closed: it lives as long as its slot
  }
};
static_assert(sizeof(CallMailbox) == 3 * kFalseSharingRange);

// ---------------------------------------------------------------- definitions

template <class Node>
template <class Publish>
bool Mailbox<Node>::push_with(Publish&& publish) noexcept {
  pushers_.pushing.fetch_add(1, std::memory_order_seq_cst);  // (Q1), (X2)
  if (pushers_.closed.load(std::memory_order_seq_cst)) [[unlikely]] {
    pushers_.pushing.fetch_sub(1, std::memory_order_release);
    return false;
  }
  publish([this](Node& node) noexcept {
    Node* head = list_.head.load(std::memory_order_relaxed);
    do {
      node.mailbox_next = head;
    } while (!list_.head.compare_exchange_weak(head, &node, std::memory_order_release,  // (M1) pairs with (M2)
                                               std::memory_order_relaxed));
  });
  SN_PERTURB_POINT("call.mailbox_pushed_before_notify");
  if (pushers_.doorbell != nullptr) pushers_.doorbell->ring(pushers_.asymmetric);  // (P2), (P3)
  pushers_.pushing.fetch_sub(1, std::memory_order_release);                        // (Q2) pairs with (Q3)
  return true;
}

template <class Node>
void Mailbox<Node>::quiesce() const noexcept {
  for (int i = 0; pushers_.pushing.load(std::memory_order_seq_cst) != 0; ++i) {  // (Q3), (X1)
    if (i < 64) {
      sync::cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

template <class Node>
template <class F>
std::size_t Mailbox<Node>::take_all(F&& f) noexcept(noexcept(f(std::declval<Node&>()))) {
  [[maybe_unused]] auto role =
      owner_.role.enter("sn: CallMailbox::take_all is for its owner only, one thread at a time");
  if (!published()) return 0;  // nothing to take: no read-modify-write on the pushers' line
  Node* newest = list_.head.exchange(nullptr, std::memory_order_acquire);  // (M2)
  Node* oldest = nullptr;
  while (newest != nullptr) {  // reverse: the chain runs newest to oldest
    Node* next = newest->mailbox_next;
    newest->mailbox_next = oldest;
    oldest = newest;
    newest = next;
  }
  std::size_t n = 0;
  while (oldest != nullptr) {
    Node* next = oldest->mailbox_next;  // read before f, which may free the record
    oldest->mailbox_next = nullptr;
    f(*oldest);
    oldest = next;
    ++n;
  }
  return n;
}

}  // namespace sn::detail
