// The second-factor endpoints: answering a sign-in challenge, enrolling a TOTP authenticator
// (with its QR code), turning it off, recovery codes, the administrators' reset, and the
// tenants' two-factor policy. Thin: body checks here, everything else in auth::IdentityService.
// None runs Argon2id, but each may write the store: they run on the worker pool.

#include <algorithm>
#include <boost/json/value.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/api/audit_support.h"
#include "strongroom/api/identity_api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/auth/qr_code.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Execution;
using http::Method;
using http::Request;
using http::Response;

// The optional `code` and `recovery_code` members, as views for the service (which checks that
// exactly one is there).
struct FactorInput {
  std::optional<std::string> code;
  std::optional<std::string> recovery_code;
  std::optional<std::string_view> code_view() const {
    return code ? std::optional<std::string_view>(*code) : std::nullopt;
  }
  std::optional<std::string_view> recovery_view() const {
    return recovery_code ? std::optional<std::string_view>(*recovery_code) : std::nullopt;
  }
};

Result<FactorInput> FactorMembers(json::object& body) {
  FactorInput in;
  auto code = TextMember(body, "code", false);
  auto recovery = TextMember(body, "recovery_code", false);
  Wipe(body, "code");
  Wipe(body, "recovery_code");
  if (!code) return std::unexpected(code.error());
  if (!recovery) return std::unexpected(recovery.error());
  in.code = std::move(*code);
  in.recovery_code = std::move(*recovery);
  return in;
}

// A body of exactly {"code": "..."}, the code taken out of it.
Result<std::string> CodeBody(const Request& request) {
  auto body = ObjectBody(request, {"code"});
  if (!body) return std::unexpected(body.error());
  auto code = TextMember(*body, "code", true);
  Wipe(*body, "code");
  if (!code) return std::unexpected(code.error());
  return std::move(**code);
}

json::array CodesJson(const auth::RecoveryCodes& codes) {
  json::array out;
  for (const auto& code : codes.codes) out.emplace_back(code.reveal_as_text());
  return out;
}

json::object StatusJson(const auth::TwoFactorStatus& s) {
  return json::object{
      {"enabled", s.enabled},
      {"required", s.required},
      {"enrolment_pending", s.enrolment_pending},
      {"enrolled_at", s.enrolled_at.empty() ? json::value(nullptr) : json::value(s.enrolled_at)},
      {"recovery_codes_remaining", s.recovery_codes_remaining}};
}

json::object PolicyJson(const auth::TwoFactorPolicy& p) {
  return json::object{
      {"tenant", p.tenant},
      {"all_users", p.all_users},
      {"roles", Strings(p.roles)},
      {"updated_at", p.updated_at.empty() ? json::value(nullptr) : json::value(p.updated_at)}};
}

// The enrolment answer: the secret for manual entry, the URI, and the QR code as SVG text and
// as a PNG data URI (what an <img> takes). It holds the secret: sent once, never logged.
Result<json::object> EnrolmentJson(const auth::TotpEnrolment& e) {
  auto qr = auth::QrCode::Encode(e.otpauth_uri.reveal_as_text());
  if (!qr) return std::unexpected(qr.error());
  auto png = qr->Png();
  if (!png) return std::unexpected(png.error());
  return json::object{{"secret", e.secret_base32.reveal_as_text()},
                      {"otpauth_uri", e.otpauth_uri.reveal_as_text()},
                      {"qr_svg", qr->Svg()},
                      {"qr_png", "data:image/png;base64," + crypto::Base64Encode(*png)},
                      {"algorithm", "SHA1"},
                      {"digits", 6},
                      {"period", 30},
                      {"next", "POST /v1/auth/totp/confirm with the app's code"}};
}

// The tenant a policy call names, if the caller may manage it (its administrators, and the
// operators: permission_denied otherwise) and it exists (not_found).
Result<std::string_view> ManagedTenant(records::VaultService& service, const Request& request,
                                       const auth::Caller& who) {
  const std::string_view tenant = request.PathParam("tenant");
  if (tenant != who.tenant && !IsOperator(who)) return std::unexpected(OperatorsOnly());
  auto exists = service.TenantExists(tenant);
  if (!exists) return std::unexpected(exists.error());
  if (!*exists) return Fail(ErrorCode::kNotFound, "no such tenant");
  return tenant;
}

