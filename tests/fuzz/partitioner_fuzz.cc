// Fuzzes the partitioners.
//
// ConsistentHashPartitioner and RendezvousPartitioner, in lockstep over the same
// members: random add_worker / remove_worker, good and bad, with lookups of a growing
// sample of keys (structured ones, ones from the input, and keys that hash exactly onto
// ring points and their neighbours). Invariants, for each: every key maps to a live
// member, and its position among workers() is what operator() returns; adding a member
// moves keys only to it; removing one moves only its keys; a refused operation returns
// the documented error and changes nothing; every owner equals a reference (for the
// ring, a linear scan of the ring the header describes; for rendezvous, the heaviest
// member by the weight its header documents); with_worker / without_worker return the
// same error as the in-place operation (InvalidArgument for ids past 2^31, including
// ids that would wrap in 32 bits) or a copy that matches the resized partitioner, and
// leave the original alone. HashPartitioner, JumpHashPartitioner and
// RoundRobinPartitioner: results in [0, n) for n >= 1, jump hash moves keys only to the
// new worker as n grows, round robin goes in turn. routing_key of the same bytes is the
// same whatever holds them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fuzz_support.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/jump.h"
#include "sn/partitioners/key.h"
#include "sn/partitioners/rendezvous.h"
#include "sn/partitioners/round_robin.h"

namespace {

using WorkerId = sn::ConsistentHashPartitioner::WorkerId;
static_assert(std::is_same_v<WorkerId, sn::RendezvousPartitioner::WorkerId>);
constexpr WorkerId kFirstBadId = WorkerId{1} << 31;  // add_worker: InvalidArgument from here
static_assert(sn::RendezvousPartitioner::kIdLimit == kFirstBadId);
constexpr std::size_t kMaxSampleKeys = 512;
constexpr std::size_t kMaxOps = 512;

// ---------------------------------------------------------------- keys onto ring points

constexpr std::uint64_t inverse_of_odd(std::uint64_t c) noexcept {
  std::uint64_t x = c;  // Newton's iteration doubles the correct low bits each round
  for (int i = 0; i < 6; ++i) x *= 2 - c * x;
  return x;
}

/// The key whose stable_hash is `h` (stable_hash is a bijection).
constexpr std::uint64_t key_hashing_to(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= inverse_of_odd(0xc4ceb9fe1a85ec53ULL);
  h ^= h >> 33;
  h *= inverse_of_odd(0xff51afd7ed558ccdULL);
  h ^= h >> 33;
  return h;
}
static_assert(sn::stable_hash(key_hashing_to(12345)) == 12345);
static_assert(sn::stable_hash(key_hashing_to(~std::uint64_t{0})) == ~std::uint64_t{0});

/// Where worker `id`'s virtual node `v` sits on the ring. This mirrors the private
/// ConsistentHashPartitioner::point_of; the reference owner below depends on it, so
/// change both together.
constexpr std::uint64_t ring_point(WorkerId id, std::size_t v) noexcept {
  return sn::stable_hash((std::uint64_t{id} << 32) ^ static_cast<std::uint64_t>(v) ^ 0x9e3779b97f4a7c15ULL);
}

/// Worker `id`'s weight for `key`, as rendezvous.h documents it.
constexpr std::uint64_t rendezvous_weight(std::uint64_t key, WorkerId id) noexcept {
  return sn::stable_hash(sn::stable_hash(key) ^ sn::stable_hash((std::uint64_t{id} + 1) * 0x9e3779b97f4a7c15ULL));
}

// ---------------------------------------------------------------- consistent hashing and rendezvous

/// A key's owner by each partitioner.
struct Owners {
  WorkerId ring = 0;
  WorkerId hrw = 0;
  friend bool operator==(const Owners&, const Owners&) = default;
};
std::string to_string(const Owners& o) {
  return "ring " + std::to_string(o.ring) + ", rendezvous " + std::to_string(o.hrw);
}

/// What with_worker / without_worker returned, before the in-place operation ran.
struct Copies {
  absl::StatusOr<sn::ConsistentHashPartitioner> ring;
  absl::StatusOr<sn::RendezvousPartitioner> hrw;
};

class RingHarness {
 public:
  explicit RingHarness(sn::fuzz::Bytes& in) : in_(in), ring_(make_ring()), hrw_(initial_) {
    for (WorkerId w = 0; w < initial_; ++w) members_.push_back(w);
    rebuild_points();
    SN_FUZZ_EQ(ring_.virtual_nodes(), vnodes_ == 0 ? std::size_t{1} : vnodes_, "virtual_nodes()");
    for (std::uint64_t k = 0; k < 16; ++k) keys_.push_back(k);
    keys_.push_back(~std::uint64_t{0});
    keys_.push_back(key_hashing_to(0));                  // hashes to the very start of the ring
    keys_.push_back(key_hashing_to(~std::uint64_t{0}));  // and to its very end
    for (WorkerId w : members_) add_point_keys(w);
    owners_ = lookup_all();
  }

