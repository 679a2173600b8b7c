// Putting a worker thread in place: CPU binding, NUMA memory binding and its name.
#include <hwloc.h>
#include <pthread.h>

#include <cstring>
#include <exception>
#include <string>

#include "absl/strings/str_cat.h"
#include "sn/pool/detail/pool_base.h"
#include "sn/topology/affinity.h"

namespace sn::detail {
namespace {

/// Binds the calling thread's future allocations to the NUMA node(s) of `cpu`. Returns
/// false where the machine or kernel does not support it (then memory stays first-touch,
/// which for a pinned thread is usually the same node).
bool bind_memory_near(int cpu) {
  hwloc_topology_t topology;
  if (hwloc_topology_init(&topology) != 0) return false;
  bool bound = false;
  if (hwloc_topology_load(topology) == 0) {
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topology, static_cast<unsigned>(cpu));
    if (pu != nullptr && pu->nodeset != nullptr) {
      bound = hwloc_set_membind(topology, pu->nodeset, HWLOC_MEMBIND_BIND,
                                HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) == 0;
    }
  }
  hwloc_topology_destroy(topology);
  return bound;
}

}  // namespace

absl::Status place_current_thread(int cpu, const std::string& name, bool* memory_bound) {
  // The kernel keeps 15 bytes of a thread's name; failure to name it is harmless.
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  *memory_bound = false;
  if (cpu < 0) return absl::OkStatus();
  if (absl::Status s = pin_current_thread(cpu); !s.ok()) return s;
  *memory_bound = bind_memory_near(cpu);
  return absl::OkStatus();
}

std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace sn::detail
