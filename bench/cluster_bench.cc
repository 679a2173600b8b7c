// cluster_bench: sn::ClusterPool between two MPI ranks, against plain MPI moving the same
// bytes in the same run. Run it on exactly 2 ranks (scripts/bench_cluster.sh):
//   mpirun <SN_MPIEXEC_FLAGS> -np 2 cluster_bench [--benchmark_out=c.json ...]
//
// Cases (Google Benchmark appends "/iterations:N/repeats:5/manual_time"):
//   cluster/stream/{8B,256B}/sn   rank 0's main thread sends kStreamMessages keyed
//                        messages per iteration (pool.send(key, payload)) to keys owned by
//                        rank 1, whose worker adds each payload's checksum into its state.
//                        The iteration ends when rank 1 has handled them all and both ranks
//                        have met at a barrier. items_per_second: messages per second.
//   cluster/stream/{8B,256B}/mpi  the same payloads with plain MPI on MPI_COMM_WORLD (the
//                        osu_bw pattern): rank 0 fills and MPI_Isends batches of as many
//                        payloads as one full sn frame holds (kRecordsPerFrame), kWindow
//                        batches in flight, MPI_Waitall, then waits for rank 1's ack; rank 1
//                        pre-posts the window's MPI_Irecvs, reads every payload of each batch
//                        as it completes (MPI_Waitsome), and acks. items_per_second: payloads
//                        (messages) per second.
//   cluster/rtt/sn       a worker on rank 0 sends an 8-byte message to a key owned by rank
//                        1 (context().send), whose worker sends it back to rank 0's key;
//                        rank 0's worker times each round trip with the harness's ticks().
//   cluster/rtt/mpi      the same 8 bytes with MPI_Send / MPI_Recv (the osu_latency pattern).
//                        Counters p50_us, p99_us over every round trip of the repetition.
//
// Method. Every rank runs the same benchmarks with the same fixed iteration counts and
// kRepetitions repetitions; rank 0's output is the report (the others run with a null
// reporter and without --benchmark_out). Time is manual and rank 0's: from its first send
// to the last ack (mpi stream), to the barrier after rank 1 handled everything (sn
// stream), or the sum of the round trips (rtt). MPI is the Cluster's: initialised on its
// transport thread (MPI_THREAD_FUNNELED), so the mpi rows make their calls inside
// Cluster::with_mpi, on that thread. Every iteration is checked: rank 1 sums a checksum of
// every payload (weighted by position, so lost, duplicated or reordered words show) and
// compares it with the closed-form expectation, rank 0 checks the acks and every echo;
// both ranks learn either's failure in an all-gather at the end of each iteration and
// fail the case together (SkipWithError), so that neither is left waiting in MPI.
// A round that does not complete within kStallLimit fails instead of hanging.
//
// The sn rows need sn::ClusterPool (sn/cluster/cluster_pool.h); a build without it has
// the mpi rows only.

#include <mpi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "harness.h"
#include "sn/cluster/cluster.h"
#include "sn/cluster/owner.h"
#include "sn/cluster/wire.h"
#include "sn/sync/futex.h"

#if __has_include("sn/cluster/cluster_pool.h")
#include "sn/cluster/cluster_pool.h"
#define SN_BENCH_HAVE_CLUSTER_POOL 1
#else
#define SN_BENCH_HAVE_CLUSTER_POOL 0
#endif

