// What the test process has committed: its resident size, for tests that check a ring's
// memory is committed only as it is used.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>

namespace sn::test {

/// The process's resident memory in bytes, from /proc/self/statm; 0 when unreadable.
inline std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int read = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return read == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace sn::test
