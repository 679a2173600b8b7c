// HashPartitioner: a stable hash of the key, reduced to a worker index.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sn/partitioners/key.h"
#include "sn/partitioners/partitioner.h"

namespace sn {

/// Sends each key to the worker picked by its stable hash: the same key always reaches
/// the same worker of a pool of a given size, in every process and on every machine,
/// and keys spread evenly. The reduction is a multiply-high, not a division. Changing
/// the worker count moves most keys (see JumpHashPartitioner for growth).
struct HashPartitioner {
  /// The index of the worker that owns `key` among `workers` workers.
  constexpr std::size_t operator()(std::uint64_t key, std::size_t workers) const noexcept {
    return reduce_to_range(stable_hash(key), workers);
  }
};
static_assert(Partitioner<HashPartitioner>);

}  // namespace sn
