// ipc_bench: sn::ipc (a shared-memory ring between two processes) against the kernel's
// own ways of moving fixed-size messages between processes, and against the floor of any
// shared-memory handoff: one cache line bounced between the same two CPUs.
//
// Every row is two processes: this one (the benchmark's thread, pinned to the first CPU
// this process may use) and a child forked for each run of the row (pinned to the second).
//
//   ipc/rtt/sn             ping-pong through two sn::ipc channels of std::uint64_t, one each
//                          way; both ends busy-poll try_recv. p50/p99/p999 of the round trip
//                          (ns) as counters, over every round trip of the run.
//   ipc/rtt/cacheline      the floor: a counter in one 64-byte-aligned line of a MAP_SHARED
//                          mapping. A writes n+1 and waits for n+2; B waits for n+1 and
//                          writes n+2. Same spin, same timing as ipc/rtt/sn.
//   ipc/spsc/<size>/sn            the child produces, this process consumes, 64 messages a
//                                 call: Sender::send_batch / Receiver::recv_batch.
//   ipc/spsc/<size>/unix_socket   a SOCK_SEQPACKET socketpair, one record per message:
//                                 sendmmsg / recvmmsg (MSG_WAITFORONE) of 64 records.
//   ipc/spsc/<size>/pipe          one write() / read() of 64 messages.
//   <size>: 8B (std::uint64_t) or 64B (Msg64, 8 words derived from the sequence number).
//   sn's slot is [seq u32][len u32][payload], rounded up (detail/layout.h): 16 bytes for 8B,
//   128 for 64B, so a 64B message moves two cache lines where a 56B one would move one.
//
// Throughput rows move kIpcMessages messages per iteration; items_per_second is messages/s.
// Every row checks what it moved: the consumer checks that sequence numbers arrive in
// order and (64B) that every word of each message is intact, and compares its count, sum
// and xor of sequence numbers with what the child reports having sent; the round-trip
// rows compare each echo and the child's tally. A mismatch, a stall (10 s without
// progress) or a child that dies fails the row with "ERROR OCCURRED".
//
// Process plumbing (the Child class): the child dies with the benchmark (PR_SET_PDEATHSIG),
// kills itself through alarm() when it makes no progress for kWatchdogSeconds, reports
// over a socketpair, and is reaped with a timeout; so a hung child fails the row instead
// of hanging the run.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "harness.h"
#include "sn/ipc/channel.h"

