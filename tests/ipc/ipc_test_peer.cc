// ipc_test_peer: the other process of the sn::ipc tests, started by them (posix_spawn).
//
//   ipc_test_peer --role=sender|receiver
//       (--from=socket:N | --from=fd:N | --from=name:NAME        attach the role's end, or
//        --create=CAPACITY [--share=N] [--publish=NAME])         create it and hand it over
//       [--type=u64|u32|align1|bytes] [--max=N] [--tag=N] [--park] [--hang-ms=N]
//       --do=none|send|recv|hang|hostile|plant_length|plant_position|bad_fd|stress
//       [--count=N] [--seed=N] [--seconds=S] [--end=drop|close|exit] [--ctl=N]
//       [--targets=MASK] [--kind=unsealed|small|truncated|pipe|magic|version|inconsistent]
//       [--pause-ms=N] [--lifetime=S]
//
// Once its end is open (attached, or created and shared/published) it writes 'A' on the
// control socket (--ctl). Then --do:
//   none            nothing;
//   send            sends --count messages (without --count: until closed or killed) of
//                   the pattern (ipc_test_support.h) from --seed;
//   recv            after --pause-ms, receives --count messages (without: until closed),
//                   checking each against the pattern;
//   hang            takes nothing: sleeps until the control socket closes or it is killed;
//   hostile         waits for 'G' on --ctl, then for --seconds scribbles random values
//                   into the words of the shared segment named by --targets (1 header,
//                   2 positions, 4 state lines, 8 wait lines, 16 slot sequence words,
//                   32 slot lengths, 64 the state lines' pid and attached words) while
//                   using its own end;
//   plant_length    (sender, bytes) sends --count messages, then publishes a slot whose
//                   length is 0xFFFFFFFF;
//   plant_position  (receiver) writes a receiver position far past anything sent;
//   bad_fd          sends a descriptor of --kind over --ctl that no attach may accept
//                   (nofd: a byte and no descriptor);
//   stress          (sender) a random mix of try_send, send_for and send_batch of
//                   --count messages, stopping after --seconds when given.
// Then --end: drop the handle (default), close() it first, or _exit at once (no
// destructor runs: the peer looks dead). It waits for the control socket to close
// before exiting (drop, close), so that its end stays held while the test looks.
// On exit it prints key=value lines: code, message (a failed attach), sent, received,
// checksum, reason. Exit codes: ipc_test_support.h. It never lives past --lifetime
// seconds (default 60: SIGALRM ends it).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ipc_test_support.h"
#include "sn/ipc/detail/layout.h"
#include "sn/ipc/detail/segment.h"
#include "sn/ipc/ipc.h"

namespace {

using namespace sn::ipc;        // NOLINT(google-build-using-namespace): a test program
using namespace sn::ipc::test;  // NOLINT(google-build-using-namespace)
using sn::RecvResult;
using sn::SendResult;

constexpr std::uint64_t kUnbounded = ~std::uint64_t{0};

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& fallback = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? fallback : it->second;
  }
  std::uint64_t num(const std::string& k, std::uint64_t fallback) const {
    auto it = kv.find(k);
    return it == kv.end() ? fallback : std::strtoull(it->second.c_str(), nullptr, 0);
  }
  int fd(const std::string& k) const { return static_cast<int>(num(k, static_cast<std::uint64_t>(-1))); }
  bool has(const std::string& k) const { return kv.count(k) != 0; }
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) continue;
    const std::size_t eq = s.find('=');
    // A flag without a value reads as "1".
    std::string key = eq == std::string::npos ? s.substr(2) : s.substr(2, eq - 2);
    std::string value = eq == std::string::npos ? std::string(1, '1') : s.substr(eq + 1);
    a.kv.insert_or_assign(std::move(key), std::move(value));
  }
  return a;
}

void say(const char* key, const std::string& value) {
  std::printf("%s=%s\n", key, value.c_str());
  std::fflush(stdout);
}
void say(const char* key, std::uint64_t value) { say(key, std::to_string(value)); }

void signal_ctl(const Args& a, char c) {
  const int ctl = a.fd("ctl");
  if (ctl >= 0) (void)!write(ctl, &c, 1);
}

/// Waits until the test closes the control socket (or sends a byte), at most `limit`.
void linger(const Args& a, absl::Duration limit = absl::Seconds(30)) {
  const int ctl = a.fd("ctl");
  if (ctl >= 0) (void)read_byte_within(ctl, limit);
}

