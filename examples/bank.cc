// Bank transfers between accounts owned by different workers, with worker-to-worker calls,
// injected failures and compensation. Money is never created or lost.
//
// Each account lives on one worker (the owner of its key). A transfer is a call to the
// source account's owner, which answers later, through an sn::Reply:
//   1. it withdraws the amount from the source (it owns it: no call needed), or answers
//      `refused` when the balance is short;
//   2. it calls Deposit on the destination's owner (WorkerContext::call, a short
//      deadline; the owner may be itself);
//   3. the callback runs back on the source's owner: a reply means the transfer is
//      complete; an error (the callee refused, or the deadline passed) means the money
//      never arrived, so it re-credits the source (the compensation). Either way it
//      answers the client.
//
// Faults are injected on the callee, from a hash of the transfer's id: a share of the
// Deposits fail with an error, and another share are slow: the callee keeps the Reply
// and answers it from a timer (send_after) up to twice the deadline later, so about
// half of them miss it.
//
// Why Deposit answers through a Reply, even when it answers at once: a caller that
// times out compensates, so the money must not also arrive. Only the callee can tell,
// and only the deferred form tells it: Reply::complete() returns ReplyResult::too_late
// when the call had already completed (here: DeadlineExceeded), and the callee then
// takes the deposit back, in the same handler, before anyone can see it. (A handle_call
// that returns its answer cannot learn that it came too late; the runtime only counts
// it in late_replies.) So each deposit takes effect exactly when its caller sees it
// succeed, and the total of all balances never changes.
//
// Checks: every transfer got an outcome; completed + compensated + refused = transfers,
// on the clients and on the workers alike; each compensation matches one failed or
// timed-out Deposit call, and each deposit that stayed matches one completed transfer;
// the total balance is exactly the initial total, both through a Balance call per
// account before shutdown() and from the workers' on_stop after it; no account is
// negative; the pool's call counters agree.
//
// Usage: bank [options]
//   --transfers=N      transfers in all (default 200,000)
//   --clients=C        client threads (default 4, at most 64)
//   --window=N         transfers each client keeps in flight (default 16)
//   --workers=W        pool workers (default 3, at most 64)
//   --accounts=A       accounts (default 64), each opened with 1,000
//   --fail_percent=P   Deposits that fail with an error (default 10)
//   --slow_percent=P   Deposits answered from a timer, up to 2x the deadline late (default 10)
//   --deadline_us=D    the Deposit call's deadline (default 2,000 us)
//   --help             this text
// The ctest runs 5,000 transfers. Exit code 0 only if every check passes. How many
// transfers time out depends on scheduling; no check depends on it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sn/worker_pool.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, transfers, 200'000, "transfers in all, 1..4294967296");
ABSL_FLAG(std::uint64_t, clients, 4, "client threads, 1..64");
ABSL_FLAG(std::uint64_t, window, 16, "transfers each client keeps in flight, 1..4096");
ABSL_FLAG(std::uint64_t, workers, 3, "pool workers, 1..64");
ABSL_FLAG(std::uint64_t, accounts, 64, "accounts, 2..1048576, each opened with 1000");
ABSL_FLAG(std::uint64_t, fail_percent, 10, "Deposits that fail with an error, in percent (fail + slow at most 100)");
ABSL_FLAG(std::uint64_t, slow_percent, 10,
          "Deposits answered from a timer, up to 2x the deadline late, in percent (fail + slow at most 100)");
ABSL_FLAG(std::uint64_t, deadline_us, 2000, "the Deposit call's deadline in microseconds, 1..60000000");

