// An in-memory network of Links for the transport's unit tests: ranks in one process and
// one thread. Two protocols, like MPI's: under rendezvous a send completes only when it
// lands in a receive buffer that the destination has posted, so a receiver that does not
// poll makes its senders' frames stay in flight; under eager a send completes at once and
// the network keeps a copy until the destination posts a buffer, so only credits bound
// what a receiver that does not poll holds. Every poll moves what can move.
//
// Control messages are delivered on the destination's next poll_control, in order per
// pair, and count as in flight until then (at most kMaxControlsInFlight per pair).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sn/cluster/detail/link.h"

namespace sn_test {

class FakeNetwork {
 public:
  enum class Protocol { rendezvous, eager };

  explicit FakeNetwork(int ranks, Protocol protocol = Protocol::rendezvous)
      : protocol_(protocol), ranks_(static_cast<std::size_t>(ranks)) {
    for (int r = 0; r < ranks; ++r) ranks_[static_cast<std::size_t>(r)].link = Link(this, r);
  }
  FakeNetwork(const FakeNetwork&) = delete;
  FakeNetwork& operator=(const FakeNetwork&) = delete;

  sn::detail::Link& link(int rank) { return ranks_[static_cast<std::size_t>(rank)].link; }
  /// Flips one bit of the next frame that `source` sends to `destination`.
  void corrupt_next(int source, int destination) { corrupt_.emplace(source, destination); }
  /// The most sends from `source` to `destination` that were in flight at once.
  std::size_t max_in_flight(int source, int destination) const { return get(max_in_flight_, source, destination); }
  /// Frames from `source` that `destination` holds: sent (eager) or landed (rendezvous),
  /// and the buffer they landed in not posted again.
  std::size_t held(int source, int destination) const { return get(held_, source, destination); }
  /// The most frames from `source` that `destination` held at once.
  std::size_t max_held(int source, int destination) const { return get(max_held_, source, destination); }
  /// The most control messages from `source` to `destination` in flight at once.
  std::size_t max_controls_in_flight(int source, int destination) const {
    return get(max_controls_in_flight_, source, destination);
  }
  /// Control messages of `kind` delivered from `source` to `destination`.
  std::size_t controls_delivered(int source, int destination, sn::detail::ControlKind kind) const {
    auto it = controls_delivered_.find({source, destination, kind});
    return it == controls_delivered_.end() ? 0 : it->second;
  }

 private:
  using Pair = std::pair<int, int>;
  static std::size_t get(const std::map<Pair, std::size_t>& m, int source, int destination) {
    auto it = m.find({source, destination});
    return it == m.end() ? 0 : it->second;
  }
  static void raise(std::map<Pair, std::size_t>& count, std::map<Pair, std::size_t>& most, Pair pair) {
    std::size_t& n = ++count[pair];
    std::size_t& m = most[pair];
    m = std::max(m, n);
  }

  class Link final : public sn::detail::Link {
   public:
    Link() = default;
    Link(FakeNetwork* net, int rank) : net_(net), rank_(rank) {}
    int rank() const noexcept override { return rank_; }
    int size() const noexcept override { return static_cast<int>(net_->ranks_.size()); }
    absl::Status post_send(int destination, std::span<const std::byte> bytes, std::uint64_t token) override {
      if (destination < 0 || destination >= size()) return absl::InvalidArgumentError("fake link: no such rank");
      net_->post_send(rank_, destination, bytes, token);
      return absl::OkStatus();
    }
    absl::Status poll_sent(std::vector<std::uint64_t>& done) override {
      net_->progress();
      auto& mine = net_->ranks_[static_cast<std::size_t>(rank_)].sent;
      done.insert(done.end(), mine.begin(), mine.end());
      mine.clear();
      return absl::OkStatus();
    }
    absl::Status post_receive(std::span<std::byte> buffer, std::uint32_t id) override {
      net_->post_receive(rank_, buffer, id);
      return absl::OkStatus();
    }
    absl::Status poll_received(std::vector<sn::detail::ReceivedFrame>& done) override {
      net_->progress();
      auto& mine = net_->ranks_[static_cast<std::size_t>(rank_)].received;
      done.insert(done.end(), mine.begin(), mine.end());
      mine.clear();
      return absl::OkStatus();
    }
    absl::Status post_control(int destination, const sn::detail::ControlMessage& message) override {
      if (destination < 0 || destination >= size()) return absl::InvalidArgumentError("fake link: no such rank");
      if (controls_in_flight(destination) >= sn::detail::kMaxControlsInFlight) {
        return absl::ResourceExhaustedError("fake link: no control slot free");
      }
      net_->controls_.push_back(Control{rank_, destination, message});
      raise(net_->controls_in_flight_, net_->max_controls_in_flight_, {rank_, destination});
      return absl::OkStatus();
    }
    absl::Status poll_control(std::vector<sn::detail::ReceivedControl>& done) override {
      net_->deliver_controls(rank_, done);
      return absl::OkStatus();
    }
    std::size_t controls_in_flight(int destination) const noexcept override {
      return get(net_->controls_in_flight_, rank_, destination);
    }

