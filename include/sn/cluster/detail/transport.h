// Transport: one turn of the transport thread's loop over a Link. It takes sealed frames
// from an MPSC channel fed by the batchers, sends them within two bounds per rank (sends
// in flight, and credits), gives each buffer back when its send completes, and checks
// every received frame (check_frame) before it hands the records to the sink; a rejected
// frame is counted by reason and none of its records is delivered.
//
// Credits (bounded memory across ranks): a sender may have at most credit_frames frames
// to one destination that the destination has not finished (all records taken by the
// sink, or the frame rejected). It spends a credit per frame posted; the receiver returns
// them in credit control messages as it finishes frames. So a receiver never holds more
// than credit_frames frames from each sender, in its own buffers or in MPI's (eager
// messages that arrived before a receive was posted), and the memory a rank's incoming
// frames take is bounded by credit_frames x max_frame_bytes x (ranks - 1), even when
// frames are below MPI's eager limit and however slowly its sink takes records.
//
// Partial delivery: the sink may refuse a record (the worker's inbox is full). The frame
// then stays pending, its receive buffer kept and its place remembered, and delivery stops
// for this turn; the next turn resumes the pending frames first, in arrival order, so the
// records of each source reach the sink in the order they were sent, each exactly once.
// A buffer is posted again only when its frame is finished.
//
// Heartbeats: a rank that posted nothing to a peer for heartbeat_every posts it a
// heartbeat, and every frame or control message received records when its sender was
// last heard from; silent_peer() names a peer not heard from for a given time.
//
// Control messages stay within kMaxControlsInFlight per peer: credits owed while that many
// are in flight add up and go in one message later.
//
// Threads: poll() and everything else here belong to the transport thread, the only user
// of the Link. The channel's senders may be any threads.
//
// Lifetime: the Link's receives point into the Transport's buffers, so the link's
// pending receives are cancelled (the link destroyed) before the Transport is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/mpsc.h"
#include "sn/cluster/detail/frame_buffers.h"
#include "sn/cluster/detail/link.h"
#include "sn/cluster/wire.h"

namespace sn::detail {

/// Bounds of the transport loop.
struct TransportOptions {
  FrameLimits limits;                                        ///< Receive buffers are max_frame_bytes each.
  std::size_t max_in_flight_per_destination = 4;             ///< Sends posted and not completed, per rank.
  std::size_t receive_buffers = 8;                           ///< Receives kept posted (from any rank).
  std::size_t credit_frames = 8;                             ///< Frames to one rank that it has not finished.
  absl::Duration heartbeat_every = absl::Milliseconds(100);  ///< A heartbeat after this long without a post.
};

/// What the transport counted; read on the transport thread.
struct TransportCounters {
  std::uint64_t frames_posted = 0;     ///< Frames handed to the link's post_send.
  std::uint64_t frames_sent = 0;       ///< Sends completed.
  std::uint64_t bytes_sent = 0;        ///< Their bytes.
  std::uint64_t frames_arrived = 0;    ///< Every frame received: accepted, rejected or truncated.
  std::uint64_t frames_received = 0;   ///< Frames accepted.
  std::uint64_t records_received = 0;  ///< Records of accepted frames that the sink took.
  std::uint64_t sequence_gaps = 0;     ///< Accepted frames whose sequence was not the next one expected.
  std::array<std::uint64_t, kFrameErrorCount> rejected{};  ///< Rejected frames by FrameError (none unused).
  std::vector<std::uint64_t> records_sent_to;              ///< Per rank: records of the frames posted to it.
  std::vector<std::uint64_t> records_received_from;        ///< Per rank: records of its accepted frames.
  std::uint64_t credit_stalls = 0;                         ///< Times a frame waited for credit alone (once per stall).
  std::uint64_t delivery_stalls = 0;                       ///< Records the sink refused.
  std::uint64_t controls_sent = 0;                         ///< Control messages posted.
  std::uint64_t controls_received = 0;                     ///< Control messages received.
  std::uint64_t protocol_errors = 0;  ///< Unknown control kinds, excess credits, controls from no rank.

  /// Rejected frames of every reason.
  std::uint64_t rejected_total() const noexcept;
};

/// The transport loop's state; poll() runs one turn.
class Transport {
 public:
  /// Offers one record of an accepted frame from rank `source`: true when it was taken,
  /// false when it cannot be now (the worker's inbox is full): it is offered again later.
  using RecordSink = std::function<bool(int source, const RecordView& record)>;

