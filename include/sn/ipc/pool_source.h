// Feeding a pool from another process: the receiving end of an inter-process channel as
// a source that a worker polls (sn/worker/polled_source.h).
//
//   struct Ingest : sn::Worker<Totals, Tick> {
//     void on_start(Totals&) {
//       (void)context().add_source(sn::ipc::receiver_source<Tick>(std::move(rx_), [](const Tick& t) { return t.id; }));
//     }
//     ...
//   };
//
// Messages from the other process are handled by this worker like messages from its
// inbox: the same handlers, an envelope with Source::external() and the key key_of gives,
// the same statistics and fault handling. While the pool drains (shutdown, resize) the
// worker takes nothing from the channel; what is left there when the worker stops stays
// unreceived, the channel closes (the sender sees `closed`) and the receiver's stats
// count it in `discarded`.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "sn/channel/stats.h"
#include "sn/ipc/options.h"
#include "sn/ipc/receiver.h"
#include "sn/worker/polled_source.h"

namespace sn::ipc {

/// How a worker polls a channel.
struct SourceOptions {
  /// The longest an idle worker sleeps before looking at the channel again: the sender
  /// cannot wake a pool's worker, so this bounds the latency of a message that arrives
  /// while the worker sleeps (and costs that many wake-ups a second while idle).
  absl::Duration max_sleep = absl::Microseconds(200);
  /// Called on the worker's thread when the worker drops the channel: `finished` true
  /// when the sender closed (or died) and everything was taken, false when the worker
  /// stopped first; with the receiver's stats and why the channel closed.
  std::function<void(bool finished, const ChannelStats&, CloseReason)> on_closed;
};

/// The PolledSource over a Receiver<T>, for a pool whose message type M is constructible
/// from T.
template <class M, Shareable T, class KeyOf>
class ReceiverSource final : public PolledSource<M> {
 public:
  /// Takes the receiver; key_of(const T&) gives each message's key.
  ReceiverSource(Receiver<T> rx, KeyOf key_of, SourceOptions options)
      : rx_(std::move(rx)), key_of_(std::move(key_of)), options_(std::move(options)) {}

  /// Whether a message is there (one load).
  bool ready() noexcept override { return rx_.ready(); }
  /// Takes up to `budget` messages.
  std::size_t poll(std::size_t budget, SourceSink<M>& sink) noexcept override {
    std::size_t n = 0;
    T value;
    while (n < budget && rx_.try_recv(value) == RecvResult::ok) {
      sink(static_cast<std::uint64_t>(key_of_(static_cast<const T&>(value))), M(std::move(value)));
      ++n;
    }
    return n;
  }
  /// Closed (by the sender, or it died or broke the protocol) and nothing left.
  bool finished() noexcept override { return rx_.is_closed() && !rx_.ready(); }
  /// SourceOptions::max_sleep.
  absl::Duration max_sleep() const noexcept override { return options_.max_sleep; }
  /// Closes the receiver and reports to SourceOptions::on_closed.
  void on_removed(bool finished) noexcept override {
    rx_.close();
    if (options_.on_closed) options_.on_closed(finished, rx_.stats(), rx_.close_reason());
  }

 private:
  Receiver<T> rx_;
  KeyOf key_of_;
  SourceOptions options_;
};

/// Makes a worker's source of a channel's receiving end; pass it to
/// WorkerContext::add_source. M must be constructible from T; key_of(const T&) returns
/// the key each message's envelope carries (the worker handles it whatever its owner).
template <class M, Shareable T, class KeyOf>
requires std::constructible_from<M, T> && std::convertible_to<std::invoke_result_t<KeyOf&, const T&>, std::uint64_t>
    std::unique_ptr<PolledSource<M>> receiver_source(Receiver<T> rx, KeyOf key_of, SourceOptions options = {}) {
  return std::make_unique<ReceiverSource<M, T, KeyOf>>(std::move(rx), std::move(key_of), std::move(options));
}

}  // namespace sn::ipc
