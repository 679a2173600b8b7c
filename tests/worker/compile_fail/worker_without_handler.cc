// Must not compile: the worker has no handle_message (nor handle_batch).
#include <cstdint>

#include "sn/worker_pool.h"

struct Empty {};
struct Silent : sn::Worker<Empty, std::uint64_t> {};

int main() {
  auto pool = sn::WorkerPool<Silent>::create(sn::PoolConfig().with_num_workers(2));
  return pool.ok() ? 0 : 1;
}
