// Internal: schedule perturbation points, the SN_PERTURB build mode (issue 6).
//
// Configure with -DSN_PERTURB=ON and every SN_PERTURB_POINT("label") in the channels and
// the worker loop may yield the thread or sleep for a few microseconds, at random. The
// points sit in the windows where a bug in the concurrency code would show: between a
// claim and its publication, between a Dekker handshake's store and its load, between a
// waiter's last re-check and its futex wait, between the pool's quiescence waves. The
// stress tests (tests/stress/, label `stress`) run in this mode and check checksums.
//
// Without SN_PERTURB every point compiles to nothing, so release builds pay nothing.
//
// Run-time settings (environment, read once per process):
//   SN_PERTURB_YIELD=N     yield at one point in N, on average (default 512; 0 = never)
//   SN_PERTURB_SLEEP=N     sleep at one point in N (default 65536; 0 = never)
//   SN_PERTURB_SLEEP_US=N  longest sleep in microseconds (default 50)
//   SN_PERTURB_SEED=N      seed of the per-thread generators (default: random, printed)
//   SN_PERTURB_ONLY=text   perturb only the points whose label contains `text`
#pragma once

#include <cstdint>

namespace sn::detail {

/// What the perturbation points did so far in this process.
struct PerturbCounts {
  std::uint64_t points = 0;  ///< Points passed (each thread adds its share in steps of 256 and when it ends).
  std::uint64_t yields = 0;  ///< Points that yielded.
  std::uint64_t sleeps = 0;  ///< Points that slept.
};

/// Whether this build has the points (configured with SN_PERTURB=ON).
constexpr bool perturb_enabled() noexcept {
#if defined(SN_PERTURB) && SN_PERTURB
  return true;
#else
  return false;
#endif
}

/// One perturbation point: maybe yields, maybe sleeps. Any thread. src/detail/perturb.cc.
void perturb(const char* label) noexcept;
/// The counts so far, summed over threads. Any thread.
PerturbCounts perturb_counts() noexcept;
/// The seed this process runs with (the generators of each thread derive from it).
std::uint64_t perturb_seed() noexcept;

}  // namespace sn::detail

#if defined(SN_PERTURB) && SN_PERTURB
#define SN_PERTURB_POINT(label) ::sn::detail::perturb(label)
#else
#define SN_PERTURB_POINT(label) static_cast<void>(0)
#endif
