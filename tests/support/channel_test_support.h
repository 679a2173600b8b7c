// Shared helpers for the channel tests: the kind type list for typed tests, a start
// gate, a watchdog that turns a hang into a failure, an instance-counting value type,
// and the message counts scaled down under ThreadSanitizer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

// gtest prints results by name (found by argument-dependent lookup in namespace sn).
namespace sn {
inline void PrintTo(SendResult r, std::ostream* os) { *os << to_string(r); }
inline void PrintTo(RecvResult r, std::ostream* os) { *os << to_string(r); }
}  // namespace sn

namespace sn::test {

// ---------------------------------------------------------------- build flavour

#if defined(__SANITIZE_THREAD__) || defined(SN_TEST_UNDER_TSAN)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif

/// Message counts: full size in normal builds, a quarter under ThreadSanitizer.
constexpr std::uint64_t scaled(std::uint64_t n) noexcept { return kUnderTsan ? n / 4 : n; }

/// How long one stress test may keep sending: it stops early (and checks what it did
/// send) when its message count takes longer, so that a slow or oversubscribed machine
/// makes the test weaker, never slower. Not an assertion on time.
inline absl::Duration stress_time_box() { return kUnderTsan ? absl::Seconds(4) : absl::Seconds(2); }

/// A stress loop's time box (see stress_time_box). Checks the clock every few values, so that absl::Now() stays off the
/// hot path.
class TimeBox {
 public:
  explicit TimeBox(absl::Duration d) : deadline_(absl::Now() + d) {}
  /// Checked every 16 values, and never before the first one: on a loaded machine a
  /// thread may start after the box has run out, and every producer must still take part.
  bool over(std::uint64_t i) const { return i != 0 && i % 16 == 0 && over_now(); }
  bool over_now() const { return absl::Now() >= deadline_; }

