// Cache-line constants that shared_nothing uses to lay out concurrent data.
//
// We define our own values instead of std::hardware_destructive_interference_size:
// GCC warns that the standard constant is not ABI-stable, and on x86 the adjacent-line
// prefetcher pulls cache lines in pairs, so two fields 64 bytes apart still interfere.
#pragma once

#include <cstddef>

namespace sn {

/// Size of one hardware cache line on the targets we support (x86-64, AArch64).
inline constexpr std::size_t kCacheLineSize = 64;

/// Distance that keeps two independently written fields from sharing a prefetch pair.
/// Every group of fields written by one thread starts on a boundary of this size.
inline constexpr std::size_t kFalseSharingRange = 128;

static_assert(kFalseSharingRange % kCacheLineSize == 0);

}  // namespace sn
