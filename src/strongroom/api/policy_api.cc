// /v1/policy: the caller's tenant's access-policy document (policy/policy.h, docs/policy.md):
// read it, store a new version, list the versions, and dry-run a proposed document against
// the one in force. Every route is the manage-policy action (api_support.cc, PolicyGateOf).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <set>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/base/ip_network.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;
using policy::Action;
using policy::Policy;

json::object PolicyJson(const policy::StoredPolicy& stored) {
  return {{"version", stored.info.version},
          {"builtin", stored.info.version == 0},
          {"updated_at", stored.info.updated_at.empty() ? json::value(nullptr)
                                                        : json::value(stored.info.updated_at)},
          {"updated_by", stored.info.updated_by.empty() ? json::value(nullptr)
                                                        : json::value(stored.info.updated_by)},
          {"document", stored.policy->text()}};
}

// The "document" member: a TOML text. Parse errors are reported at $.document with the line.
Result<std::string> DocumentOf(const json::value& body,
                               std::initializer_list<std::string_view> allowed) {
  if (!body.is_object()) return FailAt("$", "type", "must be an object");
  for (const auto& member : body.get_object()) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(member.key())) ==
        allowed.end()) {
      return FailAt("$." + std::string(member.key()), "unknown_member", "is not a known member");
    }
  }
  const auto* document = body.get_object().if_contains("document");
  if (document == nullptr) return FailAt("$.document", "required", "is required");
  if (!document->is_string()) return FailAt("$.document", "type", "must be a string (TOML)");
  return std::string(document->get_string());
}

Error AtDocument(Error error) {
  if (error.code() == ErrorCode::kInvalidArgument && error.path().empty()) {
    error.At("$.document", "policy");
  }
  return error;
}

// What a field's view is called in a dry run ("deny": withheld).
std::string ViewText(std::optional<privacy::View> view) {
  return view ? std::string(privacy::ViewName(*view)) : "deny";
}