void AddChallengeAndSelfRoutes(http::Router& router, const VaultApi& api) {
  auto& identity = api.identity;
  router.Add(Method::kPost, "/v1/auth/login/totp", Execution::kWorker,
             AuditedOpen(api, [&identity](const Request& request) -> Response {
               auto body = ObjectBody(request, {"pending_token", "code", "recovery_code"});
               if (!body) return Failure(request, body.error());
               auto pending = TextMember(*body, "pending_token", true);
               auto factor = FactorMembers(*body);
               Wipe(*body, "pending_token");
               if (!pending) return Failure(request, pending.error());
               if (!factor) return Failure(request, factor.error());
               auto signed_in = identity.CompleteSignIn(**pending, factor->code_view(),
                                                        factor->recovery_view(), request.peer);
               if (!signed_in) return Failure(request, signed_in.error());
               json::object out = SignedInJson(*signed_in);
               out["two_factor_required"] = false;
               Response r = Json(200, out);
               r.headers.emplace_back("Set-Cookie", SessionCookie(signed_in->cookie_value));
               return r;
             }));
  router.Add(Method::kGet, "/v1/auth/totp", Execution::kWorker,
             Guarded(api, Access::kSelf, true,
                     [&identity](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto status = identity.TwoFactorOf(who);
                       if (!status) return std::unexpected(status.error());
                       return Answer{200, StatusJson(*status)};
                     }));
  router.Add(
      Method::kPost, "/v1/auth/totp", Execution::kWorker,
      Guarded(api, Access::kEnrol, true,
              [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
                if (!request.body.empty()) {
                  if (auto body = ObjectBody(request, {}); !body) {
                    return std::unexpected(body.error());
                  }
                }
                auto enrolment = identity.BeginTotpEnrolment(who);
                if (!enrolment) return std::unexpected(enrolment.error());
                auto out = EnrolmentJson(*enrolment);
                if (!out) return std::unexpected(out.error());
                return Answer{201, std::move(*out)};
              }));
  router.Add(
      Method::kPost, "/v1/auth/totp/confirm", Execution::kWorker,
      Guarded(
          api, Access::kEnrol, true,
          [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
            auto code = CodeBody(request);
            if (!code) return std::unexpected(code.error());
            std::optional<auth::SignedIn> fresh;
            auto codes = identity.ConfirmTotp(who, *code, request.peer, &fresh);
            if (!codes) return std::unexpected(codes.error());
            json::object out{{"two_factor_enabled", true}, {"recovery_codes", CodesJson(*codes)}};
            if (!fresh) return Answer{200, std::move(out)};
            for (auto& [key, value] : SignedInJson(*fresh)) out[key] = value;
            return WithCookie(200, out, SessionCookie(fresh->cookie_value));
          }));
  router.Add(
      Method::kPost, "/v1/auth/totp/disable", Execution::kWorker,
      Guarded(api, Access::kEnrol, true,
              [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
                auto body = ObjectBody(request, {"code", "recovery_code"});
                if (!body) return std::unexpected(body.error());
                auto factor = FactorMembers(*body);
                if (!factor) return std::unexpected(factor.error());
                if (auto off = identity.DisableTotp(who, factor->code_view(),
                                                    factor->recovery_view(), request.peer);
                    !off) {
                  return std::unexpected(off.error());
                }
                return Answer{200, {{"two_factor_enabled", false}}};
              }));
  router.Add(
      Method::kPost, "/v1/auth/recovery-codes", Execution::kWorker,
      Guarded(api, Access::kEnrol, true,
              [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
                auto code = CodeBody(request);
                if (!code) return std::unexpected(code.error());
                auto codes = identity.RegenerateRecoveryCodes(who, *code, request.peer);
                if (!codes) return std::unexpected(codes.error());
                return Answer{200, {{"recovery_codes", CodesJson(*codes)}}};
              }));
}

void AddAdministrationRoutes(http::Router& router, const VaultApi& api) {
  auto& identity = api.identity;
  auto& service = api.service;
  router.Add(
      Method::kDelete, "/v1/principals/{id}/totp", Execution::kWorker,
      Guarded(api, Access::kAdmin, true,
              [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
                const std::string_view id = request.PathParam("id");
                if (id == who.principal_id) {
                  return std::unexpected(NotYourself("reset the second factor of"));
                }
                if (auto allowed = KeepOffAdministrators(identity, who, id); !allowed) {
                  return std::unexpected(allowed.error());
                }
                if (auto reset = identity.ResetTwoFactor(id, AdminScope(who)); !reset) {
                  return std::unexpected(reset.error());
                }
                return Answer{204, {}};
              }));
  router.Add(Method::kGet, "/v1/tenants/{tenant}/two-factor-policy", Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [&identity, &service](const Request& request,
                                           const auth::Caller& who) -> Result<Answer> {
                       auto tenant = ManagedTenant(service, request, who);
                       if (!tenant) return std::unexpected(tenant.error());
                       auto policy = identity.GetTwoFactorPolicy(*tenant);
                       if (!policy) return std::unexpected(policy.error());
                       return Answer{200, PolicyJson(*policy)};
                     }));
  router.Add(Method::kPut, "/v1/tenants/{tenant}/two-factor-policy", Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [&identity, &service](const Request& request,
                                           const auth::Caller& who) -> Result<Answer> {
                       auto tenant = ManagedTenant(service, request, who);
                       if (!tenant) return std::unexpected(tenant.error());
                       auto body = ObjectBody(request, {"all_users", "roles"});
                       if (!body) return std::unexpected(body.error());
                       auth::TwoFactorPolicy policy;
                       policy.tenant = std::string(*tenant);
                       const auto* all = body->if_contains("all_users");
                       if (all == nullptr) return FailAt("$.all_users", "required", "is required");
                       if (!all->is_bool())
                         return FailAt("$.all_users", "type", "must be true or false");
                       policy.all_users = all->get_bool();
                       auto roles = StringList(*body, "roles");
                       if (!roles) return std::unexpected(roles.error());
                       if (*roles) policy.roles = std::move(**roles);
                       auto set = identity.SetTwoFactorPolicy(policy);
                       if (!set) return std::unexpected(set.error());
                       return Answer{200, PolicyJson(*set)};
                     }));
}

}  // namespace

void AddTwoFactorRoutes(http::Router& router, const VaultApi& api) {
  AddChallengeAndSelfRoutes(router, api);
  AddAdministrationRoutes(router, api);
}

}  // namespace strongroom::api
