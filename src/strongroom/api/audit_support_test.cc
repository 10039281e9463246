#include "strongroom/api/audit_support.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "strongroom/api/api_support.h"
#include "strongroom/api/openapi_document.h"
#include "strongroom/http/error_response.h"

namespace strongroom::api {
namespace {

using http::Method;

const std::set<std::pair<std::string, std::string>> kNotAudited = {
    {"get", "/v1/health"},
    {"get", "/v1/ready"},
    {"get", "/v1/sys/seal-status"},
    {"get", "/v1/openapi.yaml"},
};

Method MethodOf(const std::string& name) {
  if (name == "get") return Method::kGet;
  if (name == "post") return Method::kPost;
  if (name == "put") return Method::kPut;
  if (name == "patch") return Method::kPatch;
  return Method::kDelete;
}

// Every operation of the API's contract (docs/api/openapi.yaml, compiled in) has an audit action,
// so a new endpoint cannot go unrecorded by accident.
TEST(AuditSupportTest, EveryDocumentedRouteHasAnAction) {
  std::istringstream document{std::string(OpenApiDocument())};
  const std::regex path_line(R"(^  (/v1/\S*):\s*$)");
  const std::regex method_line(R"(^    (get|post|put|patch|delete):\s*$)");
  std::string line, path;
  int operations = 0;
  while (std::getline(document, line)) {
    std::smatch m;
    if (std::regex_match(line, m, path_line)) {
      path = m[1];
    } else if (!path.empty() && std::regex_match(line, m, method_line)) {
      ++operations;
      const std::string method = m[1];
      const auto action = AuditActionOf(MethodOf(method), path);
      if (kNotAudited.contains({method, path})) {
        EXPECT_EQ(action, "") << method << " " << path;
      } else {
        EXPECT_NE(action, "") << method << " " << path << " has no audit action";
        // And the access policy has an action for every call but the caller's own (/v1/auth)
        // and unsealing (no caller yet).
        if (!action.starts_with("auth.") && action != "vault.unseal") {
          const http::Request request;
          EXPECT_TRUE(PolicyGateOf(action, request).has_value())
              << method << " " << path << " has no policy action";
        }
      }
    } else if (!line.empty() && line[0] != ' ') {
      path.clear();  // left the paths section
    }
  }
  EXPECT_GT(operations, 55);
}

TEST(AuditSupportTest, OutcomeComesFromTheErrorEnvelope) {
  audit::Event event;
  Error bad(ErrorCode::kInvalidArgument, "a message that is not recorded");
  bad.At("$.fields.email", "format");
  SetOutcome(event, http::ErrorResponse(bad, "req-1"));
  EXPECT_EQ(event.status, 400);
  EXPECT_EQ(event.code, "invalid_argument");
  EXPECT_EQ(event.detail_path, "$.fields.email");
  EXPECT_EQ(event.detail_rule, "format");
  audit::Event ok;
  http::Response created;
  created.status = 201;
  created.body = R"({"id":"rec_1"})";
  SetOutcome(ok, created);
  EXPECT_EQ(ok.status, 201);
  EXPECT_EQ(ok.code, "ok");
}

TEST(AuditSupportTest, PathResourcesAndNeverASubjectId) {
  http::Request request;
  request.method = Method::kGet;
  request.route = "/v1/collections/{collection}/records/{id}";
  request.request_id = "req-2";
  request.peer = "::1";
  request.path_params = {{"collection", "patients"}, {"id", "rec_9"}};
  auto event = AuditEventFor(request);
  EXPECT_EQ(event.action, "record.read");
  EXPECT_EQ(event.collection, "patients");
  EXPECT_EQ(event.ids, std::vector<std::string>{"rec_9"});
  EXPECT_EQ(event.source, "::1");
  EXPECT_EQ(event.request_id, "req-2");

  request.route = "/v1/subjects/{id}";
  request.path_params = {{"id", "sub_raw"}};
  event = AuditEventFor(request);
  EXPECT_EQ(event.action, "subject.read");
  EXPECT_TRUE(event.ids.empty());  // a subject goes in only as its pseudonym (CompleteEvent)
}

}  // namespace
}  // namespace strongroom::api

namespace strongroom::api {
namespace {

TEST(AuditSupportTest, RoutesMapToThePolicyActionsDocumented) {
  const http::Request request;
  const auto gate = [&](std::string_view action) {
    const auto g = PolicyGateOf(action, request);
    return g ? std::string(policy::ActionName(g->action)) + " " + std::string(g->collection)
             : std::string("none");
  };
  EXPECT_EQ(gate("record.read"), "read ");
  EXPECT_EQ(gate("record.search"), "search ");
  EXPECT_EQ(gate("collection.list"), "read @collections");
  EXPECT_EQ(gate("collection.create"), "manage-schema ");
  EXPECT_EQ(gate("subject.create"), "create @subjects");
  EXPECT_EQ(gate("activity.append"), "create @activity");
  EXPECT_EQ(gate("document.read"), "read @documents");
  EXPECT_EQ(gate("tenant.create"), "manage-tenants ");
  EXPECT_EQ(gate("tenant.set_two_factor_policy"), "manage-policy ");
  EXPECT_EQ(gate("token.revoke"), "manage-principals ");
  EXPECT_EQ(gate("vault.seal"), "manage-keys ");
  EXPECT_EQ(gate("policy.update"), "manage-policy ");
  EXPECT_EQ(gate("audit.hash_value"), "read-audit ");
  EXPECT_EQ(gate("auth.sign_in"), "none");
}

}  // namespace
}  // namespace strongroom::api
