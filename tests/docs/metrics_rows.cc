// Prints the first three cells of the docs/monitoring.md metrics-table row that each
// exported family needs, one per line:
//   | `sn_worker_processed_total` | counter | pool, worker |
// The families are those that PrometheusText writes for a pool with one worker and a
// channel, so that every row of kPoolMetrics is there, and the families outside it too.
// check_metrics_table.cmake compares them with the doc.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "sn/monitoring/export.h"

namespace {

/// The label names of a sample line (`name{a="x",b="y"} 1` gives "a, b"); label values
/// must not hold a comma or an equals sign, which the ones below do not.
std::string label_names(std::string_view sample) {
  std::string names;
  const std::size_t open = sample.find('{');
  const std::size_t close = sample.find('}');
  if (open == std::string_view::npos || close == std::string_view::npos) return names;
  std::string_view labels = sample.substr(open + 1, close - open - 1);
  while (!labels.empty()) {
    const std::size_t eq = labels.find('=');
    if (!names.empty()) names += ", ";
    names += labels.substr(0, eq);
    const std::size_t comma = labels.find(',');
    labels = comma == std::string_view::npos ? std::string_view() : labels.substr(comma + 1);
  }
  return names;
}

}  // namespace

int main() {
  sn::PoolStats pool;
  pool.workers.emplace_back();
  sn::PrometheusText out;
  out.add_pool("p", pool);
  out.add_channel({"c", sn::ChannelStats{}});
  const std::string text = out.text();

  // Each family is "# HELP", "# TYPE name type", then its samples: the first sample gives
  // the labels.
  std::string_view rest = text;
  std::string name, type;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.starts_with("# TYPE ")) {
      const std::string_view rest_of_line = line.substr(7);
      const std::size_t space = rest_of_line.find(' ');
      name = rest_of_line.substr(0, space);
      type = rest_of_line.substr(space + 1);
    } else if (!line.starts_with("#") && !name.empty()) {
      std::printf("| `%s` | %s | %s |\n", name.c_str(), type.c_str(), label_names(line).c_str());
      name.clear();
    }
  }
  return 0;
}
