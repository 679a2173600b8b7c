// Monitoring counters of a channel.
#pragma once

#include <cstdint>

namespace sn {

/// A snapshot of a channel's counters, readable from any thread through any handle.
///
/// Every counter is written only by the side that owns it (the producers' claim index,
/// the consumers' index, a per-sender-handle failure cell), so reading stats never
/// slows the hot path. Counters taken from different sides are read at slightly
/// different moments: the snapshot is consistent per counter, not across counters.
struct ChannelStats {
  std::uint64_t sent = 0;          ///< Values accepted by the channel.
  std::uint64_t received = 0;      ///< Values taken out by receivers.
  std::uint64_t send_full = 0;     ///< Send calls refused, in whole or in part, because the
                                   ///< channel was full: try_send, send_batch (also when only
                                   ///< part of the batch fit), send_for timing out.
  std::uint64_t send_closed = 0;   ///< Sends that failed because the channel was closed.
  std::uint64_t send_blocked = 0;  ///< Blocking sends (send, send_for) that had to wait for
                                   ///< space, whatever their outcome: the backpressure count.
  std::uint64_t approx_depth = 0;  ///< Values inside right now (sent - received - discarded);
                                   ///< approximate while others run.
  std::uint64_t capacity = 0;      ///< Slots in the ring (a power of two).
  bool closed = false;             ///< Whether the channel was closed when the snapshot was taken.
  std::uint64_t discarded = 0;     ///< Values destroyed unreceived because the last receiver
                                   ///< left while they were inside (last, so that positional
                                   ///< initialisers written before it keep their meaning).

  /// Send calls that did not deliver everything they were given.
  constexpr std::uint64_t send_errors() const noexcept { return send_full + send_closed; }
};

}  // namespace sn
