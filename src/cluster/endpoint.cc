// ClusterEndpoint's MPI half: the link and the transport on a communicator of its own,
// the turn the transport thread gives it, the termination waves, and the watchdog.
#include "sn/cluster/detail/endpoint.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <future>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster_impl.h"
#include "mpi_error.h"
#include "mpi_link.h"
#include "sn/cluster/cluster.h"
#include "sn/cluster/detail/transport.h"

namespace sn::detail {
namespace {

constexpr int kFrameTag = 16;  // and kFrameTag + 1 for control messages (MpiLink)
/// The least time between two termination waves that did not settle.
constexpr absl::Duration kWaveGap = absl::Microseconds(100);
/// While sends are in flight or deliveries wait, the loop turns at least this often.
constexpr absl::Duration kBusyTurn = absl::Microseconds(50);

}  // namespace

/// The transport thread's state for one endpoint.
struct ClusterEndpoint::Net final : LoopClient {
  Net(ClusterEndpoint& owner, Cluster::Impl& cluster) : self(owner), impl(cluster) {}

  LoopTurn turn(absl::Time now) override;
  absl::Status attach(MpscReceiver<SealedFrame> frames);
  /// Seals what is due or idle and hands it over; the batcher's next deadline.
  absl::Time seal_due(absl::Time now);
  void fail(absl::Status status);
  void progress_waves(absl::Time now);
  bool busy();
  /// Every rank agreed: count the records that never arrived, and answer `result`.
  void finish_waves(absl::Status result);
  void report_waiting(int seconds) const;
  std::uint64_t signature() const;

  ClusterEndpoint& self;
  Cluster::Impl& impl;
  MPI_Comm comm = MPI_COMM_NULL;
  std::unique_ptr<Transport> transport;  // destroyed after the link (its receives point here)
  std::unique_ptr<MpiLink> link;
  bool faulted = false;

