// A project outside the tree, built against the installed package.
#include <cstdio>
#include <thread>

#include "sn/sn.h"

int main() {
  auto [tx, rx] = sn::Channel<int>::mpsc(64);
  if (!tx.valid()) return 1;
  std::thread producer([tx = std::move(tx)]() mutable {
    for (int i = 1; i <= 1000; ++i) {
      if (tx.send(int{i}) != sn::SendResult::ok) std::abort();
    }
  });  // dropping tx closes the channel
  long sum = 0;
  int v = 0;
  while (rx.recv(v) == sn::RecvResult::ok) sum += v;
  producer.join();
  std::printf("consumer received sum %ld\n", sum);
  return sum == 500500 ? 0 : 1;
}
