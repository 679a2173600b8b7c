// ConsistentHashPartitioner: a hash ring with virtual nodes, for pools that grow and shrink.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sn/partitioners/key.h"
#include "sn/partitioners/partitioner.h"
#include "sn/partitioners/resizable.h"

namespace sn {

/// Consistent hashing on a ring of 64-bit points. Each worker owns `virtual_nodes`
/// points; a key belongs to the worker of the first point at or after the key's stable
/// hash (wrapping around).
///
/// Workers have ids. add_worker() and remove_worker() work for any id, and only keys of
/// the changed worker move: adding one moves about 1/(n+1) of the keys, all of them to
/// the new worker, and removing one moves only its own keys. No key moves between two
/// workers that both survive. The points depend only on (worker id, virtual node), so
/// every process and machine builds the same ring.
///
/// As a Partitioner, (key, n) returns the owner's position among the current workers in
/// ascending id order (n must equal size(); the pool keeps them in step). Lookups go
/// through a bucket index over the ring, with 4 to 8 buckets per point: a bucket that
/// holds no point names its owner outright (most lookups: one table read), the others
/// give the first point to step from.
///
/// Threads: lookups are const and may run concurrently; add_worker and remove_worker
/// must not run while anybody looks up (a running pool resizes through its own protocol).
///
/// It models ResizablePartitioner: with_worker() and without_worker() return a resized
/// copy and leave the original as it is.
class ConsistentHashPartitioner {
 public:
  /// Identifies a worker on the ring.
  using WorkerId = std::uint32_t;
  /// Points per worker on the ring unless the constructor is given another count.
  static constexpr std::size_t kDefaultVirtualNodes = 150;

  /// Workers 0..workers-1. A `virtual_nodes` of 0 means 1. With 0 workers the ring owns
  /// no key and owner() returns 0 until add_worker() adds one.
  explicit ConsistentHashPartitioner(std::size_t workers, std::size_t virtual_nodes = kDefaultVirtualNodes)
      : virtual_nodes_(virtual_nodes == 0 ? 1 : virtual_nodes) {
    for (std::size_t w = 0; w < workers; ++w) (void)add_worker(static_cast<WorkerId>(w));
    if (ring_.empty()) index_.assign(2, kOwnerBit);  // owner() reads index_[h >> 63]: in range, no point
  }

  /// Adds a worker; AlreadyExists if it is there, InvalidArgument for an id of 2^31 or more.
  absl::Status add_worker(WorkerId id) {
    if (id >= kOwnerBit) {
      return absl::InvalidArgumentError(absl::StrCat("sn::ConsistentHashPartitioner: worker id ", id, " is too large"));
    }
    if (std::binary_search(members_.begin(), members_.end(), id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("sn::ConsistentHashPartitioner: worker ", id, " is already on the ring"));
    }
    members_.insert(std::upper_bound(members_.begin(), members_.end(), id), id);
    for (std::size_t v = 0; v < virtual_nodes_; ++v) {
      const Point p{point_of(id, v), id};
      ring_.insert(std::upper_bound(ring_.begin(), ring_.end(), p), p);
    }
    rebuild_index();
    return absl::OkStatus();
  }

  /// Removes a worker; NotFound if it is not there, FailedPrecondition for the last one.
  absl::Status remove_worker(WorkerId id) {
    const auto it = std::lower_bound(members_.begin(), members_.end(), id);
    if (it == members_.end() || *it != id) {
      return absl::NotFoundError(absl::StrCat("sn::ConsistentHashPartitioner: worker ", id, " is not on the ring"));
    }
    if (members_.size() == 1) {
      return absl::FailedPreconditionError("sn::ConsistentHashPartitioner: cannot remove the last worker");
    }
    members_.erase(it);
    std::erase_if(ring_, [id](const Point& p) { return p.worker == id; });
    rebuild_index();
    return absl::OkStatus();
  }

  /// The id of the worker that owns `key` (0 on a ring without workers).
  WorkerId owner(std::uint64_t key) const noexcept {
    const std::uint64_t h = stable_hash(key);
    const std::uint32_t entry = index_[h >> index_shift_];
    if (entry & kOwnerBit) [[likely]]
      return entry & ~kOwnerBit;  // no point in h's bucket
    // The first point at or after the bucket's start: a step or two reach the first at
    // or after h.
    std::size_t i = entry;
    while (i < ring_.size() && ring_[i].at < h) ++i;
    return i == ring_.size() ? ring_.front().worker : ring_[i].worker;
  }

