// Word count: keyed state on a consistent-hash ring, with a live resize.
//
// What it shows:
//   - string keys: producers call pool->send(word, ...), and the pool routes on
//     sn::routing_key(word), the same stable 64-bit hash on every run and machine;
//   - keyed state: each worker owns a hash map word -> count for the words the ring gives
//     it, and nothing else ever touches that map (no locks, no atomics per word);
//   - a live resize: while the producers keep sending, the main thread adds two workers
//     and removes one from the middle. The words that change owner take their counts
//     along (export_state / import_state), and no message is lost or counted by the wrong
//     worker;
//   - live statistics: a progress line four times a second from pool->stats(), then a
//     table per worker and the ten most frequent words.
//
// The corpus is synthetic and deterministic: a Zipf-like draw (a few words are very
// common, most are rare, as in real text) over a vocabulary of 50,000 made-up words,
// from a fixed seed. Every count is checked at the end against what the producers
// themselves counted, and the program exits 0 only if every check holds.
//
// Usage: word_count [--words=N] [--workers=W] [--producers=P]   (--help lists them)
//          --words      words in the corpus (default 30,000,000)
//          --workers    workers at the start (default 4); two more slots are reserved
//          --producers  producer threads (default 3)
//   e.g.   ./build/examples/word_count                                    the README demo (a few seconds)
//          ./build/examples/word_count --words=200000 --workers=4 --producers=3   the ctest size
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sn/partitioners/consistent_hash.h"
#include "sn/partitioners/key.h"
#include "sn/worker_pool.h"
#include "support/flags.h"
#include "support/word_corpus.h"

ABSL_FLAG(std::uint64_t, words, 30'000'000, "words in the corpus, 1..10^12");
ABSL_FLAG(std::uint64_t, workers, 4, "workers at the start, 1..64; two more slots are reserved for the resizes");
ABSL_FLAG(std::uint64_t, producers, 3, "producer threads, 1..64");

namespace {

using sn::examples::Corpus;
using sn::examples::make_vocabulary;
using sn::examples::Word;  // the message: one word, 16 bytes inline (support/word_corpus.h)
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// ------------------------------------------------------------------------ the message

/// One word's state as it travels to its new owner during a resize.
struct WordCount {
  Word word;
  std::uint64_t count = 0;
};

// ------------------------------------------------------------------------ the worker

/// A worker's State: the counts of the words it owns. It is built on the worker's own
/// thread, and only that thread ever reads or writes it.
struct Counts {
  absl::flat_hash_map<Word, std::uint64_t> words;
};

/// What the workers report to main. Touched rarely (a violation, or on_stop), so a
/// mutex is fine here; the per-word work never touches it.
struct Report {
  struct Held {
    std::size_t worker;
    Word word;
    std::uint64_t count;
  };
  std::atomic<std::uint64_t> not_owned{0};  // messages handled by a worker that does not own their key
  std::mutex mu;
  std::vector<Held> held;  // guarded by mu: every worker's final counts, from on_stop
};

struct WordCounter : sn::Worker<Counts, Word> {
  /// What one key's state travels as in a resize (it needs a noexcept move: WordCount
  /// is trivially copyable).
  using handoff_type = WordCount;

  explicit WordCounter(Report* report) : report_(report) {}

  /// handle_batch rather than handle_message: the loop hands over up to batch_size
  /// words at once, so the handler can prefetch every word's hash-map slot first, then
  /// count, and the cache misses of a batch overlap instead of coming one after another
  /// (this matters once a worker's map outgrows its cache: a bigger vocabulary, or more
  /// state per word). The price, that a throw fails the whole batch, costs nothing here:
  /// counting never throws, short of running out of memory.
  void handle_batch(Counts& s, std::span<sn::Envelope<Word>> batch) {
    for (const sn::Envelope<Word>& e : batch) s.words.prefetch(e.payload);
    std::uint64_t foreign = 0;
    for (const sn::Envelope<Word>& e : batch) {
      // e.key is sn::routing_key(word), as the producer's send computed it. The ring must
      // give it to this worker, before, during and after every resize.
      if (!context().owns(e.key)) ++foreign;
      ++s.words[e.payload];
    }
    if (foreign != 0) report_->not_owned.fetch_add(foreign, std::memory_order_relaxed);
  }