Result<json::object> DryRun(const VaultApi& api, const Request& request, const auth::Caller& who,
                            const json::value& body) {
  auto text = DocumentOf(body, {"document", "sources", "roles"});
  if (!text) return std::unexpected(text.error());
  auto document = policy::ParseDocument(*text);
  if (!document) return std::unexpected(AtDocument(document.error()));
  auto proposed = Policy::Compile(std::move(*document), 0, *text);
  if (!proposed) return std::unexpected(AtDocument(proposed.error()));
  auto current = api.policies.For(who.tenant);
  if (!current) return std::unexpected(current.error());

  std::vector<std::string> sources;
  if (const auto* given = body.get_object().if_contains("sources")) {
    if (!given->is_array() || given->get_array().empty() || given->get_array().size() > 16) {
      return FailAt("$.sources", "type", "must be an array of 1-16 IP addresses");
    }
    for (std::size_t i = 0; i < given->get_array().size(); ++i) {
      const auto& s = given->get_array()[i];
      if (!s.is_string() || !ParseIpAddress(s.get_string())) {
        return FailAt("$.sources[" + std::to_string(i) + "]", "format", "is not an IP address");
      }
      sources.emplace_back(s.get_string());
    }
  } else {
    sources.emplace_back(request.peer);
  }
  // Every role either document names, the built-in ones, and one no rule names.
  std::set<std::string> roles = {"admin", "operator", "auditor", "dpo",
                                 "app",   "service",  "(other)"};
  std::set<std::string> purposes = {""};
  for (const Policy* p : {current->get(), proposed->get()}) {
    for (const auto& rule : p->document().rules) {
      for (const auto& r : rule.roles) {
        if (r != "*") roles.insert(r);
      }
    }
    for (const auto& purpose : p->document().purposes) purposes.insert(purpose);
  }
  // Or only the roles asked about.
  if (const auto* asked = body.get_object().if_contains("roles")) {
    if (!asked->is_array() || asked->get_array().empty() || asked->get_array().size() > 64) {
      return FailAt("$.roles", "type", "must be an array of 1-64 role names");
    }
    roles.clear();
    for (std::size_t i = 0; i < asked->get_array().size(); ++i) {
      const auto& r = asked->get_array()[i];
      if (!r.is_string() || r.get_string().empty() || r.get_string().size() > 63) {
        return FailAt("$.roles[" + std::to_string(i) + "]", "format", "is not a role name");
      }
      roles.emplace(r.get_string());
    }
  }
  // The tenant's collections (first 200) and the reserved resources.
  std::vector<std::shared_ptr<const records::Schema>> schemas;
  std::vector<std::string> resources = {
      std::string(kCollectionsResource), std::string(kSubjectsResource),
      std::string(kActivityResource),    std::string(kDocumentsResource),
      std::string(kTokensResource),      ""};
  auto listed = api.service.ListCollections(who.tenant, records::Page{200, ""});
  if (!listed) return std::unexpected(listed.error());
  if (const auto* list = listed->if_contains("collections"); list && list->is_array()) {
    for (const auto& c : list->get_array()) {
      const auto* name = c.is_object() ? c.get_object().if_contains("name") : nullptr;
      if (name == nullptr || !name->is_string()) continue;
      auto schema = api.service.CollectionSchema(who.tenant, name->get_string());
      if (schema) schemas.push_back(*schema);
    }
  }
  // Bounded work: a dry run is an administrator's question, not a way to pin the workers. The
  // cost is decisions times the rules each walks in both documents (at most ~0.1 s of CPU).
  std::size_t checks_per_context = resources.size();
  for (const auto& schema : schemas) checks_per_context += 1 + schema->fields.size();
  const std::size_t contexts =
      roles.size() * policy::kActionCount * purposes.size() * sources.size() * 2;
  const std::size_t rules =
      1 + (*current)->document().rules.size() + (*proposed)->document().rules.size();
  const std::size_t cost = contexts * checks_per_context * rules;
  constexpr std::size_t kMaxRuleChecks = 50'000'000;
  if (cost > kMaxRuleChecks) {
    return FailAt("$", "too_many_checks",
                  "this dry run would make " + std::to_string(cost) + " rule checks (at most " +
                      std::to_string(kMaxRuleChecks) + "): narrow it with roles or sources");
  }
  constexpr std::size_t kMaxChanges = 500;
  json::array changes;
  std::size_t total = 0;
  const auto record = [&](const std::string& role, Action action, std::string_view collection,
                          std::string_view field, const std::string& purpose,
                          const std::string& source, bool two_factor, const std::string& before,
                          const std::string& after) {
    ++total;
    if (changes.size() >= kMaxChanges) return;
    json::object change{{"role", role},
                        {"action", policy::ActionName(action)},
                        {"collection", collection},
                        {"purpose", purpose.empty() ? json::value(nullptr) : json::value(purpose)},
                        {"source", source},
                        {"two_factor", two_factor},
                        {"before", before},
                        {"after", after}};
    if (!field.empty()) change["field"] = field;
    changes.push_back(std::move(change));
  };
  for (const auto& role : roles) {
    const std::vector<std::string> caller_roles = {role};
    for (std::size_t a = 0; a < policy::kActionCount; ++a) {
      const auto action = static_cast<Action>(a);
      for (const auto& purpose : purposes) {
        for (const auto& source : sources) {
          for (const bool two_factor : {false, true}) {
            policy::Context context{caller_roles,           action,    "", purpose,
                                    ParseIpAddress(source), two_factor};
            // Each side prepared once per collection, then asked field by field.
            const auto compare = [&](std::string_view collection, const records::Schema* schema) {
              context.collection = collection;
              const auto before = (*current)->Prepare(context);
              const auto after = (*proposed)->Prepare(context);
              const auto outcome = [](const Policy::Prepared& p) -> std::string {
                return p.decision().allowed ? "allow" : "deny";
              };
              if (outcome(before) != outcome(after)) {
                record(role, action, collection, "", purpose, source, two_factor, outcome(before),
                       outcome(after));
              }
              if (schema == nullptr || !policy::IsFieldAction(action)) return;
              for (const auto& field : schema->fields) {
                const std::string was = ViewText(before.FieldView(field));
                const std::string will = ViewText(after.FieldView(field));
                if (was != will) {
                  record(role, action, collection, field.name, purpose, source, two_factor, was,
                         will);
                }
              }
            };
            for (const auto& resource : resources) compare(resource, nullptr);
            for (const auto& schema : schemas) compare(schema->collection, schema.get());
          }
        }
      }
    }
  }
  return json::object{{"valid", true},
                      {"current_version", (*current)->version()},
                      {"changes", std::move(changes)},
                      {"total_changes", total},
                      {"truncated", total > kMaxChanges}};
}

}  // namespace

