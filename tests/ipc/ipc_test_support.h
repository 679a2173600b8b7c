// Shared by the sn::ipc tests, the helper process (ipc_test_peer.cc) and the ipc stress
// test: the message pattern both processes agree on, an order-independent checksum, the
// helper's exit codes, and Peer, a started helper process that is always reaped.
//
// No GoogleTest here: the helper includes this file too.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace sn::ipc::test {

// ---------------------------------------------------------------- the pattern

/// SplitMix64's finaliser: a bijection, so distinct inputs give distinct outputs.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// The i-th message of a stream: the receiver checks each value against it, which checks
/// FIFO order, the count and the content at once.
constexpr std::uint64_t pattern(std::uint64_t seed, std::uint64_t i) noexcept {
  return mix64(seed * 0x100000001b3ull + i);
}

/// Length and bytes of the i-th byte message of a stream of messages up to `max` bytes.
inline std::size_t byte_length(std::uint64_t seed, std::uint64_t i, std::size_t max) noexcept {
  return static_cast<std::size_t>(pattern(seed, i) % (max + 1));
}
inline void fill_bytes(std::uint64_t seed, std::uint64_t i, std::size_t max, std::vector<std::byte>& out) {
  out.resize(byte_length(seed, i, max));
  const std::uint64_t p = pattern(seed, i);
  for (std::size_t j = 0; j < out.size(); ++j) out[j] = static_cast<std::byte>((p >> (8 * (j % 8))) + j);
}

/// Count and hash-sum of what went through: independent of order, so both processes can
/// report theirs and the test compares them.
struct Checksum {
  std::uint64_t count = 0;
  std::uint64_t hashed = 0;
  void add(std::uint64_t v) noexcept {
    ++count;
    hashed += mix64(v);
  }
  friend bool operator==(const Checksum&, const Checksum&) = default;
};

/// A message whose size matches std::uint64_t's but whose alignment does not.
struct Align1 {
  char bytes[8];
};

// ---------------------------------------------------------------- the helper's exit codes

enum PeerExit : int {
  kPeerOk = 0,
  kPeerUsage = 2,
  kPeerAttachFailed = 10,  // it printed code= and message= first
  kPeerClosedEarly = 11,   // a send or receive saw `closed` before the count was reached
  kPeerMismatch = 12,      // a received message differs from the pattern
  kPeerStuck = 13,         // a bounded wait ran out
  kPeerSetupFailed = 14,   // creating, sharing or mapping failed
};

// ---------------------------------------------------------------- helpers

/// Reads a u64 from the environment, or `fallback`.
inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

/// Waits at most `timeout` for one byte on `fd`; the byte, or -1 (timeout, EOF, error).
inline int read_byte_within(int fd, absl::Duration timeout) {
  pollfd p{fd, POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  int r;
  do {
    r = poll(&p, 1, ms);
  } while (r < 0 && errno == EINTR);
  if (r != 1) return -1;
  unsigned char c = 0;
  return read(fd, &c, 1) == 1 ? c : -1;
}

/// A connected pair of Unix sockets (SOCK_SEQPACKET, close-on-exec), closed on destruction.
struct SocketPair {
  int ours = -1;
  int theirs = -1;
  SocketPair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
      ours = sv[0];
      theirs = sv[1];
      // A peer that never sends must not block an attach through this end for ever.
      timeval tv{10, 0};
      setsockopt(ours, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  ~SocketPair() {
    close_ours();
    close_theirs();
  }
  void close_ours() noexcept {
    if (ours >= 0) ::close(ours);
    ours = -1;
  }
  void close_theirs() noexcept {
    if (theirs >= 0) ::close(theirs);
    theirs = -1;
  }
};

/// A started helper process (posix_spawn). Its stdout is a pipe read by output(); `fds`
/// are (descriptor here, number there) pairs it inherits. The destructor kills and reaps
/// it, so that no test leaves a process behind.
class Peer {
 public:
  Peer(const std::string& program, const std::vector<std::string>& args,
       const std::vector<std::pair<int, int>>& fds = {}) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::vector<int> temps;  // dup2's source and target must differ for it to clear CLOEXEC
    auto give = [&](int fd, int target) {
      const int tmp = fcntl(fd, F_DUPFD_CLOEXEC, 64);
      temps.push_back(tmp);
      posix_spawn_file_actions_adddup2(&actions, tmp, target);
    };
    give(out[1], STDOUT_FILENO);
    for (const auto& f : fds) give(f.first, f.second);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ) == 0) pid_ = pid;
    posix_spawn_file_actions_destroy(&actions);
    for (int t : temps) ::close(t);
    ::close(out[1]);
    out_ = out[0];
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  ~Peer() {
    kill();
    (void)wait_for(absl::Seconds(10));
    if (out_ >= 0) ::close(out_);
  }

  bool started() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }
  void kill(int sig = SIGKILL) noexcept {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }
  /// Waits at most `timeout` for the process to end; its wait status, or nullopt.
  std::optional<int> wait_for(absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (pid_ > 0 && !status_) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        status_ = r == pid_ ? st : -1;
        drain();
        break;
      }
      drain();
      if (absl::Now() >= give_up) break;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return status_;
  }
  /// Its exit code once it ended normally; -1 for a signal or while it runs.
  int exit_code(absl::Duration timeout) {
    const std::optional<int> st = wait_for(timeout);
    return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }
  /// What it wrote to stdout so far.
  const std::string& output() {
    drain();
    return text_;
  }
  /// The value of `key=` on a line of its output, or "".
  std::string value_of(const std::string& key) {
    const std::string& t = output();
    const std::string k = key + "=";
    for (std::size_t at = 0; at < t.size();) {
      const std::size_t end = t.find('\n', at);
      const std::size_t stop = end == std::string::npos ? t.size() : end;
      if (t.compare(at, k.size(), k) == 0) return t.substr(at + k.size(), stop - at - k.size());
      at = stop + 1;
    }
    return "";
  }

 private:
  void drain() {
    if (out_ < 0) return;
    char buf[4096];
    for (;;) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 0) != 1) return;
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) return;
      text_.append(buf, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::optional<int> status_;
  std::string text_;
};

}  // namespace sn::ipc::test
