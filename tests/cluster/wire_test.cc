// The cluster's wire codec: CRC32C against its check values, the byte copy and the ADL
// hooks, the size limit, and a decoder that rejects every damaged frame with its reason.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "sn/cluster/detail/crc32c.h"
#include "sn/cluster/serialize.h"
#include "sn/cluster/wire.h"

namespace wire_test {

/// A message with the hooks: a length-prefixed string and a number.
struct Order {
  std::string symbol;
  std::int64_t quantity = 0;
  friend bool operator==(const Order&, const Order&) = default;
};
void sn_serialize(sn::WireWriter& out, const Order& o) {
  out.write(static_cast<std::uint32_t>(o.symbol.size()));
  out.write_bytes(o.symbol.data(), o.symbol.size());
  out.write(o.quantity);
}
std::optional<Order> sn_deserialize(sn::WireReader& in, std::type_identity<Order>) {
  std::uint32_t n = 0;
  if (!in.read(n)) return std::nullopt;
  const auto chars = in.take(n);
  Order o;
  o.symbol.assign(reinterpret_cast<const char*>(chars.data()), chars.size());
  if (!in.read(o.quantity)) return std::nullopt;
  return o;
}

/// Trivially copyable: crosses as its bytes.
struct Tick {
  std::uint64_t id;
  double price;
};

/// Trivially copyable but with the hooks (a pointer must not cross as bytes): hooks win.
struct Handle {
  const int* local;
  std::uint32_t value;
};
void sn_serialize(sn::WireWriter& out, const Handle& h) { out.write(h.value); }
std::optional<Handle> sn_deserialize(sn::WireReader& in, std::type_identity<Handle>) {
  Handle h{nullptr, 0};
  if (!in.read(h.value)) return std::nullopt;
  return h;
}

}  // namespace wire_test

