// RoundRobinPartitioner: even spread per producer, no key affinity.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sn/partitioners/partitioner.h"

namespace sn {

/// Sends each producer thread's messages to the workers in turn, ignoring the key.
///
/// No key affinity: two messages with the same key may reach different workers, so use
/// it only for work that any worker may handle (stateless jobs, load spreading). The
/// position is kept per thread (thread_local), so producers never share a counter and
/// the hot path has no atomic; each producer's sends spread evenly, and all of them
/// together spread evenly on average.
struct RoundRobinPartitioner {
  /// The next worker index for the calling thread, below `workers`; the key is ignored.
  std::size_t operator()(std::uint64_t /*key*/, std::size_t workers) const noexcept {
    thread_local std::size_t next = 0;
    if (next >= workers) next = 0;
    return next++;
  }
};
static_assert(Partitioner<RoundRobinPartitioner>);

}  // namespace sn
