// SPSC: a bounded single-producer, single-consumer channel.
//
// Create with sn::Channel<T>::spsc(capacity). Capacity is rounded up to a power of two.
//
// Threads:
//   - SpscSender<T> is move-only; all sends come from one thread at a time (the producer).
//   - SpscReceiver<T> is move-only; all receives come from one thread at a time (the consumer).
//   - close(), stats(), capacity() and is_closed() may be called from any thread holding a handle.
//
// Ordering: FIFO. Values are received in the order they were sent.
//
// Memory ordering:
//   Everything the producer did before a successful `try_send(x)` (or send, send_for,
//   send_batch) happens-before everything the consumer does after the receive that
//   returns x. The value is published by a release store of its slot's sequence word
//   and observed by an acquire load of that word; a batch is additionally published by
//   one release store of the tail index. Symmetrically, a consumer's receive
//   happens-before the producer's reuse of that slot (release/acquire on the head
//   index). A receiver that sees `closed` has observed every value whose send returned
//   `ok`: close() waits out a send in progress (a Dekker handshake) before it marks the
//   channel closed with a release store.
//
// Cost: the hot path of a send or receive is a handful of plain loads and stores and a
// compiler barrier; no read-modify-write and no system call. A wake-up system call is
// made only while the other side is parked.
#pragma once

#include "sn/channel/handles.h"  // the contract above is for these handles
