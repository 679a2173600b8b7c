// Prometheus text format and JSON for pool and channel statistics.
#include "sn/monitoring/export.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace sn {
namespace {

/// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

/// A JSON string literal.
std::string json_string(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string seconds(absl::Duration d) { return absl::StrFormat("%.9g", absl::ToDoubleSeconds(d)); }

}  // namespace

PrometheusText::Family& PrometheusText::family(std::string_view name, std::string_view help, bool counter) {
  for (Family& f : families_) {
    if (f.name == name) return f;
  }
  return families_.emplace_back(Family{std::string(name), std::string(help), counter, {}});
}

void PrometheusText::add_pool(std::string_view pool, const PoolStats& s) {
  const std::string p = absl::StrCat("{pool=\"", escape_label(pool), "\"}");
  auto pool_counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    family(name, help, true).samples.push_back({p, absl::StrCat(v)});
  };
  pool_counter("sn_pool_accepted_total", "Messages the pool accepted (external and worker-to-worker).", s.accepted);
  pool_counter("sn_pool_rejected_total", "Sends refused with the value handed back (full, closed, invalid).",
               s.rejected);
  pool_counter("sn_pool_hook_faults_total", "Exceptions from tick, on_stop and resize hooks.", s.hook_faults);
  family("sn_pool_running", "1 while the pool takes messages, 0 once shutdown or stop began.", false)
      .samples.push_back({p, s.running ? "1" : "0"});
  family("sn_pool_workers", "Workers running now.", false)
      .samples.push_back({p, absl::StrCat(std::count_if(s.workers.begin(), s.workers.end(),
                                                        [](const WorkerStats& w) { return w.active; }))});

  for (const WorkerStats& w : s.workers) {
    const std::string l = absl::StrCat("{pool=\"", escape_label(pool), "\",worker=\"", w.index, "\"}");
    auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
      family(name, help, true).samples.push_back({l, absl::StrCat(v)});
    };
    auto gauge = [&](std::string_view name, std::string_view help, std::string value) {
      family(name, help, false).samples.push_back({l, std::move(value)});
    };
    counter("sn_worker_processed_total", "Messages handled successfully.", w.processed);
    counter("sn_worker_failed_total", "Messages whose handler threw or returned an error.", w.failed);
    counter("sn_worker_dropped_total", "Messages for this worker destroyed unhandled.", w.dropped);
    counter("sn_worker_batches_total", "Loop iterations that handled at least one message.", w.batches);
    counter("sn_worker_ticks_total", "Calls of tick().", w.ticks);
    counter("sn_worker_restarts_total", "State rebuilds under FaultPolicy::restart.", w.restarts);
    counter("sn_worker_parks_total", "Times the worker slept in the kernel for lack of work.", w.parks);
    family("sn_worker_parked_seconds_total", "Time the worker spent asleep in the kernel.", true)
        .samples.push_back({l, seconds(w.time_parked)});
    counter("sn_worker_sent_total", "Messages the worker sent to workers that were accepted.", w.sent);
    counter("sn_worker_rejected_total", "Sends by the worker that were refused.", w.rejected);
    gauge("sn_worker_queue_depth", "Messages waiting in the worker's inbox, lanes and outbox.",
          absl::StrCat(w.queue_depth));
    gauge("sn_worker_active", "1 while a worker runs in this slot.", w.active ? "1" : "0");
  }
}

void PrometheusText::add_channel(const NamedChannelStats& c) {
  const std::string l = absl::StrCat("{channel=\"", escape_label(c.name), "\"}");
  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    family(name, help, true).samples.push_back({l, absl::StrCat(v)});
  };
  auto gauge = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    family(name, help, false).samples.push_back({l, absl::StrCat(v)});
  };
  counter("sn_channel_sent_total", "Values the channel accepted.", c.stats.sent);
  counter("sn_channel_received_total", "Values receivers took out.", c.stats.received);
  counter("sn_channel_send_full_total", "Sends refused, in whole or in part, because the channel was full.",
          c.stats.send_full);
  counter("sn_channel_send_closed_total", "Sends that failed because the channel was closed.", c.stats.send_closed);
  counter("sn_channel_send_blocked_total", "Blocking sends that had to wait for room (backpressure).",
          c.stats.send_blocked);
  gauge("sn_channel_depth", "Values inside the channel now (approximate while it runs).", c.stats.approx_depth);
  gauge("sn_channel_capacity", "Slots in the channel.", c.stats.capacity);
  gauge("sn_channel_closed", "1 once the channel is closed.", c.stats.closed ? 1 : 0);
}

std::string PrometheusText::text() const {
  std::string out;
  for (const Family& f : families_) {
    if (f.samples.empty()) continue;
    absl::StrAppend(&out, "# HELP ", f.name, " ", f.help, "\n# TYPE ", f.name, " ", f.counter ? "counter" : "gauge",
                    "\n");
    for (const Sample& s : f.samples) absl::StrAppend(&out, f.name, s.labels, " ", s.value, "\n");
  }
  return out;
}

std::string to_json(const PoolStats& s) {
  std::string out = absl::StrCat(
      "{\"running\":", s.running ? "true" : "false", ",\"accepted\":", s.accepted, ",\"rejected\":", s.rejected,
      ",\"processed\":", s.processed, ",\"failed\":", s.failed, ",\"dropped\":", s.dropped, ",\"batches\":", s.batches,
      ",\"ticks\":", s.ticks, ",\"restarts\":", s.restarts, ",\"parks\":", s.parks,
      ",\"time_parked_seconds\":", seconds(s.time_parked), ",\"queue_depth\":", s.queue_depth,
      ",\"hook_faults\":", s.hook_faults, ",\"in_flight\":", s.in_flight(), ",\"workers\":[");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const WorkerStats& w = s.workers[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"index\":", w.index, ",\"name\":", json_string(w.name),
                    ",\"active\":", w.active ? "true" : "false", ",\"cpu\":", w.cpu,
                    ",\"memory_bound\":", w.memory_bound ? "true" : "false", ",\"processed\":", w.processed,
                    ",\"failed\":", w.failed, ",\"dropped\":", w.dropped, ",\"batches\":", w.batches,
                    ",\"ticks\":", w.ticks, ",\"restarts\":", w.restarts, ",\"parks\":", w.parks,
                    ",\"time_parked_seconds\":", seconds(w.time_parked), ",\"queue_depth\":", w.queue_depth,
                    ",\"sent\":", w.sent, ",\"rejected\":", w.rejected, "}");
  }
  out += "]}";
  return out;
}

std::string to_json(const ChannelStats& s) {
  return absl::StrCat("{\"sent\":", s.sent, ",\"received\":", s.received, ",\"send_full\":", s.send_full,
                      ",\"send_closed\":", s.send_closed, ",\"send_blocked\":", s.send_blocked,
                      ",\"approx_depth\":", s.approx_depth, ",\"capacity\":", s.capacity,
                      ",\"closed\":", s.closed ? "true" : "false", "}");
}

}  // namespace sn