namespace {

using Clock = std::chrono::steady_clock;
using sn::examples::grouped;
using sn::examples::mix64;

constexpr std::int64_t kOpeningBalance = 1000;

// ----------------------------------------------------------------- messages

/// A call to the source account's owner (the key): move `amount` to account `to`.
struct Transfer {
  std::uint64_t to;
  std::int64_t amount;
  std::uint64_t id;  // picks the injected fault
};
/// A call to the destination's owner (the key), from the source's owner: credit `amount`.
/// Answers the new balance.
struct Deposit {
  std::int64_t amount;
  std::uint64_t id;
};
/// A call to an account's owner: its balance.
struct Balance {};
/// A timer's message to itself: answer the slow Deposit held under `hold`.
struct Release {
  std::uint64_t hold;
};
using Message = std::variant<Transfer, Deposit, Balance, Release>;

/// What a transfer came to; the answer of a Transfer call.
enum class Outcome : std::uint8_t { completed, compensated, refused };

// ----------------------------------------------------------------- the worker

using Accounts =
    absl::flat_hash_map<std::uint64_t, std::int64_t, absl::Hash<std::uint64_t>, std::equal_to<std::uint64_t>,
                        sn::HeapAllocator<std::pair<const std::uint64_t, std::int64_t>>>;

/// A slow Deposit: its Reply, kept until its timer fires.
struct Held {
  sn::Reply<std::int64_t> reply;
  std::uint64_t account;
  std::int64_t amount;
};

/// The worker's tallies; the field names say where each is counted.
struct Tally {
  std::uint64_t transfers = 0, refused = 0, completed = 0;                  // as the source
  std::uint64_t compensated_error = 0, compensated_timeout = 0;             // as the source
  std::uint64_t deposits_kept = 0, deposits_failed = 0, deposits_held = 0;  // as the destination
  std::uint64_t deposits_taken_back = 0;                                    // answered too late: undone
  std::uint64_t unexpected = 0;                                             // requests sent as messages
};

struct Ledger {
  Accounts accounts;
  absl::flat_hash_map<std::uint64_t, Held> held = {};  // [hold id]
  std::uint64_t next_hold = 0;
  Tally tally = {};
};

struct Faults {
  std::uint64_t fail_percent = 10;
  std::uint64_t slow_percent = 10;
  absl::Duration deadline = absl::Microseconds(2000);
};

/// What the workers hand to main from on_stop, under `mu`.
struct BankReport {
  std::mutex mu;
  std::int64_t total = 0;
  std::uint64_t accounts = 0, negative = 0, held_at_stop = 0;
  Tally tally;
};

class Teller : public sn::Worker<Ledger, Message> {
 public:
  Teller(std::uint64_t accounts, Faults faults, BankReport* report)
      : accounts_(accounts), faults_(faults), report_(report) {}

  Ledger init() { return Ledger{Accounts(Accounts::allocator_type(context().heap()))}; }
  /// Opens the accounts this worker owns.
  void on_start(Ledger& l) {
    for (std::uint64_t a = 0; a < accounts_; ++a) {
      if (context().owns(a)) l.accounts.emplace(a, kOpeningBalance);
    }
  }

  void handle_call(Ledger& l, sn::Envelope<Transfer> e, sn::Reply<Outcome> reply) {
    ++l.tally.transfers;
    const std::uint64_t from = e.key;
    const std::int64_t amount = e.payload.amount;
    std::int64_t& source = l.accounts.at(from);
    if (source < amount) {
      ++l.tally.refused;
      (void)reply.complete(Outcome::refused);
      return;
    }
    source -= amount;  // in flight from here until the callback
    context().call<std::int64_t>(
        e.payload.to, Deposit{amount, e.payload.id}, faults_.deadline,
        [reply = std::move(reply), from, amount](Ledger& later, absl::StatusOr<std::int64_t> deposited) mutable {
          if (deposited.ok()) {
            ++later.tally.completed;
            (void)reply.complete(Outcome::completed);
            return;
          }
          later.accounts.at(from) += amount;  // the money never arrived: give it back
          ++(absl::IsDeadlineExceeded(deposited.status()) ? later.tally.compensated_timeout
                                                          : later.tally.compensated_error);
          (void)reply.complete(Outcome::compensated);
        });
  }

  void handle_call(Ledger& l, sn::Envelope<Deposit> e, sn::Reply<std::int64_t> reply) {
    const std::uint64_t h = mix64(e.payload.id ^ 0xdeadbeefULL);
    const std::uint64_t pick = h % 100;
    if (pick < faults_.fail_percent) {
      ++l.tally.deposits_failed;
      (void)reply.fail(absl::UnavailableError("injected: the destination's branch is closed"));
      return;
    }
    if (pick < faults_.fail_percent + faults_.slow_percent) {
      ++l.tally.deposits_held;
      const std::uint64_t hold = l.next_hold++;
      l.held.emplace(hold, Held{std::move(reply), e.key, e.payload.amount});
      const absl::Duration delay = faults_.deadline * static_cast<double>((h >> 32) % 2001) / 1000.0;
      context().send_after(delay, e.key, Release{hold});
      return;
    }
    deposit(l, e.key, e.payload.amount, reply);
  }

