// /v1/privacy/requests...: the tenant's log of data-subject requests (records/subject_requests.h,
// docs/privacy.md). Every route is the manage-requests action (api_support.cc, PolicyGateOf;
// built in: role dpo) and is audited as subject_request.create, .list, .read or .update.

#include <boost/json/object.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"

namespace strongroom::api {
namespace {

using http::Method;
using http::Request;

// The principal a change is recorded under: its id, never its name.
std::string_view By(const auth::Caller& who) { return who.principal_id; }

// A guarded route of the log (503 when the server has none); `status` on success.
template <typename F>
http::Handler LogRoute(const VaultApi& api, int status, F call) {
  return Guarded(
      api, Access::kAdmin, false,
      [api, status, call](const Request& request, const auth::Caller& who) -> Result<Answer> {
        if (api.subject_requests == nullptr) {
          return Fail(ErrorCode::kUnavailable, "the request log is not available on this server");
        }
        auto result = call(*api.subject_requests, request, who);
        if (!result) return std::unexpected(result.error());
        return Answer(status, std::move(*result));
      });
}

}  // namespace

void AddPrivacyRoutes(http::Router& router, const VaultApi& api) {
  using Log = records::SubjectRequests;
  router.Add(Method::kPost, "/v1/privacy/requests", http::Execution::kWorker,
             LogRoute(api, 201,
                      [](Log& log, const Request& request,
                         const auth::Caller& who) -> Result<boost::json::object> {
                        auto body = Body(request);
                        if (!body) return std::unexpected(body.error());
                        return log.Create(who.tenant, *body, By(who));
                      }));
  router.Add(
      Method::kGet, "/v1/privacy/requests", http::Execution::kWorker,
      LogRoute(api, 200,
               [](Log& log, const Request& request,
                  const auth::Caller& who) -> Result<boost::json::object> {
                 auto query = ParseQuery(request.query, {"limit", "cursor", "status", "overdue"});
                 if (!query) return std::unexpected(query.error());
                 auto page = PageFrom(*query);
                 if (!page) return std::unexpected(page.error());
                 std::string_view status;
                 bool overdue = false;
                 for (const auto& [name, value] : *query) {
                   if (name == "status") status = value;
                   if (name != "overdue") continue;
                   if (value != "true" && value != "false") {
                     return FailAt("overdue", "type", "must be true or false");
                   }
                   overdue = value == "true";
                 }
                 return log.List(who.tenant, *page, status, overdue);
               }));
  router.Add(Method::kGet, "/v1/privacy/requests/{id}", http::Execution::kWorker,
             LogRoute(api, 200, [](Log& log, const Request& request, const auth::Caller& who) {
               return log.Get(who.tenant, request.PathParam("id"));
             }));
  router.Add(Method::kPatch, "/v1/privacy/requests/{id}", http::Execution::kWorker,
             LogRoute(api, 200,
                      [](Log& log, const Request& request,
                         const auth::Caller& who) -> Result<boost::json::object> {
                        auto body = Body(request);
                        if (!body) return std::unexpected(body.error());
                        return log.Update(who.tenant, request.PathParam("id"), *body, By(who));
                      }));
}

}  // namespace strongroom::api
