// A contention harness: P producers send values encoding (producer, sequence) through
// one channel to C consumers; every consumer checks that each producer's sequence
// increases, and the test checks afterwards that every value arrived exactly once and
// that counts, sums and xors match.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {

enum class Transfer {
  send_and_recv,           ///< send() / recv_for(); the last sender copy dropped closes
  batch,                   ///< send_batch() / recv_batch(), polling; the last sender dropped closes
  try_send_and_consume,    ///< try_send() / consume(), polling; the last sender dropped closes
  blocking_send_and_recv,  ///< send() / recv() with no deadline; the last producer calls close()
};

inline const char* to_string(Transfer t) {
  switch (t) {
    case Transfer::send_and_recv: return "send/recv_for";
    case Transfer::batch: return "send_batch/recv_batch";
    case Transfer::try_send_and_consume: return "try_send/consume";
    case Transfer::blocking_send_and_recv: return "send/recv";
  }
  return "?";
}

struct DeliveryPlan {
  int producers = 1;
  int consumers = 1;
  std::uint64_t per_producer = 10000;
  std::size_t capacity = 8;
  Transfer transfer = Transfer::send_and_recv;
  ChannelOptions options{};
  /// Producers stop early (each after a prefix of its sequence) when this runs out.
  absl::Duration time_box = stress_time_box();
};

inline std::string describe(const DeliveryPlan& plan) {
  std::ostringstream s;
  s << plan.producers << "x" << plan.consumers << ", " << plan.per_producer << " per producer, capacity "
    << plan.capacity << ", " << to_string(plan.transfer) << ", spin " << plan.options.wait.spin_iterations << " yield "
    << plan.options.wait.yield_iterations;
  return s.str();
}

constexpr std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) noexcept { return producer << 32 | seq; }

/// What one consumer saw.
struct ConsumerLog {
  std::vector<std::uint8_t> seen;  // [producer * per_producer + seq]: how often
  std::vector<std::int64_t> last;  // last sequence seen per producer
  std::uint64_t count = 0, sum = 0, xor_all = 0, out_of_order = 0, foreign = 0;
  bool stalled = false;
  bool overflowed = false;  // received more values than were sent: the consumer gave up

  bool received_more_than(std::uint64_t total) const noexcept { return count + foreign > total; }

  ConsumerLog(int producers, std::uint64_t per_producer)
      : seen(static_cast<std::size_t>(producers) * per_producer, 0),
        last(static_cast<std::size_t>(producers), -1),
        per_producer_(per_producer) {}

  void record(std::uint64_t v) noexcept {
    const std::uint64_t p = v >> 32, s = v & 0xffffffffu;
    if (p >= last.size() || s >= per_producer_) {
      ++foreign;
      return;
    }
    if (static_cast<std::int64_t>(s) <= last[p]) ++out_of_order;
    last[p] = static_cast<std::int64_t>(s);
    std::uint8_t& n = seen[p * per_producer_ + s];
    if (n < 255) ++n;
    ++count;
    sum += v;
    xor_all ^= v;
  }

 private:
  std::uint64_t per_producer_;
};

/// What a producer saw. It sends the sequence 0, 1, ... up to per_producer values, or
/// fewer when the time box runs out: `sent` is the length of the prefix it sent.
struct ProducerLog {
  std::uint64_t sent = 0;
  std::uint64_t full = 0;  // try_send/send_batch attempts refused as full
  bool refused = false;    // a send returned closed (only legitimate after a stall)
};

struct DeliveryOutcome {
  std::vector<ConsumerLog> consumers;
  std::vector<ProducerLog> producers;
  bool watchdog_fired = false;
  ChannelStats stats;
};

