// The per-destination batcher: frames sealed at size and at the deadline, sequences, the
// bound on buffers and their reuse, the size limit, and exactly-once delivery of records.
#include "sn/cluster/detail/batcher.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
#include "sn/cluster/wire.h"

namespace batcher_test {

using sn::kRouteByKey;
using sn::detail::BatchAppend;
using sn::detail::Batcher;
using sn::detail::BatcherOptions;
using sn::detail::SealedFrame;
using sn::detail::SealReason;

/// Frames of exactly four u64 records (32-byte header, 4 x (16 + 8) bytes).
BatcherOptions four_records_a_frame(std::size_t buffers = 4) {
  BatcherOptions o;
  o.limits.max_frame_bytes = sn::kFrameHeaderBytes + 4 * (sn::kRecordHeaderBytes + sizeof(std::uint64_t));
  o.limits.max_message_bytes = 64;
  o.buffers_per_destination = buffers;
  o.flush_after = absl::Microseconds(50);
  return o;
}

const absl::Time kStart = absl::FromUnixSeconds(1000);

std::vector<SealedFrame> take(Batcher& b) {
  std::vector<SealedFrame> out;
  (void)b.drain([&](const SealedFrame& f) { out.push_back(f); });
  return out;
}

/// Sum of keys and of payloads of the records in `f`, after check_frame accepts it.
void add_records(const SealedFrame& f, const sn::FrameLimits& limits, std::uint64_t& keys, std::uint64_t& values,
                 std::size_t& count) {
  const sn::FrameCheck check = sn::check_frame(f.bytes, limits);
  ASSERT_EQ(check.error, sn::FrameError::none);
  EXPECT_EQ(check.info.sequence, f.sequence);
  sn::RecordCursor cursor(check.info);
  sn::RecordView r;
  while (cursor.next(r)) {
    keys += r.key;
    values += *sn::decode_message<std::uint64_t>(r.payload);
    ++count;
  }
}

TEST(Batcher, SealsAFrameWhenTheNextRecordWouldNotFit) {
  auto b = *Batcher::create(2, four_records_a_frame());
  for (std::uint64_t k = 0; k < 4; ++k) ASSERT_EQ(b->append(1, k, kRouteByKey, k, kStart), BatchAppend::ok);
  EXPECT_TRUE(take(*b).empty());
  ASSERT_EQ(b->append(1, 4, kRouteByKey, std::uint64_t{4}, kStart), BatchAppend::ok);
  const std::vector<SealedFrame> frames = take(*b);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].destination, 1u);
  EXPECT_EQ(frames[0].bytes.size(), b->options().limits.max_frame_bytes);
  EXPECT_EQ(b->sealed(SealReason::size), 1u);
}

TEST(Batcher, SealsAFrameOnceItsOldestRecordHasWaitedFlushAfter) {
  auto b = *Batcher::create(1, four_records_a_frame());
  ASSERT_EQ(b->append(0, 7, kRouteByKey, std::uint64_t{7}, kStart), BatchAppend::ok);
  ASSERT_EQ(b->append(0, 8, kRouteByKey, std::uint64_t{8}, kStart + absl::Microseconds(40)), BatchAppend::ok);
  EXPECT_EQ(b->next_deadline(), kStart + absl::Microseconds(50));
  EXPECT_EQ(b->flush_due(kStart + absl::Microseconds(49)), 0u);
  EXPECT_EQ(b->flush_due(kStart + absl::Microseconds(50)), 1u);
  EXPECT_EQ(b->sealed(SealReason::deadline), 1u);
  EXPECT_EQ(take(*b).size(), 1u);
  EXPECT_EQ(b->next_deadline(), std::nullopt);
  EXPECT_EQ(b->flush_due(kStart + absl::Seconds(1)), 0u) << "an empty frame is never sealed";
}

TEST(Batcher, NumbersTheFramesOfEachDestinationOneByOne) {
  auto b = *Batcher::create(3, four_records_a_frame(64));
  std::array<std::uint64_t, 3> expected{};
  for (std::uint64_t i = 0; i < 200; ++i) {
    const std::size_t dest = (i * 7) % 3;
    ASSERT_EQ(b->append(dest, i, kRouteByKey, i, kStart), BatchAppend::ok);
    if (i % 5 == 0) (void)b->flush_all();
    for (const SealedFrame& f : take(*b)) {
      EXPECT_EQ(f.sequence, expected[f.destination]++);
      f.release();
    }
  }
}

TEST(Batcher, HoldsNoMoreThanItsBuffersAndReusesThemWhenReleased) {
  auto b = *Batcher::create(1, four_records_a_frame(2));
  std::uint64_t k = 0;
  while (b->append(0, k, kRouteByKey, k, kStart) == BatchAppend::ok) ++k;
  EXPECT_EQ(k, 8u) << "two buffers of four records each";
  EXPECT_EQ(b->buffers().approx_in_use(0), 2u);
  const std::vector<SealedFrame> frames = take(*b);
  ASSERT_EQ(frames.size(), 2u) << "the second frame was sealed when the ninth record did not fit";
  EXPECT_EQ(b->append(0, k, kRouteByKey, k, kStart), BatchAppend::no_buffer);
  frames[0].release();
  EXPECT_EQ(b->buffers().approx_in_use(0), 1u);
  ASSERT_EQ(b->append(0, k, kRouteByKey, k, kStart), BatchAppend::ok);
  ASSERT_EQ(b->flush_all(), 1u);
  const std::vector<SealedFrame> last = take(*b);
  EXPECT_EQ(last[0].bytes.data(), frames[0].bytes.data()) << "the released buffer was reused";
  EXPECT_EQ(last[0].sequence, 2u);
}

