// Ring memory: the availability check and the two allocators behind allocate_ring().
#include "sn/channel/detail/ring_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sn::detail {
namespace {

// Rings from this size on are mapped from the kernel: zero pages cost nothing until a
// slot on them is written, and freeing returns them at once.
constexpr std::size_t kMapThreshold = std::size_t{256} << 10;
constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

/// The value of `key` in /proc/meminfo, in bytes; kUnlimited when it cannot be read.
std::uint64_t meminfo_bytes(const char* key) noexcept {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, key) || !absl::ConsumePrefix(&rest, ":")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    std::uint64_t kib = 0;
    if (absl::SimpleAtoi(rest, &kib)) return kib << 10;
  }
  return kUnlimited;
}

/// One number from a cgroup v2 file; kUnlimited for "max" or when it cannot be read.
std::uint64_t cgroup_number(const std::string& path) noexcept {
  std::ifstream in(path);
  std::string word;
  std::uint64_t v = 0;
  if (!(in >> word) || !absl::SimpleAtoi(word, &v)) return kUnlimited;
  return v;
}

/// Room left under this process's cgroup v2 memory limit; kUnlimited without one.
std::uint64_t cgroup_room() noexcept {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "0::")) continue;  // the unified hierarchy
    const std::string dir = absl::StrCat("/sys/fs/cgroup", rest);
    const std::uint64_t max = cgroup_number(dir + "/memory.max");
    if (max == kUnlimited) return kUnlimited;
    const std::uint64_t current = cgroup_number(dir + "/memory.current");
    return current == kUnlimited ? max : (current >= max ? 0 : max - current);
  }
  return kUnlimited;
}

}  // namespace

std::uint64_t available_memory_bytes() noexcept {
  std::uint64_t available = meminfo_bytes("MemAvailable");
  if (available == kUnlimited) {
    // No MemAvailable (not Linux, or /proc missing): fall back to the physical size.
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) available = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
  }
  return std::min(available, cgroup_room());
}

absl::StatusOr<void*> allocate_ring(std::size_t bytes, std::size_t align) noexcept {
  if (bytes >= kMapThreshold) {
    const std::uint64_t available = available_memory_bytes();
    if (bytes > available) {
      return absl::ResourceExhaustedError(absl::StrCat("sn::Channel: the ring needs ", bytes, " bytes, more than the ",
                                                       available, " bytes of memory available now"));
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("sn::Channel: cannot map ", bytes, " bytes for the ring: ", std::strerror(errno)));
    }
    return p;
  }
  void* p = ::operator new (bytes, std::align_val_t{align}, std::nothrow);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("sn::Channel: cannot allocate ", bytes, " bytes for the ring"));
  }
  std::memset(p, 0, bytes);
  return p;
}

void free_ring(void* p, std::size_t bytes, std::size_t align) noexcept {
  if (p == nullptr) return;
  if (bytes >= kMapThreshold) {
    ::munmap(p, bytes);
  } else {
    ::operator delete (p, std::align_val_t{align});
  }
}

}  // namespace sn::detail