/// Runs the plan on a channel of kind K. Threads: plan.producers + plan.consumers.
template <ChannelKind K>
DeliveryOutcome run_delivery(const DeliveryPlan& plan) {
  using Tx = Sender<std::uint64_t, K>;
  using Rx = Receiver<std::uint64_t, K>;
  if constexpr (K == ChannelKind::spsc) {
    EXPECT_EQ(plan.producers, 1);
  }
  if constexpr (K != ChannelKind::mpmc) {
    EXPECT_EQ(plan.consumers, 1);
  }
  const auto P = static_cast<std::size_t>(plan.producers);
  const auto C = static_cast<std::size_t>(plan.consumers);
  const std::uint64_t N = plan.per_producer;
  const bool blocking = plan.transfer == Transfer::blocking_send_and_recv;
  const absl::Duration stall = stall_limit();

  DeliveryOutcome out;
  out.producers.resize(P);
  for (std::size_t c = 0; c < C; ++c) out.consumers.emplace_back(plan.producers, N);

  auto ch = open<std::uint64_t, K>(plan.capacity, plan.options);
  std::vector<Tx> txs;
  std::vector<Rx> rxs;
  if constexpr (K == ChannelKind::spsc) {
    txs.push_back(std::move(ch.tx));
  } else {
    for (std::size_t p = 0; p < P; ++p) txs.push_back(ch.tx);  // copies
    { auto gone = std::move(ch.tx); }                          // only the producers' copies keep it open
  }
  if constexpr (K == ChannelKind::mpmc) {
    for (std::size_t c = 0; c < C; ++c) rxs.push_back(ch.rx);
    { auto gone = std::move(ch.rx); }
  } else {
    rxs.push_back(std::move(ch.rx));
  }
  // For blocking runs the handles stay here (the watchdog may close through them) and
  // the last producer closes the channel; otherwise each thread owns and drops its handle.
  std::atomic<std::size_t> producers_left{P};
  StartGate gate;
  std::optional<Watchdog> watchdog;
  if (blocking) watchdog.emplace(stall, [&] { rxs[0].close(); });
  auto tick = [&] {
    if (watchdog) watchdog->tick();
  };

  {
    std::vector<std::jthread> threads;
    for (std::size_t p = 0; p < P; ++p) {
      threads.emplace_back([&, p] {
        Tx owned;
        if (!blocking) owned = std::move(txs[p]);
        Tx& tx = blocking ? txs[p] : owned;
        ProducerLog& log = out.producers[p];
        gate.arrive_and_wait();
        const TimeBox box(plan.time_box);
        switch (plan.transfer) {
          case Transfer::send_and_recv:
          case Transfer::blocking_send_and_recv:
            for (std::uint64_t s = 0; s < N && !box.over(s); ++s) {
              if (tx.send(encode(p, s)) != SendResult::ok) {
                log.refused = true;
                break;
              }
              ++log.sent;
              tick();
            }
            break;
          case Transfer::batch: {
            std::array<std::uint64_t, 13> buf{};
            std::size_t size = 1 + p;  // vary the batch size: 1..13
            for (std::uint64_t s = 0; s < N && !log.refused && (s == 0 || !box.over_now());) {
              size = size % buf.size() + 1;
              const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(size, N - s));
              for (std::size_t i = 0; i < k; ++i) buf[i] = encode(p, s + i);
              std::span<std::uint64_t> pending(buf.data(), k);
              while (!pending.empty()) {
                const SendBatchResult r = tx.send_batch(pending);
                if (r.status == SendResult::closed) {
                  log.refused = true;
                  break;
                }
                log.sent += r.count;
                pending = pending.subspan(r.count);
                if (r.status == SendResult::full) {
                  ++log.full;
                  std::this_thread::yield();
                }
              }
              s += k;
            }
            break;
          }
          case Transfer::try_send_and_consume:
            for (std::uint64_t s = 0; s < N && !box.over(s);) {
              const SendResult r = tx.try_send(encode(p, s));
              if (r == SendResult::ok) {
                ++log.sent;
                ++s;
              } else if (r == SendResult::full) {
                ++log.full;
                std::this_thread::yield();
              } else {
                log.refused = true;
                break;
              }
            }
            break;
        }
        if (blocking) {
          if (producers_left.fetch_sub(1, std::memory_order_acq_rel) == 1) tx.close();
        } else {
          Tx gone = std::move(owned);  // dropping the last copy disconnects
        }
      });
    }
    for (std::size_t c = 0; c < C; ++c) {
      threads.emplace_back([&, c] {
        Rx owned;
        if (!blocking) owned = std::move(rxs[c]);
        Rx& rx = blocking ? rxs[c] : owned;
        ConsumerLog& log = out.consumers[c];
        gate.arrive_and_wait();
        absl::Time last_progress = absl::Now();
        auto stalled = [&] {
          if (absl::Now() - last_progress <= stall) return false;
          log.stalled = true;
          rx.close();  // wakes producers blocked on a full channel
          return true;
        };
        // After a batch receive or a consume: note progress, or finish on close or a
        // stall, or yield before trying again. Returns whether the consumer is done.
        auto is_done_after_batch = [&](RecvResult status) {
          if (status == RecvResult::ok) {
            last_progress = absl::Now();
          } else if (status == RecvResult::closed || stalled()) {
            return true;
          } else {
            std::this_thread::yield();
          }
          return false;
        };
        std::array<std::uint64_t, 16> buf{};
        for (bool done = false; !done;) {
          if (log.received_more_than(N * P)) {  // a broken channel invents values; stop
            log.overflowed = true;
            rx.close();
            break;
          }
          switch (plan.transfer) {
            case Transfer::blocking_send_and_recv: {
              std::uint64_t v = 0;
              if (rx.recv(v) == RecvResult::ok) {
                log.record(v);
                tick();
              } else {
                done = true;
              }
              break;
            }
            case Transfer::send_and_recv: {
              std::uint64_t v = 0;
              const RecvResult r = rx.recv_for(v, stall);
              if (r == RecvResult::ok) {
                log.record(v);
              } else {
                if (r == RecvResult::timeout) {
                  log.stalled = true;
                  rx.close();
                }
                done = true;
              }
              break;
            }
            case Transfer::batch: {
              const RecvBatchResult r = rx.recv_batch(std::span(buf));
              for (std::size_t i = 0; i < r.count; ++i) log.record(buf[i]);
              done = is_done_after_batch(r.status);
              break;
            }
            case Transfer::try_send_and_consume: {
              const RecvBatchResult r = rx.consume(16, [&](std::uint64_t&& v) { log.record(v); });
              done = is_done_after_batch(r.status);
              break;
            }
          }
        }
      });
    }
    gate.open_when(plan.producers + plan.consumers);
  }  // joins every thread
  if (watchdog) {
    watchdog->stop();
    out.watchdog_fired = watchdog->fired();
  }
  if (blocking) out.stats = rxs[0].stats();
  return out;
}

