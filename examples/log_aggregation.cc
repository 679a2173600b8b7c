// Log aggregation: many producers into one MPSC channel, drained by one writer.
//
// Several application threads log; one writer thread owns the log file. The producers
// never format text and never touch the file: each sends a small LogRecord struct (an
// event id and its arguments) into a bounded MPSC channel. The writer drains the channel
// in batches with consume(), formats each record into a 64 KiB buffer and writes the
// buffer to the file when it fills.
//
// What it shows:
//   - one MpscSender copy per producer thread (copies are cheap and never share a hot
//     cache line), one MpscReceiver for the writer;
//   - backpressure: send() waits while the channel is full, so a slow disk slows the
//     producers down instead of growing a queue without bound (send_blocked counts it);
//   - consume(max, fn): hand queued records straight to a function, freeing their slots
//     with one index update, with no copy into an intermediate array;
//   - shutting down: main joins the producers, then closes the channel; the writer
//     drains what is left, then sees `closed`. If the writer fails (disk full), it closes
//     the channel itself, so producers get `closed` instead of waiting forever;
//   - verification: after the run the file is read back, and every line must be the one
//     expected next from its producer: each producer's lines arrive exactly once and in
//     the order it sent them (MPSC is FIFO per producer), with the right contents.
//
// Usage: log_aggregation [--lines=N] [--dir=DIRECTORY]
//   --lines    log lines in total, split among 4 producers; default 8,000,000 (a few
//              seconds); the ctest uses 20,000.
//   --dir      where to write log_aggregation.log (kept afterwards); without it the log
//              goes to an anonymous temporary file (std::tmpfile) that vanishes at exit.
// Exit code 0 only if every check passes.
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sn/sn.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, lines, 8'000'000, "log lines in total, split among the producers, 1..10^12");
ABSL_FLAG(std::string, dir, "",
          "where to write log_aggregation.log (kept afterwards); empty: an anonymous temporary file");

