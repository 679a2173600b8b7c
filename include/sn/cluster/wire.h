// The frame: what one rank sends another in one MPI message, a batch of records.
//
// Layout (little-endian, no padding):
//   header, 32 bytes:
//     0  magic        u32  kFrameMagic ("SNCF")
//     4  version      u16  kWireVersion
//     6  flags        u16  0 (reserved; anything else is rejected)
//     8  body_length  u32  bytes after the header
//     12 record_count u32
//     16 sequence     u64  per (source, destination) pair, from 0
//     24 checksum     u32  CRC32C of header bytes [0, 24) then of the body
//     28 reserved     u32  0
//   body: record_count records, back to back, exactly filling body_length:
//     0  key          u64  the key's routing value (sn::routing_key)
//     8  slot         u32  the destination worker on the owning rank, or kRouteByKey
//     12 length       u32  payload bytes
//     16 payload
//
// Why CRC32C: the checksum is there to catch our own framing bugs and memory corruption,
// not an attacker (MPI's transports already check their links). CRC32C detects every
// burst of up to 32 bits and every odd number of flipped bits, has a hardware instruction
// on x86-64 (SSE4.2) and arm64, and is the checksum of iSCSI, ext4 and RocksDB; a 64-bit
// multiplicative hash is no faster with the instruction and guarantees none of this.
//
// A receiver checks a whole frame (check_frame) before it delivers any record of it, so a
// frame is delivered entirely or rejected entirely, with a FrameError that says why.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "sn/cluster/serialize.h"

namespace sn {

inline constexpr std::uint32_t kFrameMagic = 0x46434E53u;  ///< "SNCF" as little-endian bytes.
inline constexpr std::uint16_t kWireVersion = 1;           ///< Bumped on any change of the layout.
inline constexpr std::size_t kFrameHeaderBytes = 32;       ///< The fixed header.
inline constexpr std::size_t kRecordHeaderBytes = 16;      ///< Key, slot and length before each payload.
inline constexpr std::uint32_t kRouteByKey = 0xFFFFFFFFu;  ///< Slot: the owning rank's partitioner picks.

/// Sizes a frame may have: the sender refuses larger messages, the receiver larger frames.
struct FrameLimits {
  std::size_t max_frame_bytes = 64 * 1024;    ///< Header and body; one buffer in flight.
  std::size_t max_message_bytes = 16 * 1024;  ///< One record's payload.
  /// True when a message of max_message_bytes fits in an empty frame and both fit in a u32.
  constexpr bool valid() const noexcept {
    return max_message_bytes > 0 && max_frame_bytes <= 0xFFFFFFFFu &&
           max_frame_bytes >= kFrameHeaderBytes + kRecordHeaderBytes &&
           max_message_bytes <= max_frame_bytes - kFrameHeaderBytes - kRecordHeaderBytes;
  }
};

/// Outcome of adding a message to a frame under construction.
enum class [[nodiscard]] AppendResult : std::uint8_t{
    ok,          ///< The record is in the frame.
    frame_full,  ///< Not enough room left; seal and send this frame, then append to a new one.
    too_large,   ///< The message's wire form exceeds max_message_bytes: it can never be sent.
};

/// Why a received frame was rejected (none: it was accepted).
enum class FrameError : std::uint8_t {
  none,               ///< Accepted.
  too_short,          ///< Fewer bytes than a header.
  too_long,           ///< More bytes than max_frame_bytes.
  bad_magic,          ///< Not a frame.
  bad_version,        ///< A frame of another wire version.
  bad_reserved,       ///< Flags or the reserved word are not zero.
  length_mismatch,    ///< body_length disagrees with the bytes received.
  checksum_mismatch,  ///< The CRC32C does not match.
  truncated_record,   ///< A record header or payload runs past the body.
  record_too_large,   ///< A payload exceeds max_message_bytes.
  count_mismatch,     ///< The records do not number record_count, or bytes follow the last one.
};
inline constexpr std::size_t kFrameErrorCount = 11;  ///< Enumerators of FrameError.

/// The enumerator's name, such as "checksum_mismatch".
std::string_view to_string(FrameError e) noexcept;
/// The enumerator's name, such as "frame_full".
std::string_view to_string(AppendResult r) noexcept;

/// The header of an accepted frame.
struct FrameInfo {
  std::uint32_t record_count = 0;   ///< Records in the body.
  std::uint64_t sequence = 0;       ///< The sender's sequence number for this destination.
  std::span<const std::byte> body;  ///< The records (inside the checked bytes).
};

/// What check_frame concluded: error none and the header, or why the frame is rejected.
struct [[nodiscard]] FrameCheck {
  FrameError error = FrameError::none;  ///< none when the frame may be read.
  FrameInfo info;                       ///< Meaningful only when error is none.
};

/// Checks a received frame completely (header, checksum, and that the records tile the
/// body exactly) without trusting any length in it. Reads only inside `bytes`.
FrameCheck check_frame(std::span<const std::byte> bytes, const FrameLimits& limits) noexcept;

/// One record of a checked frame.
struct RecordView {
  std::uint64_t key = 0;               ///< The key's routing value.
  std::uint32_t slot = kRouteByKey;    ///< The destination worker, or kRouteByKey.
  std::span<const std::byte> payload;  ///< The message's wire form (decode_message).
};

/// Walks the records of a frame that check_frame accepted. Reads only inside its body.
class RecordCursor {
 public:
  /// The records of `info`, which must come from an accepted FrameCheck.
  explicit RecordCursor(const FrameInfo& info) noexcept : body_(info.body) {}
  /// Fills `out` with the next record; false after the last.
  bool next(RecordView& out) noexcept;

