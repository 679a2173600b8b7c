// How a pool's capacities multiply into memory: the formula of docs/tuning.md ("Memory")
// gives exactly the bytes the pool's rings reserve, and an idle pool commits little of
// it, since a ring's pages are committed as its slots are first written.
#include <unistd.h>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "gtest/gtest.h"
#include "process_memory.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn {
namespace {

struct Hundred {
  char bytes[100];
};
using MiB = std::array<char, 1 << 20>;

template <class M>
struct Quiet : Worker<int, M> {
  void handle_message(int&, Envelope<M>) {}
};

// ---- the formula, as docs/tuning.md states it (for alignof(M) <= 8)

constexpr std::uint64_t round_up8(std::uint64_t n) { return (n + 7) / 8 * 8; }
/// One ring: its slots, rounded up to a power of two, and 128 bytes of padding at each end.
constexpr std::uint64_t ring(std::uint64_t capacity, std::uint64_t slot) {
  return std::bit_ceil(capacity) * slot + 256;
}

template <class M>
std::uint64_t formula(std::uint64_t slots, const std::vector<std::uint64_t>& queue_capacity, std::uint64_t mesh) {
  const std::uint64_t S = round_up8(sizeof(M)) + 24;        // message, key, source, stamp, sequence word
  const std::uint64_t request = round_up8(sizeof(M)) + 56;  // a call's request parcel
  const std::uint64_t reply = 64;                           // a call's answer by value
  std::uint64_t bytes = slots * slots * ring(mesh, S);
  for (std::uint64_t q : queue_capacity) bytes += ring(q, S) + ring(128, request) + ring(128, reply);
  return bytes;
}

template <class M>
void expect_formula_holds() {
  {
    auto pool = test::create_pool<Quiet<M>>(PoolConfig().with_num_workers(2));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(pool->ring_bytes(), formula<M>(2, {1024, 1024}, 256)) << "defaults, " << sizeof(M) << "-byte messages";
    EXPECT_TRUE(pool->shutdown().ok());
  }
  {
    auto pool = test::create_pool<Quiet<M>>(PoolConfig()
                                                .with_num_workers(2)
                                                .with_max_workers(3)
                                                .with_queue_capacity(100)
                                                .with_mesh_capacity(10)
                                                .with_worker(1, WorkerConfig().with_queue_capacity(5000)),
                                            ConsistentHashPartitioner(2),
                                            [](std::size_t) { return std::make_unique<Quiet<M>>(); });
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(pool->ring_bytes(), formula<M>(3, {100, 5000, 100}, 10))
        << "three slots, one inbox set apart, " << sizeof(M) << "-byte messages";
    EXPECT_TRUE(pool->shutdown().ok());
  }
}

TEST(PoolMemory, TheTuningGuidesFormulaGivesTheBytesThePoolsRingsReserveForEightByteMessages) {
  expect_formula_holds<std::uint64_t>();
}
TEST(PoolMemory, TheTuningGuidesFormulaGivesTheBytesThePoolsRingsReserveForHundredByteMessages) {
  expect_formula_holds<Hundred>();
}
TEST(PoolMemory, TheTuningGuidesFormulaGivesTheBytesThePoolsRingsReserveForOneMebibyteMessages) {
  expect_formula_holds<MiB>();
}

TEST(PoolMemory, AnIdlePoolOfOneMebibyteMessagesReservesGibibytesButCommitsLittle) {
  const std::uint64_t before = test::resident_bytes();
  auto pool = test::create_pool<Quiet<MiB>>(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  EXPECT_GT(pool->ring_bytes(), std::uint64_t{3} << 30) << "2 x 1024 + 2 x 128 + 4 x 256 slots of 1 MiB";
  EXPECT_LT(test::resident_bytes(), before + (std::uint64_t{256} << 20)) << "the rings' pages are not committed yet";
  EXPECT_TRUE(pool->shutdown().ok());
}

}  // namespace
}  // namespace sn
