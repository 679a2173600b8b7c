// MpiLink: the transport's Link over MPI point-to-point calls on one communicator and two
// tags: frames on `tag` (MPI_Isend per frame, MPI_Irecv pre-posted with MPI_ANY_SOURCE,
// MPI_Testsome to retire both) and control messages on `tag + 1` (16 MPI_BYTEs each, sent
// from a fixed pool of kMaxControlsInFlight slots per destination that own the bytes until
// the send completes, received into a fixed set of pre-posted receives from any source,
// each posted again as soon as it is read). Private to src/cluster/ (and the mpi tests):
// mpi.h stays out of include/.
//
// Threads: only the thread that calls MPI (the transport thread, MPI_THREAD_FUNNELED).
// Order: MPI does not let two messages from one rank on one communicator and tag overtake
// each other, and matches receives in the order they were posted; MPI_Testsome lists
// completions by index instead, so poll_received sorts them back into posting order, and
// frames from a rank are reported in their sequence order.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
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

  MPI_Comm comm_;
  int tag_;
  int rank_;
  int size_;
  std::vector<MPI_Request> sends_;     // MPI_REQUEST_NULL where free
  std::vector<std::uint64_t> tokens_;  // the token of each send slot
  std::vector<std::size_t> free_sends_;
  std::vector<MPI_Request> receives_;     // by id; MPI_REQUEST_NULL when not posted
  std::vector<std::uint64_t> posted_at_;  // by id: when it was posted, in posts
  std::uint64_t posts_ = 0;
  std::vector<int> indices_;          // MPI_Testsome's output, reused
  std::vector<MPI_Status> statuses_;  // MPI_Testsome's output, reused

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