  void run() {
    for (std::size_t op = 0; op < kMaxOps && !in_.empty(); ++op) {
      switch (in_.u8() % 8) {
        case 0: add(in_.u8() % 48); break;
        case 1: add(special_id()); break;
        case 2: remove(in_.u8() % 48); break;
        case 3: remove(special_id()); break;
        case 4: add_then_remove(in_.u8() % 64); break;
        case 5: add_key(in_.u64()); break;
        case 6: add_key(key_hashing_to(in_.u64())); break;
        default: {
          // A key from the input that hashes to a bucket boundary of a small index.
          const std::uint64_t boundary = std::uint64_t{in_.u8()} << (64 - 8);
          add_key(key_hashing_to(boundary - (in_.u8() & 1u)));
          break;
        }
      }
    }
  }

 private:
  sn::ConsistentHashPartitioner make_ring() {
    initial_ = in_.u8() % 6;  // 0: an empty ring, filled by add_worker
    const std::uint8_t b = in_.u8();
    vnodes_ = b == 0 ? 0 : b == 255 ? sn::ConsistentHashPartitioner::kDefaultVirtualNodes : 1 + b % 40;
    return sn::ConsistentHashPartitioner(initial_, vnodes_);
  }

  void rebuild_points() {
    points_.clear();
    for (WorkerId w : members_) {
      for (std::size_t v = 0; v < effective_vnodes(); ++v) points_.emplace_back(ring_point(w, v), w);
    }
    std::sort(points_.begin(), points_.end());
  }
  std::size_t effective_vnodes() const noexcept { return vnodes_ == 0 ? 1 : vnodes_; }

  WorkerId special_id() noexcept {
    switch (in_.u8() % 6) {
      case 0: return kFirstBadId - 1;  // the largest valid id
      case 1: return kFirstBadId;
      case 2: return kFirstBadId + in_.u8();
      case 3: return ~WorkerId{0};
      case 4: return in_.u32();
      default: return in_.u8();
    }
  }

  bool is_member(WorkerId id) const { return std::binary_search(members_.begin(), members_.end(), id); }

  void add_point_keys(WorkerId id) {
    for (std::size_t v = 0; v < effective_vnodes() && keys_.size() + 3 <= kMaxSampleKeys; v += 1 + v / 4) {
      const std::uint64_t p = ring_point(id, v);
      keys_.push_back(key_hashing_to(p));
      keys_.push_back(key_hashing_to(p - 1));
      keys_.push_back(key_hashing_to(p + 1));
    }
  }

  void add_key(std::uint64_t key) {
    if (keys_.size() >= kMaxSampleKeys) return;
    keys_.push_back(key);
    owners_.push_back(check_lookup(key));
  }

  /// The owner by the header's definition: the worker of the first point at or after
  /// the key's hash, wrapping around; equal points go to the lower id.
  WorkerId reference_owner(std::uint64_t key) const {
    const auto it =
        std::lower_bound(points_.begin(), points_.end(), std::pair<std::uint64_t, WorkerId>(sn::stable_hash(key), 0));
    return it == points_.end() ? points_.front().second : it->second;
  }

  /// The rendezvous owner by its header's definition: the heaviest member, the lower id
  /// on a tie.
  WorkerId reference_hrw_owner(std::uint64_t key) const {
    WorkerId best = members_.front();
    std::uint64_t heaviest = rendezvous_weight(key, best);
    for (WorkerId id : members_) {
      const std::uint64_t w = rendezvous_weight(key, id);
      if (w > heaviest) {
        best = id;
        heaviest = w;
      }
    }
    return best;
  }

