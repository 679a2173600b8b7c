// The transport loop over MpiLink, under mpirun (label mpi): every rank sends keyed
// records to every other rank through batcher, channel and transport, with two credits per
// destination and a sink that sometimes refuses, and each receiver gets every record once,
// in order per source, with the checksums the senders computed. MPI is initialised here on the main thread,
// which then is the only thread that calls it (as the Cluster's transport thread will be).
//   mpirun -np N cluster_transport_mpi_tests
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "cluster/mpi_link.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"
#include "sn/cluster/detail/batcher.h"
#include "sn/cluster/detail/transport.h"

namespace transport_mpi_test {

using sn::detail::BatchAppend;
using sn::detail::Batcher;
using sn::detail::BatcherOptions;
using sn::detail::MpiLink;
using sn::detail::SealedFrame;
using sn::detail::Transport;
using sn::detail::TransportCounters;
using sn::detail::TransportOptions;

MPI_Comm g_comm = MPI_COMM_NULL;
constexpr int kFrameTag = 7;

std::uint64_t key_of(int source, int destination, std::uint64_t i) {
  return (static_cast<std::uint64_t>(source) << 48) ^ (static_cast<std::uint64_t>(destination) << 32) ^
         (i * 0x9E3779B97F4A7C15ull);
}

/// Receives on one rank: counts, sums, and checks that each source's values come in
/// order; refuses one offer in five (as a full inbox would), so frames stay pending.
struct Receiver {
  explicit Receiver(int rank_, int size) : rank(rank_), next(static_cast<std::size_t>(size), 0) {}
  bool take(int source, const sn::RecordView& r) {
    if (++offers % 5 == 0) {
      ++refusals;
      return false;
    }
    const std::uint64_t i = *sn::decode_message<std::uint64_t>(r.payload);
    EXPECT_EQ(r.key, key_of(source, rank, i));
    std::uint64_t& expected = next[static_cast<std::size_t>(source)];
    if (i != expected) ++out_of_order;
    expected = i + 1;
    ++got;
    got_keys += r.key;
    return true;
  }
  int rank;
  std::vector<std::uint64_t> next;  // per source: the value expected next
  std::uint64_t offers = 0, refusals = 0, got = 0, got_keys = 0, out_of_order = 0;
};

/// What every rank's transport and receiver must have counted once all is done.
void expect_counters(const TransportCounters& c, const Receiver& receiver, int size, std::uint64_t records) {
  EXPECT_EQ(receiver.got, records * static_cast<std::uint64_t>(size - 1));
  EXPECT_EQ(receiver.out_of_order, 0u);
  EXPECT_GT(receiver.refusals, 0u);
  EXPECT_EQ(c.delivery_stalls, receiver.refusals);
  EXPECT_EQ(c.rejected_total(), 0u);
  EXPECT_EQ(c.sequence_gaps, 0u);
  EXPECT_EQ(c.protocol_errors, 0u);
  EXPECT_GT(c.controls_received, 0u);
  for (int d = 0; d < size; ++d) {
    if (d == receiver.rank) continue;
    EXPECT_EQ(c.records_sent_to[static_cast<std::size_t>(d)], records);
    EXPECT_EQ(c.records_received_from[static_cast<std::size_t>(d)], records);
  }
  std::printf(
      "rank %d: frames posted %llu arrived %llu, credit stalls %llu, delivery stalls %llu, controls %llu/%llu\n",
      receiver.rank, static_cast<unsigned long long>(c.frames_posted),
      static_cast<unsigned long long>(c.frames_arrived), static_cast<unsigned long long>(c.credit_stalls),
      static_cast<unsigned long long>(c.delivery_stalls), static_cast<unsigned long long>(c.controls_sent),
      static_cast<unsigned long long>(c.controls_received));
  // Frames posted and arrived agree over the ranks (what a termination wave compares).
  const std::uint64_t mine[2] = {c.frames_posted, c.frames_arrived};
  std::uint64_t total[2] = {0, 0};
  ASSERT_EQ(MPI_Allreduce(mine, total, 2, MPI_UINT64_T, MPI_SUM, g_comm), MPI_SUCCESS);
  EXPECT_EQ(total[0], total[1]);
}

/// Keeps running `turn` until every rank is here, so that no rank waits on a credit that
/// a rank blocked in a barrier would never send.
template <class Turn>
void poll_until_every_rank_is_here(Turn&& turn) {
  MPI_Request barrier = MPI_REQUEST_NULL;
  ASSERT_EQ(MPI_Ibarrier(g_comm, &barrier), MPI_SUCCESS);
  for (int here = 0; !here;) {
    turn();
    ASSERT_EQ(MPI_Test(&barrier, &here, MPI_STATUS_IGNORE), MPI_SUCCESS);
  }
}

TEST(TransportOverMpi, EveryRankSendsKeyedRecordsToEveryOtherOnceAndInOrderWithinTwoCredits) {
  constexpr std::uint64_t kRecords = 20000;  // per ordered pair of ranks
  auto link = *MpiLink::create(g_comm, kFrameTag, 64, 8);
  const int rank = link->rank(), size = link->size();
  BatcherOptions b;
  b.limits.max_frame_bytes = 1024;  // about 40 records a frame: hundreds of frames per pair
  b.limits.max_message_bytes = 64;
  b.buffers_per_destination = 4;
  auto batcher = *Batcher::create(static_cast<std::size_t>(size), b);
  auto [tx, rx] = sn::Channel<SealedFrame>::mpsc(static_cast<std::size_t>(size) * b.buffers_per_destination);
  TransportOptions t;
  t.limits = b.limits;
  t.max_in_flight_per_destination = 2;
  t.receive_buffers = 8;
  t.credit_frames = 2;
  Receiver receiver(rank, size);
  auto transport = *Transport::create(*link, std::move(rx), t,
                                      [&](int source, const sn::RecordView& r) { return receiver.take(source, r); });
  const auto turn = [&] {
    (void)batcher->drain([&](const SealedFrame& f) { ASSERT_EQ(tx.try_send(f), sn::SendResult::ok); });
    ASSERT_TRUE(transport->poll().ok());
  };
  std::uint64_t expected_keys = 0;
  for (std::uint64_t i = 0; i < kRecords; ++i) {
    for (int d = 0; d < size; ++d) {
      if (d == rank) continue;
      expected_keys += key_of(d, rank, i);
      while (batcher->append(static_cast<std::size_t>(d), key_of(rank, d, i), sn::kRouteByKey, i, absl::Now()) !=
             BatchAppend::ok) {
        turn();
      }
    }
    if (i % 64 == 0) (void)batcher->flush_due(absl::Now());
  }
  (void)batcher->flush_all();
  const auto all_done = [&] {
    if (receiver.got < kRecords * static_cast<std::uint64_t>(size - 1) || !transport->quiet()) return false;
    for (int d = 0; d < size; ++d) {
      if (d == rank) continue;
      if (batcher->buffers().approx_in_use(static_cast<std::size_t>(d)) != 0) return false;
      if (transport->credits(d) != t.credit_frames) return false;  // every frame finished at its receiver
    }
    return true;
  };
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (!all_done() && absl::Now() < give_up) turn();
  EXPECT_TRUE(all_done());
  EXPECT_EQ(receiver.got_keys, expected_keys);
  poll_until_every_rank_is_here(turn);  // before any blocking collective
  expect_counters(transport->counters(), receiver, size, kRecords);
  link.reset();  // cancels the receives posted into the transport's buffers, first
}

}  // namespace transport_mpi_test

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return 2;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_dup(MPI_COMM_WORLD, &transport_mpi_test::g_comm);
  MPI_Comm_set_errhandler(transport_mpi_test::g_comm, MPI_ERRORS_RETURN);
  const int result = RUN_ALL_TESTS();
  int all = 0;
  MPI_Allreduce(&result, &all, 1, MPI_INT, MPI_MAX, transport_mpi_test::g_comm);
  MPI_Comm_free(&transport_mpi_test::g_comm);
  MPI_Finalize();
  return all;
}
