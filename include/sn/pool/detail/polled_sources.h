// Internal: the PolledSources a worker added (WorkerContext::add_source), as one more
// source of its loop (sources.h's interface). One virtual call per source per drain,
// not per message; with no source added, each check is one test of an empty vector.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "sn/pool/detail/core.h"
#include "sn/pool/detail/parcel.h"
#include "sn/pool/detail/shared.h"
#include "sn/pool/detail/sources.h"
#include "sn/worker/polled_source.h"

namespace sn::detail {

template <class M>
class PolledSources {
 public:
  /// Messages count under the inbox's dispatcher input (one past the lanes).
  PolledSources(const PoolShared<M>& shared, WorkerCore<M>& core) noexcept : shared_(shared), core_(core) {}
  PolledSources(const PolledSources&) = delete;
  PolledSources& operator=(const PolledSources&) = delete;
  ~PolledSources() { clear(); }

  void add(std::unique_ptr<PolledSource<M>> source) { sources_.push_back(std::move(source)); }
  std::size_t size() const noexcept { return sources_.size(); }

  bool ready() const noexcept {
    if (sources_.empty() || paused_) [[likely]]
      return false;
    return std::any_of(sources_.begin(), sources_.end(), [](const auto& s) { return s->ready(); });
  }
  bool published() const noexcept { return ready(); }
  /// A sleeping worker must look again within the shortest max_sleep(): nobody wakes it.
  std::int64_t next_deadline() const noexcept {
    if (sources_.empty() || paused_) [[likely]]
      return kNoDeadline;
    absl::Duration nap = absl::InfiniteDuration();
    for (const auto& s : sources_) nap = std::min(nap, s->max_sleep());
    return steady_now_ns() + absl::ToInt64Nanoseconds(std::clamp(nap, absl::Microseconds(1), absl::Seconds(1)));
  }

  template <class Take>
  std::size_t drain(std::size_t budget, Take& take) {
    if (sources_.empty() || paused_) [[likely]]
      return 0;
    struct Target {
      Take& take;
      const PoolShared<M>& shared;
      OwnedCounter& accepted;
      std::size_t input;
    } target{take, shared_, core_.owned.from_sources, core_.lanes_in.size()};
    SourceSink<M> sink(&target, [](void* t, std::uint64_t key, M&& msg) noexcept {
      auto& tg = *static_cast<Target*>(t);
      tg.accepted.add(1);  // accepted before it is handled: PoolStats' accounting identity
      tg.take(Parcel<M>{std::move(msg), key, Source::external(), tg.shared.timestamps ? SendStamp::now() : 0},
              tg.input);
    });
    std::size_t taken = 0;
    for (std::size_t i = 0; i < sources_.size() && taken < budget;) {
      PolledSource<M>& s = *sources_[i];
      taken += s.poll(budget - taken, sink);
      if (s.finished()) {
        s.on_removed(true);
        sources_.erase(sources_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      ++i;
    }
    if (sources_.size() > 1) std::rotate(sources_.begin(), sources_.begin() + 1, sources_.end());  // fairness
    return taken;
  }

  void set_paused(bool paused) noexcept { paused_ = paused; }
  /// Drops every source (the worker stops): on_removed(false) for each.
  void clear() noexcept {
    for (auto& s : sources_) s->on_removed(false);
    sources_.clear();
  }

 private:
  const PoolShared<M>& shared_;
  WorkerCore<M>& core_;
  std::vector<std::unique_ptr<PolledSource<M>>> sources_;
  bool paused_ = false;
};

}  // namespace sn::detail
