// Fuzzes pool configuration: builds a PoolConfig (with per-worker settings) from the
// input, absurd values included, and calls sn::resolve. It starts no pool and no thread.
//
// Invariants, from config.h and the channel limits: resolve never crashes, hangs or
// throws; a bad value is InvalidArgument; with cpu_affinity, only placement problems
// give FailedPrecondition (a CPU asked for twice, more pinned workers than free physical
// cores, without oversubscription) and a CPU outside this process's mask gives
// InvalidArgument; a valid config gives one entry per worker slot, each with the
// per-worker override or the pool's value, capacities and batch sizes in [1, 2^30],
// the default name "<pool name>-<index>", and cpu -1 without affinity or an allowed
// CPU with it (distinct ones unless oversubscription is allowed).
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "fuzz_support.h"
#include "sn/pool/config.h"
#include "sn/topology/affinity.h"

namespace {

// channel.h: more than 2^30 slots is an InvalidArgument error; the pool's queues are channels.
constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 30;
// The most worker slots resolve accepts. src/pool/config.cc states it (kMaxWorkers,
// with the reason: the mesh has one lane per ordered pair of slots); config.h does not.
constexpr std::size_t kMaxWorkerSlots = 1024;

std::size_t amount(sn::fuzz::Bytes& in, std::size_t small) {
  const std::uint8_t b = in.u8();
  switch (b >> 5) {
    case 4: {
      static constexpr std::size_t kEdges[] = {kMaxCapacity - 1,
                                               kMaxCapacity,
                                               kMaxCapacity + 1,
                                               kMaxWorkerSlots - 1,
                                               kMaxWorkerSlots,
                                               kMaxWorkerSlots + 1,
                                               0,
                                               1};
      return kEdges[b & 7u];
    }
    case 5: {
      static constexpr std::size_t kAbsurd[] = {~std::size_t{0},
                                                ~std::size_t{0} / 2,
                                                std::size_t{1} << 32,
                                                std::size_t{1} << 63,
                                                (std::size_t{1} << 32) - 1,
                                                4096,
                                                1000000,
                                                2};
      return kAbsurd[b & 7u];
    }
    case 6: return in.u16();
    case 7: return static_cast<std::size_t>(in.u64());
    default: return b % (small + 1);
  }
}

int cpu_number(sn::fuzz::Bytes& in, const std::vector<int>& allowed) {
  const std::uint8_t b = in.u8();
  switch (b % 8) {
    case 0: return -1;
    case 1: return INT_MIN;
    case 2: return INT_MAX;
    case 3: return allowed.empty() ? 0 : allowed.back() + 1;
    case 4: return static_cast<int>(in.u32());
    default: return allowed.empty() ? b : allowed[b % allowed.size()];
  }
}

std::optional<absl::Duration> idle_tick(sn::fuzz::Bytes& in) {
  switch (in.u8() % 8) {
    case 0: return absl::ZeroDuration();
    case 1: return -absl::Nanoseconds(1);
    case 2: return absl::Milliseconds(1);
    case 3: return absl::InfiniteDuration();
    case 4: return -absl::InfiniteDuration();
    case 5: return absl::Nanoseconds(static_cast<std::int64_t>(in.u64()));
    default: return std::nullopt;
  }
}

sn::WaitPolicy wait_policy(sn::fuzz::Bytes& in) { return {in.u32(), in.u32()}; }

bool valid_capacity(std::size_t n) { return n >= 1 && n <= kMaxCapacity; }
// config.h: batch_size is 1 to 2^30.
bool valid_batch(std::size_t n) { return n >= 1 && n <= kMaxCapacity; }
bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The machine's CPUs do not change while the fuzzer runs.
  static const std::vector<int> allowed = sn::allowed_cpus();
  static const std::vector<int> cores = sn::physical_core_cpus();

  sn::fuzz::Bytes in(data, size);
  sn::PoolConfig config;
  config.num_workers = amount(in, 8);
  config.max_workers = amount(in, 12);
  const std::uint8_t flags = in.u8();
  config.cpu_affinity = (flags & 1u) != 0;
  config.allow_oversubscription = (flags & 2u) != 0;
  config.sequence_numbers = (flags & 4u) != 0;
  config.timestamps = (flags & 8u) != 0;
  if ((flags & 16u) != 0) config.queue_capacity = amount(in, 4096);
  if ((flags & 32u) != 0) config.mesh_capacity = amount(in, 4096);
  if ((flags & 64u) != 0) config.batch_size = amount(in, 256);
  if ((flags & 128u) != 0) config.wait = wait_policy(in);
  config.idle_tick = idle_tick(in);
  config.full_policy = static_cast<sn::FullPolicy>(in.u8() % 5);  // 3 and 4 are no enumerator
  config.fault_policy = static_cast<sn::FaultPolicy>(in.u8() % 5);
  SN_FUZZ_CHECK(!sn::to_string(config.full_policy).empty() && !sn::to_string(config.fault_policy).empty(),
                "to_string of a policy is empty");
  if (in.flag()) config.name = in.str(40);
  const std::size_t worker_settings = in.u8() % 12;
  for (std::size_t i = 0; i < worker_settings && !in.empty(); ++i) {
    sn::WorkerConfig w;
    const std::uint8_t wf = in.u8();
    if ((wf & 1u) != 0) w.queue_capacity = amount(in, 4096);
    if ((wf & 2u) != 0) w.batch_size = amount(in, 256);
    if ((wf & 4u) != 0) w.wait = wait_policy(in);
    if ((wf & 8u) != 0) w.cpu = cpu_number(in, allowed);
    if ((wf & 16u) != 0) w.name = in.str(24);
    if ((wf & 32u) != 0) {
      config.with_worker(in.u8() % 12, w);  // the builder: grows `workers` as needed
    } else {
      config.workers.push_back(w);
    }
  }

