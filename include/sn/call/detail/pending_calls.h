// Internal: a worker's table of the calls it started and has not seen complete. It
// gives each call a 64-bit id for its deadline timer and its request, finds a call by
// id, and at stop fails every call still pending.
//
// A slab: slots in one array (from the given memory resource, grown by doubling), free
// slots on an intrusive free list. insert, find and take are O(1) (insert amortized).
// An id is (generation << 32 | slot index); taking a call bumps its slot's generation,
// so an id that outlived its call (a timer that fires after the reply came) never
// matches the slot's next call. Generations skip 0, so no id is 0; they repeat after
// 2^32 - 1 calls in the same slot.
//
// The table holds one reference to each call (a CallRef) until take(). In the worker's
// protocol a call leaves the table when its completion comes back through the worker's
// CallMailbox: the table's owner takes the record from the mailbox, then take()s its id.
//
// Stop: fail_all(Unavailable) completes every call that no one completed yet; those
// calls then come back through the mailbox like any other. A call whose completion was
// already under way (claimed by a reply, not yet pushed) is counted as `in_flight`: the
// owner must keep taking from its mailbox until the table is empty before it destroys
// the mailbox (whose destructor then waits for the last pushes to leave it).
//
// Threads: one owner thread (the worker's); nothing here is shared, so no atomics (debug
// builds check that no two threads use a table at once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sn/call/detail/call_state.h"
#include "sn/detail/check.h"

namespace sn::detail {

/// Names one call in one PendingCalls table; 0 names none.
struct CallId {
  std::uint64_t value = 0;
  bool valid() const noexcept { return value != 0; }
  friend bool operator==(CallId, CallId) = default;
};

/// What fail_all did.
struct FailAllCounts {
  std::size_t failed = 0;     ///< Calls it completed with the status.
  std::size_t in_flight = 0;  ///< Calls another thread had completed first (their records are on their way).
};

class PendingCalls {
 public:
  explicit PendingCalls(std::pmr::memory_resource* memory = std::pmr::get_default_resource()) : slots_(memory) {}
  PendingCalls(const PendingCalls&) = delete;
  PendingCalls& operator=(const PendingCalls&) = delete;
  /// Drops the references still held (the owner should have emptied the table first).
  ~PendingCalls() {
    for (Slot& s : slots_) CallRef::adopt(s.call).reset();
  }

  /// Adds `call` and gives it its id (also stored as the record's table_id). On success
  /// the table owns the reference; when there is no memory, returns an invalid id and
  /// leaves `call` with the caller.
  [[nodiscard]] CallId insert(CallRef& call) noexcept;
  /// The call that `id` names, or null when it was taken (or never was). Not owning.
  CallStateBase* find(CallId id) const noexcept {
    const Slot* s = slot_of(id);
    return s == nullptr ? nullptr : s->call;
  }
  /// Removes the call that `id` names and hands over the table's reference (empty when none).
  CallRef take(CallId id) noexcept;
  /// Completes every call still pending with `error` (see the file comment). A call's
  /// sink runs inside and must not re-enter the table (a mailbox's sink does not).
  FailAllCounts fail_all(const absl::Status& error) noexcept;

  /// Calls in the table.
  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }

 private:
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
  struct Slot {
    CallStateBase* call = nullptr;  // owned reference; null when free
    std::uint32_t generation = 1;
    std::uint32_t next_free = kNoSlot;
  };
  static CallId make_id(std::uint32_t index, std::uint32_t generation) noexcept {
    return CallId{std::uint64_t{generation} << 32 | index};
  }
  const Slot* slot_of(CallId id) const noexcept {
    const auto index = static_cast<std::uint32_t>(id.value);
    if (index >= slots_.size()) return nullptr;
    const Slot& s = slots_[index];
    return s.call != nullptr && s.generation == static_cast<std::uint32_t>(id.value >> 32) ? &s : nullptr;
  }

  static constexpr const char* kRole = "sn: a PendingCalls table is for its owner only, one thread at a time";

  std::pmr::vector<Slot> slots_;
  std::uint32_t free_head_ = kNoSlot;
  std::size_t live_ = 0;
  RoleGuard role_;
};

// ---------------------------------------------------------------- definitions

inline CallId PendingCalls::insert(CallRef& call) noexcept {
  [[maybe_unused]] auto role = role_.enter(kRole);
  std::uint32_t index = free_head_;
  if (index != kNoSlot) {
    free_head_ = slots_[index].next_free;
  } else {
    if (slots_.size() >= kNoSlot) return CallId{};
    try {
      slots_.emplace_back();
    } catch (const std::bad_alloc&) {
      return CallId{};
    }
    index = static_cast<std::uint32_t>(slots_.size() - 1);
  }
  Slot& s = slots_[index];
  s.call = call.leak();
  s.next_free = kNoSlot;
  ++live_;
  const CallId id = make_id(index, s.generation);
  s.call->set_table_id(id.value);
  return id;
}

inline CallRef PendingCalls::take(CallId id) noexcept {
  [[maybe_unused]] auto role = role_.enter(kRole);
  if (slot_of(id) == nullptr) return CallRef{};
  const auto index = static_cast<std::uint32_t>(id.value);
  Slot& s = slots_[index];
  CallRef ref = CallRef::adopt(std::exchange(s.call, nullptr));
  if (++s.generation == 0) s.generation = 1;
  s.next_free = free_head_;
  free_head_ = index;
  --live_;
  return ref;
}

inline FailAllCounts PendingCalls::fail_all(const absl::Status& error) noexcept {
  [[maybe_unused]] auto role = role_.enter(kRole);
  FailAllCounts counts;
  for (Slot& s : slots_) {
    if (s.call == nullptr) continue;
    if (s.call->fail(error) == CompleteResult::completed) {
      ++counts.failed;
    } else {
      ++counts.in_flight;
    }
  }
  return counts;
}

}  // namespace sn::detail
