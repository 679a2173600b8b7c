// What a partitioner is: a map from (key, worker count) to the worker that owns the key.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace sn {

/// A partitioner maps a 64-bit key and a worker count n > 0 to a worker index in [0, n).
/// It is called concurrently from every sending thread, so it must be thread-safe; a
/// pure function (a class or a lambda) is.
template <class P>
concept Partitioner = std::copy_constructible<P> && requires(const P& p, std::uint64_t key, std::size_t n) {
  { p(key, n) } -> std::convertible_to<std::size_t>;
};

/// Maps a 64-bit hash onto [0, n) with one multiply-high instead of a division
/// (Lemire's fast range reduction). Uniform hashes give uniform indices.
constexpr std::size_t reduce_to_range(std::uint64_t hash, std::size_t n) noexcept {
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::size_t>((static_cast<u128>(hash) * n) >> 64);
}

}  // namespace sn
