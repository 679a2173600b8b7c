// MpiLink: the transport's Link over MPI point-to-point calls on one communicator and two
// tags: frames on `tag` (MPI_Isend per frame; MPI_Improbe from any source, then
// MPI_Imrecv into a buffer the transport lent; MPI_Testsome to retire both) and control messages on `tag + 1` (16
// MPI_BYTEs each, sent from a fixed pool of kMaxControlsInFlight slots per destination that own the bytes until the
// send completes, received into a fixed set of pre-posted receives from any source, each posted again as soon as it is
// read). Private to src/cluster/ (and the mpi tests): mpi.h stays out of include/.
//
// Threads: only the thread that calls MPI (the transport thread, MPI_THREAD_FUNNELED).
// Order: MPI does not let two messages from one rank on one communicator and tag overtake
// each other in matching, but they may complete out of that order (a large frame sent by
// rendezvous completes after a small, eager one sent after it). The matched probe tells
// the order in which they matched, and poll_received reports each rank's frames in it.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "sn/cluster/detail/link.h"

namespace sn::detail {

class MpiLink final : public Link {
 public:
  /// A link on `comm` (whose error handler should be MPI_ERRORS_RETURN) and tags `tag` and
  /// `tag + 1`, with room for `max_sends` frame sends in flight and receive ids below
  /// `max_receives`.
  static absl::StatusOr<std::unique_ptr<MpiLink>> create(MPI_Comm comm, int tag, std::size_t max_sends,
                                                         std::size_t max_receives);
  /// Cancels the receives still posted and waits for them, and waits for the control
  /// sends in flight (16 bytes: below every MPI's eager limit, so they complete locally);
  /// frame sends must have completed.
  ~MpiLink() override;

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  absl::Status post_send(int destination, std::span<const std::byte> bytes, std::uint64_t token) override;
  absl::Status poll_sent(std::vector<std::uint64_t>& done) override;
  absl::Status post_receive(std::span<std::byte> buffer, std::uint32_t id) override;
  absl::Status poll_received(std::vector<ReceivedFrame>& done) override;
  absl::Status post_control(int destination, const ControlMessage& message) override;
  absl::Status poll_control(std::vector<ReceivedControl>& done) override;
  std::size_t controls_in_flight(int destination) const noexcept override {
    return controls_in_flight_[static_cast<std::size_t>(destination)];
  }

 private:
  MpiLink(MPI_Comm comm, int tag, int rank, int size, std::size_t max_sends, std::size_t max_receives);
  absl::Status retire_controls();
  absl::Status post_control_receive(std::size_t index);
  /// Takes the frames MPI has matched (MPI_Improbe) into idle lent buffers (MPI_Imrecv).
  absl::Status match_arrivals();

  MPI_Comm comm_;
  int tag_;
  int rank_;
  int size_;
  std::vector<MPI_Request> sends_;     // MPI_REQUEST_NULL where free
  std::vector<std::uint64_t> tokens_;  // the token of each send slot
  std::vector<std::size_t> free_sends_;
  // Frames are received by matched probe (MPI_Improbe, then MPI_Imrecv into a lent
  // buffer), so the order in which MPI matched them is known even when they complete out
  // of it (a large frame by rendezvous after a smaller one sent later), and each source's
  // frames are reported in the order it sent them.
  std::vector<MPI_Request> receives_;               // by id; MPI_REQUEST_NULL unless receiving
  std::vector<std::span<std::byte>> lent_;          // by id: the buffer the transport lent
  std::deque<std::uint32_t> idle_;                  // lent buffers no message was matched to yet
  std::vector<std::deque<std::uint32_t>> matched_;  // by source: ids in the order MPI matched them
  std::vector<ReceivedFrame> finished_;             // by id: a completed receive, waiting for its turn
  std::vector<char> complete_;                      // by id: finished_ holds it
  std::vector<int> indices_;                        // MPI_Testsome's output, reused
  std::vector<MPI_Status> statuses_;                // MPI_Testsome's output, reused

  // Control messages: send slot d * kMaxControlsInFlight + i belongs to destination d.
  std::vector<MPI_Request> control_sends_;        // MPI_REQUEST_NULL where free
  std::vector<ControlMessage> control_out_;       // the bytes each send slot owns until it completes
  std::vector<std::size_t> controls_in_flight_;   // per destination
  std::vector<MPI_Request> control_receives_;     // always posted, except while being read
  std::vector<ControlMessage> control_in_;        // their buffers
  std::vector<std::uint64_t> control_posted_at_;  // by receive: when it was posted, in posts
  std::uint64_t control_posts_ = 0;
  struct ArrivedControl {
    std::uint64_t posted_at;  // of the receive it completed
    std::size_t receive;      // its index
    ReceivedControl control;
  };
  std::vector<ArrivedControl> control_arrived_;  // reused by poll_control
};

}  // namespace sn::detail
