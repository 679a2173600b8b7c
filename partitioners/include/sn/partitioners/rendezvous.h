// RendezvousPartitioner: highest-random-weight hashing, for pools that grow and shrink.
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

/// Rendezvous hashing ("A Name-Based Mapping Scheme for Rendezvous", Thaler and Ravishankar,
/// 1996), also called highest random weight: every worker gets a weight for the key, and
/// the heaviest worker owns it. The weight of worker `id` for `key` is
/// `stable_hash(stable_hash(key) ^ seed(id))`, with `seed(id)` a stable mix of the id, so
/// the mapping depends only on the key and the set of worker ids, the same in every
/// process and on every machine. The seeds of distinct ids differ and stable_hash is a
/// bijection, so two workers never weigh the same; were they to, the smaller id would win.
///
/// Workers have ids below 2^31, the same ids ConsistentHashPartitioner takes.
/// add_worker() and remove_worker() work for any of them, and only keys of the changed
/// worker move: adding one moves about 1/(n+1) of the keys, all of them to the new
/// worker, and removing one moves only its own keys. No key moves between two workers
/// that both survive. Keys spread as evenly as HashPartitioner spreads them.
///
/// A lookup weighs every worker: O(n) for n workers, one 64-bit mix each over a
/// contiguous array of seeds, with no branch but the loop's. It needs 12 bytes per
/// worker and no index, so it is cheaper than ConsistentHashPartitioner to build and to
/// copy, and costs more per key once the pool has more than a few workers (see
/// docs/partitioners.md).
///
/// As a Partitioner, (key, n) returns the owner's position among the current workers in
/// ascending id order (n must equal size(); the pool keeps them in step).
///
/// Threads: lookups are const and may run concurrently; add_worker and remove_worker
/// must not run while anybody looks up. It models ResizablePartitioner: with_worker()
/// and without_worker() return a resized copy and leave the original as it is.
class RendezvousPartitioner {
 public:
  /// Identifies a worker.
  using WorkerId = std::uint32_t;
  /// The first id that is too large: ids run from 0 to 2^31 - 1.
  static constexpr WorkerId kIdLimit = WorkerId{1} << 31;

  /// Workers 0..workers-1 (at most kIdLimit of them; a larger count is taken as
  /// kIdLimit). With 0 workers no worker owns a key and owner() returns 0 until
  /// add_worker() adds one. Throws std::bad_alloc when the seeds do not fit in memory.
  explicit RendezvousPartitioner(std::size_t workers) {
    const std::size_t n = std::min<std::size_t>(workers, kIdLimit);
    members_.reserve(n);
    seeds_.reserve(n);
    for (std::size_t w = 0; w < n; ++w) {
      members_.push_back(static_cast<WorkerId>(w));
      seeds_.push_back(seed_of(static_cast<WorkerId>(w)));
    }
  }

  /// Adds a worker; AlreadyExists if it is there, InvalidArgument for an id of 2^31 or
  /// more. On std::bad_alloc nothing has changed.
  absl::Status add_worker(WorkerId id) {
    if (id >= kIdLimit) {
      return absl::InvalidArgumentError(absl::StrCat("sn::RendezvousPartitioner: worker id ", id, " is too large"));
    }
    const auto it = std::lower_bound(members_.begin(), members_.end(), id);
    if (it != members_.end() && *it == id) {
      return absl::AlreadyExistsError(absl::StrCat("sn::RendezvousPartitioner: worker ", id, " is already a member"));
    }
    const auto at = it - members_.begin();
    // Room first: once both have it, neither insertion can throw.
    members_.reserve(members_.size() + 1);
    seeds_.reserve(seeds_.size() + 1);
    members_.insert(members_.begin() + at, id);
    seeds_.insert(seeds_.begin() + at, seed_of(id));
    return absl::OkStatus();
  }

