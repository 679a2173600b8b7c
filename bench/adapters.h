// One thin adapter per queue under test, all with the contract described in harness.h.
// Each adapter forwards to the queue's own non-blocking calls and adds nothing else, so
// that the harness loops (identical for every queue) measure the queue alone.
//
//   sn              sn::Channel<u64>::spsc / mpsc / mpmc(1024); try_send / try_recv,
//                   send_batch / recv_batch.
//   boost_lockfree  SPSC: boost::lockfree::spsc_queue<u64, capacity<1024>> (push/pop, and
//                   push(array, n) / pop(array, n) for batches). MPSC/MPMC:
//                   boost::lockfree::queue<u64, capacity<1024>> (fixed-size node pool, so
//                   push never allocates and fails when the pool is exhausted).
//   moodycamel      moodycamel::ConcurrentQueue<u64> with a ProducerToken / ConsumerToken
//                   per thread; try_enqueue / try_dequeue and try_enqueue_bulk /
//                   try_dequeue_bulk, which never allocate. Bounded at 1024 per producer,
//                   see Moodycamel below.
//   moodycamel_unbounded  for reference only: the same queue used as designed, with
//                   enqueue / enqueue_bulk, which allocate a new block whenever the
//                   producer's sub-queue is full, so producers never wait. Not bounded,
//                   hence not comparable with the bounded queues; it shows what the
//                   1024 bound costs moodycamel.
//   tbb             tbb::concurrent_bounded_queue<u64> with set_capacity(1024);
//                   try_push / try_pop. No batch calls, so no spsc_batch case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
// GCC 12 reports flow warnings (-Wnull-dereference, -Wstringop-overflow) inside this
// system header once its code is inlined into ours; they are about moodycamel's code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#include <concurrentqueue/concurrentqueue.h>
#pragma GCC diagnostic pop
#include <tbb/concurrent_queue.h>

#include "harness.h"
#include "sn/channel/channel.h"

namespace snbench {

// ------------------------------------------------------------------ sn

template <sn::ChannelKind K>
class SnChannel {
 public:
  explicit SnChannel(std::size_t capacity) : ends_(sn::Channel<u64>::make<K>(capacity)) {
    if (!ends_.ok()) throw std::runtime_error(std::string(ends_.status().message()));
  }

  class Producer {
   public:
    explicit Producer(SnChannel& q) : tx_(q.take_sender()) {}
    bool try_push(u64 v) noexcept { return tx_.try_send(std::move(v)) == sn::SendResult::ok; }
    std::size_t try_push_bulk(u64* v, std::size_t n) noexcept { return tx_.send_batch(std::span<u64>(v, n)).count; }

   private:
    sn::Sender<u64, K> tx_;
  };

  class Consumer {
   public:
    explicit Consumer(SnChannel& q) : rx_(q.take_receiver()) {}
    bool try_pop(u64& v) noexcept { return rx_.try_recv(v) == sn::RecvResult::ok; }
    std::size_t try_pop_bulk(u64* v, std::size_t n) noexcept { return rx_.recv_batch(std::span<u64>(v, n)).count; }

   private:
    sn::Receiver<u64, K> rx_;
  };

 private:
  // Single-producer (single-consumer) handles are moved out, once; the others are
  // copied, one copy per thread, as the channel documentation asks.
  sn::Sender<u64, K> take_sender() {
    if constexpr (K == sn::ChannelKind::spsc) {
      return std::move(ends_.sender());
    } else {
      return ends_.sender();
    }
  }
  sn::Receiver<u64, K> take_receiver() {
    if constexpr (K == sn::ChannelKind::mpmc) {
      return ends_.receiver();
    } else {
      return std::move(ends_.receiver());
    }
  }

  typename sn::Channel<u64>::template EndpointsOf<K> ends_;
};

using SnSpsc = SnChannel<sn::ChannelKind::spsc>;
using SnMpsc = SnChannel<sn::ChannelKind::mpsc>;
using SnMpmc = SnChannel<sn::ChannelKind::mpmc>;

// ------------------------------------------------------------------ boost.lockfree

class BoostSpsc {
  using Queue_ = boost::lockfree::spsc_queue<u64, boost::lockfree::capacity<kCapacity>>;

 public:
  explicit BoostSpsc(std::size_t /*capacity: kCapacity, fixed at compile time*/) {}

  class Producer {
   public:
    explicit Producer(BoostSpsc& q) noexcept : q_(q.q_) {}
    bool try_push(u64 v) noexcept { return q_.push(v); }
    std::size_t try_push_bulk(u64* v, std::size_t n) noexcept { return q_.push(v, n); }