  /// In a resize, on this worker's thread, while no message is handled: hand off every
  /// word the new ring gives to another worker (all of them, if this worker is removed).
  void export_state(Counts& s, sn::StateHandoff<WordCount>& out) {
    for (auto it = s.words.begin(); it != s.words.end();) {
      const std::uint64_t key = sn::routing_key(it->first.view());
      if (!out.leaving(key)) {
        ++it;
        continue;
      }
      out.hand_off(key, WordCount{it->first, it->second});
      s.words.erase(it++);  // absl's erase(iterator) returns void: advance first
    }
  }

  /// On the new owner, before it handles any word sent after the resize.
  void import_state(Counts& s, std::uint64_t /*key*/, WordCount&& piece) { s.words[piece.word] += piece.count; }

  /// Once, after the last message: publish the final counts for main to check.
  void on_stop(Counts& s) {
    std::lock_guard lock(report_->mu);
    for (const auto& [word, count] : s.words) report_->held.push_back({context().index(), word, count});
  }

 private:
  Report* report_;
};

using Pool = sn::WorkerPool<WordCounter>;

// ------------------------------------------------------------------------ printing

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double millions(std::uint64_t n) { return static_cast<double>(n) / 1e6; }

std::string slots_of(const std::set<std::size_t>& slots) { return absl::StrCat("{", absl::StrJoin(slots, ","), "}"); }

void print_resize(const char* what, const absl::StatusOr<sn::ResizeReport>& r, bool live) {
  if (!r.ok()) {
    std::printf("  resize  %-18s FAILED: %s\n", what, r.status().ToString().c_str());
    return;
  }
  std::printf("  resize  %-18s slot %zu, %s words handed off with their counts, senders paused %.2f ms%s\n", what,
              r->worker, with_commas(r->handed_off).c_str(), absl::ToDoubleMilliseconds(r->paused),
              live ? "" : "  (after the producers had finished)");
  if (r->hook_failures != 0) {
    std::printf("          %llu hook failures: %s\n", static_cast<unsigned long long>(r->hook_failures),
                r->hook_error.ToString().c_str());
  }
  std::fflush(stdout);
}

/// Collects the failed checks; the program exits 0 only when there are none.
struct Checks {
  std::vector<std::string> failures;
  void expect(bool ok, const std::string& what) {
    std::printf("  %s  %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) failures.push_back(what);
  }
};

// ------------------------------------------------------------------------ the run

/// The command line, read and range-checked.
struct Options {
  std::uint64_t total_words = 0;
  std::uint64_t workers = 0;
  std::uint64_t producers = 0;
};

/// Reads the flags into `o`; false (after saying why) when one is out of range.
bool read_options(Options& o) {
  return sn::examples::read_flag(FLAGS_words, 1, 1'000'000'000'000, o.total_words) &&
         sn::examples::read_flag(FLAGS_workers, 1, 64, o.workers) &&
         sn::examples::read_flag(FLAGS_producers, 1, 64, o.producers);
}

/// One resize of the plan: when it runs, and what it does.
struct Step {
  double at;  // fraction of the corpus sent
  bool add;   // add_worker() or remove_worker(slot)
  std::size_t slot;
};

/// One run of the demo. Its members are what the phases share (the pool, the producers'
/// counters, the resizes done); each method is one phase, called in order by run().
class WordCountRun {
 public:
  static constexpr std::size_t kVocabulary = 50'000;
  static constexpr std::uint64_t kSeed = 20260101;

  explicit WordCountRun(const Options& o);

  /// Runs every phase; returns the exit status (0 only if every check holds).
  int run();

 private:
  bool create_pool();
  void start_producers();
  void produce(std::size_t p);
  void drive();
  void run_step(const Step& step, bool live);
  void progress();
  void shut_down();
  void tally_expected();
  void print_table() const;
  void print_top_words() const;
  void check_run(Checks& checks) const;
  void check_words(Checks& checks) const;