  /// Removes a worker; NotFound if it is not there, FailedPrecondition for the last one.
  absl::Status remove_worker(WorkerId id) {
    const auto it = std::lower_bound(members_.begin(), members_.end(), id);
    if (it == members_.end() || *it != id) {
      return absl::NotFoundError(absl::StrCat("sn::RendezvousPartitioner: worker ", id, " is not a member"));
    }
    if (members_.size() == 1) {
      return absl::FailedPreconditionError("sn::RendezvousPartitioner: cannot remove the last worker");
    }
    const auto at = it - members_.begin();
    members_.erase(it);
    seeds_.erase(seeds_.begin() + at);
    return absl::OkStatus();
  }

  /// A copy with worker `id` added, this one unchanged. InvalidArgument for an id of
  /// 2^31 or more, AlreadyExists if it is there, ResourceExhausted without memory.
  absl::StatusOr<RendezvousPartitioner> with_worker(std::size_t id) const { return resized(id, /*removing=*/false); }

  /// A copy with worker `id` removed, this one unchanged. InvalidArgument for an id of
  /// 2^31 or more, NotFound if it is not there, FailedPrecondition for the last one,
  /// ResourceExhausted without memory.
  absl::StatusOr<RendezvousPartitioner> without_worker(std::size_t id) const { return resized(id, /*removing=*/true); }

  /// The id of the worker that owns `key` (0 without workers).
  WorkerId owner(std::uint64_t key) const noexcept { return members_.empty() ? WorkerId{0} : members_[heaviest(key)]; }

  /// The owner's position among the workers in ascending id order.
  std::size_t operator()(std::uint64_t key, std::size_t /*workers*/) const noexcept { return heaviest(key); }

  /// The number of workers.
  std::size_t size() const noexcept { return members_.size(); }
  /// Whether worker `id` is a member (false for ids of 2^31 or more).
  bool contains(std::size_t id) const noexcept {
    return id < kIdLimit && std::binary_search(members_.begin(), members_.end(), static_cast<WorkerId>(id));
  }
  /// Their ids, in ascending order.
  const std::vector<WorkerId>& workers() const noexcept { return members_; }

 private:
  /// The position of the heaviest worker for `key` (0 without workers). Ascending ids
  /// and a strict comparison: on a tie the smaller id keeps the key.
  std::size_t heaviest(std::uint64_t key) const noexcept {
    const std::uint64_t h = stable_hash(key);
    std::uint64_t best = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < seeds_.size(); ++i) {
      const std::uint64_t w = stable_hash(h ^ seeds_[i]);
      const bool heavier = w > best;
      best = heavier ? w : best;
      at = heavier ? i : at;
    }
    return at;
  }

  /// Distinct ids give distinct seeds: an odd multiple, then a bijective mix.
  static constexpr std::uint64_t seed_of(WorkerId id) noexcept {
    return stable_hash((std::uint64_t{id} + 1) * 0x9e3779b97f4a7c15ULL);
  }

  // with_worker / without_worker: the id is checked before it is narrowed to WorkerId
  // (2^32 must not become 0), and only the copy changes.
  absl::StatusOr<RendezvousPartitioner> resized(std::size_t id, bool removing) const {
    if (id >= kIdLimit) {
      return absl::InvalidArgumentError(absl::StrCat("sn::RendezvousPartitioner: worker id ", id, " is too large"));
    }
    try {
      RendezvousPartitioner next = *this;
      const auto worker = static_cast<WorkerId>(id);
      absl::Status s = removing ? next.remove_worker(worker) : next.add_worker(worker);
      if (!s.ok()) return s;
      return next;
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("sn::RendezvousPartitioner: no memory for the resized copy");
    }
  }

  std::vector<WorkerId> members_;     // ascending
  std::vector<std::uint64_t> seeds_;  // seeds_[i] == seed_of(members_[i])
};
static_assert(Partitioner<RendezvousPartitioner>);
static_assert(ResizablePartitioner<RendezvousPartitioner>);

}  // namespace sn
