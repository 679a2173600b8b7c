// Result codes of channel operations.
//
// Hot-path operations never throw and never allocate; they report expected outcomes
// (full, empty, closed, timed out) through these [[nodiscard]] enums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sn {

/// Outcome of a send. On anything but `ok` the value is still owned by the caller:
/// nothing was moved from it and nothing was constructed in the channel.
enum class [[nodiscard]] SendResult : std::uint8_t{
    ok,       ///< The value is in the channel.
    full,     ///< No free slot (try_send), or not all of a batch fit (send_batch).
    closed,   ///< The channel is closed, or the handle is empty (moved-from / failed creation).
    timeout,  ///< send_for: no slot became free before the deadline.
    dropped,  ///< Pool sends under FullPolicy::drop: no room, so the pool took the value (to its
              ///< dead-letter sink, or destroyed it) and counted it in its `dropped` statistics.
              ///< Channels never return this.
    invalid,  ///< Pool sends: the destination worker does not exist (an index out of range,
              ///< or a partitioner that returned one). The value is left with the caller.
};

/// Outcome of a receive.
enum class [[nodiscard]] RecvResult : std::uint8_t{
    ok,       ///< A value was received.
    empty,    ///< Nothing to receive right now; the channel is still open.
    closed,   ///< The channel is closed and fully drained, or the handle is empty.
    timeout,  ///< recv_for: nothing arrived before the deadline.
};

/// Outcome of a batch operation: how many values moved, and why it stopped.
template <class Result>
struct [[nodiscard]] BatchResult {
  std::size_t count = 0;  ///< Values moved (sent, or received into the caller's storage).
  Result status{};        ///< `ok` when every value moved (send) or at least one did (recv).
};

using SendBatchResult = BatchResult<SendResult>;  ///< Outcome of a batch send.
using RecvBatchResult = BatchResult<RecvResult>;  ///< Outcome of a batch receive.

/// The enumerator's name, such as "full".
constexpr std::string_view to_string(SendResult r) noexcept {
  switch (r) {
    case SendResult::ok: return "ok";
    case SendResult::full: return "full";
    case SendResult::closed: return "closed";
    case SendResult::timeout: return "timeout";
    case SendResult::dropped: return "dropped";
    case SendResult::invalid: return "invalid";
  }
  return "unknown";
}

/// The enumerator's name, such as "empty".
constexpr std::string_view to_string(RecvResult r) noexcept {
  switch (r) {
    case RecvResult::ok: return "ok";
    case RecvResult::empty: return "empty";
    case RecvResult::closed: return "closed";
    case RecvResult::timeout: return "timeout";
  }
  return "unknown";
}

}  // namespace sn
