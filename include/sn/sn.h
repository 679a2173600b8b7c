// Every public header of shared_nothing, for code that would rather include one file.
// Only the detail/ headers, which are internals, are left out; tests/docs/check_umbrella.cmake
// fails when a public header is missing here. sn/monitoring/http_server.h needs no
// cpp-httplib header: it only declares sn::MetricsServer, so using that (not including
// it) is what needs the target sn::http. An install without sn::http has no such header,
// and then this file leaves it out.
#pragma once

#include "sn/cache_line.h"

// Parking and waiting.
#include "sn/sync/backoff.h"
#include "sn/sync/barrier.h"
#include "sn/sync/block_on.h"
#include "sn/sync/doorbell.h"
#include "sn/sync/futex.h"
#include "sn/sync/parking_lot.h"
#include "sn/sync/spin.h"

// Channels.
#include "sn/channel/channel.h"
#include "sn/channel/endpoints.h"
#include "sn/channel/handles.h"
#include "sn/channel/kind.h"
#include "sn/channel/mpmc.h"
#include "sn/channel/mpsc.h"
#include "sn/channel/receiver.h"
#include "sn/channel/result.h"
#include "sn/channel/sender.h"
#include "sn/channel/spsc.h"
#include "sn/channel/stats.h"
#include "sn/channel/wait_policy.h"

// Placement.
#include "sn/topology/affinity.h"

// Key-to-worker routing.
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/jump.h"
#include "sn/partitioners/key.h"
#include "sn/partitioners/partitioner.h"
#include "sn/partitioners/rendezvous.h"
#include "sn/partitioners/resizable.h"
#include "sn/partitioners/round_robin.h"

// Calls, workers and pools.
#include "sn/call/future.h"
#include "sn/call/reply.h"
#include "sn/pool/config.h"
#include "sn/pool/dead_letters.h"
#include "sn/pool/metrics.h"
#include "sn/pool/pool.h"
#include "sn/pool/stats.h"
#include "sn/pool/supervision.h"
#include "sn/worker.h"
#include "sn/worker/arena.h"
#include "sn/worker/context.h"
#include "sn/worker/envelope.h"
#include "sn/worker/handoff.h"
#include "sn/worker/heap.h"
#include "sn/worker/polled_source.h"
#include "sn/worker/timer_id.h"
#include "sn/worker/worker.h"
#include "sn/worker/worker_type.h"
#include "sn/worker_pool.h"

// Monitoring: the Prometheus and JSON export, and the optional HTTP endpoint.
#include "sn/monitoring/export.h"
#if __has_include("sn/monitoring/http_server.h")
#include "sn/monitoring/http_server.h"
#endif
