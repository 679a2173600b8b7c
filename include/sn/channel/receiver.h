// The receiving handle of a channel. See spsc.h, mpsc.h and mpmc.h for each kind's contract.
#pragma once

#include <cstddef>
#include <optional>
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

/// Receives values from a channel.
///
/// Threads: a handle is used by one thread at a time. SPSC and MPSC receivers are
/// move-only: exactly one consumer thread. MPMC receivers are copyable: give each
/// consumer thread its own copy.
///
/// After the channel is closed, receivers still get every value that was sent before,
/// and see `closed` only once the channel is drained. An empty handle reports `closed`.
template <class T, ChannelKind K>
class Receiver : public detail::Endpoint<T, K> {
 public:
  /// An empty handle: every receive returns `closed`.
  Receiver() noexcept = default;

  /// Takes over `other`'s place on the channel; `other` becomes empty.
  Receiver(Receiver&& other) noexcept : Base(std::exchange(other.ring_, nullptr)) {}
  /// Drops this handle (as the destructor does), then takes over `other`'s place.
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      reset();
      ring_ = std::exchange(other.ring_, nullptr);
    }
    return *this;
  }

  /// Copies share the channel. MPMC only.
  Receiver(const Receiver& other) noexcept requires(K == ChannelKind::mpmc) : Base(other.ring_) {
    if (ring_ != nullptr) ring_->add_receiver();
  }
  /// Drops this handle (as the destructor does), then becomes a copy of `other`.
  Receiver& operator=(const Receiver& other) noexcept requires(K == ChannelKind::mpmc) {
    if (this != &other) *this = Receiver(other);
    return *this;
  }

  /// Dropping the last receiver closes the channel: further sends fail with `closed`,
  /// and the values still inside are destroyed at once (counted in stats().discarded),
  /// as in Go and Rust. A value that a sender was publishing at that moment is
  /// destroyed by that sender before its send returns.
  ~Receiver() { reset(); }

  /// Receives without waiting: `ok` (the value is move-assigned to `out`), `empty`, or
  /// `closed` (closed and drained). `out` is untouched unless `ok`.
  /// T's move assignment must not throw (a throw would lose the value, which has already
  /// left the channel); for other types use the std::optional overload.
  RecvResult try_recv(T& out) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<T>,
                  "try_recv(T&) needs a noexcept move assignment; use try_recv(std::optional<T>&)");
    if (ring_ == nullptr) return RecvResult::closed;
    [[maybe_unused]] auto role = role_.enter(kRole);
    return ring_->try_pop(1, [&](T&& v) { out = std::move(v); }).status;
  }
  /// As above, for types that are not default-constructible: emplaces into `out`.
  RecvResult try_recv(std::optional<T>& out) noexcept {
    if (ring_ == nullptr) return RecvResult::closed;
    [[maybe_unused]] auto role = role_.enter(kRole);
    return ring_->try_pop(1, [&](T&& v) { out.emplace(std::move(v)); }).status;
  }

  /// Receives, waiting while the channel is empty. Returns `ok` or `closed`.
  RecvResult recv(T& out) noexcept { return recv_until(out, absl::InfiniteFuture()); }
  /// Receives, waiting at most `timeout`. Returns `ok`, `timeout` or `closed`.
  RecvResult recv_for(T& out, absl::Duration timeout) noexcept { return recv_until(out, absl::Now() + timeout); }

  /// Receives up to out.size() values without waiting, move-assigning them to out[0, count),
  /// and frees their slots with one index update. Status: `ok` when count > 0, else
  /// `empty` or `closed`.
  RecvBatchResult recv_batch(std::span<T> out) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<T>,
                  "recv_batch move-assigns into the caller's storage and must not throw");
    if (ring_ == nullptr) return {0, RecvResult::closed};
    if (out.empty()) return {0, ring_->state_when_nothing_ready()};
    [[maybe_unused]] auto role = role_.enter(kRole);
    std::size_t i = 0;
    return ring_->try_pop(out.size(), [&](T&& v) { out[i++] = std::move(v); });
  }

  /// Hands up to `max` values to `fn(T&&)` in order, without waiting or copying into
  /// intermediate storage. For SPSC and MPSC the slots are freed with one index update.
  /// If `fn` throws, values already handed over stay consumed and the rest stay queued.
  /// `fn` must not call back into this receiver (debug builds check this).
  template <class Fn>
  RecvBatchResult consume(std::size_t max, Fn&& fn) {
    if (ring_ == nullptr) return {0, RecvResult::closed};
    if (max == 0) return {0, ring_->state_when_nothing_ready()};
    [[maybe_unused]] auto role = role_.enter(kRole);
    if constexpr (K == ChannelKind::mpmc) {
      // Claim one at a time: a throwing fn must not strand slots claimed by this consumer.
      RecvBatchResult total{0, RecvResult::empty};
      while (total.count < max) {
        const RecvBatchResult r = ring_->try_pop(1, fn);
        if (r.count == 0) return total.count == 0 ? r : total;
        total = {total.count + 1, RecvResult::ok};
      }
      return total;
    } else {
      return ring_->try_pop(max, fn);
    }
  }

  /// Whether a receive would find a value now, without taking it. Exact for SPSC and
  /// MPSC (the one consumer calls it); only a hint for MPMC, where another consumer may
  /// take the value first. False for an empty handle.
  bool ready() const noexcept { return ring_ != nullptr && ring_->has_ready(); }

 private:
  using Base = detail::Endpoint<T, K>;
  using Base::ring_;
  using typename Base::Ring;
  template <class>
  friend struct Channel;

  explicit Receiver(Ring* ring) noexcept : Base(ring) {}

  void reset() noexcept {
    if (ring_ != nullptr) std::exchange(ring_, nullptr)->drop_receiver();
  }

  RecvResult recv_until(T& out, absl::Time deadline) noexcept {
    if (ring_ == nullptr) return RecvResult::closed;
    return sync::block_on(ring_->receivers_lot(), ring_->wait_policy(), ring_->asymmetric(), deadline,
                          RecvResult::empty, RecvResult::timeout, [&] { return try_recv(out); });
  }

  static constexpr const char* kRole = "a receiver handle was used by two threads at once";

  [[no_unique_address]] detail::RoleGuard role_;  // debug builds only
};

}  // namespace sn