Options options_of(const Args& a) {
  Options o;
  o.type_tag = a.num("tag", 0);
  if (a.has("park")) o.wait = sn::WaitPolicy::park_immediately();
  if (a.has("hang-ms")) o.hang_timeout = absl::Milliseconds(static_cast<double>(a.num("hang-ms", 0)));
  return o;
}

absl::StatusOr<From> from_of(const Args& a) {
  const std::string f = a.get("from");
  if (f.rfind("socket:", 0) == 0) return From::socket(std::atoi(f.c_str() + 7));
  if (f.rfind("fd:", 0) == 0) return From::fd(std::atoi(f.c_str() + 3));
  if (f.rfind("name:", 0) == 0) return From::name(f.substr(5));
  return absl::InvalidArgumentError("no --from");
}

[[noreturn]] void attach_failed(const absl::Status& s) {
  say("code", static_cast<std::uint64_t>(s.code()));
  say("message", std::string(s.message()));
  std::exit(kPeerAttachFailed);
}

// ---------------------------------------------------------------- opening an end

/// How to make each kind of end, typed or bytes.
template <class T>
struct Typed {
  using Tx = Sender<T>;
  using Rx = Receiver<T>;
  static absl::StatusOr<Tx> create_tx(const Args& a, const Options& o) {
    return create_sender<T>(a.num("create", 1), o);
  }
  static absl::StatusOr<Rx> create_rx(const Args& a, const Options& o) {
    return create_receiver<T>(a.num("create", 1), o);
  }
  static absl::StatusOr<Tx> attach_tx(const From& f, const Args&, const Options& o) { return attach_sender<T>(f, o); }
  static absl::StatusOr<Rx> attach_rx(const From& f, const Args&, const Options& o) { return attach_receiver<T>(f, o); }
};

struct Bytes {
  using Tx = ByteSender;
  using Rx = ByteReceiver;
  static absl::StatusOr<Tx> create_tx(const Args& a, const Options& o) {
    return create_byte_sender(a.num("create", 1), a.num("max", 64), o);
  }
  static absl::StatusOr<Rx> create_rx(const Args& a, const Options& o) {
    return create_byte_receiver(a.num("create", 1), a.num("max", 64), o);
  }
  static absl::StatusOr<Tx> attach_tx(const From& f, const Args& a, const Options& o) {
    return attach_byte_sender(f, a.num("max", 64), o);
  }
  static absl::StatusOr<Rx> attach_rx(const From& f, const Args& a, const Options& o) {
    return attach_byte_receiver(f, a.num("max", 64), o);
  }
};

/// Opens the end `a` asks for: attaches, or creates and shares or publishes it. Exits on failure.
template <class Handle>
Handle open_end(const Args& a, absl::StatusOr<Handle> (*create)(const Args&, const Options&),
                absl::StatusOr<Handle> (*attach)(const From&, const Args&, const Options&)) {
  const Options o = options_of(a);
  if (a.has("create")) {
    absl::StatusOr<Handle> h = create(a, o);
    if (!h.ok()) attach_failed(h.status());
    if (a.has("share")) {
      if (absl::Status s = h->share(a.fd("share")); !s.ok()) attach_failed(s);
    }
    if (a.has("publish")) {
      if (absl::Status s = h->publish(a.get("publish")); !s.ok()) attach_failed(s);
    }
    signal_ctl(a, 'A');
    return std::move(*h);
  }
  absl::StatusOr<From> from = from_of(a);
  if (!from.ok()) attach_failed(from.status());
  absl::StatusOr<Handle> h = attach(*from, a, o);
  if (!h.ok()) attach_failed(h.status());
  signal_ctl(a, 'A');
  return std::move(*h);
}

/// Ends the run as --end says; `code` is the exit code.
template <class Handle>
int finish(const Args& a, Handle& h, int code) {
  const std::string end = a.get("end", "drop");
  say("reason", std::string(to_string(h.close_reason())));
  if (end == "exit") _exit(code);
  if (end == "close") h.close();
  if (end == "close" || end == "drop") {
    { Handle gone = std::move(h); }
    linger(a);
  }
  return code;
}

// ---------------------------------------------------------------- sending and receiving

