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
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
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

ABSL_FLAG(std::uint64_t, words, 30'000'000, "words in the corpus, 1..10^12");
ABSL_FLAG(std::uint64_t, workers, 4, "workers at the start, 1..64; two more slots are reserved for the resizes");
ABSL_FLAG(std::uint64_t, producers, 3, "producer threads, 1..64");

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// ------------------------------------------------------------------------ the message

/// One word, stored inline: 16 bytes, trivially copyable, so a message costs a 16-byte
/// copy through the queues and never allocates (a std::string would work too, but it
/// allocates once a word outgrows its small-string buffer, and is 32 bytes).
struct Word {
  static constexpr std::size_t kMaxSize = 15;

  std::array<char, kMaxSize> chars{};  // zero-padded, so the defaulted == is exact
  std::uint8_t size = 0;

  static Word of(std::string_view text) {  // longer text is cut (our words have at most 6 letters)
    Word w;
    w.size = static_cast<std::uint8_t>(std::min(text.size(), kMaxSize));
    std::copy_n(text.data(), w.size, w.chars.data());
    return w;
  }
  std::string_view view() const noexcept { return {chars.data(), size}; }
  std::string str() const { return std::string(view()); }

  friend bool operator==(const Word&, const Word&) = default;
  template <class H>
  friend H AbslHashValue(H h, const Word& w) {  // lets absl::flat_hash_map hash a Word
    return H::combine(std::move(h), w.view());
  }
};
static_assert(sizeof(Word) == 16);

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

// ------------------------------------------------------------------------ the corpus

/// 50,000 pronounceable made-up words: word i is i written in bijective base 64 with
/// syllables for digits ("ba", "be", ..., "zo"), so every word is distinct, and the
/// frequent words (small i) are the short ones, as in real text.
std::vector<Word> make_vocabulary(std::size_t size) {
  static constexpr std::string_view kConsonants = "bdfgklmnprstvwyz";  // 16
  static constexpr std::string_view kVowels = "aeio";                  // 16 x 4 = 64 syllables
  std::vector<Word> vocabulary;
  vocabulary.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    std::string text;
    for (std::size_t n = i + 1; n > 0; n = (n - 1) / 64) {
      const std::size_t digit = (n - 1) % 64;
      text += kConsonants[digit / 4];
      text += kVowels[digit % 4];
    }
    vocabulary.push_back(Word::of(text));
  }
  return vocabulary;
}

/// The corpus: a stream of word ranks (indices into the vocabulary), cut into blocks of
/// 64 Ki words. Block b is drawn from its own generator, seeded from (seed, b), so the
/// text is the same however many producers share it out, and it is generated where it is
/// sent instead of being stored whole (30 M words would take 60-120 MB).
///
/// Rank r (0-based) is drawn with probability ln((r + 2) / (r + 1)) / ln(V + 1), close to
/// Zipf's law 1/(r + 1): the top word is about 6% of the text, the rarest tens of
/// thousands of times less common.
class Corpus {
 public:
  static constexpr std::uint64_t kBlock = 65'536;

  Corpus(std::uint64_t words, std::size_t vocabulary, std::uint64_t seed)
      : words_(words), vocabulary_(vocabulary), seed_(seed), log_v1_(std::log(static_cast<double>(vocabulary) + 1.0)) {}

  std::uint64_t words() const noexcept { return words_; }
  std::uint64_t blocks() const noexcept { return (words_ + kBlock - 1) / kBlock; }

