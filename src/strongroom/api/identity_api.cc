// The identity endpoints: sign-in and sessions (/v1/auth/...), and the administration of
// principals, their tokens and sessions. Thin: body checks here, everything else in
// auth::IdentityService. Routes that verify or hash a password run on the credential pool.

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/api/audit_support.h"
#include "strongroom/api/identity_api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/base/time.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {
namespace json = boost::json;
using http::Execution;
using http::Method;
using http::Request;
using http::Response;

// ---- Shared with two_factor_api.cc (identity_api_support.h)

bool HoldsAdmin(const auth::PrincipalInfo& p) {
  return std::find(p.roles.begin(), p.roles.end(), "admin") != p.roles.end();
}

Result<void> KeepOffAdministrators(auth::IdentityService& identity, const auth::Caller& who,
                                   std::string_view principal_id) {
  if (who.HasRole("admin")) return {};
  auto target = identity.GetPrincipal(principal_id, AdminScope(who));
  // Not found (or not in scope): the call itself answers that, the same way.
  if (!target || !HoldsAdmin(*target)) return {};
  Error error(ErrorCode::kPermissionDenied, "only an administrator may manage an administrator");
  error.At("principal", "admin_only");
  return std::unexpected(error);
}

json::array Strings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& s : items) out.emplace_back(s);
  return out;
}

json::object PrincipalJson(const auth::PrincipalInfo& p) {
  return json::object{{"id", p.id},
                      {"tenant", p.tenant},
                      {"kind", auth::PrincipalKindName(p.kind)},
                      {"username", p.username},
                      {"roles", Strings(p.roles)},
                      {"disabled", p.disabled},
                      {"locked", p.locked},
                      {"has_password", p.has_password},
                      {"must_change_password", p.must_change_password},
                      {"two_factor_enabled", p.two_factor_enabled},
                      {"two_factor_required", p.two_factor_required},
                      {"recovery_codes_remaining", p.recovery_codes_remaining},
                      {"created_at", p.created_at},
                      {"updated_at", p.updated_at}};
}

