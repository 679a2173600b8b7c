// The CAF (C++ Actor Framework 0.17) peer of the worker-pool benchmark: keyed messages
// from plain producer threads to event-based actors, each owning its own per-key counts;
// calls (request/response) between two actors, and from a plain thread to an actor; and
// one actor's burst of sends to another.
// CAF stays behind this header (its headers are heavy and not held to our warning
// flags), so only caf_peer.cc includes them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace sn_bench {

struct KeyedResult {
  std::uint64_t handled = 0;
  std::uint64_t checksum = 0;
};

/// What a keyed handler does besides counting the key: nothing, or also keyed_sine(key)
/// (a little arithmetic per message, as a handler that computes something would).
enum class KeyedWork : std::uint8_t { count, count_and_sine };

/// The sine of the colocated workload's handlers, the same on both sides: the key's low
/// 16 bits scaled into [0, 6.6), where std::sin needs no long argument reduction.
inline double keyed_sine(std::uint64_t key) noexcept { return std::sin(static_cast<double>(key & 0xffff) * 1e-4); }

/// A CAF actor system with `workers` event-based actors, each counting messages per key
/// in its own absl::flat_hash_map<std::uint64_t, std::uint64_t> (and doing `work`), fed
/// by a persistent team of `producers` threads (not pinned). Build it once per benchmark
/// case, outside the timed region: the constructor starts the scheduler, spawns the
/// actors and starts the producer threads, so run() only releases them.
class CafKeyed {
 public:
  CafKeyed(int producers, int workers, int scheduler_threads, KeyedWork work = KeyedWork::count);
  ~CafKeyed();
  CafKeyed(const CafKeyed&) = delete;
  CafKeyed& operator=(const CafKeyed&) = delete;

  /// Producer p sends `per_producer` messages; its message i carries
  /// key = keys[(p * per_producer + i) % keys.size()] to actor route(key, workers).
  /// Returns once every actor has handled every message of this run. handled counts
  /// the messages of this run; checksum is the sum of their keys (mod 2^64).
  KeyedResult run(const std::vector<std::uint64_t>& keys, std::uint64_t per_producer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The answer both the sn and the CAF callees give to the request `v` of the call cases,
/// so that every reply is checked against its own request.
constexpr std::uint64_t call_answer(std::uint64_t v) noexcept { return v * 3 + 1; }

/// A clock for timing round trips (the benchmark passes its cycle counter, so that both
/// peers are timed with the same clock).
using TickClock = std::uint64_t (*)() noexcept;

/// Calls (request/response) to one event-based callee that answers call_answer(v),
/// on CAF's scheduler with `scheduler_threads` threads (not pinned), made either by a
/// second event-based actor or by a plain thread. Build it once per benchmark case,
/// outside the timed region.
class CafCalls {
 public:
  explicit CafCalls(int scheduler_threads);
  ~CafCalls();
  CafCalls(const CafCalls&) = delete;
  CafCalls& operator=(const CafCalls&) = delete;

  /// An event-based requester makes samples.size() calls with requests first, first + 1,
  /// ...: `request(callee, infinite, v).then(...)`, the next one from the `then` handler,
  /// which also times it. samples[i] gets the clock ticks of call i (from the previous
  /// reply, or from the start). Returns once all are done: false when a reply was wrong or
  /// an error came back.
  bool actor_round_trips(std::uint64_t first, std::vector<std::uint64_t>& samples, TickClock clock);
  /// The same from the calling thread through a caf::scoped_actor, one blocking
  /// `request(callee, infinite, v).receive(...)` at a time. The scoped actor is made once
  /// per call of this function, before the first sample's clock starts.
  bool external_calls(std::uint64_t first, std::vector<std::uint64_t>& samples, TickClock clock);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One actor's burst to another, far more messages than any bounded queue would hold:
/// a sender actor, on each run, sends `count` increments 1, 2, ..., count to a counter
/// actor from one handler invocation (`send(counter, i)`), then asks it for its total
/// (`request(counter, infinite, total)`; CAF keeps one sender's messages in order, so
/// the request comes after every increment). The counter answers the sum of what it took
/// since the last question and starts again from zero. Two actors on CAF's scheduler with
/// `scheduler_threads` threads (not pinned). Build it once per benchmark case, outside
/// the timed region.
class CafBurst {
 public:
  explicit CafBurst(int scheduler_threads);
  ~CafBurst();
  CafBurst(const CafBurst&) = delete;
  CafBurst& operator=(const CafBurst&) = delete;

  /// Runs one burst of `count` increments and returns the counter's answer: the sum
  /// count * (count + 1) / 2 when every increment arrived once and in order, 0 when one
  /// came out of order. Throws std::runtime_error when the request failed.
  std::uint64_t run(std::uint64_t count);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The routing function shared with the sn side: a stable 64-bit mix (MurmurHash3's
/// finalizer), then multiply-high to map it onto [0, n) without a division.
inline std::size_t route(std::uint64_t key, std::size_t n) noexcept {
  std::uint64_t x = key;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  __extension__ typedef unsigned __int128 u128;  // __extension__: -Wpedantic rejects __int128
  return static_cast<std::size_t>((static_cast<u128>(x) * n) >> 64);
}

}  // namespace sn_bench
