// Link: the few non-blocking operations the transport loop needs from a network, so that
// the loop is tested in one process over an in-memory fake and runs over MPI in a job.
//
// Threads: a Link is used by one thread only, the transport thread (with MPI, the thread
// that initialised it: MPI_THREAD_FUNNELED).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace sn::detail {

/// A receive buffer that the link filled.
struct ReceivedFrame {
  std::uint32_t buffer = 0;  ///< The id given to post_receive.
  int source = 0;            ///< The sending rank.
  std::size_t size = 0;      ///< Bytes written into the buffer.
  bool truncated = false;    ///< The frame was longer than the buffer (its bytes are not to be used).
};

/// Non-blocking sends and pre-posted receives of whole frames between ranks.
class Link {
 public:
  virtual ~Link() = default;

  /// This process's rank, and the number of ranks.
  virtual int rank() const noexcept = 0;
  virtual int size() const noexcept = 0;

  /// Starts sending `bytes` to rank `destination`. The caller keeps `bytes` unchanged until
  /// poll_sent reports `token` (its handle for this send, unique among sends in flight).
  virtual absl::Status post_send(int destination, std::span<const std::byte> bytes, std::uint64_t token) = 0;
  /// Appends to `done` the token of each send that completed since the last call.
  virtual absl::Status poll_sent(std::vector<std::uint64_t>& done) = 0;

  /// Lends `buffer` for one incoming frame from any rank; poll_received reports it by `id`.
  virtual absl::Status post_receive(std::span<std::byte> buffer, std::uint32_t id) = 0;
  /// Appends to `done` each lent buffer that now holds a frame, the frames of each source
  /// in the order it sent them; the buffer is the caller's again.
  virtual absl::Status poll_received(std::vector<ReceivedFrame>& done) = 0;
};

}  // namespace sn::detail
