// Internal: a pool's timers. Every worker holds its pending timers in a 4-ary min-heap of
// (due, entry) pairs (16 bytes each; the entry, in a TimerSlab, is 32 bytes plus the
// message). Schedule is O(log n); cancel is O(1) from any thread (it flips the entry's
// state) and the holder drops cancelled entries when they reach the top, or in a sweep
// once the heap has doubled since the last one, so re-armed timeouts do not pile up.
//
// Timers scheduled from outside the pool are built in the registry's foreign slab under
// its mutex and handed to the holder through its incoming list (the same mutex), with a
// ring of its doorbell. A fired timer sends its message through the holder's own send
// path, routed when it fires, so it reaches the key's owner at that moment.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "sn/cache_line.h"
#include "sn/pool/detail/control.h"
#include "sn/pool/detail/timer_slab.h"
#include "sn/worker/timer_id.h"

namespace sn::detail {

/// Steady-clock nanoseconds: the timers' clock.
inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A pending timer as its holder's heap sees it.
struct TimerItem {
  std::int64_t due;  // steady ns
  TimerRef ref;
};
static_assert(sizeof(TimerItem) == 16);

/// Every slab of a pool (one per slot, and the foreign one last) and the lists through
/// which timers made outside the pool reach their holders.
template <class M>
class TimerRegistry {
 public:
  explicit TimerRegistry(std::size_t slots) : tag_(next_timer_tag()), incoming_(slots) {
    for (std::size_t s = 0; s <= slots; ++s) {
      slabs_.push_back(std::make_unique<TimerSlab<M>>(tag_, static_cast<std::uint32_t>(s)));
    }
  }

  TimerSlab<M>& slab(std::uint32_t number) noexcept { return *slabs_[number]; }
  TimerSlab<M>& own_slab(std::size_t slot) noexcept { return *slabs_[slot]; }
  std::uint32_t foreign() const noexcept { return static_cast<std::uint32_t>(slabs_.size() - 1); }

  /// Any thread: cancels the pending timer `id` names. Returns the slab it lived in
  /// (whose slot counts the cancellation), or -1 when it was not pending.
  std::int64_t cancel(TimerId id) noexcept {
    const std::uint32_t number = TimerIdCodec::slab(id);
    if (!id.valid() || TimerIdCodec::tag(id) != tag_ || number >= slabs_.size()) return -1;
    typename TimerSlab<M>::Entry* e = slabs_[number]->find(id);
    if (e == nullptr || !TimerSlab<M>::cancel(*e, id)) return -1;
    return number;
  }

  /// Any thread: builds a timer in the foreign slab and hands it to `holder`, if
  /// admit() (called under the lock that cancel_unclaimed takes too) allows. Returns an
  /// invalid id when refused or out of memory.
  template <class Admit>
  TimerId schedule_foreign(std::size_t holder, std::int64_t due, M&& msg, std::uint64_t key, std::int64_t period,
                           Admit&& admit) {
    std::lock_guard lock(mu_);
    if (!admit()) return TimerId{};
    try {
      // Room first, so that the push below cannot fail after the entry is taken; grown
      // geometrically (reserve(size + 1) would copy the whole list on every timer made
      // while the holder is busy: quadratic).
      std::vector<TimerItem>& items = incoming_[holder].items;
      if (items.size() == items.capacity()) items.reserve(std::max<std::size_t>(16, 2 * items.capacity()));
    } catch (const std::bad_alloc&) {
      return TimerId{};
    }
    TimerSlab<M>& s = *slabs_.back();
    const std::uint32_t index = s.allocate();
    if (index == TimerSlab<M>::kNone) return TimerId{};
    incoming_[holder].items.push_back(TimerItem{due, TimerRef{s.number(), index}});
    const TimerId id = s.publish(index, std::move(msg), key, period);
    incoming_[holder].count.store(incoming_[holder].items.size(), std::memory_order_release);
    return id;
  }

