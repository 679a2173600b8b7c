// The accumulator example's formats, shared by its two processes (see accumulator.cc):
//   - Record:   what producers create; fixed size, with a CRC-32C of its own fields;
//   - Frame:    how a record lies in the append-only log file (magic + record);
//   - AckFrame: what the writer process tells its parent through a pipe;
// plus the helpers both sides need: the checksum, the deterministic payload, full
// reads and writes, and a sequential scan of the log.
#pragma once

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace accumulator {

/// One record: 48 bytes, no padding, so its bytes are exactly its fields.
struct Record {
  std::uint32_t producer = 0;  // which producer made it
  std::uint32_t crc = 0;       // CRC-32C of the record with this field set to 0
  std::uint64_t seq = 0;       // 1, 2, 3, ... per producer
  std::array<std::uint64_t, 4> payload{};
};
static_assert(sizeof(Record) == 48 && std::has_unique_object_representations_v<Record>);
static_assert(std::is_trivially_copyable_v<Record>);

/// One record in the log file. Frames are fixed size, so a torn write can only leave a
/// partial (or garbage) frame at the very end of the file.
struct Frame {
  static constexpr std::uint32_t kMagic = 0x52414E53;  // "SNAR" in the file
  std::uint32_t magic = kMagic;
  std::uint32_t size = sizeof(Record);  // a format check: a frame of another layout fails
  Record record;
};
static_assert(sizeof(Frame) == 56 && std::has_unique_object_representations_v<Frame>);

/// The writer process's messages to its parent, 16 bytes each: a write of at most
/// PIPE_BUF bytes into a pipe is atomic, so a frame is never split or interleaved.
struct AckFrame {
  enum Kind : std::uint32_t {
    kDurable = 1,    // `value` more records (in the order received) are on disk and fsynced
    kRecovered = 2,  // after a restart: the log holds `producer`'s records 1..value
    kTruncated = 3,  // after a restart: `value` bytes of a torn tail were cut off
    kReady = 4,      // recovery done, `value` valid frames found; records may flow now
  };
  std::uint32_t kind = 0;
  std::uint32_t producer = 0;
  std::uint64_t value = 0;
};
static_assert(sizeof(AckFrame) == 16);

// ---------------------------------------------------------------------------------------
// Checksum and payload.

/// CRC-32C (Castagnoli), bytewise with a table built at compile time. Slow next to the
/// SSE4.2 instruction, but portable and plenty for an example.
inline std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) {
  static constexpr auto kTable = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

inline std::uint32_t record_crc(Record r) {
  r.crc = 0;
  return crc32c(&r, sizeof r);
}

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Record `seq` of `producer`. The payload is a function of the two, so that the final
/// check can recompute every byte it expects to find in the log.
inline Record make_record(std::uint32_t producer, std::uint64_t seq) {
  Record r;
  r.producer = producer;
  r.seq = seq;
  for (std::size_t i = 0; i < r.payload.size(); ++i) {
    r.payload[i] = splitmix64((std::uint64_t{producer} << 48) ^ (seq << 2) ^ i);
  }
  r.crc = record_crc(r);
  return r;
}

inline bool frame_valid(const Frame& f) {
  return f.magic == Frame::kMagic && f.size == sizeof(Record) && f.record.crc == record_crc(f.record);
}

// ---------------------------------------------------------------------------------------
// I/O helpers.

/// Writes all `n` bytes, retrying after signals and short writes. False on error (errno).
inline bool write_full(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// Reads exactly `n` bytes. Returns n, or fewer at end of file, or -1 on error.
inline ssize_t read_full(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

/// Reads the log from the start and hands each complete frame, with its offset, to
/// `fn(const Frame&, off_t) -> bool`; stops early when fn returns false.
/// Returns false on a read error. Bytes after the last complete frame are not handed
/// over: the caller compares its offsets with the file size to find a torn tail.
template <class Fn>
bool scan_frames(int fd, Fn&& fn) {
  std::vector<Frame> chunk(16384);  // 896 KiB per read
  off_t offset = 0;
  for (;;) {
    const ssize_t got = ::pread(fd, chunk.data(), chunk.size() * sizeof(Frame), offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    const std::size_t frames = static_cast<std::size_t>(got) / sizeof(Frame);
    for (std::size_t i = 0; i < frames; ++i) {
      if (!fn(chunk[i], offset)) return true;
      offset += static_cast<off_t>(sizeof(Frame));
    }
    if (frames < chunk.size()) return true;  // end of file (maybe with a partial frame)
  }
}

}  // namespace accumulator
