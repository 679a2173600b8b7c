#include "sn/detail/check.h"

#include <cstdio>
#include <cstdlib>

namespace sn::detail {

void check_failed(const char* condition, const char* message, const char* file, int line) noexcept {
  std::fprintf(stderr, "shared_nothing: contract violated at %s:%d: %s (%s)\n", file, line, message, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace sn::detail
