// Word count across the ranks of an MPI job: one keyed pool over every process.
//
// What it shows:
//   - sn::Cluster and sn::ClusterPool: each rank (one process of `mpirun -np N`) runs a
//     few workers, and together they form one pool. Every word has one owner worker in
//     the whole job: the rank that a jump hash of sn::routing_key(word) picks, then the
//     worker that rank's partitioner picks. pool->send(key, word) on any rank reaches it;
//   - messages on the wire: Word is trivially copyable, so it crosses ranks as its 16
//     bytes, batched into frames, with no serialization code;
//   - a collective shutdown: shutdown() on every rank drains the whole job, words still
//     travelling between ranks included, before any worker stops;
//   - figures from every rank: gather_stats() for the pools' counters, and
//     Cluster::all_gather for the example's own, printed by rank 0.
//
// Each rank sends its own part of a synthetic, deterministic corpus: the Zipf-like text of
// word_count (support/word_corpus.h), seeded by the rank, so the ranks send different
// text. Every rank can regenerate every rank's part, so each knows exactly how often each
// word it owns was sent from anywhere, and checks its workers' counts against that. Every
// rank makes every collective call whatever its checks found, and all ranks exit with the
// same status: 0 only if every check holds on every rank.
//
// Usage: mpirun -np N cluster_word_count [--words=N] [--workers=W] [--producers=P]
//          --words      words each rank sends (default 2,000,000)
//          --workers    workers on each rank (default 2)
//          --producers  producer threads on each rank (default 1)
//   e.g.   mpirun -np 2 build/release/examples/cluster_word_count                  the README demo
//          mpirun -np 2 build/release/examples/cluster_word_count --words=200000   the ctest size
// As root, or with more ranks than cores, Open MPI wants more flags: the ctest passes
// SN_MPIEXEC_FLAGS (tests/CMakeLists.txt).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <numeric>
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
#include "sn/cluster/cluster.h"
#include "sn/cluster/cluster_pool.h"
#include "sn/cluster/owner.h"
#include "sn/partitioners/hash.h"
#include "sn/partitioners/key.h"
#include "sn/worker_pool.h"
#include "support/flags.h"
#include "support/report.h"
#include "support/word_corpus.h"

ABSL_FLAG(std::uint64_t, words, 2'000'000, "words each rank sends, 1..10^12");
ABSL_FLAG(std::uint64_t, workers, 2, "workers on each rank, 1..64");
ABSL_FLAG(std::uint64_t, producers, 1, "producer threads on each rank, 1..64");

namespace {

using sn::examples::Corpus;
using sn::examples::grouped;
using sn::examples::make_vocabulary;
using sn::examples::Word;  // the message: one word, 16 bytes inline (support/word_corpus.h)
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------------ the worker

/// A worker's State: the counts of the words it owns, touched by its own thread only.
struct Counts {
  absl::flat_hash_map<Word, std::uint64_t> words;
};

/// What this rank's workers report to main (one process is one rank).
struct Report {
  struct Held {
    std::size_t worker;
    Word word;
    std::uint64_t count;
  };
  int rank = 0;                             // written before the pool exists, only read after
  int ranks = 1;                            // likewise
  std::atomic<std::uint64_t> not_owned{0};  // words handled off their owner rank or worker
  std::mutex mu;
  std::vector<Held> held;  // guarded by mu: every worker's final counts, from on_stop
};

struct WordCounter : sn::Worker<Counts, Word> {
  explicit WordCounter(Report* report) : report_(report) {}

  /// As in word_count: prefetch the batch's map slots, then count. e.key is
  /// sn::routing_key(word) as the sender computed it, on whichever rank: the owner rule
  /// must have brought it to this rank, and this rank's partitioner to this worker.
  void handle_batch(Counts& s, std::span<sn::Envelope<Word>> batch) {
    for (const sn::Envelope<Word>& e : batch) s.words.prefetch(e.payload);
    std::uint64_t foreign = 0;
    for (const sn::Envelope<Word>& e : batch) {
      if (sn::owner_rank(e.key, report_->ranks) != report_->rank || !context().owns(e.key)) ++foreign;
      ++s.words[e.payload];
    }
    if (foreign != 0) report_->not_owned.fetch_add(foreign, std::memory_order_relaxed);
  }

