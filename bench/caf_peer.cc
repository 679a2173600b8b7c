// CafKeyed: the worker-pool workload written the way CAF 0.17 is meant to be used for
// speed: stateful event-based actors on CAF's work-stealing scheduler, fed with
// anon_send from plain threads (one allocation per message, no sender handle).
//
// Completion: producers are distinct senders, so no single message can mark the end of a
// run for an actor. Instead each producer, after its keys, sends a `done` marker to every
// actor; an actor's mailbox keeps each sender's messages in order, so once an actor has
// seen all P markers it has handled every message of the run. run() then asks every
// actor for its tally, and an actor holds that request (a response promise) until its
// last marker arrives. The counts are exact, not a timing guess.
//
// CafBurst: one actor's send loop into another's unbounded mailbox (an allocation per
// message), then a request for the total, which CAF orders after the sends.
//
// CafCalls: calls the way CAF 0.17 writes them, request(...) with
// a `then` continuation inside an actor and a blocking `receive` on a scoped_actor
// outside one. The callee answers from its handler's return value.
#include "caf_peer.h"

#include <condition_variable>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <caf/all.hpp>

namespace sn_bench {
namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;
using tally_atom = caf::atom_constant<caf::atom("tally")>;
using go_atom = caf::atom_constant<caf::atom("go")>;

struct CounterState {
  absl::flat_hash_map<std::uint64_t, std::uint64_t> counts;
  std::uint64_t handled = 0;
  std::uint64_t checksum = 0;
  double sines = 0;  // KeyedWork::count_and_sine: kept in the state, so that it is computed
  int producers_done = 0;
  caf::response_promise tally;  // pending until producers_done reaches P
};

// Answers the held tally request and starts the next run's counters. The per-key counts
// are kept: the map is the actor's long-lived state, as it would be in a real service.
void answer_tally(CounterState& s) {
  s.tally.deliver(s.handled, s.checksum);
  s.tally = caf::response_promise{};
  s.handled = 0;
  s.checksum = 0;
  s.producers_done = 0;
}

caf::behavior counter(caf::stateful_actor<CounterState>* self, int producers, KeyedWork work) {
  // The key handler comes first: CAF tries a behavior's handlers in order.
  return {
      [self, work](std::uint64_t key) {
        auto& s = self->state;
        ++s.counts[key];
        ++s.handled;
        s.checksum += key;
        if (work == KeyedWork::count_and_sine) s.sines += keyed_sine(key);
      },
      [self, producers](done_atom) {
        auto& s = self->state;
        if (++s.producers_done == producers && s.tally.pending()) answer_tally(s);
      },
      [self, producers](tally_atom) {
        auto& s = self->state;
        auto promise = self->make_response_promise();
        s.tally = promise;
        if (s.producers_done == producers) answer_tally(s);
        return promise;  // the reply goes through the promise, now or at the last marker
      },
  };
}

// Set in code only: the constructor reads no caf-application.ini and no command line
// (that happens in parse(), which is never called), so nothing outside this file
// changes the peer's configuration.
struct Config : caf::actor_system_config {
  explicit Config(int scheduler_threads) {
    set("scheduler.policy", caf::atom("stealing"));
    set("scheduler.max-threads", scheduler_threads);
    // An actor keeps its worker thread until its mailbox is empty (CAF's default, made
    // explicit): batching many messages per resume is what makes CAF fast.
    set("scheduler.max-throughput", std::numeric_limits<std::int64_t>::max());
    // Debian builds CAF with logging compiled out (CAF_LOG_LEVEL_QUIET); this keeps a
    // CAF built with logging off the console as well.
    set("logger.console", caf::atom("none"));
  }
};

/// A CAF actor system and the actors spawned in it, which the destructor tells to exit:
/// ~actor_system waits for every actor to terminate, and these never do on their own.
struct ActorSystem {
  explicit ActorSystem(int scheduler_threads) : cfg(scheduler_threads), system(cfg) {}
  ~ActorSystem() {
    for (const caf::actor& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  ActorSystem(const ActorSystem&) = delete;
  ActorSystem& operator=(const ActorSystem&) = delete;

  Config cfg;  // outlives `system`, which keeps a reference to it
  caf::actor_system system;
  std::vector<caf::actor> actors;  // told to exit in this order
};

// ---------------------------------------------------------------- calls

caf::behavior answering_callee(caf::event_based_actor*) {
  return {[](std::uint64_t v) { return call_answer(v); }};
}

/// What one CafCallRtt::run asks of the requester; written before the `go` request, which
/// orders it before the requester's reads.
struct RttRun {
  std::uint64_t first = 0;
  std::uint64_t* samples = nullptr;
  std::size_t count = 0;
  TickClock clock = nullptr;
};

struct RequesterState {
  std::size_t next = 0;  // round trips done in this run
  std::uint64_t last = 0;
  std::uint64_t value = 0;  // the request in flight
  caf::response_promise done;
};

void request_next(caf::stateful_actor<RequesterState>* self, const caf::actor& callee, const RttRun* run) {
  const std::uint64_t v = self->state.value;
  self->request(callee, caf::infinite, v)
      .then(
          [self, callee, run, v](std::uint64_t answer) {
            auto& s = self->state;
            const std::uint64_t now = run->clock();
            run->samples[s.next++] = now - s.last;
            s.last = now;
            if (answer != call_answer(v)) {
              s.done.deliver(false);
            } else if (s.next == run->count) {
              s.done.deliver(true);
            } else {
              ++s.value;
              request_next(self, callee, run);
            }
          },
          [self](caf::error&) { self->state.done.deliver(false); });
}

caf::behavior requester(caf::stateful_actor<RequesterState>* self, caf::actor callee, const RttRun* run) {
  return {[self, callee, run](go_atom) {
    auto& s = self->state;
    s.done = self->make_response_promise();
    s.next = 0;
    s.value = run->first;
    s.last = run->clock();
    request_next(self, callee, run);
    return s.done;  // delivered by the last reply's handler
  }};
}

/// Sends `request` from a scoped actor and waits for its bool answer.
bool ask_bool(caf::actor_system& system, const caf::actor& to, go_atom request) {
  caf::scoped_actor self{system};
  bool ok = false;
  self->request(to, caf::infinite, request).receive([&](bool answer) { ok = answer; }, [&](caf::error&) {});
  return ok;
}

}  // namespace

struct CafCalls::Impl : ActorSystem {
  explicit Impl(int scheduler_threads) : ActorSystem(scheduler_threads) {
    callee = system.spawn(answering_callee);
    caller = system.spawn(requester, callee, &params);
    actors = {caller, callee};
  }