TEST(Batcher, RefusesAMessageOverTheLimitAndKeepsTheFrameAsItWas) {
  auto b = *Batcher::create(1, four_records_a_frame());
  ASSERT_EQ(b->append(0, 1, kRouteByKey, std::uint64_t{1}, kStart), BatchAppend::ok);
  const std::array<std::byte, 65> big{};
  EXPECT_EQ(b->append(0, 2, kRouteByKey, big, kStart), BatchAppend::too_large);
  ASSERT_EQ(b->flush_all(), 1u);
  const std::vector<SealedFrame> frames = take(*b);
  std::uint64_t keys = 0, values = 0;
  std::size_t count = 0;
  add_records(frames[0], b->options().limits, keys, values, count);
  EXPECT_EQ(count, 1u);
}

TEST(Batcher, DeliversEveryAppendedRecordExactlyOnce) {
  constexpr std::size_t kDestinations = 3;
  auto b = *Batcher::create(kDestinations, four_records_a_frame(3));
  std::uint64_t sent_keys = 0, sent_values = 0, got_keys = 0, got_values = 0;
  std::size_t got = 0;
  absl::Time now = kStart;
  const auto collect = [&] {
    for (const SealedFrame& f : take(*b)) {
      add_records(f, b->options().limits, got_keys, got_values, got);
      f.release();
    }
  };
  for (std::uint64_t i = 1; i <= 5000; ++i) {
    const std::uint64_t key = i * 0x9E3779B97F4A7C15ull;
    now += absl::Microseconds(i % 13);
    BatchAppend r = b->append(key % kDestinations, key, kRouteByKey, i, now);
    if (r == BatchAppend::no_buffer) {
      collect();
      r = b->append(key % kDestinations, key, kRouteByKey, i, now);
    }
    ASSERT_EQ(r, BatchAppend::ok);
    sent_keys += key;
    sent_values += i;
    if (i % 17 == 0) (void)b->flush_due(now);
  }
  (void)b->flush_all();
  collect();
  EXPECT_EQ(got, 5000u);
  EXPECT_EQ(got_keys, sent_keys);
  EXPECT_EQ(got_values, sent_values);
  for (std::size_t d = 0; d < kDestinations; ++d) EXPECT_EQ(b->buffers().approx_in_use(d), 0u);
}

TEST(Batcher, RefusesOptionsThatCannotWork) {
  BatcherOptions o = four_records_a_frame();
  o.buffers_per_destination = 65;
  EXPECT_FALSE(Batcher::create(1, o).ok());
  o = four_records_a_frame();
  o.limits.max_message_bytes = o.limits.max_frame_bytes;
  EXPECT_FALSE(Batcher::create(1, o).ok());
  o = four_records_a_frame();
  o.flush_after = absl::Microseconds(-1);
  EXPECT_FALSE(Batcher::create(1, o).ok());
  EXPECT_FALSE(Batcher::create(0, four_records_a_frame()).ok());
}

// The hot path: appending a byte-copied message, flushing and releasing never throw.
// (declval: absl::Duration's default constructor is not declared noexcept.)
static_assert(noexcept(std::declval<Batcher&>().append(0, 0, kRouteByKey, std::uint64_t{},
                                                       std::declval<absl::Time>())));
static_assert(noexcept(std::declval<Batcher&>().flush_due(std::declval<absl::Time>())));
static_assert(noexcept(std::declval<const SealedFrame&>().release()));

TEST(Batcher, TakesBackBuffersThatAnotherThreadReleased) {
  constexpr std::uint64_t kRecords = 100000;
  auto b = *Batcher::create(1, four_records_a_frame(2));
  auto [to_sender, sealed] = sn::Channel<SealedFrame>::spsc(2);
  std::uint64_t keys = 0, values = 0;
  std::size_t count = 0;
  std::thread transport([&, rx = std::move(sealed)]() mutable {
    SealedFrame f;
    while (rx.try_recv(f) != sn::RecvResult::closed) {
      if (f.buffers == nullptr) continue;
      add_records(f, b->options().limits, keys, values, count);  // reads the bytes the owner wrote
      f.release();                                               // then gives the buffer back
      f = SealedFrame{};
    }
  });
  const auto hand_over = [&] {
    (void)b->drain([&](const SealedFrame& f) { ASSERT_EQ(to_sender.try_send(f), sn::SendResult::ok); });
  };
  for (std::uint64_t i = 1; i <= kRecords; ++i) {
    while (b->append(0, i, kRouteByKey, i, kStart) != BatchAppend::ok) {
      hand_over();
      std::this_thread::yield();
    }
  }
  (void)b->flush_all();
  hand_over();
  to_sender = {};  // closes the channel; the thread drains what is left
  transport.join();
  EXPECT_EQ(count, kRecords);
  EXPECT_EQ(keys, kRecords * (kRecords + 1) / 2);
  EXPECT_EQ(values, keys);
  EXPECT_EQ(b->buffers().approx_in_use(0), 0u);
}

}  // namespace batcher_test
