#pragma once
// The v1 data and administration endpoints (thin: HTTP in, service calls, HTTP out). The full
// contract is docs/api/openapi.yaml, served at GET /v1/openapi.yaml.
//
//   /v1/sys/seal-status, /v1/sys/unseal, /v1/sys/seal     seal state (unseal needs no token)
//   /v1/auth/...                                          sign-in, sessions, own password
//   /v1/tenants, /v1/principals[...], /v1/tokens[...]     administration (role admin)
//   /v1/collections[...], /v1/subjects[...]               personal data (as the policy allows),
//                                                         always in the caller's own tenant;
//                                                         documents stream in and out
//   /v1/tokenize, /v1/detokenize                          tokens for values and back (policy)
//   /v1/break-glass..., /v1/collections/{c}/break-glass   time-boxed plain access (2 people)
//   /v1/keys[...]                                         the tenant's KEKs: rotate, retire
//   /v1/privacy/requests[...]                             the data-subject request log (dpo)
//   /v1/retention, /v1/retention/run                      retention rules' state, a pass now
//
// Order of checks for a data call: sealed (503 `sealed`) -> credentials (401; a session's CSRF
// token, 403) -> the principal's and tenant's rate limits (429) -> token scope and the access
// policy (403) -> body (strict JSON, 400 with a JSON path) -> the service. Handlers run on the
// worker pool; those that run Argon2id on the credential pool. Borrows everything it is given; all
// of it must outlive the router. Thread-safe.

#include <chrono>
#include <string_view>

#include "strongroom/audit/audit_keys.h"
#include "strongroom/audit/audit_trail.h"
#include "strongroom/auth/identity.h"
#include "strongroom/backup/backup_service.h"
#include "strongroom/barrier/seal_state.h"
#include "strongroom/guard/traffic_guard.h"
#include "strongroom/http/router.h"
#include "strongroom/policy/break_glass.h"
#include "strongroom/policy/policy_store.h"
#include "strongroom/records/document_service.h"
#include "strongroom/records/kek_rotation.h"
#include "strongroom/records/retention.h"
#include "strongroom/records/subject_erasure.h"
#include "strongroom/records/subject_requests.h"
#include "strongroom/records/token_vault.h"
#include "strongroom/records/vault_service.h"

namespace strongroom::api {

struct VaultApi {
  barrier::SealState& seal;
  audit::Trail& trail;  // every audited request's entry is durable here before it is answered
  audit::AuditKeys& audit_keys;
  auth::IdentityService& identity;
  records::VaultService& service;
  records::DocumentService& documents;
  policy::PolicyStore& policies;  // each tenant's access policy
  records::TokenVault& tokens;    // POST /v1/tokenize, /v1/detokenize and "tokenized" views
  policy::BreakGlass& break_glass;  // time-boxed plain access, approved by a second admin
  std::string_view openapi_yaml;
  // Rate limits per principal and tenant, and the ban administration; null: none.
  guard::TrafficGuard* guard = nullptr;
  // The server's backups and their jobs (/v1/backups...); null: no backup routes.
  backup::BackupService* backups = nullptr;
  // Subject erasure (DELETE /v1/subjects/{id}); null: the route answers 503.
  records::SubjectEraser* eraser = nullptr;
  // privacy.erasure_grace_days: 0 erases at once; otherwise DELETE schedules the erasure.
  std::chrono::seconds erasure_grace{0};
  // KEK rotation and re-wrap (/v1/keys/rotate, retirement); null: those routes answer 503.
  records::KekRotation* rotation = nullptr;
  // The log of data-subject requests (/v1/privacy/requests); null: those routes answer 503.
  records::SubjectRequests* subject_requests = nullptr;
  // Retention passes (/v1/retention...); null: those routes answer 503.
  records::RetentionJob* retention = nullptr;
};

void AddVaultRoutes(http::Router& router, const VaultApi& api);
// /v1/auth/... and the administration of principals, tokens and sessions (identity_api.cc).
void AddIdentityRoutes(http::Router& router, const VaultApi& api);
// /v1/policy...: the tenant's access policy, its versions and dry runs (policy_api.cc).
void AddPolicyRoutes(http::Router& router, const VaultApi& api);
// Break-glass requests, approvals and revocations (break_glass_api.cc).
void AddBreakGlassRoutes(http::Router& router, const VaultApi& api);
// /v1/guard/bans...: the traffic guard's bans (guard_api.cc).
void AddGuardRoutes(http::Router& router, const VaultApi& api);
// /v1/backups...: backups, restores, drills and their jobs (backup_api.cc).
void AddBackupRoutes(http::Router& router, const VaultApi& api);
// /v1/audit...: the audit trail's entries, checkpoint, proofs and value hashes (audit_api.cc).
void AddAuditRoutes(http::Router& router, const VaultApi& api);
// /v1/keys...: the tenant's KEK versions, rotation and retirement (key_api.cc).
void AddKeyRoutes(http::Router& router, const VaultApi& api);
// /v1/privacy/requests...: the log of data-subject requests (privacy_api.cc).
void AddPrivacyRoutes(http::Router& router, const VaultApi& api);
// /v1/retention...: the tenant's retention rules and passes (retention_api.cc).
void AddRetentionRoutes(http::Router& router, const VaultApi& api);
// GET /v1/subjects/{id}/export: the subject's signed, streamed archive (subject_export.cc).
void AddExportRoute(http::Router& router, const VaultApi& api);

// limit and cursor from a parsed query string.
Result<records::Page> PageFrom(const std::vector<std::pair<std::string, std::string>>& query);

// Query strings ("limit=10&cursor=abc"), percent-decoded. invalid_argument for bad escapes,
// repeated or unknown parameters (those not in `allowed`).
Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query, std::initializer_list<std::string_view> allowed);

}  // namespace strongroom::api
