// How a message becomes bytes on the wire between ranks, and back.
//
// A trivially copyable message is copied as its bytes. Any other type (or a trivially
// copyable one that holds pointers or handles, which mean nothing on another rank)
// provides two functions next to its definition, found by argument-dependent lookup,
// as keys provide sn_stable_key:
//
//   void sn_serialize(sn::WireWriter& out, const Order& o);
//   std::optional<Order> sn_deserialize(sn::WireReader& in, std::type_identity<Order>);
//
// The hooks win over the byte copy when both apply. sn_deserialize takes a tag rather than
// an out-parameter so that messages need no default constructor; it returns nullopt for
// bytes it cannot make sense of (the record is then rejected and counted, never delivered).
// Byte copies assume that every rank runs the same build (same layout); the wire is
// little-endian, and big-endian hosts are refused at compile time.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace sn {

static_assert(std::endian::native == std::endian::little, "sn::cluster's wire format is little-endian");

/// Appends bytes to a fixed buffer. A write that does not fit writes nothing and marks the
/// writer failed (sticky: later writes do nothing), but every write still counts towards
/// wanted(), so that the caller learns how large the message would have been.
/// Single-threaded: one writer per frame under construction.
class WireWriter {
 public:
  /// Writes into `room`; never past its end.
  explicit WireWriter(std::span<std::byte> room) noexcept : room_(room) {}

  /// Appends `n` bytes from `data`.
  void write_bytes(const void* data, std::size_t n) noexcept {
    wanted_ += n;
    if (!ok_ || n > room_.size() - used_) {
      ok_ = false;
      return;
    }
    if (n != 0) std::memcpy(room_.data() + used_, data, n);
    used_ += n;
  }
  /// Appends the bytes of a trivially copyable value.
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void write(const T& value) noexcept { write_bytes(&value, sizeof(T)); }

  /// True while every write so far fitted.
  bool ok() const noexcept { return ok_; }
  /// Bytes written (those of the writes that fitted, up to the first that did not).
  std::size_t size() const noexcept { return used_; }
  /// Bytes every write so far asked for, whether or not they fitted.
  std::size_t wanted() const noexcept { return wanted_; }

 private:
  std::span<std::byte> room_;
  std::size_t used_ = 0;
  std::size_t wanted_ = 0;
  bool ok_ = true;
};

/// Reads bytes from a received record's payload. A read past the end reads nothing and
/// marks the reader failed (sticky). Never reads outside the span it was given.
class WireReader {
 public:
  /// Reads from `bytes`.
  explicit WireReader(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

  /// Copies the next `n` bytes to `out`; false (and nothing copied) when fewer remain.
  bool read_bytes(void* out, std::size_t n) noexcept {
    if (!ok_ || n > remaining()) return ok_ = false;
    if (n != 0) std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  /// The next `n` bytes in place (valid while the frame is); empty and failed when fewer remain.
  std::span<const std::byte> take(std::size_t n) noexcept {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return {};
    }
    const auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  /// Reads a trivially copyable value; false when its bytes are not all there.
  template <class T>
  requires std::is_trivially_copyable_v<T>
  bool read(T& out) noexcept { return read_bytes(&out, sizeof(T)); }

  /// Marks the input malformed (for a hook that finds a bad value, say an unknown tag).
  void fail() noexcept { ok_ = false; }
  /// True while every read so far succeeded and nothing called fail().
  bool ok() const noexcept { return ok_; }
  /// Bytes not read yet.
  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

/// A type with both hooks, found by argument-dependent lookup.
template <class T>
concept HasWireHooks = requires(WireWriter& out, WireReader& in, const T& value) {
  sn_serialize(out, value);
  { sn_deserialize(in, std::type_identity<T>{}) } -> std::same_as<std::optional<T>>;
};

/// A type that can cross ranks: it has the hooks, or it is trivially copyable.
template <class T>
concept WireMessage = HasWireHooks<T> || std::is_trivially_copyable_v<T>;

/// Appends `value`'s wire form to `out` (through its hooks, or as its bytes).
template <WireMessage T>
void encode_message(WireWriter& out, const T& value) noexcept(!HasWireHooks<T>) {
  if constexpr (HasWireHooks<T>) {
    sn_serialize(out, value);
  } else {
    out.write(value);
  }
}

/// The message whose wire form is exactly `payload`, or nullopt when it is malformed: a
/// hook that failed or did not consume every byte, or a byte copy of the wrong size.
template <WireMessage T>
std::optional<T> decode_message(std::span<const std::byte> payload) noexcept(!HasWireHooks<T>) {
  if constexpr (HasWireHooks<T>) {
    WireReader in(payload);
    std::optional<T> value = sn_deserialize(in, std::type_identity<T>{});
    if (!in.ok() || in.remaining() != 0) return std::nullopt;
    return value;
  } else {
    if (payload.size() != sizeof(T)) return std::nullopt;
    std::array<std::byte, sizeof(T)> raw;  // bit_cast needs no default constructor of T
    std::copy(payload.begin(), payload.end(), raw.begin());
    return std::bit_cast<T>(raw);
  }
}

}  // namespace sn
