#pragma once
// The built-in access policy: what every tenant has until it stores its own (PUT /v1/policy).
// docs/policy.md explains it rule by rule; GET /v1/policy shows it on a tenant without one.

#include <string_view>

namespace strongroom::policy {

inline constexpr std::string_view kBuiltInPolicy = R"toml(# Strongroom's built-in access policy.
# Roles: admin and operator run the vault, auditor reads the audit trail, dpo answers data
# subjects' requests, app is what applications' service accounts hold ("service" is the name
# vaults gave applications before policies existed, kept as its alias).
# Guardrails no document can change: whoever holds admin or operator sees at most masked values
# of confidential and restricted fields, never reads activity events or documents, and never
# reads the audit trail; auditor grants nothing but the audit trail.

purposes = ["support", "billing", "analytics", "legal", "subject-request", "security"]
require_purpose = false

[[rule]]
name = "administrators run the vault"
effect = "allow"
roles = ["admin"]
actions = ["manage-schema", "manage-principals", "manage-keys", "manage-tenants", "manage-policy"]

[[rule]]
name = "operators run the vault but do not change the policy"
effect = "allow"
roles = ["operator"]
actions = ["manage-schema", "manage-principals", "manage-keys"]

[[rule]]
name = "administrators and operators handle records (masked by the guardrail)"
effect = "allow"
roles = ["admin", "operator"]
actions = ["read", "search", "create", "update", "delete"]
view = "plain"

[[rule]]
name = "applications read and write their tenant's data"
effect = "allow"
roles = ["app", "service"]
actions = ["read", "search", "create", "update", "delete", "export"]
view = "plain"

[[rule]]
name = "applications tokenize values (detokenizing needs a rule of the tenant's own)"
effect = "allow"
roles = ["app", "service"]
actions = ["tokenize"]
collections = ["@tokens"]

[[rule]]
name = "auditors and data-protection officers read the audit trail"
effect = "allow"
roles = ["auditor", "dpo"]
actions = ["read-audit"]

[[rule]]
name = "data-protection officers keep the log of data subjects' requests"
effect = "allow"
roles = ["dpo"]
actions = ["manage-requests"]

[[rule]]
name = "data-protection officers answer data subjects' requests"
effect = "allow"
roles = ["dpo"]
actions = ["read", "search", "export"]
purposes = ["subject-request"]
view = "plain"
)toml";

}  // namespace strongroom::policy
