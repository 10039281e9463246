#include "strongroom/api/health.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <memory>

namespace strongroom::api {

void AddHealthRoutes(http::Router& router, std::vector<DependencyCheck> checks) {
  router.Add(http::Method::kGet, "/v1/health", http::Execution::kInline,
             [](const http::Request&) {
               http::Response response;
               response.body = R"({"status":"ok"})";
               return response;
             });
  auto shared = std::make_shared<const std::vector<DependencyCheck>>(std::move(checks));
  router.Add(http::Method::kGet, "/v1/ready", http::Execution::kWorker,
             [shared](const http::Request&) {
               boost::json::object dependencies;
               bool ready = true, degraded = false;
               for (const DependencyCheck& dependency : *shared) {
                 const DependencyStatus status = dependency.check();
                 boost::json::object entry;
                 entry["state"] = status.state;
                 if (!status.detail.empty()) entry["detail"] = status.detail;
                 dependencies[dependency.name] = std::move(entry);
                 ready = ready && status.ok;
                 degraded = degraded || status.state == "degraded";
               }
               boost::json::object body;
               // Degraded: still serving, but a dependency is near its limit (an operator acts).
               body["status"] = !ready ? "not_ready" : degraded ? "degraded" : "ready";
               body["dependencies"] = std::move(dependencies);
               http::Response response;
               response.status = ready ? 200 : 503;
               response.body = boost::json::serialize(body);
               return response;
             });
}

}  // namespace strongroom::api
