// Batcher: encodes records into one open frame per destination rank and seals a frame
// when the next record does not fit or when its oldest record has waited flush_after.
//
// Threads: one owner thread appends, flushes and drains; the sealed frames' buffers are
// given back from any thread (SealedFrame::release, usually the transport thread once the
// send completed). No buffer free for a destination is an expected result, no_buffer:
// that is where backpressure (and later cross-rank credits) plugs in.
//
// The clock is the caller's: append and flush_due take `now`, so tests drive time and
// the owner reads the clock once per loop turn rather than once per record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/cluster/detail/frame_buffers.h"
#include "sn/cluster/wire.h"
#include "sn/detail/check.h"

namespace sn::detail {

/// How frames are cut and how much memory they may hold.
struct BatcherOptions {
  FrameLimits limits;                       ///< max_frame_bytes is each buffer's size.
  std::size_t buffers_per_destination = 4;  ///< Open, sealed and in-flight frames, 1 to 64.
  /// A record waits at most this long in an open frame before it is sealed. 50 us is
  /// below one TCP round trip on a LAN, so a quiet stream's added latency stays under
  /// the network's own, and at a million records a second to one rank it still gathers
  /// about 50 records a frame, amortising MPI's per-message cost of a few microseconds.
  absl::Duration flush_after = absl::Microseconds(50);
};

/// Outcome of appending one record.
enum class [[nodiscard]] BatchAppend : std::uint8_t{
    ok,         ///< The record is in an open frame.
    no_buffer,  ///< Every buffer of the destination is sealed or in flight; try again later.
    too_large,  ///< The message's wire form exceeds max_message_bytes: it can never be sent.
};

/// Why a frame was sealed.
enum class SealReason : std::uint8_t { size, deadline, flush, idle };

/// One open frame per destination over FrameBuffers; sealed frames wait for drain().
class Batcher {
 public:
  /// InvalidArgument when the limits are not valid(), flush_after is negative, or the
  /// buffer count or `destinations` is out of range.
  static absl::StatusOr<std::unique_ptr<Batcher>> create(std::size_t destinations, const BatcherOptions& options);

  /// Adds a record for `message` to `destination`'s open frame, sealing it first when the
  /// record does not fit. On anything but ok the record was not added.
  template <WireMessage T>
  BatchAppend append(std::size_t destination, std::uint64_t key, std::uint32_t slot, const T& message,
                     absl::Time now) noexcept(!HasWireHooks<T>);

  /// Seals every open frame whose oldest record was appended at or before now - flush_after.
  /// Returns the frames sealed.
  std::size_t flush_due(absl::Time now) noexcept;
  /// Seals every open frame that holds a record (shutdown, tests).
  std::size_t flush_all() noexcept;
  /// Seals `destination`'s open frame if it holds a record (its link is idle); true if so.
  bool flush(std::size_t destination) noexcept;
  /// Whether any record is in an open frame or a sealed frame not yet drained.
  bool holds_records() const noexcept;
  /// Hands each sealed frame, in the order sealed, to `sink(SealedFrame)`; returns how many.
  template <class Sink>
  std::size_t drain(Sink&& sink);

  /// Records in `destination`'s open frame (0 when none is open).
  std::uint32_t open_records(std::size_t destination) const noexcept {
    const Destination& d = destinations_[destination];
    return d.builder ? d.builder->count() : 0;
  }
  /// The earliest deadline of an open frame, for the owner's wait; nullopt when none.
  std::optional<absl::Time> next_deadline() const noexcept;
  /// Frames sealed for each reason so far.
  std::uint64_t sealed(SealReason reason) const noexcept { return sealed_[static_cast<std::size_t>(reason)]; }
  FrameBuffers& buffers() noexcept { return *buffers_; }
  const BatcherOptions& options() const noexcept { return options_; }

 private:
  struct Destination {
    std::optional<FrameBuilder> builder;  // the open frame, if a buffer is held
    std::uint32_t buffer = 0;             // the open frame's buffer
    absl::Time first_at;                  // when its first record was appended
    std::uint64_t next_sequence = 0;
  };

  Batcher(std::unique_ptr<FrameBuffers> buffers, const BatcherOptions& options);
  /// Takes a buffer and starts a frame in it; false when none is free.
  bool open(std::size_t destination) noexcept;
  void seal(std::size_t destination, SealReason reason) noexcept;

  BatcherOptions options_;
  std::unique_ptr<FrameBuffers> buffers_;
  std::vector<Destination> destinations_;
  std::vector<SealedFrame> sealed_frames_;  // reserved for every buffer: never reallocates
  std::uint64_t sealed_[4] = {};
};

// ---------------------------------------------------------------- definitions

template <WireMessage T>
BatchAppend Batcher::append(std::size_t destination, std::uint64_t key, std::uint32_t slot, const T& message,
                            absl::Time now) noexcept(!HasWireHooks<T>) {
  Destination& d = destinations_[destination];
  if (!d.builder && !open(destination)) return BatchAppend::no_buffer;
  AppendResult r = d.builder->append(key, slot, message);
  if (r == AppendResult::frame_full) {
    seal(destination, SealReason::size);
    if (!open(destination)) return BatchAppend::no_buffer;
    r = d.builder->append(key, slot, message);
  }
  if (r == AppendResult::too_large) return BatchAppend::too_large;
  SN_CHECK(r == AppendResult::ok, "sn::cluster: a message within max_message_bytes must fit an empty frame");
  if (d.builder->count() == 1) d.first_at = now;
  return BatchAppend::ok;
}

template <class Sink>
std::size_t Batcher::drain(Sink&& sink) {
  const std::size_t n = sealed_frames_.size();
  for (const SealedFrame& f : sealed_frames_) sink(f);
  sealed_frames_.clear();
  return n;
}

}  // namespace sn::detail
