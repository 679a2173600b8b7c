// The accumulator pattern: producers feed one bounded channel, and a dispatcher (the
// "transfer executor") fans every record out to three stores:
//
//   producers --intake (mpsc)--> dispatcher --+--> RAM store (in the dispatcher: latest record per producer)
//   (blocking sends)                          +--to_async (spsc)--> async writer (checks and aggregates)
//                                             +--to_disk (spsc)---> disk store --pipe--> writer process
//                                                                       ^                 (appends, fsyncs)
//                                                                       +--acks (spsc)<--pipe--+
//
// What it shows:
//   - Backpressure, not buffering. Every queue is bounded (three channels, the disk
//     store's window of unacknowledged records, the pipes), so a slow disk fills them
//     and the producers' sends block. Memory stays flat whatever the disk does; run it
//     with --slow_disk_us and compare the producers' block counts and the peak RSS.
//   - Durability with acknowledgements. The log file is written by a separate writer
//     process (this same binary started with --writer). It appends fixed-size frames
//     (magic + record with its CRC-32C) and reports each fsync back through a pipe. The
//     disk store keeps every record until that report says it is on disk.
//   - Crash and recovery. --crashes K ends the writer process K times with SIGKILL in
//     the middle of the stream: odd crashes come from outside (the disk store kills it
//     wherever it happens to be), even ones from inside (the writer writes half a frame
//     and kills itself, as if it died inside write(): a torn tail, every time). A new
//     writer scans the file, checks every frame, cuts off a torn tail, and reports the
//     last record of each producer that the file holds. The disk store checks that
//     nothing it was told is durable is missing, drops what the file already has and
//     sends the rest again, so no record is lost or written twice.
//   - Proof. At the end the log is read back: every record of every producer must be
//     there exactly once, in order, with valid checksums and the expected payload. The
//     RAM store and the async writer must have seen every record too. Exit status 0
//     only if all of that holds.
//
// Why a process and not a thread: SIGKILL ends a process wherever it is, with records
// in its write buffer and maybe half a frame on disk, which is exactly the failure to
// survive. The writer is started with posix_spawn (fork + exec), so no multithreaded
// parent is ever forked without an exec, and ThreadSanitizer runs work.
// A killed process does not lose the page cache: whatever it wrote() is in the file
// even if it never fsynced, so a restarted writer often finds more than was
// acknowledged. A power cut could lose those unsynced bytes; that is why only fsynced
// records are acknowledged, and why the disk store keeps the rest until then.
//
// fsync policy (group commit): the writer fsyncs (fdatasync) after every N records
// (--fsync_every, default 512) and also whenever its input pipe runs dry, so a small
// batch is never left waiting for company. One acknowledgement follows each fsync.
// fdatasync writes the data and the file size (all an append needs), not the mtime.
// The log file is created afresh by each run and its directory is fsynced once.
//
// Usage: accumulator [options]                     (--help lists them)
//   --records=N        records in all (default 1,000,000)
//   --producers=P      producer threads (default 4, at most 64)
//   --fsync_every=N    fsync after at most N records (default 512)
//   --slow_disk_us=U   make every fsync take U more microseconds: a slow disk (default 0)
//   --crashes=K        crash the writer K times, spread over the run (default 2)
//   --window=W         most records the disk store keeps unacknowledged (default 4096)
//   --dir=D            where to write records.log (default: a new temporary directory)
//   --keep             keep the log file (a temporary directory is removed otherwise)
// Internal: `accumulator --writer=FILE ...` is the writer process, started by the parent.
// The ctest (examples.accumulator) runs 60,000 records with 3 crashes and fsyncs every 64.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "accumulator/log_format.h"
#include "sn/sn.h"
#include "support/flags.h"

ABSL_FLAG(std::uint64_t, records, 1'000'000, "records in all, split among the producers, 1..10^12");
ABSL_FLAG(std::uint64_t, producers, 4, "producer threads, 1..64");
ABSL_FLAG(std::uint64_t, fsync_every, 512, "fsync after at most this many records, 1..2^30");
ABSL_FLAG(std::uint64_t, slow_disk_us, 0, "make every fsync take this many more microseconds (a slow disk), 0..10^7");
ABSL_FLAG(std::uint64_t, crashes, 2, "crash the writer process this many times, spread over the run, 0..1000");
ABSL_FLAG(std::uint64_t, window, 4096, "most records the disk store keeps unacknowledged, 1..2^24");
ABSL_FLAG(std::string, dir, "", "where to write records.log; empty: a new temporary directory");
ABSL_FLAG(bool, keep, false, "keep the log file (a temporary directory is removed otherwise)");
ABSL_FLAG(std::string, writer, "", "internal: run as the writer process, appending to this log file");
ABSL_FLAG(std::uint64_t, tear_after, 0, "internal, for the writer process: die in the middle of this record's frame");

extern char** environ;