namespace snbench {
namespace {

// ------------------------------------------------------------------ parameters

/// Repetitions of every case; the report's figures are their medians.
constexpr int kRepetitions = 5;
/// MPI batches in flight before the sender waits for an ack (osu_bw's default window).
constexpr int kWindow = 64;
/// Round trips per iteration of cluster/rtt/mpi (cluster/rtt/sn: kSnRttRoundTrips).
constexpr u64 kRttRoundTrips = 4096;
/// Iterations per repetition: fixed, so that both ranks run the same number. The mpi
/// stream rows take 1 to 50 ms an iteration here, so the 8-byte one runs more of them.
template <std::size_t kBytes>
constexpr benchmark::IterationCount kMpiStreamIterations = kBytes <= 8 ? 20 : 10;
constexpr benchmark::IterationCount kRttIterations = 5;

/// A message of kBytes bytes: kBytes / 8 words, trivially copyable (sent as its bytes).
template <std::size_t kBytes>
struct Payload {
  static_assert(kBytes % 8 == 0 && kBytes >= 8);
  static constexpr std::size_t kWords = kBytes / 8;
  std::array<u64, kWords> words;
};
static_assert(sizeof(Payload<8>) == 8 && sizeof(Payload<256>) == 256);

/// Messages per iteration of the stream cases: 4 MiB and 32 MiB of payload.
template <std::size_t kBytes>
constexpr u64 kStreamMessages = kBytes <= 8 ? u64{1} << 19 : u64{1} << 17;

/// How many payloads of kBytes one full frame of the default limits holds: the batch the
/// mpi peer sends per MPI message, so that both move the same batches.
template <std::size_t kBytes>
constexpr std::size_t kRecordsPerFrame = (sn::FrameLimits{}.max_frame_bytes - sn::kFrameHeaderBytes) /
                                         (sn::kRecordHeaderBytes + kBytes);

// ------------------------------------------------------------------ payloads

/// Message `seq` (1, 2, ... over a repetition) carries words seq, seq + 1, ...
template <std::size_t kBytes>
void fill(Payload<kBytes>& p, u64 seq) noexcept {
  for (std::size_t k = 0; k < Payload<kBytes>::kWords; ++k) p.words[k] = seq + k;
}

/// Sum over words of (position + 1) * word: a moved or lost word changes it.
template <std::size_t kBytes>
u64 checksum(const Payload<kBytes>& p) noexcept {
  u64 sum = 0;
  for (std::size_t k = 0; k < Payload<kBytes>::kWords; ++k) sum += (k + 1) * p.words[k];
  return sum;
}

/// The checksums of messages first ... first + count - 1 added up, in closed form:
/// checksum(seq) = seq * W(W+1)/2 + sum over k < W of k(k+1), with W words (mod 2^64).
template <std::size_t kBytes>
constexpr u64 expected_checksum(u64 first, u64 count) noexcept {
  constexpr u64 w = Payload<kBytes>::kWords;
  constexpr u64 per_seq = w * (w + 1) / 2;
  constexpr u64 fixed = (w - 1) * w * (w + 1) / 3;  // sum over k < w of k(k+1)
  const u64 seq_sum = count * first + count * (count - 1) / 2;
  return seq_sum * per_seq + count * fixed;
}
static_assert(expected_checksum<8>(5, 3) == 5 + 6 + 7);
static_assert(expected_checksum<16>(1, 1) == 1 * 1 + 2 * 2);

// ------------------------------------------------------------------ both ranks

/// The process's Cluster, made in main() before any benchmark runs.
sn::Cluster* g_cluster = nullptr;

bool is_sender() { return g_cluster->rank() == 0; }

/// Ends an iteration on both ranks together: each rank's error (empty when none) is
/// shared through an all-gather, and a failure on either fails the case on both, so that
/// both leave the loop in the same iteration. True when neither rank failed.
bool agree(benchmark::State& state, const std::string& error) {
  const auto all = g_cluster->all_gather(error.empty() ? 0 : 1);
  std::string why = error;
  if (!all.ok()) {
    why = "all_gather: " + all.status().ToString();
  } else {
    for (std::size_t r = 0; r < all->size() && why.empty(); ++r) {
      if ((*all)[r] != 0) why = "rank " + std::to_string(r) + " failed (see its stderr)";
    }
  }
  if (why.empty()) return true;
  if (!error.empty()) std::fprintf(stderr, "rank %d: %s\n", g_cluster->rank(), error.c_str());
  state.SkipWithError(why.c_str());
  return false;
}

/// The first thing that went wrong in one rank's share of an iteration. A failed MPI call
/// ends that share (mpi_ok() is false); a wrong checksum or echo is only recorded, so that
/// the rank keeps its side of the exchange and its peer is not left waiting.
class Errors {
 public:
  /// Records a failed call; returns whether it succeeded.
  bool call(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return true;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    mpi_failed_ = true;
    mismatch(std::string(what) + ": " + std::string(text, static_cast<std::size_t>(length)));
    return false;
  }
  void mismatch(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }
  bool mpi_ok() const noexcept { return !mpi_failed_; }
  const std::string& error() const noexcept { return error_; }

