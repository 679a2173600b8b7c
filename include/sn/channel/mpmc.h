// MPMC: a bounded multi-producer, multi-consumer channel.
//
// Create with sn::Channel<T>::mpmc(capacity). Capacity is rounded up to a power of two.
//
// Threads:
//   - MpmcSender<T> and MpmcReceiver<T> are copyable; give each thread its own copy.
//     Dropping the last sender, or the last receiver, closes the channel. The last
//     receiver also destroys the values still inside, at once (stats().discarded).
//   - close(), stats(), capacity() and is_closed() may be called from any thread holding a handle.
//
// Ordering: FIFO per producer, as seen by each consumer. Slots are claimed in index
// order on both sides (Vyukov's bounded queue), so if one producer sends a then b, no
// consumer receives b before the consumer that receives a has claimed it. Values from
// different producers interleave in claim order. Global FIFO is not promised.
//
// Progress: producers and consumers each claim with one compare-and-swap. A thread
// preempted between claim and completion delays the threads behind it on that slot.
//
// No spurious failures: try_send returns `full` only if the channel held `capacity`
// values at some instant during the call, and try_recv returns `empty` only if it held
// none (the try operations are linearizable). When the slot a producer wants still holds
// a value that a consumer has claimed but not yet moved out -- or the slot a consumer
// wants was claimed by a producer that has not yet written it -- the caller waits for
// that thread (spinning briefly, then yielding) instead of reporting full or empty, as
// crossbeam's ArrayQueue does. So a try operation can wait for a thread preempted in
// the middle of its own operation; it never waits for room or for a value.
//
// Memory ordering:
//   Everything a producer did before a successful `try_send(x)` happens-before
//   everything the consumer does after the receive that returns x (release store and
//   acquire load of the slot's sequence word). A consumer's receive happens-before the
//   next producer's construction in that slot (the consumer stores the next lap's
//   sequence with release; the producer loads it with acquire). Close sets a bit in the
//   claim index with one atomic RMW, so a receiver that sees `closed` has had every value
//   whose send returned `ok` handed to some receiver.
#pragma once

#include "sn/channel/handles.h"  // the contract above is for these handles