namespace {

using accumulator::AckFrame;
using accumulator::Frame;
using accumulator::Record;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kMaxProducers = 64;
constexpr std::size_t kBatch = 256;  // records moved per channel batch and per pipe write

/// What the flags asked for; read_options() fills it, and the flags hold the defaults.
struct Options {
  std::uint64_t records = 0;
  std::uint32_t producers = 0;
  std::uint32_t fsync_every = 0;
  std::uint32_t slow_disk_us = 0;
  std::uint32_t crashes = 0;
  std::uint32_t window = 0;
  std::string dir;
  bool keep = false;
  std::string writer_file;       // non-empty: run as the writer process on this file
  std::uint64_t tear_after = 0;  // writer process: die in the middle of this record's frame
};

std::uint64_t records_of(const Options& o, std::uint32_t p) {  // records producer p makes
  return o.records / o.producers + (p < o.records % o.producers ? 1 : 0);
}

// A channel's counters plus the deepest it was seen by its receiver.
struct Row {
  std::string name;
  sn::ChannelStats stats;
  std::uint64_t max_depth = 0;
};

template <class Rx>
void sample_depth(const Rx& rx, std::uint64_t& max_depth) {
  max_depth = std::max(max_depth, rx.stats().approx_depth);
}

template <class Ends>
Ends unwrap(Ends ends) {
  if (!ends.ok()) {
    std::fprintf(stderr, "channel creation failed: %s\n", ends.status().ToString().c_str());
    std::exit(2);
  }
  return ends;
}

// Sends every record of `records`, in order, waiting while the channel is full. Returns
// false only if the channel was closed. send_batch takes what fits without waiting; when
// nothing fits, one blocking send() waits for room: that wait is the backpressure.
bool send_all(sn::SpscSender<Record>& tx, std::span<Record> records) {
  while (!records.empty()) {
    const sn::SendBatchResult r = tx.send_batch(records);
    if (r.status == sn::SendResult::closed) return false;
    records = records.subspan(r.count);
    if (r.count == 0) {
      if (tx.send(std::move(records.front())) != sn::SendResult::ok) return false;
      records = records.subspan(1);
    }
  }
  return true;
}

// =======================================================================================
// The writer process: `accumulator --writer FILE ...`. Records arrive on stdin,
// acknowledgements (AckFrames) leave on stdout. It owns every write to the log file.

// Appends frames to the file through a 16 KiB buffer that is flushed when full, like
// stdio: the flush point falls wherever it falls, often inside a frame. A writer killed
// between two flushes therefore leaves a torn frame at the end of the file.
class LogAppender {
 public:
  explicit LogAppender(int fd) : fd_(fd), buf_(16 * 1024) {}

  bool append(const Frame& f) {
    const auto* p = reinterpret_cast<const char*>(&f);
    std::size_t left = sizeof f;
    while (left > 0) {
      const std::size_t n = std::min(left, buf_.size() - used_);
      std::memcpy(buf_.data() + used_, p, n);
      used_ += n;
      p += n;
      left -= n;
      if (used_ == buf_.size() && !flush()) return false;
    }
    return true;
  }
  bool flush() {
    if (used_ > 0 && !accumulator::write_full(fd_, buf_.data(), used_)) return false;
    used_ = 0;
    return true;
  }

 private:
  int fd_;
  std::vector<char> buf_;
  std::size_t used_ = 0;
};

bool send_ack(AckFrame::Kind kind, std::uint32_t producer, std::uint64_t value) {
  const AckFrame f{kind, producer, value};
  return accumulator::write_full(STDOUT_FILENO, &f, sizeof f);
}

// Recovery: keeps the longest valid prefix of the log and reports what it holds.
// A frame is valid if its magic, size and checksum hold and its sequence number follows
// the previous record of its producer. Invalid bytes at the end are a torn tail and are
// cut off; a valid frame after an invalid one would mean damage in the middle of the
// file, which no crash of ours can cause, so the writer refuses to go on.
bool recover(int fd, const char* path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::perror("writer: fstat");
    return false;
  }
  std::vector<std::uint64_t> last(kMaxProducers, 0);  // last seq found per producer
  off_t valid_end = 0;
  std::uint64_t frames = 0;
  const bool read_ok = accumulator::scan_frames(fd, [&](const Frame& f, off_t offset) {
    if (!accumulator::frame_valid(f) || f.record.producer >= kMaxProducers ||
        f.record.seq != last[f.record.producer] + 1) {
      return false;
    }
    last[f.record.producer] = f.record.seq;
    valid_end = offset + static_cast<off_t>(sizeof(Frame));
    ++frames;
    return true;
  });
  if (!read_ok) {
    std::perror("writer: read");
    return false;
  }

