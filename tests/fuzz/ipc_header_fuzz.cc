// Fuzzes the attach-time check of sn::ipc (sn::ipc::detail::validate_header): the header
// an attaching process copies out of a segment that another process wrote.
//
// Input: a mode byte, a 64-byte header, the file's size (u64), the attaching role (u32,
// any value), and the geometry the attacher expects (message bytes u32, alignment u32,
// flags u32, type tag u64). Mode bit 0: expect the header's own message shape and tag
// (so that inputs reach the later checks); bit 1: the file size is the header's segment
// size plus a small signed delta from the size field; bit 2: also build a header with
// plan() and make_header() from the next bytes and check that it round-trips.
//
// validate_header must never crash. When it accepts, the geometry it returns must be
// self-consistent and inside the file: a power-of-two capacity in range, slots that hold
// the prefix and the message, every slot (the last one's end) within the file, and the
// shape the attacher expected. When it refuses, the code must be InvalidArgument,
// FailedPrecondition or DataLoss and *out must be untouched.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "fuzz_support.h"
#include "sn/ipc/detail/layout.h"

namespace {

using sn::ipc::detail::Control;
using sn::ipc::detail::Geometry;
using sn::ipc::detail::Header;
using sn::ipc::detail::Role;

constexpr std::uint64_t kSentinel = 0x5e5e5e5e5e5e5e5eull;

Geometry sentinel_geometry() {
  Geometry g;
  g.capacity = kSentinel;
  g.slot_bytes = 0x5e5e;
  g.segment_bytes = kSentinel;
  return g;
}

bool same(const Geometry& a, const Geometry& b) {
  return a.capacity == b.capacity && a.slot_bytes == b.slot_bytes && a.message_bytes == b.message_bytes &&
         a.message_align == b.message_align && a.flags == b.flags && a.type_tag == b.type_tag &&
         a.segment_bytes == b.segment_bytes;
}

void check_accepted(const Header& h, std::uint64_t file_bytes, const Geometry& expected, Role attacher,
                    const Geometry& g) {
  namespace d = sn::ipc::detail;
  SN_FUZZ_CHECK(h.magic == d::kMagic && h.abi_version == d::kAbiVersion, "accepted a foreign header");
  SN_FUZZ_CHECK(h.creator_role == static_cast<std::uint32_t>(d::other(attacher)), "accepted the attacher's own role");
  SN_FUZZ_CHECK(g.capacity >= 1 && g.capacity <= d::kMaxCapacity && std::has_single_bit(g.capacity),
                "capacity " + std::to_string(g.capacity));
  SN_FUZZ_CHECK(g.message_bytes >= 1 && g.message_bytes <= d::kMaxMessageBytes, "message bytes");
  SN_FUZZ_CHECK(g.message_align >= 1 && g.message_align <= d::kMaxAlign && std::has_single_bit(g.message_align),
                "alignment");
  SN_FUZZ_CHECK(g.slot_bytes >= d::kSlotPrefix + g.message_bytes && g.slot_bytes % 8 == 0,
                "slot of " + std::to_string(g.slot_bytes) + " for " + std::to_string(g.message_bytes));
  SN_FUZZ_EQ(g.segment_bytes, sizeof(Control) + g.capacity * g.slot_bytes, "segment size");
  const std::uint64_t last_slot_end = sizeof(Control) + (g.capacity - 1) * g.slot_bytes + g.slot_bytes;
  SN_FUZZ_CHECK(last_slot_end <= file_bytes && g.segment_bytes <= file_bytes,
                "a slot past the file: " + std::to_string(last_slot_end) + " > " + std::to_string(file_bytes));
  SN_FUZZ_EQ(g.message_bytes, expected.message_bytes, "message bytes as expected");
  SN_FUZZ_EQ(g.message_align, expected.message_align, "alignment as expected");
  SN_FUZZ_EQ(g.flags & d::kFlagBytes, expected.flags & d::kFlagBytes, "kind as expected");
  SN_FUZZ_EQ(g.type_tag, expected.type_tag, "type tag as expected");
  SN_FUZZ_EQ(g.capacity, h.capacity, "the header's capacity");
  SN_FUZZ_EQ(g.slot_bytes, h.slot_bytes, "the header's slot size");
  SN_FUZZ_EQ(g.segment_bytes, h.segment_bytes, "the header's segment size");
}

/// Validates and checks whatever the answer is; returns whether it accepted.
bool validate(const Header& h, std::uint64_t file_bytes, const Geometry& expected, Role attacher) {
  Geometry out = sentinel_geometry();
  const absl::Status s = sn::ipc::detail::validate_header(h, file_bytes, expected, attacher, &out);
  if (s.ok()) {
    check_accepted(h, file_bytes, expected, attacher, out);
    return true;
  }
  SN_FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kFailedPrecondition ||
                    s.code() == absl::StatusCode::kDataLoss,
                "unexpected code: " + s.ToString());
  SN_FUZZ_CHECK(!s.message().empty(), "a refusal without a message");
  SN_FUZZ_CHECK(same(out, sentinel_geometry()), "a refusal wrote *out");
  return false;
}

