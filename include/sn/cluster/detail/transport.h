// Transport: one turn of the transport thread's loop over a Link. It takes sealed frames
// from an MPSC channel fed by the batchers, sends them with at most
// max_in_flight_per_destination in flight per rank, gives each buffer back when its send
// completes, and checks every received frame (check_frame) before it hands the records to
// the sink; a rejected frame is counted by reason and none of its records is delivered.
//
// Threads: poll() and the counters belong to the transport thread, the only user of the
// Link. The channel's senders may be any threads.
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
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sn/channel/mpsc.h"
#include "sn/cluster/detail/frame_buffers.h"
#include "sn/cluster/detail/link.h"
#include "sn/cluster/wire.h"

namespace sn::detail {

/// Bounds of the transport loop.
struct TransportOptions {
  FrameLimits limits;                             ///< Receive buffers are max_frame_bytes each.
  std::size_t max_in_flight_per_destination = 4;  ///< Sends posted and not completed, per rank.
  std::size_t receive_buffers = 8;                ///< Receives kept posted (from any rank).
};

/// What the transport counted; read on the transport thread.
struct TransportCounters {
  std::uint64_t frames_sent = 0;       ///< Sends completed.
  std::uint64_t bytes_sent = 0;        ///< Their bytes.
  std::uint64_t frames_received = 0;   ///< Frames accepted.
  std::uint64_t records_received = 0;  ///< Records of accepted frames, handed to the sink.
  std::uint64_t sequence_gaps = 0;     ///< Accepted frames whose sequence was not the next one expected.
  std::array<std::uint64_t, kFrameErrorCount> rejected{};  ///< Rejected frames by FrameError (none unused).

  /// Rejected frames of every reason.
  std::uint64_t rejected_total() const noexcept;
};

/// The transport loop's state; poll() runs one turn.
class Transport {
 public:
  /// Receives every record of every accepted frame: the sending rank and the record.
  using RecordSink = std::function<void(int source, const RecordView& record)>;

  /// Posts the receive buffers. InvalidArgument when the limits are not valid() or a
  /// bound is 0; the link's status when posting fails.
  static absl::StatusOr<std::unique_ptr<Transport>> create(Link& link, MpscReceiver<SealedFrame> outgoing,
                                                           const TransportOptions& options, RecordSink sink);

  /// One turn: take sealed frames, post sends within the bound, retire completed sends,
  /// check and deliver received frames. The link's status when it fails.
  absl::Status poll();

  /// Sends posted to `destination` and not completed.
  std::size_t in_flight(int destination) const noexcept { return in_flight_[static_cast<std::size_t>(destination)]; }
  /// Sealed frames taken from the channel and waiting for room in flight.
  std::size_t waiting() const noexcept;
  const TransportCounters& counters() const noexcept { return counters_; }

 private:
  Transport(Link& link, MpscReceiver<SealedFrame> outgoing, const TransportOptions& options, RecordSink sink);
  absl::Status post_receives();
  void take_outgoing() noexcept;
  absl::Status post_sends();
  absl::Status retire_sends();
  absl::Status take_received();
  /// Checks one received frame and delivers its records, or counts why it is rejected.
  void deliver(const ReceivedFrame& frame);

  Link& link_;
  MpscReceiver<SealedFrame> outgoing_;
  TransportOptions options_;
  RecordSink sink_;

  std::vector<std::deque<SealedFrame>> waiting_;   // per destination, oldest first
  std::vector<std::size_t> in_flight_;             // per destination
  std::vector<std::optional<SealedFrame>> sends_;  // by token
  std::vector<std::uint64_t> free_tokens_;
  std::vector<std::uint64_t> sent_done_;          // reused by retire_sends
  std::vector<ReceivedFrame> received_done_;      // reused by take_received
  std::vector<std::uint64_t> expected_sequence_;  // per source
  std::unique_ptr<std::byte[]> receive_storage_;
  TransportCounters counters_;
};

}  // namespace sn::detail