void AddPolicyRoutes(http::Router& router, const VaultApi& api) {
  router.Add(Method::kGet, "/v1/policy", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     [api](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto stored = api.policies.Current(who.tenant);
                       if (!stored) return std::unexpected(stored.error());
                       return Answer{200, PolicyJson(*stored)};
                     }));
  router.Add(
      Method::kPut, "/v1/policy", http::Execution::kWorker,
      Guarded(api, Access::kAdmin, false,
              [api](const Request& request, const auth::Caller& who) -> Result<Answer> {
                auto body = Body(request);
                if (!body) return std::unexpected(body.error());
                auto text = DocumentOf(*body, {"document", "expected_version"});
                if (!text) return std::unexpected(text.error());
                std::optional<std::uint64_t> expected;
                if (const auto* v = body->get_object().if_contains("expected_version")) {
                  if (!v->is_uint64() && !(v->is_int64() && v->get_int64() >= 0)) {
                    return FailAt("$.expected_version", "type", "must be a non-negative integer");
                  }
                  expected = v->to_number<std::uint64_t>();
                }
                // A document that would take this very power from its author is
                // refused: nobody could repair it through the API afterwards.
                auto document = policy::ParseDocument(*text);
                if (!document) return std::unexpected(AtDocument(document.error()));
                auto proposed = Policy::Compile(std::move(*document), 0, *text);
                if (!proposed) return std::unexpected(AtDocument(proposed.error()));
                const policy::Context self{who.roles, Action::kManagePolicy, "",
                                           "",        PeerAddress(request),  who.two_factor};
                if (!(*proposed)->Decide(self).allowed) {
                  Error lockout(ErrorCode::kFailedPrecondition,
                                "this document would deny you manage-policy: you could "
                                "not change it again");
                  lockout.At("$.document", "lockout");
                  return std::unexpected(lockout);
                }
                auto stored = api.policies.Put(who.tenant, *text, expected, who.principal_id);
                if (!stored) return std::unexpected(AtDocument(stored.error()));
                return Answer{200, PolicyJson(*stored)};
              }));
  router.Add(Method::kGet, "/v1/policy/versions", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     [api](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto versions = api.policies.Versions(who.tenant);
                       if (!versions) return std::unexpected(versions.error());
                       json::array out;
                       for (const auto& v : *versions) {
                         out.push_back(json::object{{"version", v.version},
                                                    {"updated_at", v.updated_at},
                                                    {"updated_by", v.updated_by}});
                       }
                       return Answer{200, {{"versions", std::move(out)}}};
                     }));
  router.Add(Method::kPost, "/v1/policy/dry-run", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [api](const Request& request, const auth::Caller& who) -> Result<Answer> {
                       auto body = Body(request);
                       if (!body) return std::unexpected(body.error());
                       auto result = DryRun(api, request, who, *body);
                       if (!result) return std::unexpected(result.error());
                       return Answer{200, std::move(*result)};
                     }));
}

}  // namespace strongroom::api