  /// Once, after the last word: shutdown() has drained every rank by then, so these
  /// counts are final.
  void on_stop(Counts& s) {
    std::lock_guard lock(report_->mu);
    for (const auto& [word, count] : s.words) report_->held.push_back({context().index(), word, count});
  }

 private:
  Report* report_;
};

using Pool = sn::ClusterPool<WordCounter>;

// ------------------------------------------------------------------------ what the ranks share

/// One rank's own figures, gathered from every rank after shutdown: one all_gather per
/// field of kFigureFields, in that order, which every rank runs alike.
struct Figures {
  std::uint64_t sent = 0;         // words this rank's producers sent (send returned ok)
  std::uint64_t refused = 0;      // sends that did not return ok (none expected)
  std::uint64_t counted = 0;      // the sum of this rank's final counts
  std::uint64_t distinct = 0;     // words held on this rank (one entry per worker and word)
  std::uint64_t shut_ok = 0;      // 1 when this rank's shutdown() returned OK
  std::uint64_t not_owned = 0;    // words handled off their owner (Report::not_owned)
  std::uint64_t misplaced = 0;    // held words that another rank or worker owns
  std::uint64_t unknown = 0;      // held words not in the vocabulary
  std::uint64_t duplicated = 0;   // words held by two workers of this rank
  std::uint64_t wrong_count = 0;  // held words whose count differs from the corpus'
  std::uint64_t missing = 0;      // words this rank owns that were sent but are held by nobody
  std::uint64_t frames_sent = 0;  // ClusterStats::frames_sent
  std::uint64_t micros = 0;       // from the first send to the end of shutdown()
};
constexpr std::array kFigureFields = {
    &Figures::sent,      &Figures::refused,     &Figures::counted, &Figures::distinct,   &Figures::shut_ok,
    &Figures::not_owned, &Figures::misplaced,   &Figures::unknown, &Figures::duplicated, &Figures::wrong_count,
    &Figures::missing,   &Figures::frames_sent, &Figures::micros,
};

/// The sum of one field over ranks.
template <class Row>
std::uint64_t sum_of(const std::vector<Row>& rows, std::uint64_t Row::*field) {
  return std::accumulate(rows.begin(), rows.end(), std::uint64_t{0},
                         [field](std::uint64_t total, const Row& r) { return total + r.*field; });
}

/// One of the most frequent words: how often the corpus has it, and what its owner counted.
struct TopWord {
  std::size_t index;
  std::uint64_t sent;
  std::uint64_t counted;  // summed over ranks: only the owner rank holds it
  int owner;
};

/// Collects the failed checks. Every rank evaluates every check on the same gathered
/// figures, so every rank reaches the same verdict; rank 0 alone prints them.
struct Checks {
  bool print = false;
  int failures = 0;
  void expect(bool ok, const std::string& what) {
    if (print) std::printf("  %s  %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failures;
  }
};

// ------------------------------------------------------------------------ the run

/// The command line, read and range-checked.
struct Options {
  std::uint64_t words = 0;  // per rank
  std::size_t workers = 0;  // per rank
  std::size_t producers = 0;
};

/// Reads the flags into `o`; false (after saying why) when one is out of range.
bool read_options(Options& o) {
  return sn::examples::read_flag(FLAGS_words, 1, 1'000'000'000'000, o.words) &&
         sn::examples::read_flag(FLAGS_workers, 1, 64, o.workers) &&
         sn::examples::read_flag(FLAGS_producers, 1, 64, o.producers);
}

/// One rank's run of the demo. Its members are what the phases share; each method is one
/// phase, called in order by run(). The collective calls (create, shutdown, gather_stats,
/// all_gather) come in the same order on every rank, whatever went wrong before them.
class ClusterWordCountRun {
 public:
  static constexpr std::size_t kVocabulary = 50'000;
  static constexpr std::uint64_t kSeed = 20260101;  // rank r's text is drawn from seed kSeed + r
  static constexpr std::size_t kTopWords = 10;

  explicit ClusterWordCountRun(const Options& o) : opts_(o), sent_by_(o.producers, 0) {}

  /// Runs every phase; returns the exit status (0 only if every check holds on every rank).
  int run();

