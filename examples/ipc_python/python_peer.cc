// Python peer: byte messages between this C++ process and a Python one over sn::ipc's
// shared-memory channels, the Python side on the C interface (libsn_ipc_c.so through
// ctypes: examples/ipc_python/sn_ipc.py).
//
// Two runs, one per direction of the C ABI:
//   python -> C++   this program creates a byte receiver, publishes it under a unique
//                   name ("sn-py-<pid>") and starts `python3 producer.py --name=...`,
//                   which attaches as the sender by that name, sends --count messages
//                   and a trailer (their count and checksum), and closes;
//   C++ -> python   this program creates a byte sender, hands the segment's descriptor
//                   over a Unix socket pair to `python3 consumer.py --socket-fd=...`
//                   (socket.recv_fds, then an attach from the descriptor), sends the
//                   same stream and closes; the consumer checks it and exits 0 only if
//                   every check passed.
//
// What it shows:
//   - the C ABI used from another language, in both directions, finding the segment by
//     name and by a passed descriptor, with results turned into Python exceptions;
//   - checks on both sides, nothing assumed: message i carries its number and a payload
//     derived from it (message_of() here and messages.py agree on it), so a receiver
//     checks the count, the order and every byte, then the trailer's checksum;
//   - supervising a child that may never attach: a channel notices a peer's death only
//     once that peer attached, so every wait here is bounded (recv_for, send_for), and
//     between waits the program asks whether the child has exited;
//   - closing: the sender closes after its trailer; the receiver takes everything sent
//     before, then sees `closed`.
//
// Usage: python_peer [--count=N] [--lib=.../libsn_ipc_c.so] [--python=python3] [--scripts=dir]
// Default 20,000 messages each way; the ctest uses 3,000. Exit code 0 only if every check
// passes in both directions; 77 (the test is skipped) when Python 3 cannot be started or
// cannot run the scripts (no ctypes, or older than 3.9).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sn/ipc/channel.h"
#include "support/flags.h"
#include "support/report.h"

#ifndef SN_IPC_C_LIB
#define SN_IPC_C_LIB "libsn_ipc_c.so"
#endif
#ifndef SN_IPC_PYTHON_DIR
#define SN_IPC_PYTHON_DIR "."
#endif

ABSL_FLAG(std::uint64_t, count, 20'000, "messages to send each way, 0..10^8");
ABSL_FLAG(std::string, lib, SN_IPC_C_LIB, "the C interface's shared library, for the Python side");
ABSL_FLAG(std::string, python, "python3", "the Python 3 interpreter (looked up on PATH)");
ABSL_FLAG(std::string, scripts, SN_IPC_PYTHON_DIR, "the folder of producer.py, consumer.py and sn_ipc.py");
ABSL_FLAG(std::string, child_preload, "",
          "LD_PRELOAD for the Python processes (a sanitizer's runtime, when the library is instrumented)");
ABSL_FLAG(std::uint64_t, timeout_s, 120, "give up on a direction after this many seconds, 1..3600");

extern char** environ;

namespace {

using sn::examples::Checks;

constexpr std::size_t kMaxBytes = 256;  // messages.MAX_BYTES
constexpr std::size_t kNumber = 8;      // the message number's bytes
constexpr std::size_t kCapacity = 64;   // small, so that both sides wait for each other
constexpr std::uint64_t kTrailerMark = ~std::uint64_t{0};
constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr int kSkipped = 77;  // ctest's SKIP_RETURN_CODE for this test
constexpr absl::Duration kSlice = absl::Milliseconds(100);

void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<std::byte>(v >> (8 * k)));
}

std::uint64_t get_u64(std::span<const std::byte> in) {
  std::uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | std::to_integer<std::uint64_t>(in[static_cast<std::size_t>(k)]);
  return v;
}

// Message i: its number, then (i * 37) % 249 bytes, byte k = (i * 131 + k * 7) mod 256.
std::vector<std::byte> message_of(std::uint64_t i) {
  std::vector<std::byte> m;
  put_u64(m, i);
  const std::uint64_t n = (i * 37) % (kMaxBytes - kNumber + 1);
  for (std::uint64_t k = 0; k < n; ++k) m.push_back(static_cast<std::byte>((i * 131 + k * 7) & 0xff));
  return m;
}

std::uint64_t fnv1a(std::span<const std::byte> data, std::uint64_t h) {
  for (std::byte b : data) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ULL;
  return h;
}

std::vector<std::byte> trailer_of(std::uint64_t count, std::uint64_t checksum) {
  std::vector<std::byte> m;
  put_u64(m, kTrailerMark);
  put_u64(m, count);
  put_u64(m, checksum);
  return m;
}