  // Termination waves (Mattern's counting: two waves in a row that agree and balance).
  std::promise<absl::Status>* waiter = nullptr;
  bool ignore_local = false;
  bool wave_active = false;
  MPI_Request wave = MPI_REQUEST_NULL;
  // frames posted, frames arrived, ranks busy, ranks that see the totals stuck
  std::array<std::uint64_t, 4> wave_in{};
  std::array<std::uint64_t, 4> wave_out{};
  std::array<std::uint64_t, 4> settled{};
  absl::Time stuck_since = absl::InfiniteFuture();  // totals unchanged, unbalanced, nobody busy
  bool have_settled = false;
  absl::Time next_wave = absl::InfinitePast();
  std::uint64_t waves = 0;
  std::uint64_t lost = 0;  // records of rejected frames, learnt at the end of the waves
};

absl::Status ClusterEndpoint::Net::attach(MpscReceiver<SealedFrame> frames) {
  absl::Status s = mpi_status(MPI_Comm_dup(impl.comm, &comm), "MPI_Comm_dup");
  if (s.ok()) s = mpi_status(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (!s.ok()) return s;
  const ClusterOptions& o = self.options_;
  TransportOptions t;
  t.limits = o.limits;
  t.max_in_flight_per_destination = o.buffers_per_destination;
  t.receive_buffers = o.receive_buffers;
  t.credit_frames = o.credit_frames;
  t.heartbeat_every = o.heartbeat_every;
  absl::StatusOr<std::unique_ptr<MpiLink>> l = MpiLink::create(
      comm, kFrameTag, static_cast<std::size_t>(self.ranks_) * o.buffers_per_destination, o.receive_buffers);
  if (!l.ok()) return l.status();
  link = *std::move(l);
  absl::StatusOr<std::unique_ptr<Transport>> tr =
      Transport::create(*link, std::move(frames), t,
                        [this](int source, const RecordView& record) { return self.hooks_.deliver(source, record); });
  if (!tr.ok()) {
    link.reset();
    return tr.status();
  }
  transport = *std::move(tr);
  impl.clients.push_back(this);
  return absl::OkStatus();
}

std::uint64_t ClusterEndpoint::Net::signature() const {
  const TransportCounters& c = transport->counters();
  return c.frames_posted + c.frames_sent + c.frames_arrived + c.records_received + c.controls_received +
         c.delivery_stalls;
}

absl::Time ClusterEndpoint::Net::seal_due(absl::Time now) {
  std::lock_guard lock(self.mu_);
  self.hooks_.pump_deferred();
  Batcher& b = *self.batcher_;
  (void)b.flush_due(now);
  for (int d = 0; d < self.ranks_; ++d) {
    if (d != self.rank_ && transport->idle_to(d)) (void)b.flush(static_cast<std::size_t>(d));
  }
  self.handed_over(false);
  return b.next_deadline().value_or(absl::InfiniteFuture());
}

LoopTurn ClusterEndpoint::Net::turn(absl::Time now) {
  if (faulted) return {};
  self.clock_ns_.store(absl::ToUnixNanos(now), std::memory_order_relaxed);
  const std::uint64_t before = signature();
  LoopTurn t;
  t.deadline = seal_due(now);
  if (absl::Status s = transport->poll(now); !s.ok()) {
    fail(std::move(s));
    return {};
  }
  if (const int peer = transport->silent_peer(now, self.options_.peer_timeout); peer >= 0) {
    fail(absl::UnavailableError(absl::StrCat("sn::ClusterPool: rank ", peer, " sent nothing for ",
                                             absl::FormatDuration(self.options_.peer_timeout),
                                             " (it stopped or its link failed)")));
    return {};
  }
  if (waiter != nullptr) progress_waves(now);
  t.worked = signature() != before;
  const bool waiting = !transport->quiet() || waiter != nullptr;
  t.deadline = std::min(t.deadline, now + (waiting ? kBusyTurn : self.options_.heartbeat_every));
  return t;
}

void ClusterEndpoint::Net::fail(absl::Status status) {
  if (faulted) return;
  faulted = true;
  impl.skip_finalize = true;
  {
    std::lock_guard lock(self.mu_);
    self.fault_ = status;
  }
  self.failed_.store(true, std::memory_order_release);  // pairs with failed()'s acquire
  // Sends to a dead peer never complete, so the link and the transport cannot be taken
  // down: they are left to the process's exit.
  (void)link.release();
  (void)transport.release();
  std::erase(impl.clients, this);
  self.hooks_.on_fault(status);
  if (waiter != nullptr) {
    waiter->set_value(status);
    waiter = nullptr;
  }
}

bool ClusterEndpoint::Net::busy() {
  // The workers first: a handler that sends to another rank has appended the record
  // before its message counts as handled, so a pool seen idle here left nothing unseen
  // in the batcher read next.
  if (!ignore_local && self.hooks_.locally_busy()) return true;
  {
    std::lock_guard lock(self.mu_);
    if (self.batcher_->holds_records() || self.hooks_.pump_deferred()) return true;
  }
  return !transport->quiet();
}

void ClusterEndpoint::Net::progress_waves(absl::Time now) {
  if (!wave_active) {
    if (now < next_wave) return;
    const bool is_busy = busy();
    const TransportCounters& c = transport->counters();
    const bool stuck = now - stuck_since > self.options_.peer_timeout;
    wave_in = {c.frames_posted, c.frames_arrived, is_busy ? 1u : 0u, stuck ? 1u : 0u};
    if (absl::Status s = mpi_status(
            MPI_Iallreduce(wave_in.data(), wave_out.data(), 4, MPI_UINT64_T, MPI_SUM, comm, &wave), "MPI_Iallreduce");
        !s.ok()) {
      fail(std::move(s));
      return;
    }
    wave_active = true;
    ++waves;
    return;
  }
  int done = 0;
  if (absl::Status s = mpi_status(MPI_Test(&wave, &done, MPI_STATUS_IGNORE), "MPI_Test"); !s.ok()) {
    fail(std::move(s));
    return;
  }
  if (done == 0) return;
  wave_active = false;
  const bool balanced = wave_out[0] == wave_out[1] && wave_out[2] == 0;
  // Every rank sees the same totals, so every rank decides the same way in the same wave.
  if (balanced && have_settled && wave_out == settled) {
    finish_waves(absl::OkStatus());
    return;
  }
  if (wave_out[3] == static_cast<std::uint64_t>(self.ranks_)) {  // every rank saw the same frames missing
    finish_waves(absl::DataLossError(absl::StrCat("sn::ClusterPool: ", wave_out[0] - wave_out[1],
                                                  " frames were sent but never arrived, with every rank idle for ",
                                                  absl::FormatDuration(self.options_.peer_timeout),
                                                  "; their records are counted as failed")));
    return;
  }
  const bool same = wave_out[0] == settled[0] && wave_out[1] == settled[1];
  if (!same || wave_out[2] != 0 || balanced) {
    stuck_since = absl::InfiniteFuture();
  } else if (stuck_since == absl::InfiniteFuture()) {
    stuck_since = now;
  }
  have_settled = balanced;
  settled = wave_out;
  next_wave = balanced ? now : now + kWaveGap;
}

void ClusterEndpoint::Net::finish_waves(absl::Status result) {
  // Nothing is in flight: learn from each rank how many records it sent here, so that
  // the records of frames rejected here are counted (as failed) rather than lost.
  const TransportCounters& c = transport->counters();
  std::vector<std::uint64_t> expected(static_cast<std::size_t>(self.ranks_), 0);
  absl::Status s = mpi_status(
      MPI_Alltoall(c.records_sent_to.data(), 1, MPI_UINT64_T, expected.data(), 1, MPI_UINT64_T, comm), "MPI_Alltoall");
  if (s.ok()) {
    lost = 0;
    for (std::size_t r = 0; r < expected.size(); ++r) {
      if (expected[r] > c.records_received_from[r]) lost += expected[r] - c.records_received_from[r];
    }
  }
  std::promise<absl::Status>* w = std::exchange(waiter, nullptr);
  have_settled = false;
  stuck_since = absl::InfiniteFuture();
  w->set_value(s.ok() ? std::move(result) : std::move(s));
}

void ClusterEndpoint::Net::report_waiting(int seconds) const {
  if (transport == nullptr) return;
  const TransportCounters& c = transport->counters();
  std::string credits;
  for (int d = 0; d < self.ranks_; ++d) {
    if (d != self.rank_) absl::StrAppend(&credits, " ", d, ":", transport->in_flight(d), "/", transport->credits(d));
  }
  std::fprintf(stderr,
               "sn::ClusterPool (rank %d): shutdown still draining after %d s: %llu waves, last totals: %llu frames "
               "posted, %llu arrived, %llu ranks busy; here: frames posted %llu arrived %llu, waiting %zu, "
               "pending deliveries %zu, workers busy %d; in flight/credits per rank:%s\n",
               self.rank_, seconds, static_cast<unsigned long long>(waves),
               static_cast<unsigned long long>(wave_out[0]), static_cast<unsigned long long>(wave_out[1]),
               static_cast<unsigned long long>(wave_out[2]), static_cast<unsigned long long>(c.frames_posted),
               static_cast<unsigned long long>(c.frames_arrived), transport->waiting(), transport->pending_deliveries(),
               self.hooks_.locally_busy() ? 1 : 0, credits.c_str());
}

// ---------------------------------------------------------------- ClusterEndpoint

ClusterEndpoint::ClusterEndpoint(Cluster& cluster, const ClusterOptions& options, EndpointHooks& hooks)
    : cluster_(cluster), options_(options), hooks_(hooks), rank_(cluster.rank()), ranks_(cluster.size()) {
  clock_ns_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<ClusterEndpoint>> ClusterEndpoint::create(Cluster& cluster,
                                                                         const ClusterOptions& options,
                                                                         EndpointHooks& hooks) {
  if (absl::Status s = options.validate(); !s.ok()) return s;
  std::unique_ptr<ClusterEndpoint> e(new ClusterEndpoint(cluster, options, hooks));
  BatcherOptions b;
  b.limits = options.limits;
  b.buffers_per_destination = options.buffers_per_destination;
  b.flush_after = options.flush_after;
  absl::StatusOr<std::unique_ptr<Batcher>> batcher = Batcher::create(static_cast<std::size_t>(e->ranks_), b);
  if (!batcher.ok()) return batcher.status();
  // Every sealed frame holds a buffer, so a channel with room for all of them never fills.
  auto [tx, rx] = Channel<SealedFrame>::mpsc(static_cast<std::size_t>(e->ranks_) * options.buffers_per_destination);
  {
    std::lock_guard lock(e->mu_);
    e->batcher_ = *std::move(batcher);
    e->frames_ = std::move(tx);
  }
  e->net_ = std::make_unique<Net>(*e, *cluster.impl_);
  Net& net = *e->net_;
  MpscReceiver<SealedFrame> frames = std::move(rx);  // a structured binding cannot be captured in C++20
  if (absl::Status s = cluster.impl_->run([&net, &frames] { return net.attach(std::move(frames)); }); !s.ok()) {
    return s;
  }
  return e;
}

ClusterEndpoint::~ClusterEndpoint() {
  Net& net = *net_;
  cluster_.impl_->run([&net] {
    if (net.faulted) return;
    std::erase(net.impl.clients, &net);
    net.link.reset();  // cancels its receives, which point into the transport's buffers
    net.transport.reset();
    MPI_Comm_free(&net.comm);
  });
}

void ClusterEndpoint::handed_over(bool opened) noexcept {
  const std::size_t n = batcher_->drain([this](const SealedFrame& f) {
    if (corrupt_next_.exchange(false, std::memory_order_relaxed)) [[unlikely]] {
      // The buffer is this rank's until the send completes: a test's way to make a bad frame.
      const_cast<std::byte&>(f.bytes.back()) ^= std::byte{1};
    }
    const SendResult r = frames_.try_send(f);
    SN_CHECK(r == SendResult::ok, "sn::cluster: the channel of sealed frames has room for every buffer");
  });
  if (n > 0 || opened) cluster_.impl_->ring();
}

bool ClusterEndpoint::wait_for_buffer(std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  cluster_.impl_->ring();
  absl::SleepFor(absl::Microseconds(20));
  lock.lock();
  return !failed();
}

absl::Status ClusterEndpoint::fault() const {
  std::lock_guard lock(mu_);
  return fault_;
}

absl::Status ClusterEndpoint::terminate(bool ignore_local) {
  std::promise<absl::Status> result;
  std::future<absl::Status> done = result.get_future();
  Net& net = *net_;
  cluster_.impl_->post([&] {
    if (net.faulted) {
      result.set_value(fault());
      return;
    }
    net.ignore_local = ignore_local;
    net.have_settled = false;
    net.stuck_since = absl::InfiniteFuture();
    net.waves = 0;
    net.next_wave = absl::InfinitePast();
    net.waiter = &result;
  });
  // A drain that takes long says why, every 10 s: handlers that keep sending to each other
  // never let the waves agree (as a local pool's shutdown never ends for them either).
  for (int waited = 10; done.wait_for(std::chrono::seconds(10)) != std::future_status::ready; waited += 10) {
    cluster_.impl_->post([&net, waited] { net.report_waiting(waited); });
  }
  return done.get();
}

ClusterStats ClusterEndpoint::stats() {
  ClusterStats s;
  s.rank = rank_;
  s.ranks = ranks_;
  Net& net = *net_;
  cluster_.impl_->run([&] {
    if (net.transport == nullptr) return;
    const TransportCounters& c = net.transport->counters();
    s.records_sent = std::accumulate(c.records_sent_to.begin(), c.records_sent_to.end(), std::uint64_t{0});
    s.records_received = c.records_received;
    s.frames_sent = c.frames_sent;
    s.frames_received = c.frames_received;
    s.bytes_sent = c.bytes_sent;
    s.frames_rejected = c.rejected_total();
    s.rejected_by_reason = c.rejected;
    s.lost_in_rejected_frames = net.lost;
    s.credit_stalls = c.credit_stalls;
    s.delivery_stalls = c.delivery_stalls;
    s.sequence_gaps = c.sequence_gaps;
    s.termination_waves = net.waves;
  });
  std::lock_guard lock(mu_);
  s.flushed_by_size = batcher_->sealed(SealReason::size);
  s.flushed_by_deadline = batcher_->sealed(SealReason::deadline);
  s.flushed_when_idle = batcher_->sealed(SealReason::idle) + batcher_->sealed(SealReason::flush);
  return s;
}

}  // namespace sn::detail
