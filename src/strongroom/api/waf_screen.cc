#include "strongroom/api/waf_screen.h"

#include <chrono>
#include <string>

#include "strongroom/api/audit_support.h"
#include "strongroom/guard/traffic_guard.h"
#include "strongroom/guard/web_firewall.h"
#include "strongroom/http/error_response.h"
#include "strongroom/observe/log.h"
#include "strongroom/observe/metrics.h"

namespace strongroom::api {
namespace {

// Inspection time, 10 µs to 100 ms: the CRS costs hundreds of microseconds per request.
constexpr double kInspectionBuckets[] = {1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1};

constexpr std::string_view kRequestsMetric = "strongroom_waf_requests_total";
constexpr std::string_view kRequestsHelp =
    "Requests the web application firewall inspected, by outcome (passed, refused, or detected "
    "in detection-only mode)";

}  // namespace

WafScreen::WafScreen(const VaultApi& api, const guard::WebFirewall& firewall,
                     observe::MetricsRegistry& registry)
    : api_(api),
      firewall_(firewall),
      passed_(registry.GetCounter(kRequestsMetric, kRequestsHelp, {{"outcome", "passed"}})),
      refused_(registry.GetCounter(kRequestsMetric, kRequestsHelp, {{"outcome", "refused"}})),
      detected_(registry.GetCounter(kRequestsMetric, kRequestsHelp, {{"outcome", "detected"}})),
      seconds_(registry.GetHistogram("strongroom_waf_inspection_seconds",
                                     "Time the web application firewall spent on a request", {},
                                     kInspectionBuckets)) {}

std::optional<http::Response> WafScreen::Screen(const http::Request& request) const {
  guard::WafRequest input;
  input.method = http::MethodName(request.method);
  // The target as sent: path and query, which is what the rules expect (REQUEST_URI).
  std::string target(request.path);
  if (!request.query.empty()) {
    target += '?';
    target += request.query;
  }
  input.target = target;
  input.http_version = request.version == 10 ? "1.0" : "1.1";
  input.client = request.peer;
  request.headers->ForEach([&input](std::string_view name, std::string_view value) {
    input.headers.emplace_back(name, value);
  });
  input.body = request.body;

  const auto started = std::chrono::steady_clock::now();
  const guard::WafFinding finding = firewall_.Inspect(input);
  seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());

  if (!finding.detected) {
    passed_.Increment();
    return std::nullopt;
  }
  const std::string rules = finding.RuleList();
  if (!finding.refuse) {
    detected_.Increment();
    observe::Warn("security.waf_detected", {{"request_id", request.request_id},
                                            {"route", request.route},
                                            {"rules", rules},
                                            {"source", request.peer}});
    return std::nullopt;
  }
  refused_.Increment();
  observe::Warn("security.waf_block", {{"request_id", request.request_id},
                                       {"route", request.route},
                                       {"rules", rules},
                                       {"source", request.peer}});
  if (api_.guard != nullptr) api_.guard->RecordWafHit(request.peer);
  http::Response response = http::ErrorResponse(
      Error(ErrorCode::kPermissionDenied, "refused by the web application firewall"),
      request.request_id);
  // Not AuditEventFor(): the path's segments (a record id, a collection) are the client's text,
  // possibly the very text the rules refused. The route names the endpoint.
  audit::Event event;
  event.action = "waf.block";
  event.request_id = std::string(request.request_id);
  event.source = std::string(request.peer);
  event.target = std::string(request.route);
  event.status = response.status;
  event.code = "permission_denied";
  event.detail_rule = rules;
  HoldForAudit(api_, response, std::move(event), request.route);
  return response;
}

}  // namespace strongroom::api
