// What every end of an inter-process channel offers, whatever it carries: closing,
// stats, why it closed, and handing the segment to another process.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "sn/channel/stats.h"
#include "sn/ipc/detail/segment.h"
#include "sn/ipc/options.h"

namespace sn::ipc {
namespace detail {
struct EndFactory;  // makes the handles (channel.h)
}  // namespace detail

/// The base of Sender, Receiver, ByteSender and ByteReceiver. Move-only. One thread at
/// a time uses an end; stats(), is_closed() and close_reason() may be called from any
/// thread while it does.
class Endpoint {
 public:
  Endpoint() = default;
  /// Takes over `other`'s end (and a name it published); `other` is left empty.
  Endpoint(Endpoint&&) noexcept = default;
  /// Closes this end (removing its name), then takes over `other`'s.
  Endpoint& operator=(Endpoint&& other) noexcept {
    if (this != &other) {
      unpublish();
      end_ = std::move(other.end_);
      published_ = std::move(other.published_);
    }
    return *this;
  }
  /// Closes this end (see close()) and removes a name it published.
  ~Endpoint() { unpublish(); }

  /// Whether this handle holds an end (not moved-from or default-constructed).
  explicit operator bool() const noexcept { return end_ != nullptr; }

  /// Closes this end. The peer sees `closed`: a receiver after it took what was sent
  /// before; a sender at once. Idempotent; dropping the handle does it too.
  void close() noexcept {
    if (end_) end_->close();
  }
  /// Whether this end sees the channel closed, by either side or because the peer died,
  /// hung or broke the protocol. A receiver may still hold messages sent before.
  bool is_closed() const noexcept { return !end_ || end_->is_closed(); }
  /// Why the channel is closed, or CloseReason::open.
  CloseReason close_reason() const noexcept { return end_ ? end_->close_reason() : CloseReason::closed_here; }
  /// This end's counters; `discarded` is what the receiver left unreceived when it
  /// closed, as it reported it.
  ChannelStats stats() const noexcept { return end_ ? end_->stats() : ChannelStats{}; }
  /// Slots in the ring (a power of two), or 0 for an empty handle.
  std::size_t capacity() const noexcept { return end_ ? static_cast<std::size_t>(end_->capacity()) : 0; }
  /// The peer's process id once known (from the kernel, or the peer's own word), else 0.
  int peer_pid() const noexcept { return end_ ? end_->peer_pid() : 0; }

  /// The segment's descriptor (a memfd), for passing it some other way. Owned by the handle.
  int fd() const noexcept { return end_ ? end_->fd() : -1; }
  /// Sends the segment's descriptor over a connected Unix domain socket (SCM_RIGHTS);
  /// the process at the other end attaches with From::socket.
  absl::Status share(int unix_socket) const { return detail::send_descriptor(unix_socket, fd()); }
  /// Makes the segment reachable as From::name(name) by processes of the same user on
  /// this machine, until this handle goes (or unpublish()). AlreadyExists if taken.
  absl::Status publish(std::string_view name) {
    absl::Status s = detail::publish_name(name, fd());
    if (s.ok()) published_ = std::string(name);
    return s;
  }
  /// Removes the name publish() gave, if any.
  void unpublish() noexcept {
    if (!published_.empty() && end_) detail::unpublish_name(published_, end_->fd());
    published_.clear();
  }

 protected:
  /// Wraps an end made by create_end or attach_end.
  explicit Endpoint(std::unique_ptr<detail::RingEnd> end) noexcept : end_(std::move(end)) {}
  /// The end; null in an empty handle.
  std::unique_ptr<detail::RingEnd> end_;

 private:
  std::string published_;
};

}  // namespace sn::ipc