   private:
    Queue_& q_;
  };
  class Consumer {
   public:
    explicit Consumer(BoostSpsc& q) noexcept : q_(q.q_) {}
    bool try_pop(u64& v) noexcept { return q_.pop(v); }
    std::size_t try_pop_bulk(u64* v, std::size_t n) noexcept { return q_.pop(v, n); }

   private:
    Queue_& q_;
  };

 private:
  Queue_ q_;
};

class BoostQueue {
  // capacity<N> implies fixed_sized<true>: a node pool of N, push fails when it is empty.
  using Queue_ = boost::lockfree::queue<u64, boost::lockfree::capacity<kCapacity>>;

 public:
  explicit BoostQueue(std::size_t /*capacity: kCapacity, fixed at compile time*/) {}

  class Producer {
   public:
    explicit Producer(BoostQueue& q) noexcept : q_(q.q_) {}
    bool try_push(u64 v) noexcept { return q_.push(v); }

   private:
    Queue_& q_;
  };
  class Consumer {
   public:
    explicit Consumer(BoostQueue& q) noexcept : q_(q.q_) {}
    bool try_pop(u64& v) noexcept { return q_.pop(v); }

   private:
    Queue_& q_;
  };

 private:
  Queue_ q_;
};

// ------------------------------------------------------------------ moodycamel

/// moodycamel::ConcurrentQueue is unbounded by design: one sub-queue per producer, grown
/// a block (32 values) at a time. It is kept bounded here by (1) try_enqueue*, which
/// never allocates, (2) MAX_SUBQUEUE_SIZE = 1024, so each producer's sub-queue holds at
/// most 1024 values, and (3) a block pool preallocated for that many producers
/// (ConcurrentQueue(1024, P, 0)), so a producer can never be starved of blocks by others
/// (explicit producers keep the blocks they took). With one producer the bound is 1024,
/// as for every other queue; with P producers it is up to P x 1024 in total.
struct MoodycamelTraits : moodycamel::ConcurrentQueueDefaultTraits {
  static const std::size_t MAX_SUBQUEUE_SIZE = kCapacity;
};

/// kBounded = false is the reference-only variant: default traits and the allocating
/// enqueue, so the queue grows past 1024 instead of refusing.
template <bool kBounded>
class MoodycamelQueue {
  using Queue_ = std::conditional_t<kBounded, moodycamel::ConcurrentQueue<u64, MoodycamelTraits>,
                                    moodycamel::ConcurrentQueue<u64>>;

 public:
  /// `producers`: how many producer threads will use the queue.
  explicit MoodycamelQueue(std::size_t capacity, std::size_t producers = 1) : q_(capacity, producers, 0) {}

  class Producer {
   public:
    explicit Producer(MoodycamelQueue& q) : q_(q.q_), token_(q.q_) {}
    bool try_push(u64 v) noexcept(kBounded) {
      if constexpr (kBounded)
        return q_.try_enqueue(token_, v);
      else
        return q_.enqueue(token_, v);
    }
    std::size_t try_push_bulk(u64* v, std::size_t n) noexcept(kBounded) {
      // All or nothing.
      if constexpr (kBounded)
        return q_.try_enqueue_bulk(token_, v, n) ? n : 0;
      else
        return q_.enqueue_bulk(token_, v, n) ? n : 0;
    }

   private:
    Queue_& q_;
    moodycamel::ProducerToken token_;
  };
  class Consumer {
   public:
    explicit Consumer(MoodycamelQueue& q) : q_(q.q_), token_(q.q_) {}
    bool try_pop(u64& v) noexcept { return q_.try_dequeue(token_, v); }
    std::size_t try_pop_bulk(u64* v, std::size_t n) noexcept { return q_.try_dequeue_bulk(token_, v, n); }

   private:
    Queue_& q_;
    moodycamel::ConsumerToken token_;
  };

 private:
  Queue_ q_;
};
using Moodycamel = MoodycamelQueue<true>;
using MoodycamelUnbounded = MoodycamelQueue<false>;

// ------------------------------------------------------------------ oneTBB

class Tbb {
 public:
  explicit Tbb(std::size_t capacity) { q_.set_capacity(static_cast<std::ptrdiff_t>(capacity)); }

  class Producer {
   public:
    explicit Producer(Tbb& q) noexcept : q_(q.q_) {}
    bool try_push(u64 v) { return q_.try_push(v); }

   private:
    tbb::concurrent_bounded_queue<u64>& q_;
  };
  class Consumer {
   public:
    explicit Consumer(Tbb& q) noexcept : q_(q.q_) {}
    bool try_pop(u64& v) { return q_.try_pop(v); }

   private:
    tbb::concurrent_bounded_queue<u64>& q_;
  };

 private:
  tbb::concurrent_bounded_queue<u64> q_;
};

}  // namespace snbench