/// A header made by plan() and make_header() is accepted by the other role, with the
/// same geometry, and refused for a file one byte short or another message size.
void round_trip(sn::fuzz::Bytes& in) {
  namespace d = sn::ipc::detail;
  const std::uint64_t capacity = in.u64() % (d::kMaxCapacity + 2);
  const std::uint64_t message_bytes = in.u32() % (d::kMaxMessageBytes + 2);
  const std::uint64_t align = std::uint64_t{1} << (in.u8() % 8);
  const std::uint32_t flags = in.u8() & d::kFlagBytes;
  const std::uint64_t tag = in.u64();
  const Role creator = in.flag() ? Role::sender : Role::receiver;
  const absl::StatusOr<Geometry> g = d::plan(capacity, message_bytes, align, flags, tag);
  if (!g.ok()) {
    SN_FUZZ_EQ(g.status().code(), absl::StatusCode::kInvalidArgument, "plan's refusal");
    return;
  }
  const Header h = d::make_header(*g, creator);
  Geometry out;
  SN_FUZZ_CHECK(d::validate_header(h, g->segment_bytes, *g, d::other(creator), &out).ok(), "a made header refused");
  SN_FUZZ_CHECK(same(out, *g), "the round trip changed the geometry");
  SN_FUZZ_CHECK(!validate(h, g->segment_bytes - 1, *g, d::other(creator)), "accepted a file one byte short");
  SN_FUZZ_CHECK(!validate(h, g->segment_bytes, *g, creator), "accepted the creator's own role");
  Geometry other = *g;
  other.message_bytes += 1;
  SN_FUZZ_CHECK(!validate(h, g->segment_bytes, other, d::other(creator)), "accepted another message size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sn::fuzz::Bytes in(data, size);
  const std::uint8_t mode = in.u8();
  alignas(Header) unsigned char raw[sizeof(Header)];
  for (unsigned char& b : raw) b = in.u8();
  Header h;
  std::memcpy(&h, raw, sizeof h);
  std::uint64_t file_bytes = in.u64();
  if ((mode & 2) != 0) {
    const std::int64_t delta = static_cast<std::int64_t>(file_bytes % 512) - 256;
    file_bytes = h.segment_bytes + static_cast<std::uint64_t>(delta);  // wraps near 0 and 2^64: fine
  }
  const Role attacher = static_cast<Role>(in.u32() % 4);  // 0 and 3 are no role at all
  Geometry expected;
  expected.message_bytes = in.u32();
  expected.message_align = in.u32();
  expected.flags = in.u32();
  expected.type_tag = in.u64();
  if ((mode & 1) != 0) {
    expected.message_bytes = h.message_bytes;
    expected.message_align = h.message_align;
    expected.flags = h.flags;
    expected.type_tag = h.type_tag;
  }
  (void)validate(h, file_bytes, expected, attacher);
  if ((mode & 4) != 0) round_trip(in);
  return 0;
}
