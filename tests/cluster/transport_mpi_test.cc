// The transport loop over MpiLink, under mpirun (label mpi): every rank sends keyed
// records to every other rank through batcher, channel and transport, and each receiver's
// checksums match what the senders computed. MPI is initialised here on the main thread,
// which then is the only thread that calls it (as the Cluster's transport thread will be).
//   mpirun -np N cluster_transport_mpi_tests
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <utility>

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
using sn::detail::TransportOptions;

MPI_Comm g_comm = MPI_COMM_NULL;
constexpr int kFrameTag = 7;

std::uint64_t key_of(int source, int destination, std::uint64_t i) {
  return (static_cast<std::uint64_t>(source) << 48) ^ (static_cast<std::uint64_t>(destination) << 32) ^
         (i * 0x9E3779B97F4A7C15ull);
}

TEST(TransportOverMpi, EveryRankSendsKeyedRecordsToEveryOtherAndTheChecksumsMatch) {
  constexpr std::uint64_t kRecords = 20000;  // per ordered pair of ranks
  auto link = *MpiLink::create(g_comm, kFrameTag, 64, 8);
  const int rank = link->rank(), size = link->size();
  BatcherOptions b;
  b.buffers_per_destination = 4;
  auto batcher = *Batcher::create(static_cast<std::size_t>(size), b);
  auto [tx, rx] = sn::Channel<SealedFrame>::mpsc(static_cast<std::size_t>(size) * b.buffers_per_destination);
  TransportOptions t;
  t.max_in_flight_per_destination = 2;
  t.receive_buffers = 8;
  std::uint64_t got = 0, got_keys = 0;
  auto transport = *Transport::create(*link, std::move(rx), t, [&](int source, const sn::RecordView& r) {
    ++got;
    got_keys += r.key;
    EXPECT_EQ(r.key, key_of(source, rank, *sn::decode_message<std::uint64_t>(r.payload)));
  });
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
  const auto sends_done = [&] {
    for (int d = 0; d < size; ++d) {
      if (batcher->buffers().approx_in_use(static_cast<std::size_t>(d)) != 0) return false;
    }
    return true;
  };
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while ((got < kRecords * static_cast<std::uint64_t>(size - 1) || !sends_done()) && absl::Now() < give_up) turn();
  EXPECT_EQ(got, kRecords * static_cast<std::uint64_t>(size - 1));
  EXPECT_EQ(got_keys, expected_keys);
  EXPECT_EQ(transport->counters().rejected_total(), 0u);
  EXPECT_EQ(transport->counters().sequence_gaps, 0u);
  EXPECT_TRUE(sends_done());
  ASSERT_EQ(MPI_Barrier(g_comm), MPI_SUCCESS);
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
