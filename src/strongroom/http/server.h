#pragma once
// HttpServer: the TLS API listener and the plain-HTTP metrics listener, on Boost.Beast/Asio.
//
// Each API connection runs: traffic guard (bans, block list, connections per source) -> TLS
// handshake -> read headers -> checks (limits, route, the guard's rate limits, media type)
// -> read body -> handler (on the I/O thread if the route is kInline, on the credential pool if it
// is kCredential, else on the worker pool)
// -> write -> keep-alive or close. Every phase has a timeout, so a slow or stuck client costs
// one socket for a bounded time; at most `max_connections` are open.
//
// Signals: SIGTERM/SIGINT start a drain (stop accepting, close idle connections, let in-flight
// requests finish, up to `shutdown_grace`; a second signal stops at once); SIGHUP calls the
// reload hook on the worker pool.
//
// Ownership: the server borrows the router, metrics, TLS store and metrics registry, which must
// outlive it. Threads: Run() blocks the caller, which becomes one of the I/O threads. Listen*()
// must be called before Run(); draining() is safe from any thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/base/net_address.h"
#include "strongroom/guard/traffic_guard.h"
#include "strongroom/http/http_metrics.h"
#include "strongroom/http/router.h"
#include "strongroom/http/tls_context.h"
#include "strongroom/observe/metrics.h"

namespace strongroom::http {

struct ServerOptions {
  std::size_t io_threads = 2;
  std::size_t worker_threads = 2;
  std::size_t credential_threads = 1;  // kCredential routes (Argon2id)
  std::size_t credential_queue = 64;   // kCredential requests waiting or running; more get 503
  // The credential threads' niceness (Linux, per thread; 0-19): when the CPU is contended,
  // Argon2id yields it to the I/O and worker threads, so a sign-in flood slows sign-ins, not
  // every other request. 0 keeps them equal.
  int credential_nice = 10;
  std::size_t max_connections = 1024;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_header_count = 100;
  std::size_t max_target_bytes = 8 << 10;          // request line's target; longer: 414
  std::size_t max_requests_per_connection = 1000;  // then the connection is closed (0: no cap)
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds shutdown_grace{10'000};
  bool access_log = true;
  // Reverse proxies whose X-Forwarded-For names the client (base/ip_network.h ForwardedClient):
  // requests from them carry that client as their peer (policy, zones, throttling, audit).
  std::vector<IpNetwork> trusted_proxies;
  // The traffic guard (docs/guard.md), asked at accept, once a request's headers are read, and
  // for every 4xx answer; null: none. Borrowed: it must outlive the server.
  guard::TrafficGuard* guard = nullptr;
  // Runs before every routed request's handler (the web application firewall); null: none.
  // Borrowed: it must outlive the server.
  const RequestScreen* screen = nullptr;
};

class HttpServer {
 public:
  HttpServer(const ServerOptions& options, const Router& router, HttpMetrics& metrics,
             TlsContextStore& tls, observe::MetricsRegistry& registry);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds; returns the bound address (the chosen port when asked for port 0).
  Result<NetAddress> ListenApi(const NetAddress& address);
  Result<NetAddress> ListenMetrics(const NetAddress& address);

  // Serves until a drain completes. `on_reload` runs on a worker thread for each SIGHUP.
  void Run(std::function<void()> on_reload);

  bool draining() const;

  struct Impl;  // opaque: defined in server.cc, next to the connection classes that use it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace strongroom::http
