// Internal: everything about one worker slot that other threads touch, grouped by the
// thread that writes it. CoreBase holds what does not depend on the message type (the
// pool's type-free code in src/pool/ reads only that); WorkerCore<M> adds the channels.
//
// Wiring of a pool of n slots:
//   - inbox[j]    MPSC, external producers -> worker j (any thread may send);
//   - lane[i][j]  SPSC, worker i -> worker j, for every ordered pair (i == j included);
//   - doorbell[j] the one place worker j parks; every send into any of j's inputs rings it;
//   - control[j]  a word of flags (stop, drain, exit, resize steps) that worker j reads
//                 before it takes any data, so control never queues behind data.
//
// Memory ordering:
//   - Data: the channels' own protocol (sn/channel/detail/ring.h).
//   - Sleeping: worker j parks on doorbell[j] with the sync layer's Dekker handshake
//     (sn/sync/doorbell.h): it marks itself asleep, runs the heavy barrier and re-checks
//     every source and its control word; a sender publishes into the channel (P1) and
//     then calls doorbell[j].ring() (P2, P3), so either the re-check sees the value or
//     the sender sees the worker asleep and wakes it. The first ring marks it awake, so
//     the sends that follow before it runs make no system call.
//   - Control: the controller sets flags with fetch_or (seq_cst) and then rings the
//     doorbell with full fences on its side (ring with asymmetric = false); the worker
//     reads the word with acquire, which pairs with that fetch_or.
//   - Counters are single-writer (relaxed load + store by the owner, relaxed loads by
//     readers) except `remote`, which other threads fetch_add.
//   - Outbox wake-up: worker i, owing messages to a full lane i->j, sets owes.room
//     before it parks (registration, heavy barrier, then a re-check of the lane's free
//     room). Worker j, after taking from that lane (the head store), runs a light
//     barrier and reads owes.room, then the doorbell's waiters: the same Dekker pair.
//   - Quiescence: `activity` turns odd (relaxed store) before the worker takes the first
//     message of a batch, flushes its outbox or fires a timer, and even again (release
//     store) after tick(). The odd store precedes, in program order, the release store
//     that publishes the consumed head of that batch, so a reader that sees the head move
//     also sees the odd value (see PoolBase::quiescent_wave).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sn/cache_line.h"
#include "sn/channel/channel.h"
#include "sn/pool/config.h"
#include "sn/pool/detail/calls.h"
#include "sn/pool/detail/control.h"
#include "sn/pool/detail/dead_letter_post.h"
#include "sn/pool/detail/parcel.h"
#include "sn/sync/doorbell.h"

namespace sn::detail {

/// The type-free part of one worker slot.
struct CoreBase {
  CoreBase() = default;
  CoreBase(const CoreBase&) = delete;
  CoreBase& operator=(const CoreBase&) = delete;
  virtual ~CoreBase() = default;

  // ---- written by the worker thread (relaxed stores), read by stats() and shutdown.
  struct alignas(kFalseSharingRange) Owned {
    OwnedCounter processed, failed, batches, ticks, restarts, parks, parked_ns, sent, rejected;
    OwnedCounter timers_scheduled;           // by this worker's context
    OwnedCounter timers_fired;               // firings of timers this worker holds (each period counts)
    OwnedCounter timers_expired;             // one-shot timers it held that fired (they are done)
    OwnedCounter isolated_drops;             // messages it dropped while isolated (FaultPolicy::isolate)
    OwnedCounter calls_started;              // calls it made (ctx.call)
    OwnedCounter calls_completed;            // ... whose callback got a reply
    OwnedCounter calls_failed;               // ... whose callback got an error (not a deadline)
    OwnedCounter calls_timed_out;            // ... whose callback got DeadlineExceeded
    OwnedCounter calls_handled;              // requests it took (handle_call ran, or the call failed at once)
    OwnedCounter late_replies;               // its answers that came after the call had completed
    OwnedCounter from_sources;               // messages it took from its PolledSources (accepted there)
    std::atomic<std::uint64_t> activity{0};  // odd while a batch, flush or firing is in progress
    std::atomic<std::uint64_t> outbox_pending{0};
    std::atomic<std::uint64_t> outbox_peak_bytes{0};  // the most memory its outbox held at once
    std::atomic<int> cpu{-1};
    std::atomic<bool> memory_bound{false};
    std::atomic<bool> isolated{false};  // FaultPolicy::isolate took it out of service
  } owned;

  // ---- written by other threads (fetch_add), rare.
  struct alignas(kFalseSharingRange) Remote {
    std::atomic<std::uint64_t> dropped_full{0};      // accepted, then destroyed for lack of room
    std::atomic<std::uint64_t> dropped_at_stop{0};   // accepted, still queued when the pool stopped
    std::atomic<std::uint64_t> timers_scheduled{0};  // by other threads, for this worker to hold
    std::atomic<std::uint64_t> timers_cancelled{0};  // timers this slot held, cancelled by anyone
  } remote;

  // ---- written by the worker when its outbox turns non-empty or empty; read by the
  // workers it owes messages to, after each batch they take from its lane, so that they
  // wake it when they free room (it may be parked with nothing else to do).
  struct alignas(kFalseSharingRange) Owes {
    std::atomic<bool> room{false};
  } owes;