 private:
  std::span<const std::byte> body_;
  std::size_t pos_ = 0;
};

/// Builds one frame in a caller's buffer (the transport owns and recycles buffers, so
/// memory stays bounded). Single-threaded: the batcher of one destination.
class FrameBuilder {
 public:
  /// Builds into `buffer` (at most limits.max_frame_bytes of it); limits must be valid().
  FrameBuilder(std::span<std::byte> buffer, const FrameLimits& limits) noexcept;

  /// Adds a record for `message` to the frame; on anything but ok the frame is unchanged.
  template <WireMessage T>
  AppendResult append(std::uint64_t key, std::uint32_t slot, const T& message) noexcept(!HasWireHooks<T>);

  /// Writes the header and checksum; the frame is the returned bytes (inside the buffer)
  /// until reset(). Appending after seal() is a contract violation.
  std::span<const std::byte> seal(std::uint64_t sequence) noexcept;
  /// Starts an empty frame in the same buffer.
  void reset() noexcept;

  /// Records appended since the last reset().
  std::uint32_t count() const noexcept { return count_; }
  /// True when no record was appended since the last reset().
  bool empty() const noexcept { return count_ == 0; }
  /// Header and body bytes so far.
  std::size_t size_bytes() const noexcept { return used_; }

 private:
  void commit_record(std::uint64_t key, std::uint32_t slot, std::size_t at, std::size_t payload) noexcept;

  std::span<std::byte> buffer_;
  std::size_t max_message_;
  std::size_t used_ = kFrameHeaderBytes;
  std::uint32_t count_ = 0;
};

// ---------------------------------------------------------------- definitions

template <WireMessage T>
AppendResult FrameBuilder::append(std::uint64_t key, std::uint32_t slot, const T& message) noexcept(!HasWireHooks<T>) {
  const std::size_t at = used_;
  const std::size_t room = buffer_.size() - at;
  if (room < kRecordHeaderBytes) return AppendResult::frame_full;
  const std::size_t payload_room = std::min(room - kRecordHeaderBytes, max_message_);
  WireWriter out(buffer_.subspan(at + kRecordHeaderBytes, payload_room));
  encode_message(out, message);
  if (out.wanted() > max_message_) return AppendResult::too_large;
  if (!out.ok()) return AppendResult::frame_full;
  commit_record(key, slot, at, out.size());
  return AppendResult::ok;
}

}  // namespace sn
