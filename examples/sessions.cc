// Sessions: per-key state that expires after an idle timeout, with the pool's timers.
//
// Each key (a user, a connection) has a session while it has traffic. Every hit re-arms
// the session's expiry: the handler cancels the pending timer and arms a new one with
// send_after(idle_timeout, key, expire). A key that stays quiet for the whole timeout
// gets its expire message, and the session closes. Nothing polls or scans the sessions:
// a worker with nothing to do parks until its earliest timer is due.
//
// What it shows:
//   - WorkerContext::send_after and cancel from a handler, and the race they leave: a
//     timer can fire just before a hit cancels it, so cancel() returns false and the
//     expire message is already on its way. Each arming carries a generation (a
//     per-worker counter, so that an expire left over from an earlier session of the
//     same key cannot close a later one), and an expire whose generation is not the
//     session's current one is stale and ignored;
//   - skewed traffic: producer threads (two) send hits for N keys in rounds of a quarter
//     of the timeout, key k in each round with a probability of about 64 / (k + 64). The
//     first keys are hit nearly every round and stay open all along; the rare ones
//     expire after each hit and open again at the next; those in between do both;
//   - tick(): each worker publishes how many sessions it has open after every batch,
//     which is how main knows when the last session has expired;
//   - the guarantees, checked at the end: every session that opened expired; none
//     expired early (the time between its last hit and its expiry is at least the
//     timeout, on the steady clock the timers use); each stale expire matches one
//     cancel that came too late; and the pool's books balance (accepted == processed +
//     failed + dropped, timers_scheduled == timers_fired + timers_cancelled, nothing
//     pending, one timer per hit).
//
// The worker's types and handler, between the markers below, are the snippet of
// docs/workers.md#timers, so that the documentation's code is compiled and run.
//
// Usage: sessions [options]
//   --keys=K         keys with sessions (default 10,000)
//   --timeout_ms=T   idle timeout of a session (default 100)
//   --traffic_ms=D   how long the producers send hits (default 1000)
//   --workers=W      pool workers (default 2, at most 64)
//   --producers=P    producer threads (default 2, at most 64)
//   --help           this text
// The ctest runs 5,000 keys. Exit code 0 only if every check passes. The lateness of
// the expiries and the sessions per key depend on scheduling and are for reading only;
// no check depends on how late a timer fires.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/worker_pool.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, keys, 10'000, "keys with sessions, 1..16777216");
ABSL_FLAG(std::uint64_t, timeout_ms, 100, "idle timeout of a session in milliseconds, 1..60000");
ABSL_FLAG(std::uint64_t, traffic_ms, 1000, "how long the producers send hits, in milliseconds, 1..3600000");
ABSL_FLAG(std::uint64_t, workers, 2, "pool workers, 1..64");
ABSL_FLAG(std::uint64_t, producers, 2, "producer threads, 1..64");

