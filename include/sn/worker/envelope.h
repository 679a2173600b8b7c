// What a handler receives: the message with its routing key, its source, and optional
// metadata that the pool adds only when asked to.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

namespace sn {

/// Where a message came from: a worker of the same pool, or outside the pool.
class Source {
 public:
  /// A message from outside the pool.
  static constexpr Source external() noexcept { return Source(kExternal); }
  /// A message from worker `index`.
  static constexpr Source worker(std::size_t index) noexcept { return Source(static_cast<std::uint32_t>(index)); }

  /// Whether it came from outside the pool.
  constexpr bool is_external() const noexcept { return value_ == kExternal; }
  /// Whether a worker of the pool sent it.
  constexpr bool is_worker() const noexcept { return value_ != kExternal; }
  /// The sending worker's index; only meaningful when is_worker().
  constexpr std::size_t worker_index() const noexcept { return value_; }

  /// Equal when both name the same sender.
  friend constexpr bool operator==(Source, Source) = default;

 private:
  static constexpr std::uint32_t kExternal = std::numeric_limits<std::uint32_t>::max();
  constexpr explicit Source(std::uint32_t v) noexcept : value_(v) {}
  std::uint32_t value_;
};

/// A message as its handler sees it.
template <class Message>
struct Envelope {
  /// The message itself.
  Message payload;
  /// The routing key given to send(); 0 for send_to() and broadcast() unless one was given.
  std::uint64_t key = 0;
  /// Who sent it.
  Source source = Source::external();
  /// With PoolConfig::with_sequence_numbers(true): the message's position on its lane,
  /// counted from 0 in the order the lane accepted it. A lane is one (source, worker)
  /// pair, except that all external producers share the worker's inbox lane. Messages on
  /// one lane are handled in this order.
  std::optional<std::uint64_t> sequence;
  /// With PoolConfig::with_timestamps(true): when the send was made (steady clock, to
  /// 32 ns; exact for messages handled within 137 s of their send). Without it, no clock
  /// is read per message.
  std::optional<std::chrono::steady_clock::time_point> sent_at;
};

}  // namespace sn