  /// The holder: whether timers wait in its incoming list (a hint; take_incoming is exact).
  bool has_incoming(std::size_t holder) const noexcept {
    return incoming_[holder].count.load(std::memory_order_acquire) != 0;
  }
  /// The holder: appends its incoming timers to `out`.
  void take_incoming(std::size_t holder, std::vector<TimerItem>& out) {
    std::lock_guard lock(mu_);
    Incoming& in = incoming_[holder];
    out.insert(out.end(), in.items.begin(), in.items.end());
    in.items.clear();
    in.count.store(0, std::memory_order_relaxed);
  }
  /// With every worker joined: cancels what never reached a holder, calling
  /// on_cancel(slab) for each; returns how many.
  template <class OnCancel>
  std::uint64_t cancel_unclaimed(OnCancel&& on_cancel) {
    std::vector<TimerItem> left;
    for (std::size_t h = 0; h < incoming_.size(); ++h) take_incoming(h, left);
    std::uint64_t cancelled = 0;
    for (const TimerItem& item : left) {
      if (release(item.ref, /*cancel=*/true)) {
        on_cancel(item.ref.slab);
        ++cancelled;
      }
    }
    return cancelled;
  }

  /// The holder: frees a timer it will not fire; with `cancel`, first cancels it if it
  /// is still pending, and returns whether it did.
  bool release(TimerRef ref, bool cancel) noexcept {
    TimerSlab<M>& s = slab(ref.slab);
    auto& e = s.entry(ref.index);
    bool cancelled = false;
    if (cancel) {
      std::uint64_t w = e.word.load(std::memory_order_acquire);
      cancelled = TimerEntry<M>::state(w) == TimerEntry<M>::kPending &&
                  e.word.compare_exchange_strong(w, (w & ~std::uint64_t{3}) | TimerEntry<M>::kCancelled,
                                                 std::memory_order_acq_rel);
    }
    if (ref.slab == foreign()) {
      std::lock_guard lock(mu_);  // the foreign slab's free list has one popper: under mu_
      s.free(ref.index);
    } else {
      s.free(ref.index);
    }
    return cancelled;
  }

 private:
  struct alignas(kFalseSharingRange) Incoming {
    std::atomic<std::size_t> count{0};  // items.size(), for the holder's cheap check
    std::vector<TimerItem> items;       // guarded by mu_
  };
  std::uint32_t tag_;
  std::vector<std::unique_ptr<TimerSlab<M>>> slabs_;
  std::mutex mu_;  // the foreign slab's allocation and every incoming list
  std::vector<Incoming> incoming_;
};

/// A 4-ary min-heap of timer items on `due`. Holder thread only.
class TimerHeap {
 public:
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const TimerItem& top() const noexcept { return items_.front(); }

  void push(TimerItem item) {
    items_.push_back(item);
    sift_up(items_.size() - 1);
  }
  TimerItem pop() noexcept {
    const TimerItem top = items_.front();
    items_.front() = items_.back();
    items_.pop_back();
    if (!items_.empty()) sift_down(0);
    return top;
  }
  /// Keeps the items for which keep(item) is true, then restores the heap. O(n).
  template <class Keep>
  void retain(Keep&& keep) {
    std::erase_if(items_, [&](const TimerItem& i) { return !keep(i); });
    for (std::size_t i = items_.size() / 4 + 1; i-- > 0;) {
      if (i < items_.size()) sift_down(i);
    }
  }
  /// Hands every item to `fn` and empties the heap.
  template <class Fn>
  void drain(Fn&& fn) {
    for (const TimerItem& i : items_) fn(i);
    items_.clear();
  }

