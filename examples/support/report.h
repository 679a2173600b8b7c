// What the examples share: timing a stage, collecting checks, printing rates and the
// table of channel statistics, and the hash they use for checksums (their options are
// read in support/flags.h).
//
// Nothing here touches a channel's hot path; it is printing and bookkeeping only.
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

#include "sn/channel/stats.h"

namespace sn::examples {

/// 12345678 -> "12,345,678", for tables a person reads.
inline std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  for (std::size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, 1, ',');
  return digits;
}

/// Wall-clock time of one stage. Each stage owns its own Stopwatch, so reading it needs
/// no synchronization beyond the thread join that precedes the report.
class Stopwatch {
 public:
  Stopwatch() noexcept : start_(std::chrono::steady_clock::now()) {}
  void stop() noexcept { stop_ = std::chrono::steady_clock::now(); }
  double seconds() const noexcept { return std::chrono::duration<double>(stop_ - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point stop_ = start_;
};

/// One summary line per stage: "parse     10,000,000 records in 1.234 s = 8.10 M records/s".
inline void print_rate(std::string_view stage, std::uint64_t items, std::string_view unit, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(items) / seconds / 1e6 : 0.0;
  std::printf("  %-14.*s %14s %-8.*s in %7.3f s = %8.2f M %.*s/s\n", static_cast<int>(stage.size()), stage.data(),
              grouped(items).c_str(), static_cast<int>(unit.size()), unit.data(), seconds, rate,
              static_cast<int>(unit.size()), unit.data());
}

/// A channel's name and a snapshot of its counters (take it once the threads are joined,
/// so the numbers are final).
struct ChannelRow {
  std::string name;
  sn::ChannelStats stats;
};

/// The table of channel statistics every example ends with. send_blocked counts blocking
/// sends that had to wait for room (backpressure); send_full counts refused non-blocking
/// sends (try_send, and send_batch calls where not everything fit).
inline void print_channel_table(std::initializer_list<ChannelRow> rows) {
  std::printf("\n  %-26s %9s %14s %14s %12s %12s %11s %6s %7s\n", "channel", "capacity", "sent", "received",
              "send_blocked", "send_full", "send_closed", "depth", "closed");
  for (const ChannelRow& r : rows) {
    const sn::ChannelStats& s = r.stats;
    std::printf("  %-26s %9s %14s %14s %12s %12s %11s %6s %7s\n", r.name.c_str(), grouped(s.capacity).c_str(),
                grouped(s.sent).c_str(), grouped(s.received).c_str(), grouped(s.send_blocked).c_str(),
                grouped(s.send_full).c_str(), grouped(s.send_closed).c_str(), grouped(s.approx_depth).c_str(),
                s.closed ? "yes" : "no");
  }
}

/// Collects the end-of-run checks: prints each failure as it is found, and at the end
/// either "all N checks passed" or how many failed. The exit code follows from it.
class Checks {
 public:
  /// Records one check; on failure prints "FAILED: " and the printf-style message.
  __attribute__((format(printf, 3, 4))) bool expect(bool ok, const char* format, ...) {
    ++total_;
    if (ok) return true;
    ++failed_;
    std::va_list args;
    va_start(args, format);
    std::fputs("FAILED: ", stdout);
    std::vprintf(format, args);
    std::fputc('\n', stdout);
    va_end(args);
    return false;
  }

  bool ok() const noexcept { return failed_ == 0; }

  /// Prints the verdict and returns the process exit code: 0 only if every check passed.
  int finish() const {
    if (failed_ == 0) {
      std::printf("\nall %d checks passed\n", total_);
      return EXIT_SUCCESS;
    }
    std::printf("\n%d of %d checks FAILED\n", failed_, total_);
    return EXIT_FAILURE;
  }

 private:
  int total_ = 0;
  int failed_ = 0;
};

/// SplitMix64's finalizer: a cheap, well-mixed 64-bit hash. The examples use it to derive
/// deterministic "random" payloads from a sequence number and to build checksums that
/// catch a lost, duplicated or corrupted message (a plain sum of ids would not catch two
/// errors that cancel out).
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace sn::examples
