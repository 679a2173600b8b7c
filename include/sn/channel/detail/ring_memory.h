// Internal: where a channel's slots live. A ring's memory is checked against what the
// machine can give when the channel is created and committed lazily, page by page, as
// the slots are first written: an empty channel of any size costs address space only.
//
// Small rings come from the global allocator, large ones straight from the kernel
// (anonymous pages, zero until written). Either way the bytes are zero when handed out,
// which is every slot's initial state (see Ring's sequence encoding).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace sn::detail {

/// Bytes this process can still commit: the kernel's MemAvailable, lowered to the room
/// left under the process's cgroup memory limit when there is one. Read at each call.
std::uint64_t available_memory_bytes() noexcept;

/// Zeroed memory for a ring of `bytes` bytes aligned to `align` (a power of two no larger
/// than a page). ResourceExhausted when `bytes` exceeds available_memory_bytes() or the
/// system refuses; the message names both figures.
absl::StatusOr<void*> allocate_ring(std::size_t bytes, std::size_t align) noexcept;

/// Returns memory from allocate_ring(bytes, align).
void free_ring(void* p, std::size_t bytes, std::size_t align) noexcept;

}  // namespace sn::detail