  // ---- written by the controller (stop/shutdown/fault/resize), read by the worker every
  // iteration; `active` is read by senders too, and changes only while a resize holds the
  // pool quiescent (see SendGate).
  struct alignas(kFalseSharingRange) Control {
    std::atomic<std::uint32_t> flags{0};
    std::atomic<bool> active{false};   // a worker runs in this slot and takes messages
    std::atomic<bool> started{false};  // a worker has run in this slot (listed in stats)
  } control;

  sync::Doorbell doorbell;

  // ---- set up before the thread starts, then constant.
  ResolvedWorkerConfig config;
  bool asymmetric = false;

  /// Wakes the worker if it sleeps. Call after publishing into one of its inputs.
  void ring_doorbell() noexcept { doorbell.ring(asymmetric); }

  /// Sets control flags and wakes the worker, from any thread.
  void signal(std::uint32_t flags) noexcept {
    control.flags.fetch_or(flags, std::memory_order_seq_cst);  // pairs with the worker's acquire load
    doorbell.ring(false);
  }
  std::uint32_t flags() const noexcept { return control.flags.load(std::memory_order_acquire); }

  /// Appends, for the inbox and then each incoming lane, the consumed and then the
  /// published count; clears `quiet` when a channel holds a message.
  virtual void channel_counts(std::vector<std::uint64_t>& out, bool& quiet) const = 0;
  /// Messages waiting in the inbox and incoming lanes (a snapshot).
  virtual std::uint64_t queued() const noexcept = 0;
  /// Bytes the rings this slot's channels send into reserve: its inbox, request and
  /// reply rings, and its lanes out.
  virtual std::uint64_t ring_bytes() const noexcept = 0;
  /// Messages external senders put into the inbox.
  virtual std::uint64_t inbox_accepted() const noexcept = 0;
  /// Refuses external sends from now on.
  virtual void close_inbox() noexcept = 0;
  /// With every worker joined: passes what is still queued for this worker to the
  /// dead-letter sink (or destroys it) and returns how many messages that was.
  virtual std::uint64_t discard_queued() noexcept = 0;
};

/// One worker slot of a pool whose messages are M.
template <class M>
struct WorkerCore final : CoreBase {
  using InboxTx = Sender<Parcel<M>, ChannelKind::mpsc>;
  using InboxRx = Receiver<Parcel<M>, ChannelKind::mpsc>;
  using LaneTx = Sender<Parcel<M>, ChannelKind::spsc>;
  using LaneRx = Receiver<Parcel<M>, ChannelKind::spsc>;

  // ---- set up before the thread starts; then the receivers and lanes_out are the
  // worker thread's, and inbox_tx is shared by every external sender (try_send_shared).
  InboxTx inbox_tx;
  InboxRx inbox_rx;
  std::vector<LaneRx> lanes_in;   // [i]: from worker i
  std::vector<LaneTx> lanes_out;  // [j]: to worker j
  // Calls (calls.h): requests for this slot from anyone, and this worker's own calls
  // coming back, answered by value through reply_tx (shared by every callee worker,
  // try_send_shared) or completed through their records. Neither ever refuses for lack
  // of room: a full ring spills into a list.
  RequestQueue<M> requests{&doorbell, sync::asymmetric_barriers_available()};
  ReplyTx reply_tx;
  ReplyRx reply_rx;
  CallMailbox replies{&doorbell, sync::asymmetric_barriers_available()};
  // ---- set when the pool is wired, then constant: for discard_queued().
  const DeadLetterPost<M>* dead_letters = nullptr;  // the pool's
  std::size_t slot = 0;                             // this worker's index

  void channel_counts(std::vector<std::uint64_t>& out, bool& quiet) const override {
    auto add = [&](const ChannelStats& s) {  // stats() reads received before sent
      out.push_back(s.received);
      out.push_back(s.sent);
      quiet = quiet && s.sent == s.received;
    };
    add(inbox_rx.stats());
    for (const LaneRx& lane : lanes_in) add(lane.stats());
    quiet = quiet && !requests.published() && !replies.published() && !reply_rx.ready();
  }
  std::uint64_t queued() const noexcept override {
    std::uint64_t depth = inbox_rx.stats().approx_depth;
    for (const LaneRx& lane : lanes_in) depth += lane.stats().approx_depth;
    return depth;
  }
  std::uint64_t ring_bytes() const noexcept override {
    std::uint64_t bytes = inbox_tx.ring_bytes() + requests.ring_bytes() + reply_tx.ring_bytes();
    for (const LaneTx& lane : lanes_out) bytes += lane.ring_bytes();
    return bytes;
  }
  std::uint64_t inbox_accepted() const noexcept override { return inbox_tx.stats().sent; }
  void close_inbox() noexcept override { inbox_tx.close(); }
  std::uint64_t discard_queued() noexcept override {
    std::uint64_t here = 0;
    auto left = [&](Parcel<M>&& p) {
      dead_letters->post(std::move(p.payload), p.key, slot, DeadLetterReason::left_at_stop);
      ++here;
    };
    auto discard = [&](auto& rx) { (void)rx.consume(static_cast<std::size_t>(-1), left); };
    // The inbox is closed, so its tail is final; but a sender may have claimed a slot and
    // not yet filled it, with more filled slots behind. Drain until `closed` (closed and
    // empty), not merely until the first empty slot.
    for (;;) {
      discard(inbox_rx);
      if (inbox_rx.consume(1, left).status == RecvResult::closed) break;
      std::this_thread::yield();
    }
    // The lanes' producers are the workers, all joined: everything sent is published.
    for (LaneRx& lane : lanes_in) discard(lane);
    return here;
  }
};

}  // namespace sn::detail