   private:
    FakeNetwork* net_ = nullptr;
    int rank_ = 0;
  };
  struct Send {
    int source;
    int destination;
    std::span<const std::byte> bytes;
    std::uint64_t token;
    std::vector<std::byte> copy;  // eager: the network's copy, which `bytes` views
  };
  struct Posted {
    std::span<std::byte> buffer;
    std::uint32_t id;
  };
  struct Control {
    int source;
    int destination;
    sn::detail::ControlMessage message;
  };
  struct Rank {
    Link link;
    std::deque<Posted> posted;
    std::vector<std::uint64_t> sent;
    std::vector<sn::detail::ReceivedFrame> received;
    std::map<std::uint32_t, int> filled_by;  // buffer id -> the source of the frame in it
  };

  void post_send(int source, int destination, std::span<const std::byte> bytes, std::uint64_t token) {
    Send& s = sends_.emplace_back(Send{source, destination, bytes, token, {}});
    if (protocol_ == Protocol::eager) {
      s.copy.assign(bytes.begin(), bytes.end());
      s.bytes = s.copy;  // the vector's storage does not move when the Send does
      ranks_[static_cast<std::size_t>(source)].sent.push_back(token);
      raise(held_, max_held_, {source, destination});
    } else {
      raise(in_flight_, max_in_flight_, {source, destination});
    }
  }

  void post_receive(int rank, std::span<std::byte> buffer, std::uint32_t id) {
    Rank& r = ranks_[static_cast<std::size_t>(rank)];
    if (auto it = r.filled_by.find(id); it != r.filled_by.end()) {
      --held_[{it->second, rank}];
      r.filled_by.erase(it);
    }
    r.posted.push_back({buffer, id});
  }

  /// Copies each send, in order, into a posted buffer of its destination while one is free.
  void progress() {
    for (auto it = sends_.begin(); it != sends_.end();) {
      Rank& to = ranks_[static_cast<std::size_t>(it->destination)];
      if (to.posted.empty()) {
        ++it;
        continue;
      }
      const Posted p = to.posted.front();
      to.posted.pop_front();
      const std::size_t n = std::min(it->bytes.size(), p.buffer.size());
      std::memcpy(p.buffer.data(), it->bytes.data(), n);
      if (auto c = corrupt_.find({it->source, it->destination}); c != corrupt_.end() && n > 0) {
        corrupt_.erase(c);
        p.buffer[n / 2] ^= std::byte{0x10};
      }
      to.received.push_back({p.id, it->source, n, it->bytes.size() > p.buffer.size()});
      to.filled_by[p.id] = it->source;
      if (protocol_ == Protocol::rendezvous) {
        ranks_[static_cast<std::size_t>(it->source)].sent.push_back(it->token);
        --in_flight_[{it->source, it->destination}];
        raise(held_, max_held_, {it->source, it->destination});
      }
      it = sends_.erase(it);
    }
  }

  void deliver_controls(int rank, std::vector<sn::detail::ReceivedControl>& done) {
    for (auto it = controls_.begin(); it != controls_.end();) {
      if (it->destination != rank) {
        ++it;
        continue;
      }
      done.push_back({it->source, it->message});
      --controls_in_flight_[{it->source, rank}];
      ++controls_delivered_[{it->source, rank, it->message.kind}];
      it = controls_.erase(it);
    }
  }

  Protocol protocol_;
  std::vector<Rank> ranks_;
  std::deque<Send> sends_;
  std::deque<Control> controls_;
  std::multiset<Pair> corrupt_;
  std::map<Pair, std::size_t> in_flight_;
  std::map<Pair, std::size_t> max_in_flight_;
  std::map<Pair, std::size_t> held_;
  std::map<Pair, std::size_t> max_held_;
  std::map<Pair, std::size_t> controls_in_flight_;
  std::map<Pair, std::size_t> max_controls_in_flight_;
  std::map<std::tuple<int, int, sn::detail::ControlKind>, std::size_t> controls_delivered_;
};

}  // namespace sn_test