json::value TextOrNull(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

json::object TokenJson(const auth::TokenInfo& t) {
  return json::object{{"token_id", t.token_id},
                      {"principal_id", t.principal_id},
                      {"tenant", t.tenant},
                      {"name", t.name},
                      {"scopes", Strings(t.scopes)},
                      {"created_at", t.created_at},
                      {"expires_at", TextOrNull(t.expires_at)},
                      {"last_used_at", TextOrNull(t.last_used_at)},
                      {"expired", t.expired}};
}

json::object SessionJson(const auth::SessionInfo& s) {
  return json::object{
      {"session_id", s.session_id}, {"principal_id", s.principal_id},
      {"created_at", s.created_at}, {"last_seen_at", s.last_seen_at},
      {"expires_at", s.expires_at}, {"password_change_only", s.password_change_only}};
}

json::object CallerJson(const auth::Caller& c) {
  return json::object{{"principal_id", c.principal_id},
                      {"tenant", c.tenant},
                      {"roles", Strings(c.roles)},
                      {"method", auth::AuthMethodName(c.method)},
                      {"credential_id", c.credential_id},
                      {"scopes", Strings(c.scopes)},
                      {"password_change_required", c.password_change_required},
                      {"two_factor_enrolment_required", c.two_factor_enrolment_required}};
}

// The session cookie: __Host- (Secure, Path=/, no Domain: this origin only), HttpOnly (no
// script reads it), SameSite=Strict (no cross-site request carries it). No Max-Age: it ends with
// the browser session, and the server enforces the idle and absolute timeouts.
std::string SessionCookie(const SecretBytes& value) {
  return std::string(auth::kSessionCookie) + "=" + std::string(value.reveal_as_text()) +
         "; Path=/; Secure; HttpOnly; SameSite=Strict";
}
std::string ExpiredCookie() {
  return std::string(auth::kSessionCookie) +
         "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";
}

// The object body of `request`, refusing members not in `allowed`.
Result<json::object> ObjectBody(const Request& request,
                                std::initializer_list<std::string_view> allowed) {
  auto body = Body(request);
  if (!body) return std::unexpected(body.error());
  if (!body->is_object()) return FailAt("$", "type", "must be an object");
  if (auto known = records::RefuseUnknownMembers(body->get_object(), allowed, "$"); !known) {
    return std::unexpected(known.error());
  }
  return std::move(body->get_object());
}

// A required (or, with `required` false, optional) string member.
Result<std::optional<std::string>> TextMember(const json::object& o, std::string_view name,
                                              bool required) {
  const auto* v = o.if_contains(name);
  const std::string path = "$." + std::string(name);
  if (v == nullptr) {
    if (required) return FailAt(path, "required", "is required");
    return std::optional<std::string>();
  }
  if (!v->is_string()) return FailAt(path, "type", "must be a string");
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::optional<std::vector<std::string>>> StringList(const json::object& o,
                                                           std::string_view name) {
  const auto* v = o.if_contains(name);
  const std::string path = "$." + std::string(name);
  if (v == nullptr) return std::optional<std::vector<std::string>>();
  if (!v->is_array()) return FailAt(path, "type", "must be an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v->get_array().size(); ++i) {
    const auto& item = v->get_array()[i];
    if (!item.is_string())
      return FailAt(records::JsonPathIndex(path, i), "type", "must be a string");
    out.emplace_back(item.get_string());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

// Wipes a password member of a parsed body once it has been used.
void Wipe(json::object& o, std::string_view name) {
  if (auto* v = o.if_contains(name); v != nullptr && v->is_string()) {
    std::fill(v->get_string().begin(), v->get_string().end(), '\0');
  }
}

Answer WithCookie(int status, const json::object& body, const std::string& cookie) {
  Response r = Json(status, body);
  r.headers.emplace_back("Set-Cookie", cookie);
  return Answer(std::move(r));
}

Error NotYourself(std::string_view what) {
  return Error(ErrorCode::kFailedPrecondition,
               "you cannot " + std::string(what) + " yourself; ask another administrator");
}

json::object ChallengeJson(const auth::TwoFactorChallenge& c) {
  return json::object{{"two_factor_required", true},
                      {"pending_token", c.pending_token.reveal_as_text()},
                      {"expires_at", c.expires_at},
                      {"methods", json::array{"totp", "recovery_code"}},
                      {"next", "POST /v1/auth/login/totp"}};
}

json::object SignedInJson(const auth::SignedIn& s) {
  return json::object{{"caller", CallerJson(s.caller)},
                      {"session", SessionJson(s.session)},
                      {"csrf_token", s.csrf_token}};
}

namespace {

void AddAuthRoutes(http::Router& router, const VaultApi& api) {
  auto& identity = api.identity;
  router.Add(Method::kPost, "/v1/auth/login", Execution::kCredential,
             AuditedOpen(api, [&identity](const Request& request) -> Response {
               auto body = ObjectBody(request, {"username", "password"});
               if (!body) return Failure(request, body.error());
               auto username = TextMember(*body, "username", true);
               if (!username) return Failure(request, username.error());
               auto password = TextMember(*body, "password", true);
               Wipe(*body, "password");
               if (!password) return Failure(request, password.error());
               SecretBytes secret{std::string_view(**password)};
               std::fill((*password)->begin(), (*password)->end(), '\0');
               auto result = identity.SignIn(**username, secret.reveal_as_text(), request.peer);
               if (!result) return Failure(request, result.error());
               if (result->challenge) {
                 return Json(200, ChallengeJson(*result->challenge));
               }
               json::object out = SignedInJson(*result->signed_in);
               out["two_factor_required"] = false;
               Response r = Json(200, out);
               r.headers.emplace_back("Set-Cookie", SessionCookie(result->signed_in->cookie_value));
               return r;
             }));
  router.Add(Method::kPost, "/v1/auth/logout", Execution::kWorker,
             Guarded(api, Access::kSelf, false,
                     [&identity](const Request&, const auth::Caller& who) -> Result<Answer> {
                       identity.SignOut(who);
                       Response r;
                       r.status = 204;
                       r.headers.emplace_back("Set-Cookie", ExpiredCookie());
                       return Answer(std::move(r));
                     }));
  router.Add(Method::kPost, "/v1/auth/logout-everywhere", Execution::kWorker,
             Guarded(api, Access::kSelf, false,
                     [&identity](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto ended = identity.SignOutEverywhere(who.principal_id);
                       if (!ended) return std::unexpected(ended.error());
                       return WithCookie(200, {{"sessions_ended", *ended}}, ExpiredCookie());
                     }));
  router.Add(Method::kGet, "/v1/auth/session", Execution::kWorker,
             Guarded(api, Access::kSelf, false,
                     [&identity](const Request&, const auth::Caller& who) -> Result<Answer> {
                       json::object out{{"caller", CallerJson(who)}};
                       std::string csrf;
                       if (auto session = identity.SessionOf(who, &csrf)) {
                         out["session"] = SessionJson(*session);
                         out["csrf_token"] = csrf;
                       }
                       return Answer{200, std::move(out)};
                     }));
  router.Add(
      Method::kPost, "/v1/auth/password", Execution::kCredential,
      Guarded(api, Access::kSelf, false,
              [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
                auto body = ObjectBody(request, {"current_password", "new_password"});
                if (!body) return std::unexpected(body.error());
                auto current = TextMember(*body, "current_password", true);
                auto fresh = TextMember(*body, "new_password", true);
                Wipe(*body, "current_password");
                Wipe(*body, "new_password");
                if (!current) return std::unexpected(current.error());
                if (!fresh) return std::unexpected(fresh.error());
                SecretBytes current_secret{std::string_view(**current)};
                SecretBytes new_secret{std::string_view(**fresh)};
                std::fill((*current)->begin(), (*current)->end(), '\0');
                std::fill((*fresh)->begin(), (*fresh)->end(), '\0');
                auto changed = identity.ChangePassword(who, current_secret.reveal_as_text(),
                                                       new_secret.reveal_as_text(), request.peer);
                if (!changed) return std::unexpected(changed.error());
                if (!*changed) return Answer{200, {{"password_changed", true}}};
                json::object out = SignedInJson(**changed);
                out["password_changed"] = true;
                return WithCookie(200, out, SessionCookie((*changed)->cookie_value));
              }));
}

bool HoldsAdmin(const auth::PrincipalInfo& p) {
  return std::find(p.roles.begin(), p.roles.end(), "admin") != p.roles.end();
}

// Who may hand out which roles (docs/policy.md, guardrails): an administrator any; anyone else
// (an operator) only roles it holds itself, so that managing accounts never yields an account
// that sees more than its manager (an app reading plain data, an auditor reading the trail).
Result<void> MayGrant(const auth::Caller& who, const std::vector<std::string>& roles) {
  if (who.HasRole("admin")) return {};
  for (const auto& role : roles) {
    if (!who.HasRole(role)) {
      Error error(ErrorCode::kPermissionDenied,
                  "only an administrator may grant a role the caller does not hold itself");
      error.At("$.roles", role == "admin" ? "admin_only" : "not_held");
      return std::unexpected(error);
    }
  }
  return {};
}

// An administration call about one principal: f(id, scope, request, caller).
template <typename F>
http::Handler AboutPrincipal(const VaultApi& api, F f) {
  return Guarded(api, Access::kAdmin, false,
                 [&identity = api.identity, f = std::move(f)](
                     const Request& request, const auth::Caller& who) -> Result<Answer> {
                   const std::string_view id = request.PathParam("id");
                   if (auto allowed = KeepOffAdministrators(identity, who, id); !allowed) {
                     return std::unexpected(allowed.error());
                   }
                   return f(id, AdminScope(who), request, who);
                 });
}


void AddPrincipalRoutes(http::Router& router, const VaultApi& api) {
  auto& identity = api.identity;
  auto& service = api.service;
  router.Add(
      Method::kPost, "/v1/principals", Execution::kCredential,
      Guarded(
          api, Access::kAdmin, true,
          [&identity, &service](const Request& request, const auth::Caller& who) -> Result<Answer> {
            auto body = ObjectBody(request, {"username", "kind", "roles", "tenant", "password"});
            if (!body) return std::unexpected(body.error());
            auth::IdentityService::NewPrincipal p;
            auto username = TextMember(*body, "username", true);
            if (!username) return std::unexpected(username.error());
            p.username = std::move(**username);
            auto kind = TextMember(*body, "kind", false);
            if (!kind) return std::unexpected(kind.error());
            if (*kind && **kind != "user" && **kind != "service") {
              return FailAt("$.kind", "enum", "must be one of: user, service");
            }
            p.kind = *kind && **kind == "service" ? auth::PrincipalKind::kService
                                                  : auth::PrincipalKind::kUser;
            auto roles = StringList(*body, "roles");
            if (!roles) return std::unexpected(roles.error());
            if (!*roles) return FailAt("$.roles", "required", "is required");
            p.roles = std::move(**roles);
            if (auto granted = MayGrant(who, p.roles); !granted) {
              return std::unexpected(granted.error());
            }
            auto tenant = TextMember(*body, "tenant", false);
            if (!tenant) return std::unexpected(tenant.error());
            p.tenant = *tenant ? **tenant : who.tenant;
            if (p.tenant != who.tenant && !IsOperator(who)) {
              return std::unexpected(OperatorsOnly());
            }
            auto exists = service.TenantExists(p.tenant);
            if (!exists) return std::unexpected(exists.error());
            if (!*exists) return FailAt("$.tenant", "exists", "names no tenant");
            auto password = TextMember(*body, "password", false);
            Wipe(*body, "password");
            if (!password) return std::unexpected(password.error());
            if (*password) {
              p.password = std::move(**password);
            }
            auto created = identity.CreatePrincipal(p);
            if (p.password) std::fill(p.password->begin(), p.password->end(), '\0');
            if (!created) return std::unexpected(created.error());
            return Answer{201, PrincipalJson(*created)};
          }));
  router.Add(Method::kGet, "/v1/principals", Execution::kWorker,
             Guarded(api, Access::kAdmin, true,
                     [&identity](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto list = identity.ListPrincipals(AdminScope(who));
                       if (!list) return std::unexpected(list.error());
                       json::array out;
                       for (const auto& p : *list) out.push_back(PrincipalJson(p));
                       return Answer{200, {{"principals", std::move(out)}}};
                     }));
  router.Add(Method::kGet, "/v1/principals/{id}", Execution::kWorker,
             AboutPrincipal(api,
                            [&identity](std::string_view id, std::string_view scope, const Request&,
                                        const auth::Caller&) -> Result<Answer> {
                              auto p = identity.GetPrincipal(id, scope);
                              if (!p) return std::unexpected(p.error());
                              return Answer{200, PrincipalJson(*p)};
                            }));
  router.Add(Method::kPatch, "/v1/principals/{id}", Execution::kWorker,
             AboutPrincipal(
                 api,
                 [&identity](std::string_view id, std::string_view scope, const Request& request,
                             const auth::Caller& who) -> Result<Answer> {
                   auto body = ObjectBody(request, {"roles", "disabled"});
                   if (!body) return std::unexpected(body.error());
                   auth::IdentityService::PrincipalChange change;
                   auto roles = StringList(*body, "roles");
                   if (!roles) return std::unexpected(roles.error());
                   if (*roles) {
                     if (auto granted = MayGrant(who, **roles); !granted) {
                       return std::unexpected(granted.error());
                     }
                   }
                   change.roles = std::move(*roles);
                   if (const auto* d = body->if_contains("disabled")) {
                     if (!d->is_bool())
                       return FailAt("$.disabled", "type", "must be true or false");
                     change.disabled = d->get_bool();
                   }
                   if (id == who.principal_id && change.disabled.value_or(false)) {
                     return std::unexpected(NotYourself("disable"));
                   }
                   if (id == who.principal_id && change.roles &&
                       std::find(change.roles->begin(), change.roles->end(), "admin") ==
                           change.roles->end()) {
                     return std::unexpected(NotYourself("remove the admin role from"));
                   }
                   auto before = identity.GetPrincipal(id, scope);
                   if (!before) return std::unexpected(before.error());
                   auto updated = identity.UpdatePrincipal(id, scope, change);
                   if (!updated) return std::unexpected(updated.error());
                   // Made an administrator: tokens issued before (perhaps by an operator) do not
                   // carry the new power. Sessions already ended with the role change.
                   if (!HoldsAdmin(*before) && HoldsAdmin(*updated)) {
                     auto tokens = identity.ListTokens(scope, id);
                     if (!tokens) return std::unexpected(tokens.error());
                     for (const auto& t : *tokens) {
                       if (auto revoked = identity.RevokeToken(t.token_id, scope); !revoked) {
                         return std::unexpected(revoked.error());
                       }
                     }
                   }
                   return Answer{200, PrincipalJson(*updated)};
                 }));
  router.Add(Method::kDelete, "/v1/principals/{id}", Execution::kWorker,
             AboutPrincipal(api,
                            [&identity](std::string_view id, std::string_view scope, const Request&,
                                        const auth::Caller& who) -> Result<Answer> {
                              if (id == who.principal_id)
                                return std::unexpected(NotYourself("delete"));
                              if (auto deleted = identity.DeletePrincipal(id, scope); !deleted) {
                                return std::unexpected(deleted.error());
                              }
                              return Answer{204, {}};
                            }));
  router.Add(
      Method::kPost, "/v1/principals/{id}/password", Execution::kCredential,
      AboutPrincipal(api,
                     [&identity](std::string_view id, std::string_view scope,
                                 const Request& request, const auth::Caller&) -> Result<Answer> {
                       auto body = ObjectBody(request, {"password"});
                       if (!body) return std::unexpected(body.error());
                       auto password = TextMember(*body, "password", true);
                       Wipe(*body, "password");
                       if (!password) return std::unexpected(password.error());
                       SecretBytes secret{std::string_view(**password)};
                       std::fill((*password)->begin(), (*password)->end(), '\0');
                       if (auto reset = identity.ResetPassword(id, scope, secret.reveal_as_text());
                           !reset) {
                         return std::unexpected(reset.error());
                       }
                       return Answer{204, {}};
                     }));
  router.Add(Method::kPost, "/v1/principals/{id}/unlock", Execution::kWorker,
             AboutPrincipal(api,
                            [&identity](std::string_view id, std::string_view scope, const Request&,
                                        const auth::Caller&) -> Result<Answer> {
                              auto unlocked = identity.Unlock(id, scope);
                              if (!unlocked) return std::unexpected(unlocked.error());
                              return Answer{200, {{"was_locked", *unlocked}}};
                            }));
  router.Add(Method::kGet, "/v1/principals/{id}/sessions", Execution::kWorker,
             AboutPrincipal(api,
                            [&identity](std::string_view id, std::string_view scope, const Request&,
                                        const auth::Caller&) -> Result<Answer> {
                              auto sessions = identity.ListSessions(id, scope);
                              if (!sessions) return std::unexpected(sessions.error());
                              json::array out;
                              for (const auto& s : *sessions) out.push_back(SessionJson(s));
                              return Answer{200, {{"sessions", std::move(out)}}};
                            }));
  router.Add(Method::kDelete, "/v1/principals/{id}/sessions", Execution::kWorker,
             AboutPrincipal(api,
                            [&identity](std::string_view id, std::string_view scope, const Request&,
                                        const auth::Caller&) -> Result<Answer> {
                              if (auto p = identity.GetPrincipal(id, scope); !p)
                                return std::unexpected(p.error());
                              auto ended = identity.SignOutEverywhere(id);
                              if (!ended) return std::unexpected(ended.error());
                              return Answer{200, {{"sessions_ended", *ended}}};
                            }));
  router.Add(Method::kDelete, "/v1/principals/{id}/sessions/{session}", Execution::kWorker,
             AboutPrincipal(
                 api,
                 [&identity](std::string_view id, std::string_view scope, const Request& request,
                             const auth::Caller&) -> Result<Answer> {
                   auto revoked = identity.RevokeSession(id, request.PathParam("session"), scope);
                   if (!revoked) return std::unexpected(revoked.error());
                   return Answer{204, {}};
                 }));
  router.Add(Method::kGet, "/v1/principals/{id}/tokens", Execution::kWorker,
             AboutPrincipal(api,
                            [&identity](std::string_view id, std::string_view scope, const Request&,
                                        const auth::Caller&) -> Result<Answer> {
                              if (id == auth::kBootstrapPrincipalId && !scope.empty()) {
                                return Fail(ErrorCode::kNotFound, "no such principal");
                              }
                              if (id != auth::kBootstrapPrincipalId) {
                                if (auto p = identity.GetPrincipal(id, scope); !p)
                                  return std::unexpected(p.error());
                              }
                              auto tokens = identity.ListTokens(scope, id);
                              if (!tokens) return std::unexpected(tokens.error());
                              json::array out;
                              for (const auto& t : *tokens) out.push_back(TokenJson(t));
                              return Answer{200, {{"tokens", std::move(out)}}};
                            }));
  router.Add(
      Method::kPost, "/v1/principals/{id}/tokens", Execution::kWorker,
      AboutPrincipal(api,
                     [&identity](std::string_view id, std::string_view scope,
                                 const Request& request, const auth::Caller&) -> Result<Answer> {
                       auto body = ObjectBody(request, {"name", "scopes", "expires_in_seconds"});
                       if (!body) return std::unexpected(body.error());
                       auth::IdentityService::NewToken t;
                       t.principal_id = std::string(id);
                       auto name = TextMember(*body, "name", true);
                       if (!name) return std::unexpected(name.error());
                       t.name = std::move(**name);
                       auto scopes = StringList(*body, "scopes");
                       if (!scopes) return std::unexpected(scopes.error());
                       if (*scopes) {
                         if ((*scopes)->empty())
                           return FailAt("$.scopes", "min_items", "needs at least one scope");
                         t.scopes = std::move(**scopes);
                       }
                       if (const auto* e = body->if_contains("expires_in_seconds")) {
                         constexpr std::int64_t kTenYears = 10LL * 366 * 24 * 3600;
                         if (!e->is_int64()) {
                           return FailAt("$.expires_in_seconds", "type",
                                         "must be a whole number of seconds");
                         }
                         if (e->get_int64() < 1 || e->get_int64() > kTenYears) {
                           return FailAt("$.expires_in_seconds", "range",
                                         "must be a whole number of seconds from 1 to 10 years");
                         }
                         t.expires_at = identity.settings().wall_clock() +
                                        std::chrono::seconds(e->get_int64());
                       }
                       auto issued = identity.IssueToken(t, scope);
                       if (!issued) return std::unexpected(issued.error());
                       json::object out = TokenJson(issued->info);
                       out["token"] = issued->token.reveal_as_text();
                       return Answer{201, std::move(out)};
                     }));
  router.Add(Method::kGet, "/v1/tokens", Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     [&identity](const Request&, const auth::Caller& who) -> Result<Answer> {
                       auto tokens = identity.ListTokens(AdminScope(who), "");
                       if (!tokens) return std::unexpected(tokens.error());
                       json::array out;
                       for (const auto& t : *tokens) out.push_back(TokenJson(t));
                       return Answer{200, {{"tokens", std::move(out)}}};
                     }));
  router.Add(
      Method::kDelete, "/v1/tokens/{id}", Execution::kWorker,
      Guarded(api, Access::kAdmin, false,
              [&identity](const Request& request, const auth::Caller& who) -> Result<Answer> {
                // An operator does not revoke an administrator's tokens.
                if (!who.HasRole("admin")) {
                  auto tokens = identity.ListTokens(AdminScope(who), "");
                  if (!tokens) return std::unexpected(tokens.error());
                  for (const auto& t : *tokens) {
                    if (t.token_id != request.PathParam("id")) continue;
                    if (auto allowed = KeepOffAdministrators(identity, who, t.principal_id);
                        !allowed) {
                      return std::unexpected(allowed.error());
                    }
                  }
                }
                auto revoked = identity.RevokeToken(request.PathParam("id"), AdminScope(who));
                if (!revoked) return std::unexpected(revoked.error());
                return Answer{204, {}};
              }));
}

}  // namespace

void AddIdentityRoutes(http::Router& router, const VaultApi& api) {
  AddAuthRoutes(router, api);
  AddTwoFactorRoutes(router, api);
  AddPrincipalRoutes(router, api);
}

}  // namespace strongroom::api
