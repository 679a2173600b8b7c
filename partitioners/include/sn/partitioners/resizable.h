// ResizablePartitioner: what a partitioner offers so that a pool can add and remove
// workers while it runs.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace sn {

/// A partitioner over a changing set of workers named by ids, which a running pool can
/// resize: it looks keys up by worker id, and it makes copies of itself with one worker
/// more or one fewer.
///
/// Lookups:
/// - `owner(key)` is the id of the worker that owns `key`. It is const, and any number
///   of threads may call it at once (on the same object or on copies) while nobody
///   changes that object. It is a function of the partitioner's members and the key:
///   copies agree, and so do two partitioners with the same members.
/// - Ids are pool slots: worker id `i` is the pool's worker `i`, so `owner()` names the
///   slot to send to. While `size() > 0`, `owner()` returns a member's id; with no
///   members it must still return (its value then means nothing).
/// - `size()` is the number of members; `contains(id)` tells whether `id` is one of them
///   (false, not an error, for any id the partitioner cannot hold).
///
/// Resizing: `with_worker(id)` and `without_worker(id)` are const and return a changed
/// copy; the original never changes, whatever they return. Their errors:
/// - `with_worker` of a member: AlreadyExists;
/// - `without_worker` of an id that is not a member: NotFound; of the last member:
///   FailedPrecondition (a partitioner keeps at least one worker once it has one);
/// - an id above the largest the partitioner can hold: InvalidArgument, from both;
/// - no memory for the copy: ResourceExhausted, or std::bad_alloc propagates.
///
/// Movement: only the keys of the worker that comes or goes are expected to change
/// owner. Adding a worker to n should move about 1/(n+1) of the keys, all of them to
/// it; removing one should move only its keys; no key should move between two workers
/// that are members before and after. A pool relies on this only for efficiency (the
/// state it hands from worker to worker during a resize), never for correctness: it
/// moves the state of every key whose owner changes, however many there are.
template <class P>
concept ResizablePartitioner = std::copy_constructible<P> && std::move_constructible<P> &&
    requires(const P& p, std::uint64_t key, std::size_t slot) {
  { p.owner(key) } -> std::convertible_to<std::size_t>;
  { p.size() } -> std::convertible_to<std::size_t>;
  { p.contains(slot) } -> std::convertible_to<bool>;
  { p.with_worker(slot) } -> std::same_as<absl::StatusOr<P>>;
  { p.without_worker(slot) } -> std::same_as<absl::StatusOr<P>>;
};

}  // namespace sn