  absl::StatusOr<std::vector<sn::ResolvedWorkerConfig>> resolved;
  try {
    resolved = sn::resolve(config);
  } catch (...) {
    SN_FUZZ_CHECK(false, std::string("sn::resolve threw"));
  }

  // ---------------------------------------------------------------- the model
  const std::size_t slots = config.max_workers == 0 ? config.num_workers : config.max_workers;
  SN_FUZZ_EQ(sn::slot_count(config), slots, "slot_count()");
  auto setting = [&](std::size_t i) -> const sn::WorkerConfig* {
    return i < config.workers.size() ? &config.workers[i] : nullptr;
  };
  bool invalid = config.num_workers == 0 || (config.max_workers != 0 && config.max_workers < config.num_workers) ||
                 slots > kMaxWorkerSlots || config.workers.size() > slots || !valid_capacity(config.queue_capacity) ||
                 !valid_capacity(config.mesh_capacity) || !valid_batch(config.batch_size) ||
                 (config.idle_tick && *config.idle_tick <= absl::ZeroDuration());
  for (std::size_t i = 0; !invalid && i < slots; ++i) {
    const sn::WorkerConfig* w = setting(i);
    if (w == nullptr) continue;
    invalid = !valid_capacity(w->queue_capacity.value_or(config.queue_capacity)) ||
              !valid_batch(w->batch_size.value_or(config.batch_size)) || (w->cpu && !config.cpu_affinity);
  }
  // Placement, with cpu_affinity: which errors are possible.
  bool cpu_not_allowed = false, cpu_twice = false;
  std::size_t automatic = 0;
  std::vector<int> taken;
  if (!invalid && config.cpu_affinity) {
    for (std::size_t i = 0; i < slots; ++i) {
      const sn::WorkerConfig* w = setting(i);
      if (w == nullptr || !w->cpu) {
        ++automatic;
        continue;
      }
      if (!contains(allowed, *w->cpu)) cpu_not_allowed = true;
      if (contains(taken, *w->cpu)) cpu_twice = true;
      taken.push_back(*w->cpu);
    }
  }
  std::size_t free_cores = 0;
  for (int c : cores) free_cores += contains(taken, c) ? 0 : 1;
  const bool placement_fails = !config.allow_oversubscription && (cpu_twice || automatic > free_cores);

  const std::string what = absl::StrCat("resolve(num_workers ", config.num_workers, ", max_workers ",
                                        config.max_workers, ", affinity ", config.cpu_affinity, ")");
  if (!resolved.ok()) {
    const absl::StatusCode code = resolved.status().code();
    if (invalid) {
      SN_FUZZ_EQ(code, absl::StatusCode::kInvalidArgument, what + ": " + resolved.status().ToString());
    } else {
      SN_FUZZ_CHECK(config.cpu_affinity, what + " refused a valid config: " + resolved.status().ToString());
      SN_FUZZ_CHECK((code == absl::StatusCode::kInvalidArgument && cpu_not_allowed) ||
                        (code == absl::StatusCode::kFailedPrecondition && (placement_fails || allowed.empty())),
                    what + ": unexpected " + resolved.status().ToString());
    }
    return 0;
  }
  SN_FUZZ_CHECK(!invalid, what + " accepted an invalid config");
  SN_FUZZ_CHECK(!cpu_not_allowed, what + " accepted a CPU outside the affinity mask");
  SN_FUZZ_CHECK(!placement_fails, what + " placed more pinned workers than it has cores for");
  const std::vector<sn::ResolvedWorkerConfig>& out = *resolved;
  SN_FUZZ_EQ(out.size(), slots, what + ": entries");
  std::vector<int> used;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const sn::ResolvedWorkerConfig& r = out[i];
    const sn::WorkerConfig* w = setting(i);
    const std::string who = absl::StrCat(what, ": worker ", i);
    SN_FUZZ_EQ(r.queue_capacity, w && w->queue_capacity ? *w->queue_capacity : config.queue_capacity,
               who + " queue_capacity");
    SN_FUZZ_CHECK(valid_capacity(r.queue_capacity), who + " queue_capacity out of bounds");
    SN_FUZZ_EQ(r.batch_size, w && w->batch_size ? *w->batch_size : config.batch_size, who + " batch_size");
    SN_FUZZ_CHECK(valid_batch(r.batch_size), who + " batch_size out of bounds");
    SN_FUZZ_CHECK(r.wait == (w && w->wait ? *w->wait : config.wait), who + " wait policy");
    SN_FUZZ_CHECK(r.name == (w && !w->name.empty() ? w->name : absl::StrCat(config.name, "-", i)), who + " name");
    if (!config.cpu_affinity) {
      SN_FUZZ_EQ(r.cpu, -1, who + " cpu without affinity");
      continue;
    }
    SN_FUZZ_CHECK(contains(allowed, r.cpu), who + " pinned to CPU " + std::to_string(r.cpu) + ", not allowed");
    if (w && w->cpu) {
      SN_FUZZ_EQ(r.cpu, *w->cpu, who + " explicit cpu");
    } else if (!config.allow_oversubscription) {
      SN_FUZZ_CHECK(contains(cores, r.cpu), who + " pinned to CPU " + std::to_string(r.cpu) + ", not a physical core");
    }
    if (!config.allow_oversubscription) {
      SN_FUZZ_CHECK(!contains(used, r.cpu), who + " shares CPU " + std::to_string(r.cpu) + " without oversubscription");
    }
    used.push_back(r.cpu);
  }
  return 0;
}