namespace snbench {
namespace {

/// Slots in every sn::ipc ring (the in-process benchmarks use the same, kCapacity).
constexpr std::size_t kRingSlots = kCapacity;
/// Messages per benchmark iteration in the throughput rows; a multiple of kBatch.
constexpr u64 kIpcMessages = u64{1} << 20;
static_assert(kIpcMessages % kBatch == 0);
/// A child that makes no progress for this long is killed by its own SIGALRM.
constexpr unsigned kWatchdogSeconds = 10;
/// How long the parent waits for a child's report, and for it to exit.
constexpr int kReplyTimeoutMs = 10'000;
/// Messages (or round trips) between two re-arms of the child's watchdog.
constexpr u64 kKeepAliveEvery = u64{1} << 16;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// ------------------------------------------------------------------ messages

/// The 64-byte message: word 0 is the sequence number, words 1..7 are derived from it,
/// so that a torn or misplaced copy shows.
struct Msg64 {
  u64 word[8];
};
static_assert(sizeof(Msg64) == 64 && std::is_trivially_copyable_v<Msg64>);

constexpr u64 kMix = 0x9E37'79B9'7F4A'7C15ull;

template <class T>
T make_message(u64 seq) noexcept {
  if constexpr (std::is_same_v<T, u64>) {
    return seq;
  } else {
    Msg64 m;
    m.word[0] = seq;
    for (u64 k = 1; k < 8; ++k) m.word[k] = seq * kMix + k;
    return m;
  }
}

u64 seq_of(u64 m) noexcept { return m; }
u64 seq_of(const Msg64& m) noexcept { return m.word[0]; }
bool intact(u64) noexcept { return true; }
bool intact(const Msg64& m) noexcept {
  bool ok = true;
  for (u64 k = 1; k < 8; ++k) ok &= m.word[k] == m.word[0] * kMix + k;
  return ok;
}

/// What crossed: the count, sum and xor of sequence numbers; `bad` counts messages out of
/// order or with a broken pattern (consumer side only).
struct Tally {
  u64 count = 0, sum = 0, xr = 0, bad = 0;
  void add(u64 seq) noexcept {
    ++count;
    sum += seq;
    xr ^= seq;
  }
};

/// The tally of the sequence 1..n, what every row sends.
Tally tally_of_range(u64 n) {
  Tally t;
  for (u64 v = 1; v <= n; ++v) t.add(v);
  return t;
}

/// The consumer's per-message check: sequence numbers 1, 2, 3, ... and intact payloads.
struct Checker {
  Tally tally;
  u64 next = 1;
  template <class T>
  void take(const T& m) noexcept {
    const u64 s = seq_of(m);
    if (s != next || !intact(m)) [[unlikely]]
      ++tally.bad;
    next = s + 1;
    tally.add(s);
  }
};

/// Empty when `got` (one side's tally) matches the sequence 1..total, else what differs.
std::string compare(const char* who, const Tally& got, u64 total) {
  const Tally want = tally_of_range(total);
  if (got.bad != 0) return std::string(who) + ": " + std::to_string(got.bad) + " messages out of order or corrupted";
  if (got.count == want.count && got.sum == want.sum && got.xr == want.xr) return {};
  return std::string("checksum mismatch: ") + who + " has count " + std::to_string(got.count) + " sum " +
         std::to_string(got.sum) + " xor " + std::to_string(got.xr) + ", expected count " + std::to_string(want.count) +
         " sum " + std::to_string(want.sum) + " xor " + std::to_string(want.xr);
}

// ------------------------------------------------------------------ process plumbing

/// An owned descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

/// The two CPUs of every row: the first two this process may use, read once before any
/// row pins anything.
struct CpuPair {
  int parent = -1, child = -1;
  bool ok() const noexcept { return child >= 0; }
};

const CpuPair& two_cpus() {
  static const CpuPair pair = [] {
    CpuPair p;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return p;
    for (int cpu = 0; cpu < CPU_SETSIZE && !p.ok(); ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      (p.parent < 0 ? p.parent : p.child) = cpu;
    }
    return p;
  }();
  return pair;
}

/// Pins the calling thread (in the single-threaded child: the process) to one CPU.
bool pin_to(int cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

/// Pins the benchmark's thread for one run and gives it back its mask afterwards, so that
/// whatever runs next starts from the placement it had.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    saved_ok_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    if (!pin_to(cpu)) error_ = errno_text("pinning the parent (sched_setaffinity)");
  }
  ~ScopedPin() {
    if (saved_ok_) (void)sched_setaffinity(0, sizeof saved_, &saved_);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  const std::string& error() const noexcept { return error_; }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
  std::string error_;
};

/// What a child tells the parent over the control socket: first `ready` (pinned, attached,
/// waiting for the go byte), last `done` with what it sent or echoed, or why it failed.
struct Report {
  enum Kind : std::uint32_t { ready = 1, done = 2 };
  std::uint32_t kind = done;
  std::uint32_t ok = 0;
  Tally tally;
  char what[160] = {};
};

Report failure(std::string_view what) {
  Report r;
  const std::size_t n = std::min(what.size(), sizeof r.what - 1);
  std::memcpy(r.what, what.data(), n);
  return r;
}

/// Re-arms the child's watchdog: a child that makes no progress for kWatchdogSeconds gets
/// SIGALRM, whose default action ends it; the parent then sees EOF or a closed channel.
void keep_alive() noexcept { alarm(kWatchdogSeconds); }

/// Waits up to `timeout_ms` for the peer's next report. Empty when one came, else why not.
std::string read_report(int fd, int timeout_ms, Report* out) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno_text("poll");
  if (r == 0) return "no report within " + std::to_string(timeout_ms) + " ms";
  const ssize_t n = recv(fd, out, sizeof *out, 0);
  if (n < 0) return errno_text("recv of the report");
  if (n != static_cast<ssize_t>(sizeof *out)) return n == 0 ? "the child closed its socket" : "a short report";
  return {};
}

/// The child's side of the start: says it is set up, then waits for the parent's go (which
/// the parent sends just before its timed loop). False if the parent went away.
bool await_go(int control) {
  Report r;
  r.kind = Report::ready;
  r.ok = 1;
  if (send(control, &r, sizeof r, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof r)) return false;
  char go = 0;
  ssize_t n;
  do n = recv(control, &go, 1, 0);
  while (n < 0 && errno == EINTR);
  return n == 1;
}

/// "exited with 0", "killed by signal 14 (its watchdog: no progress for 10 s)".
std::string describe(int status) {
  if (status == -1) return "lost (waitpid failed)";
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string s = "killed by signal " + std::to_string(WTERMSIG(status));
    if (WTERMSIG(status) == SIGALRM) s += " (its watchdog: no progress for " + std::to_string(kWatchdogSeconds) + " s)";
    return s;
  }
  return "ended with status " + std::to_string(status);
}

