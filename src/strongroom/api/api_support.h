#pragma once
// What every v1 handler shares: the authentication prologue (Guarded), JSON answers and error
// responses. Included only by the handler files (vault_api.cc, identity_api.cc), which already
// compile Boost.JSON.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "strongroom/api/vault_api.h"
#include "strongroom/auth/identity.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/http/types.h"
#include "strongroom/policy/policy.h"

namespace strongroom::api {

struct Answer {
  Answer(int s, boost::json::object b) : status(s), body(std::move(b)) {}
  explicit Answer(http::Response r) : status(r.status), response(std::move(r)) {}  // sent as is
  int status = 200;
  boost::json::object body;
  std::optional<http::Response> response;  // streamed documents, answers with headers
};
using Call = std::function<Result<Answer>(const http::Request&, const auth::Caller&)>;

http::Response Json(int status, const boost::json::object& body);
// The error response; internal and unavailable errors are also logged (messages name what
// failed, never values).
http::Response Failure(std::string_view request_id, const Error& error);
inline http::Response Failure(const http::Request& request, const Error& error) {
  return Failure(request.request_id, error);
}
// The request's body as strict JSON; invalid_argument at "$" for an empty one.
Result<boost::json::value> Body(const http::Request& request);
// `body` as an object whose members are all in `allowed`: invalid_argument at "$" when it is not
// an object, or at the first unknown member's path ("is not a member of <what>").
Result<const boost::json::object*> ObjectWithOnly(const boost::json::value& body,
                                                  std::initializer_list<std::string_view> allowed,
                                                  std::string_view what);

// What a route needs of its caller, besides being authenticated. For all but kSelf and kEnrol
// the tenant's access policy decides (PolicyGateOf names the action); the token scope is a
// ceiling on top.
enum class Access {
  kAdmin,  // token scope "admin"
  kRead,   // token scope "data:read"
  kWrite,  // token scope "data:write"
  kSelf,   // anyone authenticated, even one who must change their password or set up a
           // second factor first
  kEnrol,  // anyone authenticated who need not change their password first, even one who must
           // still set up a second factor (the enrolment routes)
  kAudit,  // token scope "audit:read"
};

// The header a data call states its purpose of use in (docs/policy.md).
inline constexpr std::string_view kPurposeHeader = "strongroom-purpose";
// The policy's names for what is not a collection of records.
inline constexpr std::string_view kCollectionsResource = "@collections";
inline constexpr std::string_view kSubjectsResource = "@subjects";
inline constexpr std::string_view kActivityResource = "@activity";
inline constexpr std::string_view kDocumentsResource = "@documents";
inline constexpr std::string_view kTokensResource = "@tokens";

// The policy action and resource of a guarded route, from its audit action ("record.read" ->
// read on the path's collection); nullopt for a route with none (a test covers every route).
struct PolicyGate {
  policy::Action action;
  std::string_view collection;
};
std::optional<PolicyGate> PolicyGateOf(std::string_view audit_action, const http::Request& request);
// The request's peer as the policy matches it (a link-local zone dropped); nullopt if unknown.
std::optional<IpAddress> PeerAddress(const http::Request& request);
// This call as the policy sees it: `who`'s roles doing `action` on `collection`, the purpose the
// request states (Strongroom-Purpose), its peer and the session's second factor. Views into
// `request` and `who`, which must outlive it.
policy::Context CallContext(const http::Request& request, const auth::Caller& who,
                            policy::Action action, std::string_view collection);

// Reads of one subject's data weigh the subject's choices (records/subject_choices.h) with the
// tenant's policy for the request's purpose (policy::Policy::DecideForSubject): permission_denied
// at "subject" with the rule "restricted", "objected" or "consent_required" (which the audit
// entry records), never naming the purpose the subject objected to. would_block on an I/O
// thread when the choices must be read from the stores.
Result<void> CheckSubjectChoices(const VaultApi& api, const policy::Policy& policy,
                                 const http::Request& request, const auth::Caller& who,
                                 std::string_view subject);
Result<void> CheckSubjectChoices(const VaultApi& api, const http::Request& request,
                                 const auth::Caller& who, std::string_view subject);

// The prologue of every authenticated endpoint: sealed (503, when `needs_keys`) -> credentials
// (401) -> the traffic guard's principal and tenant buckets (429 + Retry-After) -> a pending
// password change or second-factor enrolment (403) -> token scope (403) -> purpose and policy
// decision (400/403) -> `call`.
http::Handler Guarded(const VaultApi& api, Access access, bool needs_keys, Call call);

// The vault's operators: administrators of the tenant `init` created. They manage tenants and
// every tenant's principals; an administrator of another tenant manages only its own tenant.
// (The policy issue replaces this with roles x scopes.)
bool IsOperator(const auth::Caller& who);
Error OperatorsOnly();
// "" (every tenant) for an operator, else the caller's tenant.
std::string_view AdminScope(const auth::Caller& who);

}  // namespace strongroom::api
