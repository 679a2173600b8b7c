// Cluster: the transport thread that alone initialises, calls and finalises MPI
// (MPI_THREAD_FUNNELED), its loop, and the small queue of jobs that other threads hand it.
#include "sn/cluster/cluster.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster_impl.h"
#include "mpi_error.h"

namespace sn {
namespace {

using detail::mpi_status;

/// Set by the first create(): MPI allows one initialisation per process.
std::atomic<bool> g_cluster_created{false};

/// How the transport thread idles. It polls for kSpinFor after its last work, so that a
/// reply coming back within a round trip (a few microseconds over shared memory, tens
/// over a LAN) finds it awake; then it naps, first for kFirstNap, doubling up to
/// kLongestNap, waking early for a client's deadline, a job or a producer's doorbell. A
/// frame that arrives during a nap waits for its end: at most kLongestNap once the rank
/// has been quiet for a while, kFirstNap right after work.
constexpr absl::Duration kSpinFor = absl::Microseconds(50);
constexpr absl::Duration kFirstNap = absl::Microseconds(10);
constexpr absl::Duration kLongestNap = absl::Milliseconds(1);

}  // namespace

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
  absl::Time last_work = absl::Now();
  absl::Duration nap = kFirstNap;
  while (run_jobs()) {
    const detail::LoopTurn t = turn_all();
    const absl::Time now = absl::Now();
    if (t.worked) {
      last_work = now;
      nap = kFirstNap;
    } else if (now - last_work >= kSpinFor) {
      wait_idle(std::min(t.deadline, now + nap));
      nap = std::min(nap * 2, kLongestNap);
    }
  }
  if (skip_finalize) return;  // MPI_Finalize is collective: a dead peer would hang it
  MPI_Comm_free(&comm);
  MPI_Finalize();
}

bool Cluster::Impl::run_jobs() {
  std::deque<Job> ready;
  {
    std::lock_guard lock(mutex);
    if (jobs.empty()) return !stop;
    ready.swap(jobs);
  }
  for (Job& job : ready) job();
  return true;
}

detail::LoopTurn Cluster::Impl::turn_all() {
  detail::LoopTurn all;
  const absl::Time now = absl::Now();
  for (detail::LoopClient* client : clients) {
    const detail::LoopTurn t = client->turn(now);
    all.worked = all.worked || t.worked;
    all.deadline = std::min(all.deadline, t.deadline);
  }
  for (std::size_t i = 0; i < pending.size();) {
    int done = 0;
    const int rc = MPI_Test(&pending[i].request, &done, MPI_STATUS_IGNORE);
    if (rc == MPI_SUCCESS && done == 0) {
      ++i;
      continue;
    }
    Pending p = std::move(pending[i]);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    p.done(mpi_status(rc, "MPI_Test"));
    all.worked = true;
  }
  if (!pending.empty()) all.deadline = std::min(all.deadline, now + absl::Microseconds(50));
  return all;
}

void Cluster::Impl::wait_idle(absl::Time deadline) {
  const absl::Duration wait = std::clamp(deadline - absl::Now(), absl::ZeroDuration(), kLongestNap);
  if (wait == absl::ZeroDuration()) return;
  std::unique_lock lock(mutex);
  sleeping.store(true, std::memory_order_seq_cst);  // pairs with ring()'s seq_cst load
  wake.wait_for(lock, absl::ToChronoNanoseconds(wait), [&] { return kicked || stop || !jobs.empty(); });
  kicked = false;
  sleeping.store(false, std::memory_order_relaxed);
}

void Cluster::Impl::post(Job job) {
  {
    std::lock_guard lock(mutex);
    jobs.push_back(std::move(job));
  }
  wake.notify_one();
}

void Cluster::Impl::ring() noexcept {
  // seq_cst with wait_idle's store: either the sleeper sees the producer's work on its
  // next turn, or this load sees it asleep and wakes it; a missed ring costs at most the
  // 1 ms sleep.
  if (!sleeping.load(std::memory_order_seq_cst)) return;
  {
    std::lock_guard lock(mutex);
    kicked = true;
  }
  wake.notify_one();
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
  // Non-blocking on the transport thread, so that frames keep moving while ranks arrive.
  std::promise<absl::Status> result;
  std::future<absl::Status> done = result.get_future();
  impl_->post([this, &result] {
    Impl::Pending p;
    if (absl::Status s = mpi_status(MPI_Ibarrier(impl_->comm, &p.request), "MPI_Ibarrier"); !s.ok()) {
      result.set_value(std::move(s));
      return;
    }
    p.done = [&result](absl::Status s) { result.set_value(std::move(s)); };
    impl_->pending.push_back(std::move(p));
  });
  return done.get();
}

absl::StatusOr<std::vector<std::uint64_t>> Cluster::all_gather(std::uint64_t value) {
  std::vector<std::uint64_t> all(static_cast<std::size_t>(impl_->size));
  std::promise<absl::Status> result;
  std::future<absl::Status> done = result.get_future();
  impl_->post([&] {
    Impl::Pending p;
    if (absl::Status s =
            mpi_status(MPI_Iallgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, impl_->comm, &p.request),
                       "MPI_Iallgather");
        !s.ok()) {
      result.set_value(std::move(s));
      return;
    }
    p.done = [&result](absl::Status s) { result.set_value(std::move(s)); };
    impl_->pending.push_back(std::move(p));
  });
  if (absl::Status s = done.get(); !s.ok()) return s;
  return all;
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
