// Break-glass (policy/break_glass.h, docs/policy.md): a principal asks for time-boxed plain
// access to fields of a collection it sees in a lesser view; another administrator approves;
// record answers then show those fields plain until it expires (record_views.cc), and each
// such answer's audit entry names the grant.
//
//   POST /v1/collections/{collection}/break-glass   request (action read on the collection)
//   GET  /v1/break-glass                            the tenant's requests (manage-policy)
//   POST /v1/break-glass/{id}/approve               by an administrator other than the requester
//   POST /v1/break-glass/{id}/revoke                by an administrator

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/base/time.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;
using policy::BreakGlassGrant;

json::object GrantJson(const BreakGlassGrant& g, std::chrono::system_clock::time_point now) {
  json::array fields;
  for (const auto& f : g.fields) fields.emplace_back(f);
  const auto time_or_null = [&](bool set, std::chrono::system_clock::time_point t) {
    return set ? json::value(FormatRfc3339(t)) : json::value(nullptr);
  };
  const bool approved = !g.approved_by.empty();
  return {{"id", g.id},
          {"collection", g.collection},
          {"fields", std::move(fields)},
          {"roles", json::array(g.roles.begin(), g.roles.end())},
          {"purpose", g.purpose.empty() ? json::value(nullptr) : json::value(g.purpose)},
          {"reason", g.reason},
          {"minutes", g.minutes},
          {"status", policy::StatusName(g.StatusAt(now))},
          {"requester", g.requester},
          {"requested_at", FormatRfc3339(g.requested_at)},
          {"approved_by", approved ? json::value(g.approved_by) : json::value(nullptr)},
          {"approved_at", time_or_null(approved, g.approved_at)},
          {"expires_at", approved ? time_or_null(true, g.expires_at)
                                  : time_or_null(true, g.requested_at + policy::kPendingLifetime)},
          {"revoked_by", g.revoked_by.empty() ? json::value(nullptr) : json::value(g.revoked_by)}};
}

Result<Answer> RequestGrant(const VaultApi& api, const Request& request, const auth::Caller& who) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  if (!body->is_object()) return FailAt("$", "type", "must be an object");
  const json::object& o = body->get_object();
  for (const auto& member : o) {
    const std::string_view key = member.key();
    if (key != "reason" && key != "minutes" && key != "fields") {
      return FailAt(records::JsonPathKey("$", key), "unknown_field",
                    "is not a member of a break-glass request (reason, minutes, fields)");
    }
  }
  const std::string_view collection = request.PathParam("collection");
  auto schema = api.service.CollectionSchema(who.tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  policy::BreakGlass::NewRequest grant;
  grant.tenant = who.tenant;
  grant.requester = who.principal_id;
  grant.collection = collection;
  std::vector<std::string> asked;  // empty: every field
  if (const auto* fields = o.if_contains("fields")) {
    if (!fields->is_array() || fields->get_array().empty()) {
      return FailAt("$.fields", "type", "must be a non-empty array of field names");
    }
    for (std::size_t i = 0; i < fields->get_array().size(); ++i) {
      const auto& f = fields->get_array()[i];
      if (!f.is_string() || (*schema)->Find(f.get_string()) == nullptr) {
        return FailAt(records::JsonPathIndex("$.fields", i), "unknown_field",
                      "is not a field of this collection");
      }
      if (std::find(asked.begin(), asked.end(), f.get_string()) != asked.end()) {
        return FailAt(records::JsonPathIndex("$.fields", i), "duplicate", "is listed twice");
      }
      asked.emplace_back(f.get_string());
    }
  }
  const auto* reason = o.if_contains("reason");
  if (reason == nullptr) return FailAt("$.reason", "required", "is required");
  if (!reason->is_string()) return FailAt("$.reason", "type", "must be a string");
  grant.reason = reason->get_string();
  if (const auto* minutes = o.if_contains("minutes")) {
    if (!minutes->is_int64()) return FailAt("$.minutes", "type", "must be an integer");
    grant.minutes = minutes->get_int64();
  }
  // What it lifts, fixed now: the asked-for fields (default: all) the caller reads in a lesser
  // view than plain. Withheld fields stay withheld (break-glass shows better what one may see;
  // it does not open what one may not), and fields added later are not in it.
  auto policy = api.policies.For(who.tenant);
  if (!policy) return std::unexpected(policy.error());
  const policy::Context context = CallContext(request, who, policy::Action::kRead, collection);
  grant.purpose = context.purpose;
  grant.roles = who.roles;
  const auto read = (*policy)->Prepare(context);
  for (const auto& field : (*schema)->fields) {
    if (!asked.empty() && std::find(asked.begin(), asked.end(), field.name) == asked.end()) {
      continue;
    }
    const auto view = read.FieldView(field);
    if (view && *view != privacy::View::kPlain) grant.fields.push_back(field.name);
  }
  if (grant.fields.empty()) {
    Error nothing(ErrorCode::kFailedPrecondition,
                  "you already read these fields plain, or may not read them at all: there is "
                  "nothing for break-glass to lift");
    nothing.At("$.fields", "nothing_to_lift");
    return std::unexpected(nothing);
  }
  auto made = api.break_glass.Request(std::move(grant));
  if (!made) return std::unexpected(made.error());
  return Answer{201, GrantJson(*made, api.break_glass.Now())};
}

