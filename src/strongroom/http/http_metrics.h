#pragma once
// The HTTP server's metrics, registered once for a router's routes so that recording a request
// touches only atomics: strongroom_http_requests_total{route,method,code},
// strongroom_http_request_duration_seconds{route}, strongroom_http_open_connections,
// strongroom_tls_handshake_failures_total, strongroom_http_connections_rejected_total,
// strongroom_http_timeouts_total{phase}, strongroom_http_inline_retries_total.
//
// Owned by the composition root, outlives the server; thread-safe.

#include <array>
#include <atomic>
#include <memory>
#include <vector>

#include "strongroom/http/router.h"
#include "strongroom/observe/metrics.h"

namespace strongroom::http {

enum class TimeoutPhase { kHandshake, kHeader, kBody, kIdle, kWrite };

class HttpMetrics {
 public:
  HttpMetrics(observe::MetricsRegistry& registry, const Router& router);

  // `route` is null for requests that matched no route (labelled route="unmatched").
  void RecordRequest(const Route* route, Method method, int status, double seconds);
  void RecordTimeout(TimeoutPhase phase) { timeouts_[static_cast<int>(phase)]->Increment(); }

  observe::Gauge& open_connections() { return open_connections_; }
  observe::Counter& handshake_failures() { return handshake_failures_; }
  observe::Counter& rejected_connections() { return rejected_connections_; }
  observe::Counter& inline_retries() { return inline_retries_; }

 private:
  static constexpr int kStatusSlots = 500;  // codes 100..599
  observe::Counter& CounterFor(std::size_t slot, Method method, std::string_view route, int status);

  observe::MetricsRegistry& registry_;
  std::size_t route_count_;
  // [slot * kStatusSlots + status - 100]; slot = route index, or route_count_ + method for
  // unmatched requests. Filled lazily: the registry lookup happens once per (slot, status).
  std::unique_ptr<std::atomic<observe::Counter*>[]> requests_;
  std::vector<observe::Histogram*> durations_;  // per slot
  observe::Gauge& open_connections_;
  observe::Counter& handshake_failures_;
  observe::Counter& rejected_connections_;
  observe::Counter& inline_retries_;
  std::array<observe::Counter*, 5> timeouts_;
};

}  // namespace strongroom::http
