// Internal: one worker's restart budget: how many restarts its RestartLimit still allows
// in the current window, and how long it waits after a restart (backoff). The decision of
// what a fault does is made in Dispatcher::fault (dispatch.h), which asks this. Worker
// thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/time/time.h"
#include "sn/pool/supervision.h"

namespace sn::detail {

class RestartBudget {
 public:
  /// Allocates the window's ring (one time per allowed restart): may throw bad_alloc.
  explicit RestartBudget(const RestartLimit& limit)
      : limit_(limit), within_ns_(absl::ToInt64Nanoseconds(limit.within)) {
    if (!unlimited()) times_.resize(limit.max_restarts);
  }

  /// A restart is wanted at `now_ns`: true, and recorded, when the limit allows it;
  /// false when it would be restart number max_restarts + 1 within the window.
  bool try_restart(std::int64_t now_ns) noexcept {
    if (unlimited()) return true;
    if (times_.empty()) return false;
    // times_ is a ring of the last max_restarts restarts, oldest at next_.
    if (count_ == times_.size() && now_ns - times_[next_] < within_ns_) return false;
    times_[next_] = now_ns;
    next_ = next_ + 1 == times_.size() ? 0 : next_ + 1;
    count_ = std::min(count_ + 1, times_.size());
    return true;
  }

  /// The wait before the next message after the restart just allowed at `now_ns`: the
  /// backoff, doubled for each earlier restart still in the window, at most max_backoff.
  std::int64_t backoff_ns(std::int64_t now_ns) const noexcept {
    if (limit_.backoff <= absl::ZeroDuration()) return 0;
    std::size_t earlier = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      if (now_ns - times_[i] < within_ns_) ++earlier;
    }
    earlier = earlier == 0 ? 0 : earlier - 1;  // the restart just recorded is one of them
    const std::int64_t cap = absl::ToInt64Nanoseconds(limit_.max_backoff);
    std::int64_t wait = absl::ToInt64Nanoseconds(limit_.backoff);
    for (std::size_t i = 0; i < earlier && wait < cap; ++i) wait *= 2;
    return std::min(wait, cap);
  }

  /// Forgets every restart (a revived worker starts a fresh window).
  void reset() noexcept { count_ = next_ = 0; }

  const RestartLimit& limit() const noexcept { return limit_; }

 private:
  bool unlimited() const noexcept { return limit_.max_restarts == std::numeric_limits<std::uint32_t>::max(); }

  RestartLimit limit_;
  std::int64_t within_ns_;
  std::vector<std::int64_t> times_;  // ring; empty when unlimited or max_restarts == 0
  std::size_t next_ = 0;             // the oldest entry once the ring is full
  std::size_t count_ = 0;            // entries in use
};

}  // namespace sn::detail
