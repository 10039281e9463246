#include "strongroom/http/http_metrics.h"

#include <string>

namespace strongroom::http {
namespace {
constexpr const char* kRequests = "strongroom_http_requests_total";
constexpr const char* kRequestsHelp = "HTTP requests answered, by route pattern, method and status";
constexpr const char* kDuration = "strongroom_http_request_duration_seconds";
constexpr const char* kDurationHelp = "Time from a request's first byte until its response is sent";
}  // namespace

HttpMetrics::HttpMetrics(observe::MetricsRegistry& registry, const Router& router)
    : registry_(registry),
      route_count_(router.routes().size()),
      requests_(new std::atomic<observe::Counter*>[(route_count_ + kMethodCount) * kStatusSlots]),
      open_connections_(registry.GetGauge("strongroom_http_open_connections",
                                          "API connections currently open")),
      handshake_failures_(registry.GetCounter("strongroom_tls_handshake_failures_total",
                                              "TLS handshakes that failed or timed out")),
      rejected_connections_(registry.GetCounter(
          "strongroom_http_connections_rejected_total",
          "Connections closed on accept because server.max_connections were open")),
      inline_retries_(registry.GetCounter(
          "strongroom_http_inline_retries_total",
          "Inline-first requests that needed the disk and ran again on the worker pool")) {
  for (std::size_t i = 0; i < (route_count_ + kMethodCount) * kStatusSlots; ++i) {
    requests_[i].store(nullptr, std::memory_order_relaxed);
  }
  for (const Route& route : router.routes()) {
    durations_.push_back(&registry.GetHistogram(kDuration, kDurationHelp, {{"route", route.pattern}},
                                                observe::DefaultLatencyBuckets()));
  }
  auto& unmatched = registry.GetHistogram(kDuration, kDurationHelp, {{"route", "unmatched"}},
                                          observe::DefaultLatencyBuckets());
  for (int m = 0; m < kMethodCount; ++m) durations_.push_back(&unmatched);
  const char* phases[] = {"handshake", "header", "body", "idle", "write"};
  for (int i = 0; i < 5; ++i) {
    timeouts_[i] = &registry.GetCounter("strongroom_http_timeouts_total",
                                        "Connections closed because a phase timed out",
                                        {{"phase", phases[i]}});
  }
}

observe::Counter& HttpMetrics::CounterFor(std::size_t slot, Method method, std::string_view route,
                                          int status) {
  auto& cell = requests_[slot * kStatusSlots + static_cast<std::size_t>(status - 100)];
  if (observe::Counter* counter = cell.load(std::memory_order_acquire)) return *counter;
  observe::Counter& counter =
      registry_.GetCounter(kRequests, kRequestsHelp,
                           {{"route", std::string(route)},
                            {"method", std::string(MethodName(method))},
                            {"code", std::to_string(status)}});
  cell.store(&counter, std::memory_order_release);  // racing stores store the same pointer
  return counter;
}

void HttpMetrics::RecordRequest(const Route* route, Method method, int status, double seconds) {
  if (status < 100 || status > 599) status = 500;
  const std::size_t slot =
      route ? route->index : route_count_ + static_cast<std::size_t>(method);
  CounterFor(slot, method, route ? std::string_view(route->pattern) : "unmatched", status)
      .Increment();
  durations_[slot]->Observe(seconds);
}

}  // namespace strongroom::http
