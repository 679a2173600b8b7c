// An in-memory network of Links for the transport's unit tests: ranks in one process and
// one thread. Like MPI's rendezvous protocol, a send completes only when it lands in a
// receive buffer that the destination has posted, so a receiver that does not poll makes
// its senders' frames stay in flight. Every poll moves what can move.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sn/cluster/detail/link.h"

namespace sn_test {

class FakeNetwork {
 public:
  explicit FakeNetwork(int ranks) : ranks_(static_cast<std::size_t>(ranks)) {
    for (int r = 0; r < ranks; ++r) ranks_[static_cast<std::size_t>(r)].link = Link(this, r);
  }
  FakeNetwork(const FakeNetwork&) = delete;
  FakeNetwork& operator=(const FakeNetwork&) = delete;

  sn::detail::Link& link(int rank) { return ranks_[static_cast<std::size_t>(rank)].link; }
  /// Flips one bit of the next frame that `source` sends to `destination`.
  void corrupt_next(int source, int destination) { corrupt_.emplace(source, destination); }
  /// The most sends from `source` to `destination` that were in flight at once.
  std::size_t max_in_flight(int source, int destination) const {
    auto it = max_in_flight_.find({source, destination});
    return it == max_in_flight_.end() ? 0 : it->second;
  }

 private:
  class Link final : public sn::detail::Link {
   public:
    Link() = default;
    Link(FakeNetwork* net, int rank) : net_(net), rank_(rank) {}
    int rank() const noexcept override { return rank_; }
    int size() const noexcept override { return static_cast<int>(net_->ranks_.size()); }
    absl::Status post_send(int destination, std::span<const std::byte> bytes, std::uint64_t token) override {
      if (destination < 0 || destination >= size()) return absl::InvalidArgumentError("fake link: no such rank");
      net_->sends_.push_back(Send{rank_, destination, bytes, token});
      std::size_t& n = net_->in_flight_[{rank_, destination}];
      ++n;
      std::size_t& most = net_->max_in_flight_[{rank_, destination}];
      most = std::max(most, n);
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
      net_->ranks_[static_cast<std::size_t>(rank_)].posted.push_back({buffer, id});
      return absl::OkStatus();
    }
    absl::Status poll_received(std::vector<sn::detail::ReceivedFrame>& done) override {
      net_->progress();
      auto& mine = net_->ranks_[static_cast<std::size_t>(rank_)].received;
      done.insert(done.end(), mine.begin(), mine.end());
      mine.clear();
      return absl::OkStatus();
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
  };
  struct Posted {
    std::span<std::byte> buffer;
    std::uint32_t id;
  };
  struct Rank {
    Link link;
    std::deque<Posted> posted;
    std::vector<std::uint64_t> sent;
    std::vector<sn::detail::ReceivedFrame> received;
  };

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
      ranks_[static_cast<std::size_t>(it->source)].sent.push_back(it->token);
      --in_flight_[{it->source, it->destination}];
      it = sends_.erase(it);
    }
  }

  std::vector<Rank> ranks_;
  std::deque<Send> sends_;
  std::multiset<std::pair<int, int>> corrupt_;
  std::map<std::pair<int, int>, std::size_t> in_flight_;
  std::map<std::pair<int, int>, std::size_t> max_in_flight_;
};

}  // namespace sn_test