  /// The owner's position among the workers in ascending id order.
  std::size_t operator()(std::uint64_t key, std::size_t /*workers*/) const noexcept {
    const WorkerId id = owner(key);
    return static_cast<std::size_t>(std::lower_bound(members_.begin(), members_.end(), id) - members_.begin());
  }

  /// The number of workers on the ring.
  std::size_t size() const noexcept { return members_.size(); }
  /// Whether worker `id` is on the ring (false for ids of 2^31 or more).
  bool contains(std::size_t id) const noexcept {
    return id < kOwnerBit && std::binary_search(members_.begin(), members_.end(), static_cast<WorkerId>(id));
  }

  /// A copy with worker `id` added, this ring unchanged. InvalidArgument for an id of
  /// 2^31 or more, AlreadyExists if it is there, ResourceExhausted without memory.
  absl::StatusOr<ConsistentHashPartitioner> with_worker(std::size_t id) const {
    return resized(id, /*removing=*/false);
  }
  /// A copy with worker `id` removed, this ring unchanged. InvalidArgument for an id of
  /// 2^31 or more, NotFound if it is not there, FailedPrecondition for the last one,
  /// ResourceExhausted without memory.
  absl::StatusOr<ConsistentHashPartitioner> without_worker(std::size_t id) const {
    return resized(id, /*removing=*/true);
  }
  /// Their ids, in ascending order.
  const std::vector<WorkerId>& workers() const noexcept { return members_; }
  /// Points per worker on the ring.
  std::size_t virtual_nodes() const noexcept { return virtual_nodes_; }

 private:
  struct Point {
    std::uint64_t at;
    WorkerId worker;
    friend bool operator<(const Point& a, const Point& b) noexcept {
      return a.at != b.at ? a.at < b.at : a.worker < b.worker;
    }
  };

  // with_worker / without_worker: the id is checked before it is narrowed to WorkerId
  // (2^32 must not become 0), and only the copy changes.
  absl::StatusOr<ConsistentHashPartitioner> resized(std::size_t id, bool removing) const {
    if (id >= kOwnerBit) {
      return absl::InvalidArgumentError(absl::StrCat("sn::ConsistentHashPartitioner: worker id ", id, " is too large"));
    }
    try {
      ConsistentHashPartitioner next = *this;
      const auto worker = static_cast<WorkerId>(id);
      absl::Status s = removing ? next.remove_worker(worker) : next.add_worker(worker);
      if (!s.ok()) return s;
      return next;
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("sn::ConsistentHashPartitioner: no memory for the resized ring");
    }
  }

  static std::uint64_t point_of(WorkerId id, std::size_t v) noexcept {
    // Distinct (id, v) pairs give distinct inputs, and stable_hash is bijective.
    return stable_hash((std::uint64_t{id} << 32) ^ static_cast<std::uint64_t>(v) ^ 0x9e3779b97f4a7c15ULL);
  }

  /// A bucket is a range of hashes sharing their top bits, with 4 to 8 buckets per point.
  /// index_[b] is the owner of every hash in bucket b, tagged with kOwnerBit, when no
  /// point lies inside the bucket (then the first point after it owns the whole bucket);
  /// else the index of the first point at or after the bucket's start.
  void rebuild_index() {
    int bits = 1;
    while (bits < 24 && (std::size_t{1} << bits) < ring_.size() * 4) ++bits;
    index_shift_ = 64 - bits;
    index_.assign(std::size_t{1} << bits, 0);
    std::size_t i = 0;
    for (std::size_t b = 0; b < index_.size(); ++b) {
      const std::uint64_t start = static_cast<std::uint64_t>(b) << index_shift_;
      const std::uint64_t last = start | ((std::uint64_t{1} << index_shift_) - 1);
      while (i < ring_.size() && ring_[i].at < start) ++i;
      if (i == ring_.size()) {
        index_[b] = kOwnerBit | ring_.front().worker;  // wraps round to the first point
      } else if (ring_[i].at > last) {
        index_[b] = kOwnerBit | ring_[i].worker;
      } else {
        index_[b] = static_cast<std::uint32_t>(i);
      }
    }
  }

  static constexpr std::uint32_t kOwnerBit = 1u << 31;

  std::size_t virtual_nodes_;
  std::vector<WorkerId> members_;  // ascending
  std::vector<Point> ring_;        // ascending by point
  std::vector<std::uint32_t> index_;
  int index_shift_ = 63;
};
static_assert(Partitioner<ConsistentHashPartitioner>);
static_assert(ResizablePartitioner<ConsistentHashPartitioner>);

}  // namespace sn
