// Must not compile: the factory takes no worker index.
#include <cstdint>
#include <memory>

#include "sn/worker_pool.h"

struct Empty {};
struct Counter : sn::Worker<Empty, std::uint64_t> {
  void handle_message(Empty&, sn::Envelope<std::uint64_t>) {}
};

int main() {
  auto pool =
      sn::WorkerPool<Counter>::create(sn::PoolConfig().with_num_workers(2), [] { return std::make_unique<Counter>(); });
  return pool.ok() ? 0 : 1;
}