/// Waits up to `timeout_ms` for `pid` to end, then kills it and waits for that; returns
/// its wait status (-1 if it could not be had). Polling, because waitpid has no timeout.
int reap(pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      (void)::kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
      }
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// The child process of one run: forked, pinned, watched, reporting over a socketpair
/// (SOCK_SEQPACKET: each report and each shared descriptor stays one message).
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  /// Kills a child still running (a failed row) and reaps it.
  ~Child() { kill(); }

  /// Forks. The child pins itself to `cpu`, arms its watchdog, runs `body(control)` (which
  /// calls await_go once set up and returns its `done` report), sends that report and
  /// leaves with _exit: it never returns into the benchmark library, whose state it shares
  /// copy-on-write. Empty when forked, else why not.
  template <class Body>
  std::string spawn(int cpu, Body&& body) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return errno_text("socketpair");
    std::fflush(nullptr);  // buffered output would be written twice
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      return errno_text("fork");
    }
    if (pid == 0) {
      ::close(sv[0]);
      // Dies with the benchmark; the check closes the race with a parent that ended first.
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(2);
      keep_alive();
      Report r;
      try {  // an exception must not unwind into the benchmark library's frames
        r = pin_to(cpu) ? body(sv[1]) : failure(errno_text("pinning the child (sched_setaffinity)"));
      } catch (...) {
        r = failure("the child threw an exception");
      }
      r.kind = Report::done;
      (void)send(sv[1], &r, sizeof r, MSG_NOSIGNAL);
      _exit(0);
    }
    ::close(sv[1]);
    pid_ = pid;
    control_.reset(sv[0]);
    return {};
  }

  /// The parent's end of the control socket (shared descriptors go through it too).
  int control() const noexcept { return control_.get(); }

  /// Waits for the child's `ready` and sends it the go byte. Empty when it started.
  std::string start() {
    Report r;
    if (std::string err = read_report(control_.get(), kReplyTimeoutMs, &r); !err.empty()) {
      return "the child did not get ready: " + err + ", " + describe(reap_now());
    }
    if (r.kind != Report::ready) return std::string("the child failed to set up: ") + r.what;
    const char go = 'g';
    if (send(control_.get(), &go, 1, MSG_NOSIGNAL) != 1) return errno_text("sending go");
    return {};
  }

  /// After the timed loop: takes the `done` report and reaps the child. Empty when it
  /// reported success and exited cleanly.
  std::string finish(Report* out) {
    const std::string err = read_report(control_.get(), kReplyTimeoutMs, out);
    const int status = reap(std::exchange(pid_, -1), kReplyTimeoutMs);
    if (!err.empty()) return "the child ended without a report (" + describe(status) + "): " + err;
    if (out->ok == 0) return std::string("the child failed: ") + out->what;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child " + describe(status);
    return {};
  }

  void kill() noexcept {
    if (pid_ > 0) {
      (void)::kill(pid_, SIGKILL);
      (void)reap(std::exchange(pid_, -1), kReplyTimeoutMs);
    }
  }

 private:
  int reap_now() {
    (void)::kill(pid_, SIGKILL);
    return reap(std::exchange(pid_, -1), kReplyTimeoutMs);
  }

  pid_t pid_ = -1;
  Fd control_;
};

