// The worker pool and everything a worker author uses: the one header most programs
// include. The pool is sn::WorkerPool, in sn/pool/pool.h.
#pragma once

#include "sn/pool/config.h"
#include "sn/pool/pool.h"
#include "sn/pool/stats.h"
#include "sn/worker.h"
