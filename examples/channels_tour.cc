// A tour of the three channel kinds, verified by checksums:
//   1. pipeline   - SPSC stages moving batches: source -> square -> sink;
//   2. fan-in     - several producers into one MPSC channel drained by one writer;
//   3. work queue - an MPMC channel shared by several producers and consumers.
// Each stage prints its throughput, then a table of every channel's stats.
//
// Usage: channels_tour [messages-per-stage]   (default 20,000,000)
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sn/sn.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  std::string name;
  sn::ChannelStats stats;
};

void print_rate(const char* stage, std::uint64_t messages, Clock::time_point start, bool ok) {
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%-11s %12llu messages in %6.3f s = %7.2f M msg/s   checksum %s\n", stage,
              static_cast<unsigned long long>(messages), secs, messages / secs / 1e6,
              ok ? "ok" : "MISMATCH");
}

template <class Ends>
auto unwrap(Ends ends) {
  if (!ends.ok()) {
    std::fprintf(stderr, "channel creation failed: %s\n", ends.status().ToString().c_str());
    std::exit(2);
  }
  return ends;
}

// Source -> square -> sink over two SPSC channels, 64 values per batch.
bool pipeline(std::uint64_t n, std::vector<Row>& rows) {
  auto [to_square, square_in] = unwrap(sn::Channel<std::uint64_t>::spsc(4096));
  auto [to_sink, sink_in] = unwrap(sn::Channel<std::uint64_t>::spsc(4096));
  const auto start = Clock::now();

  std::thread source([tx = std::move(to_square), n]() mutable {
    std::array<std::uint64_t, 64> batch;
    for (std::uint64_t next = 1; next <= n;) {
      std::size_t k = 0;
      while (k < batch.size() && next <= n) batch[k++] = next++;
      std::span<std::uint64_t> pending(batch.data(), k);
      while (!pending.empty()) {  // send_batch takes what fits; back off while full
        const auto r = tx.send_batch(pending);
        if (r.status == sn::SendResult::closed) return;
        pending = pending.subspan(r.count);
        if (!pending.empty()) std::this_thread::yield();
      }
    }
  });  // dropping the sender closes the channel: downstream drains, then sees closed
  sn::ChannelStats square_in_stats;
  std::thread square([rx = std::move(square_in), tx = std::move(to_sink), &square_in_stats]() mutable {
    std::uint64_t v;
    while (rx.recv(v) == sn::RecvResult::ok) {
      if (tx.send(v * v) != sn::SendResult::ok) break;
    }
    square_in_stats = rx.stats();  // stats() works from any thread holding a handle
  });
  std::uint64_t sum = 0, count = 0, v;
  while (sink_in.recv(v) == sn::RecvResult::ok) {
    sum += v;
    ++count;
  }
  source.join();
  square.join();
  // Sum of squares 1..n = n(n+1)(2n+1)/6, modulo 2^64 like the sum above: divide
  // the factors that hold the 2 and the 3 before multiplying.
  std::uint64_t f[3] = {n, n + 1, 2 * n + 1};
  (f[0] % 2 == 0 ? f[0] : f[1]) /= 2;
  for (auto& x : f) {
    if (x % 3 == 0) {
      x /= 3;
      break;
    }
  }
  const std::uint64_t expected = f[0] * f[1] * f[2];
  const bool ok = count == n && sum == expected;
  print_rate("pipeline", n, start, ok);
  rows.push_back({"pipeline.source->square (spsc)", square_in_stats});
  rows.push_back({"pipeline.square->sink (spsc)", sink_in.stats()});
  return ok;
}

