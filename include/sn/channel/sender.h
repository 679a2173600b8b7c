// The sending handle of a channel. See spsc.h, mpsc.h and mpmc.h for each kind's contract.
#pragma once

#include <cstddef>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/channel/detail/endpoint.h"
#include "sn/channel/detail/ring.h"
#include "sn/channel/result.h"
#include "sn/channel/stats.h"
#include "sn/detail/check.h"

namespace sn {

template <class T, ChannelKind K>
class Receiver;

/// Sends values into a channel.
///
/// Threads: a handle is used by one thread at a time. SPSC senders are move-only: exactly
/// one producer thread. MPSC and MPMC senders are copyable: give each producer thread its
/// own copy (each copy owns its own failure counters, so copies never share a hot line).
///
/// Every send that does not return `ok` leaves the value untouched with the caller.
/// An empty handle (moved-from, or from a failed creation) reports `closed`.
template <class T, ChannelKind K>
class Sender : public detail::Endpoint<T, K> {
  using Base = detail::Endpoint<T, K>;
  using Base::ring_;
  using typename Base::Ring;

 public:
  /// An empty handle: every send returns `closed`.
  Sender() noexcept = default;

  /// Takes over `other`'s place on the channel; `other` becomes empty.
  Sender(Sender&& other) noexcept
      : Base(std::exchange(other.ring_, nullptr)), cell_(std::exchange(other.cell_, nullptr)) {}
  /// Drops this handle (as the destructor does), then takes over `other`'s place.
  Sender& operator=(Sender&& other) noexcept {
    if (this != &other) {
      reset();
      ring_ = std::exchange(other.ring_, nullptr);
      cell_ = std::exchange(other.cell_, nullptr);
    }
    return *this;
  }

  /// Copies share the channel and keep it open. MPSC and MPMC only.
  /// Throws std::bad_alloc if the copy's counter cell cannot be allocated.
  Sender(const Sender& other) requires(K != ChannelKind::spsc) : Base() {
    if (other.ring_ != nullptr) {
      cell_ = other.ring_->new_counter_cell();
      if (cell_ == nullptr) throw std::bad_alloc();
      other.ring_->add_sender();
      ring_ = other.ring_;
    }
  }
  /// Drops this handle (as the destructor does), then becomes a copy of `other`.
  Sender& operator=(const Sender& other) requires(K != ChannelKind::spsc) {
    if (this != &other) *this = Sender(other);
    return *this;
  }

  /// Dropping the last sender closes the channel; receivers drain, then see `closed`.
  ~Sender() { reset(); }

  /// Sends without waiting. On `full` or `closed` the value is left with the caller.
  SendResult try_send(T&& value) noexcept { return count(attempt(value)); }
  /// Sends a copy of `value` without waiting; as try_send(T&&).
  SendResult try_send(const T& value) noexcept(
      std::is_nothrow_copy_constructible_v<T>) requires std::is_copy_constructible_v<T> {
    T copy(value);
    return try_send(std::move(copy));
  }

  /// Sends, waiting while the channel is full (backpressure). Returns `ok` or `closed`.
  SendResult send(T&& value) noexcept { return send_until(value, absl::InfiniteFuture()); }

  /// Sends, waiting at most `timeout` while the channel is full. Returns `ok`, `timeout`
  /// or `closed`; on anything but `ok` the value is left with the caller.
  SendResult send_for(T&& value, absl::Duration timeout) noexcept { return send_until(value, absl::Now() + timeout); }

  /// Sends as many values from the front of `values` as fit, publishing them with one
  /// index update. Never waits. Moved-from values are `values[0, count)`; the rest are
  /// untouched. Status: `ok` if all were sent, `full` if some or none fit, `closed`.
  /// An empty span returns {0, ok}, even on a closed channel; on an empty handle, {0, closed}.
  SendBatchResult send_batch(std::span<T> values) noexcept {
    if (ring_ == nullptr) return {0, SendResult::closed};
    if (values.empty()) return {0, SendResult::ok};
    [[maybe_unused]] auto role = role_.enter(kRole);
    const SendBatchResult r =
        ring_->try_push(values.size(), [&](std::size_t i) -> T&& { return std::move(values[i]); });
    (void)count(r.status);
    return r;
  }

  /// Sends without waiting, callable from many threads at once on this one handle
  /// (MPSC and MPMC only): for a handle a whole program shares, such as a pool's inbox.
  /// Unlike try_send it leaves the handle's failure counters alone (they belong to one
  /// thread); the caller counts its refusals. On anything but `ok`, `value` keeps the value.
  SendResult try_send_shared(T& value) const noexcept requires(K != ChannelKind::spsc) {
    if (ring_ == nullptr) return SendResult::closed;
    return ring_->try_push(1, [&](std::size_t) -> T&& { return std::move(value); }).status;
  }
  /// As try_send_shared, but waits (spin, yield, park) while the channel is full, until
  /// `deadline`. Returns `ok`, `closed` or `timeout`; on anything but `ok`, `value` keeps
  /// the value.
  SendResult send_shared_until(T& value, absl::Time deadline) const noexcept requires(K != ChannelKind::spsc) {
    const SendResult r = try_send_shared(value);
    if (r != SendResult::full) return r;
    return sync::block_on(ring_->senders_lot(), ring_->wait_policy(), ring_->asymmetric(), deadline, SendResult::full,
                          SendResult::timeout, [&] { return try_send_shared(value); });
  }

  /// Whether a try_send would find a free slot now, without sending. Exact for SPSC
  /// (the one producer calls it); only a hint for MPSC and MPMC, where other producers
  /// may take the slot first. False for an empty handle.
  bool has_room() noexcept { return ring_ != nullptr && ring_->has_room(); }

 private:
  template <class>
  friend struct Channel;

  Sender(Ring* ring, detail::SendCounterCell* cell) noexcept : Base(ring), cell_(cell) {}

  void reset() noexcept {
    if (ring_ == nullptr) return;
    ring_->retire_counter_cell(std::exchange(cell_, nullptr));
    std::exchange(ring_, nullptr)->drop_sender();
  }

  SendResult attempt(T& value) noexcept {
    if (ring_ == nullptr) return SendResult::closed;
    [[maybe_unused]] auto role = role_.enter(kRole);
    return ring_->try_push(1, [&](std::size_t) -> T&& { return std::move(value); }).status;
  }

  SendResult count(SendResult r) noexcept {
    if (r == SendResult::ok || cell_ == nullptr) return r;
    detail::SendCounterCell::bump(r == SendResult::closed ? cell_->closed : cell_->full);
    return r;
  }

  SendResult send_until(T& value, absl::Time deadline) noexcept {
    SendResult r = attempt(value);
    if (r != SendResult::full) return count(r);
    if (cell_ != nullptr) detail::SendCounterCell::bump(cell_->blocked);
    r = sync::block_on(ring_->senders_lot(), ring_->wait_policy(), ring_->asymmetric(), deadline, SendResult::full,
                       SendResult::timeout, [&] { return attempt(value); });
    (void)count(r == SendResult::timeout ? SendResult::full : r);  // a timeout failed for lack of space
    return r;
  }

  static constexpr const char* kRole = "a sender handle was used by two threads at once";

  detail::SendCounterCell* cell_ = nullptr;
  [[no_unique_address]] detail::RoleGuard role_;  // debug builds only
};

}  // namespace sn