  std::uint64_t truncated = 0;
  if (st.st_size > valid_end) {
    bool valid_later = false;  // any valid frame after the first invalid one?
    const bool later_ok = accumulator::scan_frames(fd, [&](const Frame& f, off_t offset) {
      if (offset > valid_end && accumulator::frame_valid(f)) valid_later = true;
      return !valid_later;
    });
    if (!later_ok || valid_later) {
      std::fprintf(stderr, "writer: %s is damaged at offset %lld, not just torn at the end\n", path,
                   static_cast<long long>(valid_end));
      return false;
    }
    if (::ftruncate(fd, valid_end) != 0 || ::fdatasync(fd) != 0) {
      std::perror("writer: cutting the torn tail");
      return false;
    }
    truncated = static_cast<std::uint64_t>(st.st_size - valid_end);
  }
  for (std::uint32_t p = 0; p < kMaxProducers; ++p) {
    if (last[p] > 0 && !send_ack(AckFrame::kRecovered, p, last[p])) return false;
  }
  if (truncated > 0 && !send_ack(AckFrame::kTruncated, 0, truncated)) return false;
  return send_ack(AckFrame::kReady, 0, frames);
}

bool input_ready() {
  pollfd pfd{STDIN_FILENO, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
}

int writer_main(const Options& o) {
  // O_APPEND: every write goes to the end of the file, whatever else happens to it.
  // Reads (pread) and ftruncate still work on this descriptor, for recovery.
  const int fd = ::open(o.writer_file.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror("writer: open");
    return 2;
  }
  if (!recover(fd, o.writer_file.c_str())) {
    std::fprintf(stderr, "writer: recovery of %s failed\n", o.writer_file.c_str());
    return 3;
  }

  LogAppender log(fd);
  std::uint64_t pending = 0;  // appended since the last fsync, not yet acknowledged
  auto commit = [&]() -> bool {
    if (!log.flush() || ::fdatasync(fd) != 0) return false;
    if (o.slow_disk_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.slow_disk_us));
    const bool sent = send_ack(AckFrame::kDurable, 0, pending);
    pending = 0;
    return sent;
  };

  std::vector<Record> in(kBatch);
  std::size_t have_bytes = 0;  // bytes of `in` filled; a read can end inside a record
  std::uint64_t received = 0;
  for (;;) {
    const ssize_t r =
        ::read(STDIN_FILENO, reinterpret_cast<char*>(in.data()) + have_bytes, in.size() * sizeof(Record) - have_bytes);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return 4;
    if (r == 0) break;  // the parent closed our input: finish cleanly
    have_bytes += static_cast<std::size_t>(r);
    const std::size_t whole = have_bytes / sizeof(Record);
    for (std::size_t i = 0; i < whole; ++i) {
      if (in[i].crc != accumulator::record_crc(in[i])) {
        std::fprintf(stderr, "writer: a record arrived with a bad checksum\n");
        return 5;
      }
      Frame f;
      f.record = in[i];
      if (++received == o.tear_after) {
        // A planned crash in the middle of a write: what the kernel leaves when a
        // process dies inside write(), or a disk loses power mid-sector. Flush what came
        // before, write half of this frame, and die at once, without any cleanup.
        if (!log.flush() || !accumulator::write_full(fd, &f, sizeof f / 2)) return 4;
        (void)::raise(SIGKILL);
      }
      if (!log.append(f)) return 4;
      if (++pending >= o.fsync_every && !commit()) return 4;
    }
    have_bytes -= whole * sizeof(Record);
    std::memmove(in.data(), in.data() + whole, have_bytes);
    if (pending > 0 && !input_ready() && !commit()) return 4;  // group commit: input ran dry
  }
  if (pending > 0 && !commit()) return 4;
  return have_bytes == 0 ? 0 : 6;  // a partial record at the end would be a parent's bug
}

// =======================================================================================
// The parent: producers, dispatcher, RAM store, async writer, disk store.

// Reads the writer's AckFrames from a pipe into a channel, until the writer's stdout
// closes (it exited or was killed). Dropping `tx` then closes the channel, which is how
// the disk store learns that this writer is gone, after it has read every ack.
void forward_acks(int fd, sn::SpscSender<AckFrame> tx) {
  AckFrame f;
  while (accumulator::read_full(fd, &f, sizeof f) == static_cast<ssize_t>(sizeof f)) {
    if (tx.send(std::move(f)) != sn::SendResult::ok) return;
  }
}

struct DiskReport {
  bool ok = true;
  std::uint64_t fsyncs = 0;         // acknowledgements received: one per fsync
  std::uint64_t resent = 0;         // records sent again after a restart
  std::uint64_t found_unacked = 0;  // records a restarted writer found that were never acked
  std::uint64_t max_unacked = 0;
  std::uint32_t crashes = 0;        // planned writer crashes that happened
  std::vector<std::string> events;  // crashes and recoveries, for the summary
  std::vector<Row> rows;            // to_disk, then one acks channel per writer process
};

// Runs on its own thread. Sends records to the writer process and keeps each one until
// an acknowledgement says it is durable; restarts the writer when it dies.
class DiskStore {
 public:
  DiskStore(const Options& o, std::string path, DiskReport& report)
      : o_(o), path_(std::move(path)), report_(report), acked_seq_(o.producers, 0) {}

