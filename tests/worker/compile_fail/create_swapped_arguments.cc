// Must not compile: the factory comes before the partitioner. The error must say so.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "sn/partitioners/consistent_hash.h"
#include "sn/worker_pool.h"

struct Empty {};
struct Counter : sn::Worker<Empty, std::uint64_t> {
  void handle_message(Empty&, sn::Envelope<std::uint64_t>) {}
};

int main() {
  auto make = [](std::size_t) { return std::make_unique<Counter>(); };
  auto pool =
      sn::WorkerPool<Counter>::create(sn::PoolConfig().with_num_workers(2), make, sn::ConsistentHashPartitioner(2));
  return pool.ok() ? 0 : 1;
}
