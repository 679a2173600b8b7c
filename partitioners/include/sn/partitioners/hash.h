// HashPartitioner: a stable hash of the key, reduced to a worker index.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sn/partitioners/partitioner.h"

namespace sn {

/// A stable 64-bit mix of an integer key (the MurmurHash3 finalizer): the same key gives
/// the same value in every process, run and machine, unlike absl::Hash, which is seeded
/// per process. Bijective, so distinct keys never collide before the reduction.
constexpr std::uint64_t stable_hash(std::uint64_t key) noexcept {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ULL;
  key ^= key >> 33;
  return key;
}

/// Sends each key to the worker picked by its stable hash: the same key always reaches
/// the same worker of a pool of a given size, and keys spread evenly.
struct HashPartitioner {
  constexpr std::size_t operator()(std::uint64_t key, std::size_t workers) const noexcept {
    return reduce_to_range(stable_hash(key), workers);
  }
};
static_assert(Partitioner<HashPartitioner>);

}  // namespace sn
