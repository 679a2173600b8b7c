// Internal: where every drop site of a pool sends an accepted message it will not handle:
// to the PoolConfig's dead-letter sink, or, without one, to its destruction. The drop
// sites count the message in `dropped` themselves, with or without a sink, so that the
// accounting does not depend on it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "sn/pool/dead_letters.h"

namespace sn::detail {

/// The typed sink and the pool's counters for it. Set up when the pool is wired, then
/// constant: post() may be called from any thread, concurrently.
template <class M>
class DeadLetterPost {
 public:
  DeadLetterPost() = default;
  /// `posted` counts the messages passed to `sink`; `sink_faults`, the exceptions it threw.
  DeadLetterPost(std::shared_ptr<const DeadLetterSink<M>> sink, std::atomic<std::uint64_t>& posted,
                 std::atomic<std::uint64_t>& sink_faults) noexcept
      : sink_(std::move(sink)), posted_(&posted), sink_faults_(&sink_faults) {}

  /// Takes `msg` (moved from, whatever happens): passes it to the sink, or destroys it.
  /// Never throws: it runs on noexcept paths (sends, a worker's loop, stop).
  void post(M&& msg, std::uint64_t key, std::size_t worker, DeadLetterReason reason) const noexcept {
    if (sink_ == nullptr) {
      [[maybe_unused]] M gone(std::move(msg));
      return;
    }
    posted_->fetch_add(1, std::memory_order_relaxed);
    try {
      (*sink_)(DeadLetter<M>{std::move(msg), key, worker, reason});
    } catch (...) {  // the sink's own failure must not take the sender or the worker down
      sink_faults_->fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  std::shared_ptr<const DeadLetterSink<M>> sink_;
  std::atomic<std::uint64_t>* posted_ = nullptr;
  std::atomic<std::uint64_t>* sink_faults_ = nullptr;
};

}  // namespace sn::detail