  /// Checks one partitioner's answer for `key` against the model and the reference.
  template <class P>
  void check_answer(const P& p, std::uint64_t key, WorkerId owner, WorkerId reference, const char* name) const {
    SN_FUZZ_CHECK(is_member(owner), std::string(name) + ": key " + std::to_string(key) + " maps to " +
                                        std::to_string(owner) + ", which is not a member");
    const std::size_t position = p(key, p.size());
    SN_FUZZ_CHECK(position < p.size(), std::string(name) + ": operator() returned a position out of range");
    SN_FUZZ_EQ(p.workers()[position], owner, std::string(name) + ": the worker at operator()'s position");
    SN_FUZZ_EQ(owner, reference, std::string(name) + ": owner of key " + std::to_string(key));
  }

  /// Both owners of `key`, checked. Without `check_hrw` only the ring's answer is: after
  /// a refused operation the rendezvous owners need only equal those checked before (its
  /// reference costs a weight per member and key).
  Owners check_lookup(std::uint64_t key, bool check_hrw = true) const {
    const Owners owners{ring_.owner(key), hrw_.owner(key)};
    if (members_.empty()) {  // both headers: without workers, owner() answers 0
      SN_FUZZ_EQ(owners, Owners{}, "owner without workers");
      return owners;
    }
    check_answer(ring_, key, owners.ring, reference_owner(key), "ConsistentHashPartitioner");
    if (check_hrw) check_answer(hrw_, key, owners.hrw, reference_hrw_owner(key), "RendezvousPartitioner");
    return owners;
  }

  std::vector<Owners> lookup_all(bool check_hrw = true) const {
    std::vector<Owners> owners;
    owners.reserve(keys_.size());
    for (std::uint64_t k : keys_) owners.push_back(check_lookup(k, check_hrw));
    return owners;
  }

  void check_members() const {
    SN_FUZZ_EQ(ring_.size(), members_.size(), "ConsistentHashPartitioner::size()");
    SN_FUZZ_CHECK(ring_.workers() == members_, "ConsistentHashPartitioner::workers() differs from the members added");
    SN_FUZZ_EQ(hrw_.size(), members_.size(), "RendezvousPartitioner::size()");
    SN_FUZZ_CHECK(hrw_.workers() == members_, "RendezvousPartitioner::workers() differs from the members added");
  }

  /// After a refused operation: nothing changed.
  void check_unchanged() const {
    check_members();
    const std::vector<Owners> now = lookup_all(/*check_hrw=*/false);
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      SN_FUZZ_EQ(now[i], owners_[i], "owner of key " + std::to_string(keys_[i]) + " after a refused operation");
    }
  }

  /// with_worker(id) or without_worker(id) on both, which must answer `want` (from the
  /// in-place operation's model) and leave the originals alone; an id past 32 bits must
  /// be refused, not wrapped onto a small one.
  Copies copies(WorkerId id, bool removing, absl::StatusCode want) const {
    const std::string what = std::string(removing ? "without_worker(" : "with_worker(") + std::to_string(id) + ")";
    Copies c{removing ? ring_.without_worker(id) : ring_.with_worker(id),
             removing ? hrw_.without_worker(id) : hrw_.with_worker(id)};
    SN_FUZZ_EQ(c.ring.status().code(), want, "ConsistentHashPartitioner::" + what);
    SN_FUZZ_EQ(c.hrw.status().code(), want, "RendezvousPartitioner::" + what);
    const std::size_t wide = std::size_t{id} | (std::size_t{1} << 32);
    const absl::Status ring_wide = (removing ? ring_.without_worker(wide) : ring_.with_worker(wide)).status();
    const absl::Status hrw_wide = (removing ? hrw_.without_worker(wide) : hrw_.with_worker(wide)).status();
    SN_FUZZ_EQ(ring_wide.code(), absl::StatusCode::kInvalidArgument, "ConsistentHashPartitioner: an id past 32 bits");
    SN_FUZZ_EQ(hrw_wide.code(), absl::StatusCode::kInvalidArgument, "RendezvousPartitioner: an id past 32 bits");
    SN_FUZZ_CHECK(!ring_.contains(wide) && !hrw_.contains(wide), "contains() of an id past 32 bits");
    check_members();  // the originals
    return c;
  }

