// A quick check of the CAF peer outside Google Benchmark: every run must hand back the
// exact message count and key sum, and prints its throughput. Exits non-zero on a
// mismatch.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "caf_peer.h"

namespace {

constexpr std::uint64_t kKeys = 65'536;
constexpr std::uint64_t kPerProducer = std::uint64_t{1} << 20;
constexpr int kRuns = 3;

bool check(int producers, int workers, int threads, const std::vector<std::uint64_t>& keys) {
  const auto p = static_cast<std::uint64_t>(producers);
  const std::uint64_t expected_handled = p * kPerProducer;
  std::uint64_t expected_sum = 0;
  for (std::uint64_t j = 0; j < expected_handled; ++j) expected_sum += keys[j % keys.size()];

  sn_bench::CafKeyed caf(producers, workers, threads);
  bool ok = true;
  for (int r = 0; r < kRuns; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const sn_bench::KeyedResult got = caf.run(keys, kPerProducer);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    const bool match = got.handled == expected_handled && got.checksum == expected_sum;
    ok = ok && match;
    std::printf("caf %dx%d (%d scheduler threads) run %d: %.3f Mmsg/s%s\n", producers, workers,
                threads, r, static_cast<double>(got.handled) / elapsed.count() / 1e6,
                match ? "" : "  MISMATCH");
  }
  return ok;
}

}  // namespace

int main() {
  std::vector<std::uint64_t> keys(kKeys);
  for (std::uint64_t i = 0; i < kKeys; ++i) keys[i] = i * 0x9E3779B97F4A7C15ULL + 1;
  const bool ok = check(1, 1, 1, keys) && check(2, 2, 2, keys);
  return ok ? 0 : 1;
}
