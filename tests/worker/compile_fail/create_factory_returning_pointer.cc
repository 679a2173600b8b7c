// Must not compile: the factory returns a raw pointer, neither W nor std::unique_ptr<W>.
#include <cstddef>
#include <cstdint>

#include "sn/worker_pool.h"

struct Empty {};
struct Counter : sn::Worker<Empty, std::uint64_t> {
  void handle_message(Empty&, sn::Envelope<std::uint64_t>) {}
};

int main() {
  auto pool =
      sn::WorkerPool<Counter>::create(sn::PoolConfig().with_num_workers(2), [](std::size_t) { return new Counter(); });
  return pool.ok() ? 0 : 1;
}
