// Exactly-once, per-producer FIFO delivery under contention, for every kind and
// every way of moving values: SPSC 1x1, MPSC Px1 (P = 2..4), MPMC PxC (2x2, 3x3).
#include <cstdint>
#include <vector>

#include "channel_test_support.h"
#include "delivery_harness.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

struct Shape {
  int producers, consumers;
};

template <ChannelKind K>
std::vector<Shape> shapes() {
  switch (K) {
    case ChannelKind::spsc: return {{1, 1}};
    case ChannelKind::mpsc: return {{2, 1}, {3, 1}, {4, 1}};
    case ChannelKind::mpmc: return {{2, 2}, {3, 3}};
  }
  return {};
}

/// About the same number of messages per run whatever the shape.
constexpr std::uint64_t kMessagesPerRun = scaled(120000);

template <class KindT>
class ChannelDelivery : public ::testing::Test {
 protected:
  static constexpr ChannelKind K = KindT::value;

  static void run_every_shape(Transfer transfer, std::size_t capacity, ChannelOptions options = {}) {
    const std::vector<Shape> all = shapes<K>();
    for (const Shape& shape : all) {
      DeliveryPlan plan;
      plan.time_box = stress_time_box() / static_cast<std::int64_t>(all.size());
      plan.producers = shape.producers;
      plan.consumers = shape.consumers;
      plan.per_producer = kMessagesPerRun / static_cast<std::uint64_t>(shape.producers);
      plan.capacity = capacity;
      plan.transfer = transfer;
      plan.options = options;
      const DeliveryOutcome outcome = run_delivery<K>(plan);
      expect_exactly_once_in_order(plan, outcome);
    }
  }
};
TYPED_TEST_SUITE(ChannelDelivery, AllKinds);

TYPED_TEST(ChannelDelivery, EveryValueArrivesExactlyOnceInProducerOrderThroughSendAndRecv) {
  TestFixture::run_every_shape(Transfer::send_and_recv, 8);
}

TYPED_TEST(ChannelDelivery, EveryValueArrivesExactlyOnceInProducerOrderThroughBatches) {
  TestFixture::run_every_shape(Transfer::batch, 32);
}

TYPED_TEST(ChannelDelivery, EveryValueArrivesExactlyOnceInProducerOrderThroughTrySendAndConsume) {
  TestFixture::run_every_shape(Transfer::try_send_and_consume, 16);
}

TYPED_TEST(ChannelDelivery, EveryValueArrivesExactlyOnceThroughATwoSlotChannel) {
  // The smallest ring that is not a special case: every send and receive crosses a
  // full or an empty edge, and the indices lap constantly.
  TestFixture::run_every_shape(Transfer::send_and_recv, 2);
}

TYPED_TEST(ChannelDelivery, EveryValueArrivesExactlyOnceThroughTheSmallestChannel) {
  // Probe first: a one-slot channel that accepts two values corrupts itself in a way
  // that can spin a receiver forever, which would turn this test into a hang.
  auto probe = open<int, TestFixture::K>(1);
  for (std::size_t i = 0; i < probe.tx.capacity(); ++i) ASSERT_EQ(probe.tx.try_send(1), SendResult::ok);
  ASSERT_EQ(probe.tx.try_send(2), SendResult::full)
      << "a full channel accepted one more value; see ChannelEdges.TheSmallestChannelHoldsExactlyItsCapacity";
  TestFixture::run_every_shape(Transfer::send_and_recv, 1);
}

}  // namespace
}  // namespace sn::test