 private:
  bool join_cluster();
  bool create_pool();
  void produce_all();
  void produce(std::size_t p);
  void shut_down();
  void tally_expected();
  void audit_held();
  absl::Status gather();
  absl::Status gather_top_words();
  void print_ranks() const;
  void print_totals() const;
  void print_top_words() const;
  int check_all() const;
  Corpus corpus_of(int rank) const {
    return Corpus(opts_.words, kVocabulary, kSeed + static_cast<std::uint64_t>(rank));
  }
  bool owned_here(std::size_t word) const {
    return pool_->owner_of(sn::routing_key(vocabulary_[word].view())) == rank_;
  }
  void note(std::string line) {
    if (examples_.size() < 5) examples_.push_back(std::move(line));
  }

  const Options opts_;
  const std::vector<Word> vocabulary_ = make_vocabulary(kVocabulary);
  std::unique_ptr<sn::Cluster> cluster_;  // declared before report_ and pool_: outlives both
  int rank_ = 0;
  int ranks_ = 1;
  Report report_;  // outlives the pool: the workers write to it
  std::unique_ptr<Pool> pool_;

  // The producers'.
  std::vector<std::uint64_t> sent_by_;  // per producer, written by that producer only
  std::atomic<std::uint64_t> refused_{0};
  Clock::time_point start_;

  // This rank's results.
  Figures mine_;
  std::vector<std::uint64_t> want_;        // how often each word was sent, all ranks together
  std::vector<std::uint64_t> held_count_;  // each word's count on this rank (0 when not held)
  std::vector<std::string> examples_;      // the first mismatches found here, for stderr

  // Every rank's, after gather().
  absl::Status gathered_;
  std::vector<sn::RankStats> rank_stats_;
  std::vector<Figures> figures_;
  std::vector<TopWord> top_;
};

int ClusterWordCountRun::run() {
  if (!join_cluster() || !create_pool()) return 1;
  produce_all();
  shut_down();
  tally_expected();
  audit_held();
  gathered_ = gather();
  for (const std::string& e : examples_) std::fprintf(stderr, "rank %d: e.g. %s\n", rank_, e.c_str());
  if (rank_ == 0 && gathered_.ok()) {
    print_ranks();
    print_totals();
    print_top_words();
  }
  return check_all();
}

bool ClusterWordCountRun::join_cluster() {
  absl::StatusOr<std::unique_ptr<sn::Cluster>> cluster = sn::Cluster::create();
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot join the MPI job: %s\n", cluster.status().ToString().c_str());
    return false;
  }
  cluster_ = *std::move(cluster);
  rank_ = cluster_->rank();
  ranks_ = cluster_->size();
  report_.rank = rank_;
  report_.ranks = ranks_;
  if (rank_ == 0) {
    const std::string& mpi = cluster_->library_version();
    std::printf("cluster_word_count: %d ranks, each sending %s words drawn from %s made-up words (seed %llu + rank)\n",
                ranks_, grouped(opts_.words).c_str(), grouped(kVocabulary).c_str(),
                static_cast<unsigned long long>(kSeed));
    std::printf("each rank: workers %zu, producer threads %zu; MPI: %s\n", opts_.workers, opts_.producers,
                mpi.substr(0, mpi.find_first_of(",\n")).c_str());
    std::fflush(stdout);
  }
  return true;
}

// Collective: every rank creates its part, and create() returns an error on every rank
// when one of them failed, so the ranks leave together. The default partitioner within a
// rank is the stable HashPartitioner, which audit_held() recomputes.
bool ClusterWordCountRun::create_pool() {
  absl::StatusOr<std::unique_ptr<Pool>> created =
      Pool::create(*cluster_, sn::PoolConfig().with_num_workers(opts_.workers).with_name("cwc"), sn::ClusterOptions{},
                   [this](std::size_t) { return std::make_unique<WordCounter>(&report_); });
  if (!created.ok()) {
    std::fprintf(stderr, "rank %d: cannot create the pool: %s\n", rank_, created.status().ToString().c_str());
    return false;
  }
  pool_ = *std::move(created);
  return true;
}

void ClusterWordCountRun::produce_all() {
  start_ = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < opts_.producers; ++p) threads.emplace_back([this, p] { produce(p); });
  for (std::thread& t : threads) t.join();
}

