// Creating channels: sn::Channel<T>::spsc / mpsc / mpmc.
//
//   auto [tx, rx] = sn::Channel<Order>::mpsc(4096);
//   if (tx.try_send(std::move(order)) != sn::SendResult::ok) { /* order is still ours */ }
//
// Every channel is bounded. The requested capacity is rounded up to the next power of
// two (so that an index maps to a slot with a mask), and MPMC channels have at least two
// slots; capacity() reports the real size.
// Capacity 0, more than 2^30 slots, or a ring over 64 GiB is an InvalidArgument error;
// a ring larger than the memory available when it is created is ResourceExhausted.
// Memory is committed as slots are first written: an empty channel costs address space.
#pragma once

#include <cstddef>
#include <utility>

#include "sn/channel/endpoints.h"
#include "sn/channel/mpmc.h"
#include "sn/channel/mpsc.h"
#include "sn/channel/spsc.h"
#include "sn/channel/wait_policy.h"

namespace sn {

/// Creates bounded channels that carry values of type T. The requested capacity is rounded
/// up to the next power of two, and MPMC channels have at least two slots; capacity 0,
/// more than 2^30 slots, or a ring over 64 GiB is an InvalidArgument error; a ring larger
/// than the memory available now is ResourceExhausted.
template <class T>
struct Channel {
  /// What creating a channel of kind K returns: the status and the two handles.
  template <ChannelKind K>
  using EndpointsOf = Endpoints<Sender<T, K>, Receiver<T, K>>;

  /// A single-producer, single-consumer channel (see spsc.h).
  static EndpointsOf<ChannelKind::spsc> spsc(std::size_t capacity, const ChannelOptions& options = {}) {
    return make<ChannelKind::spsc>(capacity, options);
  }
  /// A multi-producer, single-consumer channel (see mpsc.h).
  static EndpointsOf<ChannelKind::mpsc> mpsc(std::size_t capacity, const ChannelOptions& options = {}) {
    return make<ChannelKind::mpsc>(capacity, options);
  }
  /// A multi-producer, multi-consumer channel (see mpmc.h).
  static EndpointsOf<ChannelKind::mpmc> mpmc(std::size_t capacity, const ChannelOptions& options = {}) {
    return make<ChannelKind::mpmc>(capacity, options);
  }

  /// The kind as a template argument, for generic code and typed tests.
  template <ChannelKind K>
  static EndpointsOf<K> make(std::size_t capacity, const ChannelOptions& options = {}) {
    auto ring = detail::Ring<T, K>::create(capacity, options);
    if (!ring.ok()) return EndpointsOf<K>(ring.status());
    detail::SendCounterCell* cell = (*ring)->new_counter_cell();
    EndpointsOf<K> ends(Sender<T, K>(*ring, cell), Receiver<T, K>(*ring));
    if (cell == nullptr) {
      return EndpointsOf<K>(absl::ResourceExhaustedError("sn::Channel: cannot allocate counters"));
    }  // `ends` goes out of scope and frees the ring
    return ends;
  }
};

}  // namespace sn
