// Thread placement: the CPU lists and pinning.
#include "sn/topology/affinity.h"

#include <algorithm>
#include <thread>

#include <gtest/gtest.h>

namespace {

TEST(Affinity, AllowedCpusAreSortedAndNotEmpty) {
  const std::vector<int> cpus = sn::allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
}

TEST(Affinity, PhysicalCoreCpusAreAllowedAndDistinct) {
  const std::vector<int> allowed = sn::allowed_cpus();
  std::vector<int> cores = sn::physical_core_cpus();
  ASSERT_FALSE(cores.empty());
  EXPECT_LE(cores.size(), allowed.size());
  for (int cpu : cores) {
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), cpu), allowed.end()) << cpu;
  }
  std::sort(cores.begin(), cores.end());
  EXPECT_EQ(std::adjacent_find(cores.begin(), cores.end()), cores.end());
}

TEST(Affinity, APinnedThreadRunsOnTheCpuItWasGiven) {
  for (int cpu : sn::allowed_cpus()) {
    std::thread t([cpu] {
      ASSERT_TRUE(sn::pin_current_thread(cpu).ok());
      for (int i = 0; i < 100; ++i) {
        const absl::StatusOr<int> now = sn::current_cpu();
        ASSERT_TRUE(now.ok()) << now.status();
        EXPECT_EQ(*now, cpu);
        std::this_thread::yield();  // a migration would show on the next read
      }
    });
    t.join();
  }
}

TEST(Affinity, PinningToACpuOutsideTheMaskIsAnInvalidArgument) {
  EXPECT_EQ(sn::pin_current_thread(-1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sn::pin_current_thread(1 << 20).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
