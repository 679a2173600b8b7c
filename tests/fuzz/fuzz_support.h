// Shared by the fuzz targets: a reader that turns the fuzzer's bytes into values (it
// never fails: past the end it yields zeros), and the check that turns a mismatch with
// a model into a crash the fuzzer reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace sn::fuzz {

/// Reads the input front to back. Every read succeeds; past the end it yields zeros,
/// so that any prefix of an input is itself a valid input.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  bool empty() const noexcept { return pos_ >= size_; }
  std::uint8_t u8() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() noexcept { return u16() | (std::uint32_t{u16()} << 16); }
  std::uint64_t u64() noexcept { return u32() | (std::uint64_t{u32()} << 32); }
  bool flag() noexcept { return (u8() & 1) != 0; }
  /// Up to `max` bytes, as a string.
  std::string str(std::size_t max) {
    const std::size_t n = u8() % (max + 1);
    std::string s;
    for (std::size_t i = 0; i < n && !empty(); ++i) s.push_back(static_cast<char>(u8()));
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// Reports a broken invariant and aborts, so that libFuzzer (or the replay driver)
/// records the input as a crash.
[[noreturn]] inline void fail(const char* file, int line, const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s %s\n", file, line, what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace sn::fuzz

/// Aborts with the condition's text (and `detail`, a std::string) when `cond` is false.
#define SN_FUZZ_CHECK(cond, detail)                                  \
  do {                                                               \
    if (!(cond)) [[unlikely]]                                        \
      ::sn::fuzz::fail(__FILE__, __LINE__, "(" #cond ")", (detail)); \
  } while (false)

/// Aborts when a != b, printing both (integers or enums with sn::to_string).
#define SN_FUZZ_EQ(a, b, what)                                                                                         \
  do {                                                                                                                 \
    const auto sn_fuzz_a = (a);                                                                                        \
    const auto sn_fuzz_b = (b);                                                                                        \
    if (!(sn_fuzz_a == sn_fuzz_b)) [[unlikely]]                                                                        \
      ::sn::fuzz::fail(                                                                                                \
          __FILE__, __LINE__, #a " == " #b,                                                                            \
          std::string(what) + ": got " + ::sn::fuzz::show(sn_fuzz_a) + ", model says " + ::sn::fuzz::show(sn_fuzz_b)); \
  } while (false)

namespace sn::fuzz {
template <class V>
std::string show(const V& v) {
  if constexpr (requires { to_string(v); }) {
    return std::string(to_string(v));
  } else if constexpr (std::is_same_v<V, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_enum_v<V>) {
    return std::to_string(static_cast<long long>(v));
  } else {
    return std::to_string(v);
  }
}
}  // namespace sn::fuzz