SendResult send_one(Sender<std::uint64_t>& tx, std::uint64_t seed, std::uint64_t i, absl::Duration t) {
  return tx.send_for(pattern(seed, i), t);
}
SendResult send_one(ByteSender& tx, std::uint64_t seed, std::uint64_t i, absl::Duration t) {
  static std::vector<std::byte> buf;
  fill_bytes(seed, i, tx.max_message_bytes(), buf);
  return tx.send_for(buf, t);
}

/// Receives one message with a timeout; *ok is false when it differs from message i.
RecvResult recv_one(Receiver<std::uint64_t>& rx, std::uint64_t seed, std::uint64_t i, absl::Duration t, bool* ok,
                    Checksum& sum) {
  std::uint64_t v = 0;
  const RecvResult r = rx.recv_for(v, t);
  if (r == RecvResult::ok) {
    *ok = v == pattern(seed, i);
    sum.add(v);
  }
  return r;
}
RecvResult recv_one(ByteReceiver& rx, std::uint64_t seed, std::uint64_t i, absl::Duration t, bool* ok, Checksum& sum) {
  static std::vector<std::byte> got, want;
  const RecvResult r = rx.recv_for(got, t);
  if (r == RecvResult::ok) {
    fill_bytes(seed, i, rx.max_message_bytes(), want);
    *ok = got == want;
    sum.add(pattern(seed, i) + got.size());
  }
  return r;
}

template <class Tx>
int do_send(const Args& a, Tx& tx) {
  const std::uint64_t count = a.num("count", kUnbounded), seed = a.num("seed", 1);
  Checksum sum;
  int code = kPeerOk;
  for (std::uint64_t i = 0; i < count;) {
    const SendResult r = send_one(tx, seed, i, absl::Milliseconds(100));
    if (r == SendResult::ok) {
      if constexpr (std::is_same_v<Tx, ByteSender>) {
        sum.add(pattern(seed, i) + byte_length(seed, i, tx.max_message_bytes()));
      } else {
        sum.add(pattern(seed, i));
      }
      ++i;
    } else if (r != SendResult::timeout) {
      code = count == kUnbounded ? kPeerOk : kPeerClosedEarly;
      break;
    }
  }
  say("sent", sum.count);
  say("checksum", sum.hashed);
  return finish(a, tx, code);
}

template <class Rx>
int do_recv(const Args& a, Rx& rx) {
  const std::uint64_t count = a.num("count", kUnbounded), seed = a.num("seed", 1);
  absl::SleepFor(absl::Milliseconds(static_cast<double>(a.num("pause-ms", 0))));
  Checksum sum;
  int code = kPeerOk;
  for (std::uint64_t i = 0; i < count;) {
    bool ok = true;
    const RecvResult r = recv_one(rx, seed, i, absl::Milliseconds(100), &ok, sum);
    if (r == RecvResult::ok) {
      if (!ok) {
        std::fprintf(stderr, "ipc_test_peer: message %" PRIu64 " differs from the pattern\n", i);
        code = kPeerMismatch;
        break;
      }
      ++i;
    } else if (r == RecvResult::closed) {
      if (count != kUnbounded) code = kPeerClosedEarly;
      break;
    }
  }
  say("received", sum.count);
  say("checksum", sum.hashed);
  return finish(a, rx, code);
}

// ---------------------------------------------------------------- misbehaving

/// The peer's own view of the segment: a second mapping of its descriptor.
struct Segment {
  std::byte* base = nullptr;
  std::size_t bytes = 0;
  std::uint64_t capacity = 0;
  std::uint32_t slot_bytes = 0;

  explicit Segment(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(detail::Control)) return;
    void* p = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return;
    base = static_cast<std::byte*>(p);
    bytes = static_cast<std::size_t>(st.st_size);
    detail::Header h;
    std::memcpy(&h, base, sizeof h);
    // This process misbehaves on purpose but must not crash itself: only slots inside.
    if (h.capacity != 0 && h.slot_bytes >= detail::kSlotPrefix &&
        sizeof(detail::Control) + h.capacity * h.slot_bytes <= bytes) {
      capacity = h.capacity;
      slot_bytes = h.slot_bytes;
    }
  }
  ~Segment() {
    if (base != nullptr) munmap(base, bytes);
  }
  detail::Control* ctl() const { return reinterpret_cast<detail::Control*>(base); }
  std::atomic_ref<std::uint32_t> word(std::uint64_t slot, std::size_t offset) const {
    return std::atomic_ref<std::uint32_t>(
        *reinterpret_cast<std::uint32_t*>(base + sizeof(detail::Control) + (slot % capacity) * slot_bytes + offset));
  }
};

