// Cluster: this process's membership of an MPI job (mpirun -np N ./app), the one object
// that starts and stops MPI. No MPI type appears here; mpi.h stays in src/cluster/.
//
// Threads: MPI is initialised, used and finalised by one transport thread that the
// Cluster starts and owns. So MPI needs only MPI_THREAD_FUNNELED (only the thread that
// initialised MPI calls it), no thread of the program ever blocks inside MPI, and MPI's
// own locks (MPI_THREAD_MULTIPLE) stay off the path. The methods below may be called from
// any thread: each hands its work to the transport thread and waits for it.
//
// Errors: MPI's handlers are set to return errors (MPI_ERRORS_RETURN), and every failure
// comes back as an absl::Status naming the MPI call and MPI's own message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sn {
namespace detail {
class ClusterEndpoint;
}  // namespace detail

/// This process's rank in an MPI job, and the transport thread that alone calls MPI.
/// One per process, once: MPI cannot be initialised again after it was finalised.
class Cluster {
 public:
  /// Starts the transport thread, which initialises MPI (MPI_THREAD_FUNNELED) and takes a
  /// private communicator (a duplicate of MPI_COMM_WORLD). FailedPrecondition when a
  /// Cluster already existed in this process or MPI is already initialised; Internal
  /// when MPI fails or cannot provide the thread level.
  static absl::StatusOr<std::unique_ptr<Cluster>> create();

  /// Finalises MPI on the transport thread and joins it. Every rank must destroy its
  /// Cluster (MPI_Finalize is collective).
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  /// This process's rank, in [0, size()).
  int rank() const noexcept;
  /// The number of ranks in the job.
  int size() const noexcept;
  /// The MPI library's version string (MPI_Get_library_version), for logs.
  const std::string& library_version() const noexcept;

  /// Waits until every rank has called barrier(). Collective.
  absl::Status barrier();
  /// Every rank's `value`, indexed by rank. Collective.
  absl::StatusOr<std::vector<std::uint64_t>> all_gather(std::uint64_t value);
  /// Sends `out` to rank `to` while receiving up to in.size() bytes from rank `from`
  /// (MPI_Sendrecv); returns the bytes received. Both peers must call it.
  absl::StatusOr<std::size_t> send_receive(int to, std::span<const std::byte> out, int from, std::span<std::byte> in);
  /// Runs `job` on the transport thread, the only thread that may call MPI, and waits for
  /// it: for programs and benchmarks that make MPI calls of their own (on MPI_COMM_WORLD
  /// or communicators they create). While it runs, this rank's cluster pools send and
  /// receive nothing, and their peers' watchdogs keep counting.
  void with_mpi(const std::function<void()>& job);

 private:
  friend class detail::ClusterEndpoint;  // attaches to the transport thread's loop
  struct Impl;                           // the transport thread and the MPI handles (src/cluster/cluster.cc)
  explicit Cluster(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sn