/// One run of a two-process row. The row (Row) provides:
///   kPerIteration                      messages or round trips per benchmark iteration
///   std::string before_fork()          what both processes need (a mapping, a socketpair)
///   Report child(int control, u64 n)   the child's whole part, for n messages or round trips
///   std::string after_fork(int control)  the parent's end (channels are created here, after
///                                      the fork, by the process that owns the creating end)
///   void measure(benchmark::State&)    the timed loop; on a failure it skips the row itself
///   std::string verify(const Report&, u64 n)  the child's tally against the expected one
/// Errors are texts; any of them skips the row, and ~Child kills a child still running.
template <class Row>
void run_row(benchmark::State& state, Row& row) {
  const CpuPair& cpus = two_cpus();
  if (!cpus.ok()) {
    state.SkipWithError("ipc_bench needs two CPUs to pin its two processes to");
    return;
  }
  ScopedPin pin(cpus.parent);
  const u64 total = static_cast<u64>(state.max_iterations) * Row::kPerIteration;
  Child child;
  std::string err = pin.error();
  if (err.empty()) err = row.before_fork();
  if (err.empty()) err = child.spawn(cpus.child, [&row, total](int control) { return row.child(control, total); });
  if (err.empty()) err = row.after_fork(child.control());
  if (err.empty()) err = child.start();
  if (!err.empty()) {
    state.SkipWithError(err.c_str());
    return;
  }
  row.measure(state);
  if (state.error_occurred()) return;
  Report report;
  err = child.finish(&report);
  if (err.empty()) err = row.verify(report, total);
  if (!err.empty()) state.SkipWithError(err.c_str());
  state.SetLabel("cpus=" + std::to_string(cpus.parent) + "," + std::to_string(cpus.child));
}

// ------------------------------------------------------------------ round trips

/// The timed loop of the round-trip rows: kRoundTrips round trips per iteration, each
/// timed on its own (the same clock and bookkeeping as harness.h's ping_pong). `one(v)`
/// makes the round trip that carries v = 1, 2, ... and returns nullptr, or why it failed.
template <class RoundTrip>
void ping_rounds(benchmark::State& state, RoundTrip&& one) {
  std::vector<u64> samples(static_cast<std::size_t>(state.max_iterations) * kRoundTrips);  // before timing
  std::size_t at = 0;
  u64 v = 0;
  for (auto _ : state) {
    u64 prev = ticks();
    for (u64 i = 0; i < kRoundTrips; ++i) {
      if (const char* why = one(++v)) [[unlikely]] {
        state.SkipWithError((std::string(why) + " at round trip " + std::to_string(v)).c_str());
        return;
      }
      const u64 now = ticks();
      samples[at++] = now - prev;
      prev = now;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kRoundTrips));
  samples.resize(at);
  report_latency(state, samples);
}

/// The child's side of a round-trip row: `echo(v)` waits for round trip v and answers it
/// (nullptr, or why it failed); the tally of v's goes back to the parent.
template <class Echo>
Report pong_rounds(int control, u64 total, Echo&& echo) {
  if (!await_go(control)) return failure("the parent went away before go");
  Report r;
  for (u64 v = 1; v <= total; ++v) {
    if (const char* why = echo(v)) [[unlikely]]
      return failure(std::string(why) + " at round trip " + std::to_string(v));
    r.tally.add(v);  // after the answer: off the round trip's path
    if (v % kKeepAliveEvery == 0) keep_alive();
  }
  r.ok = 1;
  return r;
}