// ---------------------------------------------------------------------------------------
// The Python child.

struct Options {
  std::uint64_t count = 0;
  std::string lib, python, scripts, preload;
  absl::Duration timeout;
};

class Child {
 public:
  // Starts `python script args...`; running() is false if it could not be started.
  Child(const Options& o, const std::string& script, const std::vector<std::string>& args) {
    std::vector<std::string> argv{o.python, o.scripts + "/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--lib=" + o.lib);
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> env = child_environment(o.preload);
    std::vector<char*> cenv;
    for (std::string& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    spawn_error_ = posix_spawnp(&pid_, o.python.c_str(), nullptr, nullptr, cargv.data(), cenv.data());
    if (spawn_error_ != 0) pid_ = -1;
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {  // an early return: do not leave it running
      kill(pid_, SIGKILL);
      wait(true);
    }
  }

  // Whether it was started and has not been reaped yet.
  bool running() const { return pid_ > 0 && !reaped_; }
  // Why it could not be started (posix_spawnp's error), or 0.
  int spawn_error() const { return spawn_error_; }
  // Whether it has exited (reaps it if so); `block` waits for that.
  bool wait(bool block) {
    if (pid_ <= 0 || reaped_) return true;
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != pid_) return false;
    reaped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  // Kills it (at a deadline); wait() still reaps it.
  void kill_now() {
    if (running()) kill(pid_, SIGKILL);
  }
  // The exit status (128 + the signal for a killed child); valid once wait() said so.
  int exit_code() const { return exit_code_; }

 private:
  // This process's environment, with the sanitizer runtime preloaded when asked: the
  // library inside Python is then instrumented, and its runtime must come first. Leak
  // checking is off there: an interpreter leaves its objects to the exit, by design.
  static std::vector<std::string> child_environment(const std::string& preload) {
    std::vector<std::string> env;
    std::string asan_options = "detect_leaks=0";
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      if (!preload.empty() && kv.starts_with("LD_PRELOAD=")) continue;
      if (!preload.empty() && kv.starts_with("ASAN_OPTIONS=")) {
        asan_options = kv.substr(13) + ":detect_leaks=0";
        continue;
      }
      env.push_back(kv);
    }
    if (!preload.empty()) {
      env.push_back("LD_PRELOAD=" + preload);
      env.push_back("ASAN_OPTIONS=" + asan_options);
    }
    return env;
  }

  pid_t pid_ = -1;
  int spawn_error_ = 0;
  bool reaped_ = false;
  int exit_code_ = -1;
};

enum class Outcome { passed, failed, skipped };

// Waits for the child; true (after saying so) if it declined to run: exit status 77.
bool declined(Child& child, const char* script) {
  child.wait(true);
  if (child.exit_code() != kSkipped) return false;
  std::printf("SKIPPED: %s cannot run with this Python (it said why above)\n", script);
  return true;
}

// The verdict on a direction once the child has exited (see declined()).
Outcome verdict(const Child& child, const char* script, bool this_side_ok, Checks& checks) {
  checks.expect(child.exit_code() == 0, "%s exited with %d", script, child.exit_code());
  return this_side_ok && child.exit_code() == 0 ? Outcome::passed : Outcome::failed;
}

std::optional<Outcome> cannot_start(const Child& child, const Options& o) {
  if (child.running()) return std::nullopt;
  std::printf("SKIPPED: cannot start %s: %s (install Python 3, or pass --python)\n", o.python.c_str(),
              std::strerror(child.spawn_error()));
  return Outcome::skipped;
}

sn::ipc::Options channel_options() {
  // Python starts in tens of milliseconds, more under a sanitizer on a busy machine: a
  // full ring with nobody attached yet is not a hung receiver for a good while.
  return sn::ipc::Options{}.with_hang_timeout(absl::Seconds(60));
}

// ---------------------------------------------------------------------------------------
// python -> C++

