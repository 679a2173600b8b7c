// Internal: the shared segment of an inter-process channel, as both processes see it,
// and the checks an attaching process makes before it trusts any of it.
//
//   line 0    Header      written by the creator before the segment is shared; never after
//   line 1    sender's    PositionLine   written by the sender only: messages published
//   line 2    receiver's  PositionLine   written by the receiver only: messages taken
//   line 3    sender's    StateLine      written by the sender only (rarely): closed, pid, ...
//   line 4    receiver's  StateLine      written by the receiver only (rarely)
//   line 5    sender's    WaitLine       where the sender sleeps when the ring is full
//   line 6    receiver's  WaitLine       where the receiver sleeps when the ring is empty
//   line 7..  slots       capacity x slot_bytes: [seq u32][length u32][payload]
//
// Nothing read from the segment is trusted: the header is copied out once and validated
// (validate_header, a pure function the fuzz target drives), and every index or length
// read later is copied into a local and checked before it is used.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sn/cache_line.h"

namespace sn::ipc::detail {

inline constexpr std::uint64_t kMagic = 0x0031'4350'495f'4e53ull;  // "SN_IPC1\0" little-endian
inline constexpr std::uint32_t kAbiVersion = 1;
inline constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 24;      // slots
inline constexpr std::uint32_t kMaxMessageBytes = std::uint32_t{1} << 20;  // per message
inline constexpr std::uint32_t kMaxAlign = 64;
inline constexpr std::size_t kSlotPrefix = 8;  // seq + length, before the payload

/// Which end of the channel a process holds.
enum class Role : std::uint32_t { sender = 1, receiver = 2 };
/// Header flags.
inline constexpr std::uint32_t kFlagBytes = 1;  ///< byte messages: each slot carries its length

/// Line 0. Plain data: the attacher copies it out with memcpy and checks the copy.
struct alignas(kCacheLineSize) Header {
  std::uint64_t magic;
  std::uint32_t abi_version;
  std::uint32_t header_bytes;   // offset of slot 0
  std::uint64_t segment_bytes;  // the whole mapping
  std::uint64_t capacity;       // slots, a power of two
  std::uint32_t slot_bytes;
  std::uint32_t message_bytes;  // sizeof(T), or the byte messages' maximum
  std::uint32_t message_align;
  std::uint32_t flags;
  std::uint64_t type_tag;      // the creator's Options::type_tag
  std::uint32_t creator_role;  // Role
  std::uint32_t reserved;
};

/// How far one end has come: the sender's published count, the receiver's taken count.
struct alignas(kCacheLineSize) PositionLine {
  std::atomic<std::uint64_t> position;
};

/// One end's rarely changing state, apart from its position so that reading it on
/// every call stays a cache hit.
struct alignas(kCacheLineSize) StateLine {
  std::atomic<std::uint32_t> closed;         // 1 once this end closed (release)
  std::atomic<std::uint32_t> pid;            // this end's process
  std::atomic<std::uint32_t> attached;       // 1 while a process holds this end
  std::atomic<std::uint32_t> light_barrier;  // 1: registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED
  std::atomic<std::uint64_t> discarded;      // receiver: messages it left unreceived at close
};

/// Where one end sleeps: it sets `parked`, the other end bumps `wake` and makes the
/// futex call (a shared futex: the segment is a shared mapping).
struct alignas(kCacheLineSize) WaitLine {
  std::atomic<std::uint32_t> parked;  // written by the sleeper
  std::atomic<std::uint32_t> wake;    // the futex word, bumped by the waker
};

struct Control {
  Header header;
  PositionLine position[2];  // [0] sender, [1] receiver
  StateLine state[2];
  WaitLine wait[2];
};
static_assert(sizeof(Header) == kCacheLineSize && sizeof(PositionLine) == kCacheLineSize);
static_assert(sizeof(StateLine) == kCacheLineSize && sizeof(WaitLine) == kCacheLineSize);
static_assert(sizeof(Control) == 7 * kCacheLineSize, "the slots start at line 7");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free to work across processes");

inline constexpr std::size_t index_of(Role r) noexcept { return r == Role::sender ? 0 : 1; }
inline constexpr Role other(Role r) noexcept { return r == Role::sender ? Role::receiver : Role::sender; }

/// The shape of a channel: what the creator asks for and the attacher expects.
struct Geometry {
  std::uint64_t capacity = 0;
  std::uint32_t slot_bytes = 0;
  std::uint32_t message_bytes = 0;
  std::uint32_t message_align = 0;
  std::uint32_t flags = 0;
  std::uint64_t type_tag = 0;
  std::uint64_t segment_bytes = 0;
};

/// The geometry for `capacity` messages of `message_bytes` (rounded up to a power of two;
/// slots rounded so that none of up to 64 bytes straddles two lines). InvalidArgument
/// for a zero or too large capacity or size, or an alignment that is not a power of two
/// up to 64.
absl::StatusOr<Geometry> plan(std::uint64_t capacity, std::uint64_t message_bytes, std::uint64_t message_align,
                              std::uint32_t flags, std::uint64_t type_tag);

/// Checks a copy of a shared header against what the attaching process expects, and
/// against the size of the file it mapped: the magic, the ABI version, the shape (the
/// same message size, alignment, kind and type tag; the capacity is the creator's
/// choice but must be a power of two in range), that every slot lies inside the file,
/// and that the creator took the other end. FailedPrecondition for a wrong version,
/// InvalidArgument for a mismatch, DataLoss for a header no creator would write.
/// On success, *out holds the channel's geometry.
absl::Status validate_header(const Header& h, std::uint64_t file_bytes, const Geometry& expected, Role attacher,
                             Geometry* out);

/// The header a creator writes for `g`.
Header make_header(const Geometry& g, Role creator) noexcept;

}  // namespace sn::ipc::detail