  void run(sn::SpscReceiver<Record> in) {
    if (!start_writer()) return fail("cannot start the writer");
    std::vector<Record> batch(kBatch);
    std::uint64_t in_max_depth = 0;
    for (;;) {
      // 1. Take the acknowledgements that have arrived; wait for one if the window is full.
      if (!take_acks(/*wait=*/unacked_.size() >= o_.window)) {
        crashes_done_ += tear_planned_ ? 1 : 0;
        if (!restart(tear_planned_ ? "tore a frame and killed itself as planned" : "exited")) return;
        continue;
      }
      // 2. The planned crash: kill the writer wherever it is. Crash i comes once i/(K+1)
      //    of the records have been handed to a writer, so all K happen, however fast it is.
      if (crashes_done_ < o_.crashes && !tear_planned_ &&
          taken_ >= o_.records * (crashes_done_ + 1) / (o_.crashes + 1)) {
        ++crashes_done_;
        (void)::kill(pid_, SIGKILL);
        if (!restart("killed with SIGKILL")) return;
        continue;
      }
      // 3. More records, no more than the window allows.
      const std::size_t room = std::min<std::size_t>(batch.size(), o_.window - unacked_.size());
      sample_depth(in, in_max_depth);
      const sn::RecvBatchResult r = in.recv_batch(std::span(batch.data(), room));
      std::size_t n = r.count;
      if (n == 0) {
        if (r.status == sn::RecvResult::closed || in.recv(batch[0]) != sn::RecvResult::ok) break;
        n = 1;  // nothing was ready: waited for one record instead of spinning
      }
      taken_ += n;
      unacked_.insert(unacked_.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
      report_.max_unacked = std::max<std::uint64_t>(report_.max_unacked, unacked_.size());
      // If the write fails the writer died: the next take_acks sees it and restarts it.
      (void)accumulator::write_full(to_writer_, batch.data(), n * sizeof(Record));
    }
    report_.rows.insert(report_.rows.begin(), Row{"to_disk (spsc)", in.stats(), in_max_depth});

    // The input is finished. Closing the writer's stdin makes it flush, fsync, acknowledge
    // and exit; if it dies instead, a new one recovers and gets the rest.
    for (;;) {
      const int status = stop_writer();
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && unacked_.empty()) break;
      crashes_done_ += tear_planned_ ? 1 : 0;
      note_exit(tear_planned_ ? "tore a frame and killed itself as planned" : "failed at shutdown", status);
      if (!start_writer()) return fail("cannot restart the writer");
    }
    report_.crashes = crashes_done_;  // all of them unless the run was too short to fit them in
    if (!report_.ok) return;
    for (std::uint32_t p = 0; p < o_.producers; ++p) {
      if (acked_seq_[p] != records_of(o_, p)) return fail("not every record was acknowledged");
    }
  }

 private:
  void fail(const std::string& why) {
    report_.ok = false;
    report_.events.push_back("FAILED: " + why);
  }

  // Handles acks until none are left (wait = false) or at least one arrived (wait = true).
  // False if the writer is gone (the acks channel is closed and drained).
  bool take_acks(bool wait) {
    AckFrame f;
    if (wait) {
      if (acks_.recv(f) != sn::RecvResult::ok) return false;
      on_durable(f);
    }
    for (;;) {
      const sn::RecvResult r = acks_.try_recv(f);
      if (r == sn::RecvResult::empty) return true;
      if (r == sn::RecvResult::closed) return false;
      on_durable(f);
    }
  }

  // The first `value` records still kept are durable now: they were sent in order and
  // the writer appends in order.
  void on_durable(const AckFrame& f) {
    if (f.kind != AckFrame::kDurable || f.value > unacked_.size()) return fail("a bad acknowledgement");
    for (std::uint64_t i = 0; i < f.value; ++i) {
      acked_seq_[unacked_.front().producer] = unacked_.front().seq;
      unacked_.pop_front();
    }
    durable_ += f.value;
    ++report_.fsyncs;
  }

  // Starts a writer process on the log, reads its recovery report, and sends it every
  // record the log does not hold yet.
  bool start_writer() {
    if (++writers_ > o_.crashes + 4) return false;  // dying without being killed, again and again
    int in_pipe[2], out_pipe[2];                    // records to the writer; acks from it
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);  // dup2 clears CLOEXEC
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    const std::string fsync_every = "--fsync_every=" + std::to_string(o_.fsync_every);
    const std::string slow = "--slow_disk_us=" + std::to_string(o_.slow_disk_us);
    // Every second crash is the writer's own: it dies half-way through writing a frame,
    // after half as many records as there are between two crash points.
    tear_planned_ = writers_ % 2 == 0 && crashes_done_ < o_.crashes;
    const std::uint64_t tear_after = std::max<std::uint64_t>(1, o_.records / (2 * (o_.crashes + 1)));
    const std::string tear = "--tear_after=" + std::to_string(tear_planned_ ? tear_after : 0);
    const std::string writer = "--writer=" + path_;
    const char* argv[] = {"accumulator", writer.c_str(), fsync_every.c_str(), slow.c_str(), tear.c_str(), nullptr};
    const int rc = ::posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (rc != 0) return false;
    to_writer_ = in_pipe[1];
    from_writer_ = out_pipe[0];
    // Capacity: every ack frees at least one kept record and at most `window` are kept,
    // so the forwarding thread never waits for room (it could not if the writer waited on it).
    auto [tx, rx] = unwrap(sn::Channel<AckFrame>::spsc(o_.window + 2 * kMaxProducers));
    acks_ = std::move(rx);
    forwarder_ = std::thread(forward_acks, from_writer_, std::move(tx));

