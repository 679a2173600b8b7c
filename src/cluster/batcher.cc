// Batcher: opening and sealing the frames of each destination.
#include "sn/cluster/detail/batcher.h"

#include <algorithm>

#include "absl/status/status.h"

namespace sn::detail {

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::create(std::size_t destinations, const BatcherOptions& options) {
  if (!options.limits.valid()) return absl::InvalidArgumentError("sn::cluster: the frame limits are not valid");
  if (options.flush_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("sn::cluster: flush_after must not be negative");
  }
  if (destinations > 0xFFFFFFFFu) return absl::InvalidArgumentError("sn::cluster: too many destinations");
  auto buffers = FrameBuffers::create(destinations, options.buffers_per_destination, options.limits.max_frame_bytes);
  if (!buffers.ok()) return buffers.status();
  return std::unique_ptr<Batcher>(new Batcher(*std::move(buffers), options));
}

Batcher::Batcher(std::unique_ptr<FrameBuffers> buffers, const BatcherOptions& options)
    : options_(options), buffers_(std::move(buffers)), destinations_(buffers_->destinations()) {
  sealed_frames_.reserve(buffers_->destinations() * buffers_->buffers_per_destination());
}

bool Batcher::open(std::size_t destination) noexcept {
  const std::optional<std::uint32_t> index = buffers_->acquire(destination);
  if (!index) return false;
  Destination& d = destinations_[destination];
  d.buffer = *index;
  d.builder.emplace(buffers_->bytes(destination, *index), options_.limits);
  return true;
}

void Batcher::seal(std::size_t destination, SealReason reason) noexcept {
  Destination& d = destinations_[destination];
  const std::uint64_t sequence = d.next_sequence++;
  const std::span<const std::byte> bytes = d.builder->seal(sequence);
  // Every sealed frame holds one buffer, and the vector has room for all of them.
  sealed_frames_.push_back(
      SealedFrame{buffers_.get(), static_cast<std::uint32_t>(destination), d.buffer, sequence, bytes});
  d.builder = std::nullopt;  // the buffer now belongs to the sealed frame
  ++sealed_[static_cast<std::size_t>(reason)];
}

std::size_t Batcher::flush_due(absl::Time now) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < destinations_.size(); ++i) {
    const Destination& d = destinations_[i];
    if (d.builder && !d.builder->empty() && now - d.first_at >= options_.flush_after) {
      seal(i, SealReason::deadline);
      ++n;
    }
  }
  return n;
}

std::size_t Batcher::flush_all() noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < destinations_.size(); ++i) {
    if (destinations_[i].builder && !destinations_[i].builder->empty()) {
      seal(i, SealReason::flush);
      ++n;
    }
  }
  return n;
}

bool Batcher::flush(std::size_t destination) noexcept {
  const Destination& d = destinations_[destination];
  if (!d.builder || d.builder->empty()) return false;
  seal(destination, SealReason::idle);
  return true;
}

bool Batcher::holds_records() const noexcept {
  if (!sealed_frames_.empty()) return true;
  return std::any_of(destinations_.begin(), destinations_.end(),
                     [](const Destination& d) { return d.builder && !d.builder->empty(); });
}

std::optional<absl::Time> Batcher::next_deadline() const noexcept {
  std::optional<absl::Time> earliest;
  for (const Destination& d : destinations_) {
    if (!d.builder || d.builder->empty()) continue;
    const absl::Time due = d.first_at + options_.flush_after;
    earliest = earliest ? std::min(*earliest, due) : due;
  }
  return earliest;
}

}  // namespace sn::detail
