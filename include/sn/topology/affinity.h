// Thread placement: which CPUs exist and pinning a thread to one.
// hwloc stays behind this header; it never appears in a public one.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sn {

/// Logical CPUs this process may run on (its affinity mask), in ascending order.
std::vector<int> allowed_cpus();

/// One logical CPU per physical core this process may run on (SMT siblings skipped),
/// in topology order. Falls back to allowed_cpus() when the topology cannot be read.
std::vector<int> physical_core_cpus();

/// Binds the calling thread to one logical CPU. InvalidArgument for a CPU outside
/// allowed_cpus(); Internal if the operating system refuses.
absl::Status pin_current_thread(int cpu);

/// The logical CPU the calling thread is running on right now, or an error.
absl::StatusOr<int> current_cpu();

}  // namespace sn
