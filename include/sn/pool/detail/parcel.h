// Internal: what travels in a pool's channels, and the 32-bit send stamp it may carry.
#pragma once

#include <chrono>
#include <cstdint>

#include "sn/worker/envelope.h"

namespace sn::detail {

/// Send times travel as 32-bit stamps in units of 2^5 ns (32 ns): they wrap every 137 s,
/// and a receiver recovers the full time from its own clock for any message younger
/// than that.
class SendStamp {
 public:
  static constexpr int kShift = 5;

  static std::uint32_t now() noexcept { return static_cast<std::uint32_t>(steady_ns() >> kShift); }

  static std::chrono::steady_clock::time_point recover(std::uint32_t stamp) noexcept {
    const std::uint64_t now_units = steady_ns() >> kShift;
    const std::uint32_t age = static_cast<std::uint32_t>(now_units) - stamp;  // mod 2^32
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds((now_units - age) << kShift));
  }

 private:
  static std::uint64_t steady_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
};

/// What travels in the queues. The handler's Envelope is built from it; its sequence
/// number is counted by the receiver, so it takes no room here. With an 8-byte message
/// a slot is 32 bytes: two per cache line, none straddling two lines (a straddling slot
/// costs the consumer a second cache miss).
template <class M>
struct Parcel {
  M payload;
  std::uint64_t key;
  Source source;
  std::uint32_t stamp;  // SendStamp, only with PoolConfig::timestamps
};

}  // namespace sn::detail
