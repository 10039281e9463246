#pragma once
// What the identity endpoints (identity_api.cc) and the second-factor endpoints
// (two_factor_api.cc) share: JSON views of principals, tokens, sessions and callers, the session
// cookie, and strict readers of request bodies. Defined in identity_api.cc; include only there
// and in two_factor_api.cc.

#include <boost/json/object.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/api/api_support.h"
#include "strongroom/auth/identity.h"
#include "strongroom/http/router.h"

namespace strongroom::api {

boost::json::array Strings(const std::vector<std::string>& items);
boost::json::object PrincipalJson(const auth::PrincipalInfo& p);
boost::json::object TokenJson(const auth::TokenInfo& t);
boost::json::object SessionJson(const auth::SessionInfo& s);
boost::json::object CallerJson(const auth::Caller& c);
// {caller, session, csrf_token} of a new session.
boost::json::object SignedInJson(const auth::SignedIn& s);
// {two_factor_required: true, pending_token, expires_at, methods} of a sign-in challenge.
boost::json::object ChallengeJson(const auth::TwoFactorChallenge& c);

// Set-Cookie values: the session cookie, and the one that clears it.
std::string SessionCookie(const SecretBytes& value);
std::string ExpiredCookie();
Answer WithCookie(int status, const boost::json::object& body, const std::string& cookie);

// The object body of `request`, refusing members not in `allowed`.
Result<boost::json::object> ObjectBody(const http::Request& request,
                                       std::initializer_list<std::string_view> allowed);
// A required (or, with `required` false, optional) string member.
Result<std::optional<std::string>> TextMember(const boost::json::object& o, std::string_view name,
                                              bool required);
Result<std::optional<std::vector<std::string>>> StringList(const boost::json::object& o,
                                                           std::string_view name);
// Wipes a secret string member of a parsed body once it has been used.
void Wipe(boost::json::object& o, std::string_view name);
// failed_precondition: an administrator may not do `what` to itself.
Error NotYourself(std::string_view what);
bool HoldsAdmin(const auth::PrincipalInfo& p);
// permission_denied (at "principal", rule admin_only) when a caller without the admin role
// (an operator) acts on a principal holding it: no password or factor reset, token, session,
// role change or deletion that would hand it the vault (docs/policy.md, guardrails).
Result<void> KeepOffAdministrators(auth::IdentityService& identity, const auth::Caller& who,
                                   std::string_view principal_id);

// /v1/auth/login/totp, /v1/auth/totp..., /v1/auth/recovery-codes, the administrators' reset and
// the tenants' two-factor policy (two_factor_api.cc).
void AddTwoFactorRoutes(http::Router& router, const VaultApi& api);

}  // namespace strongroom::api
