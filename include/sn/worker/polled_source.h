// sn::PolledSource: an input a worker polls besides its inbox and lanes, such as the
// receiving end of a channel from another process (sn/ipc/pool_source.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/time/time.h"

namespace sn {

/// What a PolledSource hands its messages to: the worker that polls it. A message given
/// to it is handled like one from the worker's inbox (same handlers, envelope with
/// Source::external(), same statistics), in this worker whatever its key.
template <class M>
class SourceSink {
 public:
  /// The function that takes a message, and what it takes it for.
  using Fn = void (*)(void* target, std::uint64_t key, M&& message) noexcept;
  /// Made by the worker's loop.
  SourceSink(void* target, Fn fn) noexcept : target_(target), fn_(fn) {}
  /// Delivers one message with `key` (the envelope's key).
  void operator()(std::uint64_t key, M&& message) noexcept { fn_(target_, key, std::move(message)); }

 private:
  void* target_;
  Fn fn_;
};

/// An input a worker polls on its own thread, added with WorkerContext::add_source (from
/// on_start, say). The worker drains it within its batch budget, in turn with its other
/// inputs, and drops it once finished(). Every call comes from the worker's thread.
///
/// Nobody can wake a sleeping worker for a source (the publisher, in another process,
/// does not know the worker): a worker with sources sleeps at most max_sleep() at a time.
/// While the pool drains (a shutdown, a resize) its workers take nothing from sources,
/// so a source that always has something cannot keep a pool from stopping; what is left
/// stays in the source, which is dropped with on_removed(false) when the worker stops.
template <class M>
class PolledSource {
 public:
  virtual ~PolledSource() = default;
  /// Whether poll() would deliver something now. Cheap: called while the worker waits.
  virtual bool ready() noexcept = 0;
  /// Delivers up to `budget` messages (at least 1) to `sink`; returns how many.
  virtual std::size_t poll(std::size_t budget, SourceSink<M>& sink) noexcept = 0;
  /// True once the source will never deliver again (its producer closed and it is empty).
  virtual bool finished() noexcept = 0;
  /// The longest an idle worker may sleep without looking at this source.
  virtual absl::Duration max_sleep() const noexcept { return absl::Milliseconds(1); }
  /// Called once, on the worker's thread, when the worker drops the source: finished is
  /// true if finished() said so, false if the worker stopped first.
  virtual void on_removed(bool finished) noexcept { (void)finished; }
};

}  // namespace sn