  std::int64_t handle_call(Ledger& l, sn::Envelope<Balance> e) { return l.accounts.at(e.key); }

  void handle_message(Ledger& l, sn::Envelope<Release> e) {
    auto it = l.held.find(e.payload.hold);
    if (it == l.held.end()) return;
    deposit(l, it->second.account, it->second.amount, it->second.reply);
    l.held.erase(it);
  }
  /// Transfer, Deposit and Balance come only as calls.
  template <class T>
  void handle_message(Ledger& l, sn::Envelope<T>) {
    ++l.tally.unexpected;
  }

  void on_stop(Ledger& l) {
    std::lock_guard lock(report_->mu);
    for (const auto& [account, balance] : l.accounts) {
      report_->total += balance;
      report_->negative += balance < 0 ? 1 : 0;
    }
    report_->accounts += l.accounts.size();
    report_->held_at_stop += l.held.size();  // their callers timed out long ago: nothing was credited
    Tally& t = report_->tally;
    t.transfers += l.tally.transfers;
    t.refused += l.tally.refused;
    t.completed += l.tally.completed;
    t.compensated_error += l.tally.compensated_error;
    t.compensated_timeout += l.tally.compensated_timeout;
    t.deposits_kept += l.tally.deposits_kept;
    t.deposits_failed += l.tally.deposits_failed;
    t.deposits_held += l.tally.deposits_held;
    t.deposits_taken_back += l.tally.deposits_taken_back;
    t.unexpected += l.tally.unexpected;
  }

 private:
  /// Credits and answers; when the answer comes too late (the caller has timed out and
  /// is compensating), takes the credit back before anyone else can see it.
  static void deposit(Ledger& l, std::uint64_t account, std::int64_t amount, sn::Reply<std::int64_t>& reply) {
    std::int64_t& balance = l.accounts.at(account);
    balance += amount;
    if (reply.complete(balance) == sn::ReplyResult::too_late) {
      balance -= amount;
      ++l.tally.deposits_taken_back;
      return;
    }
    ++l.tally.deposits_kept;
  }

  std::uint64_t accounts_;
  Faults faults_;
  BankReport* report_;
};

using Pool = sn::WorkerPool<Teller>;

// ----------------------------------------------------------------- the clients

/// What the flags asked for; read_options() fills it, and the flags hold the defaults.
struct Options {
  std::uint64_t transfers = 0;
  std::uint64_t clients = 0;
  std::uint64_t window = 0;
  std::uint64_t workers = 0;
  std::uint64_t accounts = 0;
  Faults faults;
};

/// Transfer `id`: from, to (another account) and an amount of 1..200, from a fixed hash.
struct Plan {
  std::uint64_t from, to;
  std::int64_t amount;
};
Plan plan(std::uint64_t id, std::uint64_t accounts) noexcept {
  const std::uint64_t h = mix64(id);
  const std::uint64_t from = h % accounts;
  const std::uint64_t to = accounts == 1 ? from : (from + 1 + (h >> 20) % (accounts - 1)) % accounts;
  return Plan{from, to, static_cast<std::int64_t>(1 + (h >> 44) % 200)};
}

struct ClientLog {
  std::uint64_t completed = 0, compensated = 0, refused = 0, failed = 0;
  std::string first_error;
};

/// The options from the flags, or nothing (after saying which flag is wrong).
std::optional<Options> read_options() {
  using sn::examples::read_flag;
  Options o;
  std::uint64_t deadline_us = 0;
  if (!read_flag(FLAGS_transfers, 1, std::uint64_t{1} << 32, o.transfers) ||
      !read_flag(FLAGS_clients, 1, 64, o.clients) || !read_flag(FLAGS_window, 1, 4096, o.window) ||
      !read_flag(FLAGS_workers, 1, 64, o.workers) || !read_flag(FLAGS_accounts, 2, 1u << 20, o.accounts) ||
      !read_flag(FLAGS_fail_percent, 0, 100, o.faults.fail_percent) ||
      !read_flag(FLAGS_slow_percent, 0, 100, o.faults.slow_percent) ||
      !read_flag(FLAGS_deadline_us, 1, 60'000'000, deadline_us)) {
    return std::nullopt;
  }
  if (o.faults.fail_percent + o.faults.slow_percent > 100) {
    std::fprintf(stderr, "ERROR: --fail_percent=%llu plus --slow_percent=%llu is over 100\n",
                 static_cast<unsigned long long>(o.faults.fail_percent),
                 static_cast<unsigned long long>(o.faults.slow_percent));
    return std::nullopt;
  }
  o.faults.deadline = absl::Microseconds(static_cast<std::int64_t>(deadline_us));
  return o;
}

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }
long long ll(std::int64_t v) { return static_cast<long long>(v); }

