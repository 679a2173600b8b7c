// Cluster::Impl: the transport thread. It alone initialises, calls and finalises MPI
// (MPI_THREAD_FUNNELED). Each turn it runs the jobs other threads handed it, lets every
// attached loop client (a ClusterPool's endpoint) move its frames, and tests the
// non-blocking collectives in progress; when a turn finds nothing to do it spins briefly,
// then sleeps until a doorbell, a client's deadline, or a short timeout.
#pragma once

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sn/cluster/cluster.h"

namespace sn {
namespace detail {

/// What a loop client did in one turn.
struct LoopTurn {
  bool worked = false;                           ///< Something moved: turn again at once.
  absl::Time deadline = absl::InfiniteFuture();  ///< When it next needs a turn, at the latest.
};

/// Something the transport thread gives a turn to, on the transport thread only.
class LoopClient {
 public:
  virtual LoopTurn turn(absl::Time now) = 0;

 protected:
  ~LoopClient() = default;
};

}  // namespace detail

struct Cluster::Impl {
  using Job = std::function<void()>;
  /// A non-blocking MPI request and what to do when it completes (on the transport thread).
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::function<void(absl::Status)> done;
  };

  /// Runs on the transport thread: initialise, turn until stopped, finalise.
  void serve(std::promise<absl::Status>& started);
  absl::Status initialise();
  /// Runs `job` on the transport thread and waits for it.
  template <class F>
  auto run(F&& job) -> decltype(job());
  /// Hands `job` to the transport thread without waiting.
  void post(Job job);
  /// Wakes the transport thread if it sleeps. Any thread.
  void ring() noexcept;

  int rank = 0;
  int size = 0;
  std::string version;
  MPI_Comm comm = MPI_COMM_NULL;

  // Transport thread only.
  std::vector<detail::LoopClient*> clients;
  std::vector<Pending> pending;
  bool skip_finalize = false;  // a peer failed: MPI_Finalize would wait for it forever

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> jobs;  // guarded by mutex
  bool stop = false;     // guarded by mutex
  bool kicked = false;   // guarded by mutex: a doorbell rang while sleeping
  std::atomic<bool> sleeping{false};
  std::thread thread;

 private:
  /// Runs the jobs waiting now; false when stop was asked and none is left.
  bool run_jobs();
  /// Turns every client and tests the pending requests.
  detail::LoopTurn turn_all();
  void wait_idle(absl::Time deadline);
};

template <class F>
auto Cluster::Impl::run(F&& job) -> decltype(job()) {
  using R = decltype(job());
  std::packaged_task<R()> task(std::forward<F>(job));
  std::future<R> result = task.get_future();
  post([&task] { task(); });
  return result.get();
}

}  // namespace sn
