// Link: the few non-blocking operations the transport loop needs from a network, so that
// the loop is tested in one process over an in-memory fake and runs over MPI in a job.
//
// Two kinds of traffic: frames (whole batches of records, into buffers the caller lends)
// and control messages (16 bytes each: credits and heartbeats, copied by the link, at most
// kMaxControlsInFlight in flight to each rank).
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

/// What a control message says.
enum class ControlKind : std::uint32_t {
  credit = 1,     ///< The sender finished `value` frames of the receiver's: that many credits back.
  heartbeat = 2,  ///< Nothing else to say; the sender is alive.
};

/// A control message, sent as its 16 bytes. A kind that is no ControlKind enumerator can
/// arrive (another build, corruption, a malformed message): the receiver counts it and
/// ignores it; holding it is not undefined (the enum has a fixed underlying type).
struct ControlMessage {
  ControlKind kind{};
  std::uint32_t reserved = 0;
  std::uint64_t value = 0;
};
static_assert(sizeof(ControlMessage) == 16, "a control message is 16 bytes on the wire");

/// A control message that arrived, and its sender.
struct ReceivedControl {
  int source = 0;
  ControlMessage message;
};

/// Control messages a link keeps in flight to one rank at most; post_control refuses more.
inline constexpr std::size_t kMaxControlsInFlight = 2;

/// Non-blocking sends and pre-posted receives of whole frames between ranks.
class Link {
 public:
  // The control types are also reachable as Link::ControlMessage and so on.
  using ControlKind = sn::detail::ControlKind;
  using ControlMessage = sn::detail::ControlMessage;
  using ReceivedControl = sn::detail::ReceivedControl;

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

  /// Starts sending `message` to rank `destination` without blocking; the link copies it.
  /// ResourceExhausted when kMaxControlsInFlight are already in flight to that rank.
  virtual absl::Status post_control(int destination, const ControlMessage& message) = 0;
  /// Retires completed control sends and appends to `done` each control message that
  /// arrived, those of each source in the order it sent them. A message that was not
  /// exactly 16 bytes is reported with kind 0 (no ControlKind).
  virtual absl::Status poll_control(std::vector<ReceivedControl>& done) = 0;
  /// Control messages posted to `destination` whose send has not completed (as of the
  /// last poll_control).
  virtual std::size_t controls_in_flight(int destination) const noexcept = 0;
};

}  // namespace sn::detail
