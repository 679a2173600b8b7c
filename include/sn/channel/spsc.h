// SPSC: a bounded single-producer, single-consumer channel.
//
// Create with sn::Channel<T>::spsc(capacity). Capacity is rounded up to a power of two.
//
// Threads:
//   - SpscSender<T> is move-only; all sends come from one thread at a time (the producer).
//   - SpscReceiver<T> is move-only; all receives come from one thread at a time (the consumer).
//   - close(), stats(), capacity() and is_closed() may be called from any thread holding a handle.
//   - Dropping the sender (the last sender) closes the channel; the receiver drains what is
//     left. Dropping the receiver closes it and destroys the values still inside at once.
//
// Ordering: FIFO. Values are received in the order they were sent.
//
// Memory ordering:
//   Everything the producer did before a successful `try_send(x)` (or send, send_for,
//   send_batch) happens-before everything the consumer does after the receive that
//   returns x. The value is published by a release store of its slot's sequence word
//   (or of its line's word, see Layout) and observed by an acquire load of that word;
//   a batch is additionally published by
//   one release store of the tail index. Symmetrically, a consumer's receive
//   happens-before the producer's reuse of that slot (release/acquire on the head
//   index). A receiver that sees `closed` has observed every value whose send returned
//   `ok`: close() waits out a send in progress (a Dekker handshake) before it marks the
//   channel closed with a release store.
//
// Layout: values that are trivially copyable, at most 8 bytes and of a power-of-two size
// are packed densely, with one 64-bit word per 64-byte line (seven uint64_t, fourteen
// int32_t) saying how far the line is published; other values carry a 32-bit sequence
// word each. Either way a waiting receiver polls the line its value arrives in, and a
// batch of small values moves about half the lines it would with a word per slot.
// capacity() is the same power of two for both.
//
// Cost: the hot path of a send or receive is a handful of plain loads and stores and a
// compiler barrier; no read-modify-write and no system call. A wake-up system call is
// made only while the other side is parked.
#pragma once

#include "sn/channel/handles.h"  // the contract above is for these handles