/// Checks exactly-once delivery, per-producer order, counts and checksums: every value a
/// producer's send accepted arrived exactly once, and nothing else arrived.
inline void expect_exactly_once_in_order(const DeliveryPlan& plan, const DeliveryOutcome& out) {
  SCOPED_TRACE(describe(plan));
  const std::uint64_t N = plan.per_producer;
  const auto P = static_cast<std::size_t>(plan.producers);
  EXPECT_FALSE(out.watchdog_fired) << "no progress for " << stall_limit()
                                   << ": a blocked thread was never woken (lost wake-up?)";
  std::uint64_t count = 0, sum = 0, xor_all = 0;
  for (std::size_t c = 0; c < out.consumers.size(); ++c) {
    const ConsumerLog& log = out.consumers[c];
    EXPECT_FALSE(log.stalled) << "consumer " << c << " saw nothing for " << stall_limit()
                              << " before the channel was closed (after " << log.count << " values)";
    EXPECT_FALSE(log.overflowed) << "consumer " << c << " received more values than were sent";
    EXPECT_EQ(log.out_of_order, 0u) << "consumer " << c << " saw a producer's values out of order";
    EXPECT_EQ(log.foreign, 0u) << "consumer " << c << " received values nobody sent";
    count += log.count;
    sum += log.sum;
    xor_all ^= log.xor_all;
  }
  std::uint64_t expected_count = 0, expected_sum = 0, expected_xor = 0;
  for (std::size_t p = 0; p < P; ++p) {
    const ProducerLog& log = out.producers[p];
    EXPECT_FALSE(log.refused) << "producer " << p << " was refused with `closed`";
    EXPECT_GT(log.sent, 0u) << "producer " << p << " sent nothing";
    expected_count += log.sent;
    for (std::uint64_t s = 0; s < log.sent; ++s) {
      expected_sum += encode(p, s);
      expected_xor ^= encode(p, s);
    }
  }
  EXPECT_EQ(count, expected_count) << "values received vs values whose send returned ok";
  if (plan.transfer == Transfer::blocking_send_and_recv && !out.watchdog_fired) {
    // The handles outlived the threads, so the final stats are exact.
    EXPECT_EQ(out.stats.sent, expected_count);
    EXPECT_EQ(out.stats.received, count);
    EXPECT_EQ(out.stats.approx_depth, 0u);
    EXPECT_EQ(out.stats.send_closed, 0u);
    EXPECT_EQ(out.stats.send_full, 0u) << "blocking sends that succeeded are not failures";
    EXPECT_TRUE(out.stats.closed);
  }
  if (expected_count < N * P) {  // informational: the run was cut short by its time box
    std::printf("[   NOTE   ] %s: time box of %s reached after %llu of %llu values\n", describe(plan).c_str(),
                absl::FormatDuration(plan.time_box).c_str(), static_cast<unsigned long long>(expected_count),
                static_cast<unsigned long long>(N * P));
  }
  EXPECT_EQ(sum, expected_sum);
  EXPECT_EQ(xor_all, expected_xor);
  std::uint64_t missing = 0, duplicated = 0, unsent = 0;
  std::string first_bad;
  for (std::size_t p = 0; p < P; ++p) {
    for (std::uint64_t s = 0; s < N; ++s) {
      const std::size_t i = p * N + s;
      unsigned n = 0;
      for (const ConsumerLog& log : out.consumers) n += log.seen[i];
      const unsigned expected = s < out.producers[p].sent ? 1 : 0;
      if (n == expected) continue;
      if (n == 0)
        ++missing;
      else if (expected == 0)
        ++unsent;
      else
        ++duplicated;
      if (first_bad.empty()) {
        first_bad = "producer " + std::to_string(p) + " seq " + std::to_string(s) + " received " + std::to_string(n) +
                    " times, expected " + std::to_string(expected);
      }
    }
  }
  EXPECT_EQ(missing, 0u) << first_bad;
  EXPECT_EQ(duplicated, 0u) << first_bad;
  EXPECT_EQ(unsent, 0u) << "values arrived that no send accepted; " << first_bad;
}

}  // namespace sn::test
