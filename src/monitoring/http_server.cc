// MetricsServer on cpp-httplib: GET /metrics and GET /stats.json, 404 for other paths,
// 405 (with Allow: GET, HEAD) for every other method on those two.
#include "sn/monitoring/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sn/monitoring/export.h"

namespace sn {

struct MetricsServer::Impl {
  httplib::Server server;
  Sources sources;
  int port = 0;
  std::atomic<bool> listening_ended{false};
  std::thread thread;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { stop(); }

int MetricsServer::port() const noexcept { return impl_->port; }

void MetricsServer::stop() {
  if (impl_->thread.joinable()) {
    impl_->server.stop();
    impl_->thread.join();
  }
}

namespace {

// GET and HEAD are the only methods on /metrics and /stats.json; every other gets 405
// with Allow, whether or not it carries a body.
void answer_other_methods_with_405(httplib::Server& server) {
  auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("405 Method Not Allowed: use GET\n", "text/plain");
  };
  // A request that declares a body (POST, PUT, PATCH, DELETE) reaches these handlers
  // after cpp-httplib has read the body, so the connection stays usable.
  for (const char* path : {"/metrics", "/stats.json"}) {
    server.Post(path, not_allowed);
    server.Put(path, not_allowed);
    server.Patch(path, not_allowed);
    server.Delete(path, not_allowed);
  }
  // Every other request for these paths is answered here, before routing: cpp-httplib
  // would read the body of a POST with no Content-Length until the connection closes (and
  // then answer 400; HTTP/1.1 says it has no body), it has no route for OPTIONS here, and
  // none at all for TRACE or CONNECT (400). It reads no body for those methods either.
  server.set_pre_routing_handler([not_allowed](const httplib::Request& req, httplib::Response& res) {
    const bool ours = req.path == "/metrics" || req.path == "/stats.json";
    const bool body_read_by_routing =
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE") &&
        (req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0"));
    if (!ours || req.method == "GET" || req.method == "HEAD" || body_read_by_routing) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    not_allowed(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(Options options, Sources sources) {
  if (!sources.metrics || !sources.json) {
    return absl::InvalidArgumentError("sn::MetricsServer: both the metrics and the json source are needed");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("sn::MetricsServer: port ", options.port, " is out of range"));
  }
  if (options.threads < 1) return absl::InvalidArgumentError("sn::MetricsServer: threads must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->sources = std::move(sources);
  httplib::Server& server = impl->server;
  // cpp-httplib's default also sets SO_REUSEPORT, which would let a second server share
  // the port silently; a metrics endpoint must own its port.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    (void)setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };

  auto serve = [](const std::function<std::string()>& source, std::string_view type) {
    return [&source, type](const httplib::Request&, httplib::Response& res) {
      try {
        res.set_content(source(), std::string(type));
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(absl::StrCat("the stats source failed: ", e.what(), "\n"), "text/plain");
      }
    };
  };
  const Sources& kept = impl->sources;
  server.Get("/metrics", serve(kept.metrics, PrometheusText::kContentType));
  server.Get("/stats.json", serve(kept.json, "application/json"));
  answer_other_methods_with_405(server);
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content(absl::StrCat("404 Not Found: ", req.path, " (try /metrics or /stats.json)\n"), "text/plain");
    }
  });

  const int port = options.port == 0 ? server.bind_to_any_port(options.address)
                                     : (server.bind_to_port(options.address, options.port) ? options.port : -1);
  if (port < 0) {
    return absl::UnavailableError(
        absl::StrCat("sn::MetricsServer: cannot listen on ", options.address, ":", options.port));
  }
  impl->port = port;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    (void)raw->server.listen_after_bind();
    raw->listening_ended.store(true, std::memory_order_release);
  });
  // stop() only ends a server that is already listening: return once it is (or has
  // already given up).
  while (!raw->server.is_running() && !raw->listening_ended.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace sn
