// Internal: routing, from a key to the address of the worker that owns it.
//
// A pool keeps one Router. The default HashPartitioner is called inline (one
// multiply-high); any other partitioner is held behind one virtual call. A partitioner
// that models ResizablePartitioner makes the pool resizable: the resize asks the router
// for a copy with a slot added or removed, and swaps it in while the pool is quiescent.
//
// Threads: route() and owner() are const and run on every sending thread at once; the
// router changes only while a resize holds the pool quiescent (see SendGate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/partitioner.h"
#include "sn/partitioners/resizable.h"

namespace sn::detail {

/// Where a message goes. Every address is a worker of this process today; the type is
/// where a worker in another process or on another machine will be named.
struct Address {
  std::size_t worker = 0;  ///< The slot of a worker of this pool.
};

/// Maps keys to worker slots for one pool.
class Router {
 public:
  /// The stable HashPartitioner over `slots` workers.
  explicit Router(std::size_t slots) noexcept : slots_(slots) {}

  /// Any Partitioner over `slots` workers (not resizable).
  template <Partitioner P>
  static Router plain(P partitioner, std::size_t slots) {
    Router r(slots);
    r.impl_ = std::make_unique<PlainImpl<P>>(std::move(partitioner));
    return r;
  }
  /// A ResizablePartitioner, whose ids are the pool's slots (up to `slots`).
  template <ResizablePartitioner P>
  static Router resizable(P partitioner, std::size_t slots) {
    Router r(slots);
    r.impl_ = std::make_unique<ResizableImpl<P>>(std::move(partitioner));
    r.resizable_ = true;
    return r;
  }

  Router(Router&&) noexcept = default;
  Router& operator=(Router&&) = delete;

  /// Takes `next`'s partitioner, keeping everything else: what senders read outside the
  /// send gate (resizable()) is never written after creation.
  void replace(Router&& next) noexcept { impl_ = std::move(next.impl_); }

  /// The slot of the worker that owns `key`.
  std::size_t owner(std::uint64_t key) const {
    if (impl_ == nullptr) [[likely]]
      return HashPartitioner{}(key, slots_);
    return impl_->owner(key, slots_);
  }
  /// The address of the worker that owns `key`.
  Address route(std::uint64_t key) const { return Address{owner(key)}; }

  /// Whether resizes may change the routing.
  bool resizable() const noexcept { return resizable_; }
  /// Resizable only: whether slot `slot` owns keys.
  bool contains(std::size_t slot) const { return resizable_ && impl_->contains(slot); }
  /// Resizable only: how many slots own keys.
  std::size_t members() const { return resizable_ ? impl_->members() : slots_; }

  /// Resizable only: the routing with `slot` added (or removed, with Change::remove).
  enum class Change : std::uint8_t { add, remove };
  absl::StatusOr<Router> changed(std::size_t slot, Change change) const {
    if (!resizable_) return absl::FailedPreconditionError("sn::WorkerPool: this pool's partitioner cannot resize");
    try {
      absl::StatusOr<std::unique_ptr<Impl>> next = impl_->changed(slot, change);
      if (!next.ok()) return next.status();
      Router r(slots_);
      r.impl_ = std::move(*next);
      r.resizable_ = true;
      return r;
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("sn::WorkerPool: no memory for the resized partitioner");
    }
  }

 private:
  struct Impl {
    virtual ~Impl() = default;
    virtual std::size_t owner(std::uint64_t key, std::size_t slots) const = 0;
    virtual bool contains(std::size_t) const { return false; }
    virtual std::size_t members() const { return 0; }
    virtual absl::StatusOr<std::unique_ptr<Impl>> changed(std::size_t, Change) const {
      return absl::FailedPreconditionError("not resizable");
    }
  };
  template <class P>
  struct PlainImpl final : Impl {
    explicit PlainImpl(P p) : partitioner(std::move(p)) {}
    std::size_t owner(std::uint64_t key, std::size_t slots) const override {
      return static_cast<std::size_t>(partitioner(key, slots));
    }
    P partitioner;
  };
  template <class P>
  struct ResizableImpl final : Impl {
    explicit ResizableImpl(P p) : partitioner(std::move(p)) {}
    std::size_t owner(std::uint64_t key, std::size_t) const override {
      return static_cast<std::size_t>(partitioner.owner(key));
    }
    bool contains(std::size_t slot) const override { return partitioner.contains(slot); }
    std::size_t members() const override { return partitioner.size(); }
    absl::StatusOr<std::unique_ptr<Impl>> changed(std::size_t slot, Change change) const override {
      absl::StatusOr<P> next = change == Change::add ? partitioner.with_worker(slot) : partitioner.without_worker(slot);
      if (!next.ok()) return next.status();
      return std::unique_ptr<Impl>(std::make_unique<ResizableImpl>(std::move(*next)));
    }
    P partitioner;
  };

  std::size_t slots_;
  bool resizable_ = false;
  std::unique_ptr<Impl> impl_;  // null: the HashPartitioner
};

}  // namespace sn::detail