/// Waits for `r` = try() to leave `busy`: nullptr once it is `ok`, else why not (the
/// channel closed, or a stall of kStallLimit, through the same Spinner as harness.h).
template <class Result, class Try>
const char* poll_until_ok(Spinner& spin, Result busy, Try&& attempt) {
  Result r;
  while ((r = attempt()) != Result::ok) {
    if (r != busy) return "the channel closed";
    if (!spin.spin()) return "stalled";
  }
  spin.reset();
  return nullptr;
}

/// ipc/rtt/sn: two sn::ipc channels of u64. The parent sends v on `there` and waits for it
/// on `back`; the child receives on `there` and sends it back on `back`.
class RttSn {
 public:
  static constexpr u64 kPerIteration = kRoundTrips;

  std::string before_fork() { return {}; }

  Report child(int control, u64 total) {
    // The parent shares `there` first, then `back`: attach in that order.
    auto rx = sn::ipc::attach_receiver<u64>(sn::ipc::From::socket(control));
    if (!rx.ok()) return failure("attach_receiver: " + rx.status().ToString());
    auto tx = sn::ipc::attach_sender<u64>(sn::ipc::From::socket(control));
    if (!tx.ok()) return failure("attach_sender: " + tx.status().ToString());
    std::atomic<bool> abort{false};
    Spinner spin(abort);
    return pong_rounds(control, total, [&](u64 v) -> const char* {
      u64 got = 0;
      if (const char* why = poll_until_ok(spin, sn::RecvResult::empty, [&] { return rx->try_recv(got); })) return why;
      if (got != v) return "the child received a wrong value";
      return poll_until_ok(spin, sn::SendResult::full, [&] { return tx->try_send(got); });
    });
  }

  std::string after_fork(int control) {
    auto there = sn::ipc::create_sender<u64>(kRingSlots);
    if (!there.ok()) return "create_sender: " + there.status().ToString();
    auto back = sn::ipc::create_receiver<u64>(kRingSlots);
    if (!back.ok()) return "create_receiver: " + back.status().ToString();
    there_ = std::move(*there);
    back_ = std::move(*back);
    if (absl::Status s = there_.share(control); !s.ok()) return "share: " + s.ToString();
    if (absl::Status s = back_.share(control); !s.ok()) return "share: " + s.ToString();
    return {};
  }

  void measure(benchmark::State& state) {
    std::atomic<bool> abort{false};
    Spinner spin(abort);
    ping_rounds(state, [&](u64 v) -> const char* {
      if (const char* why = poll_until_ok(spin, sn::SendResult::full, [&] { return there_.try_send(v); })) return why;
      u64 echo = 0;
      if (const char* why = poll_until_ok(spin, sn::RecvResult::empty, [&] { return back_.try_recv(echo); }))
        return why;
      return echo == v ? nullptr : "wrong echo";
    });
  }

  std::string verify(const Report& r, u64 total) { return compare("the child", r.tally, total); }

 private:
  sn::ipc::Sender<u64> there_;
  sn::ipc::Receiver<u64> back_;
};

/// ipc/rtt/cacheline: one counter in a MAP_SHARED|MAP_ANONYMOUS page (mapped before the
/// fork, so both processes see the same physical line; page-aligned, hence line-aligned).
/// Round trip v: the parent stores 2v-1 and waits for 2v; the child waits for 2v-1 and
/// stores 2v.
class RttCacheline {
 public:
  static constexpr u64 kPerIteration = kRoundTrips;
  static_assert(std::atomic<u64>::is_always_lock_free, "an atomic in shared memory must be lock-free");

  RttCacheline() = default;
  RttCacheline(const RttCacheline&) = delete;
  RttCacheline& operator=(const RttCacheline&) = delete;
  ~RttCacheline() {
    if (page_ != MAP_FAILED) munmap(page_, kPage);
  }

