// GoogleTest helpers of the sn::ipc tests: starting the helper process (ipc_test_peer)
// on a socket pair, the message counts (scaled down under ThreadSanitizer), bounded
// loops, and a watchdog that aborts the binary when one test runs past its limit, so
// that a hang is a failure with the test's name rather than ctest's timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_test_support.h"
#include "sn/ipc/ipc.h"

#ifndef SN_IPC_TEST_PEER
#error "SN_IPC_TEST_PEER must name the ipc_test_peer program (tests/ipc/ipc_tests.cmake)"
#endif

namespace sn {
inline void PrintTo(SendResult r, std::ostream* os) { *os << to_string(r); }
inline void PrintTo(RecvResult r, std::ostream* os) { *os << to_string(r); }
namespace ipc {
inline void PrintTo(CloseReason r, std::ostream* os) { *os << to_string(r); }
}  // namespace ipc
}  // namespace sn

namespace sn::ipc::test {

#if defined(__SANITIZE_THREAD__) || defined(SN_TEST_UNDER_TSAN)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif

/// Message counts: full size normally, a tenth under ThreadSanitizer.
constexpr std::uint64_t scaled(std::uint64_t n) noexcept { return kUnderTsan ? n / 10 : n; }

/// How long a test waits for something that should take milliseconds (a dead peer to be
/// seen, a close to arrive) before it fails: generous for sanitizers and a loaded machine.
inline absl::Duration patience() { return absl::Seconds(10); }

/// Aborts the process, naming the test, when one test runs longer than `limit`.
class TestWatchdog : public ::testing::EmptyTestEventListener {
 public:
  explicit TestWatchdog(absl::Duration limit) : limit_(limit) {}
  ~TestWatchdog() override {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void OnTestStart(const ::testing::TestInfo& info) override {
    std::lock_guard lock(mu_);
    name_ = std::string(info.test_suite_name()) + "." + info.name();
    deadline_ = absl::Now() + limit_;
    running_ = true;
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    cv_.notify_all();
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::lock_guard lock(mu_);
    running_ = false;
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!quit_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (running_ && absl::Now() > deadline_) {
        std::fprintf(stderr, "ipc test watchdog: %s ran past %s; aborting\n", name_.c_str(),
                     absl::FormatDuration(limit_).c_str());
        std::fflush(stderr);
        std::abort();
      }
    }
  }

  absl::Duration limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string name_;
  absl::Time deadline_;
  bool running_ = false;
  bool quit_ = false;
  std::thread thread_;
};

/// Installs the watchdog once per binary (gtest owns it from then on).
inline bool install_watchdog() {
  static const bool done = [] {
    ::testing::UnitTest::GetInstance()->listeners().Append(new TestWatchdog(absl::Seconds(60)));
    return true;
  }();
  return done;
}

/// Installed when the binary starts, before the first test.
inline const bool kWatchdogInstalled = install_watchdog();

/// What a receiving loop saw: a checksum, how many values differed from the pattern
/// (so FIFO order, the count and the content are checked at once), and its last result.
struct Drained {
  Checksum sum;
  std::uint64_t mismatches = 0;
  RecvResult last = RecvResult::timeout;
};

/// Receives until `closed`, until `until_count` values arrived, or until `limit` passes,
/// checking the i-th value against pattern(seed, i); continues `d`.
inline Drained drain(Receiver<std::uint64_t>& rx, std::uint64_t seed, absl::Duration limit, Drained d = {},
                     std::uint64_t until_count = ~std::uint64_t{0}) {
  const absl::Time give_up = absl::Now() + limit;
  std::uint64_t v = 0;
  while (d.sum.count < until_count && absl::Now() < give_up) {
    d.last = rx.recv_for(v, absl::Milliseconds(50));
    if (d.last == RecvResult::closed) break;
    if (d.last != RecvResult::ok) continue;
    if (v != pattern(seed, d.sum.count)) ++d.mismatches;
    d.sum.add(v);
  }
  return d;
}

/// A helper process and the socket pair to it: fd 3 in the helper (--ctl=3, and
/// --from=socket:3 where it attaches that way), `sock.ours` here.
struct Remote {
  SocketPair sock;
  std::unique_ptr<Peer> peer;

  explicit Remote(std::vector<std::string> args) {
    args.push_back("--ctl=3");
    peer = std::make_unique<Peer>(SN_IPC_TEST_PEER, args, std::vector<std::pair<int, int>>{{sock.theirs, 3}});
    sock.close_theirs();  // ours reads EOF once the helper is gone
  }
  /// Waits for the helper's signal byte (`A` once its end is open).
  bool signalled(char c = 'A') { return read_byte_within(sock.ours, patience()) == c; }
  /// Tells a hostile helper to start.
  void go() { (void)!write(sock.ours, "G", 1); }
  /// Lets a lingering helper finish, and returns its exit code (-1: killed or stuck).
  int finish() {
    sock.close_ours();
    return peer->exit_code(patience());
  }
};

/// Reads `v`'s value from the helper's output as a number (0 when absent).
inline std::uint64_t reported(Peer& p, const std::string& key) {
  return std::strtoull(p.value_of(key).c_str(), nullptr, 10);
}

}  // namespace sn::ipc::test
