// The metrics endpoint over real HTTP on loopback: what it serves, the errors for wrong
// paths and methods, refused options, and that a slow scrape never holds up a worker.
#include "sn/monitoring/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sn/monitoring/export.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

MetricsServer::Sources fixed_sources() {
  return {[] { return std::string("sn_demo_total 1\n"); }, [] { return std::string("{\"demo\":1}"); }};
}

// Sends `request` as it is over a fresh connection to 127.0.0.1:port and returns everything
// the server writes until it closes the connection (at most 10 s), so that requests a
// client library would tidy up (a POST without Content-Length, say) can be made.
std::string raw_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "socket() failed";
  timeval limit{};
  limit.tv_sec = 10;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) reply.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

std::unique_ptr<MetricsServer> start_or_fail(MetricsServer::Options options, MetricsServer::Sources sources) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::start(std::move(options), std::move(sources));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(MetricsServer, ServesMetricsAndJsonOnLoopback) {
  auto server = start_or_fail({}, fixed_sources());
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  httplib::Client client("127.0.0.1", server->port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "sn_demo_total 1\n");
  EXPECT_TRUE(absl::StartsWith(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  auto json = client.Get("/stats.json");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  EXPECT_EQ(json->body, "{\"demo\":1}");
  EXPECT_EQ(json->get_header_value("Content-Type"), "application/json");
}

TEST(MetricsServer, AnswersWrongPathsWith404AndWrongMethodsWith405) {
  auto server = start_or_fail({}, fixed_sources());
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto missing = client.Get("/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto posted = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 405);
  EXPECT_EQ(posted->get_header_value("Allow"), "GET, HEAD");
  auto deleted = client.Delete("/stats.json");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 405);
}

// Every method but GET and HEAD gets 405 with Allow, with or without a body: a POST with
// no Content-Length (what `curl -X POST` sends) is not read until the connection closes,
// and OPTIONS and TRACE, which cpp-httplib does not route by itself, are answered too.
TEST(MetricsServer, AnswersEveryOtherMethodWith405AndAllow) {
  auto server = start_or_fail({}, fixed_sources());
  ASSERT_NE(server, nullptr);
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}) {
    for (const char* path : {"/metrics", "/stats.json"}) {
      const std::string head = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
      const std::string bodiless = raw_exchange(server->port(), absl::StrCat(head, "\r\n"));
      EXPECT_TRUE(absl::StartsWith(bodiless, "HTTP/1.1 405")) << method << " " << path << ":\n" << bodiless;
      EXPECT_TRUE(absl::StrContains(bodiless, "Allow: GET, HEAD")) << method << " " << path;
      const std::string with_body = raw_exchange(server->port(), absl::StrCat(head, "Content-Length: 2\r\n\r\nhi"));
      EXPECT_TRUE(absl::StartsWith(with_body, "HTTP/1.1 405")) << method << " " << path << " with a body:\n"
                                                               << with_body;
    }
  }
  httplib::Client client("127.0.0.1", server->port());
  auto head = client.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto missing = client.Post("/nothing-here", "x", "text/plain");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(MetricsServer, ASourceThatThrowsGives500AndTheServerGoesOn) {
  auto server =
      start_or_fail({}, {[]() -> std::string { throw std::runtime_error("boom"); }, [] { return std::string("{}"); }});
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto failed = client.Get("/metrics");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  EXPECT_TRUE(absl::StrContains(failed->body, "boom"));
  auto json = client.Get("/stats.json");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
}

TEST(MetricsServer, RefusesMissingSourcesBadPortsAndATakenPort) {
  EXPECT_EQ(MetricsServer::start({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  MetricsServer::Options bad;
  bad.port = 70000;
  EXPECT_EQ(MetricsServer::start(bad, fixed_sources()).status().code(), absl::StatusCode::kInvalidArgument);
  auto first = start_or_fail({}, fixed_sources());
  ASSERT_NE(first, nullptr);
  MetricsServer::Options same;
  same.port = first->port();
  EXPECT_EQ(MetricsServer::start(same, fixed_sources()).status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetricsServer, StopIsIdempotentAndClosesThePort) {
  auto server = start_or_fail({}, fixed_sources());
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  server->stop();
  server->stop();
  httplib::Client client("127.0.0.1", port);
  EXPECT_FALSE(client.Get("/metrics")) << "nothing listens after stop()";
}

struct Count : Worker<std::uint64_t, std::uint64_t> {
  void handle_message(std::uint64_t& n, Envelope<std::uint64_t>) { ++n; }
};

TEST(MetricsServer, ASlowScrapeNeverHoldsUpTheWorkers) {
  auto pool = create_pool<Count>(PoolConfig().with_num_workers(2));
  ASSERT_NE(pool, nullptr);
  std::atomic<bool> scraping{false};
  std::atomic<bool> release{false};
  MetricsServer::Sources sources{[&] {
                                   scraping.store(true, std::memory_order_release);
                                   (void)wait_until([&] { return release.load(std::memory_order_acquire); });
                                   PrometheusText out;
                                   out.add_pool("p", pool->stats());
                                   return out.text();
                                 },
                                 [&] { return to_json(pool->stats()); }};
  auto server = start_or_fail({}, std::move(sources));
  ASSERT_NE(server, nullptr);
  std::thread scraper([&] {
    httplib::Client client("127.0.0.1", server->port());
    auto r = client.Get("/metrics");
    EXPECT_TRUE(r && r->status == 200);
  });
  ASSERT_TRUE(wait_until([&] { return scraping.load(std::memory_order_acquire); }));
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(pool->send(k, std::uint64_t{k}), SendResult::ok);
  EXPECT_TRUE(wait_until([&] { return pool->stats().processed == 1000; })) << "the workers waited for the scrape";
  release.store(true, std::memory_order_release);
  scraper.join();
  server->stop();
  ASSERT_TRUE(pool->shutdown().ok());
}

}  // namespace
}  // namespace sn::test
