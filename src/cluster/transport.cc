// Transport: one turn of the transport loop over a Link.
#include "sn/cluster/detail/transport.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <utility>

#include "sn/detail/check.h"

namespace sn::detail {

namespace {

/// The record count of a sealed frame's header (offset 12, a little-endian u32).
std::uint64_t header_record_count(std::span<const std::byte> frame) noexcept {
  if (frame.size() < kFrameHeaderBytes) return 0;
  std::uint32_t count = 0;
  std::memcpy(&count, frame.data() + 12, sizeof count);  // little-endian hosts only (wire.h)
  return count;
}

}  // namespace

std::uint64_t TransportCounters::rejected_total() const noexcept {
  return std::accumulate(rejected.begin(), rejected.end(), std::uint64_t{0});
}

absl::StatusOr<std::unique_ptr<Transport>> Transport::create(Link& link, MpscReceiver<SealedFrame> outgoing,
                                                             const TransportOptions& options, RecordSink sink) {
  return create(link, std::move(outgoing), options, std::move(sink), absl::Now());
}

absl::StatusOr<std::unique_ptr<Transport>> Transport::create(Link& link, MpscReceiver<SealedFrame> outgoing,
                                                             const TransportOptions& options, RecordSink sink,
                                                             absl::Time now) {
  if (!options.limits.valid() || options.max_in_flight_per_destination == 0 || options.receive_buffers == 0 ||
      options.receive_buffers > 0xFFFFFFFFu || options.credit_frames == 0 ||
      options.heartbeat_every <= absl::ZeroDuration() || link.size() <= 0 || !sink) {
    return absl::InvalidArgumentError(
        "sn::cluster: transport options need valid limits, bounds of at least 1, a positive heartbeat period "
        "and a sink");
  }
  std::unique_ptr<Transport> t(new Transport(link, std::move(outgoing), options, std::move(sink), now));
  if (absl::Status s = t->post_receives(); !s.ok()) return s;
  return t;
}

Transport::Transport(Link& link, MpscReceiver<SealedFrame> outgoing, const TransportOptions& options, RecordSink sink,
                     absl::Time now)
    : link_(link),
      outgoing_(std::move(outgoing)),
      options_(options),
      sink_(std::move(sink)),
      waiting_(static_cast<std::size_t>(link.size())),
      in_flight_(static_cast<std::size_t>(link.size()), 0),
      credits_(static_cast<std::size_t>(link.size()), options.credit_frames),
      credit_stalled_(static_cast<std::size_t>(link.size()), false),
      sends_(static_cast<std::size_t>(link.size()) * options.max_in_flight_per_destination),
      expected_sequence_(static_cast<std::size_t>(link.size()), 0),
      owed_(static_cast<std::size_t>(link.size()), 0),
      last_posted_(static_cast<std::size_t>(link.size()), now),
      last_heard_(static_cast<std::size_t>(link.size()), now),
      receive_storage_(new std::byte[options.receive_buffers * options.limits.max_frame_bytes]) {
  free_tokens_.reserve(sends_.size());
  for (std::size_t i = sends_.size(); i > 0; --i) free_tokens_.push_back(i - 1);
  sent_done_.reserve(sends_.size());
  received_done_.reserve(options.receive_buffers);
  controls_done_.reserve(static_cast<std::size_t>(link.size()) * kMaxControlsInFlight);
  counters_.records_sent_to.assign(static_cast<std::size_t>(link.size()), 0);
  counters_.records_received_from.assign(static_cast<std::size_t>(link.size()), 0);
}

std::size_t Transport::waiting() const noexcept {
  std::size_t n = 0;
  for (const auto& q : waiting_) n += q.size();
  return n;
}

bool Transport::quiet() const noexcept {
  if (!pending_.empty()) return false;
  for (std::size_t d = 0; d < waiting_.size(); ++d) {
    if (!waiting_[d].empty() || in_flight_[d] != 0) return false;
  }
  return true;
}

bool Transport::idle_to(int destination) const noexcept {
  const auto d = static_cast<std::size_t>(destination);
  return waiting_[d].empty() && in_flight_[d] == 0;
}

int Transport::silent_peer(absl::Time now, absl::Duration timeout) const noexcept {
  for (int r = 0; r < link_.size(); ++r) {
    if (is_peer(r) && now - last_heard_[static_cast<std::size_t>(r)] > timeout) return r;
  }
  return -1;
}

std::span<std::byte> Transport::receive_buffer(std::uint32_t id) const noexcept {
  return {receive_storage_.get() + id * options_.limits.max_frame_bytes, options_.limits.max_frame_bytes};
}

absl::Status Transport::post_receives() {
  for (std::uint32_t id = 0; id < options_.receive_buffers; ++id) {
    if (absl::Status s = link_.post_receive(receive_buffer(id), id); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Transport::poll(absl::Time now) {
  take_outgoing();
  if (absl::Status s = retire_sends(); !s.ok()) return s;
  if (absl::Status s = take_controls(now); !s.ok()) return s;  // credits back before posting
  if (absl::Status s = post_sends(now); !s.ok()) return s;
  if (absl::Status s = take_received(now); !s.ok()) return s;
  if (absl::Status s = deliver_pending(); !s.ok()) return s;
  return send_controls(now);
}

void Transport::take_outgoing() noexcept {
  SealedFrame frame;
  while (outgoing_.try_recv(frame) == RecvResult::ok) {
    SN_CHECK(frame.destination < waiting_.size(), "sn::cluster: a sealed frame for a rank that does not exist");
    waiting_[frame.destination].push_back(frame);
  }
}

absl::Status Transport::post_sends(absl::Time now) {
  for (std::size_t dest = 0; dest < waiting_.size(); ++dest) {
    std::deque<SealedFrame>& queue = waiting_[dest];
    while (!queue.empty() && in_flight_[dest] < options_.max_in_flight_per_destination) {
      if (credits_[dest] == 0) {
        if (!credit_stalled_[dest]) ++counters_.credit_stalls;  // once per stall, not per turn
        credit_stalled_[dest] = true;
        break;
      }
      if (absl::Status s = post_frame(dest, queue.front(), now); !s.ok()) return s;
      queue.pop_front();
    }
  }
  return absl::OkStatus();
}

absl::Status Transport::post_frame(std::size_t destination, const SealedFrame& frame, absl::Time now) {
  const std::uint64_t token = free_tokens_.back();  // one per frame in flight: never runs out
  if (absl::Status s = link_.post_send(static_cast<int>(destination), frame.bytes, token); !s.ok()) return s;
  free_tokens_.pop_back();
  sends_[token] = frame;
  ++in_flight_[destination];
  --credits_[destination];
  credit_stalled_[destination] = false;
  last_posted_[destination] = now;
  ++counters_.frames_posted;
  counters_.records_sent_to[destination] += header_record_count(frame.bytes);
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

absl::Status Transport::take_controls(absl::Time now) {
  controls_done_.clear();
  absl::Status s = link_.poll_control(controls_done_);
  for (const ReceivedControl& control : controls_done_) {
    ++counters_.controls_received;
    if (!is_peer(control.source)) {
      ++counters_.protocol_errors;
      continue;
    }
    last_heard_[static_cast<std::size_t>(control.source)] = now;
    apply_control(control);
  }
  return s;
}

void Transport::apply_control(const ReceivedControl& control) noexcept {
  switch (control.message.kind) {
    case ControlKind::credit: {
      std::size_t& credits = credits_[static_cast<std::size_t>(control.source)];
      if (control.message.value > options_.credit_frames - credits) {
        ++counters_.protocol_errors;  // more back than were spent
        credits = options_.credit_frames;
      } else {
        credits += static_cast<std::size_t>(control.message.value);
      }
      return;
    }
    case ControlKind::heartbeat: return;
  }
  ++counters_.protocol_errors;  // a kind this build does not know
}

absl::Status Transport::take_received(absl::Time now) {
  received_done_.clear();
  absl::Status s = link_.poll_received(received_done_);
  for (const ReceivedFrame& frame : received_done_) {
    SN_CHECK(frame.buffer < options_.receive_buffers, "sn::cluster: the link filled an unknown receive buffer");
    ++counters_.frames_arrived;
    if (frame.source >= 0 && frame.source < link_.size()) {
      last_heard_[static_cast<std::size_t>(frame.source)] = now;
    }
    if (absl::Status again = accept(frame); !again.ok() && s.ok()) s = again;
  }
  return s;
}

absl::Status Transport::accept(const ReceivedFrame& frame) {
  if (frame.truncated) {
    ++counters_.rejected[static_cast<std::size_t>(FrameError::too_long)];
    return finish(frame.buffer, frame.source);
  }
  const std::span<const std::byte> bytes =
      receive_buffer(frame.buffer).first(std::min(frame.size, options_.limits.max_frame_bytes));
  const FrameCheck check = check_frame(bytes, options_.limits);
  if (check.error != FrameError::none) {
    ++counters_.rejected[static_cast<std::size_t>(check.error)];
    return finish(frame.buffer, frame.source);
  }
  if (frame.source >= 0 && frame.source < link_.size()) {
    const auto source = static_cast<std::size_t>(frame.source);
    if (check.info.sequence != expected_sequence_[source]) ++counters_.sequence_gaps;
    expected_sequence_[source] = check.info.sequence + 1;
    counters_.records_received_from[source] += check.info.record_count;
  }
  ++counters_.frames_received;
  pending_.push_back(PendingFrame{frame.buffer, frame.source, RecordCursor(check.info)});
  return absl::OkStatus();
}

absl::Status Transport::deliver_pending() {
  while (!pending_.empty()) {
    PendingFrame& frame = pending_.front();
    RecordCursor at = frame.cursor;
    RecordView record;
    while (at.next(record)) {
      if (!sink_(frame.source, record)) {
        ++counters_.delivery_stalls;  // offered again next turn, from this record
        return absl::OkStatus();
      }
      ++counters_.records_received;
      frame.cursor = at;
    }
    const PendingFrame done = frame;
    pending_.pop_front();
    if (absl::Status s = finish(done.buffer, done.source); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Transport::finish(std::uint32_t buffer, int source) {
  if (source == link_.rank()) {
    std::size_t& credits = credits_[static_cast<std::size_t>(source)];  // a frame to itself: no message
    credits = std::min(credits + 1, options_.credit_frames);
  } else if (is_peer(source)) {
    ++owed_[static_cast<std::size_t>(source)];
  }
  return link_.post_receive(receive_buffer(buffer), buffer);
}

absl::Status Transport::send_controls(absl::Time now) {
  for (int r = 0; r < link_.size(); ++r) {
    if (!is_peer(r) || link_.controls_in_flight(r) >= kMaxControlsInFlight) continue;
    const auto peer = static_cast<std::size_t>(r);
    if (owed_[peer] > 0) {
      if (absl::Status s = post_control(peer, ControlMessage{ControlKind::credit, 0, owed_[peer]}, now); !s.ok()) {
        return s;
      }
      owed_[peer] = 0;
    } else if (now - last_posted_[peer] >= options_.heartbeat_every) {
      if (absl::Status s = post_control(peer, ControlMessage{ControlKind::heartbeat}, now); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Transport::post_control(std::size_t destination, const ControlMessage& message, absl::Time now) {
  if (absl::Status s = link_.post_control(static_cast<int>(destination), message); !s.ok()) return s;
  ++counters_.controls_sent;
  last_posted_[destination] = now;
  return absl::OkStatus();
}

}  // namespace sn::detail
