// Must compile: every form of WorkerPool<W>::create that the docs promise. The positive
// control of the compile-fail tests beside it (tests/CMakeLists.txt): the same compiler,
// flags and include folders accept correct code, so their refusals are the code's.
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
  const sn::PoolConfig config = sn::PoolConfig().with_num_workers(2);
  auto make = [](std::size_t) { return std::make_unique<Counter>(); };
  auto by_value = [](std::size_t) { return Counter{}; };  // aggregate initialization
  bool ok = sn::WorkerPool<Counter>::create(config).ok();
  ok &= sn::WorkerPool<Counter>::create(config, make).ok();
  ok &= sn::WorkerPool<Counter>::create(config, by_value).ok();
  ok &= sn::WorkerPool<Counter>::create(config, sn::ConsistentHashPartitioner(2)).ok();
  ok &= sn::WorkerPool<Counter>::create(config, sn::HashPartitioner{}, make).ok();
  ok &= sn::WorkerPool<Counter>::create(config, sn::ConsistentHashPartitioner(2), by_value).ok();
  return ok ? 0 : 1;
}