 private:
  std::string error_;
  bool mpi_failed_ = false;
};

/// The latency counters of a repetition, in microseconds, from samples in ticks().
void report_latency_us(benchmark::State& state, std::vector<u64>& samples) {
  if (samples.empty()) return;
  std::vector<double> us(samples.size());
  const double k = ns_per_tick() * 1e-3;
  std::transform(samples.begin(), samples.end(), us.begin(), [k](u64 t) { return static_cast<double>(t) * k; });
  state.counters["p50_us"] = percentile(us, 0.50);
  state.counters["p99_us"] = percentile(us, 0.99);
}

/// Seconds of `samples` (ticks()) added up.
double total_seconds(std::span<const u64> samples) {
  u64 sum = 0;
  for (const u64 t : samples) sum += t;
  return static_cast<double>(sum) * ns_per_tick() * 1e-9;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Runs one round of `share(Errors&)` untimed, before a case's iterations: the first
/// touch of its buffers and the connection's set-up are not measured. False when it failed
/// on either rank (the case is then marked on both).
template <class Share>
bool warm_up(benchmark::State& state, Share& share) {
  Errors errors;
  (void)share(errors);
  return agree(state, errors.error());
}

/// What every stream case reports: messages and payload bytes per second, and its batch.
void report_stream(benchmark::State& state, u64 messages, std::size_t bytes) {
  const auto n = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(messages);
  state.SetItemsProcessed(n);
  state.SetBytesProcessed(n * static_cast<std::int64_t>(bytes));
}

// ------------------------------------------------------------------ cluster/stream/*/mpi

constexpr int kStreamTag = 0x5301;
constexpr int kAckTag = 0x5302;
constexpr int kPingTag = 0x5303;
constexpr int kPongTag = 0x5304;

/// One rank's side of the mpi stream: a window of batch buffers, filled by rank 0 and read
/// by rank 1. Every method runs on the transport thread (inside with_mpi).
template <std::size_t kBytes>
class MpiStream {
 public:
  using P = Payload<kBytes>;
  static constexpr std::size_t kPerBatch = kRecordsPerFrame<kBytes>;
  static constexpr u64 kMessages = kStreamMessages<kBytes>;

  MpiStream() : buffer_(kWindow * kPerBatch) {}

  /// Rank 0: round `round`'s messages; the seconds from the first Isend to the last ack.
  double send(u64 round, Errors& errors);
  /// Rank 1: receives round `round`'s messages and checks their checksum.
  double receive(u64 round, Errors& errors);

 private:
  /// Payloads in the batch that starts at message `at` of the round.
  static std::size_t batch_count(u64 at) noexcept {
    return static_cast<std::size_t>(std::min<u64>(kPerBatch, kMessages - at));
  }
  static int batch_bytes(std::size_t count) noexcept { return static_cast<int>(count * sizeof(P)); }
  P* batch(int slot) noexcept { return &buffer_[static_cast<std::size_t>(slot) * kPerBatch]; }
  /// Rank 1: waits for the `posted` receives of the window whose first message is `at`,
  /// reading each batch as it completes; returns the checksums of its payloads.
  u64 drain(int posted, u64 at, Errors& errors);

  std::vector<P> buffer_;
  std::array<MPI_Request, kWindow> requests_{};
};

template <std::size_t kBytes>
double MpiStream<kBytes>::send(u64 round, Errors& errors) {
  const u64 first = round * kMessages + 1;
  const auto start = std::chrono::steady_clock::now();
  for (u64 sent = 0; sent < kMessages && errors.mpi_ok();) {
    requests_.fill(MPI_REQUEST_NULL);
    int posted = 0;
    for (; posted < kWindow && sent < kMessages; ++posted) {
      const std::size_t count = batch_count(sent);
      P* b = batch(posted);
      for (std::size_t i = 0; i < count; ++i) fill(b[i], first + sent + i);
      errors.call(MPI_Isend(b, batch_bytes(count), MPI_BYTE, 1, kStreamTag, MPI_COMM_WORLD, &requests_[posted]),
                  "MPI_Isend");
      sent += count;
    }
    u64 acked = 0;
    if (errors.call(MPI_Waitall(posted, requests_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall") &&
        errors.call(MPI_Recv(&acked, 1, MPI_UINT64_T, 1, kAckTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv") &&
        acked != sent) {
      errors.mismatch("rank 1 acked " + std::to_string(acked) + " messages, " + std::to_string(sent) + " sent");
    }
  }
  return seconds_since(start);
}

template <std::size_t kBytes>
double MpiStream<kBytes>::receive(u64 round, Errors& errors) {
  const u64 first = round * kMessages + 1;
  const auto start = std::chrono::steady_clock::now();
  u64 sum = 0;
  for (u64 received = 0; received < kMessages && errors.mpi_ok();) {
    requests_.fill(MPI_REQUEST_NULL);
    int posted = 0;
    u64 at = received;
    for (; posted < kWindow && at < kMessages; ++posted) {
      const std::size_t count = batch_count(at);
      errors.call(
          MPI_Irecv(batch(posted), batch_bytes(count), MPI_BYTE, 0, kStreamTag, MPI_COMM_WORLD, &requests_[posted]),
          "MPI_Irecv");
      at += count;
    }
    sum += drain(posted, received, errors);
    received = at;
    errors.call(MPI_Send(&received, 1, MPI_UINT64_T, 0, kAckTag, MPI_COMM_WORLD), "MPI_Send");
  }
  if (const u64 expected = expected_checksum<kBytes>(first, kMessages); errors.mpi_ok() && sum != expected) {
    errors.mismatch("checksum mismatch in round " + std::to_string(round) + ": " + std::to_string(sum) + " (expected " +
                    std::to_string(expected) + ")");
  }
  return seconds_since(start);
}

template <std::size_t kBytes>
u64 MpiStream<kBytes>::drain(int posted, u64 at, Errors& errors) {
  std::array<int, kWindow> done{};
  std::array<MPI_Status, kWindow> statuses{};
  u64 sum = 0;
  for (int left = posted; left > 0;) {
    int n = 0;
    if (!errors.call(MPI_Waitsome(posted, requests_.data(), &n, done.data(), statuses.data()), "MPI_Waitsome")) break;
    for (int i = 0; i < n; ++i) {
      const int slot = done[static_cast<std::size_t>(i)];
      const std::size_t count = batch_count(at + static_cast<u64>(slot) * kPerBatch);
      int bytes = 0;
      MPI_Get_count(&statuses[static_cast<std::size_t>(i)], MPI_BYTE, &bytes);
      if (bytes != batch_bytes(count)) errors.mismatch("a batch of " + std::to_string(bytes) + " bytes");
      const P* b = batch(slot);
      for (std::size_t j = 0; j < count; ++j) sum += checksum(b[j]);
    }
    left -= n;
  }
  return sum;
}

template <std::size_t kBytes>
void stream_mpi(benchmark::State& state) {
  MpiStream<kBytes> stream;
  u64 round = 0;
  // One rank's share of a round: rank 0's seconds are the iteration's time.
  auto share = [&](Errors& errors) {
    double seconds = 0;
    g_cluster->with_mpi([&] { seconds = is_sender() ? stream.send(round, errors) : stream.receive(round, errors); });
    ++round;
    return seconds;
  };
  if (!warm_up(state, share)) return;
  for (auto _ : state) {
    Errors errors;
    const double seconds = share(errors);
    if (!agree(state, errors.error())) break;
    state.SetIterationTime(seconds);
  }
  report_stream(state, kStreamMessages<kBytes>, kBytes);
  state.counters["batch_messages"] = static_cast<double>(kRecordsPerFrame<kBytes>);
}

// ------------------------------------------------------------------ cluster/rtt/mpi

/// One rank's side of the MPI ping-pong; every method runs on the transport thread.
class MpiPingPong {
 public:
  MpiPingPong() : samples_(kRttRoundTrips) {}

  /// Rank 0: kRttRoundTrips round trips, each timed into samples().
  void ping(u64 round, Errors& errors) {
    const u64 first = round * kRttRoundTrips + 1;
    for (u64 i = 0; i < kRttRoundTrips && errors.mpi_ok(); ++i) {
      const u64 value = first + i;
      u64 echo = 0;
      const u64 start = ticks();
      if (errors.call(MPI_Send(&value, 1, MPI_UINT64_T, 1, kPingTag, MPI_COMM_WORLD), "MPI_Send") &&
          errors.call(MPI_Recv(&echo, 1, MPI_UINT64_T, 1, kPongTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv")) {
        samples_[i] = ticks() - start;
        if (echo != value) errors.mismatch("echo " + std::to_string(echo) + " of " + std::to_string(value));
      }
    }
  }
  /// Rank 1: sends every value back, and checks that they come in order.
  void pong(u64 round, Errors& errors) {
    const u64 first = round * kRttRoundTrips + 1;
    for (u64 i = 0; i < kRttRoundTrips && errors.mpi_ok(); ++i) {
      u64 value = 0;
      if (errors.call(MPI_Recv(&value, 1, MPI_UINT64_T, 0, kPingTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv") &&
          errors.call(MPI_Send(&value, 1, MPI_UINT64_T, 0, kPongTag, MPI_COMM_WORLD), "MPI_Send") &&
          value != first + i) {
        errors.mismatch("ping " + std::to_string(value) + ", expected " + std::to_string(first + i));
      }
    }
  }
  std::span<const u64> samples() const noexcept { return samples_; }

 private:
  std::vector<u64> samples_;
};

void rtt_mpi(benchmark::State& state) {
  MpiPingPong pingpong;
  u64 round = 0;
  auto share = [&](Errors& errors) {
    g_cluster->with_mpi([&] {
      if (is_sender()) {
        pingpong.ping(round, errors);
      } else {
        pingpong.pong(round, errors);
      }
    });
    ++round;
    return total_seconds(pingpong.samples());
  };
  if (!warm_up(state, share)) return;
  std::vector<u64> samples;
  for (auto _ : state) {
    Errors errors;
    const double seconds = share(errors);
    if (!agree(state, errors.error())) break;
    state.SetIterationTime(seconds);
    samples.insert(samples.end(), pingpong.samples().begin(), pingpong.samples().end());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kRttRoundTrips));
  if (!state.error_occurred()) report_latency_us(state, samples);
}

#if SN_BENCH_HAVE_CLUSTER_POOL
// ------------------------------------------------------------------ the sn rows

/// Workers of each rank's pool: one, beside the rank's transport thread and main thread.
constexpr std::size_t kWorkersPerRank = 1;
/// Distinct keys of rank 1 that the sn stream cycles through.
constexpr std::size_t kStreamKeys = 1024;
/// Iterations per repetition of cluster/stream/*/sn, and round trips per iteration of
/// cluster/rtt/sn: fewer than the mpi rows', so that the whole run stays within a minute
/// here while an sn round trip takes over a millisecond (docs/performance.md).
constexpr benchmark::IterationCount kSnStreamIterations = 3;
constexpr u64 kSnRttRoundTrips = 256;

/// Each rank's pool: kWorkersPerRank workers, not pinned (Open MPI binds each rank to
/// its CPUs), the default wait policy.
sn::PoolConfig rank_pool() { return sn::PoolConfig().with_num_workers(kWorkersPerRank); }

/// The first `n` of the keys 0, 1, 2, ... that rank `rank` of 2 owns (the owner rule is a
/// pure function, so every rank finds the same keys without a pool).
std::vector<u64> keys_of_rank(int rank, std::size_t n) {
  std::vector<u64> keys;
  for (u64 key = 0; keys.size() < n; ++key) {
    if (sn::owner_rank_of(key, 2) == rank) keys.push_back(key);
  }
  return keys;
}

/// Waits at the barrier that ends a round; a failure becomes the round's error.
void barrier_or(std::string& error) {
  if (const absl::Status s = g_cluster->barrier(); !s.ok() && error.empty()) error = "barrier: " + s.ToString();
}

/// Shuts the pool down on both ranks (collective), then checks that this rank's pool
/// handled `processed` messages; a failure fails the case on both ranks.
template <class Pool>
void shutdown_and_check(Pool& pool, benchmark::State& state, u64 processed) {
  std::string error;
  if (const absl::Status s = pool.shutdown(); !s.ok()) error = "shutdown: " + s.ToString();
  if (const sn::PoolStats stats = pool.stats(); error.empty() && stats.processed != processed) {
    error = "the pool processed " + std::to_string(stats.processed) + " messages, " + std::to_string(processed) +
            " expected";
  }
  if (!state.error_occurred()) (void)agree(state, error);  // both ranks agree on error_occurred()
}

// ------------------------------------------------------------------ cluster/stream/*/sn

/// Where a stream's time went, as counters of rank 0's report: rank 0's records per frame
/// and the frames that waited for rank 1's credit, and the deliveries that found rank 1's
/// worker inbox full (gathered from rank 1: collective, so both ranks call it).
template <class Pool>
void report_cluster_counters(Pool& pool, benchmark::State& state) {
  const sn::ClusterStats mine = pool.cluster_stats();
  const auto stalls = g_cluster->all_gather(mine.delivery_stalls);
  if (!is_sender()) return;
  state.counters["records_per_frame"] =
      mine.frames_sent == 0 ? 0.0 : static_cast<double>(mine.records_sent) / static_cast<double>(mine.frames_sent);
  state.counters["credit_stalls"] = static_cast<double>(mine.credit_stalls);
  if (stalls.ok()) state.counters["delivery_stalls"] = static_cast<double>((*stalls)[1]);
}

/// Messages rank 1's workers have handled in the current round. Its main thread sleeps on
/// it (a futex with a deadline: a lost message fails the case after kStallLimit instead
/// of hanging it) until the round's last message.
class HandledCount {
 public:
  explicit HandledCount(u64 per_round) noexcept : per_round_(static_cast<std::uint32_t>(per_round)) {}

  /// Worker side, once per batch. Wakes the main thread when the round is complete.
  void add(std::size_t n) noexcept {
    const auto k = static_cast<std::uint32_t>(n);
    const std::uint32_t before = count_.fetch_add(k, std::memory_order_release);  // (A1) pairs with (W1)
    if (before < per_round_ && before + k >= per_round_) sn::sync::futex_wake(&count_, 1);
  }
  /// Main thread. False when the round's messages did not all arrive within kStallLimit.
  [[nodiscard]] bool wait() noexcept {
    const absl::Time deadline = absl::Now() + absl::FromChrono(kStallLimit);
    std::uint32_t seen;
    while ((seen = count_.load(std::memory_order_acquire)) < per_round_) {  // (W1)
      if (absl::Now() >= deadline) return false;
      sn::sync::futex_wait(&count_, seen, deadline);
    }
    return true;
  }
  /// Main thread, between rounds: no message of the next round is sent before the
  /// collectives that end this one, which the transport thread runs after this store.
  void reset() noexcept { count_.store(0, std::memory_order_relaxed); }
  std::uint32_t seen() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  const std::uint32_t per_round_;
  alignas(sn::kFalseSharingRange) std::atomic<std::uint32_t> count_{0};
};

/// One worker's running checksum over the repetition, on its own line. Stored before
/// each HandledCount::add, whose release (A1) publishes it to the main thread (W1).
struct alignas(sn::kFalseSharingRange) StreamTally {
  std::atomic<u64> checksum{0};
};

struct StreamState {
  u64 checksum = 0;
};

/// Rank 1's workers: read every payload of a batch into the running checksum.
template <std::size_t kBytes>
class StreamWorker : public sn::Worker<StreamState, Payload<kBytes>> {
 public:
  StreamWorker(StreamTally& tally, HandledCount& handled) noexcept : tally_(tally), handled_(handled) {}

  void handle_batch(StreamState& s, std::span<sn::Envelope<Payload<kBytes>>> batch) {
    for (const sn::Envelope<Payload<kBytes>>& e : batch) s.checksum += checksum(e.payload);
    tally_.checksum.store(s.checksum, std::memory_order_relaxed);  // published by (A1)
    handled_.add(batch.size());
  }

 private:
  StreamTally& tally_;
  HandledCount& handled_;
};

template <std::size_t kBytes>
using StreamPool = sn::ClusterPool<StreamWorker<kBytes>>;

/// Rank 0's share of a round: sends its messages, then waits at the barrier, which rank 1
/// joins once it has handled them all. Returns the seconds from the first send to then.
template <std::size_t kBytes>
double stream_send(StreamPool<kBytes>& pool, std::span<const u64> keys, u64 round, std::string& error) {
  constexpr u64 n = kStreamMessages<kBytes>;
  const u64 first = round * n + 1;
  const auto start = std::chrono::steady_clock::now();
  std::size_t k = 0;
  for (u64 i = 0; i < n; ++i) {
    Payload<kBytes> p;
    fill(p, first + i);
    if (const sn::SendResult r = pool.send(keys[k], std::move(p)); r != sn::SendResult::ok) [[unlikely]] {
      error = "send " + std::to_string(i) + " of round " + std::to_string(round) + ": " + std::string(to_string(r));
      break;
    }
    if (++k == keys.size()) k = 0;
  }
  barrier_or(error);
  return seconds_since(start);
}

/// Rank 1's share of a round: waits until its workers have handled the round's messages,
/// checks the checksum of everything they handled so far, then joins the barrier.
template <std::size_t kBytes>
std::string stream_receive(HandledCount& handled, std::span<const StreamTally> tallies, u64 round) {
  constexpr u64 n = kStreamMessages<kBytes>;
  std::string error;
  if (!handled.wait()) {
    error = "stalled in round " + std::to_string(round) + ": " + std::to_string(handled.seen()) + " of " +
            std::to_string(n) + " messages handled";
  } else {
    u64 sum = 0;
    for (const StreamTally& t : tallies) sum += t.checksum.load(std::memory_order_relaxed);  // after (W1)
    if (const u64 expected = expected_checksum<kBytes>(1, (round + 1) * n); sum != expected) {
      error = "checksum mismatch in round " + std::to_string(round) + ": " + std::to_string(sum) + " (expected " +
              std::to_string(expected) + ")";
    }
  }
  handled.reset();
  barrier_or(error);
  return error;
}

template <std::size_t kBytes>
void stream_sn(benchmark::State& state) {
  std::vector<StreamTally> tallies(kWorkersPerRank);
  HandledCount handled(kStreamMessages<kBytes>);
  auto made = StreamPool<kBytes>::create(*g_cluster, rank_pool(), sn::ClusterOptions{}, [&](std::size_t i) {
    return std::make_unique<StreamWorker<kBytes>>(tallies[i], handled);
  });
  if (!agree(state, made.ok() ? "" : "ClusterPool::create: " + made.status().ToString())) return;
  StreamPool<kBytes>& pool = **made;
  const std::vector<u64> keys = keys_of_rank(1, kStreamKeys);
  u64 round = 0;
  auto share = [&](Errors& errors) {
    std::string error;
    double seconds = 0;
    if (is_sender()) {
      seconds = stream_send<kBytes>(pool, keys, round, error);
    } else {
      error = stream_receive<kBytes>(handled, tallies, round);
    }
    errors.mismatch(std::move(error));
    ++round;
    return seconds;
  };
  if (warm_up(state, share)) {
    for (auto _ : state) {
      Errors errors;
      const double seconds = share(errors);
      if (!agree(state, errors.error())) break;
      state.SetIterationTime(seconds);
    }
  }
  report_cluster_counters(pool, state);
  shutdown_and_check(pool, state, is_sender() ? 0 : round * kStreamMessages<kBytes>);
  report_stream(state, kStreamMessages<kBytes>, kBytes);
}

// ------------------------------------------------------------------ cluster/rtt/sn

/// What rank 0's round-trip worker hands its main thread. The keys are fixed before the
/// pool exists; samples and bad_echo are read after `done` (RoundLatch: acquire).
struct RttShared {
  u64 home_key = keys_of_rank(0, 1).front();                      ///< Owned by rank 0: its worker's key.
  u64 away_key = keys_of_rank(1, 1).front();                      ///< Owned by rank 1.
  std::vector<u64> samples = std::vector<u64>(kSnRttRoundTrips);  ///< ticks() per round trip of the round.
  std::atomic<bool> bad_echo{false};                              ///< A wrong echo or a refused send, on either rank.
  RoundLatch done;  ///< Rank 0's worker arrives after the round's last round trip.
};

struct RttState {
  u64 next = 0;     // round trips done in this round
  u64 sent_at = 0;  // ticks() when the last request left
  u64 value = 0;    // the last request's payload, distinct over the repetition
};

/// On rank 0, a message 0 from the main thread starts a round: the worker sends value
/// v to away_key, and times each echo before sending the next, kSnRttRoundTrips per round.
/// On rank 1, the worker sends every message back to home_key.
class RttWorker : public sn::Worker<RttState, u64> {
 public:
  RttWorker(RttShared& shared, bool home) noexcept : shared_(shared), home_(home) {}

  void handle_message(RttState& s, sn::Envelope<u64> e) {
    if (!home_) {
      send(shared_.home_key, e.payload);
      return;
    }
    if (e.payload == 0) {
      s.next = 0;  // the main thread starts a round
    } else if (!record(s, e.payload)) {
      return;  // the round's last echo
    }
    s.sent_at = ticks();
    send(shared_.away_key, ++s.value);
  }

 private:
  void send(u64 key, u64 value) {
    if (context().send(key, u64{value}) != sn::SendResult::ok) shared_.bad_echo.store(true, std::memory_order_relaxed);
  }
  /// Times the echo; false when it ended the round.
  bool record(RttState& s, u64 echo) {
    shared_.samples[s.next++] = ticks() - s.sent_at;
    if (echo != s.value) shared_.bad_echo.store(true, std::memory_order_relaxed);
    if (s.next < kSnRttRoundTrips) return true;
    shared_.done.arrive(1);
    return false;
  }

  RttShared& shared_;
  const bool home_;
};

/// One rank's share of an rtt round: rank 0 starts it and waits for its worker; rank 1
/// only answers. Both then meet at the barrier. Rank 0 returns the round trips' seconds.
double rtt_share(sn::ClusterPool<RttWorker>& pool, RttShared& shared, u64 round, Errors& errors) {
  std::string error;
  double seconds = 0;
  if (is_sender()) {
    shared.done.reset();
    if (pool.send(shared.home_key, u64{0}) != sn::SendResult::ok || !shared.done.wait(1)) {
      error = "round " + std::to_string(round) + " did not complete";
    }
    seconds = total_seconds(shared.samples);
  }
  barrier_or(error);
  if (error.empty() && shared.bad_echo.load(std::memory_order_relaxed)) error = "a wrong echo or a refused send";
  errors.mismatch(std::move(error));
  return seconds;
}

void rtt_sn(benchmark::State& state) {
  RttShared shared;
  auto made = sn::ClusterPool<RttWorker>::create(*g_cluster, rank_pool(), sn::ClusterOptions{}, [&](std::size_t) {
    return std::make_unique<RttWorker>(shared, is_sender());
  });
  if (!agree(state, made.ok() ? "" : "ClusterPool::create: " + made.status().ToString())) return;
  sn::ClusterPool<RttWorker>& pool = **made;
  u64 round = 0;
  auto share = [&](Errors& errors) { return rtt_share(pool, shared, round++, errors); };
  std::vector<u64> samples;
  if (warm_up(state, share)) {
    for (auto _ : state) {
      Errors errors;
      const double seconds = share(errors);
      if (!agree(state, errors.error())) break;
      state.SetIterationTime(seconds);
      samples.insert(samples.end(), shared.samples.begin(), shared.samples.end());
    }
  }
  // Rank 0's worker handles the start and every echo; rank 1's, every request.
  shutdown_and_check(pool, state, round * (kSnRttRoundTrips + (is_sender() ? 1 : 0)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kSnRttRoundTrips));
  if (!state.error_occurred()) report_latency_us(state, samples);
}
#endif  // SN_BENCH_HAVE_CLUSTER_POOL

// ------------------------------------------------------------------ registration

void add(const std::string& name, void (*fn)(benchmark::State&), benchmark::IterationCount iterations) {
  benchmark::RegisterBenchmark(name.c_str(), fn)
      ->Iterations(iterations)
      ->Repetitions(kRepetitions)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

void register_all() {
#if SN_BENCH_HAVE_CLUSTER_POOL
  add("cluster/stream/8B/sn", stream_sn<8>, kSnStreamIterations);
#endif
  add("cluster/stream/8B/mpi", stream_mpi<8>, kMpiStreamIterations<8>);
#if SN_BENCH_HAVE_CLUSTER_POOL
  add("cluster/stream/256B/sn", stream_sn<256>, kSnStreamIterations);
#endif
  add("cluster/stream/256B/mpi", stream_mpi<256>, kMpiStreamIterations<256>);
#if SN_BENCH_HAVE_CLUSTER_POOL
  add("cluster/rtt/sn", rtt_sn, kRttIterations);
#endif
  add("cluster/rtt/mpi", rtt_mpi, kRttIterations);
}

void add_context() {
  add_machine_context();
  benchmark::AddCustomContext("ranks", std::to_string(g_cluster->size()));
  const std::string& version = g_cluster->library_version();
  benchmark::AddCustomContext("mpi_library", version.substr(0, version.find_first_of(",\n")));
  benchmark::AddCustomContext("stream_messages_8B", std::to_string(kStreamMessages<8>));
  benchmark::AddCustomContext("stream_messages_256B", std::to_string(kStreamMessages<256>));
  benchmark::AddCustomContext("mpi_window_batches", std::to_string(kWindow));
  benchmark::AddCustomContext("rtt_round_trips_per_iteration_mpi", std::to_string(kRttRoundTrips));
#if SN_BENCH_HAVE_CLUSTER_POOL
  benchmark::AddCustomContext("rtt_round_trips_per_iteration_sn", std::to_string(kSnRttRoundTrips));
#endif
  benchmark::AddCustomContext("sn_rows", SN_BENCH_HAVE_CLUSTER_POOL ? "yes" : "no: sn/cluster/cluster_pool.h missing");
}

/// The display reporter of ranks other than 0: they run every case, and report nothing.
class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

/// Ranks other than 0 drop --benchmark_out*: Google Benchmark would open (and truncate)
/// rank 0's file. Every other flag stays, so both ranks run the same cases.
int drop_output_flags(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("--benchmark_out=") && !arg.starts_with("--benchmark_out_format=")) argv[kept++] = argv[i];
  }
  argv[kept] = nullptr;
  return kept;
}

int run(int argc, char** argv) {
  if (g_cluster->size() != 2) {
    if (g_cluster->rank() == 0) std::fprintf(stderr, "cluster_bench: run it on 2 ranks (mpirun -np 2)\n");
    return 2;
  }
  if (g_cluster->rank() != 0) argc = drop_output_flags(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  add_context();
  register_all();
  NullReporter quiet;
  if (g_cluster->rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    benchmark::RunSpecifiedBenchmarks(&quiet);
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  auto cluster = sn::Cluster::create();
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster_bench: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  snbench::g_cluster = cluster->get();
  return snbench::run(argc, argv);  // the Cluster finalises MPI on every rank on the way out
}