// ----------------------------------------------------------------- the run

/// One run of the example. Its members are what the phases share (the pool, the
/// clients' logs, the audit); each method is one phase, called in order by run().
class BankRun {
 public:
  explicit BankRun(const Options& o)
      : o_(o), initial_total_(kOpeningBalance * static_cast<std::int64_t>(o.accounts)), logs_(o.clients) {}

  /// Runs every phase; returns the exit status (0 only if every check holds).
  int run();

 private:
  bool create_pool();
  void run_clients();
  void client(std::uint64_t c);
  void audit();
  void sum_logs();
  void print_outcomes() const;
  void print_balances() const;
  void check_outcomes(sn::examples::Checks& check) const;
  void check_books(sn::examples::Checks& check) const;
  double percent_of_transfers(std::uint64_t n) const;

  // The clients' deadline is generous: a transfer always answers, after its Deposit call
  // has completed one way or the other; missing this one is a failure.
  static constexpr absl::Duration kClientDeadline = absl::Seconds(60);

  const Options o_;
  const std::int64_t initial_total_;
  BankReport report_;  // outlives the pool: the workers write to it
  std::unique_ptr<Pool> pool_;
  std::vector<ClientLog> logs_;  // [client]
  double seconds_ = 0;           // the clients' transfers, from the first to the last
  std::int64_t audited_total_ = 0;
  std::uint64_t audit_failed_ = 0;
  absl::Status shut_;
  sn::PoolStats stats_;
  ClientLog sum_;  // every client's log added up; first_error is the first client's that has one
};

int BankRun::run() {
  std::printf(
      "bank: %s transfers from %llu clients (%llu in flight each) between %s accounts on %llu workers;\n"
      "      Deposits fail %llu%%, are slow %llu%%, deadline %s\n\n",
      grouped(o_.transfers).c_str(), u(o_.clients), u(o_.window), grouped(o_.accounts).c_str(), u(o_.workers),
      u(o_.faults.fail_percent), u(o_.faults.slow_percent), absl::FormatDuration(o_.faults.deadline).c_str());
  if (!create_pool()) return 1;
  run_clients();
  audit();
  shut_ = pool_->shutdown();
  stats_ = pool_->stats();
  sum_logs();
  print_outcomes();
  print_balances();
  sn::examples::Checks check;
  check_outcomes(check);
  check_books(check);
  return check.finish();
}

bool BankRun::create_pool() {
  absl::StatusOr<std::unique_ptr<Pool>> created =
      Pool::create(sn::PoolConfig().with_num_workers(o_.workers).with_name("bank"),
                   [this](std::size_t) { return std::make_unique<Teller>(o_.accounts, o_.faults, &report_); });
  if (!created.ok()) {
    std::fprintf(stderr, "cannot create the pool: %s\n", created.status().ToString().c_str());
    return false;
  }
  pool_ = std::move(*created);
  return true;
}

void BankRun::run_clients() {
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (std::uint64_t c = 0; c < o_.clients; ++c) threads.emplace_back([this, c] { client(c); });
  for (std::thread& t : threads) t.join();
  seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
}