    // The recovery report.
    std::vector<std::uint64_t> recovered(o_.producers, 0);
    std::uint64_t truncated = 0, frames = 0;
    for (AckFrame f;;) {
      if (acks_.recv(f) != sn::RecvResult::ok) {  // died while recovering
        (void)stop_writer();
        return false;
      }
      if (f.kind == AckFrame::kReady) {
        frames = f.value;
        break;
      }
      if (f.kind == AckFrame::kTruncated) truncated = f.value;
      if (f.kind == AckFrame::kRecovered && f.producer < o_.producers) recovered[f.producer] = f.value;
    }
    if (writers_ == 1) return true;  // the first writer: a new, empty log

    std::uint64_t dropped = 0;
    for (std::uint32_t p = 0; p < o_.producers; ++p) {
      if (recovered[p] < acked_seq_[p]) {  // the one promise that must hold
        fail("producer " + std::to_string(p) + ": acknowledged up to " + std::to_string(acked_seq_[p]) +
             " but the log ends at " + std::to_string(recovered[p]));
      }
      acked_seq_[p] = std::max(acked_seq_[p], recovered[p]);
    }
    // The log may hold records that were written but never acknowledged: drop them here,
    // or they would be written twice. (They are a prefix of `unacked_`, in send order.)
    while (!unacked_.empty() && unacked_.front().seq <= recovered[unacked_.front().producer]) {
      unacked_.pop_front();
      ++dropped;
    }
    durable_ += dropped;
    report_.found_unacked += dropped;
    report_.resent += unacked_.size();
    report_.events.push_back(
        "writer " + std::to_string(writers_) + " recovered " + std::to_string(frames) + " records from the log (" +
        std::to_string(dropped) + " of them never acknowledged), " +
        (truncated > 0 ? "cut a torn tail of " + std::to_string(truncated) + " bytes" : "no torn tail") + ", resent " +
        std::to_string(unacked_.size()) + " records");
    std::vector<Record> chunk;
    for (std::size_t i = 0; i < unacked_.size(); i += kBatch) {
      chunk.assign(unacked_.begin() + static_cast<std::ptrdiff_t>(i),
                   unacked_.begin() + static_cast<std::ptrdiff_t>(std::min(i + kBatch, unacked_.size())));
      if (!accumulator::write_full(to_writer_, chunk.data(), chunk.size() * sizeof(Record))) break;
    }
    return true;
  }

  // Closes the writer's input, takes its last acks, reaps it. Returns its wait status.
  int stop_writer() {
    ::close(to_writer_);
    AckFrame f;
    while (acks_.recv(f) == sn::RecvResult::ok) on_durable(f);
    forwarder_.join();
    report_.rows.push_back(Row{"acks, writer " + std::to_string(writers_) + " (spsc)", acks_.stats(), 0});
    ::close(from_writer_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  void note_exit(const char* why, int status) {
    report_.events.push_back("writer " + std::to_string(writers_) + " (pid " + std::to_string(pid_) + ") " + why +
                             (WIFSIGNALED(status) ? ": signal " + std::to_string(WTERMSIG(status))
                                                  : ": exit status " + std::to_string(WEXITSTATUS(status))) +
                             ", " + std::to_string(durable_) + " records acknowledged, " +
                             std::to_string(unacked_.size()) + " kept");
  }

  bool restart(const char* why) {
    note_exit(why, stop_writer());
    if (!start_writer()) {
      fail("cannot restart the writer");
      return false;
    }
    return true;
  }

  const Options& o_;
  const std::string path_;
  DiskReport& report_;
  std::deque<Record> unacked_;            // sent, not yet known to be durable, in send order
  std::vector<std::uint64_t> acked_seq_;  // per producer: the last record known durable
  std::uint64_t durable_ = 0;             // records known durable
  std::uint64_t taken_ = 0;               // records taken from the input
  std::uint32_t crashes_done_ = 0;
  bool tear_planned_ = false;  // the current writer will die mid-frame by itself
  std::uint32_t writers_ = 0;  // writer processes started
  pid_t pid_ = -1;
  int to_writer_ = -1, from_writer_ = -1;
  std::thread forwarder_;
  sn::SpscReceiver<AckFrame> acks_;
};

// The RAM store: the latest record of each producer, owned by the dispatcher thread.
struct RamStore {
  std::vector<Record> latest;
  std::uint64_t records = 0, out_of_order = 0;

  void put(const Record& r) {
    Record& slot = latest[r.producer];
    if (r.seq != slot.seq + 1) ++out_of_order;
    slot = r;
    ++records;
  }
};

// The async writer's results: per producer, how many records it saw and a fold of their
// payloads, standing in for slower downstream work (aggregation, compression, upload).
struct AsyncReport {
  std::vector<std::uint64_t> count, last_seq, fold;
  std::uint64_t bad = 0;  // out of order or bad checksum
  Row row{"to_async (spsc)", {}, 0};
};

void async_writer(sn::SpscReceiver<Record> in, AsyncReport& out) {
  std::vector<Record> batch(kBatch);
  for (;;) {
    sample_depth(in, out.row.max_depth);
    const sn::RecvBatchResult r = in.recv_batch(batch);
    std::size_t n = r.count;
    if (n == 0) {
      if (r.status == sn::RecvResult::closed || in.recv(batch[0]) != sn::RecvResult::ok) break;
      n = 1;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const Record& rec = batch[i];
      if (rec.seq != out.last_seq[rec.producer] + 1 || rec.crc != accumulator::record_crc(rec)) ++out.bad;
      out.last_seq[rec.producer] = rec.seq;
      ++out.count[rec.producer];
      for (const std::uint64_t w : rec.payload) out.fold[rec.producer] ^= w;
    }
  }
  out.row.stats = in.stats();
}

// Reads the whole log back. Every producer's records 1..n must be there once, in order,
// intact; nothing else may be in the file.
bool verify_log(const Options& o, const std::string& path, std::uint64_t& bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    std::printf("verify: cannot open %s\n", path.c_str());
    return false;
  }
  bytes = static_cast<std::uint64_t>(st.st_size);
  std::vector<std::uint64_t> next(o.producers, 1);
  std::uint64_t frames = 0, problems = 0;
  const bool read_ok = accumulator::scan_frames(fd, [&](const Frame& f, off_t offset) {
    const Record& r = f.record;
    const bool ok = accumulator::frame_valid(f) && r.producer < o.producers && r.seq == next[r.producer] &&
                    r.payload == accumulator::make_record(r.producer, r.seq).payload;
    if (!ok && ++problems <= 5) {
      std::printf("verify: bad frame at offset %lld (producer %u seq %llu)\n", static_cast<long long>(offset),
                  r.producer, static_cast<unsigned long long>(r.seq));
    }
    if (ok) ++next[r.producer];
    ++frames;
    return true;
  });
  ::close(fd);
  bool ok = read_ok && problems == 0 && bytes == frames * sizeof(Frame);
  if (bytes != frames * sizeof(Frame))
    std::printf("verify: %llu stray bytes at the end\n",
                static_cast<unsigned long long>(bytes - frames * sizeof(Frame)));
  for (std::uint32_t p = 0; p < o.producers; ++p) {
    if (next[p] - 1 != records_of(o, p)) {
      std::printf("verify: producer %u has %llu of %llu records in the log\n", p,
                  static_cast<unsigned long long>(next[p] - 1), static_cast<unsigned long long>(records_of(o, p)));
      ok = false;
    }
  }
  return ok;
}

