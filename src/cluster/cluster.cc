// Cluster: the transport thread that alone initialises, calls and finalises MPI
// (MPI_THREAD_FUNNELED), and a small queue of jobs that other threads hand it.
#include "sn/cluster/cluster.h"

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "mpi_error.h"

namespace sn {
namespace {

using detail::mpi_status;

/// Set by the first create(): MPI allows one initialisation per process.
std::atomic<bool> g_cluster_created{false};

}  // namespace

struct Cluster::Impl {
  using Job = std::function<void()>;

  /// Runs on the transport thread: initialise, serve jobs until stop, finalise.
  void serve(std::promise<absl::Status>& started);
  absl::Status initialise();
  /// Runs `job` on the transport thread and waits for it.
  template <class F>
  auto run(F&& job) -> decltype(job());

  int rank = 0;
  int size = 0;
  std::string version;
  MPI_Comm comm = MPI_COMM_NULL;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> jobs;  // guarded by mutex
  bool stop = false;     // guarded by mutex
  std::thread thread;
};

absl::Status Cluster::Impl::initialise() {
  int provided = MPI_THREAD_SINGLE;
  if (absl::Status s = mpi_status(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      !s.ok()) {
    return s;
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    return absl::InternalError(
        absl::StrCat("MPI provides thread level ", provided, ", below MPI_THREAD_FUNNELED, which sn::Cluster needs"));
  }
  // Errors come back as codes from here on; MPI's default handler would abort the job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  absl::Status s = mpi_status(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
  if (s.ok()) s = mpi_status(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (s.ok()) s = mpi_status(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  if (s.ok()) s = mpi_status(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  if (s.ok()) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    if (MPI_Get_library_version(text, &length) == MPI_SUCCESS) version.assign(text, static_cast<std::size_t>(length));
  }
  if (!s.ok()) {
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    MPI_Finalize();
  }
  return s;
}

void Cluster::Impl::serve(std::promise<absl::Status>& started) {
  absl::Status s = initialise();
  const bool ok = s.ok();
  started.set_value(std::move(s));  // `started` is gone after this line
  if (!ok) return;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stop || !jobs.empty(); });
      if (jobs.empty()) break;  // stop, and every job handed over before it has run
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    job();
  }
  MPI_Comm_free(&comm);
  MPI_Finalize();
}

template <class F>
auto Cluster::Impl::run(F&& job) -> decltype(job()) {
  using R = decltype(job());
  std::packaged_task<R()> task(std::forward<F>(job));
  std::future<R> result = task.get_future();
  {
    std::lock_guard lock(mutex);
    jobs.emplace_back([&task] { task(); });
  }
  wake.notify_one();
  return result.get();
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::create() {
  if (g_cluster_created.exchange(true, std::memory_order_acq_rel)) {
    return absl::FailedPreconditionError("sn::Cluster: one per process (MPI cannot be initialised twice)");
  }
  int initialised = 0;
  MPI_Initialized(&initialised);  // callable before MPI_Init, from any thread
  if (initialised != 0) {
    return absl::FailedPreconditionError(
        "sn::Cluster: MPI is already initialised; let the Cluster initialise it on its transport thread");
  }
  auto impl = std::make_unique<Impl>();
  std::promise<absl::Status> started;
  std::future<absl::Status> status = started.get_future();
  impl->thread = std::thread([&impl = *impl, &started] { impl.serve(started); });
  if (absl::Status s = status.get(); !s.ok()) {
    impl->thread.join();
    return s;
  }
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

Cluster::Cluster(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

Cluster::~Cluster() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->wake.notify_one();
  impl_->thread.join();
}

int Cluster::rank() const noexcept { return impl_->rank; }
int Cluster::size() const noexcept { return impl_->size; }
const std::string& Cluster::library_version() const noexcept { return impl_->version; }

absl::Status Cluster::barrier() {
  return impl_->run([this] { return mpi_status(MPI_Barrier(impl_->comm), "MPI_Barrier"); });
}

absl::StatusOr<std::vector<std::uint64_t>> Cluster::all_gather(std::uint64_t value) {
  return impl_->run([this, value]() -> absl::StatusOr<std::vector<std::uint64_t>> {
    std::vector<std::uint64_t> all(static_cast<std::size_t>(impl_->size));
    if (absl::Status s = mpi_status(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, impl_->comm),
                                    "MPI_Allgather");
        !s.ok()) {
      return s;
    }
    return all;
  });
}

absl::StatusOr<std::size_t> Cluster::send_receive(int to, std::span<const std::byte> out, int from,
                                                  std::span<std::byte> in) {
  constexpr int kTag = 1;
  if (to < 0 || to >= size() || from < 0 || from >= size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::Cluster::send_receive: no rank ", to < 0 || to >= size() ? to : from, " among ", size()));
  }
  if (out.size() > static_cast<std::size_t>(INT32_MAX) || in.size() > static_cast<std::size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("sn::Cluster::send_receive: more than 2^31 - 1 bytes");
  }
  return impl_->run([&]() -> absl::StatusOr<std::size_t> {
    MPI_Status status;
    if (absl::Status s =
            mpi_status(MPI_Sendrecv(out.data(), static_cast<int>(out.size()), MPI_BYTE, to, kTag, in.data(),
                                    static_cast<int>(in.size()), MPI_BYTE, from, kTag, impl_->comm, &status),
                       "MPI_Sendrecv");
        !s.ok()) {
      return s;
    }
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    return static_cast<std::size_t>(count);
  });
}

void Cluster::with_mpi(const std::function<void()>& job) {
  impl_->run([&job] { job(); });
}

}  // namespace sn
