// Internal: the failure counters of a channel's sender handles. Each handle owns one
// cell and is its only writer (no read-modify-write on the send path); stats() sums the
// live cells and what retired ones left behind.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>

#include "sn/cache_line.h"
#include "sn/channel/stats.h"

namespace sn::detail {

/// Failure counters of one sender handle. Written only by the thread using that handle
/// (plain load + store, no read-modify-write); read by stats() from any thread.
struct alignas(kFalseSharingRange) SendCounterCell {
  std::atomic<std::uint64_t> full{0};
  std::atomic<std::uint64_t> closed{0};
  std::atomic<std::uint64_t> blocked{0};
  SendCounterCell* prev = nullptr;  // guarded by the registry's mutex
  SendCounterCell* next = nullptr;

  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};
static_assert(sizeof(SendCounterCell) == kFalseSharingRange);

/// The cells of one channel: registered when a sender handle is made, retired (folded
/// into the totals) when it goes. Any thread.
class SendCounters {
 public:
  SendCounters() = default;
  SendCounters(const SendCounters&) = delete;
  SendCounters& operator=(const SendCounters&) = delete;
  ~SendCounters() {
    for (SendCounterCell* c = cells_; c != nullptr;) delete std::exchange(c, c->next);
  }

  /// A new cell for a sender handle; nullptr when out of memory.
  SendCounterCell* add() noexcept {
    auto* cell = new (std::nothrow) SendCounterCell;
    if (cell == nullptr) return nullptr;
    std::lock_guard lock(mu_);
    cell->next = cells_;
    if (cells_ != nullptr) cells_->prev = cell;
    cells_ = cell;
    return cell;
  }

  /// Folds a cell's counts into the totals and frees it.
  void retire(SendCounterCell* cell) noexcept {
    if (cell == nullptr) return;
    {
      std::lock_guard lock(mu_);
      retired_full_ += cell->full.load(std::memory_order_relaxed);
      retired_closed_ += cell->closed.load(std::memory_order_relaxed);
      retired_blocked_ += cell->blocked.load(std::memory_order_relaxed);
      if (cell->prev != nullptr) cell->prev->next = cell->next;
      if (cell->next != nullptr) cell->next->prev = cell->prev;
      if (cells_ == cell) cells_ = cell->next;
    }
    delete cell;
  }

  /// Adds the failure counts to `s`.
  void add_to(ChannelStats& s) const noexcept {
    std::lock_guard lock(mu_);
    s.send_full = retired_full_;
    s.send_closed = retired_closed_;
    s.send_blocked = retired_blocked_;
    for (const SendCounterCell* c = cells_; c != nullptr; c = c->next) {
      s.send_full += c->full.load(std::memory_order_relaxed);
      s.send_closed += c->closed.load(std::memory_order_relaxed);
      s.send_blocked += c->blocked.load(std::memory_order_relaxed);
    }
  }

 private:
  mutable std::mutex mu_;  // std::mutex: ThreadSanitizer sees it even in uninstrumented builds of dependencies
  SendCounterCell* cells_ = nullptr;   // guarded by mu_
  std::uint64_t retired_full_ = 0;     // guarded by mu_
  std::uint64_t retired_closed_ = 0;   // guarded by mu_
  std::uint64_t retired_blocked_ = 0;  // guarded by mu_
};

}  // namespace sn::detail
