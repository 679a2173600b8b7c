// sn::StateHandoff: how a worker gives away the state of the keys it loses when a running
// pool grows or shrinks (WorkerPool::add_worker / remove_worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sn/partitioners/key.h"
#include "sn/pool/detail/router.h"

namespace sn {

/// What the pool reports about one resize.
struct ResizeReport {
  std::size_t worker = 0;        ///< The slot that was added or removed.
  std::uint64_t handed_off = 0;  ///< hand_off() calls: pieces of state that changed owner.
  absl::Duration paused;         ///< How long external sends waited at the gate.
  /// export_state/import_state calls that threw (also counted in PoolStats::hook_faults).
  /// The resize happened all the same; the state such a hook did not hand off or take in
  /// is lost for its keys. Under FaultPolicy::stop_pool the pool then stops.
  std::uint64_t hook_failures = 0;
  absl::Status hook_error;  ///< The first of them, or OK.
};

/// Passed to a worker's export_state hook during a resize. The worker looks at each key
/// it holds state for, and hands off those that are leaving it:
///
///   struct Counter : sn::Worker<Counts, Msg> {
///     using handoff_type = std::uint64_t;  // what one key's state travels as
///     void export_state(Counts& s, sn::StateHandoff<std::uint64_t>& out) {
///       for (auto it = s.begin(); it != s.end();) {
///         if (out.leaving(it->first)) { out.hand_off(it->first, it->second); s.erase(it++); }
///         else ++it;
///       }
///     }
///     void import_state(Counts& s, std::uint64_t key, std::uint64_t&& count) { s[key] += count; }
///   };
///
/// Keys are routing keys: the 64-bit values that messages carry in Envelope::key (for a
/// string key, sn::routing_key(string)). A value handed off for key k reaches
/// import_state(state, k, value) on new_owner(k), before that worker handles any message
/// sent after the resize. Used only on the exporting worker's thread, during the hook.
template <class T>
class StateHandoff {
 public:
  /// One key's state on its way to its new owner.
  struct Piece {
    std::size_t to;     ///< The new owner's index.
    std::uint64_t key;  ///< The routing key.
    T value;            ///< The key's state.
  };

  /// Made by the pool for one export_state call: `self` is the exporting worker's index,
  /// `next` the partitioner as it will be after the resize, and `out` collects the pieces.
  StateHandoff(std::size_t self, const detail::Router* next, std::vector<Piece>* out) noexcept
      : self_(self), next_(next), out_(out) {}
  StateHandoff(const StateHandoff&) = delete;
  StateHandoff& operator=(const StateHandoff&) = delete;

  /// This worker's index.
  std::size_t self() const noexcept { return self_; }
  /// The worker that owns `key` once the resize is done.
  std::size_t new_owner(std::uint64_t key) const noexcept { return next_->owner(key); }
  /// Whether `key` changes owner away from this worker (every key of a removed worker).
  bool leaving(std::uint64_t key) const noexcept { return new_owner(key) != self_; }
  /// With a string, byte-span or user key: as leaving(sn::routing_key(key)).
  template <class K>
  requires(!std::is_integral_v<K>) bool leaving(const K& key) const noexcept { return leaving(routing_key(key)); }

  /// Sends `value`, the state of `key`, to the key's new owner. A key that is not leaving
  /// comes back to this worker's own import_state.
  void hand_off(std::uint64_t key, T value) { out_->push_back(Piece{new_owner(key), key, std::move(value)}); }
  /// With a string, byte-span or user key: as hand_off(sn::routing_key(key), value).
  template <class K>
  requires(!std::is_integral_v<K>) void hand_off(const K& key, T value) {
    hand_off(routing_key(key), std::move(value));
  }

 private:
  std::size_t self_;
  const detail::Router* next_;
  std::vector<Piece>* out_;
};

}  // namespace sn
