// Transport: one turn of the transport loop over a Link.
#include "sn/cluster/detail/transport.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "sn/detail/check.h"

namespace sn::detail {

std::uint64_t TransportCounters::rejected_total() const noexcept {
  return std::accumulate(rejected.begin(), rejected.end(), std::uint64_t{0});
}

absl::StatusOr<std::unique_ptr<Transport>> Transport::create(Link& link, MpscReceiver<SealedFrame> outgoing,
                                                             const TransportOptions& options, RecordSink sink) {
  if (!options.limits.valid() || options.max_in_flight_per_destination == 0 || options.receive_buffers == 0 ||
      options.receive_buffers > 0xFFFFFFFFu || link.size() <= 0) {
    return absl::InvalidArgumentError("sn::cluster: transport options need valid limits and bounds of at least 1");
  }
  std::unique_ptr<Transport> t(new Transport(link, std::move(outgoing), options, std::move(sink)));
  if (absl::Status s = t->post_receives(); !s.ok()) return s;
  return t;
}

Transport::Transport(Link& link, MpscReceiver<SealedFrame> outgoing, const TransportOptions& options, RecordSink sink)
    : link_(link),
      outgoing_(std::move(outgoing)),
      options_(options),
      sink_(std::move(sink)),
      waiting_(static_cast<std::size_t>(link.size())),
      in_flight_(static_cast<std::size_t>(link.size()), 0),
      sends_(static_cast<std::size_t>(link.size()) * options.max_in_flight_per_destination),
      expected_sequence_(static_cast<std::size_t>(link.size()), 0),
      receive_storage_(new std::byte[options.receive_buffers * options.limits.max_frame_bytes]) {
  free_tokens_.reserve(sends_.size());
  for (std::size_t i = sends_.size(); i > 0; --i) free_tokens_.push_back(i - 1);
  sent_done_.reserve(sends_.size());
  received_done_.reserve(options.receive_buffers);
}

std::size_t Transport::waiting() const noexcept {
  std::size_t n = 0;
  for (const auto& q : waiting_) n += q.size();
  return n;
}

absl::Status Transport::post_receives() {
  for (std::uint32_t id = 0; id < options_.receive_buffers; ++id) {
    const std::span<std::byte> buffer(receive_storage_.get() + id * options_.limits.max_frame_bytes,
                                      options_.limits.max_frame_bytes);
    if (absl::Status s = link_.post_receive(buffer, id); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Transport::poll() {
  take_outgoing();
  if (absl::Status s = post_sends(); !s.ok()) return s;
  if (absl::Status s = retire_sends(); !s.ok()) return s;
  if (absl::Status s = post_sends(); !s.ok()) return s;  // room freed by completions
  return take_received();
}

void Transport::take_outgoing() noexcept {
  SealedFrame frame;
  while (outgoing_.try_recv(frame) == RecvResult::ok) {
    SN_CHECK(frame.destination < waiting_.size(), "sn::cluster: a sealed frame for a rank that does not exist");
    waiting_[frame.destination].push_back(frame);
  }
}

absl::Status Transport::post_sends() {
  for (std::size_t dest = 0; dest < waiting_.size(); ++dest) {
    std::deque<SealedFrame>& queue = waiting_[dest];
    while (!queue.empty() && in_flight_[dest] < options_.max_in_flight_per_destination) {
      const std::uint64_t token = free_tokens_.back();  // one per frame in flight: never runs out
      const SealedFrame& frame = queue.front();
      if (absl::Status s = link_.post_send(static_cast<int>(dest), frame.bytes, token); !s.ok()) return s;
      free_tokens_.pop_back();
      sends_[token] = frame;
      ++in_flight_[dest];
      queue.pop_front();
    }
  }
  return absl::OkStatus();
}

absl::Status Transport::retire_sends() {
  sent_done_.clear();
  absl::Status s = link_.poll_sent(sent_done_);
  for (const std::uint64_t token : sent_done_) {
    SN_CHECK(token < sends_.size() && sends_[token].has_value(), "sn::cluster: the link completed an unknown send");
    const SealedFrame frame = *sends_[token];
    sends_[token].reset();
    free_tokens_.push_back(token);
    --in_flight_[frame.destination];
    ++counters_.frames_sent;
    counters_.bytes_sent += frame.bytes.size();
    frame.release();  // the batcher may fill this buffer again
  }
  return s;
}

absl::Status Transport::take_received() {
  received_done_.clear();
  absl::Status s = link_.poll_received(received_done_);
  for (const ReceivedFrame& frame : received_done_) {
    SN_CHECK(frame.buffer < options_.receive_buffers, "sn::cluster: the link filled an unknown receive buffer");
    deliver(frame);
    const std::span<std::byte> buffer(receive_storage_.get() + frame.buffer * options_.limits.max_frame_bytes,
                                      options_.limits.max_frame_bytes);
    if (absl::Status again = link_.post_receive(buffer, frame.buffer); !again.ok() && s.ok()) s = again;
  }
  return s;
}

void Transport::deliver(const ReceivedFrame& frame) {
  if (frame.truncated) {
    ++counters_.rejected[static_cast<std::size_t>(FrameError::too_long)];
    return;
  }
  const std::span<const std::byte> bytes(receive_storage_.get() + frame.buffer * options_.limits.max_frame_bytes,
                                         std::min(frame.size, options_.limits.max_frame_bytes));
  const FrameCheck check = check_frame(bytes, options_.limits);
  if (check.error != FrameError::none) {
    ++counters_.rejected[static_cast<std::size_t>(check.error)];
    return;
  }
  if (frame.source >= 0 && static_cast<std::size_t>(frame.source) < expected_sequence_.size()) {
    std::uint64_t& expected = expected_sequence_[static_cast<std::size_t>(frame.source)];
    if (check.info.sequence != expected) ++counters_.sequence_gaps;
    expected = check.info.sequence + 1;
  }
  ++counters_.frames_received;
  RecordCursor cursor(check.info);
  RecordView record;
  while (cursor.next(record)) {
    ++counters_.records_received;
    sink_(frame.source, record);
  }
}

}  // namespace sn::detail