// Client c makes transfers c, c + C, c + 2C, ..., keeping `window` futures in flight
// and taking the oldest answer before it starts the next transfer.
void BankRun::client(std::uint64_t c) {
  ClientLog& log = logs_[c];
  std::deque<sn::CallFuture<Outcome>> in_flight;
  auto take_oldest = [&] {
    absl::StatusOr<Outcome> r = in_flight.front().get();
    in_flight.pop_front();
    if (!r.ok()) {
      if (log.failed++ == 0) log.first_error = r.status().ToString();
      return;
    }
    switch (*r) {
      case Outcome::completed: ++log.completed; break;
      case Outcome::compensated: ++log.compensated; break;
      case Outcome::refused: ++log.refused; break;
    }
  };
  for (std::uint64_t id = c; id < o_.transfers; id += o_.clients) {
    if (in_flight.size() == o_.window) take_oldest();
    const Plan p = plan(id, o_.accounts);
    in_flight.push_back(pool_->call<Outcome>(p.from, Transfer{p.to, p.amount, id}, kClientDeadline));
  }
  while (!in_flight.empty()) take_oldest();
}

// Every transfer has answered, so no money is in flight: the balances, read through a
// call per account, must add up to the initial total.
void BankRun::audit() {
  for (std::uint64_t a = 0; a < o_.accounts; ++a) {
    absl::StatusOr<std::int64_t> b = pool_->call<std::int64_t>(a, Balance{}, kClientDeadline).get();
    if (b.ok()) {
      audited_total_ += *b;
    } else {
      ++audit_failed_;
    }
  }
}

void BankRun::sum_logs() {
  for (const ClientLog& log : logs_) {
    sum_.completed += log.completed;
    sum_.compensated += log.compensated;
    sum_.refused += log.refused;
    sum_.failed += log.failed;
    if (sum_.first_error.empty()) sum_.first_error = log.first_error;
  }
}

double BankRun::percent_of_transfers(std::uint64_t n) const {
  return o_.transfers == 0 ? 0.0 : 100.0 * static_cast<double>(n) / static_cast<double>(o_.transfers);
}

/// How the transfers ended, as the clients saw them, and what became of the Deposits.
void BankRun::print_outcomes() const {
  const Tally& t = report_.tally;
  auto row = [this](const char* what, std::uint64_t n) {
    std::printf("  %-34s %10s %6.2f%%\n", what, grouped(n).c_str(), percent_of_transfers(n));
  };
  std::printf("  %-34s %10s\n", "transfers", grouped(o_.transfers).c_str());
  row("  completed", sum_.completed);
  row("  compensated", sum_.compensated);
  row("    the Deposit failed", t.compensated_error);
  row("    the Deposit timed out", t.compensated_timeout);
  row("  refused (balance short)", sum_.refused);
  std::printf("  %-34s %10s\n", "  without an answer", grouped(sum_.failed).c_str());
  std::printf("\n  %-34s %10s\n", "Deposit calls", grouped(t.transfers - t.refused).c_str());
  std::printf("  %-34s %10s\n", "  kept", grouped(t.deposits_kept).c_str());
  std::printf("  %-34s %10s\n", "  failed (injected)", grouped(t.deposits_failed).c_str());
  std::printf("  %-34s %10s\n", "  held for a timer (injected)", grouped(t.deposits_held).c_str());
  std::printf("  %-34s %10s\n", "  answered too late, taken back", grouped(t.deposits_taken_back).c_str());
  std::printf("  %-34s %10s\n", "  still held at shutdown", grouped(report_.held_at_stop).c_str());
}

void BankRun::print_balances() const {
  const sn::PoolStats& stats = stats_;
  std::printf("\n  balance: initial %s, audited by calls %s, summed in on_stop %s\n",
              grouped(static_cast<std::uint64_t>(initial_total_)).c_str(),
              grouped(static_cast<std::uint64_t>(std::max<std::int64_t>(audited_total_, 0))).c_str(),
              grouped(static_cast<std::uint64_t>(std::max<std::int64_t>(report_.total, 0))).c_str());
  std::printf("  pool calls: started %s, handled %s; worker calls completed %s, failed %s, timed out %s\n",
              grouped(stats.calls_started).c_str(), grouped(stats.calls_handled).c_str(),
              grouped(stats.calls_completed).c_str(), grouped(stats.calls_failed).c_str(),
              grouped(stats.calls_timed_out).c_str());
  std::printf("\n");
  sn::examples::print_rate("transfers", o_.transfers, "transfers", seconds_);
}

