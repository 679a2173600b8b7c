// ClusterOptions and ClusterStats: how a cluster pool batches, bounds and watches the
// traffic between ranks, and what it counted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sn/cluster/wire.h"

namespace sn {

/// How a ClusterPool moves messages between ranks. Every rank must pass the same values
/// (ClusterPool::create checks a fingerprint of them).
struct ClusterOptions {
  /// Frame and message sizes: a message whose wire form exceeds max_message_bytes is
  /// refused (SendResult::invalid, counted in ClusterStats::too_large).
  FrameLimits limits{};
  /// Frame buffers for each destination rank: open, sealed and in flight together, 1 to
  /// 64. Memory: buffers_per_destination × max_frame_bytes × (ranks − 1) per rank.
  std::size_t buffers_per_destination = 8;
  /// Frames one rank may have sent another that the receiver has not delivered yet (the
  /// credits). With credits, MPI's own buffers never hold more than this from one sender,
  /// whatever the eager limit: credit_frames × max_frame_bytes × (ranks − 1) per rank.
  std::size_t credit_frames = 8;
  /// Receives kept posted, from any rank.
  std::size_t receive_buffers = 8;
  /// A record waits at most this long in an open frame before the frame is sent; a frame
  /// is also sent at once when nothing is in flight to its destination, so a quiet link
  /// adds no delay and a busy one fills frames.
  absl::Duration flush_after = absl::Microseconds(50);
  /// A rank that sent nothing else to a peer for this long sends it a heartbeat.
  absl::Duration heartbeat_every = absl::Milliseconds(100);
  /// A peer not heard from for this long is taken as failed: the pool stops with
  /// Unavailable naming it (the watchdog).
  absl::Duration peer_timeout = absl::Seconds(5);

  /// InvalidArgument naming the first option out of range; OK otherwise.
  absl::Status validate() const;
};

/// What one rank's cluster layer counted, beside its local pool's PoolStats.
/// Accounting across ranks: a message sent to another rank is accepted where it is
/// delivered; ClusterPool::stats() folds the messages this layer itself dropped or failed
/// into the pool's figures, so that summed over ranks after shutdown
/// accepted == processed + failed + dropped holds exactly.
struct ClusterStats {
  int rank = 0;                                                      ///< This rank.
  int ranks = 1;                                                     ///< Ranks in the job.
  std::uint64_t records_sent = 0;                                    ///< Messages encoded for other ranks.
  std::uint64_t records_received = 0;                                ///< Messages of accepted frames from other ranks.
  std::uint64_t frames_sent = 0;                                     ///< Frames whose send completed.
  std::uint64_t frames_received = 0;                                 ///< Frames accepted.
  std::uint64_t bytes_sent = 0;                                      ///< Bytes of frames sent.
  std::uint64_t frames_rejected = 0;                                 ///< Frames refused (corrupt, truncated, too long).
  std::array<std::uint64_t, kFrameErrorCount> rejected_by_reason{};  ///< By FrameError.
  std::uint64_t lost_in_rejected_frames = 0;  ///< Records sent here that never arrived whole: of rejected
                                              ///< frames, or of frames MPI never delivered (counted as failed).
  std::uint64_t decode_failures = 0;          ///< Records whose payload did not decode (failed).
  std::uint64_t dropped = 0;                  ///< Records this layer dropped: no buffer under FullPolicy::drop,
                                              ///< or arriving once the local pool had stopped.
  std::uint64_t too_large = 0;                ///< Sends refused as over max_message_bytes.
  std::uint64_t deferred = 0;                 ///< Workers' sends that waited for a buffer (never block a worker).
  std::uint64_t credit_stalls = 0;            ///< Frames that waited for a receiver's credit.
  std::uint64_t delivery_stalls = 0;          ///< Deliveries that found a worker's inbox full.
  std::uint64_t sequence_gaps = 0;            ///< Accepted frames out of sequence (a frame lost before).
  std::uint64_t flushed_by_size = 0;          ///< Frames sent because the next record did not fit.
  std::uint64_t flushed_by_deadline = 0;      ///< Frames sent after flush_after.
  std::uint64_t flushed_when_idle = 0;        ///< Frames sent because the link to them was idle.
  std::uint64_t termination_waves = 0;        ///< Reductions the last shutdown or stop took.
};

}  // namespace sn