  /// Calls fn(rank) for each word of block b, in order.
  template <class Fn>
  void for_each_in_block(std::uint64_t b, Fn&& fn) const {
    std::mt19937_64 rng(sn::stable_hash(seed_ ^ b));  // mt19937_64 is the same stream everywhere
    const std::uint64_t end = std::min(words_, (b + 1) * kBlock);
    for (std::uint64_t i = b * kBlock; i < end; ++i) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // uniform in [0, 1)
      const auto rank = static_cast<std::size_t>(std::exp(u * log_v1_)) - 1;
      fn(std::min(rank, vocabulary_ - 1));
    }
  }

 private:
  std::uint64_t words_;
  std::size_t vocabulary_;
  std::uint64_t seed_;
  double log_v1_;
};

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

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "counts the words of a synthetic corpus on a keyed worker pool that grows and "
                                 "shrinks while it runs, then checks every count")) {
    return sn::examples::kUsageError;
  }
  std::uint64_t total_words = 0, workers = 0, producers = 0;
  if (!sn::examples::read_flag(FLAGS_words, 1, 1'000'000'000'000, total_words) ||
      !sn::examples::read_flag(FLAGS_workers, 1, 64, workers) ||
      !sn::examples::read_flag(FLAGS_producers, 1, 64, producers)) {
    return sn::examples::kUsageError;
  }
  constexpr std::size_t kVocabulary = 50'000;
  constexpr std::uint64_t kSeed = 20260101;
  const std::size_t n = workers;

  // -------------------------------------------------------------- the corpus
  const std::vector<Word> vocabulary = make_vocabulary(kVocabulary);
  const Corpus corpus(total_words, kVocabulary, kSeed);
  std::printf("word_count: %s words drawn from %s made-up words (seed %llu)\n", with_commas(total_words).c_str(),
              with_commas(kVocabulary).c_str(), static_cast<unsigned long long>(kSeed));

  // -------------------------------------------------------------- the pool
  // A resizable partitioner (any sn::ResizablePartitioner; here the consistent-hash ring,
  // though RendezvousPartitioner would do too) is what makes the pool resizable: its ids
  // are the pool's slots, so adding or removing a worker moves only that worker's words.
  // max_workers reserves the slots (inboxes and lanes) for the two workers added later.
  Report report;
  absl::StatusOr<std::unique_ptr<Pool>> created = Pool::create(
      sn::PoolConfig().with_num_workers(n).with_max_workers(n + 2).with_name("wc").with_queue_capacity(4096),
      sn::ConsistentHashPartitioner(n), [&report](std::size_t) { return std::make_unique<WordCounter>(&report); });
  if (!created.ok()) {
    std::fprintf(stderr, "cannot create the pool: %s\n", created.status().ToString().c_str());
    return 1;
  }
  Pool& pool = **created;
  std::set<std::size_t> slots;  // the slots running a worker, kept in step with each resize
  for (std::size_t i = 0; i < n; ++i) slots.insert(i);
  std::printf("pool: %zu workers in slots %s, %zu slots in all; %llu producers\n\n", pool.size(),
              slots_of(slots).c_str(), pool.capacity(), static_cast<unsigned long long>(producers));

  // -------------------------------------------------------------- the producers
  // Producer p generates and sends blocks p, p + producers, p + 2 * producers, ... of the
  // corpus, one word per send, and counts what it sent on its own: the expected totals
  // that the workers' counts are checked against.
  std::atomic<std::uint64_t> sent{0};     // words accepted so far, for the progress line
  std::atomic<std::uint64_t> refused{0};  // sends that did not return ok (none expected)
  std::atomic<std::size_t> producers_left{producers};
  std::vector<std::vector<std::uint64_t>> expected(producers, std::vector<std::uint64_t>(kVocabulary, 0));
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::vector<std::uint64_t>& mine = expected[p];
      std::uint64_t unreported = 0;  // accepted, not yet added to `sent` (one shared add per 1024)
      for (std::uint64_t block = p; block < corpus.blocks(); block += producers) {
        corpus.for_each_in_block(block, [&](std::size_t rank) {
          const Word& word = vocabulary[rank];
          // The key is the string itself: the pool routes on sn::routing_key(word.view()).
          // Under FullPolicy::block (the default) this waits while the owner's inbox is
          // full, or while a resize holds the senders at its gate.
          if (pool.send(word.view(), Word(word)) != sn::SendResult::ok) {
            refused.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          ++mine[rank];
          if (++unreported == 1024) {
            sent.fetch_add(unreported, std::memory_order_relaxed);
            unreported = 0;
          }
        });
      }
      sent.fetch_add(unreported, std::memory_order_relaxed);
      producers_left.fetch_sub(1, std::memory_order_release);
    });
  }

  // -------------------------------------------------------------- main: progress and resizes
  // The resizes are scheduled by progress (a quarter, half and three quarters of the
  // corpus sent), not by time. If the producers finish first (tiny inputs), the rest
  // still run, on the idle pool.
  struct Step {
    double at;  // fraction of the corpus sent
    bool add;   // add_worker() or remove_worker(slot)
    std::size_t slot;
  };
  const std::array<Step, 3> plan{{{0.25, true, 0}, {0.50, true, 0}, {0.75, false, n / 2}}};
  std::size_t next_step = 0;
  std::vector<sn::ResizeReport> resizes;
  bool resize_failed = false;

  auto run_step = [&](const Step& step, bool live) {
    absl::StatusOr<sn::ResizeReport> r = step.add ? pool.add_worker() : pool.remove_worker(step.slot);
    const std::string what = step.add ? "add_worker()" : absl::StrCat("remove_worker(", step.slot, ")");
    print_resize(what.c_str(), r, live);
    if (!r.ok()) {
      resize_failed = true;
      return;
    }
    if (step.add) {
      slots.insert(r->worker);
    } else {
      slots.erase(r->worker);
    }
    resizes.push_back(*r);
  };

  auto progress = [&, last_time = start, last_counted = std::uint64_t{0}]() mutable {
    const sn::PoolStats s = pool.stats();
    const Clock::time_point now = Clock::now();
    const double dt = std::chrono::duration<double>(now - last_time).count();
    const double rate = dt > 0 ? millions(s.processed - last_counted) / dt : 0.0;
    std::printf("  %6.2f s  sent %8.2f M  counted %8.2f M  %6.2f M words/s  %zu workers  %6s queued\n",
                seconds_since(start), millions(sent.load(std::memory_order_relaxed)), millions(s.processed), rate,
                pool.size(), with_commas(s.queue_depth).c_str());
    std::fflush(stdout);
    last_time = now;
    last_counted = s.processed;
  };

  Clock::time_point next_print = start + std::chrono::milliseconds(250);
  while (producers_left.load(std::memory_order_acquire) != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double done = static_cast<double>(sent.load(std::memory_order_relaxed)) / static_cast<double>(total_words);
    if (next_step < plan.size() && done >= plan[next_step].at) run_step(plan[next_step++], true);
    if (Clock::now() >= next_print) {
      progress();
      next_print += std::chrono::milliseconds(250);
    }
  }
  for (std::thread& t : threads) t.join();
  while (next_step < plan.size()) run_step(plan[next_step++], false);

  // Before shutting down: the workers the pool says run must be the ones we tracked.
  std::set<std::size_t> running_slots;
  for (const sn::WorkerStats& w : pool.stats().workers) {
    if (w.active) running_slots.insert(w.index);
  }
  // shutdown() refuses new sends, lets the workers count everything already sent, then
  // runs on_stop on each (which fills report.held) and joins their threads.
  const absl::Status shut = pool.shutdown();
  const double elapsed = seconds_since(start);
  progress();

  // -------------------------------------------------------------- results
  const sn::PoolStats stats = pool.stats();
  std::uint64_t sent_total = 0;
  std::vector<std::uint64_t> want(kVocabulary, 0);  // expected count of each word
  for (const std::vector<std::uint64_t>& mine : expected) {
    for (std::size_t w = 0; w < kVocabulary; ++w) want[w] += mine[w];
  }
  for (std::uint64_t c : want) sent_total += c;

  // Per-worker rows, with the number of distinct words each held at the end.
  std::vector<std::uint64_t> held_by(pool.capacity(), 0);
  for (const Report::Held& h : report.held) ++held_by[h.worker];
  std::printf("\ncounted %s words in %.2f s = %.2f M words/s (%llu producers, workers %zu -> %zu)\n\n",
              with_commas(stats.processed).c_str(), elapsed, millions(stats.processed) / elapsed,
              static_cast<unsigned long long>(producers), n, slots.size());
  std::printf("%6s %6s %12s %9s %10s %7s %10s %6s %11s\n", "worker", "active", "processed", "batches", "mean batch",
              "parks", "parked ms", "queue", "words held");
  for (const sn::WorkerStats& w : stats.workers) {
    std::printf("%6zu %6s %12s %9s %10.1f %7s %10.1f %6llu %11s\n", w.index, w.active ? "yes" : "no",
                with_commas(w.processed).c_str(), with_commas(w.batches).c_str(), w.mean_batch_size(),
                with_commas(w.parks).c_str(), absl::ToDoubleMilliseconds(w.time_parked),
                static_cast<unsigned long long>(w.queue_depth), with_commas(held_by[w.index]).c_str());
  }
  std::printf("%6s %6zu %12s %9s %10.1f %7s %10.1f %6llu %11s\n", "total", slots.size(),
              with_commas(stats.processed).c_str(), with_commas(stats.batches).c_str(), stats.mean_batch_size(),
              with_commas(stats.parks).c_str(), absl::ToDoubleMilliseconds(stats.time_parked),
              static_cast<unsigned long long>(stats.queue_depth), with_commas(report.held.size()).c_str());

  // The ten most frequent words, from the workers' own counts.
  std::vector<Report::Held> top = report.held;
  const std::size_t shown = std::min<std::size_t>(10, top.size());
  std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(shown), top.end(),
                    [](const Report::Held& a, const Report::Held& b) { return a.count > b.count; });
  std::printf("\n%4s  %-8s %12s %7s %6s\n", "rank", "word", "count", "share", "worker");
  for (std::size_t i = 0; i < shown; ++i) {
    std::printf("%4zu  %-8s %12s %6.2f%% %6zu\n", i + 1, top[i].word.str().c_str(), with_commas(top[i].count).c_str(),
                100.0 * static_cast<double>(top[i].count) / static_cast<double>(std::max<std::uint64_t>(1, sent_total)),
                top[i].worker);
  }

  // -------------------------------------------------------------- verification
  // Nothing here depends on timing: each check holds however the threads interleaved.
  std::printf("\nchecks\n");
  Checks checks;
  checks.expect(shut.ok(), absl::StrCat("shutdown: ", shut.ToString()));
  checks.expect(!resize_failed && resizes.size() == plan.size(),
                absl::StrCat("all ", plan.size(), " resizes succeeded"));
  std::uint64_t hook_failures = 0;
  for (const sn::ResizeReport& r : resizes) hook_failures += r.hook_failures;
  checks.expect(hook_failures == 0, absl::StrCat("resize hooks: ", hook_failures, " failures"));
  checks.expect(running_slots == slots, absl::StrCat("the pool runs the workers we tracked: ", slots_of(running_slots),
                                                     " (expected ", slots_of(slots), ")"));
  checks.expect(refused.load() == 0, absl::StrCat("every send accepted (", refused.load(), " refused)"));
  checks.expect(sent_total == total_words,
                absl::StrCat("the producers sent the whole corpus: ", with_commas(sent_total), " of ",
                             with_commas(total_words), " words"));
  checks.expect(stats.balanced() && stats.failed == 0 && stats.dropped == 0,
                absl::StrCat("stats balanced: accepted ", with_commas(stats.accepted), " = processed ",
                             with_commas(stats.processed), " + failed ", stats.failed, " + dropped ", stats.dropped));
  checks.expect(stats.processed == sent_total,
                absl::StrCat("processed == sent: ", with_commas(stats.processed), " == ", with_commas(sent_total)));
  checks.expect(report.not_owned.load() == 0,
                absl::StrCat("every word handled by its owner (", report.not_owned.load(), " violations)"));

  // Every word must sit in exactly one worker's final state, on the worker the final
  // ring gives it, with the count the producers sent. The final ring is rebuilt here
  // from the slots alone: a ring depends only on its worker ids.
  sn::ConsistentHashPartitioner final_ring(0);
  bool ring_ok = true;
  for (std::size_t s : slots) {
    ring_ok = final_ring.add_worker(static_cast<sn::ConsistentHashPartitioner::WorkerId>(s)).ok() && ring_ok;
  }
  checks.expect(ring_ok, absl::StrCat("final ring built for slots ", slots_of(slots)));

  absl::flat_hash_map<Word, std::size_t> index_of;  // word -> vocabulary index
  for (std::size_t i = 0; i < vocabulary.size(); ++i) index_of.emplace(vocabulary[i], i);
  std::vector<int> seen(kVocabulary, 0);
  std::uint64_t unknown = 0, twice = 0, wrong_owner = 0, wrong_count = 0, missing = 0, distinct = 0;
  std::vector<std::string> examples;  // the first few mismatches, for the failure report
  auto note = [&examples](std::string line) {
    if (examples.size() < 5) examples.push_back(std::move(line));
  };
  for (const Report::Held& h : report.held) {
    const auto it = index_of.find(h.word);
    if (it == index_of.end()) {
      ++unknown;
      note(absl::StrCat("unknown word '", h.word.str(), "' on worker ", h.worker));
      continue;
    }
    if (seen[it->second]++ != 0) {
      ++twice;
      note(absl::StrCat("'", h.word.str(), "' held by more than one worker (again by ", h.worker, ")"));
    }
    const std::size_t owner = final_ring.owner(sn::routing_key(h.word.view()));
    if (owner != h.worker) {
      ++wrong_owner;
      note(absl::StrCat("'", h.word.str(), "' on worker ", h.worker, ", ring owner ", owner));
    }
    if (h.count != want[it->second]) {
      ++wrong_count;
      note(absl::StrCat("'", h.word.str(), "' counted ", h.count, ", sent ", want[it->second]));
    }
  }
  for (std::size_t w = 0; w < kVocabulary; ++w) {
    if (want[w] == 0) continue;
    ++distinct;
    if (seen[w] == 0) {
      ++missing;
      note(absl::StrCat("'", vocabulary[w].str(), "' sent ", want[w], " times, held by nobody"));
    }
  }
  checks.expect(unknown == 0 && missing == 0 && twice == 0,
                absl::StrCat("each of the ", with_commas(distinct), " distinct words held by exactly one worker (",
                             missing, " missing, ", twice, " duplicated, ", unknown, " unknown)"));
  checks.expect(wrong_owner == 0, absl::StrCat("each word on its owner in the final ring ", slots_of(slots), " (",
                                               wrong_owner, " misplaced)"));
  checks.expect(wrong_count == 0,
                absl::StrCat("each word's count equals the producers' own count (", wrong_count, " differ)"));
  for (const std::string& e : examples) std::printf("        e.g. %s\n", e.c_str());

  if (!checks.failures.empty()) {
    std::printf("\n%zu check(s) FAILED\n", checks.failures.size());
    return 1;
  }
  std::printf("\nall checks passed\n");
  return 0;
}