// Producer p sends blocks p, p + producers, ... of this rank's text, one word per send.
void ClusterWordCountRun::produce(std::size_t p) {
  const Corpus corpus = corpus_of(rank_);
  std::uint64_t sent = 0;
  for (std::uint64_t block = p; block < corpus.blocks(); block += opts_.producers) {
    corpus.for_each_in_block(block, [&](std::size_t w) {
      const Word& word = vocabulary_[w];
      // The same key on every rank. A word owned here goes straight to its worker's
      // inbox; one owned elsewhere into a frame for its rank. Under FullPolicy::block
      // (the default) this waits while the owner's inbox is full, or while every frame
      // buffer for its rank is in use (the receiver's credits bound them).
      if (pool_->send(sn::routing_key(word.view()), Word(word)) == sn::SendResult::ok) {
        ++sent;
      } else {
        refused_.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  sent_by_[p] = sent;
}

void ClusterWordCountRun::shut_down() {
  // Collective: refuses new sends, waits until no word is left anywhere (in frames, in
  // flight, in any rank's queues), then runs on_stop on every worker and joins them.
  const absl::Status shut = pool_->shutdown();
  mine_.micros =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count());
  if (!shut.ok()) std::fprintf(stderr, "rank %d: shutdown: %s\n", rank_, shut.ToString().c_str());
  mine_.shut_ok = shut.ok() ? 1 : 0;
  mine_.sent = std::accumulate(sent_by_.begin(), sent_by_.end(), std::uint64_t{0});
  mine_.refused = refused_.load();
  mine_.not_owned = report_.not_owned.load();
  mine_.frames_sent = pool_->cluster_stats().frames_sent;
}

// Every rank's text, regenerated here: the expected count of every word in the job.
void ClusterWordCountRun::tally_expected() {
  want_.assign(kVocabulary, 0);
  for (int r = 0; r < ranks_; ++r) {
    const Corpus corpus = corpus_of(r);
    for (std::uint64_t b = 0; b < corpus.blocks(); ++b) corpus.for_each_in_block(b, [&](std::size_t w) { ++want_[w]; });
  }
}

// Every word held here must be owned here (the owner rule picks this rank, the local
// HashPartitioner the worker that holds it), once, with the count the corpus has; and
// every word the owner rule gives this rank that was sent must be held here.
void ClusterWordCountRun::audit_held() {
  absl::flat_hash_map<Word, std::size_t> index_of;
  for (std::size_t i = 0; i < vocabulary_.size(); ++i) index_of.emplace(vocabulary_[i], i);
  held_count_.assign(kVocabulary, 0);
  std::vector<int> seen(kVocabulary, 0);
  for (const Report::Held& h : report_.held) {
    mine_.counted += h.count;
    const auto it = index_of.find(h.word);
    if (it == index_of.end()) {
      ++mine_.unknown;
      note(absl::StrCat("unknown word '", h.word.str(), "' on worker ", h.worker));
      continue;
    }
    const std::size_t w = it->second;
    if (seen[w]++ != 0) {
      ++mine_.duplicated;
      note(absl::StrCat("'", h.word.str(), "' held by two workers (again by ", h.worker, ")"));
    }
    const std::uint64_t key = sn::routing_key(h.word.view());
    const int owner_rank = pool_->owner_of(key);
    const std::size_t owner_worker = sn::HashPartitioner{}(key, opts_.workers);
    if (owner_rank != rank_ || owner_worker != h.worker) {
      ++mine_.misplaced;
      note(absl::StrCat("'", h.word.str(), "' on worker ", h.worker, ", owner: rank ", owner_rank, " worker ",
                        owner_worker));
    }
    held_count_[w] += h.count;
    if (h.count != want_[w]) {
      ++mine_.wrong_count;
      note(absl::StrCat("'", h.word.str(), "' counted ", h.count, ", sent ", want_[w]));
    }
  }
  for (std::size_t w = 0; w < kVocabulary; ++w) {
    if (want_[w] != 0 && seen[w] == 0 && owned_here(w)) {
      ++mine_.missing;
      note(absl::StrCat("'", vocabulary_[w].str(), "' sent ", want_[w], " times, held by nobody"));
    }
  }
  mine_.distinct = report_.held.size();
}

// Collective: gather_stats(), then each of this rank's figures, then the top words.
absl::Status ClusterWordCountRun::gather() {
  absl::StatusOr<std::vector<sn::RankStats>> stats = pool_->gather_stats();
  if (!stats.ok()) return stats.status();
  rank_stats_ = *std::move(stats);
  figures_.assign(static_cast<std::size_t>(ranks_), Figures{});
  for (std::uint64_t Figures::*field : kFigureFields) {
    absl::StatusOr<std::vector<std::uint64_t>> all = cluster_->all_gather(mine_.*field);
    if (!all.ok()) return all.status();
    for (std::size_t r = 0; r < figures_.size(); ++r) figures_[r].*field = (*all)[r];
  }
  return gather_top_words();
}

// The most frequent words of the whole corpus (the same list on every rank), and what
// their owners counted: each rank gives its count (0 unless it owns the word).
absl::Status ClusterWordCountRun::gather_top_words() {
  std::vector<std::size_t> order(kVocabulary);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const std::size_t shown = std::min(kTopWords, order.size());
  std::partial_sort(
      order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
      [this](std::size_t a, std::size_t b) { return want_[a] != want_[b] ? want_[a] > want_[b] : a < b; });
  for (std::size_t i = 0; i < shown; ++i) {
    const std::size_t w = order[i];
    absl::StatusOr<std::vector<std::uint64_t>> all = cluster_->all_gather(held_count_[w]);
    if (!all.ok()) return all.status();
    top_.push_back({w, want_[w], std::accumulate(all->begin(), all->end(), std::uint64_t{0}),
                    pool_->owner_of(sn::routing_key(vocabulary_[w].view()))});
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------------ printing (rank 0)

/// One row per rank: what its producers sent, what its workers hold, what crossed.
void ClusterWordCountRun::print_ranks() const {
  std::printf("\n%4s %12s %12s %9s %12s %12s %10s %9s %8s\n", "rank", "sent", "counted", "distinct", "records out",
              "records in", "frames out", "rec/frame", "seconds");
  for (std::size_t r = 0; r < figures_.size(); ++r) {
    const Figures& f = figures_[r];
    const sn::RankStats& s = rank_stats_[r];
    const double per_frame =
        f.frames_sent != 0 ? static_cast<double>(s.records_sent) / static_cast<double>(f.frames_sent) : 0.0;
    std::printf("%4zu %12s %12s %9s %12s %12s %10s %9.1f %8.2f\n", r, grouped(f.sent).c_str(),
                grouped(f.counted).c_str(), grouped(f.distinct).c_str(), grouped(s.records_sent).c_str(),
                grouped(s.records_received).c_str(), grouped(f.frames_sent).c_str(), per_frame,
                static_cast<double>(f.micros) / 1e6);
  }
}

/// The cluster's totals, from gather_stats().
void ClusterWordCountRun::print_totals() const {
  std::uint64_t slowest = 0;
  for (const Figures& f : figures_) slowest = std::max(slowest, f.micros);
  const std::uint64_t counted = sum_of(figures_, &Figures::counted);
  const double seconds = static_cast<double>(slowest) / 1e6;
  std::printf("%4s %12s %12s %9s %12s %12s %10s %9s %8.2f\n", "all", grouped(sum_of(figures_, &Figures::sent)).c_str(),
              grouped(counted).c_str(), grouped(sum_of(figures_, &Figures::distinct)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::records_sent)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::records_received)).c_str(),
              grouped(sum_of(figures_, &Figures::frames_sent)).c_str(), "", seconds);
  std::printf("\ncounted %s words on %d ranks in %.2f s = %.2f M words/s\n", grouped(counted).c_str(), ranks_, seconds,
              seconds > 0 ? static_cast<double>(counted) / seconds / 1e6 : 0.0);
  std::printf("gather_stats: accepted %s, processed %s, failed %s, dropped %s, rejected %s, frames rejected %s\n",
              grouped(sum_of(rank_stats_, &sn::RankStats::accepted)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::processed)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::failed)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::dropped)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::rejected)).c_str(),
              grouped(sum_of(rank_stats_, &sn::RankStats::frames_rejected)).c_str());
}

