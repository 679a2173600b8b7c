// Which rank owns a key: the first half of the cluster's owner rule. The second half is
// the owning rank's own partitioner, which picks the worker there, as in a plain pool.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sn/partitioners/jump.h"
#include "sn/partitioners/key.h"

namespace sn {

/// Mixed into the routing value before the rank is chosen, so that the rank and the
/// worker within the rank (which the local partitioner derives from the same value) are
/// independent: without it, the keys one rank owns would crowd onto some of its workers.
inline constexpr std::uint64_t kRankSalt = 0x9e3779b97f4a7c15ULL;

/// The rank that owns routing value `routing` (sn::routing_key of the key) among `ranks`
/// ranks (at least 1). A pure function of its arguments, so every rank computes the same
/// owner without asking anyone. Jump consistent hash: an even spread, no memory, and
/// growing from n to n+1 ranks moves only the keys the new rank takes (1/(n+1) of them).
constexpr int owner_rank(std::uint64_t routing, int ranks) noexcept {
  return static_cast<int>(JumpHashPartitioner{}(stable_hash(routing) ^ kRankSalt, static_cast<std::size_t>(ranks)));
}

/// The same for a key of any type that sn::routing_key accepts.
template <class K>
int owner_rank_of(const K& key, int ranks) noexcept {
  return owner_rank(routing_key(key), ranks);
}

}  // namespace sn
