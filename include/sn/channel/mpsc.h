// MPSC: a bounded multi-producer, single-consumer channel.
//
// Create with sn::Channel<T>::mpsc(capacity). Capacity is rounded up to a power of two.
//
// Threads:
//   - MpscSender<T> is copyable; give each producer thread its own copy. Copies keep the
//     channel open; dropping the last one closes it.
//   - MpscReceiver<T> is move-only; all receives come from one thread at a time.
//   - close(), stats(), capacity() and is_closed() may be called from any thread holding a handle.
//   - Dropping the sender (the last sender) closes the channel; the receiver drains what is
//     left. Dropping the receiver closes it and destroys the values still inside at once.
//
// Ordering: FIFO per producer. Values from one producer (one thread using its handle)
// are received in the order it sent them; values from different producers interleave
// in the order they claimed slots. This is not a global FIFO across producers that do
// not synchronize with each other.
//
// Progress: a producer claims a slot with one compare-and-swap, then constructs and
// publishes it. A producer preempted between claim and publish delays the consumer
// (which sees `empty`) until it runs again; nothing is lost.
//
// Memory ordering:
//   Everything a producer did before a successful `try_send(x)` happens-before
//   everything the consumer does after the receive that returns x (release store and
//   acquire load of the slot's sequence word). The consumer's receive happens-before
//   any producer's reuse of that slot (release store of the head index; producers
//   acquire it, or acquire the producers' shared cached copy that was stored with
//   release). A close sets a bit in the claim index with one atomic RMW, so a claim and
//   a close cannot cross: a receiver that sees `closed` has received every value whose
//   send returned `ok`.
#pragma once

#include "sn/channel/handles.h"  // the contract above is for these handles
