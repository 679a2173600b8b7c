// MpiLink: Isend, pre-posted Irecv from any source, and Testsome, for frames and for
// control messages.
#include "mpi_link.h"

#include <algorithm>
#include <climits>
#include <cstddef>

#include "absl/status/status.h"
#include "mpi_error.h"

namespace sn::detail {

namespace {

/// Control receives kept posted: one per control a peer may have in flight to this rank,
/// within [2, 64]. Controls beyond them wait in MPI's queue (16 bytes each, at most
/// kMaxControlsInFlight per peer) until a receive is posted again.
std::size_t control_receives_for(int size) noexcept {
  const std::size_t peers = size > 1 ? static_cast<std::size_t>(size - 1) : 0;
  return std::clamp<std::size_t>(peers * kMaxControlsInFlight, 2, 64);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiLink>> MpiLink::create(MPI_Comm comm, int tag, std::size_t max_sends,
                                                         std::size_t max_receives) {
  if (max_sends == 0 || max_receives == 0 || max_sends > INT_MAX || max_receives > INT_MAX) {
    return absl::InvalidArgumentError("sn::cluster: MpiLink needs 1 to INT_MAX sends and receives");
  }
  int rank = 0, size = 0;
  if (absl::Status s = mpi_status(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank"); !s.ok()) return s;
  if (absl::Status s = mpi_status(MPI_Comm_size(comm, &size), "MPI_Comm_size"); !s.ok()) return s;
  if (tag < 0 || tag == INT_MAX) return absl::InvalidArgumentError("sn::cluster: MpiLink needs tags tag and tag + 1");
  std::unique_ptr<MpiLink> link(new MpiLink(comm, tag, rank, size, max_sends, max_receives));
  for (std::size_t i = 0; i < link->control_receives_.size(); ++i) {
    if (absl::Status s = link->post_control_receive(i); !s.ok()) return s;
  }
  return link;
}

MpiLink::MpiLink(MPI_Comm comm, int tag, int rank, int size, std::size_t max_sends, std::size_t max_receives)
    : comm_(comm),
      tag_(tag),
      rank_(rank),
      size_(size),
      sends_(max_sends, MPI_REQUEST_NULL),
      tokens_(max_sends, 0),
      receives_(max_receives, MPI_REQUEST_NULL),
      lent_(max_receives),
      matched_(static_cast<std::size_t>(size)),
      finished_(max_receives),
      complete_(max_receives, 0),
      control_sends_(static_cast<std::size_t>(size) * kMaxControlsInFlight, MPI_REQUEST_NULL),
      control_out_(control_sends_.size()),
      controls_in_flight_(static_cast<std::size_t>(size), 0),
      control_receives_(control_receives_for(size), MPI_REQUEST_NULL),
      control_in_(control_receives_.size()),
      control_posted_at_(control_receives_.size(), 0) {
  const std::size_t most = std::max({max_sends, max_receives, control_sends_.size(), control_receives_.size()});
  indices_.resize(most);
  statuses_.resize(most);
  control_arrived_.reserve(control_receives_.size());
  for (std::size_t i = max_sends; i > 0; --i) free_sends_.push_back(i - 1);
}

MpiLink::~MpiLink() {
  // A matched receive cannot be cancelled: its message is already ours; let it land.
  MPI_Waitall(static_cast<int>(receives_.size()), receives_.data(), MPI_STATUSES_IGNORE);
  for (MPI_Request& r : control_receives_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  // The slots own the bytes of the controls in flight, so they must complete first.
  MPI_Waitall(static_cast<int>(control_sends_.size()), control_sends_.data(), MPI_STATUSES_IGNORE);
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
  if (id >= receives_.size() || receives_[id] != MPI_REQUEST_NULL || !lent_[id].empty() || complete_[id] != 0) {
    return absl::InvalidArgumentError("sn::cluster: MpiLink receive id out of range or already posted");
  }
  if (buffer.empty() || buffer.size() > INT_MAX) {
    return absl::InvalidArgumentError("sn::cluster: a receive buffer of 1 to INT_MAX bytes");
  }
  lent_[id] = buffer;
  idle_.push_back(id);
  return absl::OkStatus();
}

absl::Status MpiLink::match_arrivals() {
  while (!idle_.empty()) {
    int flag = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    if (absl::Status s = mpi_status(MPI_Improbe(MPI_ANY_SOURCE, tag_, comm_, &flag, &message, &status), "MPI_Improbe");
        !s.ok()) {
      return s;
    }
    if (flag == 0) return absl::OkStatus();
    const std::uint32_t id = idle_.front();
    idle_.pop_front();
    // A frame longer than the buffer ends in MPI_ERR_TRUNCATE, which the transport rejects.
    const std::span<std::byte> buffer = lent_[id];
    if (absl::Status s =
            mpi_status(MPI_Imrecv(buffer.data(), static_cast<int>(buffer.size()), MPI_BYTE, &message, &receives_[id]),
                       "MPI_Imrecv");
        !s.ok()) {
      return s;
    }
    matched_[static_cast<std::size_t>(status.MPI_SOURCE)].push_back(id);
  }
  return absl::OkStatus();
}

absl::Status MpiLink::poll_received(std::vector<ReceivedFrame>& done) {
  absl::Status first_error = match_arrivals();
  int count = 0;
  const int rc =
      MPI_Testsome(static_cast<int>(receives_.size()), receives_.data(), &count, indices_.data(), statuses_.data());
  // MPI_ERR_IN_STATUS: some receive failed, each status says which; a frame longer than
  // its buffer (MPI_ERR_TRUNCATE) is reported to the transport, which rejects it.
  if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) return mpi_status(rc, "MPI_Testsome (receives)");
  for (int i = 0; i < count && count != MPI_UNDEFINED; ++i) {
    const MPI_Status& st = statuses_[static_cast<std::size_t>(i)];
    const int error = rc == MPI_ERR_IN_STATUS ? st.MPI_ERROR : MPI_SUCCESS;
    const auto id = static_cast<std::uint32_t>(indices_[static_cast<std::size_t>(i)]);
    ReceivedFrame& f = finished_[id];
    f.buffer = id;
    f.source = st.MPI_SOURCE;
    int bytes = 0;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    f.size = bytes > 0 ? static_cast<std::size_t>(bytes) : 0;
    f.truncated = error == MPI_ERR_TRUNCATE;
    if (error != MPI_SUCCESS && !f.truncated) {
      if (first_error.ok()) first_error = mpi_status(error, "MPI_Imrecv");
      f.truncated = true;  // the buffer holds nothing usable; the transport counts and lends it again
    }
    complete_[id] = 1;
  }
  // Each source's frames in the order MPI matched them, which is the order it sent them.
  for (std::deque<std::uint32_t>& queue : matched_) {
    while (!queue.empty() && complete_[queue.front()] != 0) {
      const std::uint32_t id = queue.front();
      queue.pop_front();
      complete_[id] = 0;
      lent_[id] = {};  // the buffer is the transport's again
      done.push_back(finished_[id]);
    }
  }
  return first_error;
}

absl::Status MpiLink::post_control(int destination, const ControlMessage& message) {
  if (destination < 0 || destination >= size_) return absl::InvalidArgumentError("sn::cluster: no such rank");
  const auto d = static_cast<std::size_t>(destination);
  if (controls_in_flight_[d] >= kMaxControlsInFlight) {
    return absl::ResourceExhaustedError("sn::cluster: MpiLink has no control slot free for that rank");
  }
  std::size_t slot = d * kMaxControlsInFlight;
  while (control_sends_[slot] != MPI_REQUEST_NULL) ++slot;  // one of this rank's slots is free
  control_out_[slot] = message;
  if (absl::Status s = mpi_status(MPI_Isend(&control_out_[slot], static_cast<int>(sizeof(ControlMessage)), MPI_BYTE,
                                            destination, tag_ + 1, comm_, &control_sends_[slot]),
                                  "MPI_Isend (control)");
      !s.ok()) {
    return s;
  }
  ++controls_in_flight_[d];
  return absl::OkStatus();
}

absl::Status MpiLink::retire_controls() {
  std::size_t in_flight = 0;
  for (const std::size_t n : controls_in_flight_) in_flight += n;
  if (in_flight == 0) return absl::OkStatus();
  int count = 0;
  const int rc = MPI_Testsome(static_cast<int>(control_sends_.size()), control_sends_.data(), &count, indices_.data(),
                              MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_status(rc, "MPI_Testsome (control sends)");
  for (int i = 0; i < count && count != MPI_UNDEFINED; ++i) {
    const auto slot = static_cast<std::size_t>(indices_[static_cast<std::size_t>(i)]);
    --controls_in_flight_[slot / kMaxControlsInFlight];  // MPI_Testsome freed the request
  }
  return absl::OkStatus();
}

absl::Status MpiLink::post_control_receive(std::size_t index) {
  control_posted_at_[index] = control_posts_++;
  return mpi_status(MPI_Irecv(&control_in_[index], static_cast<int>(sizeof(ControlMessage)), MPI_BYTE, MPI_ANY_SOURCE,
                              tag_ + 1, comm_, &control_receives_[index]),
                    "MPI_Irecv (control)");
}

absl::Status MpiLink::poll_control(std::vector<ReceivedControl>& done) {
  absl::Status first_error = retire_controls();
  int count = 0;
  const int rc = MPI_Testsome(static_cast<int>(control_receives_.size()), control_receives_.data(), &count,
                              indices_.data(), statuses_.data());
  if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) return mpi_status(rc, "MPI_Testsome (control receives)");
  control_arrived_.clear();
  for (int i = 0; i < count && count != MPI_UNDEFINED; ++i) {
    const MPI_Status& st = statuses_[static_cast<std::size_t>(i)];
    const auto index = static_cast<std::size_t>(indices_[static_cast<std::size_t>(i)]);
    const int error = rc == MPI_ERR_IN_STATUS ? st.MPI_ERROR : MPI_SUCCESS;
    int bytes = 0;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    ReceivedControl c;
    c.source = st.MPI_SOURCE;
    if (error == MPI_SUCCESS && bytes == static_cast<int>(sizeof(ControlMessage))) {
      c.message = control_in_[index];
    } else if (error != MPI_SUCCESS && error != MPI_ERR_TRUNCATE && first_error.ok()) {
      first_error = mpi_status(error, "MPI_Irecv (control)");
    }
    control_arrived_.push_back(ArrivedControl{control_posted_at_[index], index, c});
  }
  // Receives match in posting order: report them so, and post each again in that order.
  std::sort(control_arrived_.begin(), control_arrived_.end(),
            [](const ArrivedControl& a, const ArrivedControl& b) { return a.posted_at < b.posted_at; });
  for (const ArrivedControl& a : control_arrived_) {
    done.push_back(a.control);
    if (absl::Status s = post_control_receive(a.receive); !s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

}  // namespace sn::detail
