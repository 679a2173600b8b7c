// The sending ends of an inter-process channel: Sender<T> for a trivially copyable T,
// ByteSender for byte messages up to a maximum size.
//
// Threads: one thread at a time sends through an end (the producer). The receiver is in
// another process (or, in tests, another thread).
//
// Verbs and results are those of the in-process channels (sn/channel/result.h):
// try_send never waits; send waits for room; send_for waits at most a duration;
// send_batch sends what fits. `closed` once either side closed, or this side found the
// receiver's process gone, hung (Options::hang_timeout) or misbehaving (close_reason()).
//
// Cost: a send copies the message into its slot and makes one release store; it makes
// a system call only when the receiver is parked (a shared futex wake).
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/result.h"
#include "sn/ipc/endpoint.h"

namespace sn::ipc {

/// What may cross a process boundary as a typed message: its bytes are the message. A
/// receiver copies them out of shared memory, so a type with invalid bit patterns (bool,
/// an enum) from an untrusted peer must be checked after receiving.
template <class T>
concept Shareable = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && sizeof(T) <= detail::kMaxMessageBytes &&
                    alignof(T) <= detail::kMaxAlign;

/// The sending end of a channel of T.
template <Shareable T>
class Sender : public Endpoint {
 public:
  Sender() = default;

  /// Sends if there is room now: ok, full or closed.
  SendResult try_send(const T& value) noexcept { return end_ ? end_->try_send(&value, sizeof(T)) : SendResult::closed; }
  /// Waits for room (spin, yield, park): ok or closed.
  SendResult send(const T& value) noexcept { return send_until(value, absl::InfiniteFuture()); }
  /// Waits at most `timeout` for room: ok, timeout or closed.
  SendResult send_for(const T& value, absl::Duration timeout) noexcept {
    return send_until(value, absl::Now() + timeout);
  }
  /// Sends the longest prefix that fits now; `count` says how many. Status ok when all
  /// did, full when some did not, closed when none could.
  SendBatchResult send_batch(std::span<const T> values) noexcept {
    if (!end_) return {0, SendResult::closed};
    return end_->send_many(reinterpret_cast<const std::byte*>(values.data()), sizeof(T), sizeof(T), values.size());
  }

 private:
  friend struct detail::EndFactory;
  explicit Sender(std::unique_ptr<detail::RingEnd> end) noexcept : Endpoint(std::move(end)) {}
  SendResult send_until(const T& value, absl::Time deadline) noexcept {
    return end_ ? end_->send_until(&value, sizeof(T), deadline) : SendResult::closed;
  }
};

/// The sending end of a channel of byte messages, each 0..max_message_bytes() long.
class ByteSender : public Endpoint {
 public:
  ByteSender() = default;

  /// Sends if there is room now: ok, full or closed; invalid (nothing sent) for a
  /// message longer than max_message_bytes().
  SendResult try_send(std::span<const std::byte> message) noexcept {
    if (!end_) return SendResult::closed;
    if (message.size() > end_->message_bytes()) return SendResult::invalid;
    return end_->try_send(message.data(), static_cast<std::uint32_t>(message.size()));
  }
  /// Waits for room: ok, closed, or invalid as try_send.
  SendResult send(std::span<const std::byte> message) noexcept { return send_until(message, absl::InfiniteFuture()); }
  /// Waits at most `timeout` for room: ok, timeout, closed, or invalid as try_send.
  SendResult send_for(std::span<const std::byte> message, absl::Duration timeout) noexcept {
    return send_until(message, absl::Now() + timeout);
  }
  /// The longest message this channel carries.
  std::size_t max_message_bytes() const noexcept { return end_ ? end_->message_bytes() : 0; }

 private:
  friend struct detail::EndFactory;
  explicit ByteSender(std::unique_ptr<detail::RingEnd> end) noexcept : Endpoint(std::move(end)) {}
  SendResult send_until(std::span<const std::byte> message, absl::Time deadline) noexcept {
    if (!end_) return SendResult::closed;
    if (message.size() > end_->message_bytes()) return SendResult::invalid;
    return end_->send_until(message.data(), static_cast<std::uint32_t>(message.size()), deadline);
  }
};

}  // namespace sn::ipc