namespace {

using sn::examples::mix64;

constexpr int kProducers = 4;
constexpr std::size_t kChannelCapacity = 8192;
constexpr std::size_t kWriterBatch = 256;  // records per consume() call

// ---------------------------------------------------------------------------------------
// The record: what a producer sends instead of a formatted string.

enum class Level : std::uint8_t { debug, info, warn, error };
enum class Event : std::uint8_t { request_served, cache_miss, retry, slow_query, connection_reset };

constexpr std::array<std::string_view, 4> kLevelNames = {"DEBUG", "INFO", "WARN", "ERROR"};
constexpr std::array<std::string_view, 5> kEventNames = {"request served in", "cache miss, key", "retry, attempt",
                                                         "slow query took", "connection reset by peer"};

// 24 bytes, trivially copyable: a send is a small copy, with no allocation and no text.
struct LogRecord {
  std::uint64_t seq = 0;    // the producer's line number: 0, 1, 2, ...
  std::uint64_t value = 0;  // the event's argument (a latency, a key, an attempt)
  std::uint16_t producer = 0;
  Level level = Level::info;
  Event event = Event::request_served;
};

// A real logger would stamp the time; here every field follows from (producer, seq), so
// the verifier can predict each line of the file exactly.
LogRecord make_record(std::uint16_t producer, std::uint64_t seq) noexcept {
  const std::uint64_t h = mix64((std::uint64_t{producer} << 48) ^ seq);
  const auto event = static_cast<Event>(h % kEventNames.size());
  const Level level = event == Event::connection_reset ? Level::error
                      : event == Event::slow_query     ? Level::warn
                      : (h >> 8) % 4 == 0              ? Level::debug
                                                       : Level::info;
  return {.seq = seq, .value = (h >> 16) % 100'000, .producer = producer, .level = level, .event = event};
}

// How many of the `total` lines producer `p` writes: an even split, the remainder going to
// the first producers.
std::uint64_t lines_for(int p, std::uint64_t total) noexcept {
  return total / kProducers + (static_cast<std::uint64_t>(p) < total % kProducers ? 1 : 0);
}

// Formats one record as "p=3 seq=1234 WARN slow query took 812\n" into `out`, which has
// room for kMaxLine characters. Returns the length. Used by the writer and the verifier.
constexpr std::size_t kMaxLine = 96;
std::size_t format_line(const LogRecord& r, char* out) noexcept {
  char* p = out;
  char* const end = out + kMaxLine;
  auto put = [&](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put("p=");
  p = std::to_chars(p, end, r.producer).ptr;
  put(" seq=");
  p = std::to_chars(p, end, r.seq).ptr;
  put(" ");
  put(kLevelNames[static_cast<std::size_t>(r.level)]);
  put(" ");
  put(kEventNames[static_cast<std::size_t>(r.event)]);
  put(" ");
  p = std::to_chars(p, end, r.value).ptr;
  put("\n");
  return static_cast<std::size_t>(p - out);
}
// "p=" 5 digits " seq=" 20 digits, level <= 5, event <= 24, 20 digits, 3 spaces, newline.
static_assert(2 + 5 + 5 + 20 + 1 + 5 + 1 + 24 + 1 + 20 + 1 <= kMaxLine);

// ---------------------------------------------------------------------------------------
// Producers.

struct ProducerResult {
  std::uint64_t sent = 0;
  sn::examples::Stopwatch clock;
};

// `tx` is this producer's own copy of the sender, taken by value.
void produce(std::uint16_t id, std::uint64_t lines, sn::MpscSender<LogRecord> tx, ProducerResult& result) {
  for (std::uint64_t seq = 0; seq < lines; ++seq) {
    // send() waits while the channel is full, and returns `closed` if the writer gave
    // up: then the record is still ours, and we stop (the check reports the shortfall).
    if (tx.send(make_record(id, seq)) != sn::SendResult::ok) break;
    ++result.sent;
  }
  result.clock.stop();
}  // dropping this copy of the sender does not close the channel: main still holds one

// ---------------------------------------------------------------------------------------
// The writer.

struct WriterResult {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  bool write_failed = false;
  sn::examples::Stopwatch clock;
};

// Accumulates formatted lines and writes them to the file 64 KiB at a time.
class LineBuffer {
 public:
  explicit LineBuffer(std::FILE* file) noexcept : file_(file) {}

  void append(const LogRecord& r) noexcept {
    if (buffer_.size() - used_ < kMaxLine) flush();
    used_ += format_line(r, buffer_.data() + used_);
  }
  void flush() noexcept {
    if (used_ != 0 && std::fwrite(buffer_.data(), 1, used_, file_) != used_) failed_ = true;
    written_ += used_;
    used_ = 0;
  }
  bool failed() const noexcept { return failed_; }
  std::uint64_t written() const noexcept { return written_; }

 private:
  std::FILE* file_;
  std::array<char, 64 * 1024> buffer_;
  std::size_t used_ = 0;
  std::uint64_t written_ = 0;
  bool failed_ = false;
};

void write_logs(sn::MpscReceiver<LogRecord>& in, std::FILE* file, WriterResult& result) {
  LineBuffer out(file);
  auto write_one = [&](LogRecord&& r) noexcept { out.append(r); };
  while (!out.failed()) {
    // Up to kWriterBatch records, handed to write_one in order, straight from the slots.
    const sn::RecvBatchResult r = in.consume(kWriterBatch, write_one);
    if (r.status == sn::RecvResult::ok) {
      result.lines += r.count;
      continue;
    }
    if (r.status == sn::RecvResult::closed) break;  // closed and drained: we are done
    // Empty: wait for the next record (spin, yield, then park) rather than poll.
    LogRecord next;
    if (in.recv(next) != sn::RecvResult::ok) break;  // closed while we waited
    write_one(std::move(next));
    ++result.lines;
  }
  out.flush();
  if (out.failed() || std::fflush(file) != 0) {
    result.write_failed = true;
    in.close();  // producers still sending get `closed` instead of blocking on a full channel
  }
  result.bytes = out.written();
  result.clock.stop();
}

// ---------------------------------------------------------------------------------------
// Verification: read the file back.

struct VerifyResult {
  std::uint64_t lines = 0;
  std::uint64_t bad_lines = 0;          // not the line expected next from its producer
  std::vector<std::uint64_t> next_seq;  // per producer: lines found so far, in order
  sn::examples::Stopwatch clock;
};

// Every line must be exactly format_line(make_record(p, next_seq[p])): a lost line, a
// duplicate, a reordering within a producer or a corrupted field all break that.
VerifyResult verify(std::FILE* file, sn::examples::Checks& check) {
  VerifyResult v;
  v.next_seq.assign(kProducers, 0);
  std::rewind(file);
  std::array<char, 256> line;
  std::array<char, kMaxLine> expected;
  while (std::fgets(line.data(), line.size(), file) != nullptr) {
    ++v.lines;
    const std::string_view got(line.data());
    unsigned producer = kProducers;
    if (got.starts_with("p=")) {
      (void)std::from_chars(got.data() + 2, got.data() + got.size(), producer);  // else stays invalid
    }
    bool ok = producer < kProducers;
    if (ok) {
      const LogRecord want = make_record(static_cast<std::uint16_t>(producer), v.next_seq[producer]);
      ok = got == std::string_view(expected.data(), format_line(want, expected.data()));
    }
    if (ok) {
      ++v.next_seq[producer];
    } else if (++v.bad_lines <= 5) {  // show the first few
      check.expect(false, "line %llu is not the next line expected from its producer: %.*s",
                   static_cast<unsigned long long>(v.lines), static_cast<int>(got.size() - 1), got.data());
    }
  }
  v.clock.stop();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t total = 0;
  if (!sn::examples::parse_flags(argc, argv,
                                 "funnels log lines from several producers through one MPSC channel into one "
                                 "writer, then reads the file back and checks every line") ||
      !sn::examples::read_flag(FLAGS_lines, 1, 1'000'000'000'000, total)) {
    return sn::examples::kUsageError;
  }

  std::string path = "(anonymous temporary file)";
  std::FILE* file = nullptr;
  if (const std::string dir = absl::GetFlag(FLAGS_dir); !dir.empty()) {
    path = dir + "/log_aggregation.log";
    file = std::fopen(path.c_str(), "w+");
  } else {
    file = std::tmpfile();
  }
  if (file == nullptr) {
    std::perror(path.c_str());
    return 2;
  }

  auto channel = sn::Channel<LogRecord>::mpsc(kChannelCapacity);
  if (!channel.ok()) {
    std::fprintf(stderr, "cannot create the channel: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  sn::MpscSender<LogRecord>& tx = channel.sender();      // main's copy: closes the channel
  sn::MpscReceiver<LogRecord>& rx = channel.receiver();  // lent to the writer thread

  std::printf("log_aggregation: %s lines from %d producers into %s\n", sn::examples::grouped(total).c_str(), kProducers,
              path.c_str());

  WriterResult writer_result;
  std::array<ProducerResult, kProducers> producer_results;
  std::thread writer([&] { write_logs(rx, file, writer_result); });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back(produce, static_cast<std::uint16_t>(p), lines_for(p, total), tx,
                           std::ref(producer_results[p]));  // `tx` is copied: one per producer
  }
  for (std::thread& t : producers) t.join();
  tx.close();  // every producer is done: the writer drains what is queued, then stops
  writer.join();

  for (int p = 0; p < kProducers; ++p) {
    sn::examples::print_rate("producer " + std::to_string(p), producer_results[p].sent, "lines",
                             producer_results[p].clock.seconds());
  }
  sn::examples::print_rate("writer", writer_result.lines, "lines", writer_result.clock.seconds());
  std::printf("  %-14s %14s bytes\n", "", sn::examples::grouped(writer_result.bytes).c_str());

  sn::examples::Checks check;
  check.expect(!writer_result.write_failed, "writing %s failed", path.c_str());
  const VerifyResult v = verify(file, check);
  sn::examples::print_rate("verify", v.lines, "lines", v.clock.seconds());
  std::fclose(file);

  sn::examples::print_channel_table({{"producers->writer (mpsc)", rx.stats()}});

  std::uint64_t sent = 0;
  for (int p = 0; p < kProducers; ++p) {
    sent += producer_results[p].sent;
    check.expect(producer_results[p].sent == lines_for(p, total), "producer %d sent %llu of its %llu lines", p,
                 static_cast<unsigned long long>(producer_results[p].sent),
                 static_cast<unsigned long long>(lines_for(p, total)));
    check.expect(v.next_seq[p] == lines_for(p, total), "the file holds %llu of producer %d's %llu lines in order",
                 static_cast<unsigned long long>(v.next_seq[p]), p,
                 static_cast<unsigned long long>(lines_for(p, total)));
  }
  check.expect(writer_result.lines == sent, "the writer wrote %llu of the %llu lines sent",
               static_cast<unsigned long long>(writer_result.lines), static_cast<unsigned long long>(sent));
  check.expect(v.lines == sent && v.bad_lines == 0, "the file has %llu lines (%llu unexpected), %llu were sent",
               static_cast<unsigned long long>(v.lines), static_cast<unsigned long long>(v.bad_lines),
               static_cast<unsigned long long>(sent));
  return check.finish();
}
