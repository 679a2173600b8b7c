// MpiLink: Isend, pre-posted Irecv from any source, and Testsome.
#include "mpi_link.h"

#include <algorithm>
#include <climits>
#include <cstddef>

#include "absl/status/status.h"
#include "mpi_error.h"

namespace sn::detail {

absl::StatusOr<std::unique_ptr<MpiLink>> MpiLink::create(MPI_Comm comm, int tag, std::size_t max_sends,
                                                         std::size_t max_receives) {
  if (max_sends == 0 || max_receives == 0 || max_sends > INT_MAX || max_receives > INT_MAX) {
    return absl::InvalidArgumentError("sn::cluster: MpiLink needs 1 to INT_MAX sends and receives");
  }
  int rank = 0, size = 0;
  if (absl::Status s = mpi_status(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank"); !s.ok()) return s;
  if (absl::Status s = mpi_status(MPI_Comm_size(comm, &size), "MPI_Comm_size"); !s.ok()) return s;
  return std::unique_ptr<MpiLink>(new MpiLink(comm, tag, rank, size, max_sends, max_receives));
}

MpiLink::MpiLink(MPI_Comm comm, int tag, int rank, int size, std::size_t max_sends, std::size_t max_receives)
    : comm_(comm),
      tag_(tag),
      rank_(rank),
      size_(size),
      sends_(max_sends, MPI_REQUEST_NULL),
      tokens_(max_sends, 0),
      receives_(max_receives, MPI_REQUEST_NULL),
      posted_at_(max_receives, 0),
      indices_(std::max(max_sends, max_receives)),
      statuses_(std::max(max_sends, max_receives)) {
  for (std::size_t i = max_sends; i > 0; --i) free_sends_.push_back(i - 1);
}

MpiLink::~MpiLink() {
  for (MPI_Request& r : receives_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
}

absl::Status MpiLink::post_send(int destination, std::span<const std::byte> bytes, std::uint64_t token) {
  if (free_sends_.empty()) return absl::ResourceExhaustedError("sn::cluster: MpiLink has no send slot free");
  if (bytes.size() > INT_MAX) return absl::InvalidArgumentError("sn::cluster: a frame over INT_MAX bytes");
  const std::size_t slot = free_sends_.back();
  // MPI 3 takes a const send buffer.
  if (absl::Status s = mpi_status(
          MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, destination, tag_, comm_, &sends_[slot]),
          "MPI_Isend");
      !s.ok()) {
    return s;
  }
  free_sends_.pop_back();
  tokens_[slot] = token;
  return absl::OkStatus();
}

absl::Status MpiLink::poll_sent(std::vector<std::uint64_t>& done) {
  if (free_sends_.size() == sends_.size()) return absl::OkStatus();  // nothing in flight
  int count = 0;
  const int rc =
      MPI_Testsome(static_cast<int>(sends_.size()), sends_.data(), &count, indices_.data(), MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_status(rc, "MPI_Testsome (sends)");
  for (int i = 0; i < count && count != MPI_UNDEFINED; ++i) {
    const auto slot = static_cast<std::size_t>(indices_[static_cast<std::size_t>(i)]);
    done.push_back(tokens_[slot]);
    free_sends_.push_back(slot);  // MPI_Testsome set the request to MPI_REQUEST_NULL
  }
  return absl::OkStatus();
}

absl::Status MpiLink::post_receive(std::span<std::byte> buffer, std::uint32_t id) {
  if (id >= receives_.size() || receives_[id] != MPI_REQUEST_NULL) {
    return absl::InvalidArgumentError("sn::cluster: MpiLink receive id out of range or already posted");
  }
  if (buffer.size() > INT_MAX) return absl::InvalidArgumentError("sn::cluster: a receive buffer over INT_MAX bytes");
  posted_at_[id] = posts_++;
  return mpi_status(
      MPI_Irecv(buffer.data(), static_cast<int>(buffer.size()), MPI_BYTE, MPI_ANY_SOURCE, tag_, comm_, &receives_[id]),
      "MPI_Irecv");
}

absl::Status MpiLink::poll_received(std::vector<ReceivedFrame>& done) {
  int count = 0;
  const int rc =
      MPI_Testsome(static_cast<int>(receives_.size()), receives_.data(), &count, indices_.data(), statuses_.data());
  // MPI_ERR_IN_STATUS: some receive failed, each status says which; a frame longer than
  // its buffer (MPI_ERR_TRUNCATE) is reported to the transport, which rejects it.
  if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) return mpi_status(rc, "MPI_Testsome (receives)");
  absl::Status first_error;
  const auto first = static_cast<std::ptrdiff_t>(done.size());
  for (int i = 0; i < count && count != MPI_UNDEFINED; ++i) {
    const MPI_Status& st = statuses_[static_cast<std::size_t>(i)];
    const int error = rc == MPI_ERR_IN_STATUS ? st.MPI_ERROR : MPI_SUCCESS;
    ReceivedFrame f;
    f.buffer = static_cast<std::uint32_t>(indices_[static_cast<std::size_t>(i)]);
    f.source = st.MPI_SOURCE;
    int bytes = 0;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    f.size = bytes > 0 ? static_cast<std::size_t>(bytes) : 0;
    f.truncated = error == MPI_ERR_TRUNCATE;
    if (error != MPI_SUCCESS && !f.truncated) {
      if (first_error.ok()) first_error = mpi_status(error, "MPI_Irecv");
      f.truncated = true;  // the buffer holds nothing usable; the transport counts and re-posts it
    }
    done.push_back(f);
  }
  // Receives match in posting order; report them so, not by index.
  std::sort(done.begin() + first, done.end(), [this](const ReceivedFrame& a, const ReceivedFrame& b) {
    return posted_at_[a.buffer] < posted_at_[b.buffer];
  });
  return first_error;
}

}  // namespace sn::detail