  /// Posts the receive buffers. `now` is the start of every peer's silence and of the
  /// time since anything was posted to it (absl::Now() in the first form).
  /// InvalidArgument when the limits are not valid() or a bound is 0; the link's status
  /// when posting fails.
  static absl::StatusOr<std::unique_ptr<Transport>> create(Link& link, MpscReceiver<SealedFrame> outgoing,
                                                           const TransportOptions& options, RecordSink sink);
  static absl::StatusOr<std::unique_ptr<Transport>> create(Link& link, MpscReceiver<SealedFrame> outgoing,
                                                           const TransportOptions& options, RecordSink sink,
                                                           absl::Time now);

  /// One turn at time `now`: take sealed frames, retire completed sends, take control
  /// messages, post sends within the bounds, receive and check frames, deliver pending
  /// records until the sink refuses one, then return credits and send heartbeats. The
  /// link's status when it fails.
  absl::Status poll(absl::Time now);
  absl::Status poll() { return poll(absl::Now()); }

  /// Sends posted to `destination` and not completed.
  std::size_t in_flight(int destination) const noexcept { return in_flight_[static_cast<std::size_t>(destination)]; }
  /// Frames this rank may still post to `destination` before it returns credits.
  std::size_t credits(int destination) const noexcept { return credits_[static_cast<std::size_t>(destination)]; }
  /// Sealed frames taken from the channel and waiting for room in flight or for credit.
  std::size_t waiting() const noexcept;
  /// Received frames not finished: some of their records not yet taken by the sink.
  std::size_t pending_deliveries() const noexcept { return pending_.size(); }
  /// Nothing waiting, no send in flight, no pending delivery.
  bool quiet() const noexcept;
  /// Nothing waiting for and no send in flight to `destination`.
  bool idle_to(int destination) const noexcept;
  /// The lowest rank other than this one not heard from (no frame, no control message)
  /// for longer than `timeout` at `now`, or -1.
  int silent_peer(absl::Time now, absl::Duration timeout) const noexcept;
  const TransportCounters& counters() const noexcept { return counters_; }

 private:
  /// An accepted frame whose records the sink has not all taken; its buffer stays lent.
  struct PendingFrame {
    std::uint32_t buffer = 0;
    int source = 0;
    RecordCursor cursor;  ///< At the next record to offer.
  };

  Transport(Link& link, MpscReceiver<SealedFrame> outgoing, const TransportOptions& options, RecordSink sink,
            absl::Time now);
  std::span<std::byte> receive_buffer(std::uint32_t id) const noexcept;
  absl::Status post_receives();
  void take_outgoing() noexcept;
  absl::Status post_sends(absl::Time now);
  absl::Status post_frame(std::size_t destination, const SealedFrame& frame, absl::Time now);
  absl::Status retire_sends();
  absl::Status take_controls(absl::Time now);
  void apply_control(const ReceivedControl& control) noexcept;
  absl::Status take_received(absl::Time now);
  /// Checks one received frame: queues it for delivery, or counts why it is rejected and
  /// finishes it.
  absl::Status accept(const ReceivedFrame& frame);
  /// Offers pending records in arrival order until the sink refuses one.
  absl::Status deliver_pending();
  /// Returns the frame's credit to its source and posts its buffer again.
  absl::Status finish(std::uint32_t buffer, int source);
  absl::Status send_controls(absl::Time now);
  absl::Status post_control(std::size_t destination, const ControlMessage& message, absl::Time now);
  bool is_peer(int rank) const noexcept { return rank >= 0 && rank < link_.size() && rank != link_.rank(); }

  Link& link_;
  MpscReceiver<SealedFrame> outgoing_;
  TransportOptions options_;
  RecordSink sink_;

  std::vector<std::deque<SealedFrame>> waiting_;   // per destination, oldest first
  std::vector<std::size_t> in_flight_;             // per destination
  std::vector<std::size_t> credits_;               // per destination: frames it will still take
  std::vector<bool> credit_stalled_;               // per destination: this stall is counted
  std::vector<std::optional<SealedFrame>> sends_;  // by token
  std::vector<std::uint64_t> free_tokens_;
  std::vector<std::uint64_t> sent_done_;          // reused by retire_sends
  std::vector<ReceivedFrame> received_done_;      // reused by take_received
  std::vector<ReceivedControl> controls_done_;    // reused by take_controls
  std::vector<std::uint64_t> expected_sequence_;  // per source
  std::vector<std::uint64_t> owed_;               // per source: credits to return
  std::vector<absl::Time> last_posted_;           // per rank: the last frame or control posted to it
  std::vector<absl::Time> last_heard_;            // per rank: the last frame or control received from it
  std::deque<PendingFrame> pending_;              // accepted frames not finished, in arrival order
  std::unique_ptr<std::byte[]> receive_storage_;
  TransportCounters counters_;
};

}  // namespace sn::detail