/// Random writes into the words `targets` allows, mostly values the other side could
/// believe, so that it keeps going (and reading) instead of closing at the first one.
struct Scribbler {
  const Segment& s;
  std::mt19937_64 rng;
  std::uint64_t targets;
  bool sender;            // this process holds the sending end
  std::uint32_t max_len;  // byte messages' maximum

  detail::Control* c() const { return s.ctl(); }
  std::uint64_t value() { return rng() % 4 == 0 ? rng() : rng() % 8; }  // raw, or small
  bool one_in(std::uint64_t n) { return rng() % n == 0; }

  void once() {
    const std::uint64_t which = rng() % 7;
    if (((targets >> which) & 1) == 0) return;
    const int side = static_cast<int>(rng() % 2);
    switch (which) {
      case 0: reinterpret_cast<std::uint32_t*>(c())[rng() % 16] = static_cast<std::uint32_t>(value()); break;
      case 1: position(); break;
      case 2: state(c()->state[side]); break;
      case 3: wait(c()->wait[side]); break;
      case 4: seq(); break;
      case 5: length(); break;
      default: identity(c()->state[side]); break;
    }
  }
  /// A sender's own position is read by the receiver for stats only; a receiver's
  /// position tells the sender which slots it may reuse.
  void position() {
    std::atomic<std::uint64_t>& mine = c()->position[sender ? 0 : 1].position;
    const std::uint64_t p = mine.load(std::memory_order_relaxed);
    const std::uint64_t published = c()->position[0].position.load(std::memory_order_relaxed);
    std::uint64_t v = value();
    if (!sender && !one_in(16)) v = p + (published > p ? rng() % (published - p + 1) : 0);  // plausible
    if (!sender && one_in(32)) v = p - 1 - rng() % 4;                                       // backwards
    mine.store(v, std::memory_order_relaxed);
  }
  void state(detail::StateLine& st) {
    switch (rng() % 3) {
      case 0: st.discarded.store(value(), std::memory_order_relaxed); break;
      case 1: st.light_barrier.store(static_cast<std::uint32_t>(value()), std::memory_order_relaxed); break;
      default: st.closed.store(one_in(1 << 16) ? 1 : 0, std::memory_order_relaxed); break;  // 1 ends the run
    }
  }
  void wait(detail::WaitLine& w) {
    if (one_in(2)) {
      w.parked.store(static_cast<std::uint32_t>(value()), std::memory_order_relaxed);
    } else {
      w.wake.fetch_add(static_cast<std::uint32_t>(value()), std::memory_order_relaxed);
    }
  }
  /// Slots at and just past the receiver's position: the ones it reads next.
  std::uint64_t near_reader() { return c()->position[1].position.load(std::memory_order_relaxed) + rng() % 4; }
  void seq() {
    if (s.capacity == 0) return;
    const std::uint64_t at = near_reader();
    const std::uint64_t how = rng() % 4;
    const std::uint64_t v = how < 2 ? at + 1 : how == 2 ? at + 1 + s.capacity : value();
    s.word(at, 0).store(static_cast<std::uint32_t>(v), std::memory_order_release);
  }
  void length() {
    if (s.capacity == 0) return;
    const std::uint64_t v = one_in(64) ? ~std::uint64_t{0} - value() : rng() % (max_len + 1);
    s.word(near_reader(), 4).store(static_cast<std::uint32_t>(v), std::memory_order_relaxed);
  }
  void identity(detail::StateLine& st) {
    if (one_in(2)) {
      st.pid.store(static_cast<std::uint32_t>(one_in(2) ? 1 : value()), std::memory_order_relaxed);
    } else {
      st.attached.store(static_cast<std::uint32_t>(value()), std::memory_order_relaxed);
    }
  }
};

/// A legitimate operation on the hostile process's own end, between scribbles.
void use_end(Sender<std::uint64_t>& tx, std::uint64_t i) { (void)tx.try_send(pattern(1, i)); }
void use_end(ByteSender& tx, std::uint64_t i) {
  std::vector<std::byte> buf;
  fill_bytes(1, i, tx.max_message_bytes(), buf);
  (void)tx.try_send(buf);
}
void use_end(Receiver<std::uint64_t>& rx, std::uint64_t) {
  std::uint64_t v;
  (void)rx.try_recv(v);
}
void use_end(ByteReceiver& rx, std::uint64_t) {
  std::vector<std::byte> v;
  (void)rx.try_recv(v);
}

