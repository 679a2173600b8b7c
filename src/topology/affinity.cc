// Thread placement through hwloc (topology) and the Linux scheduler (binding).
#include "sn/topology/affinity.h"

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sn {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

std::vector<int> physical_core_cpus() {
  const std::vector<int> allowed = allowed_cpus();
  hwloc_topology_t topology;
  if (hwloc_topology_init(&topology) != 0) return allowed;
  if (hwloc_topology_load(topology) != 0) {
    hwloc_topology_destroy(topology);
    return allowed;
  }
  std::vector<int> cpus;
  const int cores = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE);
  for (int i = 0; i < cores; ++i) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topology, HWLOC_OBJ_CORE, i);
    if (core == nullptr || core->cpuset == nullptr) continue;
    // The first of the core's processing units that we may run on; its siblings are skipped.
    for (int pu = hwloc_bitmap_first(core->cpuset); pu >= 0; pu = hwloc_bitmap_next(core->cpuset, pu)) {
      if (std::find(allowed.begin(), allowed.end(), pu) != allowed.end()) {
        cpus.push_back(pu);
        break;
      }
    }
  }
  hwloc_topology_destroy(topology);
  return cpus.empty() ? allowed : cpus;
}

absl::Status pin_current_thread(int cpu) {
  const std::vector<int> allowed = allowed_cpus();
  if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::pin_current_thread: CPU ", cpu, " is not in this process's affinity mask"));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("sn::pin_current_thread: pthread_setaffinity_np(", cpu, "): ", std::strerror(rc)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> current_cpu() {
  const int cpu = sched_getcpu();
  if (cpu < 0) return absl::InternalError(absl::StrCat("sched_getcpu: ", std::strerror(errno)));
  return cpu;
}

}  // namespace sn