 private:
  absl::Time deadline_;
};

/// How long a test waits without progress before it declares a hang. Generous: it
/// only matters when something is broken, and then it must fire before ctest's TIMEOUT.
inline absl::Duration stall_limit() { return kUnderTsan ? absl::Seconds(45) : absl::Seconds(20); }

// ---------------------------------------------------------------- kinds

// One tag type per kind, so that typed tests print (and ctest names them) as
// Suite.Test<sn::test::Mpmc>.
struct Spsc : std::integral_constant<ChannelKind, ChannelKind::spsc> {};
struct Mpsc : std::integral_constant<ChannelKind, ChannelKind::mpsc> {};
struct Mpmc : std::integral_constant<ChannelKind, ChannelKind::mpmc> {};

using AllKinds = ::testing::Types<Spsc, Mpsc, Mpmc>;
using MultiProducerKinds = ::testing::Types<Mpsc, Mpmc>;

/// The base of every typed fixture over the kinds: a test reads its kind as TestFixture::K.
template <class KindT>
class ChannelKindTest : public ::testing::Test {
 protected:
  static constexpr ChannelKind K = KindT::value;
};

/// The capacity a request for `requested` slots gets: the next power of two, and at
/// least two slots for MPMC (whose sequence words cannot tell "ready at h" from "free at
/// h + 1" in a one-slot ring).
constexpr std::size_t expected_capacity(ChannelKind k, std::size_t requested) noexcept {
  std::size_t c = 1;
  while (c < requested) c <<= 1;
  return k == ChannelKind::mpmc && c < 2 ? 2 : c;
}

/// A sender and a receiver held in named members (lambdas capture these more simply than
/// structured bindings).
template <class T, ChannelKind K>
struct Ends {
  Sender<T, K> tx;
  Receiver<T, K> rx;
};

/// Creates a channel of kind K and fails the current test if creation fails.
template <class T, ChannelKind K>
Ends<T, K> open(std::size_t capacity, const ChannelOptions& options = {}) {
  auto ends = Channel<T>::template make<K>(capacity, options);
  EXPECT_TRUE(ends.ok()) << ends.status();
  return {std::move(ends.sender()), std::move(ends.receiver())};
}

inline ChannelOptions park_at_once() { return ChannelOptions{}.with_wait_policy(WaitPolicy::park_immediately()); }

// ---------------------------------------------------------------- threads

/// Lets every thread of a test start at the same moment: each calls arrive_and_wait(),
/// the test calls open_when(n) once n threads have arrived.
class StartGate {
 public:
  void arrive_and_wait() noexcept {
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    while (!open_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  void open_when(int threads) noexcept {
    while (arrived_.load(std::memory_order_acquire) < threads) std::this_thread::yield();
    open_.store(true, std::memory_order_release);
  }

 private:
  std::atomic<int> arrived_{0};
  std::atomic<bool> open_{false};
};

/// Calls `on_stall` once (from its own thread) if tick() was not called for `limit`,
/// so that a lost wake-up becomes a test failure instead of a hang. The callback
/// typically closes the channels, which wakes every blocked thread with `closed`.
/// Destroy (or stop()) the watchdog before the handles its callback uses.
class Watchdog {
 public:
  Watchdog(absl::Duration limit, std::function<void()> on_stall)
      : limit_(limit), on_stall_(std::move(on_stall)), thread_([this] { run(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { stop(); }

  void tick() noexcept { progress_.fetch_add(1, std::memory_order_relaxed); }
  bool fired() const noexcept { return fired_.load(std::memory_order_acquire); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::uint64_t seen = progress_.load(std::memory_order_relaxed);
    absl::Time last_change = absl::Now();
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(20));
      if (stop_) return;
      const std::uint64_t now_seen = progress_.load(std::memory_order_relaxed);
      if (now_seen != seen) {
        seen = now_seen;
        last_change = absl::Now();
      } else if (absl::Now() - last_change > limit_) {
        fired_.store(true, std::memory_order_release);
        lock.unlock();
        on_stall_();
        return;
      }
    }
  }

  absl::Duration limit_;
  std::function<void()> on_stall_;
  std::atomic<std::uint64_t> progress_{0};
  std::atomic<bool> fired_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

/// Waits until `n` sends on the channel of `h` have started waiting for space (the
/// channel's send_blocked count), or gives up after the stall limit. Lets a test know that
/// a sender thread is inside its blocking send rather than merely about to call it.
template <class Handle>
bool wait_until_sends_block(const Handle& h, std::uint64_t n = 1) {
  const absl::Time give_up = absl::Now() + stall_limit();
  while (h.stats().send_blocked < n) {
    if (absl::Now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// ---------------------------------------------------------------- values

/// A value type that counts its live instances, constructions and destructions, and
/// detects a destruction of something that is not alive (double destroy, or a
/// destroy of memory that was never constructed). Carries a heap-allocated payload,
/// so a moved-from instance is visibly empty.
struct Tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> constructions{0};
  static inline std::atomic<long> destructions{0};
  static inline std::atomic<long> bad_destructions{0};

  static constexpr std::uint32_t kAlive = 0xA11CE5ED;
  static constexpr std::uint32_t kDead = 0xDEADDEAD;

  int id = -1;
  std::string payload;
  std::uint32_t magic = kAlive;

  static std::string payload_for(int id) {
    return "payload #" + std::to_string(id) + " long enough to live on the heap, not in SSO";
  }

  Tracked() noexcept { born(); }
  explicit Tracked(int i) : id(i), payload(payload_for(i)) { born(); }
  Tracked(const Tracked& o) : id(o.id), payload(o.payload) { born(); }
  Tracked(Tracked&& o) noexcept : id(o.id), payload(std::move(o.payload)) { born(); }
  Tracked& operator=(const Tracked& o) {
    id = o.id;
    payload = o.payload;
    return *this;
  }
  Tracked& operator=(Tracked&& o) noexcept {
    id = o.id;
    payload = std::move(o.payload);
    return *this;
  }
  ~Tracked() {
    if (magic != kAlive) bad_destructions.fetch_add(1, std::memory_order_relaxed);
    magic = kDead;
    live.fetch_sub(1, std::memory_order_relaxed);
    destructions.fetch_add(1, std::memory_order_relaxed);
  }

  bool intact() const { return magic == kAlive && payload == payload_for(id); }

 private:
  static void born() noexcept {
    live.fetch_add(1, std::memory_order_relaxed);
    constructions.fetch_add(1, std::memory_order_relaxed);
  }
};

/// Snapshot of Tracked's counters, for computing what an operation did.
struct TrackedCounts {
  long live = Tracked::live.load();
  long constructions = Tracked::constructions.load();
  long destructions = Tracked::destructions.load();
  long bad_destructions = Tracked::bad_destructions.load();
};

/// Sends and receives `n` Tracked values one at a time, so that whatever is sent next
/// lands `n` slots further round the ring; fails the test if a value does not go through.
template <class Ends>
void move_round(Ends& ch, int n) {
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(ch.tx.try_send(Tracked(i)), SendResult::ok);
    Tracked out;
    ASSERT_EQ(ch.rx.try_recv(out), RecvResult::ok);
  }
}

/// Every Tracked created since `start` is gone, and none was destroyed twice.
inline void expect_no_leaks_since(const TrackedCounts& start) {
  EXPECT_EQ(Tracked::live.load(), start.live) << "Tracked instances leaked (>) or destroyed twice (<)";
  EXPECT_EQ(Tracked::bad_destructions.load(), start.bad_destructions) << "a Tracked was destroyed that was not alive";
  EXPECT_EQ(Tracked::constructions.load() - start.constructions, Tracked::destructions.load() - start.destructions);
}

}  // namespace sn::test