template <class Handle>
int do_hostile(const Args& a, Handle& h) {
  if (read_byte_within(a.fd("ctl"), absl::Seconds(20)) != 'G') return kPeerStuck;
  const Segment seg(h.fd());
  if (seg.base == nullptr) return kPeerSetupFailed;
  constexpr bool kSender = std::is_same_v<Handle, ByteSender> || std::is_same_v<Handle, Sender<std::uint64_t>>;
  Scribbler scribbler{seg, std::mt19937_64(a.num("seed", 1)), a.num("targets", 63), kSender,
                      static_cast<std::uint32_t>(a.num("max", 64))};
  const absl::Time stop = absl::Now() + absl::Milliseconds(static_cast<double>(a.num("ms", 1000)));
  std::uint64_t scribbles = 0;
  for (std::uint64_t i = 0; absl::Now() < stop; ++i) {
    if (scribbler.one_in(2)) {
      scribbler.once();
      ++scribbles;
    } else {
      use_end(h, i);
    }
    if (i % 64 == 0) absl::SleepFor(absl::Microseconds(20));
  }
  say("scribbles", scribbles);
  return finish(a, h, kPeerOk);
}

/// (bytes sender) sends --count messages, then a published slot with an impossible length.
int do_plant_length(const Args& a, ByteSender& tx) {
  const std::uint64_t count = a.num("count", 0);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (send_one(tx, 1, i, absl::Seconds(5)) != SendResult::ok) return kPeerClosedEarly;
  }
  const Segment seg(tx.fd());
  if (seg.base == nullptr || seg.capacity == 0) return kPeerSetupFailed;
  seg.word(count, 4).store(0xFFFFFFFFu, std::memory_order_relaxed);
  seg.word(count, 0).store(static_cast<std::uint32_t>(count + 1), std::memory_order_release);
  linger(a);
  return kPeerOk;
}

/// (receiver) claims to have taken far more than was ever sent.
template <class Rx>
int do_plant_position(const Args& a, Rx& rx) {
  const Segment seg(rx.fd());
  if (seg.base == nullptr) return kPeerSetupFailed;
  seg.ctl()->position[1].position.store(std::uint64_t{1} << 62, std::memory_order_release);
  signal_ctl(a, 'P');
  linger(a);
  return kPeerOk;
}

// ---------------------------------------------------------------- bad descriptors

