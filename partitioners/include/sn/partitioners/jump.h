// JumpHashPartitioner: Lamping and Veach's jump consistent hash.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "sn/partitioners/key.h"
#include "sn/partitioners/partitioner.h"

namespace sn {

/// Jump consistent hash ("A Fast, Minimal Memory, Consistent Hash Algorithm", Lamping and
/// Veach, 2014). No memory, even spread, and growth from n to n+1 workers moves only the
/// keys that go to the new worker (about 1/(n+1) of them). Only appending and removing
/// the last worker are supported; to remove a worker in the middle, use
/// ConsistentHashPartitioner. Costs O(log n) per key.
struct JumpHashPartitioner {
  /// The index of the worker that owns `key` among `workers` workers.
  constexpr std::size_t operator()(std::uint64_t key, std::size_t workers) const noexcept {
    std::uint64_t k = stable_hash(key);  // structured keys (0, 1, 2...) spread like random ones
    std::int64_t b = -1;
    std::int64_t j = 0;
    // Counts of 2^63 or more would turn negative; no pool has that many workers anyway.
    const auto n = static_cast<std::int64_t>(std::min<std::size_t>(workers, std::numeric_limits<std::int64_t>::max()));
    while (j < n) {
      b = j;
      k = k * 2862933555777941757ULL + 1;
      const double next = static_cast<double>(b + 1) *
                          (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((k >> 33) + 1));
      // A jump past n ends the loop as it would after the conversion, without converting
      // a value that may not fit in 64 bits (huge counts).
      j = next < static_cast<double>(n) ? static_cast<std::int64_t>(next) : n;
    }
    return static_cast<std::size_t>(b);
  }
};
static_assert(Partitioner<JumpHashPartitioner>);

}  // namespace sn