 private:
  void sift_up(std::size_t i) noexcept {
    const TimerItem moving = items_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 4;
      if (items_[parent].due <= moving.due) break;
      items_[i] = items_[parent];
      i = parent;
    }
    items_[i] = moving;
  }
  void sift_down(std::size_t i) noexcept {
    const TimerItem moving = items_[i];
    const std::size_t n = items_.size();
    for (;;) {
      const std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      for (std::size_t c = first + 1; c < std::min(first + 4, n); ++c) {
        if (items_[c].due < items_[best].due) best = c;
      }
      if (items_[best].due >= moving.due) break;
      items_[i] = items_[best];
      i = best;
    }
    items_[i] = moving;
  }

  std::vector<TimerItem> items_;
};

/// The holder's counters that timers move.
struct OwnedCounterSet {
  OwnedCounter* scheduled;
  OwnedCounter* fired;
  OwnedCounter* expired;
};

/// One worker's timers: what its context schedules and cancels, and what its loop fires.
/// Holder thread only, but cancel(), which any thread may call through the registry.
template <class M>
class WorkerTimers {
 public:
  /// `count_cancelled(slab)` counts one cancellation against the slab's owner.
  using CountCancelled = void (*)(void* pool, std::uint32_t slab) noexcept;

  WorkerTimers(std::size_t self, TimerRegistry<M>& registry, OwnedCounterSet counters, CountCancelled count, void* pool)
      : self_(self), registry_(registry), counters_(counters), count_cancelled_(count), pool_(pool) {}
  WorkerTimers(const WorkerTimers&) = delete;
  WorkerTimers& operator=(const WorkerTimers&) = delete;

  /// Schedules `msg` for `key` in `delay_ns` (<= 0: the next iteration), repeating every
  /// `period_ns` when that is positive. An invalid id when out of memory.
  TimerId schedule(std::int64_t delay_ns, std::uint64_t key, M&& msg, std::int64_t period_ns) noexcept {
    // Here too, not only in fire_due (which runs only when a timer is due): a handler that
    // re-arms a long timeout per message would otherwise pile up its cancelled timers.
    // Before allocating, so that the entries it frees are reused at once.
    if (heap_.size() >= sweep_at_) sweep();
    TimerSlab<M>& s = registry_.own_slab(self_);
    const std::uint32_t index = s.allocate();
    if (index == TimerSlab<M>::kNone) return TimerId{};
    const std::int64_t due = steady_now_ns() + std::max<std::int64_t>(delay_ns, 0);
    try {
      heap_.push(TimerItem{due, TimerRef{s.number(), index}});
    } catch (const std::bad_alloc&) {
      s.free_unbuilt(index);
      return TimerId{};
    }
    counters_.scheduled->add(1);
    return s.publish(index, std::move(msg), key, period_ns);
  }

  /// Any thread: cancels a pending timer of this pool.
  bool cancel(TimerId id) noexcept {
    const std::int64_t slab = registry_.cancel(id);
    if (slab < 0) return false;
    count_cancelled_(pool_, static_cast<std::uint32_t>(slab));
    return true;
  }

  /// Whether timers made by other threads wait in this worker's incoming list.
  bool has_incoming() const noexcept { return registry_.has_incoming(self_); }
  /// Whether this worker holds no timer (nor any waiting in its incoming list).
  bool idle() const noexcept { return heap_.empty() && !registry_.has_incoming(self_); }
  /// The earliest due time (steady ns), or INT64_MAX; INT64_MIN while timers made by
  /// other threads wait to be taken in (the next fire_due does).
  std::int64_t next_due() const noexcept {
    if (registry_.has_incoming(self_)) return INT64_MIN;
    return heap_.empty() ? INT64_MAX : heap_.top().due;
  }
  /// Pending timers in this worker's heap (cancelled ones not yet dropped included).
  std::size_t held() const noexcept { return heap_.size(); }

