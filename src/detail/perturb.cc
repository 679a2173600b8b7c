// The SN_PERTURB build mode's points: see sn/detail/perturb.h.
#include "sn/detail/perturb.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

namespace sn::detail {
namespace {

struct Settings {
  std::uint64_t yield_one_in = 512;
  std::uint64_t sleep_one_in = 65536;
  std::uint64_t max_sleep_us = 50;
  std::uint64_t seed = 0;
  std::string only;  // empty: every point
};

std::uint64_t env_or(const char* name, std::uint64_t fallback) noexcept {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') {
    std::fprintf(stderr, "sn: ignoring %s=%s (not a number)\n", name, text);
    return fallback;
  }
  return value;
}

Settings load() noexcept {
  Settings s;
  s.yield_one_in = env_or("SN_PERTURB_YIELD", s.yield_one_in);
  s.sleep_one_in = env_or("SN_PERTURB_SLEEP", s.sleep_one_in);
  s.max_sleep_us = env_or("SN_PERTURB_SLEEP_US", s.max_sleep_us);
  if (s.max_sleep_us == 0) s.max_sleep_us = 1;
  s.seed = env_or("SN_PERTURB_SEED", 0);
  if (s.seed == 0) s.seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}() | 1;
  if (const char* only = std::getenv("SN_PERTURB_ONLY")) s.only = only;
  if (perturb_enabled()) {
    std::fprintf(stderr,
                 "sn: schedule perturbation on: SN_PERTURB_SEED=%llu yield 1/%llu sleep 1/%llu (<= %llu us)%s%s\n",
                 static_cast<unsigned long long>(s.seed), static_cast<unsigned long long>(s.yield_one_in),
                 static_cast<unsigned long long>(s.sleep_one_in), static_cast<unsigned long long>(s.max_sleep_us),
                 s.only.empty() ? "" : " only ", s.only.c_str());
  }
  return s;
}

const Settings& settings() noexcept {
  static const Settings s = load();
  return s;
}

// Totals; each thread adds its own points in steps, so the hot counter is thread-local.
std::atomic<std::uint64_t> g_points{0};
std::atomic<std::uint64_t> g_yields{0};
std::atomic<std::uint64_t> g_sleeps{0};
std::atomic<std::uint64_t> g_threads{0};

struct ThreadState {
  std::uint64_t x = 0;  // xorshift64 state; 0 until the thread's first point
  std::uint64_t unflushed = 0;
  ~ThreadState() { g_points.fetch_add(unflushed, std::memory_order_relaxed); }
};
thread_local ThreadState t_state;

}  // namespace

void perturb(const char* label) noexcept {
  const Settings& s = settings();
  ThreadState& t = t_state;
  if (++t.unflushed == 256) {
    g_points.fetch_add(256, std::memory_order_relaxed);
    t.unflushed = 0;
  }
  if (!s.only.empty() && std::strstr(label, s.only.c_str()) == nullptr) return;
  std::uint64_t x = t.x;
  if (x == 0) {
    // A distinct, reproducible stream per thread: the n-th thread to reach a point.
    x = s.seed ^ (0x9E3779B97F4A7C15ull * (g_threads.fetch_add(1, std::memory_order_relaxed) + 1));
    if (x == 0) x = 1;
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  t.x = x;
  const std::uint64_t r = x * 0x2545F4914F6CDD1Dull;
  if (s.sleep_one_in != 0 && (r >> 40) % s.sleep_one_in == 0) {
    g_sleeps.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(1 + (r >> 8) % s.max_sleep_us));
  } else if (s.yield_one_in != 0 && (r >> 20) % s.yield_one_in == 0) {
    g_yields.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::yield();
  }
}

PerturbCounts perturb_counts() noexcept {
  return {g_points.load(std::memory_order_relaxed), g_yields.load(std::memory_order_relaxed),
          g_sleeps.load(std::memory_order_relaxed)};
}

std::uint64_t perturb_seed() noexcept { return settings().seed; }

}  // namespace sn::detail