  caf::actor callee;
  caf::actor caller;
  RttRun params;  // the requester's current run
};

CafCalls::CafCalls(int scheduler_threads) {
  if (scheduler_threads < 1) throw std::invalid_argument("CafCalls: scheduler_threads must be >= 1");
  impl_ = std::make_unique<Impl>(scheduler_threads);
}
CafCalls::~CafCalls() = default;

bool CafCalls::actor_round_trips(std::uint64_t first, std::vector<std::uint64_t>& samples, TickClock clock) {
  if (samples.empty()) return true;
  impl_->params = RttRun{first, samples.data(), samples.size(), clock};
  return ask_bool(impl_->system, impl_->caller, go_atom::value);
}

bool CafCalls::external_calls(std::uint64_t first, std::vector<std::uint64_t>& samples, TickClock clock) {
  caf::scoped_actor self{impl_->system};
  bool ok = true;
  std::uint64_t last = clock();
  for (std::size_t i = 0; ok && i < samples.size(); ++i) {
    const std::uint64_t v = first + i;
    self->request(impl_->callee, caf::infinite, v)
        .receive([&](std::uint64_t answer) { ok = answer == call_answer(v); }, [&](caf::error&) { ok = false; });
    const std::uint64_t now = clock();
    samples[i] = now - last;
    last = now;
  }
  return ok;
}

// ---------------------------------------------------------------- burst

namespace {

using total_atom = caf::atom_constant<caf::atom("total")>;

struct BurstCounterState {
  std::uint64_t total = 0;
  std::uint64_t last = 0;  // the previous increment: each run sends 1, 2, ..., count
  bool in_order = true;
};

caf::behavior burst_counter(caf::stateful_actor<BurstCounterState>* self) {
  // The increment handler comes first: CAF tries a behavior's handlers in order.
  return {
      [self](std::uint64_t v) {
        auto& s = self->state;
        s.in_order = s.in_order && v == s.last + 1;
        s.last = v;
        s.total += v;
      },
      [self](total_atom) {
        auto& s = self->state;
        const std::uint64_t answer = s.in_order ? s.total : 0;  // 0: out of order, a wrong total
        s = BurstCounterState{};
        return answer;
      },
  };
}

caf::behavior burst_sender(caf::event_based_actor* self, caf::actor counter) {
  return {[self, counter](go_atom, std::uint64_t count) {
    for (std::uint64_t i = 1; i <= count; ++i) self->send(counter, i);
    auto promise = self->make_response_promise();
    self->request(counter, caf::infinite, total_atom::value)
        .then([promise](std::uint64_t total) mutable { promise.deliver(total); },
              [promise](caf::error& e) mutable { promise.deliver(std::move(e)); });
    return promise;  // delivered with the counter's answer
  }};
}

}  // namespace

struct CafBurst::Impl : ActorSystem {
  explicit Impl(int scheduler_threads) : ActorSystem(scheduler_threads) {
    counter = system.spawn(burst_counter);
    sender = system.spawn(burst_sender, counter);
    actors = {sender, counter};
  }

