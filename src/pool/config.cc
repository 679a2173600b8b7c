// Checking a PoolConfig and working out where each worker runs.
#include "sn/pool/config.h"

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "sn/channel/detail/ring.h"
#include "sn/topology/affinity.h"

namespace sn {
namespace {

// The mesh has num_workers^2 lanes; beyond this it costs more memory than any machine
// has cores to use it with.
constexpr std::size_t kMaxWorkers = 1024;

// The bound also keeps handle_batch's envelope buffer (batch_size envelopes) from
// overflowing its size computation, so batch_size is checked by it too.
absl::Status check_capacity(const std::string& what, std::size_t n) {
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat("sn::PoolConfig: ", what, " must be at least 1"));
  if (n > detail::kMaxCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::PoolConfig: ", what, " of ", n, " exceeds the maximum of ", detail::kMaxCapacity));
  }
  return absl::OkStatus();
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

namespace {
// The enumerators' names, in declaration order (config.h, supervision.h, dead_letters.h).
constexpr std::array<std::string_view, 3> kFullPolicyNames = {"block", "fail", "drop"};
constexpr std::array<std::string_view, 4> kFaultPolicyNames = {"continue_running", "restart", "stop_pool", "isolate"};
constexpr std::array<std::string_view, 8> kFaultSiteNames = {
    "handle_message", "handle_batch", "tick", "init", "on_stop", "resize", "handle_call", "call_callback"};
constexpr std::array<std::string_view, 5> kDeadLetterReasonNames = {"dropped_full", "dropped_at_gate", "left_at_stop",
                                                                    "isolated_worker", "late_reply"};

template <class E, std::size_t N>
std::string_view name_of(E e, const std::array<std::string_view, N>& names) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : std::string_view("unknown");
}
}  // namespace

std::string_view to_string(FullPolicy p) noexcept { return name_of(p, kFullPolicyNames); }
std::string_view to_string(FaultPolicy p) noexcept { return name_of(p, kFaultPolicyNames); }
std::string_view to_string(FaultSite s) noexcept { return name_of(s, kFaultSiteNames); }
std::string_view to_string(DeadLetterReason r) noexcept { return name_of(r, kDeadLetterReasonNames); }

namespace {
// Abseil's string_view is its own type in Debian's build: convert at the StrCat calls.
absl::string_view av(std::string_view s) noexcept { return {s.data(), s.size()}; }
}  // namespace

std::string describe(const Fault& f) {
  std::string line =
      absl::StrCat("sn: pool \"", av(f.pool), "\" worker ", f.worker, ": ", av(to_string(f.site)), " failed");
  if (f.key) absl::StrAppend(&line, " (key ", *f.key, ")");
  absl::StrAppend(&line, ": ", f.status.ToString());
  if (f.action) absl::StrAppend(&line, " -> ", av(to_string(*f.action)), f.escalated ? " (restart limit reached)" : "");
  return line;
}

namespace {
// Each worker keeps the time of every restart in the window: 8 bytes per allowed restart.
constexpr std::uint32_t kMaxTrackedRestarts = 1u << 20;

absl::Status check_restart_limit(const RestartLimit& l) {
  if (l.escalate_to != FaultPolicy::stop_pool && l.escalate_to != FaultPolicy::isolate) {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::PoolConfig: restart_limit.escalate_to must be stop_pool or "
                     "isolate, not ",
                     av(to_string(l.escalate_to))));
  }
  if (l.max_restarts > kMaxTrackedRestarts && l.max_restarts != RestartLimit::unlimited().max_restarts) {
    return absl::InvalidArgumentError(absl::StrCat("sn::PoolConfig: restart_limit.max_restarts of ", l.max_restarts,
                                                   " exceeds the maximum of ", kMaxTrackedRestarts,
                                                   " (use RestartLimit::unlimited() for no limit)"));
  }
  if (l.within <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("sn::PoolConfig: restart_limit.within must be positive");
  }
  if (l.backoff < absl::ZeroDuration() || l.max_backoff < l.backoff) {
    return absl::InvalidArgumentError(
        "sn::PoolConfig: restart_limit.backoff must be at least zero and at most max_backoff");
  }
  return absl::OkStatus();
}
}  // namespace

std::size_t slot_count(const PoolConfig& config) noexcept {
  return config.max_workers == 0 ? config.num_workers : config.max_workers;
}