// =======================================================================================

/// The options from the flags, or nothing (after saying which flag is wrong).
std::optional<Options> read_options() {
  using sn::examples::read_flag;
  Options o;
  if (!read_flag(FLAGS_records, 1, 1'000'000'000'000, o.records) ||
      !read_flag(FLAGS_producers, 1, kMaxProducers, o.producers) ||
      !read_flag(FLAGS_fsync_every, 1, 1u << 30, o.fsync_every) ||
      !read_flag(FLAGS_slow_disk_us, 0, 10'000'000, o.slow_disk_us) || !read_flag(FLAGS_crashes, 0, 1000, o.crashes) ||
      !read_flag(FLAGS_window, 1, 1u << 24, o.window) || !read_flag(FLAGS_tear_after, 0, UINT64_MAX, o.tear_after)) {
    return std::nullopt;
  }
  o.dir = absl::GetFlag(FLAGS_dir);
  o.keep = absl::GetFlag(FLAGS_keep);
  o.writer_file = absl::GetFlag(FLAGS_writer);
  return o;
}

double peak_rss_mib() {
  rusage u{};
  (void)::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// =======================================================================================

/// One run of the demo (the parent process). Its members are what the phases share (the
/// log's path, the stores' reports, the verdict); each method is one phase, called in
/// order by run().
class AccumulatorRun {
 public:
  explicit AccumulatorRun(Options o) : o_(std::move(o)) {}

  /// Runs every phase; returns the exit status (0 only if every record checks out).
  int run();

 private:
  bool create_log();
  void print_plan() const;
  void run_pipeline();
  std::vector<std::thread> start_producers(sn::MpscSender<Record> intake);
  void dispatch(sn::MpscReceiver<Record>& intake, sn::SpscSender<Record>& to_async, sn::SpscSender<Record>& to_disk);
  void verify();
  void verify_producers();
  void print_summary() const;
  void print_channels() const;
  void clean_up() const;

  Options o_;
  bool temp_dir_ = false;  // the log's directory is ours to remove
  std::string path_;       // the log
  DiskReport disk_report_;
  AsyncReport async_report_;
  RamStore ram_;
  Row intake_row_{"intake (mpsc)", {}, 0};
  std::vector<std::uint64_t> blocked_;  // [producer]: times it found the intake full
  bool downstream_ok_ = true;
  double secs_ = 0;
  std::uint64_t bytes_ = 0;  // the log's size
  bool ok_ = false;
};

int AccumulatorRun::run() {
  if (!create_log()) return 2;
  print_plan();
  run_pipeline();
  verify();
  print_summary();
  print_channels();
  clean_up();
  std::printf("\n%s\n", ok_ ? "every record is in the log exactly once, in order, intact; RAM store and async "
                              "writer complete"
                            : "VERIFICATION FAILED");
  return ok_ ? 0 : 1;
}

/// The log: a fresh file, its directory entry made durable.
bool AccumulatorRun::create_log() {
  temp_dir_ = o_.dir.empty();
  if (temp_dir_) {
    char tmpl[] = "/tmp/sn-accumulator-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return false;
    }
    o_.dir = tmpl;
  }
  path_ = o_.dir + "/records.log";
  const int created = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int dir_fd = ::open(o_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (created < 0 || dir_fd < 0 || ::fsync(dir_fd) != 0) {
    std::perror(path_.c_str());
    return false;
  }
  ::close(created);
  ::close(dir_fd);
  return true;
}

void AccumulatorRun::print_plan() const {
  std::printf("accumulator: %llu records from %u producers -> RAM store, async writer, %s\n",
              static_cast<unsigned long long>(o_.records), o_.producers, path_.c_str());
  std::printf(
      "fsync policy: fdatasync after every %u records or when the writer's input runs dry; "
      "slow disk: +%u us per fsync; writer crashes: %u\n\n",
      o_.fsync_every, o_.slow_disk_us, o_.crashes);
}

/// Producers -> intake -> this thread -> the three stores, until every record is through.
void AccumulatorRun::run_pipeline() {
  auto [intake_tx, intake_rx] = unwrap(sn::Channel<Record>::mpsc(1024));
  auto [async_tx, async_rx] = unwrap(sn::Channel<Record>::spsc(1024));
  auto [disk_tx, disk_rx] = unwrap(sn::Channel<Record>::spsc(1024));
  const auto start = Clock::now();

  // The disk store and the async writer.
  DiskStore disk(o_, path_, disk_report_);
  std::thread disk_thread([&disk, rx = std::move(disk_rx)]() mutable { disk.run(std::move(rx)); });
  async_report_.count.assign(o_.producers, 0);
  async_report_.last_seq.assign(o_.producers, 0);
  async_report_.fold.assign(o_.producers, 0);
  std::thread async_thread(async_writer, std::move(async_rx), std::ref(async_report_));

  // start_producers takes our intake sender: after it, the producers' copies are the
  // only senders, so the intake closes when the last producer is done.
  std::vector<std::thread> producers = start_producers(std::move(intake_tx));
  dispatch(intake_rx, async_tx, disk_tx);
  async_tx = {};  // closes to_async and to_disk: the consumers drain them, then stop
  disk_tx = {};
  for (auto& t : producers) t.join();
  async_thread.join();
  disk_thread.join();
  secs_ = std::chrono::duration<double>(Clock::now() - start).count();
}

/// The producers. A producer that finds the intake full counts a block, then waits in send().
std::vector<std::thread> AccumulatorRun::start_producers(sn::MpscSender<Record> intake) {
  blocked_.assign(o_.producers, 0);
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < o_.producers; ++p) {
    producers.emplace_back([tx = intake, p, n = records_of(o_, p), this]() mutable {
      std::uint64_t waits = 0;
      for (std::uint64_t seq = 1; seq <= n; ++seq) {
        Record r = accumulator::make_record(p, seq);
        sn::SendResult s = tx.try_send(std::move(r));
        if (s == sn::SendResult::full) {
          ++waits;
          s = tx.send(std::move(r));  // r is still ours after `full`
        }
        if (s != sn::SendResult::ok) break;
      }
      blocked_[p] = waits;  // each producer writes only its own element
    });
  }
  return producers;
}