// Checks a received stream: numbers in order, every byte, and the trailer.
class StreamCheck {
 public:
  void take(std::span<const std::byte> m, Checks& checks) {
    if (trailer_) {
      extra_ += 1;
      return;
    }
    if (m.size() == 3 * 8 && get_u64(m) == kTrailerMark) {
      trailer_ = true;
      trailer_count_ = get_u64(m.subspan(8));
      trailer_checksum_ = get_u64(m.subspan(16));
      return;
    }
    const std::vector<std::byte> expected = message_of(next_);
    if (!(m.size() == expected.size() && std::memcmp(m.data(), expected.data(), m.size()) == 0) && wrong_++ < 5) {
      checks.expect(false, "message %llu differs: %zu bytes, numbered %llu", static_cast<unsigned long long>(next_),
                    m.size(), m.size() >= kNumber ? static_cast<unsigned long long>(get_u64(m)) : 0ULL);
    }
    checksum_ = fnv1a(m, checksum_);
    bytes_ += m.size();
    ++next_;
  }
  bool finish(std::uint64_t count, Checks& checks) const {
    bool ok = checks.expect(wrong_ == 0, "%llu messages differed", static_cast<unsigned long long>(wrong_));
    ok &= checks.expect(next_ == count, "received %llu messages, expected %llu", static_cast<unsigned long long>(next_),
                        static_cast<unsigned long long>(count));
    ok &= checks.expect(trailer_, "no trailer arrived");
    ok &= checks.expect(!trailer_ || (trailer_count_ == next_ && trailer_checksum_ == checksum_),
                        "the trailer says %llu messages, checksum %#llx; received %llu, checksum %#llx",
                        static_cast<unsigned long long>(trailer_count_),
                        static_cast<unsigned long long>(trailer_checksum_), static_cast<unsigned long long>(next_),
                        static_cast<unsigned long long>(checksum_));
    ok &= checks.expect(extra_ == 0, "%llu messages after the trailer", static_cast<unsigned long long>(extra_));
    return ok;
  }
  std::uint64_t count() const { return next_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t checksum() const { return checksum_; }

 private:
  std::uint64_t next_ = 0, wrong_ = 0, extra_ = 0, bytes_ = 0;
  std::uint64_t checksum_ = kFnvOffset, trailer_count_ = 0, trailer_checksum_ = 0;
  bool trailer_ = false;
};

// Receives until the channel closes; gives up when the child exited without ever
// closing it (it never attached) or at the deadline.
void receive_all(sn::ipc::ByteReceiver& rx, Child& child, StreamCheck& stream, const Options& o, Checks& checks) {
  std::vector<std::byte> buf;
  const absl::Time deadline = absl::Now() + o.timeout;
  for (;;) {
    const sn::RecvResult r = rx.recv_for(buf, kSlice);
    if (r == sn::RecvResult::ok) {
      stream.take(buf, checks);
    } else if (r == sn::RecvResult::closed) {
      return;
    } else if (child.wait(false)) {  // and a whole slice passed without a message
      checks.expect(child.exit_code() == kSkipped, "producer.py exited (%d) and the channel is still open",
                    child.exit_code());
      return;
    } else if (absl::Now() > deadline) {
      checks.expect(false, "python -> C++: the channel was not closed before the deadline (--timeout_s)");
      child.kill_now();
      return;
    }
  }
}

Outcome python_to_cpp(const Options& o, Checks& checks) {
  const std::string name = absl::StrCat("sn-py-", getpid());
  absl::StatusOr<sn::ipc::ByteReceiver> rx = sn::ipc::create_byte_receiver(kCapacity, kMaxBytes, channel_options());
  if (!checks.expect(rx.ok(), "create_byte_receiver: %s", rx.status().ToString().c_str())) return Outcome::failed;
  const absl::Status published = rx->publish(name);
  if (!checks.expect(published.ok(), "publish: %s", published.ToString().c_str())) return Outcome::failed;

  std::printf("python -> C++: %llu messages from producer.py, by the name '%s'\n",
              static_cast<unsigned long long>(o.count), name.c_str());
  std::fflush(stdout);  // before the child writes to the same output
  sn::examples::Stopwatch watch;
  Child child(o, "producer.py", {"--name=" + name, absl::StrCat("--count=", o.count)});
  if (std::optional<Outcome> skip = cannot_start(child, o)) return *skip;
  StreamCheck stream;
  receive_all(*rx, child, stream, o, checks);
  watch.stop();
  if (declined(child, "producer.py")) return Outcome::skipped;
  const Outcome out = verdict(child, "producer.py", stream.finish(o.count, checks), checks);
  checks.expect(rx->close_reason() == sn::ipc::CloseReason::closed_by_peer,
                "the channel closed as %s, not closed_by_peer",
                std::string(sn::ipc::to_string(rx->close_reason())).c_str());
  std::printf("  received %s messages (%s bytes, checksum %#llx) in %.3f s, Python's start included\n",
              sn::examples::grouped(stream.count()).c_str(), sn::examples::grouped(stream.bytes()).c_str(),
              static_cast<unsigned long long>(stream.checksum()), watch.seconds());
  sn::examples::print_channel_table({{"python -> C++ (receiver)", rx->stats()}});
  return out;
}

// ---------------------------------------------------------------------------------------
// C++ -> python

// Sends one message, waiting in slices; false (and why, in `checks`) when the channel
// closed, the child exited, or the deadline passed.
bool send_one(sn::ipc::ByteSender& tx, std::span<const std::byte> m, Child& child, absl::Time deadline,
              Checks& checks) {
  for (;;) {
    const sn::SendResult r = tx.send_for(m, kSlice);
    if (r == sn::SendResult::ok) return true;
    if (r != sn::SendResult::timeout) {
      return checks.expect(false, "send: %s (the channel closed as %s)", std::string(sn::to_string(r)).c_str(),
                           std::string(sn::ipc::to_string(tx.close_reason())).c_str());
    }
    if (child.wait(false)) return false;  // verdict() reports its exit
    if (absl::Now() > deadline) {
      child.kill_now();
      return checks.expect(false, "C++ -> python: the consumer took nothing before the deadline (--timeout_s)");
    }
  }
}

// Sends the stream and its trailer, then closes; true if everything went.
bool send_all(sn::ipc::ByteSender& tx, Child& child, const Options& o, Checks& checks) {
  const absl::Time deadline = absl::Now() + o.timeout;
  std::uint64_t checksum = kFnvOffset;
  for (std::uint64_t i = 0; i < o.count; ++i) {
    const std::vector<std::byte> m = message_of(i);
    checksum = fnv1a(m, checksum);
    if (!send_one(tx, m, child, deadline, checks)) return false;
  }
  const bool sent = send_one(tx, trailer_of(o.count, checksum), child, deadline, checks);
  tx.close();  // the consumer takes what is queued, then sees `closed`
  return sent;
}

// A connected socket pair: [0] stays here (close-on-exec), [1] is inherited by the child.
bool socket_pair(int sv[2], Checks& checks) {
  if (!checks.expect(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", std::strerror(errno))) {
    return false;
  }
  fcntl(sv[0], F_SETFD, FD_CLOEXEC);
  return true;
}

Outcome cpp_to_python(const Options& o, Checks& checks) {
  absl::StatusOr<sn::ipc::ByteSender> tx = sn::ipc::create_byte_sender(kCapacity, kMaxBytes, channel_options());
  if (!checks.expect(tx.ok(), "create_byte_sender: %s", tx.status().ToString().c_str())) return Outcome::failed;
  int sv[2];
  if (!socket_pair(sv, checks)) return Outcome::failed;
  // The descriptor waits in the socket until the consumer reads it.
  const absl::Status shared = tx->share(sv[0]);
  if (!checks.expect(shared.ok(), "share: %s", shared.ToString().c_str())) return Outcome::failed;

  std::printf("\nC++ -> python: %llu messages to consumer.py, the descriptor over a Unix socket\n",
              static_cast<unsigned long long>(o.count));
  std::fflush(stdout);
  sn::examples::Stopwatch watch;
  Child child(o, "consumer.py", {absl::StrCat("--socket-fd=", sv[1]), absl::StrCat("--count=", o.count)});
  close(sv[1]);
  if (std::optional<Outcome> skip = cannot_start(child, o)) {
    close(sv[0]);
    return *skip;
  }
  const bool sent = send_all(*tx, child, o, checks);
  const bool skip = declined(child, "consumer.py");
  watch.stop();
  close(sv[0]);
  if (skip) return Outcome::skipped;
  const Outcome out = verdict(child, "consumer.py", sent, checks);
  std::printf("  sent %s messages, the trailer included, in %.3f s, Python's start included\n",
              sn::examples::grouped(tx->stats().sent).c_str(), watch.seconds());
  sn::examples::print_channel_table({{"C++ -> python (sender)", tx->stats()}});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "Byte messages between C++ and Python over sn::ipc, the Python side on the C "
                                 "interface (libsn_ipc_c.so through ctypes), in both directions.")) {
    return sn::examples::kUsageError;
  }
  Options o;
  std::uint64_t timeout_s = 0;
  if (!sn::examples::read_flag(FLAGS_count, 0, 100'000'000, o.count) ||
      !sn::examples::read_flag(FLAGS_timeout_s, 1, 3600, timeout_s)) {
    return sn::examples::kUsageError;
  }
  o.timeout = absl::Seconds(static_cast<std::int64_t>(timeout_s));
  o.lib = absl::GetFlag(FLAGS_lib);
  o.python = absl::GetFlag(FLAGS_python);
  o.scripts = absl::GetFlag(FLAGS_scripts);
  o.preload = absl::GetFlag(FLAGS_child_preload);

  Checks checks;
  const Outcome first = python_to_cpp(o, checks);
  if (first == Outcome::skipped) return kSkipped;
  // A skip does not hide a failure of the first direction.
  if (cpp_to_python(o, checks) == Outcome::skipped && checks.ok()) return kSkipped;
  return checks.finish();
}
