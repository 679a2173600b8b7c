// The CAF (C++ Actor Framework 0.17) peer of the worker-pool benchmark: keyed messages
// from plain producer threads to event-based actors, each owning its own per-key counts.
// CAF stays behind this header (its headers are heavy and not held to our warning
// flags), so only caf_peer.cc includes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace sn_bench {

struct KeyedResult {
  std::uint64_t handled = 0;
  std::uint64_t checksum = 0;
};

/// A CAF actor system with `workers` event-based actors, each counting messages per key
/// in its own absl::flat_hash_map<std::uint64_t, std::uint64_t>, fed by a persistent team
/// of `producers` threads. Build it once per benchmark case, outside the timed region:
/// the constructor starts the scheduler, spawns the actors and starts the producer
/// threads, so run() only releases them.
class CafKeyed {
 public:
  CafKeyed(int producers, int workers, int scheduler_threads);
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