/// The dispatcher ("transfer executor"), on this thread: takes batches from the intake
/// and hands every record to the three stores.
void AccumulatorRun::dispatch(sn::MpscReceiver<Record>& intake, sn::SpscSender<Record>& to_async,
                              sn::SpscSender<Record>& to_disk) {
  ram_.latest.assign(o_.producers, Record{});
  std::vector<Record> batch(kBatch), copy(kBatch);
  for (;;) {
    sample_depth(intake, intake_row_.max_depth);
    const sn::RecvBatchResult r = intake.recv_batch(batch);
    std::size_t n = r.count;
    if (n == 0) {
      if (r.status == sn::RecvResult::closed || intake.recv(batch[0]) != sn::RecvResult::ok) break;
      n = 1;
    }
    for (std::size_t i = 0; i < n; ++i) ram_.put(batch[i]);
    std::copy_n(batch.begin(), n, copy.begin());
    downstream_ok_ = send_all(to_async, std::span(copy.data(), n)) && downstream_ok_;
    downstream_ok_ = send_all(to_disk, std::span(batch.data(), n)) && downstream_ok_;
  }
  intake_row_.stats = intake.stats();
}

/// The proof: the log read back, and what each store saw.
void AccumulatorRun::verify() {
  ok_ = verify_log(o_, path_, bytes_);
  if (!downstream_ok_) {
    std::printf("verify: a downstream channel closed early\n");
    ok_ = false;
  }
  if (!disk_report_.ok) ok_ = false;
  if (ram_.records != o_.records || ram_.out_of_order != 0) {
    std::printf("verify: RAM store saw %llu records, %llu out of order\n",
                static_cast<unsigned long long>(ram_.records), static_cast<unsigned long long>(ram_.out_of_order));
    ok_ = false;
  }
  verify_producers();
  if (async_report_.bad != 0) {
    std::printf("verify: async writer saw %llu bad records\n", static_cast<unsigned long long>(async_report_.bad));
    ok_ = false;
  }
}

