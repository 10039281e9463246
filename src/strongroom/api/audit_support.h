#pragma once
// What the API writes to the audit trail (docs/audit.md): one entry per request to an audited
// route, built from the route, the caller, the outcome and the answer (ids, subject pseudonyms,
// field names and views; never a value), and the gate that holds the response until that entry
// is durable (fail-closed: 503 audit_unavailable, and the held answer is destroyed unsent).
// Included only by the handler files, which already compile Boost.JSON.

#include <boost/json/object.hpp>
#include <string_view>

#include "strongroom/api/vault_api.h"
#include "strongroom/audit/audit_entry.h"
#include "strongroom/auth/identity.h"
#include "strongroom/http/types.h"

namespace strongroom::api {

// The action of a route ("record.read"), or "" for the few that are not audited (health,
// readiness, the seal status and the OpenAPI document: nothing personal, nobody identified).
std::string_view AuditActionOf(http::Method method, std::string_view pattern);

// A new entry for `request`: action, request id, source, tenant and resource from the path.
audit::Event AuditEventFor(const http::Request& request);
void SetActor(audit::Event& event, const auth::Caller& who);
// The subject of a /v1/subjects/{id} path, and the ids, subjects and fields named in `answer`
// (null for a failure). Subject ids are pseudonymised. On an error (would_block on an I/O
// thread, or a key that cannot be loaded) the caller must not send the answer.
Result<void> CompleteEvent(const VaultApi& api, const http::Request& request, audit::Event& event,
                           const boost::json::object* answer);
// The outcome, from the response (status, and the error code of an error envelope).
void SetOutcome(audit::Event& event, const http::Response& response);

// Hands the event to the trail and gates `response` on its durability. A response that will
// read an upload (body_sink) is audited when the upload's own answer is ready.
void HoldForAudit(const VaultApi& api, http::Response& response, audit::Event event,
                  std::string_view route);

// For writes: refuses at once (audit_unavailable) while the trail is failing, so that a write is
// not carried out when its record could not be kept.
Result<void> AuditWritable(const VaultApi& api);

// Wraps a handler that authenticates by itself (sign-in, unseal): its response is audited and
// gated like a Guarded one; a signed-in caller in the answer ("caller") becomes the actor.
http::Handler AuditedOpen(const VaultApi& api, http::Handler handler);

}  // namespace strongroom::api