namespace {

// Placement of pinned workers, into `out[i].cpu`: explicit CPUs first, then one physical
// core per worker (SMT siblings skipped), in topology order.
absl::Status place_workers(const PoolConfig& config, std::vector<ResolvedWorkerConfig>& out) {
  const std::vector<int> allowed = allowed_cpus();
  const std::vector<int> cores = physical_core_cpus();
  std::vector<int> taken;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i >= config.workers.size() || !config.workers[i].cpu) continue;
    const int cpu = *config.workers[i].cpu;
    if (!contains(allowed, cpu)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sn::PoolConfig: worker ", i, " asks for CPU ", cpu, ", which this process may not use"));
    }
    if (contains(taken, cpu) && !config.allow_oversubscription) {
      return absl::FailedPreconditionError(
          absl::StrCat("sn::PoolConfig: CPU ", cpu, " is asked for twice (this process may use ", allowed.size(),
                       " CPUs); give each worker its own, or let workers share CPUs with with_oversubscription(true)"));
    }
    out[i].cpu = cpu;
    taken.push_back(cpu);
  }
  std::vector<int> free_cores;
  for (int cpu : cores) {
    if (!contains(taken, cpu)) free_cores.push_back(cpu);
  }
  std::size_t automatic = 0;
  for (const ResolvedWorkerConfig& r : out) automatic += r.cpu < 0 ? 1 : 0;
  if (automatic > free_cores.size() && !config.allow_oversubscription) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sn::PoolConfig: ", automatic, " pinned workers need as many physical cores, but only ", free_cores.size(),
        " are free for this process (", cores.size(), " in all); pin at most ", free_cores.size(),
        " workers, turn pinning off with with_cpu_affinity(false), or let workers share cores with "
        "with_oversubscription(true)"));
  }
  // Oversubscribed: the free cores first, then the other CPUs we may use (SMT
  // siblings), then around again.
  std::vector<int> order = free_cores;
  for (int cpu : allowed) {
    if (!contains(order, cpu)) order.push_back(cpu);
  }
  if (order.empty()) return absl::FailedPreconditionError("sn::PoolConfig: no CPU is available for pinning");
  std::size_t next = 0;
  for (ResolvedWorkerConfig& r : out) {
    if (r.cpu >= 0) continue;
    r.cpu = order[next % order.size()];
    ++next;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<ResolvedWorkerConfig>> resolve(const PoolConfig& config) {
  if (config.num_workers == 0) return absl::InvalidArgumentError("sn::PoolConfig: num_workers must be at least 1");
  if (absl::Status s = check_restart_limit(config.restart_limit); !s.ok()) return s;
  if (config.max_workers != 0 && config.max_workers < config.num_workers) {
    return absl::InvalidArgumentError(absl::StrCat("sn::PoolConfig: max_workers (", config.max_workers,
                                                   ") is below num_workers (", config.num_workers, ")"));
  }
  const std::size_t n = slot_count(config);
  if (n > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sn::PoolConfig: ", config.max_workers == 0 ? "num_workers" : "max_workers", " of ", n,
        " exceeds the maximum of ", kMaxWorkers, " (the mesh has one lane per ordered pair of worker slots)"));
  }
  if (config.workers.size() > n) {
    return absl::InvalidArgumentError(absl::StrCat("sn::PoolConfig: settings were given for worker ",
                                                   config.workers.size() - 1, " but the pool has ", n,
                                                   " worker slots"));
  }
  if (absl::Status s = check_capacity("queue_capacity", config.queue_capacity); !s.ok()) return s;
  if (absl::Status s = check_capacity("mesh_capacity", config.mesh_capacity); !s.ok()) return s;
  if (absl::Status s = check_capacity("batch_size", config.batch_size); !s.ok()) return s;
  if (config.idle_tick && *config.idle_tick <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("sn::PoolConfig: idle_tick must be positive");
  }

  std::vector<ResolvedWorkerConfig> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const WorkerConfig* w = i < config.workers.size() ? &config.workers[i] : nullptr;
    ResolvedWorkerConfig& r = out[i];
    r.queue_capacity = w && w->queue_capacity ? *w->queue_capacity : config.queue_capacity;
    r.batch_size = w && w->batch_size ? *w->batch_size : config.batch_size;
    r.wait = w && w->wait ? *w->wait : config.wait;
    r.name = w && !w->name.empty() ? w->name : absl::StrCat(config.name, "-", i);
    const std::string which = absl::StrCat("worker ", i, " queue_capacity");
    if (absl::Status s = check_capacity(which, r.queue_capacity); !s.ok()) return s;
    if (absl::Status s = check_capacity(absl::StrCat("worker ", i, " batch_size"), r.batch_size); !s.ok()) return s;
    if (w && w->cpu && !config.cpu_affinity) {
      return absl::InvalidArgumentError(
          absl::StrCat("sn::PoolConfig: worker ", i, " asks for CPU ", *w->cpu, " but cpu_affinity is off"));
    }
  }
  if (!config.cpu_affinity) return out;
  if (absl::Status s = place_workers(config, out); !s.ok()) return s;
  return out;
}

}  // namespace sn
