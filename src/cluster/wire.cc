// The frame format's non-template half: header and record encoding, the checks a
// receiver makes before it trusts a frame, and the record cursor.
#include "sn/cluster/wire.h"

#include <algorithm>

#include "sn/cluster/detail/crc32c.h"
#include "sn/detail/check.h"

namespace sn {
namespace {

constexpr std::size_t kChecksumOffset = 24;

template <class U>
U load(std::span<const std::byte> bytes, std::size_t at) noexcept {
  U value;
  std::memcpy(&value, bytes.data() + at, sizeof(U));
  return value;
}

template <class U>
void store(std::span<std::byte> bytes, std::size_t at, U value) noexcept {
  std::memcpy(bytes.data() + at, &value, sizeof(U));
}

/// CRC32C of the header up to the checksum, then of the body.
std::uint32_t frame_checksum(std::span<const std::byte> header, std::span<const std::byte> body) noexcept {
  return detail::crc32c_extend(detail::crc32c_extend(0, header.first(kChecksumOffset)), body);
}

/// Walks the record headers of `body`: every length inside the body and within the limit,
/// exactly `count` records, no byte after the last.
FrameError check_records(std::span<const std::byte> body, std::uint32_t count, std::size_t max_message) noexcept {
  std::size_t pos = 0;
  std::uint32_t seen = 0;
  while (pos < body.size()) {
    if (body.size() - pos < kRecordHeaderBytes) return FrameError::truncated_record;
    const auto length = load<std::uint32_t>(body, pos + 12);
    if (length > max_message) return FrameError::record_too_large;
    if (length > body.size() - pos - kRecordHeaderBytes) return FrameError::truncated_record;
    pos += kRecordHeaderBytes + length;
    if (++seen > count) return FrameError::count_mismatch;
  }
  return seen == count ? FrameError::none : FrameError::count_mismatch;
}

}  // namespace

std::string_view to_string(FrameError e) noexcept {
  switch (e) {
    case FrameError::none: return "none";
    case FrameError::too_short: return "too_short";
    case FrameError::too_long: return "too_long";
    case FrameError::bad_magic: return "bad_magic";
    case FrameError::bad_version: return "bad_version";
    case FrameError::bad_reserved: return "bad_reserved";
    case FrameError::length_mismatch: return "length_mismatch";
    case FrameError::checksum_mismatch: return "checksum_mismatch";
    case FrameError::truncated_record: return "truncated_record";
    case FrameError::record_too_large: return "record_too_large";
    case FrameError::count_mismatch: return "count_mismatch";
  }
  return "unknown";
}

std::string_view to_string(AppendResult r) noexcept {
  switch (r) {
    case AppendResult::ok: return "ok";
    case AppendResult::frame_full: return "frame_full";
    case AppendResult::too_large: return "too_large";
  }
  return "unknown";
}

FrameCheck check_frame(std::span<const std::byte> bytes, const FrameLimits& limits) noexcept {
  if (bytes.size() < kFrameHeaderBytes) return {FrameError::too_short, {}};
  if (bytes.size() > limits.max_frame_bytes) return {FrameError::too_long, {}};
  if (load<std::uint32_t>(bytes, 0) != kFrameMagic) return {FrameError::bad_magic, {}};
  if (load<std::uint16_t>(bytes, 4) != kWireVersion) return {FrameError::bad_version, {}};
  if (load<std::uint16_t>(bytes, 6) != 0 || load<std::uint32_t>(bytes, 28) != 0) {
    return {FrameError::bad_reserved, {}};
  }
  const auto body_length = load<std::uint32_t>(bytes, 8);
  if (body_length != bytes.size() - kFrameHeaderBytes) return {FrameError::length_mismatch, {}};
  const auto body = bytes.subspan(kFrameHeaderBytes);
  if (frame_checksum(bytes, body) != load<std::uint32_t>(bytes, kChecksumOffset)) {
    return {FrameError::checksum_mismatch, {}};
  }
  const auto count = load<std::uint32_t>(bytes, 12);
  if (const FrameError e = check_records(body, count, limits.max_message_bytes); e != FrameError::none) {
    return {e, {}};
  }
  return {FrameError::none, FrameInfo{count, load<std::uint64_t>(bytes, 16), body}};
}

bool RecordCursor::next(RecordView& out) noexcept {
  if (body_.size() - pos_ < kRecordHeaderBytes) return false;
  const auto length = load<std::uint32_t>(body_, pos_ + 12);
  if (length > body_.size() - pos_ - kRecordHeaderBytes) return false;  // only after a contract breach
  out.key = load<std::uint64_t>(body_, pos_);
  out.slot = load<std::uint32_t>(body_, pos_ + 8);
  out.payload = body_.subspan(pos_ + kRecordHeaderBytes, length);
  pos_ += kRecordHeaderBytes + length;
  return true;
}

FrameBuilder::FrameBuilder(std::span<std::byte> buffer, const FrameLimits& limits) noexcept
    : buffer_(buffer.first(std::min(buffer.size(), limits.max_frame_bytes))), max_message_(limits.max_message_bytes) {
  SN_CHECK(limits.valid(), "FrameBuilder: FrameLimits must be valid()");
  SN_CHECK(buffer_.size() >= kFrameHeaderBytes + kRecordHeaderBytes + max_message_,
           "FrameBuilder: the buffer must hold a frame with one largest message");
}

void FrameBuilder::commit_record(std::uint64_t key, std::uint32_t slot, std::size_t at, std::size_t payload) noexcept {
  store<std::uint64_t>(buffer_, at, key);
  store<std::uint32_t>(buffer_, at + 8, slot);
  store<std::uint32_t>(buffer_, at + 12, static_cast<std::uint32_t>(payload));
  used_ = at + kRecordHeaderBytes + payload;
  ++count_;
}

std::span<const std::byte> FrameBuilder::seal(std::uint64_t sequence) noexcept {
  store<std::uint32_t>(buffer_, 0, kFrameMagic);
  store<std::uint16_t>(buffer_, 4, kWireVersion);
  store<std::uint16_t>(buffer_, 6, 0);
  store<std::uint32_t>(buffer_, 8, static_cast<std::uint32_t>(used_ - kFrameHeaderBytes));
  store<std::uint32_t>(buffer_, 12, count_);
  store<std::uint64_t>(buffer_, 16, sequence);
  store<std::uint32_t>(buffer_, 28, 0);
  const std::span<const std::byte> frame = buffer_.first(used_);
  store<std::uint32_t>(buffer_, kChecksumOffset, frame_checksum(frame, frame.subspan(kFrameHeaderBytes)));
  return frame;
}

void FrameBuilder::reset() noexcept {
  used_ = kFrameHeaderBytes;
  count_ = 0;
}

}  // namespace sn
