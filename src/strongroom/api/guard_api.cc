// The traffic guard's bans (guard/traffic_guard.h, docs/guard.md), for the vault's operators:
// bans are server-wide, so an administrator of another tenant may not see or change them.
//
//   GET  /v1/guard/bans        the bans in force (automatic and administrators')
//   POST /v1/guard/bans        ban a source or network: {"target", "minutes", "reason"}
//   POST /v1/guard/bans/lift   end a ban early: {"target"} as listed (or an address inside it)
//
// Every call is audited (guard.list_bans, guard.ban, guard.lift_ban); the guard also logs each
// ban and unban as a security event.

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

constexpr std::size_t kMaxReasonBytes = 500;

// "id" repeats the target: the audit entry of a ban or a lift names it (audit_support.cc takes
// an answer's "id").
json::object BanJson(const guard::BanInfo& ban) {
  return {{"id", ban.target},
          {"target", ban.target},
          {"cause", ban.cause},
          {"by", ban.by},
          {"reason", ban.reason.empty() ? json::value(nullptr) : json::value(ban.reason)},
          {"offence", ban.offence},
          {"since", FormatRfc3339(ban.since)},
          {"until", FormatRfc3339(ban.until)}};
}

Result<std::string_view> TargetOf(const json::object& o) {
  const auto* target = o.if_contains("target");
  if (target == nullptr) return FailAt("$.target", "required", "is required");
  if (!target->is_string() || target->get_string().empty() || target->get_string().size() > 64) {
    return FailAt("$.target", "type", "must be an address or CIDR network (1 to 64 characters)");
  }
  return std::string_view(target->get_string());
}

// Refusals name the field; a malformed target is the guard's message, at $.target.
Error AtTarget(const Error& error) {
  if (error.code() != ErrorCode::kInvalidArgument) return error;
  Error at(error.code(), error.message());
  at.At("$.target", "format");
  return at;
}

Result<Answer> AddBan(const VaultApi& api, const Request& request, const auth::Caller& who) {
  if (!IsOperator(who)) return std::unexpected(OperatorsOnly());
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o =
      ObjectWithOnly(*body, {"target", "minutes", "reason"}, "a ban (target, minutes, reason)");
  if (!o) return std::unexpected(o.error());
  auto target = TargetOf(**o);
  if (!target) return std::unexpected(target.error());
  const auto* minutes = (*o)->if_contains("minutes");
  if (minutes == nullptr) return FailAt("$.minutes", "required", "is required");
  if (!minutes->is_int64() || minutes->get_int64() < 1 || minutes->get_int64() > 525'600) {
    return FailAt("$.minutes", "range", "must be an integer from 1 to 525600 (one year)");
  }
  std::string reason;
  if (const auto* given = (*o)->if_contains("reason")) {
    if (!given->is_string() || given->get_string().size() > kMaxReasonBytes) {
      return FailAt("$.reason", "type", "must be a string of at most 500 bytes");
    }
    reason = std::string(given->get_string());
  }
  auto ban = api.guard->Ban(*target, std::chrono::minutes(minutes->get_int64()), std::move(reason),
                            who.principal_id);
  if (!ban) return std::unexpected(AtTarget(ban.error()));
  return Answer(201, BanJson(*ban));
}

Result<Answer> LiftBan(const VaultApi& api, const Request& request, const auth::Caller& who) {
  if (!IsOperator(who)) return std::unexpected(OperatorsOnly());
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  auto o = ObjectWithOnly(*body, {"target"}, "a lift (target)");
  if (!o) return std::unexpected(o.error());
  auto target = TargetOf(**o);
  if (!target) return std::unexpected(target.error());
  auto lifted = api.guard->Lift(*target, who.principal_id);
  if (!lifted) return std::unexpected(lifted.error());
  return Answer(200, BanJson(*lifted));
}

}  // namespace

void AddGuardRoutes(http::Router& router, const VaultApi& api) {
  if (api.guard == nullptr) return;
  router.Add(
      Method::kGet, "/v1/guard/bans", http::Execution::kWorker,
      Guarded(api, Access::kAdmin, false,
              [api](const Request&, const auth::Caller& who) -> Result<Answer> {
                if (!IsOperator(who)) return std::unexpected(OperatorsOnly());
                json::array bans;
                for (const auto& ban : api.guard->Bans()) bans.push_back(BanJson(ban));
                return Answer(200, {{"enabled", api.guard->enabled()}, {"bans", std::move(bans)}});
              }));
  router.Add(
      Method::kPost, "/v1/guard/bans", http::Execution::kWorker,
      Guarded(api, Access::kAdmin, false, [api](const Request& request, const auth::Caller& who) {
        return AddBan(api, request, who);
      }));
  router.Add(
      Method::kPost, "/v1/guard/bans/lift", http::Execution::kWorker,
      Guarded(api, Access::kAdmin, false, [api](const Request& request, const auth::Caller& who) {
        return LiftBan(api, request, who);
      }));
}

}  // namespace strongroom::api