  std::string before_fork() {
    page_ = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page_ == MAP_FAILED) return errno_text("mmap");
    line_ = new (page_) std::atomic<u64>(0);
    return {};
  }

  Report child(int control, u64 total) {
    std::atomic<bool> abort{false};
    Spinner spin(abort);
    return pong_rounds(control, total, [&](u64 v) -> const char* {
      // acquire: pairs with the parent's release store of 2v-1 (what it wrote before is ours).
      while (line_->load(std::memory_order_acquire) != 2 * v - 1) {
        if (!spin.spin()) return "stalled";
      }
      spin.reset();
      line_->store(2 * v, std::memory_order_release);  // release: pairs with the parent's acquire load
      return nullptr;
    });
  }

  std::string after_fork(int) { return {}; }

  void measure(benchmark::State& state) {
    std::atomic<bool> abort{false};
    Spinner spin(abort);
    ping_rounds(state, [&](u64 v) -> const char* {
      line_->store(2 * v - 1, std::memory_order_release);  // release: pairs with the child's acquire load
      // acquire: pairs with the child's release store of 2v.
      while (line_->load(std::memory_order_acquire) != 2 * v) {
        if (!spin.spin()) return "stalled";
      }
      spin.reset();
      return nullptr;
    });
  }

  std::string verify(const Report& r, u64 total) { return compare("the child", r.tally, total); }

 private:
  static constexpr std::size_t kPage = 4096;
  void* page_ = MAP_FAILED;
  std::atomic<u64>* line_ = nullptr;
};

// ------------------------------------------------------------------ throughput

/// sn::ipc: the parent creates the receiving end after the fork and shares it; the child
/// attaches the sending end. Both sides busy-poll (Spinner) when the ring is full or empty.
template <class T>
class SnLink {
 public:
  std::string before_fork() { return {}; }
  std::string child_side(int control) {
    auto tx = sn::ipc::attach_sender<T>(sn::ipc::From::socket(control));
    if (!tx.ok()) return "attach_sender: " + tx.status().ToString();
    tx_ = std::move(*tx);
    return {};
  }
  std::string parent_side(int control) {
    auto rx = sn::ipc::create_receiver<T>(kRingSlots);
    if (!rx.ok()) return "create_receiver: " + rx.status().ToString();
    rx_ = std::move(*rx);
    absl::Status s = rx_.share(control);
    return s.ok() ? std::string() : "share: " + s.ToString();
  }
  /// Child: sends all of `b`, as much per send_batch as fits.
  bool send(std::span<const T> b, Spinner& spin, std::string* err) {
    while (!b.empty()) {
      const sn::SendBatchResult r = tx_.send_batch(b);
      if (r.count != 0) {
        b = b.subspan(r.count);
        spin.reset();
      } else if (r.status == sn::SendResult::closed) {
        *err = "send_batch: closed (" + std::string(sn::ipc::to_string(tx_.close_reason())) + ")";
        return false;
      } else if (!spin.spin()) {
        *err = "send_batch: stalled";
        return false;
      }
    }
    return true;
  }
  /// Parent: 1..out.size() messages, or 0 with `err` set.
  std::size_t recv(std::span<T> out, Spinner& spin, std::string* err) {
    for (;;) {
      const sn::RecvBatchResult r = rx_.recv_batch(out);
      if (r.count != 0) {
        spin.reset();
        return r.count;
      }
      if (r.status == sn::RecvResult::closed) {
        *err = "recv_batch: closed (" + std::string(sn::ipc::to_string(rx_.close_reason())) + ")";
        return 0;
      }
      if (!spin.spin()) {
        *err = "recv_batch: stalled";
        return 0;
      }
    }
  }

 private:
  sn::ipc::Sender<T> tx_;
  sn::ipc::Receiver<T> rx_;
};

/// A descriptor pair made before the fork: [0] the parent's (reading) end, [1] the
/// child's (writing) end. Each process closes the other's, so that the parent reads EOF
/// when the child ends (or is killed by its watchdog).
class FdPair {
 public:
  std::string child_side(int) {
    ends_[0].reset();
    return {};
  }
  std::string parent_side(int) {
    ends_[1].reset();
    return {};
  }