  caf::actor counter;
  caf::actor sender;
};

CafBurst::CafBurst(int scheduler_threads) {
  if (scheduler_threads < 1) throw std::invalid_argument("CafBurst: scheduler_threads must be >= 1");
  impl_ = std::make_unique<Impl>(scheduler_threads);
}
CafBurst::~CafBurst() = default;

std::uint64_t CafBurst::run(std::uint64_t count) {
  caf::scoped_actor self{impl_->system};
  std::uint64_t total = 0;
  std::string failure;
  self->request(impl_->sender, caf::infinite, go_atom::value, count)
      .receive([&](std::uint64_t answer) { total = answer; },
               [&](caf::error& e) { failure = impl_->system.render(e); });
  if (!failure.empty()) throw std::runtime_error("CafBurst::run: " + failure);
  return total;
}

struct CafKeyed::Impl : ActorSystem {
  Impl(int producers, int workers, int scheduler_threads, KeyedWork work)
      : ActorSystem(scheduler_threads), producer_count(producers) {
    actors.reserve(static_cast<std::size_t>(workers));
    for (int w = 0; w < workers; ++w) actors.push_back(system.spawn(counter, producers, work));
    team.reserve(static_cast<std::size_t>(producers));
    for (int p = 0; p < producers; ++p) team.emplace_back([this, p] { produce(p); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    go.notify_all();
    for (auto& t : team) t.join();  // then ~ActorSystem tells the actors to exit
  }

  void produce(int p) {
    std::uint64_t seen_round = 0;
    for (;;) {
      const std::vector<std::uint64_t>* round_keys = nullptr;
      std::uint64_t per_producer = 0;
      {
        std::unique_lock lock(mutex);
        go.wait(lock, [&] { return stopping || round != seen_round; });
        if (stopping) return;
        seen_round = round;
        round_keys = keys;
        per_producer = messages_per_producer;
      }
      const std::vector<std::uint64_t>& k = *round_keys;
      const std::size_t n = k.size();
      const std::size_t w = actors.size();
      // Walk the keys with a wrapping index instead of a division per message.
      auto i = static_cast<std::size_t>((static_cast<std::uint64_t>(p) * per_producer) % n);
      for (std::uint64_t m = 0; m < per_producer; ++m) {
        const std::uint64_t key = k[i];
        caf::anon_send(actors[route(key, w)], key);
        if (++i == n) i = 0;
      }
      for (const auto& a : actors) caf::anon_send(a, done_atom::value);
      {
        std::lock_guard lock(mutex);
        if (--busy == 0) idle.notify_one();
      }
    }
  }

  KeyedResult run(const std::vector<std::uint64_t>& round_keys, std::uint64_t per_producer) {
    if (round_keys.empty()) throw std::invalid_argument("CafKeyed::run: no keys");
    {
      std::lock_guard lock(mutex);
      keys = &round_keys;
      messages_per_producer = per_producer;
      busy = producer_count;
      ++round;
    }
    go.notify_all();

    KeyedResult result;
    std::string failure;
    {
      caf::scoped_actor self{system};
      // Ask every actor at once, then collect: the tallies complete in any order.
      using Ask = decltype(self->request(actors.front(), caf::infinite, tally_atom::value));
      std::vector<Ask> asks;
      asks.reserve(actors.size());
      for (const auto& a : actors) asks.push_back(self->request(a, caf::infinite, tally_atom::value));
      for (auto& ask : asks) {
        ask.receive(
            [&](std::uint64_t handled, std::uint64_t checksum) {
              result.handled += handled;
              result.checksum += checksum;
            },
            [&](caf::error& e) { failure = system.render(e); });
      }
    }

    // The tallies waited for every producer's markers, so the producers are done
    // sending; they must also be parked again before `round_keys` may go out of scope.
    {
      std::unique_lock lock(mutex);
      idle.wait(lock, [&] { return busy == 0; });
    }
    if (!failure.empty()) throw std::runtime_error("CafKeyed::run: a tally failed: " + failure);
    return result;
  }

  const int producer_count;

  std::mutex mutex;
  std::condition_variable go;    // a new round, or stopping
  std::condition_variable idle;  // the last producer finished its round
  std::uint64_t round = 0;
  bool stopping = false;
  int busy = 0;
  const std::vector<std::uint64_t>* keys = nullptr;
  std::uint64_t messages_per_producer = 0;
  std::vector<std::thread> team;
};

CafKeyed::CafKeyed(int producers, int workers, int scheduler_threads, KeyedWork work) {
  if (producers < 1 || workers < 1 || scheduler_threads < 1)
    throw std::invalid_argument("CafKeyed: producers, workers and scheduler_threads must be >= 1");
  impl_ = std::make_unique<Impl>(producers, workers, scheduler_threads, work);
}

CafKeyed::~CafKeyed() = default;

KeyedResult CafKeyed::run(const std::vector<std::uint64_t>& keys, std::uint64_t per_producer) {
  return impl_->run(keys, per_producer);
}

}  // namespace sn_bench
