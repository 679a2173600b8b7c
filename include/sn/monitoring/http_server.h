// sn::MetricsServer: an optional HTTP endpoint for monitoring, serving
//   GET /metrics      the Prometheus text exposition (PrometheusText)
//   GET /stats.json   the same statistics as JSON
// from a thread of its own. It is off unless a program starts it, and binds to
// 127.0.0.1 by default. Part of the target sn::http (built when Debian's
// libcpp-httplib-dev is installed); cpp-httplib itself stays out of this header.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace sn {

/// An HTTP endpoint serving GET /metrics (Prometheus text) and GET /stats.json from a
/// thread of its own. Start it with start(); it binds to 127.0.0.1 unless told otherwise.
class MetricsServer {
 public:
  /// Where to listen, and with how many threads.
  struct Options {
    std::string address = "127.0.0.1";  ///< Loopback unless you choose otherwise.
    int port = 0;                       ///< 0: any free port; port() tells which.
    int threads = 1;                    ///< Request threads (a scrape is small).
  };
  /// What to serve. Each is called on a request thread of the server, never on a worker:
  /// build the text from stats() snapshots, which any thread may take without slowing
  /// the workers.
  struct Sources {
    /// Prometheus text for /metrics. A cluster rank labels its series by building the
    /// PrometheusText with its rank: PrometheusText({{"rank", std::to_string(rank)}}).
    std::function<std::string()> metrics;
    std::function<std::string()> json;  ///< JSON for /stats.json.
  };

  /// Binds and starts serving. InvalidArgument without both sources or for a bad port;
  /// Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(Options options, Sources sources);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The port it listens on.
  int port() const noexcept;
  /// Stops serving and joins its thread; idempotent.
  void stop();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sn
