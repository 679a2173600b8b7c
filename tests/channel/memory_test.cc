// How a channel's memory is committed: creation checks the ring against the memory the
// machine has available now and returns ResourceExhausted beyond it, instead of letting
// the kernel kill the process later; pages are committed as slots are first written, so
// an empty channel of any size costs address space, not memory.
#include <unistd.h>
#include <array>
#include <cstdint>
#include <cstdio>

#include "absl/status/status.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "process_memory.h"
#include "sn/channel/channel.h"
#include "sn/channel/detail/ring_memory.h"

namespace sn::test {
namespace {

/// A 56-byte value: with its sequence word (4 bytes, padded to 8) a slot is 64 bytes.
using Line = std::array<std::uint64_t, 7>;

template <class KindT>
class ChannelMemory : public ChannelKindTest<KindT> {};
TYPED_TEST_SUITE(ChannelMemory, AllKinds);

/// The ring bytes of a channel of `capacity` Line slots (slots plus the padding at both ends).
constexpr std::uint64_t ring_bytes(std::uint64_t capacity) { return capacity * 64 + 2 * kFalseSharingRange; }

/// The largest power-of-two capacity of Line slots whose ring fits in what is available.
std::uint64_t largest_capacity_available() {
  const std::uint64_t available = detail::available_memory_bytes();
  std::uint64_t capacity = 1;
  while (capacity * 2 <= detail::kMaxCapacity && ring_bytes(capacity * 2) <= available &&
         capacity * 2 * 64 <= detail::kMaxRingBytes) {
    capacity *= 2;
  }
  return capacity;
}

TYPED_TEST(ChannelMemory, TheLargestChannelThatFitsIsCreatedWithoutCommittingItsMemory) {
  const std::uint64_t capacity = largest_capacity_available();
  ASSERT_GE(capacity, std::uint64_t{1} << 20) << "this machine has less than 64 MiB available";
  const std::uint64_t resident_before = resident_bytes();
  auto ends = Channel<Line>::template make<TestFixture::K>(capacity);
  ASSERT_TRUE(ends.ok()) << ends.status() << " (" << ring_bytes(capacity) << " bytes of "
                         << detail::available_memory_bytes() << " available)";
  EXPECT_EQ(ends.sender().capacity(), capacity);
  EXPECT_LT(resident_bytes(), resident_before + (std::uint64_t{64} << 20))
      << "an empty " << ring_bytes(capacity) << "-byte ring committed its memory";
  for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(ends.sender().try_send(Line{i, 1, 2, 3, 4, 5, i}), SendResult::ok);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    Line out{};
    ASSERT_EQ(ends.receiver().try_recv(out), RecvResult::ok);
    ASSERT_EQ(out[0], i);
    ASSERT_EQ(out[6], i);
  }
}

TYPED_TEST(ChannelMemory, AChannelLargerThanWhatIsAvailableIsResourceExhausted) {
  const std::uint64_t capacity = largest_capacity_available() * 2;
  if (capacity > detail::kMaxCapacity || capacity * 64 > detail::kMaxRingBytes) {
    GTEST_SKIP() << "this machine has more memory available than the largest ring the channel accepts";
  }
  auto ends = Channel<Line>::template make<TestFixture::K>(capacity);
  ASSERT_FALSE(ends.ok());
  EXPECT_EQ(ends.status().code(), absl::StatusCode::kResourceExhausted) << ends.status();
  EXPECT_FALSE(ends.sender().valid());
  EXPECT_FALSE(ends.receiver().valid());
}

TYPED_TEST(ChannelMemory, ARingAtTheDocumentedLimitIsCreatedOrRefusedButNeverKillsTheProcess) {
  using Big = std::array<char, (1 << 20) - 4>;  // with its 4-byte sequence word, a 1 MiB slot
  auto ends = Channel<Big>::template make<TestFixture::K>(std::size_t{1} << 16);  // 64 GiB
  if (detail::available_memory_bytes() < detail::kMaxRingBytes) {
    ASSERT_FALSE(ends.ok());
    EXPECT_EQ(ends.status().code(), absl::StatusCode::kResourceExhausted) << ends.status();
  } else {
    EXPECT_TRUE(ends.ok()) << ends.status();
  }
}

TEST(RingMemory, AvailableMemoryIsReadFromTheSystemAndIsNeverZero) {
  const std::uint64_t available = detail::available_memory_bytes();
  EXPECT_GT(available, 0u);
  EXPECT_LE(available, static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                           static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

}  // namespace
}  // namespace sn::test
