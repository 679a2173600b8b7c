// How keys of any type become the 64-bit value partitioners route on, stably: the same
// key gives the same value in every process, run and machine.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace sn {

/// A stable 64-bit mix of an integer (the MurmurHash3 finalizer). Bijective, so distinct
/// integers never collide. Unlike absl::Hash it is not seeded per process.
constexpr std::uint64_t stable_hash(std::uint64_t key) noexcept {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ULL;
  key ^= key >> 33;
  return key;
}

/// A stable 64-bit hash of bytes (MurmurHash64A, read little-endian whatever the host's
/// byte order, so that every machine agrees).
constexpr std::uint64_t stable_hash_bytes(std::span<const unsigned char> bytes, std::uint64_t seed = 0) noexcept {
  constexpr std::uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  std::uint64_t h = seed ^ (bytes.size() * m);
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t k = 0;
    for (int b = 7; b >= 0; --b) k = (k << 8) | bytes[i + static_cast<std::size_t>(b)];
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const std::size_t rest = bytes.size() - i;
  if (rest != 0) {
    std::uint64_t k = 0;
    for (std::size_t b = rest; b-- > 0;) k = (k << 8) | bytes[i + b];
    h ^= k;
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

/// The same hash over the bytes of a string.
inline std::uint64_t stable_hash_bytes(std::string_view s, std::uint64_t seed = 0) noexcept {
  return stable_hash_bytes(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(s.data()), s.size()),
                           seed);
}

/// The hook for user key types: define `std::uint64_t sn_stable_key(const T&)` next to T
/// (found by argument-dependent lookup), returning a value that is the same on every
/// machine (for example stable_hash_bytes of a canonical encoding).
template <class T>
concept HasStableKey = requires(const T& t) {
  { sn_stable_key(t) } -> std::convertible_to<std::uint64_t>;
};

/// The 64-bit routing value of a key: integers as themselves (partitioners mix them),
/// strings and byte spans through stable_hash_bytes, other types through sn_stable_key.
template <class K>
std::uint64_t routing_key(const K& key) noexcept {
  if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
    return static_cast<std::uint64_t>(key);
  } else if constexpr (std::is_convertible_v<const K&, std::string_view>) {
    return stable_hash_bytes(std::string_view(key));
  } else if constexpr (std::is_convertible_v<const K&, std::span<const unsigned char>>) {
    return stable_hash_bytes(std::span<const unsigned char>(key));
  } else {
    static_assert(HasStableKey<K>, "give this key type a stable hash: std::uint64_t sn_stable_key(const K&)");
    return static_cast<std::uint64_t>(sn_stable_key(key));
  }
}

}  // namespace sn