// Producers log records into one MPSC channel; one writer drains it in batches.
bool fan_in(std::uint64_t n, std::vector<Row>& rows) {
  constexpr int kProducers = 3;
  auto [log_tx, log_rx] = unwrap(sn::Channel<std::uint64_t>::mpsc(8192));
  const auto start = Clock::now();
  std::vector<std::thread> producers;
  const std::uint64_t per = n / kProducers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([tx = log_tx, p, per]() mutable {  // each producer owns a copy
      for (std::uint64_t i = 1; i <= per; ++i) {
        if (tx.send(static_cast<std::uint64_t>(p) * per + i) != sn::SendResult::ok) return;
      }
    });
  }
  log_tx = {};  // the producers' copies are now the only senders
  std::array<std::uint64_t, 256> batch;
  std::uint64_t sum = 0, count = 0;
  for (;;) {
    const auto r = log_rx.recv_batch(batch);
    if (r.status == sn::RecvResult::closed) break;
    if (r.count == 0) {
      std::uint64_t v;  // nothing ready: block for one value instead of spinning
      if (log_rx.recv(v) != sn::RecvResult::ok) break;
      sum += v;
      ++count;
      continue;
    }
    for (std::size_t i = 0; i < r.count; ++i) sum += batch[i];
    count += r.count;
  }
  for (auto& t : producers) t.join();
  const std::uint64_t total = per * kProducers;
  const bool ok = count == total && sum == total * (total + 1) / 2;
  print_rate("fan-in", total, start, ok);
  rows.push_back({"fan_in.log (mpsc)", log_rx.stats()});
  return ok;
}

// Two producers and two consumers share one MPMC work queue.
bool work_queue(std::uint64_t n, std::vector<Row>& rows) {
  constexpr int kProducers = 2, kConsumers = 2;
  auto [jobs_tx, jobs_rx] = unwrap(sn::Channel<std::uint64_t>::mpmc(4096));
  const auto start = Clock::now();
  const std::uint64_t per = n / kProducers;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> sum{0}, count{0};
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([tx = jobs_tx, p, per]() mutable {
      for (std::uint64_t i = 1; i <= per; ++i) {
        if (tx.send(static_cast<std::uint64_t>(p) * per + i) != sn::SendResult::ok) return;
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([rx = jobs_rx, &sum, &count]() mutable {
      std::uint64_t v, local_sum = 0, local_count = 0;
      while (rx.recv(v) == sn::RecvResult::ok) {
        local_sum += v;
        ++local_count;
      }
      sum.fetch_add(local_sum, std::memory_order_relaxed);
      count.fetch_add(local_count, std::memory_order_relaxed);
    });
  }
  jobs_tx = {};
  const sn::MpmcReceiver<std::uint64_t> observer = jobs_rx;  // keeps stats readable
  jobs_rx = {};
  for (auto& t : threads) t.join();
  const std::uint64_t total = per * kProducers;
  const bool ok = count.load() == total && sum.load() == total * (total + 1) / 2;
  print_rate("work-queue", total, start, ok);
  rows.push_back({"work_queue.jobs (mpmc)", observer.stats()});
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 20'000'000;
  if (argc > 1) {
    char* end = nullptr;
    n = std::strtoull(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || n == 0) {
      std::fprintf(stderr, "usage: %s [messages-per-stage > 0]\n", argv[0]);
      return 2;
    }
  }
  std::printf("shared_nothing channel tour: %llu messages per stage, %zu CPUs\n\n",
              static_cast<unsigned long long>(n), sn::allowed_cpus().size());
  std::vector<Row> rows;
  bool ok = pipeline(n, rows);
  ok = fan_in(n, rows) && ok;
  ok = work_queue(n, rows) && ok;

  std::printf("\n%-32s %12s %12s %12s %10s %11s %7s %9s\n", "channel", "sent", "received",
              "send_blocked", "send_full", "send_closed", "depth", "capacity");
  for (const Row& r : rows) {
    std::printf("%-32s %12llu %12llu %12llu %10llu %11llu %7llu %9llu\n", r.name.c_str(),
                static_cast<unsigned long long>(r.stats.sent),
                static_cast<unsigned long long>(r.stats.received),
                static_cast<unsigned long long>(r.stats.send_blocked),
                static_cast<unsigned long long>(r.stats.send_full),
                static_cast<unsigned long long>(r.stats.send_closed),
                static_cast<unsigned long long>(r.stats.approx_depth),
                static_cast<unsigned long long>(r.stats.capacity));
  }
  std::printf("\n%s\n", ok ? "all checksums match" : "CHECKSUM MISMATCH");
  return ok ? 0 : 1;
}