  /// The copies made before a successful operation agree with its result (on every
  /// fourth key of the sample: the copy went through the same add_worker/remove_worker).
  void check_copies(const Copies& c, const std::vector<Owners>& now) const {
    SN_FUZZ_CHECK(c.ring.ok() && c.hrw.ok(), "a copy was refused where the operation succeeded");
    SN_FUZZ_CHECK(c.ring->workers() == members_, "ConsistentHashPartitioner: the copy's workers()");
    SN_FUZZ_CHECK(c.hrw->workers() == members_, "RendezvousPartitioner: the copy's workers()");
    for (std::size_t i = 0; i < keys_.size(); i += 4) {
      SN_FUZZ_EQ((Owners{c.ring->owner(keys_[i]), c.hrw->owner(keys_[i])}), now[i],
                 "the copy's owner of key " + std::to_string(keys_[i]));
    }
  }

  void add(WorkerId id) {
    const absl::StatusCode want = id >= kFirstBadId ? absl::StatusCode::kInvalidArgument
                                  : is_member(id)   ? absl::StatusCode::kAlreadyExists
                                                    : absl::StatusCode::kOk;
    const Copies c = copies(id, /*removing=*/false, want);
    const std::string what = "add_worker(" + std::to_string(id) + ")";
    SN_FUZZ_EQ(ring_.add_worker(id).code(), want, "ConsistentHashPartitioner::" + what);
    SN_FUZZ_EQ(hrw_.add_worker(id).code(), want, "RendezvousPartitioner::" + what);
    if (want != absl::StatusCode::kOk) {
      check_unchanged();
      return;
    }
    members_.insert(std::upper_bound(members_.begin(), members_.end(), id), id);
    rebuild_points();
    check_members();
    const bool was_empty = members_.size() == 1;
    add_point_keys(id);
    const std::vector<Owners> now = lookup_all();
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (was_empty || i >= owners_.size()) continue;
      SN_FUZZ_CHECK(
          (now[i].ring == owners_[i].ring || now[i].ring == id) && (now[i].hrw == owners_[i].hrw || now[i].hrw == id),
          "adding " + std::to_string(id) + " moved key " + std::to_string(keys_[i]) + " from " + to_string(owners_[i]) +
              " to " + to_string(now[i]));
    }
    check_copies(c, now);
    owners_ = now;
  }

  void remove(WorkerId id) {
    const absl::StatusCode want = !is_member(id)         ? absl::StatusCode::kNotFound
                                  : members_.size() == 1 ? absl::StatusCode::kFailedPrecondition
                                                         : absl::StatusCode::kOk;
    // The copies take a size_t and call an id past 2^31 invalid rather than missing.
    const Copies c = copies(id, /*removing=*/true, id >= kFirstBadId ? absl::StatusCode::kInvalidArgument : want);
    const std::string what = "remove_worker(" + std::to_string(id) + ")";
    SN_FUZZ_EQ(ring_.remove_worker(id).code(), want, "ConsistentHashPartitioner::" + what);
    SN_FUZZ_EQ(hrw_.remove_worker(id).code(), want, "RendezvousPartitioner::" + what);
    if (want != absl::StatusCode::kOk) {
      check_unchanged();
      return;
    }
    members_.erase(std::lower_bound(members_.begin(), members_.end(), id));
    rebuild_points();
    check_members();
    const std::vector<Owners> now = lookup_all();
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      SN_FUZZ_CHECK(now[i].ring != id && now[i].hrw != id, "a key still maps to the removed worker");
      const std::string key = "removing " + std::to_string(id) + ": owner of key " + std::to_string(keys_[i]);
      if (owners_[i].ring != id) SN_FUZZ_EQ(now[i].ring, owners_[i].ring, "ConsistentHashPartitioner, " + key);
      if (owners_[i].hrw != id) SN_FUZZ_EQ(now[i].hrw, owners_[i].hrw, "RendezvousPartitioner, " + key);
    }
    check_copies(c, now);
    owners_ = now;
  }

  /// Both depend only on their members: adding a worker and removing it again gives
  /// back every owner.
  void add_then_remove(WorkerId id) {
    if (is_member(id) || members_.empty()) return;
    const std::vector<Owners> before = owners_;
    add(id);
    remove(id);
    for (std::size_t i = 0; i < before.size(); ++i) {
      SN_FUZZ_EQ(owners_[i], before[i], "owner after adding and removing " + std::to_string(id));
    }
  }

  sn::fuzz::Bytes& in_;
  std::size_t initial_ = 0;
  std::size_t vnodes_ = 0;
  sn::ConsistentHashPartitioner ring_;
  sn::RendezvousPartitioner hrw_;                           // the same members as ring_, through the same operations
  std::vector<WorkerId> members_;                           // the model: ascending ids
  std::vector<std::uint64_t> keys_;                         // the sample
  std::vector<Owners> owners_;                              // their owners after the last operation
  std::vector<std::pair<std::uint64_t, WorkerId>> points_;  // the reference ring, ascending
};