namespace {

using Clock = std::chrono::steady_clock;
using sn::examples::grouped;
using sn::examples::mix64;

// ----------------------------------------------------------------- the worker
// [docs/workers.md#timers: begin]
std::int64_t steady_ns() {  // the timers' clock
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A hit from a producer, or a session's expiry from its timer: 8 bytes, tagged.
struct Event {
  enum Kind : std::uint32_t { hit, expire };
  Kind kind = hit;
  std::uint32_t generation = 0;  // expire: which arming of the timer sent it
};
struct Session {
  std::int64_t last_ns = 0;      // its last hit
  std::uint32_t generation = 0;  // of its pending expiry
  sn::TimerId expiry;
};
struct Closed {
  std::uint64_t key;
  std::int64_t idle_ns;  // from its last hit to its expiry: never below the timeout
};
struct Open {  // a worker's State
  absl::flat_hash_map<std::uint64_t, Session> sessions;
  std::vector<Closed> closed;
  std::uint32_t armed = 0;  // timers armed so far: the next generation
  std::uint64_t hits = 0, opened = 0, late_cancels = 0, stale = 0;
};

struct SessionWorker : sn::Worker<Open, Event> {
  absl::Duration idle_timeout = absl::Milliseconds(100);

  void handle_message(Open& o, sn::Envelope<Event> e) {
    const std::int64_t now = steady_ns();
    if (e.payload.kind == Event::hit) {
      ++o.hits;
      auto [it, opened] = o.sessions.try_emplace(e.key);
      Session& s = it->second;
      if (opened) {
        ++o.opened;
      } else if (!context().cancel(s.expiry)) {
        ++o.late_cancels;  // it fired already: its expire is on the way, and stale
      }
      s.last_ns = now;
      s.generation = ++o.armed;
      s.expiry = context().send_after(idle_timeout, e.key, Event{Event::expire, s.generation});
      return;
    }
    auto it = o.sessions.find(e.key);
    if (it == o.sessions.end() || it->second.generation != e.payload.generation) {
      ++o.stale;  // a hit re-armed the session after this timer fired
      return;
    }
    o.closed.push_back(Closed{e.key, now - it->second.last_ns});
    o.sessions.erase(it);
  }
  // [docs/workers.md#timers: end]

  /// What every worker hands to main: live counts after each batch, everything at the end.
  struct alignas(64) Live {
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> open{0};
  };
  struct Report {
    explicit Report(std::size_t workers) : live(workers) {}
    std::vector<Live> live;  // [worker]
    std::mutex mu;
    std::vector<Closed> closed;  // guarded by mu, from on_stop
    std::uint64_t hits = 0, opened = 0, late_cancels = 0, stale = 0, left_open = 0;
  };

  SessionWorker(absl::Duration timeout, Report* report) : idle_timeout(timeout), report_(report) {}

  /// After every batch: main waits for every hit to be handled and no session to be
  /// open. `open` before `hits`: whoever reads the final `hits` sees an `open` at least
  /// that recent, and later ones only go down (no hit is left to open a session).
  void tick(Open& o) {
    Live& live = report_->live[context().index()];
    live.open.store(o.sessions.size(), std::memory_order_release);
    live.hits.store(o.hits, std::memory_order_release);
  }

  void on_stop(Open& o) {
    std::lock_guard lock(report_->mu);
    report_->closed.insert(report_->closed.end(), o.closed.begin(), o.closed.end());
    report_->hits += o.hits;
    report_->opened += o.opened;
    report_->late_cancels += o.late_cancels;
    report_->stale += o.stale;
    report_->left_open += o.sessions.size();
  }

 private:
  Report* report_;
};

using Pool = sn::WorkerPool<SessionWorker>;

// ----------------------------------------------------------------- the traffic

/// Key k is hit in a round with probability about 64 / (k + 64), drawn from a fixed
/// hash of (k, round): the same pattern on every run.
bool hit_in_round(std::uint64_t key, std::uint64_t round) noexcept {
  const std::uint64_t draw = mix64(key * 0x9e3779b97f4a7c15ULL ^ (round + 1)) % 1'000'000;
  return draw * (key + 64) < 64 * 1'000'000ULL;
}

/// The classes of the table: by key, that is by rate.
struct KeyClass {
  const char* name;
  std::uint64_t first, last;  // keys [first, last)
};

/// What the flags asked for; read_options() fills it, and the flags hold the defaults.
struct Options {
  std::uint64_t keys = 0;
  std::uint64_t timeout_ms = 0;
  std::uint64_t traffic_ms = 0;
  std::uint64_t workers = 0;
  std::uint64_t producers = 0;
};

/// The options from the flags, or nothing (after saying which flag is wrong).
std::optional<Options> read_options() {
  using sn::examples::read_flag;
  Options o;
  if (!read_flag(FLAGS_keys, 1, 1u << 24, o.keys) || !read_flag(FLAGS_timeout_ms, 1, 60'000, o.timeout_ms) ||
      !read_flag(FLAGS_traffic_ms, 1, 3'600'000, o.traffic_ms) || !read_flag(FLAGS_workers, 1, 64, o.workers) ||
      !read_flag(FLAGS_producers, 1, 64, o.producers)) {
    return std::nullopt;
  }
  return o;
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

/// Keys whose schedule leaves a gap of three timeouts (twelve rounds) between two hits:
/// they expire in the gap and open again.
std::uint64_t keys_with_gaps(std::uint64_t keys, std::uint64_t rounds) {
  std::uint64_t with_gaps = 0;
  for (std::uint64_t k = 0; k < keys; ++k) {
    std::uint64_t last = UINT64_MAX;
    bool gap = false;
    for (std::uint64_t r = 0; r < rounds && !gap; ++r) {
      if (!hit_in_round(k, r)) continue;
      gap = last != UINT64_MAX && r - last >= 12;
      last = r;
    }
    with_gaps += gap ? 1 : 0;
  }
  return with_gaps;
}

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

// ----------------------------------------------------------------- the run

/// One run of the example. Its members are what the phases share (the pool, what the
/// producers sent, the expiries found); each method is one phase, called in order by run().
class SessionsRun {
 public:
  explicit SessionsRun(const Options& o);

  /// Runs every phase; returns the exit status (0 only if every check holds).
  int run();

 private:
  bool create_pool();
  void start_producers();
  void produce(std::size_t p);
  void wait_for_producers();
  void wait_for_expiries();
  void progress();
  void tally();
  void print_classes() const;
  void print_expiries() const;
  void print_workers() const;
  void check_sessions(sn::examples::Checks& check) const;
  void check_timers(sn::examples::Checks& check) const;
  double late_percentile(double q) const;

  const Options o_;
  const absl::Duration timeout_;
  const std::int64_t timeout_ns_;
  // Four rounds per timeout: a key hit every round never comes near its timeout; one
  // with four rounds or more between hits expires in between (at four, it is a race).
  const std::chrono::microseconds round_;
  const std::uint64_t rounds_;
  SessionWorker::Report report_;  // outlives the pool: the workers write to it
  std::unique_ptr<Pool> pool_;

  // The producers'.
  std::vector<std::vector<std::uint32_t>> sent_;  // [producer][key]: hits sent
  std::atomic<std::uint64_t> hits_sent_{0}, refused_{0};
  std::atomic<std::size_t> producers_left_;
  std::vector<std::thread> threads_;
  Clock::time_point start_;

  // After the traffic.
  std::uint64_t total_sent_ = 0;
  bool expired_in_time_ = true;
  double waited_ = 0;  // seconds from the end of the traffic to the last expiry
  absl::Status shut_;
  sn::PoolStats stats_;

  // The results, by key.
  std::vector<std::uint64_t> hits_of_, sessions_of_;
  std::uint64_t early_ = 0, unknown_key_ = 0;
  std::int64_t shortest_idle_ = INT64_MAX;
  std::vector<std::int64_t> late_;  // how long after its due time each expiry was handled, sorted
};

SessionsRun::SessionsRun(const Options& o)
    : o_(o),
      timeout_(absl::Milliseconds(static_cast<std::int64_t>(o.timeout_ms))),
      timeout_ns_(absl::ToInt64Nanoseconds(timeout_)),
      round_(std::max<std::uint64_t>(o.timeout_ms * 1000 / 4, 1)),
      rounds_(std::max<std::uint64_t>(o.traffic_ms * 1000 / static_cast<std::uint64_t>(round_.count()), 1)),
      report_(o.workers),
      sent_(o.producers, std::vector<std::uint32_t>(o.keys, 0)),
      producers_left_(o.producers) {}

int SessionsRun::run() {
  std::printf(
      "sessions: %s keys, idle timeout %llu ms; %llu producers send hits for %llu ms (%llu rounds of %.1f ms)"
      " to %llu workers\n\n",
      grouped(o_.keys).c_str(), u(o_.timeout_ms), u(o_.producers), u(o_.traffic_ms), u(rounds_),
      static_cast<double>(round_.count()) / 1000.0, u(o_.workers));
  if (!create_pool()) return 1;
  start_producers();
  wait_for_producers();
  wait_for_expiries();
  shut_ = pool_->shutdown();
  stats_ = pool_->stats();

  tally();
  print_classes();
  print_expiries();
  print_workers();

  sn::examples::Checks check;
  check_sessions(check);
  check_timers(check);
  return check.finish();
}

bool SessionsRun::create_pool() {
  absl::StatusOr<std::unique_ptr<Pool>> created =
      Pool::create(sn::PoolConfig().with_num_workers(o_.workers).with_name("sess"),
                   [this](std::size_t) { return std::make_unique<SessionWorker>(timeout_, &report_); });
  if (!created.ok()) {
    std::fprintf(stderr, "cannot create the pool: %s\n", created.status().ToString().c_str());
    return false;
  }
  pool_ = std::move(*created);
  return true;
}

void SessionsRun::start_producers() {
  start_ = Clock::now();
  for (std::size_t p = 0; p < o_.producers; ++p) threads_.emplace_back([this, p] { produce(p); });
}

// Producer p sends the hits of keys p, p + P, p + 2P, ..., round after round, each
// round at its own time (sleep_until: a late round is not made up for by an early one).
void SessionsRun::produce(std::size_t p) {
  std::vector<std::uint32_t>& mine = sent_[p];
  for (std::uint64_t r = 0; r < rounds_; ++r) {
    std::this_thread::sleep_until(start_ + r * round_);
    std::uint64_t n = 0;
    for (std::uint64_t k = p; k < o_.keys; k += o_.producers) {
      if (!hit_in_round(k, r)) continue;
      if (pool_->send(k, Event{}) != sn::SendResult::ok) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      ++mine[k];
      ++n;
    }
    hits_sent_.fetch_add(n, std::memory_order_relaxed);
  }
  producers_left_.fetch_sub(1, std::memory_order_release);
}

/// Main while the producers run: a progress line four times a second.
void SessionsRun::wait_for_producers() {
  Clock::time_point next_print = start_ + std::chrono::milliseconds(250);
  while (producers_left_.load(std::memory_order_acquire) != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (Clock::now() >= next_print) {
      progress();
      next_print += std::chrono::milliseconds(250);
    }
  }
  for (std::thread& t : threads_) t.join();
  total_sent_ = hits_sent_.load();
}

/// Now only expiries are left: wait until every hit was handled and no session is open
/// (every timer has then fired or been cancelled), within a generous bound.
void SessionsRun::wait_for_expiries() {
  const Clock::time_point traffic_over = Clock::now();
  auto all_expired = [this] {
    std::uint64_t handled = 0, open = 0;
    for (const SessionWorker::Live& l : report_.live) handled += l.hits.load(std::memory_order_acquire);
    if (handled != total_sent_) return false;
    for (const SessionWorker::Live& l : report_.live) open += l.open.load(std::memory_order_acquire);
    return open == 0;
  };
  const Clock::time_point wait_limit = traffic_over + std::chrono::seconds(30) + 20 * round_;
  while (!all_expired()) {
    if (Clock::now() > wait_limit) {
      expired_in_time_ = false;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  waited_ = std::chrono::duration<double>(Clock::now() - traffic_over).count();
  progress();
  std::printf("  traffic over; the last sessions expired %.3f s later\n", waited_);
}

void SessionsRun::progress() {
  const sn::PoolStats s = pool_->stats();
  std::printf("  %5.2f s  hits %9s  timers pending %7s  fired %8s  cancelled %8s\n",
              std::chrono::duration<double>(Clock::now() - start_).count(),
              grouped(hits_sent_.load(std::memory_order_relaxed)).c_str(), grouped(s.timers_pending).c_str(),
              grouped(s.timers_fired).c_str(), grouped(s.timers_cancelled).c_str());
  std::fflush(stdout);
}

/// Hits and sessions per key, and how late each expiry came.
void SessionsRun::tally() {
  hits_of_.assign(o_.keys, 0);
  sessions_of_.assign(o_.keys, 0);
  for (const std::vector<std::uint32_t>& mine : sent_) {
    for (std::size_t k = 0; k < o_.keys; ++k) hits_of_[k] += mine[k];
  }
  late_.reserve(report_.closed.size());
  for (const Closed& c : report_.closed) {
    if (c.key >= o_.keys) {
      ++unknown_key_;
      continue;
    }
    ++sessions_of_[c.key];
    shortest_idle_ = std::min(shortest_idle_, c.idle_ns);
    if (c.idle_ns < timeout_ns_) ++early_;
    late_.push_back(c.idle_ns - timeout_ns_);
  }
  std::sort(late_.begin(), late_.end());
}

double SessionsRun::late_percentile(double q) const {
  return late_.empty() ? 0.0 : ms(late_[std::min(late_.size() - 1, static_cast<std::size_t>(q * late_.size()))]);
}

/// The table: by class of key, how often its keys were hit and how many sessions they
/// had. A key hit every round keeps one session; a rare one has a session per hit.
void SessionsRun::print_classes() const {
  const KeyClass classes[] = {{"hot", 0, 16}, {"warm", 16, 256}, {"cool", 256, 2048}, {"cold", 2048, UINT64_MAX}};
  std::printf("\n  %-6s %-13s %9s %12s %10s %14s\n", "class", "keys", "keys hit", "hits", "sessions", "hits/session");
  for (const KeyClass& c : classes) {
    const std::uint64_t last = std::min<std::uint64_t>(c.last, o_.keys);
    if (c.first >= last) continue;
    std::uint64_t touched = 0, hits = 0, sessions = 0;
    for (std::uint64_t k = c.first; k < last; ++k) {
      touched += hits_of_[k] != 0 ? 1 : 0;
      hits += hits_of_[k];
      sessions += sessions_of_[k];
    }
    const std::string range = std::to_string(c.first) + ".." + std::to_string(last - 1);
    std::printf("  %-6s %-13s %9s %12s %10s %14.1f\n", c.name, range.c_str(), grouped(touched).c_str(),
                grouped(hits).c_str(), grouped(sessions).c_str(),
                sessions ? static_cast<double>(hits) / static_cast<double>(sessions) : 0.0);
  }
}

void SessionsRun::print_expiries() const {
  std::printf("\n  expiries: %s; after the timeout by min %.2f ms, median %.2f, p99 %.2f, max %.2f ms\n",
              grouped(report_.closed.size()).c_str(), late_percentile(0.0), late_percentile(0.5), late_percentile(0.99),
              late_.empty() ? 0.0 : ms(late_.back()));
  std::printf("  stale expires: %s (a hit came after the timer fired: cancel() returned false)\n",
              grouped(report_.stale).c_str());
}

void SessionsRun::print_workers() const {
  std::printf("\n  %-8s %10s %10s %10s %10s %7s\n", "worker", "processed", "scheduled", "fired", "cancelled", "parks");
  for (const sn::WorkerStats& w : stats_.workers) {
    std::printf("  %-8zu %10s %10s %10s %10s %7s\n", w.index, grouped(w.processed).c_str(),
                grouped(w.timers_scheduled).c_str(), grouped(w.timers_fired).c_str(),
                grouped(w.timers_cancelled).c_str(), grouped(w.parks).c_str());
  }
}

/// The sessions: every hit handled, every session expired, none early.
void SessionsRun::check_sessions(sn::examples::Checks& check) const {
  const std::uint64_t opened = report_.opened;
  std::uint64_t keys_reopened = 0;
  for (std::uint64_t n : sessions_of_) keys_reopened += n > 1 ? 1 : 0;
  // Keys with a gap of three timeouts between two hits expire in the gap and open again,
  // so at least one key must have had two sessions (unless no key has such a gap: a
  // single key, say).
  const std::uint64_t gaps = keys_with_gaps(o_.keys, rounds_);
  check.expect(shut_.ok(), "shutdown: %s", shut_.ToString().c_str());
  check.expect(refused_.load() == 0, "%llu hits were refused", u(refused_.load()));
  check.expect(expired_in_time_, "sessions still open %.1f s after the traffic ended", waited_);
  check.expect(report_.hits == total_sent_, "workers handled %llu hits, producers sent %llu", u(report_.hits),
               u(total_sent_));
  check.expect(report_.left_open == 0, "%llu sessions never expired", u(report_.left_open));
  check.expect(report_.closed.size() == opened, "sessions opened %llu, expired %llu", u(opened),
               u(report_.closed.size()));
  check.expect(unknown_key_ == 0, "%llu sessions of keys nobody sent", u(unknown_key_));
  check.expect(early_ == 0, "%llu sessions expired less than %llu ms after their last hit (shortest: %.3f ms)",
               u(early_), u(o_.timeout_ms), shortest_idle_ == INT64_MAX ? 0.0 : ms(shortest_idle_));
  check.expect(report_.stale == report_.late_cancels, "%llu stale expires, but %llu cancels came too late",
               u(report_.stale), u(report_.late_cancels));
  check.expect(gaps == 0 || keys_reopened != 0,
               "no key expired and opened again, though %llu keys had gaps of 3 timeouts between hits", u(gaps));
}

/// The pool's books: messages and timers balance.
void SessionsRun::check_timers(sn::examples::Checks& check) const {
  const sn::PoolStats& stats = stats_;
  const std::uint64_t closed = report_.closed.size();
  check.expect(stats.balanced(), "pool stats: accepted %llu != processed %llu + failed %llu + dropped %llu",
               u(stats.accepted), u(stats.processed), u(stats.failed), u(stats.dropped));
  check.expect(stats.processed == total_sent_ + closed + report_.stale,
               "processed %llu messages: expected %llu hits + %llu expires + %llu stale", u(stats.processed),
               u(total_sent_), u(closed), u(report_.stale));
  check.expect(stats.timers_pending == 0, "%llu timers pending after shutdown", u(stats.timers_pending));
  check.expect(stats.timers_fired + stats.timers_cancelled == stats.timers_scheduled,
               "timers: fired %llu + cancelled %llu != scheduled %llu", u(stats.timers_fired),
               u(stats.timers_cancelled), u(stats.timers_scheduled));
  check.expect(stats.timers_scheduled == total_sent_, "%llu timers scheduled for %llu hits", u(stats.timers_scheduled),
               u(total_sent_));
  check.expect(stats.timers_fired == closed + report_.stale, "%llu timers fired: expected %llu expiries + %llu stale",
               u(stats.timers_fired), u(closed), u(report_.stale));
  // Every hit but a session's first cancels the previous timer; those that came too late
  // found it fired. None was left to shutdown() to cancel.
  check.expect(stats.timers_cancelled == total_sent_ - report_.opened - report_.late_cancels,
               "%llu timers cancelled: expected %llu hits - %llu sessions - %llu late cancels",
               u(stats.timers_cancelled), u(total_sent_), u(report_.opened), u(report_.late_cancels));
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "keeps per-key sessions on a worker pool that expire after an idle timeout (the "
                                 "pool's timers), under skewed traffic, and checks every expiry")) {
    return sn::examples::kUsageError;
  }
  const std::optional<Options> options = read_options();
  if (!options) return sn::examples::kUsageError;
  SessionsRun run(*options);
  return run.run();
}
