// Everything a worker author uses: the Worker base class, its context, envelopes, the
// tick arena and heap, timers and state hand-off. The pool itself is in sn/worker_pool.h.
#pragma once

#include "sn/worker/arena.h"
#include "sn/worker/context.h"
#include "sn/worker/envelope.h"
#include "sn/worker/handoff.h"
#include "sn/worker/heap.h"
#include "sn/worker/timer_id.h"
#include "sn/worker/worker.h"
#include "sn/worker/worker_type.h"
