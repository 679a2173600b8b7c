// A rank killed mid-run (ctest label `mpi`): under
//   mpirun --enable-recovery -np 3 cluster_fault_mpi_test
// rank 2 kills itself (SIGKILL) while every rank sends to every other; ranks 0 and 1 must
// see their pool stop with Unavailable naming rank 2, within 10 seconds of the kill, and
// their shutdown() return that status instead of waiting for the dead rank. Each survivor
// exits 0 only when that holds, so mpirun's exit code is the verdict. (Without
// --enable-recovery, mpirun itself kills the whole job as soon as one rank dies.)
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/cluster/cluster.h"
#include "sn/cluster/cluster_pool.h"

namespace {

struct Count : sn::Worker<std::uint64_t, std::uint64_t> {
  void handle_message(std::uint64_t& n, sn::Envelope<std::uint64_t>) { ++n; }
};

int survive(sn::ClusterPool<Count>& pool, absl::Time killed_at) {
  // Keep sending (to every rank, the dead one included) until the watchdog stops the pool.
  std::uint64_t key = 0;
  while (pool.status().ok() && absl::Now() - killed_at < absl::Seconds(20)) {
    (void)pool.send(key++, std::uint64_t{1});
    if (key % 64 == 0) absl::SleepFor(absl::Microseconds(200));
  }
  const absl::Duration noticed = absl::Now() - killed_at;
  const absl::Status seen = pool.status();
  const absl::Status shut = pool.shutdown();
  const absl::Duration ended = absl::Now() - killed_at;
  std::printf("rank %d: status after %s: %s; shutdown after %s: %s\n", pool.rank(),
              absl::FormatDuration(noticed).c_str(), seen.ToString().c_str(), absl::FormatDuration(ended).c_str(),
              shut.ToString().c_str());
  const bool ok = seen.code() == absl::StatusCode::kUnavailable && absl::StrContains(seen.message(), "rank 2") &&
                  shut.code() == absl::StatusCode::kUnavailable && ended < absl::Seconds(10);
  std::printf("rank %d: %s\n", pool.rank(), ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  auto cluster = sn::Cluster::create();
  if (!cluster.ok()) {
    std::fprintf(stderr, "sn::Cluster::create: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  if ((*cluster)->size() != 3) {
    std::fprintf(stderr, "run with 3 ranks\n");
    return 1;
  }
  sn::ClusterOptions options;
  options.heartbeat_every = absl::Milliseconds(50);
  options.peer_timeout = absl::Seconds(2);
  auto pool = sn::ClusterPool<Count>::create(**cluster, sn::PoolConfig().with_num_workers(1), options);
  if (!pool.ok()) {
    std::fprintf(stderr, "create: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  // Every rank sends for a while, so that frames are in flight when rank 2 dies.
  const absl::Time start = absl::Now();
  for (std::uint64_t key = 0; absl::Now() - start < absl::Milliseconds(300); ++key) {
    (void)(*pool)->send(key, std::uint64_t{1});
  }
  if ((*cluster)->rank() == 2) std::raise(SIGKILL);
  const int rc = survive(**pool, absl::Now());
  // Leave without the collective teardown: the dead rank would never join it.
  std::fflush(stdout);
  std::_Exit(rc);
}