// ---------------------------------------------------------------- the stateless partitioners

std::size_t worker_count(sn::fuzz::Bytes& in) {
  switch (in.u8() % 6) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 1 + in.u8();
    case 3: return 1 + std::size_t{in.u16()};
    case 4: return in.u32();
    default: return static_cast<std::size_t>(in.u64());
  }
}

void check_stateless(sn::fuzz::Bytes& in) {
  const std::uint64_t key = in.u64();
  const std::size_t n = worker_count(in);
  const sn::HashPartitioner hash;
  const sn::JumpHashPartitioner jump;
  const sn::RoundRobinPartitioner round_robin;
  if (n == 0) {
    // Outside the Partitioner contract (n > 0); must merely not crash or hit UB.
    (void)hash(key, 0);
    (void)jump(key, 0);
    (void)round_robin(key, 0);
    return;
  }
  const std::string what = "key " + std::to_string(key) + " among " + std::to_string(n) + " workers";
  const std::size_t h = hash(key, n);
  SN_FUZZ_CHECK(h < n, "HashPartitioner: " + what + " gave " + std::to_string(h));
  SN_FUZZ_EQ(hash(key, n), h, "HashPartitioner is a function: " + what);
  const std::size_t j = jump(key, n);
  SN_FUZZ_CHECK(j < n, "JumpHashPartitioner: " + what + " gave " + std::to_string(j));
  SN_FUZZ_EQ(jump(key, n), j, "JumpHashPartitioner is a function: " + what);
  if (n < ~std::size_t{0}) {
    const std::size_t grown = jump(key, n + 1);
    SN_FUZZ_CHECK(grown == j || grown == n, "JumpHashPartitioner: growing to " + std::to_string(n + 1) + " moved " +
                                                what + " from " + std::to_string(j) + " to " + std::to_string(grown));
  }
  const std::size_t r1 = round_robin(key, n);
  const std::size_t r2 = round_robin(key, n);
  SN_FUZZ_CHECK(r1 < n && r2 < n, "RoundRobinPartitioner out of range: " + what);
  SN_FUZZ_EQ(r2, r1 + 1 == n ? 0 : r1 + 1, "RoundRobinPartitioner goes in turn");
}

void check_routing_keys(sn::fuzz::Bytes& in) {
  const std::string s = in.str(64);
  const std::uint64_t want = sn::stable_hash_bytes(s);
  SN_FUZZ_EQ(sn::routing_key(s), want, "routing_key(std::string)");
  SN_FUZZ_EQ(sn::routing_key(std::string_view(s)), want, "routing_key(std::string_view)");
  // The same bytes at another address and alignment.
  std::vector<unsigned char> shifted(s.size() + 7);
  const std::size_t offset = in.u8() % 8;
  shifted.resize(s.size() + offset);
  std::copy(s.begin(), s.end(), shifted.begin() + static_cast<std::ptrdiff_t>(offset));
  const std::span<const unsigned char> bytes(shifted.data() + offset, s.size());
  SN_FUZZ_EQ(sn::routing_key(bytes), want, "routing_key(span) of the same bytes");
  const std::string copy(s);
  SN_FUZZ_EQ(sn::routing_key(copy), want, "routing_key of a copy");
  const std::uint64_t x = in.u64();
  SN_FUZZ_EQ(sn::routing_key(x), x, "routing_key of an integer is the integer");
  const auto narrow = static_cast<std::int32_t>(x);
  SN_FUZZ_EQ(sn::routing_key(narrow), static_cast<std::uint64_t>(narrow), "routing_key(std::int32_t)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sn::fuzz::Bytes in(data, size);
  switch (in.u8() % 4) {
    case 0:
    case 1: RingHarness(in).run(); break;
    case 2:
      for (int i = 0; i < 64 && !in.empty(); ++i) check_stateless(in);
      break;
    default:
      for (int i = 0; i < 16 && !in.empty(); ++i) check_routing_keys(in);
      break;
  }
  return 0;
}
