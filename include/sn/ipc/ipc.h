// sn::ipc: channels between processes on one machine, over shared memory. Link sn::ipc.
// See docs/ipc.md; channel.h creates and attaches, sender.h and receiver.h send and
// receive, pool_source.h feeds a pool's worker, c_api.h is the C interface.
#pragma once

#include "sn/ipc/channel.h"      // IWYU pragma: export
#include "sn/ipc/endpoint.h"     // IWYU pragma: export
#include "sn/ipc/options.h"      // IWYU pragma: export
#include "sn/ipc/pool_source.h"  // IWYU pragma: export
#include "sn/ipc/receiver.h"     // IWYU pragma: export
#include "sn/ipc/sender.h"       // IWYU pragma: export
