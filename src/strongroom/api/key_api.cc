// /v1/keys...: the caller's tenant's KEKs: their versions and the subject keys each wraps, a
// rotation with its background re-wrap, and the retirement of an old version
// (records/kek_rotation.h, docs/keys.md). Every route is the manage-keys action
// (api_support.cc, PolicyGateOf) and is audited as key.read, key.rotate or key.retire.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <charconv>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;

json::value JobJson(const std::optional<records::KekRotation::Job>& job) {
  if (!job) return nullptr;
  json::object out{{"state", job->running() ? "running" : "done"},
                   {"target_version", job->target},
                   {"keys_scanned", job->scanned},
                   {"keys_moved", job->moved},
                   {"keys_damaged", job->damaged},
                   {"started_at", job->started_at},
                   {"finished_at", job->finished_at.empty() ? json::value(nullptr)
                                                            : json::value(job->finished_at)}};
  if (!job->last_error.empty()) out["last_error"] = job->last_error;
  return out;
}

Result<records::KekRotation*> Rotation(const VaultApi& api) {
  if (api.rotation == nullptr) {
    return Fail(ErrorCode::kUnavailable, "key rotation is not available on this server");
  }
  return api.rotation;
}

// A path's KEK version: a decimal number from 1 to 2^32 - 1.
Result<std::uint32_t> VersionOf(std::string_view text) {
  std::uint32_t version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version == 0 ||
      text.starts_with('0')) {
    return FailAt("version", "format", "must be a KEK version number (1, 2, ...)");
  }
  return version;
}

}  // namespace

void AddKeyRoutes(http::Router& router, const VaultApi& api) {
  router.Add(Method::kGet, "/v1/keys", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [api](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto keys = api.seal.keys();
                       if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed");
                       auto usage = keys->keyring->Usage(who.tenant);
                       if (!usage) return std::unexpected(usage.error());
                       json::array versions;
                       for (const auto& [version, count] : usage->subject_keys) {
                         versions.push_back(json::object{{"version", version},
                                                         {"current", version == usage->current},
                                                         {"subject_keys", count}});
                       }
                       std::optional<records::KekRotation::Job> job;
                       if (api.rotation != nullptr) job = api.rotation->JobOf(who.tenant);
                       return Answer(200, {{"tenant", who.tenant},
                                           {"current_version", usage->current},
                                           {"versions", std::move(versions)},
                                           {"damaged_subject_keys", usage->damaged},
                                           {"rewrap", JobJson(job)}});
                     }));
  router.Add(Method::kPost, "/v1/keys/rotate", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [api](const Request& request, const auth::Caller& who) -> Result<Answer> {
                       if (!request.body.empty()) {
                         return FailAt("$", "empty", "takes no body");
                       }
                       auto rotation = Rotation(api);
                       if (!rotation) return std::unexpected(rotation.error());
                       auto job = (*rotation)->Rotate(who.tenant);
                       if (!job) return std::unexpected(job.error());
                       return Answer(202, {{"tenant", who.tenant},
                                           {"kek_version", job->target},
                                           {"rewrap", JobJson(*job)}});
                     }));
  router.Add(Method::kDelete, "/v1/keys/versions/{version}", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [api](const Request& request, const auth::Caller& who) -> Result<Answer> {
                       auto version = VersionOf(request.PathParam("version"));
                       if (!version) return std::unexpected(version.error());
                       auto rotation = Rotation(api);
                       if (!rotation) return std::unexpected(rotation.error());
                       auto purged = (*rotation)->Retire(who.tenant, *version);
                       if (!purged) return std::unexpected(purged.error());
                       return Answer(200, {{"tenant", who.tenant},
                                           {"retired_version", *version},
                                           {"purged_from_files", *purged}});
                     }));
}

}  // namespace strongroom::api