/// Each producer's last record in the RAM store, and all of its records in the async writer.
void AccumulatorRun::verify_producers() {
  for (std::uint32_t p = 0; p < o_.producers; ++p) {
    std::uint64_t fold = 0;
    for (std::uint64_t seq = 1; seq <= records_of(o_, p); ++seq) {
      for (const std::uint64_t w : accumulator::make_record(p, seq).payload) fold ^= w;
    }
    if (ram_.latest[p].seq != records_of(o_, p) || async_report_.count[p] != records_of(o_, p) ||
        async_report_.fold[p] != fold) {
      std::printf("verify: producer %u: RAM store ends at %llu, async writer saw %llu (fold %s)\n", p,
                  static_cast<unsigned long long>(ram_.latest[p].seq),
                  static_cast<unsigned long long>(async_report_.count[p]),
                  async_report_.fold[p] == fold ? "ok" : "BAD");
      ok_ = false;
    }
  }
}

void AccumulatorRun::print_summary() const {
  const DiskReport& d = disk_report_;
  for (const std::string& e : d.events) std::printf("%s\n", e.c_str());
  std::printf("\nrecords      %12llu in %.3f s = %.2f M records/s\n", static_cast<unsigned long long>(o_.records),
              secs_, static_cast<double>(o_.records) / secs_ / 1e6);
  std::printf("log          %12.1f MB written, %llu fsyncs (%.0f records per fsync)\n",
              static_cast<double>(bytes_) / 1e6, static_cast<unsigned long long>(d.fsyncs),
              static_cast<double>(o_.records) / static_cast<double>(std::max<std::uint64_t>(d.fsyncs, 1)));
  std::printf("crashes      %12u of %u planned; each followed by a recovery\n", d.crashes, o_.crashes);
  std::printf("recovery     %12llu records found in the log unacknowledged, %llu sent again\n",
              static_cast<unsigned long long>(d.found_unacked), static_cast<unsigned long long>(d.resent));
  std::printf(
      "memory       %12.1f MiB peak RSS; in flight at most 3 channels x 1024 + %u unacknowledged "
      "(peak %llu)\n",
      peak_rss_mib(), o_.window, static_cast<unsigned long long>(d.max_unacked));
  std::printf("producers    blocked on a full intake:");
  for (const std::uint64_t b : blocked_) std::printf(" %llu", static_cast<unsigned long long>(b));
  std::printf(" times\n");
}

void AccumulatorRun::print_channels() const {
  std::vector<Row> rows{intake_row_, async_report_.row};
  rows.insert(rows.end(), disk_report_.rows.begin(), disk_report_.rows.end());
  std::printf("\n%-24s %10s %10s %12s %10s %9s %9s\n", "channel", "sent", "received", "send_blocked", "send_full",
              "max_depth", "capacity");
  for (const Row& r : rows) {
    std::printf("%-24s %10llu %10llu %12llu %10llu %9llu %9llu\n", r.name.c_str(),
                static_cast<unsigned long long>(r.stats.sent), static_cast<unsigned long long>(r.stats.received),
                static_cast<unsigned long long>(r.stats.send_blocked),
                static_cast<unsigned long long>(r.stats.send_full), static_cast<unsigned long long>(r.max_depth),
                static_cast<unsigned long long>(r.stats.capacity));
  }
}

/// A verified log in a directory of our own is removed; any other is kept and named.
void AccumulatorRun::clean_up() const {
  if (ok_ && temp_dir_ && !o_.keep) {
    (void)::unlink(path_.c_str());
    (void)::rmdir(o_.dir.c_str());
  } else {
    std::printf("\nlog kept at %s\n", path_.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "feeds records from producers into a RAM store, an async writer and a crash-safe "
                                 "log written by a child process that it kills along the way, then checks that no "
                                 "record was lost or written twice")) {
    return sn::examples::kUsageError;
  }
  std::optional<Options> options = read_options();
  if (!options) return sn::examples::kUsageError;
  if (!options->writer_file.empty()) return writer_main(*options);
  // A write into the pipe of a writer that was just killed must fail with EPIPE, not
  // kill us. Set before any thread starts; the writer process inherits it.
  (void)::signal(SIGPIPE, SIG_IGN);
  AccumulatorRun run(std::move(*options));
  return run.run();
}