/// A memfd of `bytes` holding `h`, sealed with `seals` (0: unsealed).
int memfd_with(const detail::Header& h, std::size_t bytes, int seals) {
  const int fd = memfd_create("sn-ipc-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) return -1;
  if (bytes >= sizeof h) (void)!pwrite(fd, &h, sizeof h, 0);
  if (seals != 0 && fcntl(fd, F_ADD_SEALS, seals) != 0) return -1;
  return fd;
}

int do_bad_fd(const Args& a) {
  const int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  absl::StatusOr<detail::Geometry> g = detail::plan(1024, 8, 8, 0, 0);
  if (!g.ok()) return kPeerSetupFailed;
  detail::Header h = detail::make_header(*g, detail::Role::receiver);
  const std::string kind = a.get("kind");
  std::size_t bytes = g->segment_bytes;
  int seals = kSeals;
  int fd = -1;
  if (kind == "nofd") {  // a byte without a descriptor
    (void)!write(a.fd("ctl"), "X", 1);
    linger(a);
    return kPeerOk;
  }
  if (kind == "pipe") {
    int p[2];
    if (pipe(p) != 0) return kPeerSetupFailed;
    fd = p[0];
  } else {
    if (kind == "unsealed") seals = 0;
    if (kind == "small") bytes = 100;
    if (kind == "truncated") bytes = sizeof(detail::Control) + g->slot_bytes;
    if (kind == "magic") h.magic ^= 1;
    if (kind == "version") h.abi_version = detail::kAbiVersion + 1;
    if (kind == "inconsistent") h.slot_bytes *= 2;
    fd = memfd_with(h, bytes, seals);
  }
  if (fd < 0) return kPeerSetupFailed;
  if (!detail::send_descriptor(a.fd("ctl"), fd).ok()) return kPeerSetupFailed;
  linger(a);
  return kPeerOk;
}

// ---------------------------------------------------------------- stress

/// (u64 sender) a random mix of the sending verbs, --count messages or --seconds.
int do_stress(const Args& a, Sender<std::uint64_t>& tx) {
  const std::uint64_t count = a.num("count", 1000), seed = a.num("seed", 1);
  const std::uint64_t seconds = a.num("seconds", 0);
  const absl::Time stop = seconds == 0 ? absl::InfiniteFuture() : absl::Now() + absl::Seconds(seconds);
  std::mt19937_64 rng(seed ^ 0x5eed);
  std::array<std::uint64_t, 64> batch{};
  Checksum sum;
  int code = kPeerOk;
  std::uint64_t i = 0;
  for (std::uint64_t round = 0; i < count && code == kPeerOk; ++round) {
    if ((round & 1023) == 0 && absl::Now() >= stop) break;
    const std::uint64_t op = rng() % 4;
    if (op == 0) {  // a batch of random size; what does not fit goes again
      const std::uint64_t n = std::min<std::uint64_t>(1 + rng() % batch.size(), count - i);
      for (std::uint64_t k = 0; k < n; ++k) batch[k] = pattern(seed, i + k);
      const sn::SendBatchResult r = tx.send_batch(std::span<const std::uint64_t>(batch.data(), n));
      for (std::uint64_t k = 0; k < r.count; ++k) sum.add(batch[k]);
      i += r.count;
      if (r.status == SendResult::closed) code = kPeerClosedEarly;
    } else {
      const std::uint64_t v = pattern(seed, i);
      const SendResult r = op == 1 ? tx.try_send(v) : tx.send_for(v, absl::Milliseconds(100));
      if (r == SendResult::ok) {
        sum.add(v);
        ++i;
      } else if (r == SendResult::closed) {
        code = kPeerClosedEarly;
      }
    }
  }
  say("sent", sum.count);
  say("checksum", sum.hashed);
  tx.close();
  return finish(a, tx, code);
}

// ---------------------------------------------------------------- dispatch

template <class Kind>
int run_sender(const Args& a) {
  typename Kind::Tx tx = open_end<typename Kind::Tx>(a, &Kind::create_tx, &Kind::attach_tx);
  const std::string what = a.get("do", "none");
  if (what == "send") return do_send(a, tx);
  if (what == "hostile") return do_hostile(a, tx);
  if constexpr (std::is_same_v<Kind, Bytes>) {
    if (what == "plant_length") return do_plant_length(a, tx);
  } else {
    if (what == "stress") return do_stress(a, tx);
  }
  if (what == "hang") linger(a);
  return finish(a, tx, kPeerOk);
}

template <class Kind>
int run_receiver(const Args& a) {
  typename Kind::Rx rx = open_end<typename Kind::Rx>(a, &Kind::create_rx, &Kind::attach_rx);
  const std::string what = a.get("do", "none");
  if (what == "recv") return do_recv(a, rx);
  if (what == "hostile") return do_hostile(a, rx);
  if (what == "plant_position") return do_plant_position(a, rx);
  if (what == "hang") linger(a);
  return finish(a, rx, kPeerOk);
}

/// Types used only to attach with the wrong shape: open, report, end.
template <class T>
int run_attach_only(const Args& a) {
  if (a.get("role") == "receiver") {
    Receiver<T> rx = open_end<Receiver<T>>(a, &Typed<T>::create_rx, &Typed<T>::attach_rx);
    return finish(a, rx, kPeerOk);
  }
  Sender<T> tx = open_end<Sender<T>>(a, &Typed<T>::create_tx, &Typed<T>::attach_tx);
  return finish(a, tx, kPeerOk);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  alarm(static_cast<unsigned>(a.num("lifetime", 60)));  // never outlive a broken test
  const std::string type = a.get("type", "u64"), role = a.get("role", "sender");
  if (a.get("do") == "bad_fd") return do_bad_fd(a);
  if (type == "u32") return run_attach_only<std::uint32_t>(a);
  if (type == "align1") return run_attach_only<Align1>(a);
  const bool sender = role == "sender";
  if (type == "bytes") return sender ? run_sender<Bytes>(a) : run_receiver<Bytes>(a);
  if (type == "u64") return sender ? run_sender<Typed<std::uint64_t>>(a) : run_receiver<Typed<std::uint64_t>>(a);
  std::fprintf(stderr, "ipc_test_peer: unknown --type=%s\n", type.c_str());
  return kPeerUsage;
}