 protected:
  Fd ends_[2];
};

/// A SOCK_SEQPACKET socketpair: one record per message, sendmmsg / recvmmsg of a batch.
template <class T>
class SocketLink : public FdPair {
 public:
  std::string before_fork() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return errno_text("socketpair");
    ends_[0].reset(sv[0]);
    ends_[1].reset(sv[1]);
    return {};
  }
  bool send(std::span<const T> b, Spinner&, std::string* err) {
    Batch h(const_cast<T*>(b.data()), b.size());
    for (std::size_t off = 0; off < b.size();) {
      const int n = sendmmsg(ends_[1].get(), h.msgs.data() + off, static_cast<unsigned>(b.size() - off), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *err = errno_text("sendmmsg");
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  std::size_t recv(std::span<T> out, Spinner&, std::string* err) {
    Batch h(out.data(), out.size());
    int n;
    // MSG_WAITFORONE: block for the first record, then take what is there, up to the batch.
    do n = recvmmsg(ends_[0].get(), h.msgs.data(), static_cast<unsigned>(out.size()), MSG_WAITFORONE, nullptr);
    while (n < 0 && errno == EINTR);
    if (n < 0) *err = errno_text("recvmmsg");
    if (n <= 0) return 0;
    for (int i = 0; i < n; ++i) {
      const mmsghdr& m = h.msgs[static_cast<std::size_t>(i)];
      if (m.msg_len != sizeof(T) || (m.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        *err = "recvmmsg: a record of " + std::to_string(m.msg_len) + " bytes (the producer closed?)";
        return 0;
      }
    }
    return static_cast<std::size_t>(n);
  }

 private:
  /// The headers of one batch: one record per message, each pointing at its element.
  struct Batch {
    std::array<iovec, kBatch> iov;
    std::array<mmsghdr, kBatch> msgs;
    Batch(T* data, std::size_t n) noexcept {
      for (std::size_t i = 0; i < n; ++i) {
        iov[i] = iovec{data + i, sizeof(T)};
        msgs[i] = mmsghdr{};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
    }
  };
};

/// A pipe: one write() of a batch (at most 64 x 64 B = PIPE_BUF, so each is atomic), one
/// read() per batch; a read that ends inside a message reads on to its end.
template <class T>
class PipeLink : public FdPair {
 public:
  static_assert(kBatch * sizeof(T) <= PIPE_BUF, "a batch must be one atomic pipe write");
  std::string before_fork() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return errno_text("pipe2");
    ends_[0].reset(p[0]);
    ends_[1].reset(p[1]);
    return {};
  }
  bool send(std::span<const T> b, Spinner&, std::string* err) {
    const char* p = reinterpret_cast<const char*>(b.data());
    for (std::size_t left = b.size_bytes(); left != 0;) {
      const ssize_t n = write(ends_[1].get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *err = errno_text("write");
        return false;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return true;
  }
  std::size_t recv(std::span<T> out, Spinner&, std::string* err) {
    char* p = reinterpret_cast<char*>(out.data());
    std::size_t got = 0;
    do {
      const ssize_t n = read(ends_[0].get(), p + got, out.size_bytes() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *err = n == 0 ? std::string("read: the pipe closed (the producer ended?)") : errno_text("read");
        return 0;
      }
      got += static_cast<std::size_t>(n);
    } while (got % sizeof(T) != 0);
    return got / sizeof(T);
  }
};

/// ipc/spsc/<size>/<link>: the child produces 1..n in batches of kBatch, the parent
/// consumes kIpcMessages per iteration and checks each message (Checker).
template <class Link, class T>
class Spsc {
 public:
  static constexpr u64 kPerIteration = kIpcMessages;

  std::string before_fork() { return link_.before_fork(); }

  Report child(int control, u64 total) {
    if (std::string err = link_.child_side(control); !err.empty()) return failure(err);
    if (!await_go(control)) return failure("the parent went away before go");
    std::atomic<bool> abort{false};
    Spinner spin(abort);
    std::array<T, kBatch> batch;
    std::string err;
    Report r;
    for (u64 seq = 1; seq <= total; seq += kBatch) {
      const std::size_t k = static_cast<std::size_t>(std::min<u64>(kBatch, total - seq + 1));
      for (std::size_t j = 0; j < k; ++j) {
        batch[j] = make_message<T>(seq + j);
        r.tally.add(seq + j);
      }
      if (!link_.send(std::span<const T>(batch.data(), k), spin, &err)) return failure(err);
      if ((seq - 1) % kKeepAliveEvery == 0) keep_alive();
    }
    r.ok = 1;
    return r;
  }

  std::string after_fork(int control) { return link_.parent_side(control); }

  void measure(benchmark::State& state) {
    std::atomic<bool> abort{false};
    Spinner spin(abort);
    std::array<T, kBatch> buf;
    std::string err;
    for (auto _ : state) {
      for (u64 got = 0; got < kIpcMessages;) {
        const std::size_t want = static_cast<std::size_t>(std::min<u64>(kBatch, kIpcMessages - got));
        const std::size_t k = link_.recv(std::span<T>(buf.data(), want), spin, &err);
        if (k == 0) [[unlikely]] {
          state.SkipWithError((err + " after " + std::to_string(check_.tally.count) + " messages").c_str());
          return;
        }
        for (std::size_t j = 0; j < k; ++j) check_.take(buf[j]);
        got += k;
      }
    }
    const auto items = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kIpcMessages);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(items * static_cast<std::int64_t>(sizeof(T)));
  }

  std::string verify(const Report& r, u64 total) {
    if (std::string err = compare("the consumer", check_.tally, total); !err.empty()) return err;
    return compare("the producer", r.tally, total);
  }

 private:
  Link link_;
  Checker check_;
};

// ------------------------------------------------------------------ registration

template <class Row>
void row(benchmark::State& state) {
  Row r;
  run_row(state, r);
}

void register_all() {
  auto add = [](const char* name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name, fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  add("ipc/rtt/sn", &row<RttSn>);
  add("ipc/rtt/cacheline", &row<RttCacheline>);
  add("ipc/spsc/8B/sn", &row<Spsc<SnLink<u64>, u64>>);
  add("ipc/spsc/8B/unix_socket", &row<Spsc<SocketLink<u64>, u64>>);
  add("ipc/spsc/8B/pipe", &row<Spsc<PipeLink<u64>, u64>>);
  add("ipc/spsc/64B/sn", &row<Spsc<SnLink<Msg64>, Msg64>>);
  add("ipc/spsc/64B/unix_socket", &row<Spsc<SocketLink<Msg64>, Msg64>>);
  add("ipc/spsc/64B/pipe", &row<Spsc<PipeLink<Msg64>, Msg64>>);
}

void add_context() {
  add_machine_context();
  const CpuPair& cpus = two_cpus();
  benchmark::AddCustomContext("ipc_cpus", std::to_string(cpus.parent) + "," + std::to_string(cpus.child));
  benchmark::AddCustomContext("ring_slots", std::to_string(kRingSlots));
  benchmark::AddCustomContext("batch", std::to_string(kBatch));
  benchmark::AddCustomContext("messages_per_iteration", std::to_string(kIpcMessages));
  benchmark::AddCustomContext("round_trips_per_iteration", std::to_string(kRoundTrips));
}

}  // namespace
}  // namespace snbench

int main(int argc, char** argv) {
  // Two busy-polling processes on one CPU would take turns by time slice: nothing to
  // measure. 77 is ctest's SKIP_RETURN_CODE for bench.ipc_checksums.
  if (!snbench::two_cpus().ok()) {
    std::fprintf(stderr, "ipc_bench: skipped: needs two CPUs to pin its two processes to\n");
    return 77;
  }
  return snbench::run_benchmarks(argc, argv, snbench::add_context, snbench::register_all);
}
