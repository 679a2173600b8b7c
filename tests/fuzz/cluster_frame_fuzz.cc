// Fuzzes the cluster's frame decoder (sn/cluster/wire.h).
//
// Input: a mode byte, then
//   mode even: the rest is a received frame, as is. check_frame must return without
//     reading outside it; when it accepts, the cursor yields exactly record_count records,
//     each inside the body, and decoding them (as a byte copy and through hooks) never
//     fails unsafely.
//   mode odd: a frame built from the input (records: key u64, slot u8, string of up to
//     48 bytes), then one damage: 0 none, 1 truncate at a position, 2 overwrite one byte,
//     3 flip one bit. Undamaged (or overwritten with the same byte), it must decode to
//     exactly the records built; damaged, it must be rejected (CRC32C catches every burst
//     of up to 32 bits, and a truncation breaks the length).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_support.h"
#include "sn/cluster/serialize.h"
#include "sn/cluster/wire.h"

namespace fuzz_wire {

/// A message with hooks: a length-prefixed string.
struct Text {
  std::string s;
};
void sn_serialize(sn::WireWriter& out, const Text& t) {
  out.write(static_cast<std::uint16_t>(t.s.size()));
  out.write_bytes(t.s.data(), t.s.size());
}
std::optional<Text> sn_deserialize(sn::WireReader& in, std::type_identity<Text>) {
  std::uint16_t n = 0;
  if (!in.read(n)) return std::nullopt;
  const auto bytes = in.take(n);
  if (!in.ok()) return std::nullopt;
  return Text{std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())};
}

}  // namespace fuzz_wire

namespace {

constexpr sn::FrameLimits kLimits{.max_frame_bytes = 2048, .max_message_bytes = 256};

struct Record {
  std::uint64_t key;
  std::uint32_t slot;
  std::string text;
};

void read_raw(std::span<const std::byte> frame) {
  const sn::FrameCheck check = sn::check_frame(frame, kLimits);
  if (check.error != sn::FrameError::none) return;
  sn::RecordCursor cursor(check.info);
  std::uint32_t n = 0;
  for (sn::RecordView r; cursor.next(r); ++n) {
    SN_FUZZ_CHECK(r.payload.data() >= check.info.body.data() &&
                      r.payload.data() + r.payload.size() <= check.info.body.data() + check.info.body.size(),
                  "payload outside the body");
    SN_FUZZ_CHECK(r.payload.size() <= kLimits.max_message_bytes, "payload over the limit");
    (void)sn::decode_message<std::uint64_t>(r.payload);
    (void)sn::decode_message<fuzz_wire::Text>(r.payload);
  }
  SN_FUZZ_EQ(n, check.info.record_count, "records walked");
}

void build_and_damage(sn::fuzz::Bytes& in) {
  std::vector<std::byte> buffer(kLimits.max_frame_bytes);
  sn::FrameBuilder builder(buffer, kLimits);
  std::vector<Record> model;
  const std::size_t records = in.u8() % 24;
  for (std::size_t i = 0; i < records; ++i) {
    Record r{in.u64(), in.u8(), in.str(48)};
    const sn::AppendResult result = builder.append(r.key, r.slot, fuzz_wire::Text{r.text});
    SN_FUZZ_CHECK(result == sn::AppendResult::ok || result == sn::AppendResult::frame_full, "append");
    if (result == sn::AppendResult::ok) model.push_back(std::move(r));
  }
  const std::uint64_t sequence = in.u64();
  const auto sealed = builder.seal(sequence);
  std::vector<std::byte> frame(sealed.begin(), sealed.end());
  const std::vector<std::byte> original = frame;
  const std::uint8_t damage = in.u8() % 4;
  const std::size_t at = in.u16() % frame.size();
  if (damage == 1) frame.resize(at);
  if (damage == 2) frame[at] = static_cast<std::byte>(in.u8());
  if (damage == 3) frame[at] ^= static_cast<std::byte>(1u << (in.u8() % 8));

  const sn::FrameCheck check = sn::check_frame(frame, kLimits);
  if (frame != original) {
    SN_FUZZ_CHECK(check.error != sn::FrameError::none, "a damaged frame was accepted");
    return;
  }
  SN_FUZZ_EQ(check.error, sn::FrameError::none, "an intact frame");
  SN_FUZZ_EQ(check.info.sequence, sequence, "sequence");
  SN_FUZZ_EQ(check.info.record_count, model.size(), "record count");
  sn::RecordCursor cursor(check.info);
  for (const Record& want : model) {
    sn::RecordView got;
    SN_FUZZ_CHECK(cursor.next(got), "a record is missing");
    SN_FUZZ_EQ(got.key, want.key, "key");
    SN_FUZZ_EQ(got.slot, want.slot, "slot");
    const auto text = sn::decode_message<fuzz_wire::Text>(got.payload);
    SN_FUZZ_CHECK(text.has_value() && text->s == want.text, "payload");
  }
  sn::RecordView extra;
  SN_FUZZ_CHECK(!cursor.next(extra), "a record too many");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sn::fuzz::Bytes in(data, size);
  if ((in.u8() & 1u) == 0) {
    read_raw(std::as_bytes(std::span(data, size)).subspan(std::min<std::size_t>(size, 1)));
  } else {
    build_and_damage(in);
  }
  return 0;
}
