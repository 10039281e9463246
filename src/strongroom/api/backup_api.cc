// The server's backups (backup/backup_service.h, docs/backup.md "Admin API"), for the vault's
// operators: a backup holds every tenant's data, so an administrator of another tenant may not
// see or start one.
//
//   GET  /v1/backups               the backups on each target and the schedule's state
//   POST /v1/backups               {"kind": "full" | "incremental"}: queue a backup
//   POST /v1/backups/verify        {"backup_id"?}: verify one backup or all
//   POST /v1/backups/restore       {"destination", "backup_id"? | "at"?}: restore into
//                                  backup.restore_dir/<destination>
//   POST /v1/backups/prune         {"keep_full"?}
//   POST /v1/backups/drill         {}: a restore drill now
//   GET  /v1/backups/jobs          the recent jobs, newest first
//   GET  /v1/backups/jobs/{id}     one job: its state and progress (bytes done of an estimate)
//
// Every POST answers 202 with the queued job; its progress and outcome are read from
// /v1/backups/jobs/{id}. Every call is audited (backup.*), and so is each job's end
// (backup.job_finished, by the service).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/backup/backup_service.h"
#include "strongroom/base/time.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using backup::JobInfo;
using backup::JobKind;
using backup::JobRequest;
using http::Method;
using http::Request;

json::value TimeOrNull(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return nullptr;
  return json::value(FormatRfc3339(t));
}

json::object JobJson(const JobInfo& job) {
  json::object progress{{"done_bytes", job.done}, {"total_bytes", job.total}};
  progress["percent"] = job.total == 0
                            ? (job.state == "succeeded" ? 100 : 0)
                            : static_cast<std::int64_t>(
                                  std::min<std::uint64_t>(job.done, job.total) * 100 / job.total);
  json::object out{{"id", job.id},
                   {"kind", backup::JobKindName(job.request.kind)},
                   {"state", job.state},
                   {"requested_by", job.request.requested_by},
                   {"progress", std::move(progress)},
                   {"queued_at", TimeOrNull(job.queued_at)},
                   {"started_at", TimeOrNull(job.started_at)},
                   {"finished_at", TimeOrNull(job.finished_at)}};
  if (job.state == "failed") {
    out["error"] = json::object{{"code", job.error_code}, {"message", job.error}};
  }
  if (job.state == "succeeded" && !job.result_json.empty()) {
    std::error_code ec;
    auto result = json::parse(job.result_json, ec);
    if (!ec) out["result"] = std::move(result);
  }
  return out;
}

// An optional string member; "" when absent.
Result<std::string> OptionalString(const json::object& o, std::string_view name) {
  const auto* value = o.if_contains(name);
  if (value == nullptr) return std::string();
  if (!value->is_string() || value->get_string().empty() || value->get_string().size() > 200) {
    return FailAt(records::JsonPathKey("$", name), "type", "must be a string of 1 to 200 bytes");
  }
  return std::string(value->get_string());
}

Result<Answer> Queue(const VaultApi& api, JobRequest request, const auth::Caller& who) {
  request.requested_by = who.principal_id;
  auto job = api.backups->Submit(std::move(request));
  if (!job) return std::unexpected(job.error());
  return Answer(202, JobJson(*job));
}

Result<Answer> CreateBackupCall(const VaultApi& api, const Request& request,
                                const auth::Caller& who) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o = ObjectWithOnly(*body, {"kind"}, "a backup request (kind)");
  if (!o) return std::unexpected(o.error());
  const auto* kind = (*o)->if_contains("kind");
  if (kind == nullptr) return FailAt("$.kind", "required", "is required");
  if (!kind->is_string() || (kind->get_string() != "full" && kind->get_string() != "incremental")) {
    return FailAt("$.kind", "enum", "must be \"full\" or \"incremental\"");
  }
  JobRequest job;
  job.kind = kind->get_string() == "full" ? JobKind::kFull : JobKind::kIncremental;
  return Queue(api, std::move(job), who);
}

Result<Answer> VerifyCall(const VaultApi& api, const Request& request, const auth::Caller& who) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o = ObjectWithOnly(*body, {"backup_id"}, "a verify request (backup_id)");
  if (!o) return std::unexpected(o.error());
  auto id = OptionalString(**o, "backup_id");
  if (!id) return std::unexpected(id.error());
  JobRequest job;
  job.kind = JobKind::kVerify;
  job.backup_id = std::move(*id);
  return Queue(api, std::move(job), who);
}

Result<Answer> RestoreCall(const VaultApi& api, const Request& request, const auth::Caller& who) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o = ObjectWithOnly(*body, {"destination", "backup_id", "at"},
                          "a restore request (destination, backup_id, at)");
  if (!o) return std::unexpected(o.error());
  if (!(*o)->contains("destination")) return FailAt("$.destination", "required", "is required");
  auto destination = OptionalString(**o, "destination");
  auto id = OptionalString(**o, "backup_id");
  auto at = OptionalString(**o, "at");
  if (!destination) return std::unexpected(destination.error());
  if (!id) return std::unexpected(id.error());
  if (!at) return std::unexpected(at.error());
  JobRequest job;
  job.kind = JobKind::kRestore;
  job.destination = std::move(*destination);
  job.backup_id = std::move(*id);
  job.at = std::move(*at);
  return Queue(api, std::move(job), who);
}

