// A project outside the tree that serves metrics through the installed sn::http.
#include <cstdio>
#include <string>

#include "sn/monitoring/http_server.h"

int main() {
  sn::MetricsServer::Sources sources{[] { return std::string("up 1\n"); }, [] { return std::string("{}"); }};
  auto server = sn::MetricsServer::start({}, std::move(sources));
  if (!server.ok()) {
    std::fprintf(stderr, "http consumer: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("http consumer listened on port %d\n", (*server)->port());
  (*server)->stop();
  return (*server)->port() > 0 ? 0 : 1;
}