  /// Fires up to `budget` timers due at `now`: fire(key, M&&) sends each message.
  /// Returns how many fired.
  template <class Fire>
  std::size_t fire_due(std::int64_t now, std::size_t budget, Fire&& fire) {
    adopt_incoming();
    std::size_t fired = 0;
    while (fired < budget && !heap_.empty() && heap_.top().due <= now) {
      const TimerItem item = heap_.pop();
      auto& e = registry_.slab(item.ref.slab).entry(item.ref.index);
      std::uint64_t w = e.word.load(std::memory_order_acquire);  // (T2)
      if (TimerEntry<M>::state(w) != TimerEntry<M>::kPending) {  // cancelled
        registry_.release(item.ref, false);
        continue;
      }
      if (e.period_ns <= 0) {
        if (!e.word.compare_exchange_strong(w, (w & ~std::uint64_t{3}) | TimerEntry<M>::kFired,
                                            std::memory_order_acq_rel)) {
          registry_.release(item.ref, false);  // cancelled just now
          continue;
        }
        const std::uint64_t key = e.key;
        M msg(std::move(e.message()));
        registry_.release(item.ref, false);
        counters_.expired->add(1);
        counters_.fired->add(1);
        ++fired;
        fire(key, std::move(msg));
        continue;
      }
      if constexpr (std::is_copy_constructible_v<M>) {
        M copy(e.message());
        // Missed periods are skipped, as Go's Ticker does: the next firing is the first
        // period boundary after now, never earlier than due + period.
        const std::int64_t periods = (now - item.due) / e.period_ns + 1;
        heap_.push(TimerItem{item.due + periods * e.period_ns, item.ref});
        counters_.fired->add(1);
        ++fired;
        fire(e.key, std::move(copy));
      }
    }
    sweep_at_ = std::min(sweep_at_, 2 * heap_.size() + kMinSweep);  // follow the heap down
    return fired;
  }

  /// At exit: cancels and frees every timer this worker holds. Returns how many were
  /// still pending (each counted as cancelled).
  std::uint64_t cancel_all() noexcept {
    adopt_incoming();
    std::uint64_t cancelled = 0;
    heap_.drain([&](const TimerItem& item) {
      if (registry_.release(item.ref, true)) {
        count_cancelled_(pool_, item.ref.slab);
        ++cancelled;
      }
    });
    return cancelled;
  }

  /// A resize removes this worker: its timers go to another worker (adopt()).
  void hand_over(std::vector<TimerItem>& out) {
    adopt_incoming();
    heap_.drain([&](const TimerItem& item) { out.push_back(item); });
  }
  /// Takes timers handed over by a removed worker.
  void adopt(const std::vector<TimerItem>& items) {
    for (const TimerItem& item : items) heap_.push(item);
  }

 private:
  void adopt_incoming() {
    if (!registry_.has_incoming(self_)) [[likely]]
      return;
    scratch_.clear();
    registry_.take_incoming(self_, scratch_);
    for (const TimerItem& item : scratch_) heap_.push(item);
    // As in schedule(): a thread outside the pool that re-arms long timeouts (cancel, then
    // send_after) must not pile up cancelled timers in a holder that makes none itself.
    if (heap_.size() >= sweep_at_) sweep();
  }
  /// Drops the cancelled entries. Called when the heap has doubled since it last held
  /// only live ones, so that a worker re-arming timeouts keeps about twice its live
  /// timers, at an amortised O(1) per schedule.
  void sweep() {
    heap_.retain([&](const TimerItem& item) {
      const auto& e = registry_.slab(item.ref.slab).entry(item.ref.index);
      if (TimerEntry<M>::state(e.word.load(std::memory_order_acquire)) == TimerEntry<M>::kPending) return true;
      registry_.release(item.ref, false);
      return false;
    });
    sweep_at_ = 2 * heap_.size() + kMinSweep;
  }

  static constexpr std::size_t kMinSweep = 64;
  std::size_t self_;
  TimerRegistry<M>& registry_;
  OwnedCounterSet counters_;
  CountCancelled count_cancelled_;
  void* pool_;
  TimerHeap heap_;
  std::vector<TimerItem> scratch_;
  std::size_t sweep_at_ = kMinSweep;  // the heap size that triggers the next sweep
};

}  // namespace sn::detail