Result<Answer> PruneCall(const VaultApi& api, const Request& request, const auth::Caller& who) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o = ObjectWithOnly(*body, {"keep_full"}, "a prune request (keep_full)");
  if (!o) return std::unexpected(o.error());
  JobRequest job;
  job.kind = JobKind::kPrune;
  if (const auto* keep = (*o)->if_contains("keep_full")) {
    if (!keep->is_int64() || keep->get_int64() < 1 || keep->get_int64() > 1000) {
      return FailAt("$.keep_full", "range", "must be an integer from 1 to 1000");
    }
    job.keep_full = static_cast<int>(keep->get_int64());
  }
  return Queue(api, std::move(job), who);
}

Result<Answer> DrillCall(const VaultApi& api, const Request& request, const auth::Caller& who) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o = ObjectWithOnly(*body, {}, "a drill request (no members)");
  if (!o) return std::unexpected(o.error());
  JobRequest job;
  job.kind = JobKind::kDrill;
  return Queue(api, std::move(job), who);
}

Result<Answer> ListCall(const VaultApi& api) {
  json::array targets;
  for (const auto& target : api.backups->settings().targets) {
    json::object t{{"target", target.string()}};
    auto listed = backup::ListBackups(target);
    if (!listed) {
      t["error"] = listed.error().message();
      targets.push_back(std::move(t));
      continue;
    }
    json::array backups;
    for (const auto& listing : *listed) {
      json::object b{{"id", listing.name}};
      if (listing.manifest) {
        b["kind"] = listing.manifest->kind;
        b["created_at"] = listing.manifest->created_at;
        b["parent_id"] = listing.manifest->parent_id.empty()
                             ? json::value(nullptr)
                             : json::value(listing.manifest->parent_id);
        b["bytes"] = listing.manifest->bytes;
      } else {
        b["problem"] = listing.problem;
      }
      backups.push_back(std::move(b));
    }
    t["backups"] = std::move(backups);
    targets.push_back(std::move(t));
  }
  json::array schedule;
  for (const auto& status : api.backups->Status()) {
    json::object s{
        {"kind", status.kind},
        {"last_success", status.last_success ? json::value(FormatRfc3339(*status.last_success))
                                             : json::value(nullptr)},
        {"next_due",
         status.next_due ? json::value(FormatRfc3339(*status.next_due)) : json::value(nullptr)},
        {"overdue", status.overdue},
        {"failures", status.failures}};
    if (!status.last_error.empty()) s["last_error"] = status.last_error;
    schedule.push_back(std::move(s));
  }
  // Listings are the manifests as the targets hold them (unverified: POST /v1/backups/verify).
  return Answer(200, {{"targets", std::move(targets)}, {"schedule", std::move(schedule)}});
}

// Every backup route: operators only, and these checks before the call.
http::Handler Operators(const VaultApi& api, bool needs_keys,
                        std::function<Result<Answer>(const Request&, const auth::Caller&)> call) {
  return Guarded(
      api, Access::kAdmin, needs_keys,
      [call = std::move(call)](const Request& request, const auth::Caller& who) -> Result<Answer> {
        if (!IsOperator(who)) return std::unexpected(OperatorsOnly());
        return call(request, who);
      });
}

}  // namespace

void AddBackupRoutes(http::Router& router, const VaultApi& api) {
  if (api.backups == nullptr) return;
  router.Add(
      Method::kGet, "/v1/backups", http::Execution::kWorker,
      Operators(api, false, [api](const Request&, const auth::Caller&) { return ListCall(api); }));
  // A backup needs the keys: asked for while sealed, it is refused now rather than failing later.
  router.Add(Method::kPost, "/v1/backups", http::Execution::kWorker,
             Operators(api, true, [api](const Request& request, const auth::Caller& who) {
               return CreateBackupCall(api, request, who);
             }));
  router.Add(Method::kPost, "/v1/backups/verify", http::Execution::kWorker,
             Operators(api, true, [api](const Request& request, const auth::Caller& who) {
               return VerifyCall(api, request, who);
             }));
  router.Add(Method::kPost, "/v1/backups/restore", http::Execution::kWorker,
             Operators(api, true, [api](const Request& request, const auth::Caller& who) {
               return RestoreCall(api, request, who);
             }));
  router.Add(Method::kPost, "/v1/backups/prune", http::Execution::kWorker,
             Operators(api, false, [api](const Request& request, const auth::Caller& who) {
               return PruneCall(api, request, who);
             }));
  router.Add(Method::kPost, "/v1/backups/drill", http::Execution::kWorker,
             Operators(api, true, [api](const Request& request, const auth::Caller& who) {
               return DrillCall(api, request, who);
             }));
  router.Add(Method::kGet, "/v1/backups/jobs", http::Execution::kWorker,
             Operators(api, false, [api](const Request&, const auth::Caller&) -> Result<Answer> {
               json::array jobs;
               for (const auto& job : api.backups->Jobs()) jobs.push_back(JobJson(job));
               return Answer(200, {{"jobs", std::move(jobs)}});
             }));
  router.Add(
      Method::kGet, "/v1/backups/jobs/{id}", http::Execution::kWorker,
      Operators(api, false, [api](const Request& request, const auth::Caller&) -> Result<Answer> {
        auto job = api.backups->Job(request.PathParam("id"));
        if (!job) return Fail(ErrorCode::kNotFound, "no such backup job");
        return Answer(200, JobJson(*job));
      }));
}

}  // namespace strongroom::api
