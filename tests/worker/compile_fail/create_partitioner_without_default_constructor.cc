// Must not compile: a partitioner and no factory, for a worker that has no default
// constructor to make it with.
#include <cstdint>

#include "sn/partitioners/consistent_hash.h"
#include "sn/worker_pool.h"

struct Empty {};
struct Scaled : sn::Worker<Empty, std::uint64_t> {
  explicit Scaled(int factor) : factor(factor) {}
  void handle_message(Empty&, sn::Envelope<std::uint64_t>) {}
  int factor;
};

int main() {
  auto pool = sn::WorkerPool<Scaled>::create(sn::PoolConfig().with_num_workers(2), sn::ConsistentHashPartitioner(2));
  return pool.ok() ? 0 : 1;
}