namespace sn::test {
namespace {

using wire_test::Handle;
using wire_test::Order;
using wire_test::Tick;

static_assert(HasWireHooks<Order> && WireMessage<Order>);
static_assert(!HasWireHooks<Tick> && WireMessage<Tick>);
static_assert(HasWireHooks<Handle>);
static_assert(!WireMessage<std::string>);
static_assert(noexcept(std::declval<FrameBuilder&>().append(1, 0, std::declval<const Tick&>())));

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// A frame buffer and a builder over it.
struct Frame {
  explicit Frame(FrameLimits l = {}) : limits(l), buffer(l.max_frame_bytes), builder(buffer, l) {}
  FrameLimits limits;
  std::vector<std::byte> buffer;
  FrameBuilder builder;
};

/// The frame's bytes, as a receiver would get them.
std::vector<std::byte> sealed(Frame& f, std::uint64_t sequence = 0) {
  const auto bytes = f.builder.seal(sequence);
  return {bytes.begin(), bytes.end()};
}

template <class T>
std::vector<T> decode_all(std::span<const std::byte> frame, const FrameLimits& limits = {}) {
  const FrameCheck check = check_frame(frame, limits);
  EXPECT_EQ(check.error, FrameError::none) << to_string(check.error);
  std::vector<T> out;
  RecordCursor cursor(check.info);
  for (RecordView r; cursor.next(r);) {
    auto value = decode_message<T>(r.payload);
    EXPECT_TRUE(value.has_value());
    if (value) out.push_back(*value);
  }
  return out;
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(detail::crc32c_extend(0, bytes_of("123456789")), 0xE3069283u);
  EXPECT_EQ(detail::crc32c_extend_portable(0, bytes_of("123456789")), 0xE3069283u);
  EXPECT_EQ(detail::crc32c_extend(0, {}), 0u);
}

TEST(Crc32c, HardwareAndTableAgreeOnEveryLengthAndSplit) {
  std::vector<std::byte> data(300);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 131 + 7);
  for (std::size_t n = 0; n <= data.size(); n += 7) {
    const auto part = std::span<const std::byte>(data).first(n);
    const std::uint32_t whole = detail::crc32c_extend(0, part);
    EXPECT_EQ(whole, detail::crc32c_extend_portable(0, part)) << n;
    const std::size_t cut = n / 3;
    EXPECT_EQ(whole, detail::crc32c_extend(detail::crc32c_extend(0, part.first(cut)), part.subspan(cut))) << n;
  }
}

TEST(Wire, TriviallyCopyableMessagesRoundTripAsTheirBytes) {
  Frame f;
  for (std::uint64_t i = 0; i < 10; ++i)
    ASSERT_EQ(f.builder.append(i, kRouteByKey, Tick{i, 0.5 * i}), AppendResult::ok);
  EXPECT_EQ(f.builder.count(), 10u);
  EXPECT_EQ(f.builder.size_bytes(), kFrameHeaderBytes + 10 * (kRecordHeaderBytes + sizeof(Tick)));
  const auto frame = sealed(f);
  const auto ticks = decode_all<Tick>(frame);
  ASSERT_EQ(ticks.size(), 10u);
  for (std::uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(ticks[i].id, i);
    EXPECT_EQ(ticks[i].price, 0.5 * i);
  }
}

TEST(Wire, RecordsKeepTheirKeySlotAndTheFrameItsSequence) {
  Frame f;
  ASSERT_EQ(f.builder.append(42, 3, Tick{1, 1}), AppendResult::ok);
  ASSERT_EQ(f.builder.append(~std::uint64_t{0}, kRouteByKey, Tick{2, 2}), AppendResult::ok);
  const auto frame = sealed(f, 77);
  const FrameCheck check = check_frame(frame, f.limits);
  ASSERT_EQ(check.error, FrameError::none);
  EXPECT_EQ(check.info.sequence, 77u);
  EXPECT_EQ(check.info.record_count, 2u);
  RecordCursor cursor(check.info);
  RecordView r;
  ASSERT_TRUE(cursor.next(r));
  EXPECT_EQ(r.key, 42u);
  EXPECT_EQ(r.slot, 3u);
  ASSERT_TRUE(cursor.next(r));
  EXPECT_EQ(r.key, ~std::uint64_t{0});
  EXPECT_EQ(r.slot, kRouteByKey);
  EXPECT_FALSE(cursor.next(r));
}

TEST(Wire, TypesWithHooksRoundTripThroughThem) {
  Frame f;
  const std::vector<Order> orders{{"", 0}, {"ACME", -5}, {std::string(1000, 'x'), 1}};
  for (const Order& o : orders) ASSERT_EQ(f.builder.append(1, kRouteByKey, o), AppendResult::ok);
  EXPECT_EQ(decode_all<Order>(sealed(f)), orders);
}

TEST(Wire, HooksWinOverTheByteCopyOfATriviallyCopyableType) {
  Frame f;
  const int local = 5;
  ASSERT_EQ(f.builder.append(1, kRouteByKey, Handle{&local, 9}), AppendResult::ok);
  EXPECT_EQ(f.builder.size_bytes(), kFrameHeaderBytes + kRecordHeaderBytes + sizeof(std::uint32_t));
  const auto handles = decode_all<Handle>(sealed(f));
  ASSERT_EQ(handles.size(), 1u);
  EXPECT_EQ(handles[0].local, nullptr);
  EXPECT_EQ(handles[0].value, 9u);
}

TEST(Wire, AMessageOverTheLimitIsRefusedAsTooLargeAndLeavesTheFrameAlone) {
  Frame f(FrameLimits{.max_frame_bytes = 4096, .max_message_bytes = 100});
  ASSERT_EQ(f.builder.append(1, kRouteByKey, Order{"a", 1}), AppendResult::ok);
  const std::size_t before = f.builder.size_bytes();
  EXPECT_EQ(f.builder.append(1, kRouteByKey, Order{std::string(200, 'y'), 1}), AppendResult::too_large);
  EXPECT_EQ(f.builder.count(), 1u);
  EXPECT_EQ(f.builder.size_bytes(), before);
  EXPECT_EQ(decode_all<Order>(sealed(f)), (std::vector<Order>{Order{"a", 1}}));
}

TEST(Wire, AFullFrameSaysFrameFullAndTheMessageFitsAfterReset) {
  const FrameLimits limits{.max_frame_bytes = 256, .max_message_bytes = 64};
  Frame f(limits);
  std::size_t appended = 0;
  AppendResult r = AppendResult::ok;
  while ((r = f.builder.append(appended, kRouteByKey, Tick{appended, 0})) == AppendResult::ok) ++appended;
  EXPECT_EQ(r, AppendResult::frame_full);
  EXPECT_EQ(appended, (256 - kFrameHeaderBytes) / (kRecordHeaderBytes + sizeof(Tick)));
  EXPECT_EQ(decode_all<Tick>(sealed(f), limits).size(), appended);
  f.builder.reset();
  EXPECT_TRUE(f.builder.empty());
  EXPECT_EQ(f.builder.append(0, kRouteByKey, Tick{0, 0}), AppendResult::ok);
}

TEST(Wire, LimitsAreValidOnlyWhenTheLargestMessageFitsAnEmptyFrame) {
  EXPECT_TRUE(FrameLimits{}.valid());
  EXPECT_FALSE((FrameLimits{.max_frame_bytes = 100, .max_message_bytes = 100}.valid()));
  EXPECT_TRUE((FrameLimits{.max_frame_bytes = 148, .max_message_bytes = 100}.valid()));
  EXPECT_FALSE((FrameLimits{.max_frame_bytes = 4096, .max_message_bytes = 0}.valid()));
}

TEST(Wire, AnEmptyFrameIsValidAndHasNoRecords) {
  Frame f;
  const auto frame = sealed(f);
  EXPECT_EQ(frame.size(), kFrameHeaderBytes);
  EXPECT_TRUE(decode_all<Tick>(frame).empty());
}

/// A valid two-record frame to damage.
std::vector<std::byte> good_frame() {
  Frame f;
  EXPECT_EQ(f.builder.append(1, kRouteByKey, Tick{1, 1}), AppendResult::ok);
  EXPECT_EQ(f.builder.append(2, kRouteByKey, Tick{2, 2}), AppendResult::ok);
  return sealed(f);
}

FrameError check_of(std::span<const std::byte> frame, FrameLimits limits = {}) {
  return check_frame(frame, limits).error;
}

TEST(WireDecoder, RejectsEveryTruncationOfAValidFrame) {
  const auto frame = good_frame();
  for (std::size_t n = 0; n < frame.size(); ++n) {
    const FrameError e = check_of(std::span(frame).first(n));
    EXPECT_NE(e, FrameError::none) << "prefix of " << n << " bytes";
    EXPECT_EQ(e, n < kFrameHeaderBytes ? FrameError::too_short : FrameError::length_mismatch) << n;
  }
}

TEST(WireDecoder, RejectsEverySingleBitFlipWithAReason) {
  const auto frame = good_frame();
  for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
    auto damaged = frame;
    damaged[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    EXPECT_NE(check_of(damaged), FrameError::none) << "bit " << bit;
  }
}

TEST(WireDecoder, NamesTheHeaderFieldThatIsWrong) {
  auto set_u32 = [](std::vector<std::byte> f, std::size_t at, std::uint32_t v) {
    std::memcpy(f.data() + at, &v, sizeof(v));
    return f;
  };
  const auto frame = good_frame();
  EXPECT_EQ(check_of(set_u32(frame, 0, 0x12345678)), FrameError::bad_magic);
  EXPECT_EQ(check_of(set_u32(frame, 4, 2)), FrameError::bad_version);
  EXPECT_EQ(check_of(set_u32(frame, 4, 1u | (1u << 16))), FrameError::bad_reserved);
  EXPECT_EQ(check_of(set_u32(frame, 28, 1)), FrameError::bad_reserved);
  EXPECT_EQ(check_of(set_u32(frame, 8, 1000)), FrameError::length_mismatch);
  EXPECT_EQ(check_of(set_u32(frame, 24, 0)), FrameError::checksum_mismatch);
  EXPECT_EQ(check_of(frame, FrameLimits{.max_frame_bytes = 64, .max_message_bytes = 16}), FrameError::too_long);
}

/// Re-seals a body whose header fields the test chose (so that the checksum is right and
/// the record checks are what fails).
std::vector<std::byte> with_body(std::span<const std::byte> body, std::uint32_t count) {
  std::vector<std::byte> buffer(FrameLimits{}.max_frame_bytes);
  FrameBuilder b(buffer, FrameLimits{});
  const auto header = b.seal(0);
  auto frame = std::vector<std::byte>(header.begin(), header.end());
  frame.insert(frame.end(), body.begin(), body.end());
  const auto length = static_cast<std::uint32_t>(body.size());
  std::memcpy(frame.data() + 8, &length, 4);
  std::memcpy(frame.data() + 12, &count, 4);
  const std::uint32_t crc = detail::crc32c_extend(detail::crc32c_extend(0, std::span(frame).first(24)), body);
  std::memcpy(frame.data() + 24, &crc, 4);
  return frame;
}

TEST(WireDecoder, ChecksEveryRecordLengthEvenWhenTheChecksumIsRight) {
  const auto frame = good_frame();
  const auto body = std::span(frame).subspan(kFrameHeaderBytes);
  EXPECT_EQ(check_of(with_body(body, 2)), FrameError::none);
  EXPECT_EQ(check_of(with_body(body, 1)), FrameError::count_mismatch);
  EXPECT_EQ(check_of(with_body(body, 3)), FrameError::count_mismatch);
  EXPECT_EQ(check_of(with_body(body.first(body.size() - 1), 2)), FrameError::truncated_record);
  EXPECT_EQ(check_of(with_body(body.first(kRecordHeaderBytes - 1), 1)), FrameError::truncated_record);
  auto huge = std::vector<std::byte>(body.begin(), body.end());
  const std::uint32_t length = 0xFFFFFFF0u;
  std::memcpy(huge.data() + 12, &length, 4);
  EXPECT_EQ(check_of(with_body(huge, 2)), FrameError::record_too_large);
  EXPECT_EQ(check_of(with_body(huge, 2), FrameLimits{.max_frame_bytes = 1u << 20, .max_message_bytes = 0xFFFFFFF0u}),
            FrameError::truncated_record);
}

TEST(WireDecoder, RefusesPayloadsOfTheWrongSizeOrThatHooksCannotRead) {
  const std::array<std::byte, sizeof(Tick) - 1> short_tick{};
  EXPECT_FALSE(decode_message<Tick>(short_tick).has_value());
  const std::array<std::byte, 3> short_order{};
  EXPECT_FALSE(decode_message<Order>(short_order).has_value());
  std::array<std::byte, 32> trailing{};  // an empty symbol, a quantity, then bytes nobody read
  EXPECT_FALSE(decode_message<Order>(trailing).has_value());
  EXPECT_TRUE(decode_message<Order>(std::span(trailing).first(12)).has_value());
}

TEST(WireDecoder, NamesEveryErrorAndResult) {
  for (std::size_t i = 0; i < kFrameErrorCount; ++i) {
    EXPECT_NE(to_string(static_cast<FrameError>(i)), "unknown") << i;
  }
  EXPECT_EQ(to_string(AppendResult::too_large), "too_large");
}

}  // namespace
}  // namespace sn::test
