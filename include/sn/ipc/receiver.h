// The receiving ends of an inter-process channel: Receiver<T> and ByteReceiver.
//
// Threads: one thread at a time receives through an end (the consumer).
//
// Verbs and results are those of the in-process channels: try_recv never waits; recv
// waits for a message; recv_for waits at most a duration; recv_batch takes what is
// there. `closed` once the channel is closed and everything published before is taken:
// what a sender published before it closed, died or hung stays receivable.
//
// Safety against the peer: a receiver reads each slot's sequence word and length once,
// into locals, and checks them before use; a length beyond the maximum closes the
// channel (close_reason() == peer_corrupt) instead of reading past the slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/result.h"
#include "sn/ipc/endpoint.h"
#include "sn/ipc/sender.h"

namespace sn::ipc {

/// The receiving end of a channel of T.
template <Shareable T>
class Receiver : public Endpoint {
 public:
  Receiver() = default;

  /// Takes the next message if there is one: ok, empty or closed.
  RecvResult try_recv(T& out) noexcept {
    std::uint32_t len;
    return end_ ? end_->try_recv(&out, &len) : RecvResult::closed;
  }
  /// Waits for a message (spin, yield, park): ok or closed.
  RecvResult recv(T& out) noexcept { return recv_until(out, absl::InfiniteFuture()); }
  /// Waits at most `timeout`: ok, timeout or closed.
  RecvResult recv_for(T& out, absl::Duration timeout) noexcept { return recv_until(out, absl::Now() + timeout); }
  /// Takes up to out.size() messages that are there now; `count` says how many.
  RecvBatchResult recv_batch(std::span<T> out) noexcept {
    if (!end_) return {0, RecvResult::closed};
    return end_->recv_many(reinterpret_cast<std::byte*>(out.data()), sizeof(T), out.size());
  }
  /// Whether a message can be taken now.
  bool ready() const noexcept { return end_ && end_->ready(); }

 private:
  friend struct detail::EndFactory;
  explicit Receiver(std::unique_ptr<detail::RingEnd> end) noexcept : Endpoint(std::move(end)) {}
  RecvResult recv_until(T& out, absl::Time deadline) noexcept {
    std::uint32_t len;
    return end_ ? end_->recv_until(&out, &len, deadline) : RecvResult::closed;
  }
};

/// The receiving end of a channel of byte messages.
class ByteReceiver : public Endpoint {
 public:
  ByteReceiver() = default;

  /// Takes the next message into `out` (resized to its length; its capacity is kept, so
  /// a reused vector allocates once): ok, empty or closed.
  RecvResult try_recv(std::vector<std::byte>& out) noexcept { return recv_into(out, absl::InfinitePast()); }
  /// Waits for a message: ok or closed.
  RecvResult recv(std::vector<std::byte>& out) noexcept { return recv_into(out, absl::InfiniteFuture()); }
  /// Waits at most `timeout`: ok, timeout or closed.
  RecvResult recv_for(std::vector<std::byte>& out, absl::Duration timeout) noexcept {
    return recv_into(out, absl::Now() + timeout);
  }
  /// Takes the next message into `buf`, which must hold max_message_bytes() (a smaller
  /// buffer takes nothing and gets `empty`), and its length into *len; waits until
  /// `deadline` (InfinitePast: not at all). For callers that own their buffers (the C API).
  RecvResult recv_into(std::span<std::byte> buf, std::size_t* len, absl::Time deadline) noexcept {
    if (!end_) return RecvResult::closed;
    if (buf.size() < end_->message_bytes()) return RecvResult::empty;
    std::uint32_t n = 0;
    const RecvResult r =
        deadline == absl::InfinitePast() ? end_->try_recv(buf.data(), &n) : end_->recv_until(buf.data(), &n, deadline);
    *len = r == RecvResult::ok ? n : 0;
    return r;
  }
  /// Whether a message can be taken now.
  bool ready() const noexcept { return end_ && end_->ready(); }
  /// The longest message this channel carries.
  std::size_t max_message_bytes() const noexcept { return end_ ? end_->message_bytes() : 0; }

 private:
  friend struct detail::EndFactory;
  explicit ByteReceiver(std::unique_ptr<detail::RingEnd> end) noexcept : Endpoint(std::move(end)) {}
  RecvResult recv_into(std::vector<std::byte>& out, absl::Time deadline) noexcept;
};

}  // namespace sn::ipc