/// Every transfer ended once, and the clients and the workers agree on how.
void BankRun::check_outcomes(sn::examples::Checks& check) const {
  const Tally& t = report_.tally;
  const std::uint64_t compensated = t.compensated_error + t.compensated_timeout;
  check.expect(shut_.ok(), "shutdown: %s", shut_.ToString().c_str());
  check.expect(sum_.failed == 0, "%llu transfers got no outcome; the first: %s", u(sum_.failed),
               sum_.first_error.c_str());
  check.expect(sum_.completed + sum_.compensated + sum_.refused == o_.transfers,
               "outcomes: completed %llu + compensated %llu + refused %llu != %llu transfers", u(sum_.completed),
               u(sum_.compensated), u(sum_.refused), u(o_.transfers));
  check.expect(t.transfers == o_.transfers && t.completed == sum_.completed && compensated == sum_.compensated &&
                   t.refused == sum_.refused,
               "the workers counted %llu transfers: %llu completed, %llu compensated, %llu refused", u(t.transfers),
               u(t.completed), u(compensated), u(t.refused));
  check.expect(t.deposits_kept == t.completed, "%llu deposits stayed, %llu transfers completed", u(t.deposits_kept),
               u(t.completed));
}

/// No money made or lost, and the pool's own counters agree with the transfers.
void BankRun::check_books(sn::examples::Checks& check) const {
  const Tally& t = report_.tally;
  const sn::PoolStats& stats = stats_;
  const std::uint64_t deposit_calls = t.transfers - t.refused;
  check.expect(audit_failed_ == 0, "%llu Balance calls failed", u(audit_failed_));
  check.expect(audited_total_ == initial_total_, "balances audited by calls add up to %lld, not %lld",
               ll(audited_total_), ll(initial_total_));
  check.expect(report_.total == initial_total_, "balances summed in on_stop add up to %lld, not %lld",
               ll(report_.total), ll(initial_total_));
  check.expect(report_.accounts == o_.accounts, "the workers hold %llu accounts, not %llu", u(report_.accounts),
               u(o_.accounts));
  check.expect(report_.negative == 0, "%llu accounts are overdrawn", u(report_.negative));
  check.expect(t.unexpected == 0, "%llu requests came as plain messages", u(t.unexpected));
  // The pool's own counters: every Deposit is a worker's call, completed once.
  check.expect(stats.calls_started == o_.transfers + o_.accounts + deposit_calls,
               "pool: %llu calls started; expected %llu transfers + %llu audits + %llu deposits",
               u(stats.calls_started), u(o_.transfers), u(o_.accounts), u(deposit_calls));
  check.expect(stats.calls_completed == t.completed && stats.calls_failed == t.compensated_error &&
                   stats.calls_timed_out == t.compensated_timeout,
               "pool: worker calls completed %llu, failed %llu, timed out %llu; transfers say %llu, %llu, %llu",
               u(stats.calls_completed), u(stats.calls_failed), u(stats.calls_timed_out), u(t.completed),
               u(t.compensated_error), u(t.compensated_timeout));
  if (o_.transfers >= 2000 && o_.faults.fail_percent >= 5 && o_.faults.slow_percent >= 5) {
    check.expect(t.compensated_error != 0 && t.compensated_timeout != 0,
                 "the injected faults never showed: %llu failed and %llu timed-out Deposits", u(t.compensated_error),
                 u(t.compensated_timeout));
  }
  check.expect(stats.balanced(), "pool stats: accepted %llu != processed %llu + failed %llu + dropped %llu",
               u(stats.accepted), u(stats.processed), u(stats.failed), u(stats.dropped));
}

}  // namespace

int main(int argc, char** argv) {
  if (!sn::examples::parse_flags(argc, argv,
                                 "moves money between accounts held by a pool's workers through worker-to-worker "
                                 "calls, with injected failures and timeouts, and checks that no money is made or "
                                 "lost")) {
    return sn::examples::kUsageError;
  }
  const std::optional<Options> options = read_options();
  if (!options) return sn::examples::kUsageError;
  BankRun run(*options);
  return run.run();
}