// Approving and revoking are an administrator's (the role itself, whatever else the tenant's
// policy lets manage it).
Result<void> AdministratorsOnly(const auth::Caller& who) {
  if (who.HasRole("admin")) return {};
  Error error(ErrorCode::kPermissionDenied,
              "only an administrator approves or revokes break-glass");
  error.At("principal", "admin_only");
  return std::unexpected(error);
}

}  // namespace

void AddBreakGlassRoutes(http::Router& router, const VaultApi& api) {
  router.Add(
      Method::kPost, "/v1/collections/{collection}/break-glass", http::Execution::kWorker,
      Guarded(api, Access::kRead, true, [api](const Request& request, const auth::Caller& who) {
        return RequestGrant(api, request, who);
      }));
  router.Add(Method::kGet, "/v1/break-glass", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     [api](const Request&, const auth::Caller& who) -> Result<Answer> {
                       json::array out;
                       const auto now = api.break_glass.Now();
                       for (const auto& g : api.break_glass.List(who.tenant)) {
                         out.push_back(GrantJson(g, now));
                       }
                       return Answer{200, {{"requests", std::move(out)}}};
                     }));
  for (const bool approve : {true, false}) {
    router.Add(
        Method::kPost, approve ? "/v1/break-glass/{id}/approve" : "/v1/break-glass/{id}/revoke",
        http::Execution::kWorker,
        Guarded(api, Access::kAdmin, false,
                [api, approve](const Request& request, const auth::Caller& who) -> Result<Answer> {
                  if (auto admin = AdministratorsOnly(who); !admin) {
                    return std::unexpected(admin.error());
                  }
                  const std::string_view id = request.PathParam("id");
                  Result<policy::BreakGlassGrant> grant;
                  if (approve) {
                    policy::BreakGlass::Approver approver{
                        who.principal_id, "", "",
                        who.method == auth::AuthMethod::kSession && who.two_factor};
                    // Only a session's account is looked up (tokens, the bootstrap credential
                    // among them, are refused before its times matter).
                    Result<auth::PrincipalInfo> account = auth::PrincipalInfo{};
                    if (approver.two_factor_session) {
                      account = api.identity.GetPrincipal(who.principal_id, who.tenant);
                      if (!account) return std::unexpected(account.error());
                      approver.created_at = account->created_at;
                      approver.updated_at = account->updated_at;
                    }
                    grant = api.break_glass.Approve(who.tenant, id, approver);
                  } else {
                    grant = api.break_glass.Revoke(who.tenant, id, who.principal_id);
                  }
                  if (!grant) return std::unexpected(grant.error());
                  return Answer{200, GrantJson(*grant, api.break_glass.Now())};
                }));
  }
}

}  // namespace strongroom::api
