// /v1/retention...: the caller's tenant's retention rules as its policy states them, the state
// of its latest retention pass, and a pass on demand (records/retention.h, docs/privacy.md
// "Retention"). Both routes are the manage-policy action (api_support.cc, PolicyGateOf) and are
// audited as retention.read and retention.run; what a pass deletes is audited by the server as
// the system's act (retention.purge, a bulk entry with counts).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/base/time.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;
using records::RetentionJob;

json::value PassJson(const std::optional<RetentionJob::Pass>& pass) {
  if (!pass) return nullptr;
  const auto or_null = [](const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
  };
  const std::string_view state = pass->started_at.empty()    ? "queued"
                                 : pass->finished_at.empty() ? "running"
                                 : pass->stopped             ? "stopped"
                                 : !pass->error.empty()      ? "failed"
                                                             : "done";
  json::array purges;
  for (const auto& p : pass->purges) {
    purges.push_back(
        json::object{{"rule", p.rule}, {"data", p.data}, {"action", p.action}, {"count", p.count}});
  }
  json::object out{{"state", state},
                   {"trigger", pass->trigger},
                   {"dry_run", pass->dry_run},
                   {"started_at", or_null(pass->started_at)},
                   {"finished_at", or_null(pass->finished_at)},
                   {"scanned", pass->scanned},
                   {"purged", pass->purged},
                   {"archived", pass->archived},
                   {"unreadable", pass->unreadable},
                   {"held", pass->held},
                   {"purges", std::move(purges)}};
  if (!pass->error.empty()) out["error"] = pass->error;
  return out;
}

json::array Names(std::uint32_t bits, std::size_t count, auto name_of) {
  json::array out;
  for (std::size_t i = 0; i < count; ++i) {
    if ((bits & (1u << i)) != 0) out.emplace_back(name_of(i));
  }
  return out;
}

json::object RuleJson(const records::RetentionRule& rule,
                      std::chrono::system_clock::time_point now) {
  json::array collections;
  for (const auto& c : rule.collections) collections.emplace_back(c);
  return json::object{
      {"name", rule.name},
      {"collections", std::move(collections)},
      {"grades",
       Names(rule.grades, 4,
             [](std::size_t i) { return records::GradeName(static_cast<records::Grade>(i)); })},
      {"categories", Names(rule.categories, 10,
                           [](std::size_t i) {
                             return records::CategoryName(static_cast<records::Category>(i));
                           })},
      {"days", rule.days},
      {"archive_days", rule.archive_days},
      // What is older than this (by the time the rule counts from) is deleted, or archived, by
      // the next pass; with an archive, what is older than archive_cutoff leaves the archive.
      {"cutoff", FormatRfc3339(now - std::chrono::days(rule.days))},
      {"archive_cutoff",
       rule.archive_days == 0
           ? json::value(nullptr)
           : json::value(FormatRfc3339(now - std::chrono::days(rule.days + rule.archive_days)))}};
}

Result<RetentionJob*> Job(const VaultApi& api) {
  if (api.retention == nullptr) {
    return Fail(ErrorCode::kUnavailable, "retention is not available on this server");
  }
  return api.retention;
}

}  // namespace

void AddRetentionRoutes(http::Router& router, const VaultApi& api) {
  router.Add(Method::kGet, "/v1/retention", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     [api](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto job = Job(api);
                       if (!job) return std::unexpected(job.error());
                       auto policy = api.policies.For(who.tenant);
                       if (!policy) return std::unexpected(policy.error());
                       const auto now = std::chrono::system_clock::now();
                       json::array rules;
                       for (const auto& rule : (*policy)->document().retention) {
                         rules.push_back(RuleJson(rule, now));
                       }
                       const std::string next = (*job)->NextScheduledPass();
                       return Answer(200,
                                     {{"tenant", who.tenant},
                                      {"policy_version", (*policy)->version()},
                                      {"rules", std::move(rules)},
                                      {"next_scheduled_pass",
                                       next.empty() ? json::value(nullptr) : json::value(next)},
                                      {"pass", PassJson((*job)->Status(who.tenant))}});
                     }));
  router.Add(
      Method::kPost, "/v1/retention/run", http::Execution::kWorker,
      Guarded(api, Access::kAdmin, false,
              [api](const Request& request, const auth::Caller& who) -> Result<Answer> {
                bool dry_run = false;
                if (!request.body.empty()) {
                  auto body = Body(request);
                  if (!body) return std::unexpected(body.error());
                  auto object = ObjectWithOnly(*body, {"dry_run"}, "a retention run");
                  if (!object) return std::unexpected(object.error());
                  if (const auto* flag = (*object)->if_contains("dry_run")) {
                    if (!flag->is_bool()) return FailAt("$.dry_run", "type", "must be a boolean");
                    dry_run = flag->get_bool();
                  }
                }
                auto job = Job(api);
                if (!job) return std::unexpected(job.error());
                auto policy = api.policies.For(who.tenant);
                if (!policy) return std::unexpected(policy.error());
                // The pass reads the rules again when it starts (they may change meanwhile).
                if ((*policy)->document().retention.empty()) {
                  return Fail(ErrorCode::kFailedPrecondition,
                              "the tenant's policy has no [[retention]] rules: nothing expires");
                }
                auto queued = (*job)->Request(who.tenant, "api: " + who.principal_id, dry_run);
                if (!queued) return std::unexpected(queued.error());
                return Answer(202, {{"tenant", who.tenant}, {"pass", PassJson(*queued)}});
              }));
}

}  // namespace strongroom::api
