#include "strongroom/api/api_support.h"

#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>

#include "strongroom/api/audit_support.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/http/error_response.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {

namespace json = boost::json;
using http::Method;
using http::Request;
using http::Response;

Response Json(int status, const json::object& body) {
  Response r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

Response Failure(std::string_view request_id, const Error& error) {
  if (error.code() == ErrorCode::kInternal || error.code() == ErrorCode::kUnavailable) {
    observe::Error("api.request_failed", {{"request_id", request_id},
                                          {"code", ErrorCodeName(error.code())},
                                          {"reason", error.message()}});
  }
  return http::ErrorResponse(error, request_id);
}

Result<json::value> Body(const Request& request) {
  if (request.body.empty()) return FailAt("$", "required", "a JSON body is required");
  return records::ParseStrictJson(request.body);
}

bool IsOperator(const auth::Caller& who) {
  return who.HasRole("admin") && who.tenant == auth::kDefaultTenant;
}

Error OperatorsOnly() {
  return Error(ErrorCode::kPermissionDenied,
               "only an administrator of the operator tenant 'default' may do this");
}

std::string_view AdminScope(const auth::Caller& who) {
  return IsOperator(who) ? std::string_view() : std::string_view(who.tenant);
}

std::optional<IpAddress> PeerAddress(const Request& request) {
  // A link-local peer may carry a zone ("fe80::1%eth0"); networks match the address itself.
  return ParseIpAddress(request.peer.substr(0, request.peer.find('%')));
}

policy::Context CallContext(const Request& request, const auth::Caller& who, policy::Action action,
                            std::string_view collection) {
  return policy::Context{who.roles,
                         action,
                         collection,
                         request.headers->Get(kPurposeHeader).value_or(""),
                         PeerAddress(request),
                         who.two_factor};
}

Result<void> CheckSubjectChoices(const VaultApi& api, const policy::Policy& policy,
                                 const Request& request, const auth::Caller& who,
                                 std::string_view subject) {
  auto choices = api.service.Choices(who.tenant, subject);
  if (!choices) return std::unexpected(choices.error());
  const std::string_view purpose = request.headers->Get(kPurposeHeader).value_or("");
  const policy::Decision decision = policy.DecideForSubject(purpose, choices->get());
  if (decision.allowed) return {};
  // A subject that does not exist (or no longer) is not_found, as everywhere: a refusal must
  // not tell that an id was, or is, a subject's.
  if (auto exists = api.service.GetSubject(who.tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  std::string_view rule = "consent_required";
  std::string message = "the data subject has not consented to this purpose";
  if (decision.rule == "subject restricted") {
    rule = "restricted";
    message =
        "the data subject's data is restricted: it is read only for the purposes legal "
        "or subject-request";
  } else if (decision.rule == "subject objected") {
    rule = "objected";
    message = "the data subject objected to processing for this purpose";
  }
  Error refused(ErrorCode::kPermissionDenied, std::move(message));
  refused.At("subject", std::string(rule));
  return std::unexpected(refused);
}

Result<void> CheckSubjectChoices(const VaultApi& api, const Request& request,
                                 const auth::Caller& who, std::string_view subject) {
  auto policy = api.policies.For(who.tenant);
  if (!policy) return std::unexpected(policy.error());
  return CheckSubjectChoices(api, **policy, request, who, subject);
}

Result<const boost::json::object*> ObjectWithOnly(const boost::json::value& body,
                                                  std::initializer_list<std::string_view> allowed,
                                                  std::string_view what) {
  if (!body.is_object()) return FailAt("$", "type", "must be an object");
  for (const auto& member : body.get_object()) {
    if (std::find(allowed.begin(), allowed.end(), member.key()) == allowed.end()) {
      return FailAt(records::JsonPathKey("$", member.key()), "unknown_field",
                    "is not a member of " + std::string(what));
    }
  }
  return &body.get_object();
}

std::optional<PolicyGate> PolicyGateOf(std::string_view audit_action, const Request& request) {
  using policy::Action;
  const auto kind = audit_action.substr(0, audit_action.find('.'));
  const auto verb = audit_action.substr(kind.size() + (kind.size() < audit_action.size()));
  const std::string_view collection = request.PathParam("collection");
  if (audit_action == "vault.seal") return PolicyGate{Action::kManageKeys, ""};
  // Bans are server-wide: the operators' (the handlers check that too), like tenants.
  if (kind == "guard") return PolicyGate{Action::kManageTenants, ""};
  // Backups hold every tenant's data under keys from the root key: the operators' (the handlers
  // check that too), as seal is.
  if (kind == "backup") return PolicyGate{Action::kManageKeys, ""};
  // The tenant's KEKs: rotation, re-wrap progress and retirement.
  if (kind == "key") return PolicyGate{Action::kManageKeys, ""};
  if (kind == "tenant" && !verb.ends_with("two_factor_policy")) {
    return PolicyGate{Action::kManageTenants, ""};
  }
  // Who must use a second factor is a security policy of the tenant, not an account matter:
  // an operator managing accounts may not weaken it.
  if (verb.ends_with("two_factor_policy")) return PolicyGate{Action::kManagePolicy, ""};
  if (kind == "principal" || kind == "session" || kind == "token") {
    return PolicyGate{Action::kManagePrincipals, ""};
  }
  if (kind == "audit") return PolicyGate{Action::kReadAudit, ""};
  if (kind == "subject_request") return PolicyGate{Action::kManageRequests, ""};
  if (kind == "policy") return PolicyGate{Action::kManagePolicy, ""};
  // How long data is kept is the policy document's [[retention]]: reading it and running it.
  if (kind == "retention") return PolicyGate{Action::kManagePolicy, ""};
  if (kind == "collection") {
    if (verb == "create" || verb == "evolve") return PolicyGate{Action::kManageSchema, collection};
    return PolicyGate{Action::kRead, verb == "list" ? kCollectionsResource : collection};
  }
  const auto data = [&](std::string_view resource) -> std::optional<PolicyGate> {
    if (verb == "create" || verb == "append" || verb == "upload") {
      return PolicyGate{Action::kCreate, resource};
    }
    if (verb == "read" || verb == "list" || verb == "read_archived" || verb == "list_archived") {
      return PolicyGate{Action::kRead, resource};
    }
    if (verb == "update") return PolicyGate{Action::kUpdate, resource};
    // Erasing a subject deletes everything held about it: the delete action on @subjects; so
    // does cancelling a scheduled erasure (who may erase may change their mind).
    if (verb == "delete" || verb == "erase" || verb == "cancel_erasure") {
      return PolicyGate{Action::kDelete, resource};
    }
    if (verb == "search") return PolicyGate{Action::kSearch, resource};
    if (verb == "export") return PolicyGate{Action::kExport, resource};
    return std::nullopt;
  };
  // Asking for break-glass on a collection needs reading it; deciding on requests is policy.
  if (kind == "break_glass") {
    if (verb == "request") return PolicyGate{Action::kRead, collection};
    return PolicyGate{Action::kManagePolicy, ""};
  }
  if (kind == "tokenization") {
    if (verb == "tokenize") return PolicyGate{Action::kTokenize, kTokensResource};
    if (verb == "detokenize") return PolicyGate{Action::kDetokenize, kTokensResource};
    return std::nullopt;
  }
  if (kind == "record") return data(collection);
  if (kind == "subject" || kind == "consent" || kind == "processing") {
    return data(kSubjectsResource);
  }
  if (kind == "activity") return data(kActivityResource);
  if (kind == "document") return data(kDocumentsResource);
  return std::nullopt;
}

namespace {

bool StateChanging(Method method) {
  return method == Method::kPost || method == Method::kPut || method == Method::kPatch ||
         method == Method::kDelete;
}

// The token scope `access` needs; the error names what is missing. (Roles are the policy's.)
std::optional<Error> ScopeRefusal(Access access, const auth::Caller& who) {
  std::string_view scope;
  switch (access) {
    case Access::kSelf:
    case Access::kEnrol:
      return std::nullopt;
    case Access::kAdmin:
      scope = auth::kScopeAdmin;
      break;
    case Access::kAudit:
      scope = auth::kScopeAuditRead;
      break;
    case Access::kRead:
      scope = auth::kScopeDataRead;
      break;
    case Access::kWrite:
      scope = auth::kScopeDataWrite;
      break;
  }
  if (who.HasScope(scope)) return std::nullopt;
  return Error(ErrorCode::kPermissionDenied,
               "this token's scopes do not include " + std::string(scope));
}

// The policy's verdict on the call: purpose (invalid_argument / permission_denied), then the
// decision, both written into `event`. Runs before anything is looked up, so a denial is the
// same whether or not the collection or record exists.
std::optional<Error> PolicyRefusal(const VaultApi& api, const Request& request,
                                   const auth::Caller& who, audit::Event& event) {
  const auto gate = PolicyGateOf(event.action, request);
  if (!gate) {
    return Error(ErrorCode::kInternal, "route " + std::string(request.route) +
                                           " has no policy action (a bug: see PolicyGateOf)");
  }
  auto policy = api.policies.For(who.tenant);
  // A stored document that no longer compiles refuses everything (fail closed) except its own
  // replacement (PUT /v1/policy, nothing else), decided by the built-in policy.
  if (!policy && policy.error().code() == ErrorCode::kDataLoss && event.action == "policy.update") {
    policy = policy::Policy::BuiltIn();
  }
  if (!policy) return policy.error();
  const policy::Context context = CallContext(request, who, gate->action, gate->collection);
  if (auto stated = (*policy)->CheckPurpose(context.purpose, policy::IsDataAction(gate->action));
      !stated) {
    return stated.error();
  }
  event.purpose = context.purpose;
  const policy::Decision decision = (*policy)->Decide(context);
  event.policy_version = (*policy)->version();
  event.policy_rule = decision.rule;
  if (decision.allowed) return std::nullopt;
  Error denied(ErrorCode::kPermissionDenied, "the access policy does not allow " +
                                                 std::string(policy::ActionName(gate->action)) +
                                                 " here");
  denied.At("policy", "denied");
  return denied;
}

// Routes that decide no action (the caller's own account) still keep to the network zones of
// the caller's roles when they change the account's credentials: from outside a zone, a stolen
// password must not enrol its own second factor (and so pass an `outside = "two_factor"` zone)
// nor change the password. Signing out is never refused.
std::optional<Error> ZoneRefusal(const VaultApi& api, const Request& request,
                                 const auth::Caller& who, audit::Event& event) {
  constexpr std::array<std::string_view, 5> kCredentialChanges = {
      "auth.change_password", "auth.enrol_totp", "auth.confirm_totp", "auth.disable_totp",
      "auth.regenerate_recovery_codes"};
  if (std::find(kCredentialChanges.begin(), kCredentialChanges.end(), event.action) ==
      kCredentialChanges.end()) {
    return std::nullopt;
  }
  auto policy = api.policies.For(who.tenant);
  if (!policy) return policy.error();
  for (const auto action : {policy::Action::kRead, policy::Action::kManagePrincipals}) {
    const policy::Context context = CallContext(request, who, action, "");
    if (const policy::Zone* zone = (*policy)->OutsideZone(context)) {
      event.policy_version = (*policy)->version();
      event.policy_rule = zone->name;
      Error denied(ErrorCode::kPermissionDenied,
                   "this account's credentials cannot be changed from this network");
      denied.At("policy", "denied");
      return denied;
    }
  }
  return std::nullopt;
}

}  // namespace

namespace {

// The prologue and the call; `event` learns the caller and `answer` keeps the answer's body for
// the audit entry.
Response GuardedResponse(const VaultApi& api, Access access, bool needs_keys, const Call& call,
                         const Request& request, audit::Event& event,
                         std::optional<json::object>& answer) {
  if (needs_keys && api.seal.sealed()) {
    return Failure(request.request_id,
                   Error(ErrorCode::kSealed, "the vault is sealed; unseal it first"));
  }
#ifdef STRONGROOM_BENCH_AUTH_BYPASS
  // Benchmark build only (CMake STRONGROOM_BENCH_AUTH_BYPASS, preset release-authbypass):
  // every request is the operator, to measure what authentication costs (bench/identity.sh).
  // The server refuses to listen beyond loopback in such a build (server_app.cc).
  Result<auth::Caller> caller = auth::Caller{.principal_id = "prn_benchmark",
                                             .tenant = std::string(auth::kDefaultTenant),
                                             .roles = {"admin"},
                                             .method = auth::AuthMethod::kToken,
                                             .credential_id = "tok_benchmark",
                                             .scopes = {std::string(auth::kScopeAdmin),
                                                        std::string(auth::kScopeDataRead),
                                                        std::string(auth::kScopeDataWrite)}};
#else
  auth::RequestCredentials credentials;
  credentials.authorization = request.headers->Get("authorization");
  credentials.cookie = request.headers->Get("cookie");
  credentials.csrf_token = request.headers->Get(auth::kCsrfHeader);
  credentials.state_changing = StateChanging(request.method);
  credentials.source = request.peer;
  auto caller = api.identity.Authenticate(credentials);
#endif
  if (!caller) {
    Response r = Failure(request.request_id, caller.error());
    if (caller.error().code() == ErrorCode::kUnauthenticated) {
      r.headers.emplace_back("WWW-Authenticate", "Bearer, Basic realm=\"strongroom\"");
    }
    return r;
  }
  SetActor(event, *caller);
  if (api.guard != nullptr) {
    if (const auto verdict = api.guard->AdmitCaller(caller->principal_id, caller->tenant);
        !verdict.admitted()) {
      const auto retry = std::to_string(verdict.retry_after.count());
      Response r = Failure(request.request_id,
                           Error(ErrorCode::kResourceExhausted,
                                 "too many requests for this " + std::string(verdict.scope) +
                                     "; retry after " + retry + " s"));
      r.headers.emplace_back("Retry-After", retry);
      return r;
    }
  }
  if (caller->password_change_required && access != Access::kSelf) {
    Error must_change(ErrorCode::kPermissionDenied,
                      "change your password first: POST /v1/auth/password");
    must_change.At("auth", "password_change_required");
    return Failure(request.request_id, must_change);
  }
  if (caller->two_factor_enrolment_required && access != Access::kSelf &&
      access != Access::kEnrol) {
    Error must_enrol(ErrorCode::kPermissionDenied,
                     "your tenant requires two-factor authentication: set it up first "
                     "(POST /v1/auth/totp, then POST /v1/auth/totp/confirm)");
    must_enrol.At("auth", "two_factor_enrolment_required");
    return Failure(request.request_id, must_enrol);
  }
  if (auto refused = ScopeRefusal(access, *caller)) return Failure(request.request_id, *refused);
  if (access != Access::kSelf && access != Access::kEnrol) {
    if (auto refused = PolicyRefusal(api, request, *caller, event)) {
      return Failure(request.request_id, *refused);
    }
  } else if (auto refused = ZoneRefusal(api, request, *caller, event)) {
    return Failure(request.request_id, *refused);
  }
  // A change is not made when its record could not be kept.
  if (StateChanging(request.method)) {
    if (auto writable = AuditWritable(api); !writable) {
      return Failure(request.request_id, writable.error());
    }
  }
  auto result = call(request, *caller);
  if (!result) return Failure(request.request_id, result.error());
  if (result->response) return std::move(*result->response);
  if (result->status == 204) {
    Response r;
    r.status = 204;
    return r;
  }
  Response r = Json(result->status, result->body);
  answer = std::move(result->body);
  return r;
}

}  // namespace

http::Handler Guarded(const VaultApi& api, Access access, bool needs_keys, Call call) {
  return [api, access, needs_keys, call = std::move(call)](const Request& request) -> Response {
    audit::Event event = AuditEventFor(request);
    std::optional<json::object> answer;
    Response response = GuardedResponse(api, access, needs_keys, call, request, event, answer);
#ifdef STRONGROOM_BENCH_AUDIT_OFF
    return response;  // benchmark build (bench/audit.sh): the cost of auditing, measured
#endif
    // An inline try that needs the disk runs again on the pool: recorded then, once.
    if (response.would_block || event.action.empty()) return response;
    if (auto completed = CompleteEvent(api, request, event, answer ? &*answer : nullptr);
        !completed) {
      if (completed.error().code() == ErrorCode::kWouldBlock) {
        return http::ErrorResponse(completed.error(), request.request_id);
      }
      // No entry, no answer: what was held is dropped unsent.
      response = Failure(request.request_id,
                         Error(ErrorCode::kAuditUnavailable,
                               "the audit entry could not be made: " + completed.error().message()));
    }
    SetOutcome(event, response);
    HoldForAudit(api, response, std::move(event), request.route);
    return response;
  };
}

}  // namespace strongroom::api