/// The most frequent words, as their owner ranks counted them.
void ClusterWordCountRun::print_top_words() const {
  const std::uint64_t total = std::max<std::uint64_t>(1, sum_of(figures_, &Figures::sent));
  std::printf("\n%4s  %-8s %12s %7s %6s\n", "#", "word", "count", "share", "owner");
  for (std::size_t i = 0; i < top_.size(); ++i) {
    const TopWord& t = top_[i];
    std::printf("%4zu  %-8s %12s %6.2f%% rank %d\n", i + 1, vocabulary_[t.index].str().c_str(),
                grouped(t.counted).c_str(), 100.0 * static_cast<double>(t.counted) / static_cast<double>(total),
                t.owner);
  }
}

// ------------------------------------------------------------------------ the checks

// Nothing here depends on timing: each check holds however the threads and ranks
// interleaved. Every rank runs them on the same gathered figures.
int ClusterWordCountRun::check_all() const {
  Checks checks{.print = rank_ == 0};
  if (checks.print) std::printf("\nchecks\n");
  checks.expect(gathered_.ok(), absl::StrCat("every rank's figures gathered: ", gathered_.ToString()));
  if (!gathered_.ok()) return 1;
  const auto f = [this](std::uint64_t Figures::*field) { return sum_of(figures_, field); };
  const auto s = [this](std::uint64_t sn::RankStats::*field) { return sum_of(rank_stats_, field); };
  const std::uint64_t sent = f(&Figures::sent), counted = f(&Figures::counted);
  const std::uint64_t corpus = opts_.words * static_cast<std::uint64_t>(ranks_);
  std::uint64_t distinct_in_corpus = 0;
  for (std::uint64_t c : want_) distinct_in_corpus += c != 0 ? 1 : 0;

  checks.expect(f(&Figures::shut_ok) == figures_.size(),
                absl::StrCat("shutdown returned OK on ", f(&Figures::shut_ok), " of ", ranks_, " ranks"));
  checks.expect(f(&Figures::refused) == 0 && sent == corpus,
                absl::StrCat("every rank sent its whole text: ", grouped(sent), " of ", grouped(corpus), " words (",
                             f(&Figures::refused), " refused)"));
  checks.expect(counted == sent && s(&sn::RankStats::processed) == sent,
                absl::StrCat("counted over ranks == sent over ranks: ", grouped(counted), " == ", grouped(sent),
                             " (processed ", grouped(s(&sn::RankStats::processed)), ")"));
  checks.expect(s(&sn::RankStats::accepted) ==
                        s(&sn::RankStats::processed) + s(&sn::RankStats::failed) + s(&sn::RankStats::dropped) &&
                    s(&sn::RankStats::failed) == 0 && s(&sn::RankStats::dropped) == 0,
                absl::StrCat("stats balanced over ranks: accepted ", grouped(s(&sn::RankStats::accepted)),
                             " = processed ", grouped(s(&sn::RankStats::processed)), " + failed ",
                             s(&sn::RankStats::failed), " + dropped ", s(&sn::RankStats::dropped)));
  checks.expect(
      s(&sn::RankStats::records_sent) == s(&sn::RankStats::records_received) && s(&sn::RankStats::frames_rejected) == 0,
      absl::StrCat("records sent to other ranks == records received: ", grouped(s(&sn::RankStats::records_sent)),
                   " == ", grouped(s(&sn::RankStats::records_received)), " (", s(&sn::RankStats::frames_rejected),
                   " frames rejected)"));
  checks.expect(f(&Figures::not_owned) == 0, absl::StrCat("every word handled on its owner rank and worker (",
                                                          f(&Figures::not_owned), " violations)"));
  checks.expect(f(&Figures::misplaced) == 0 && f(&Figures::unknown) == 0,
                absl::StrCat("every word held on its owner rank and worker (", f(&Figures::misplaced), " misplaced, ",
                             f(&Figures::unknown), " unknown)"));
  checks.expect(f(&Figures::wrong_count) == 0 && f(&Figures::missing) == 0,
                absl::StrCat("each word's count equals its count in every rank's regenerated text (",
                             f(&Figures::wrong_count), " differ, ", f(&Figures::missing), " missing)"));
  checks.expect(f(&Figures::distinct) == distinct_in_corpus && f(&Figures::duplicated) == 0,
                absl::StrCat("no word counted twice: distinct words summed over ranks ", grouped(f(&Figures::distinct)),
                             " == distinct words in the whole text ", grouped(distinct_in_corpus)));
  if (checks.print) {
    if (checks.failures != 0) {
      std::printf("\n%d check(s) FAILED\n", checks.failures);
    } else {
      std::printf("\nall checks passed on every rank\n");
    }
  }
  return checks.failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Before MPI starts: every rank reads the same command line, so a bad flag stops every
  // rank alike, and --help needs no mpirun.
  if (!sn::examples::parse_flags(argc, argv,
                                 "counts the words of a synthetic corpus on a pool that spans the ranks of an MPI job "
                                 "(mpirun -np N), then checks every count")) {
    return sn::examples::kUsageError;
  }
  Options options;
  if (!read_options(options)) return sn::examples::kUsageError;
  ClusterWordCountRun run(options);
  return run.run();
}
