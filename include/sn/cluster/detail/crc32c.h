// CRC32C (Castagnoli), the checksum of a cluster frame (see sn/cluster/wire.h for why
// this one). Defined in src/cluster/crc32c.cc: SSE4.2's crc32 instruction where the CPU
// has it, a table otherwise; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sn::detail {

/// The CRC32C of `bytes` appended to data whose CRC32C was `crc` (0 for no data), so that
/// crc32c_extend(crc32c_extend(0, a), b) == crc32c_extend(0, a + b). The standard check
/// value holds: crc32c_extend(0, "123456789") == 0xE3069283.
std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;

/// The same with the table alone, whatever the CPU (the tests compare the two paths).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;

}  // namespace sn::detail
