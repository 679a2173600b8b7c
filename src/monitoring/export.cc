// Prometheus text format and JSON for pool and channel statistics.
#include "sn/monitoring/export.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "sn/detail/check.h"
#include "sn/pool/metrics.h"

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

/// [a-zA-Z_][a-zA-Z0-9_]*, as the text format requires of a label name.
bool is_label_name(std::string_view name) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (name.empty() || !letter(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

/// OK when every constant label may be written: a label name, not reserved ("__" is
/// Prometheus's own), not one the exporter writes, and given once.
absl::Status check_const_labels(const PrometheusText::Labels& labels) {
  const auto& own = PrometheusText::kOwnLabels;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::string& name = labels[i].first;
    auto refuse = [&](const char* why) {
      return absl::InvalidArgumentError(
          absl::StrCat("sn::PrometheusText: constant label \"", absl::CEscape(name), "\" ", why));
    };
    if (!is_label_name(name)) return refuse("is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    if (name.starts_with("__")) return refuse("starts with \"__\", which Prometheus reserves");
    if (std::find(own.begin(), own.end(), name) != own.end()) return refuse("is a label the exporter writes itself");
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[j].first == name) return refuse("is given twice");
    }
  }
  return absl::OkStatus();
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

/// Where a value goes: flags are 1 and 0 in Prometheus, true and false in JSON.
enum class Format { prometheus, json };

std::string value_text(std::uint64_t v, Format) { return absl::StrCat(v); }
std::string value_text(absl::Duration v, Format) { return seconds(v); }
std::string value_text(bool v, Format f) {
  if (f == Format::json) return v ? "true" : "false";
  return v ? "1" : "0";
}

/// The row's field of `Stats` (WorkerStats or PoolStats).
template <class Stats>
const MetricField<Stats>& field_of(const PoolMetric& m) {
  if constexpr (std::is_same_v<Stats, WorkerStats>) {
    return m.worker;
  } else {
    return m.pool;
  }
}

/// The value of the row's field in `s`, written for `f`; empty where `s` lacks the field.
template <class Stats>
std::string value_of(const PoolMetric& m, const Stats& s, Format f) {
  return std::visit(
      [&](auto member) -> std::string {
        if constexpr (std::is_same_v<decltype(member), std::monostate>) {
          return "";
        } else {
          return value_text(s.*member, f);
        }
      },
      field_of<Stats>(m));
}

/// Appends `"key":value` for every row of kPoolMetrics that `Stats` has, comma-separated
/// and preceded by a comma unless `first`.
template <class Stats>
void append_json_fields(std::string& out, const Stats& s, bool first) {
  for (const PoolMetric& m : kPoolMetrics) {
    if (field_of<Stats>(m).index() == 0) continue;
    absl::StrAppend(&out, first ? "" : ",", json_string(m.json), ":", value_of(m, s, Format::json));
    first = false;
  }
}

}  // namespace

std::string prometheus_name(const PoolMetric& metric, MetricLevel level) {
  std::string name = level == MetricLevel::worker ? "sn_worker_" : "sn_pool_";
  name += metric.prometheus;  // not through StrCat: this absl::string_view is not std::string_view
  if (metric.type == MetricType::counter) name += "_total";
  return name;
}

PrometheusText::PrometheusText(Labels const_labels) {
  const absl::Status valid = check_const_labels(const_labels);
  if (!valid.ok()) std::fprintf(stderr, "%s\n", valid.ToString().c_str());
  SN_CHECK(valid.ok(), "sn::PrometheusText: an invalid constant label (with_labels returns it as a Status)");
  for (const auto& [name, value] : const_labels)
    absl::StrAppend(&const_labels_, name, "=\"", escape_label(value), "\",");
}

PrometheusText::PrometheusText(std::initializer_list<Label> const_labels) : PrometheusText(Labels(const_labels)) {}

absl::StatusOr<PrometheusText> PrometheusText::with_labels(Labels const_labels) {
  if (absl::Status valid = check_const_labels(const_labels); !valid.ok()) return valid;
  return PrometheusText(std::move(const_labels));
}

std::string PrometheusText::labels(std::string_view own) const {
  std::string out = "{" + const_labels_;
  out += own;  // not through StrCat: this absl::string_view is not std::string_view
  out += '}';
  return out;
}

PrometheusText::Family& PrometheusText::family(std::string_view name, std::string_view help, bool counter) {
  for (Family& f : families_) {
    if (f.name == name) return f;
  }
  return families_.emplace_back(Family{std::string(name), std::string(help), counter, {}});
}

void PrometheusText::add_pool(std::string_view pool, const PoolStats& s) {
  const std::string p = labels(absl::StrCat("pool=\"", escape_label(pool), "\""));
  for (const PoolMetric& m : kPoolMetrics) {
    if (!m.in_prometheus(MetricLevel::pool)) continue;
    family(prometheus_name(m, MetricLevel::pool), m.pool_help, m.type == MetricType::counter)
        .samples.push_back({p, value_of(m, s, Format::prometheus)});
  }
  family("sn_pool_workers", "Workers running now.", false)
      .samples.push_back({p, absl::StrCat(std::count_if(s.workers.begin(), s.workers.end(),
                                                        [](const WorkerStats& w) { return w.active; }))});

  for (const WorkerStats& w : s.workers) {
    const std::string l = labels(absl::StrCat("pool=\"", escape_label(pool), "\",worker=\"", w.index, "\""));
    for (const PoolMetric& m : kPoolMetrics) {
      if (!m.in_prometheus(MetricLevel::worker)) continue;
      family(prometheus_name(m, MetricLevel::worker), m.worker_help, m.type == MetricType::counter)
          .samples.push_back({l, value_of(m, w, Format::prometheus)});
    }
  }
}

void PrometheusText::add_channel(const NamedChannelStats& c) {
  const std::string l = labels(absl::StrCat("channel=\"", escape_label(c.name), "\""));
  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    family(name, help, true).samples.push_back({l, absl::StrCat(v)});
  };
  auto gauge = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    family(name, help, false).samples.push_back({l, absl::StrCat(v)});
  };
  counter("sn_channel_sent_total", "Values the channel accepted.", c.stats.sent);
  counter("sn_channel_received_total", "Values receivers took out.", c.stats.received);
  counter("sn_channel_discarded_total", "Values destroyed unreceived because the last receiver left.",
          c.stats.discarded);
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
  std::string out = "{";
  append_json_fields(out, s, /*first=*/true);
  absl::StrAppend(&out, ",\"in_flight\":", s.in_flight(), ",\"workers\":[");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const WorkerStats& w = s.workers[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"index\":", w.index, ",\"name\":", json_string(w.name),
                    ",\"cpu\":", w.cpu, ",\"memory_bound\":", w.memory_bound ? "true" : "false");
    append_json_fields(out, w, /*first=*/false);
    out += "}";
  }
  out += "]}";
  return out;
}

std::string to_json(const ChannelStats& s) {
  return absl::StrCat("{\"sent\":", s.sent, ",\"received\":", s.received, ",\"discarded\":", s.discarded,
                      ",\"send_full\":", s.send_full, ",\"send_closed\":", s.send_closed,
                      ",\"send_blocked\":", s.send_blocked, ",\"approx_depth\":", s.approx_depth,
                      ",\"capacity\":", s.capacity, ",\"closed\":", s.closed ? "true" : "false", "}");
}

}  // namespace sn
