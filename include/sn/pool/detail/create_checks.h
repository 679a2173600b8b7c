// Internal: what WorkerPool<W>::create asks of its arguments, checked at compile time.
//
// Each check is one branch of an `if constexpr` chain, so a misuse stops at one
// static_assert that names the fix, and create() then instantiates nothing that would
// add errors of its own. The checks are function templates whose parameters are the
// types involved, so the compiler's "In instantiation of" note names them.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include "sn/partitioners/partitioner.h"
#include "sn/partitioners/resizable.h"

namespace sn::detail {

/// P can route a pool's keys: a plain or a resizable partitioner.
template <class P>
concept AnyPartitioner = Partitioner<P> || ResizablePartitioner<P>;

/// F can make worker `index`: callable as f(std::size_t).
template <class F>
concept IndexCallable = requires(std::decay_t<F>& f, std::size_t index) {
  f(index);
};

/// What a factory called with a worker index returns.
template <class F>
using FactoryResult = std::invoke_result_t<std::decay_t<F>&, std::size_t>;

/// The factory's result is one create() takes: W by value or std::unique_ptr<W>.
template <class W, class Made>
inline constexpr bool kMakesWorker = std::is_same_v<Made, W> || std::is_same_v<Made, std::unique_ptr<W>>;

/// True when a factory returning Made makes workers of type W; otherwise a static_assert
/// fails, and its instantiation note names Made.
template <class W, class Made>
constexpr bool factory_makes_worker() {
  static_assert(kMakesWorker<W, Made>,
                "sn::WorkerPool::create: the factory must return std::unique_ptr<W> (std::make_unique<W>(...)) "
                "or W by value (return W{...};); it returns Made (named in the notes)");
  return kMakesWorker<W, Made>;
}

/// True when create(config, partitioner, factory) may go on; otherwise one static_assert
/// fails, naming the fix.
template <class W, class P, class Factory>
constexpr bool create_arguments_ok() {
  if constexpr (!AnyPartitioner<P> && IndexCallable<P> && AnyPartitioner<std::decay_t<Factory>>) {
    static_assert(AnyPartitioner<P>,
                  "sn::WorkerPool::create: the partitioner and the factory are swapped; "
                  "write create(config, partitioner, factory)");
    return false;
  } else if constexpr (!AnyPartitioner<P>) {
    static_assert(AnyPartitioner<P>,
                  "sn::WorkerPool::create: the second of three arguments must be a partitioner "
                  "(sn::Partitioner: p(key, n) -> index, or sn::ResizablePartitioner); to pass only a factory, "
                  "write create(config, factory)");
    return false;
  } else if constexpr (!IndexCallable<Factory>) {
    static_assert(IndexCallable<Factory>,
                  "sn::WorkerPool::create: the factory must be callable with the worker's index, as "
                  "factory(std::size_t), and return std::unique_ptr<W> or W (the second of two arguments may "
                  "instead be a partitioner: sn::Partitioner or sn::ResizablePartitioner)");
    return false;
  } else {
    return factory_makes_worker<W, FactoryResult<Factory>>();
  }
}

/// True when create(config) and create(config, partitioner) may make each worker with
/// W's default constructor; otherwise a static_assert fails, naming the fix.
template <class W>
constexpr bool default_constructible_worker() {
  static_assert(std::is_default_constructible_v<W>,
                "sn::WorkerPool::create: without a factory each worker is made with W's default constructor, "
                "and W has none; pass a factory returning std::unique_ptr<W>: create(config, factory) or "
                "create(config, partitioner, factory)");
  return std::is_default_constructible_v<W>;
}

}  // namespace sn::detail