  const Options opts_;
  const std::size_t n_;  // workers at the start
  const std::vector<Word> vocabulary_ = make_vocabulary(kVocabulary);
  const Corpus corpus_;
  Report report_;  // outlives the pool: the workers write to it
  std::unique_ptr<Pool> pool_;
  std::set<std::size_t> slots_;  // the slots running a worker, kept in step with each resize

  // The producers'.
  std::atomic<std::uint64_t> sent_{0};     // words accepted so far, for the progress line
  std::atomic<std::uint64_t> refused_{0};  // sends that did not return ok (none expected)
  std::atomic<std::size_t> producers_left_;
  std::vector<std::vector<std::uint64_t>> expected_;  // per producer: how often it sent each word
  std::vector<std::thread> threads_;
  Clock::time_point start_;

  // The resizes, and the progress line's last sample.
  std::array<Step, 3> plan_;
  std::size_t next_step_ = 0;
  std::vector<sn::ResizeReport> resizes_;
  bool resize_failed_ = false;
  Clock::time_point last_time_;
  std::uint64_t last_counted_ = 0;

  // The results.
  std::set<std::size_t> running_slots_;  // what the pool said ran, just before shutdown
  absl::Status shut_;
  double elapsed_ = 0;
  sn::PoolStats stats_;
  std::vector<std::uint64_t> want_;  // expected count of each word
  std::uint64_t sent_total_ = 0;
};

WordCountRun::WordCountRun(const Options& o)
    : opts_(o),
      n_(o.workers),
      corpus_(o.total_words, kVocabulary, kSeed),
      producers_left_(o.producers),
      expected_(o.producers, std::vector<std::uint64_t>(kVocabulary, 0)),
      plan_{{{0.25, true, 0}, {0.50, true, 0}, {0.75, false, n_ / 2}}} {}

int WordCountRun::run() {
  std::printf("word_count: %s words drawn from %s made-up words (seed %llu)\n", with_commas(opts_.total_words).c_str(),
              with_commas(kVocabulary).c_str(), static_cast<unsigned long long>(kSeed));
  if (!create_pool()) return 1;
  start_producers();
  drive();
  shut_down();
  tally_expected();
  print_table();
  print_top_words();

  // Nothing here depends on timing: each check holds however the threads interleaved.
  std::printf("\nchecks\n");
  Checks checks;
  check_run(checks);
  check_words(checks);
  if (!checks.failures.empty()) {
    std::printf("\n%zu check(s) FAILED\n", checks.failures.size());
    return 1;
  }
  std::printf("\nall checks passed\n");
  return 0;
}

// A resizable partitioner (any sn::ResizablePartitioner; here the consistent-hash ring,
// though RendezvousPartitioner would do too) is what makes the pool resizable: its ids
// are the pool's slots, so adding or removing a worker moves only that worker's words.
// max_workers reserves the slots (inboxes and lanes) for the two workers added later.
bool WordCountRun::create_pool() {
  absl::StatusOr<std::unique_ptr<Pool>> created = Pool::create(
      sn::PoolConfig().with_num_workers(n_).with_max_workers(n_ + 2).with_name("wc").with_queue_capacity(4096),
      sn::ConsistentHashPartitioner(n_), [this](std::size_t) { return std::make_unique<WordCounter>(&report_); });
  if (!created.ok()) {
    std::fprintf(stderr, "cannot create the pool: %s\n", created.status().ToString().c_str());
    return false;
  }
  pool_ = std::move(*created);
  for (std::size_t i = 0; i < n_; ++i) slots_.insert(i);
  std::printf("pool: %zu workers in slots %s, %zu slots in all; %llu producers\n\n", pool_->size(),
              slots_of(slots_).c_str(), pool_->capacity(), static_cast<unsigned long long>(opts_.producers));
  return true;
}

void WordCountRun::start_producers() {
  start_ = Clock::now();
  last_time_ = start_;
  for (std::size_t p = 0; p < opts_.producers; ++p) threads_.emplace_back([this, p] { produce(p); });
}

// Producer p generates and sends blocks p, p + producers, p + 2 * producers, ... of the
// corpus, one word per send, and counts what it sent on its own: the expected totals
// that the workers' counts are checked against.
void WordCountRun::produce(std::size_t p) {
  std::vector<std::uint64_t>& mine = expected_[p];
  std::uint64_t unreported = 0;  // accepted, not yet added to `sent_` (one shared add per 1024)
  for (std::uint64_t block = p; block < corpus_.blocks(); block += opts_.producers) {
    corpus_.for_each_in_block(block, [&](std::size_t rank) {
      const Word& word = vocabulary_[rank];
      // The key is the string itself: the pool routes on sn::routing_key(word.view()).
      // Under FullPolicy::block (the default) this waits while the owner's inbox is
      // full, or while a resize holds the senders at its gate.
      if (pool_->send(word.view(), Word(word)) != sn::SendResult::ok) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      ++mine[rank];
      if (++unreported == 1024) {
        sent_.fetch_add(unreported, std::memory_order_relaxed);
        unreported = 0;
      }
    });
  }
  sent_.fetch_add(unreported, std::memory_order_relaxed);
  producers_left_.fetch_sub(1, std::memory_order_release);
}

// Main's part while the producers run: a progress line four times a second, and the
// resizes. They are scheduled by progress (a quarter, half and three quarters of the
// corpus sent), not by time. If the producers finish first (tiny inputs), the rest still
// run, on the idle pool.
void WordCountRun::drive() {
  Clock::time_point next_print = start_ + std::chrono::milliseconds(250);
  while (producers_left_.load(std::memory_order_acquire) != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double done =
        static_cast<double>(sent_.load(std::memory_order_relaxed)) / static_cast<double>(opts_.total_words);
    if (next_step_ < plan_.size() && done >= plan_[next_step_].at) run_step(plan_[next_step_++], true);
    if (Clock::now() >= next_print) {
      progress();
      next_print += std::chrono::milliseconds(250);
    }
  }
  for (std::thread& t : threads_) t.join();
  while (next_step_ < plan_.size()) run_step(plan_[next_step_++], false);
}

void WordCountRun::run_step(const Step& step, bool live) {
  absl::StatusOr<sn::ResizeReport> r = step.add ? pool_->add_worker() : pool_->remove_worker(step.slot);
  const std::string what = step.add ? "add_worker()" : absl::StrCat("remove_worker(", step.slot, ")");
  print_resize(what.c_str(), r, live);
  if (!r.ok()) {
    resize_failed_ = true;
    return;
  }
  if (step.add) {
    slots_.insert(r->worker);
  } else {
    slots_.erase(r->worker);
  }
  resizes_.push_back(*r);
}

void WordCountRun::progress() {
  const sn::PoolStats s = pool_->stats();
  const Clock::time_point now = Clock::now();
  const double dt = std::chrono::duration<double>(now - last_time_).count();
  const double rate = dt > 0 ? millions(s.processed - last_counted_) / dt : 0.0;
  std::printf("  %6.2f s  sent %8.2f M  counted %8.2f M  %6.2f M words/s  %zu workers  %6s queued\n",
              seconds_since(start_), millions(sent_.load(std::memory_order_relaxed)), millions(s.processed), rate,
              pool_->size(), with_commas(s.queue_depth).c_str());
  std::fflush(stdout);
  last_time_ = now;
  last_counted_ = s.processed;
}

void WordCountRun::shut_down() {
  // Before shutting down: the workers the pool says run must be the ones we tracked.
  for (const sn::WorkerStats& w : pool_->stats().workers) {
    if (w.active) running_slots_.insert(w.index);
  }
  // shutdown() refuses new sends, lets the workers count everything already sent, then
  // runs on_stop on each (which fills report_.held) and joins their threads.
  shut_ = pool_->shutdown();
  elapsed_ = seconds_since(start_);
  progress();
  stats_ = pool_->stats();
}

void WordCountRun::tally_expected() {
  want_.assign(kVocabulary, 0);
  for (const std::vector<std::uint64_t>& mine : expected_) {
    for (std::size_t w = 0; w < kVocabulary; ++w) want_[w] += mine[w];
  }
  for (std::uint64_t c : want_) sent_total_ += c;
}

/// Per-worker rows, with the number of distinct words each held at the end.
void WordCountRun::print_table() const {
  const sn::PoolStats& stats = stats_;
  std::vector<std::uint64_t> held_by(pool_->capacity(), 0);
  for (const Report::Held& h : report_.held) ++held_by[h.worker];
  std::printf("\ncounted %s words in %.2f s = %.2f M words/s (%llu producers, workers %zu -> %zu)\n\n",
              with_commas(stats.processed).c_str(), elapsed_, millions(stats.processed) / elapsed_,
              static_cast<unsigned long long>(opts_.producers), n_, slots_.size());
  std::printf("%6s %6s %12s %9s %10s %7s %10s %6s %11s\n", "worker", "active", "processed", "batches", "mean batch",
              "parks", "parked ms", "queue", "words held");
  for (const sn::WorkerStats& w : stats.workers) {
    std::printf("%6zu %6s %12s %9s %10.1f %7s %10.1f %6llu %11s\n", w.index, w.active ? "yes" : "no",
                with_commas(w.processed).c_str(), with_commas(w.batches).c_str(), w.mean_batch_size(),
                with_commas(w.parks).c_str(), absl::ToDoubleMilliseconds(w.time_parked),
                static_cast<unsigned long long>(w.queue_depth), with_commas(held_by[w.index]).c_str());
  }
  std::printf("%6s %6zu %12s %9s %10.1f %7s %10.1f %6llu %11s\n", "total", slots_.size(),
              with_commas(stats.processed).c_str(), with_commas(stats.batches).c_str(), stats.mean_batch_size(),
              with_commas(stats.parks).c_str(), absl::ToDoubleMilliseconds(stats.time_parked),
              static_cast<unsigned long long>(stats.queue_depth), with_commas(report_.held.size()).c_str());
}

/// The ten most frequent words, from the workers' own counts.
void WordCountRun::print_top_words() const {
  std::vector<Report::Held> top = report_.held;
  const std::size_t shown = std::min<std::size_t>(10, top.size());
  std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(shown), top.end(),
                    [](const Report::Held& a, const Report::Held& b) { return a.count > b.count; });
  std::printf("\n%4s  %-8s %12s %7s %6s\n", "rank", "word", "count", "share", "worker");
  for (std::size_t i = 0; i < shown; ++i) {
    std::printf(
        "%4zu  %-8s %12s %6.2f%% %6zu\n", i + 1, top[i].word.str().c_str(), with_commas(top[i].count).c_str(),
        100.0 * static_cast<double>(top[i].count) / static_cast<double>(std::max<std::uint64_t>(1, sent_total_)),
        top[i].worker);
  }
}

/// The pool as a whole: shutdown, resizes, the workers it runs, and the totals.
void WordCountRun::check_run(Checks& checks) const {
  const sn::PoolStats& stats = stats_;
  checks.expect(shut_.ok(), absl::StrCat("shutdown: ", shut_.ToString()));
  checks.expect(!resize_failed_ && resizes_.size() == plan_.size(),
                absl::StrCat("all ", plan_.size(), " resizes succeeded"));
  std::uint64_t hook_failures = 0;
  for (const sn::ResizeReport& r : resizes_) hook_failures += r.hook_failures;
  checks.expect(hook_failures == 0, absl::StrCat("resize hooks: ", hook_failures, " failures"));
  checks.expect(running_slots_ == slots_, absl::StrCat("the pool runs the workers we tracked: ",
                                                       slots_of(running_slots_), " (expected ", slots_of(slots_), ")"));
  checks.expect(refused_.load() == 0, absl::StrCat("every send accepted (", refused_.load(), " refused)"));
  checks.expect(sent_total_ == opts_.total_words,
                absl::StrCat("the producers sent the whole corpus: ", with_commas(sent_total_), " of ",
                             with_commas(opts_.total_words), " words"));
  checks.expect(stats.balanced() && stats.failed == 0 && stats.dropped == 0,
                absl::StrCat("stats balanced: accepted ", with_commas(stats.accepted), " = processed ",
                             with_commas(stats.processed), " + failed ", stats.failed, " + dropped ", stats.dropped));
  checks.expect(stats.processed == sent_total_,
                absl::StrCat("processed == sent: ", with_commas(stats.processed), " == ", with_commas(sent_total_)));
  checks.expect(report_.not_owned.load() == 0,
                absl::StrCat("every word handled by its owner (", report_.not_owned.load(), " violations)"));
}

/// What check_words finds wrong with the workers' final counts, and the first few
/// mismatches, for the failure report.
struct WordAudit {
  std::uint64_t unknown = 0, twice = 0, wrong_owner = 0, wrong_count = 0, missing = 0, distinct = 0;
  std::vector<std::string> examples;
  void note(std::string line) {
    if (examples.size() < 5) examples.push_back(std::move(line));
  }
};

/// Every word must sit in exactly one worker's final state, on the worker the final
/// ring gives it, with the count the producers sent. The final ring is rebuilt here
/// from the slots alone: a ring depends only on its worker ids.
void WordCountRun::check_words(Checks& checks) const {
  sn::ConsistentHashPartitioner final_ring(0);
  bool ring_ok = true;
  for (std::size_t s : slots_) {
    ring_ok = final_ring.add_worker(static_cast<sn::ConsistentHashPartitioner::WorkerId>(s)).ok() && ring_ok;
  }
  checks.expect(ring_ok, absl::StrCat("final ring built for slots ", slots_of(slots_)));

  absl::flat_hash_map<Word, std::size_t> index_of;  // word -> vocabulary index
  for (std::size_t i = 0; i < vocabulary_.size(); ++i) index_of.emplace(vocabulary_[i], i);
  std::vector<int> seen(kVocabulary, 0);
  WordAudit a;
  for (const Report::Held& h : report_.held) {
    const auto it = index_of.find(h.word);
    if (it == index_of.end()) {
      ++a.unknown;
      a.note(absl::StrCat("unknown word '", h.word.str(), "' on worker ", h.worker));
      continue;
    }
    if (seen[it->second]++ != 0) {
      ++a.twice;
      a.note(absl::StrCat("'", h.word.str(), "' held by more than one worker (again by ", h.worker, ")"));
    }
    const std::size_t owner = final_ring.owner(sn::routing_key(h.word.view()));
    if (owner != h.worker) {
      ++a.wrong_owner;
      a.note(absl::StrCat("'", h.word.str(), "' on worker ", h.worker, ", ring owner ", owner));
    }
    if (h.count != want_[it->second]) {
      ++a.wrong_count;
      a.note(absl::StrCat("'", h.word.str(), "' counted ", h.count, ", sent ", want_[it->second]));
    }
  }
  for (std::size_t w = 0; w < kVocabulary; ++w) {
    if (want_[w] == 0) continue;
    ++a.distinct;
    if (seen[w] == 0) {
      ++a.missing;
      a.note(absl::StrCat("'", vocabulary_[w].str(), "' sent ", want_[w], " times, held by nobody"));
    }
  }
  checks.expect(a.unknown == 0 && a.missing == 0 && a.twice == 0,
                absl::StrCat("each of the ", with_commas(a.distinct), " distinct words held by exactly one worker (",
                             a.missing, " missing, ", a.twice, " duplicated, ", a.unknown, " unknown)"));
  checks.expect(a.wrong_owner == 0, absl::StrCat("each word on its owner in the final ring ", slots_of(slots_), " (",
                                                 a.wrong_owner, " misplaced)"));
  checks.expect(a.wrong_count == 0,
                absl::StrCat("each word's count equals the producers' own count (", a.wrong_count, " differ)"));
  for (const std::string& e : a.examples) std::printf("        e.g. %s\n", e.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "counts the words of a synthetic corpus on a keyed worker pool that grows and "
                                 "shrinks while it runs, then checks every count")) {
    return sn::examples::kUsageError;
  }
  Options options;
  if (!read_options(options)) return sn::examples::kUsageError;
  WordCountRun run(options);
  return run.run();
}
