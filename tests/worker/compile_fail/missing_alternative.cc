// Must not compile: the worker's Message is std::variant<Ping, Pong> and it has no handler
// for Pong. The test (tests/CMakeLists.txt, worker.variant_missing_handler_names_the_alternative)
// checks that the compiler's error names Pong, and only Pong.
#include <cstdint>
#include <variant>

#include "sn/worker_pool.h"

struct Ping {
  std::uint64_t n = 0;
};
struct Pong {};
struct Empty {};

struct OnlyPings : sn::Worker<Empty, std::variant<Ping, Pong>> {
  void handle_message(Empty&, sn::Envelope<Ping>) {}
};

int main() {
  auto pool = sn::WorkerPool<OnlyPings>::create(sn::PoolConfig().with_num_workers(1));
  return pool.ok() ? 0 : 1;
}
