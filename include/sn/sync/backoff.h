// sn::sync::Backoff: waiting a short while for another thread to finish a step it has
// already started (the other half of a claimed slot, say): spin with a growing number
// of pause instructions, then yield the CPU, in case the thread waited for was
// preempted on ours. Not for waiting on an event that may never come: that is
// block_on's job (spin, yield, then park).
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>

#include "sn/detail/perturb.h"
#include "sn/sync/futex.h"

namespace sn::sync {

/// Waits for another thread's step in progress: one object per wait, pause() per retry.
class Backoff {
 public:
  /// One wait: 2, 4, ... 64 pauses for the first rounds, then a yield each time.
  void pause() noexcept {
    SN_PERTURB_POINT("backoff.pause");
    if (rounds_ < kSpinRounds) {
      ++rounds_;
      for (std::uint32_t i = 0; i < (1u << std::min(rounds_, 6u)); ++i) cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  static constexpr std::uint32_t kSpinRounds = 16;
  std::uint32_t rounds_ = 0;
};

}  // namespace sn::sync
