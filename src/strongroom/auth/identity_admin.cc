// IdentityService, part two: the administration of principals, their API tokens and sessions.
// Part one (identity.cc) holds the directory's keys and formats, authentication and sign-in.

#include <algorithm>
#include <array>
#include <chrono>

#include "strongroom/auth/identity.h"
#include "strongroom/auth/identity_internal.h"
#include "strongroom/base/blocking.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"

namespace strongroom::auth {

using identity_detail::Directory;
using identity_detail::kPrincipalsSpace;
using identity_detail::kScopes;
using identity_detail::kTokenPrefix;
using identity_detail::kTokensSpace;
using identity_detail::NewHash;
using identity_detail::PrincipalRecord;
using identity_detail::RandomHex;
using identity_detail::ReplacePrincipal;
using identity_detail::StoredPrincipal;
using identity_detail::StoredToken;
using identity_detail::ToBytes;
using identity_detail::TokenRecord;
using identity_detail::TokenView;
using identity_detail::UnixSeconds;
using identity_detail::ValidateRoles;
using identity_detail::ValidateUsername;
using identity_detail::WithLock;

// ---- Administration

Result<PrincipalInfo> IdentityService::CreatePrincipal(const NewPrincipal& request) {
  if (auto valid = ValidateUsername(request.username); !valid)
    return std::unexpected(valid.error());
  if (auto valid = ValidateRoles(request.roles); !valid) return std::unexpected(valid.error());
  if (request.tenant.empty()) return FailAt("$.tenant", "required", "is required");
  std::string hash;
  if (request.password) {
    if (request.kind == PrincipalKind::kService) {
      return FailAt("$.password", "not_allowed",
                    "service accounts have no password: issue them API tokens");
    }
    auto checked = policy_.Check(*request.password, request.username,
                                 std::array{std::string_view(request.tenant)});
    if (!checked) return std::unexpected(checked.error());
    if (!MayBlock()) return std::unexpected(WouldBlock("Argon2id"));
    auto dir = Current();
    if (!dir) return std::unexpected(dir.error());
    auto hashed = NewHash(**dir, std::move(*checked), settings_);
    if (!hashed) return std::unexpected(hashed.error());
    hash = std::move(*hashed);
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  StoredPrincipal p;
  p.name_key = (*dir)->NameKey(request.username);
  {
    std::shared_lock lock(mu_);
    if ((*dir)->by_name.contains(p.name_key)) {
      Error exists(ErrorCode::kAlreadyExists, "a principal with this username exists");
      exists.At("$.username", "unique");
      return std::unexpected(std::move(exists));
    }
  }
  p.info.id = "prn_" + RandomHex(8);
  p.info.tenant = request.tenant;
  p.info.kind = request.kind;
  p.info.username = request.username;
  p.info.roles = request.roles;
  p.info.must_change_password = !hash.empty();
  p.info.has_password = !hash.empty();
  p.info.created_at = FormatRfc3339(settings_.wall_clock());
  p.info.updated_at = p.info.created_at;
  p.password = std::move(hash);
  p.peppered = settings_.pepper;
  auto sealed = (*dir)->SealUsername(p.info.id, p.info.username);
  if (!sealed) return std::unexpected(sealed.error());
  storage::WriteBatch batch;
  batch.Put(kPrincipalsSpace, p.info.id, ToBytes(PrincipalRecord(p, *sealed)));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  PrincipalInfo info = p.info;
  {
    std::unique_lock lock(mu_);
    (*dir)->by_name.emplace(p.name_key, p.info.id);
    (*dir)->principals.emplace(p.info.id, std::move(p));
  }
  observe::Info(
      "security.principal_created",
      {{"principal", info.id}, {"tenant", info.tenant}, {"kind", PrincipalKindName(info.kind)}});
  return info;
}

Result<std::vector<PrincipalInfo>> IdentityService::ListPrincipals(std::string_view tenant_scope) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  const auto now = settings_.steady_clock();
  std::vector<PrincipalInfo> out;
  std::shared_lock lock(mu_);
  for (const auto& [id, p] : (*dir)->principals) {
    if (tenant_scope.empty() || p.info.tenant == tenant_scope) {
      out.push_back(WithLock(**dir, p, account_throttle_, now));
    }
  }
  return out;
}

Result<PrincipalInfo> IdentityService::GetPrincipal(std::string_view id,
                                                    std::string_view tenant_scope) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::shared_lock lock(mu_);
  auto it = (*dir)->principals.find(id);
  if (it == (*dir)->principals.end() ||
      (!tenant_scope.empty() && it->second.info.tenant != tenant_scope)) {
    return Fail(ErrorCode::kNotFound, "no such principal");
  }
  return WithLock(**dir, it->second, account_throttle_, settings_.steady_clock());
}

Result<PrincipalInfo> IdentityService::UpdatePrincipal(std::string_view id,
                                                       std::string_view tenant_scope,
                                                       const PrincipalChange& change) {
  if (change.roles) {
    if (auto valid = ValidateRoles(*change.roles); !valid) return std::unexpected(valid.error());
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  PrincipalInfo before;
  auto replaced = ReplacePrincipal(
      mu_, metadata_, **dir, id, tenant_scope, [&](StoredPrincipal& p) -> Result<bool> {
        before = p.info;
        bool end_sessions = false;
        if (change.roles && *change.roles != p.info.roles) {
          p.info.roles = *change.roles;
          end_sessions = true;  // privileges changed: sign in again to get the new ones
        }
        if (change.disabled) {
          end_sessions = end_sessions || (*change.disabled && !p.info.disabled);
          p.info.disabled = *change.disabled;
        }
        p.info.updated_at = FormatRfc3339(settings_.wall_clock());
        return end_sessions;
      });
  if (!replaced) return std::unexpected(replaced.error());
  if (change.disabled && *change.disabled != before.disabled) {
    if (*change.disabled) {
      observe::Warn("security.principal_disabled", {{"principal", id}});
    } else {
      observe::Warn("security.principal_enabled", {{"principal", id}});
    }
  }
  if (change.roles && *change.roles != before.roles) {
    observe::Warn("security.principal_roles_changed", {{"principal", id}});
  }
  std::shared_lock lock(mu_);  // WithLock reads the tenant's two-factor policy
  return WithLock(**dir, *replaced, account_throttle_, settings_.steady_clock());
}

Result<void> IdentityService::DeletePrincipal(std::string_view id, std::string_view tenant_scope) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  storage::WriteBatch batch;
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(id);
    if (it == (*dir)->principals.end() ||
        (!tenant_scope.empty() && it->second.info.tenant != tenant_scope)) {
      return Fail(ErrorCode::kNotFound, "no such principal");
    }
    batch.Delete(kPrincipalsSpace, id);
    for (const auto& [key, t] : (*dir)->tokens) {
      if (t->info.principal_id == id) batch.Delete(kTokensSpace, key);
    }
  }
  if (auto written = metadata_.Write(std::move(batch)); !written) return written;
  std::unique_lock lock(mu_);
  auto it = (*dir)->principals.find(id);
  (*dir)->by_name.erase(it->second.name_key);
  (*dir)->principals.erase(it);
  std::erase_if((*dir)->tokens, [&](const auto& kv) { return kv.second->info.principal_id == id; });
  DropSessionsLocked(**dir, id);
  std::erase_if((*dir)->pending_sign_ins,
                [&](const auto& kv) { return kv.second.principal_id == id; });
  observe::Warn("security.principal_deleted", {{"principal", id}});
  return {};
}

Result<void> IdentityService::ResetPassword(std::string_view id, std::string_view tenant_scope,
                                            std::string_view password) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::string username, tenant;
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(id);
    if (it == (*dir)->principals.end() ||
        (!tenant_scope.empty() && it->second.info.tenant != tenant_scope)) {
      return Fail(ErrorCode::kNotFound, "no such principal");
    }
    if (it->second.info.kind == PrincipalKind::kService) {
      return Fail(ErrorCode::kFailedPrecondition, "service accounts have no password");
    }
    username = it->second.info.username;
    tenant = it->second.info.tenant;
  }
  auto checked = policy_.Check(password, username, std::array{std::string_view(tenant)});
  if (!checked) return std::unexpected(checked.error());
  if (!MayBlock()) return std::unexpected(WouldBlock("Argon2id"));
  auto hashed = NewHash(**dir, std::move(*checked), settings_);
  if (!hashed) return std::unexpected(hashed.error());
  std::lock_guard writer(write_mu_);
  auto replaced = ReplacePrincipal(mu_, metadata_, **dir, id, tenant_scope,
                                   [&](StoredPrincipal& p) -> Result<bool> {
                                     p.password = std::move(*hashed);
                                     p.peppered = settings_.pepper;
                                     p.info.has_password = true;
                                     p.info.must_change_password = true;
                                     p.info.updated_at = FormatRfc3339(settings_.wall_clock());
                                     return true;
                                   });
  if (!replaced) return std::unexpected(replaced.error());
  observe::Warn("security.password_reset", {{"principal", id}});
  return {};
}

Result<bool> IdentityService::Unlock(std::string_view id, std::string_view tenant_scope) {
  auto principal = GetPrincipal(id, tenant_scope);
  if (!principal) return std::unexpected(principal.error());
  std::string name_key;
  {
    auto dir = Current();
    if (!dir) return std::unexpected(dir.error());
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(id);
    if (it == (*dir)->principals.end()) return Fail(ErrorCode::kNotFound, "no such principal");
    name_key = it->second.name_key;
  }
  const bool was_locked = account_throttle_.Unlock(name_key, settings_.steady_clock());
  observe::Warn("security.account_unlocked", {{"principal", id}, {"was_locked", was_locked}});
  return was_locked;
}

Result<IdentityService::IssuedToken> IdentityService::IssueToken(const NewToken& request,
                                                                 std::string_view tenant_scope) {
  if (request.name.empty()) return FailAt("$.name", "required", "must not be empty");
  if (request.name.size() > 100) return FailAt("$.name", "max_length", "must be at most 100 bytes");
  for (unsigned char c : request.name) {
    if (c < 0x20 || c == 0x7F) return FailAt("$.name", "format", "contains control characters");
  }
  std::vector<std::string> scopes = request.scopes;
  if (scopes.empty()) scopes.assign(std::begin(kScopes), std::end(kScopes));
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    const std::string path = "$.scopes[" + std::to_string(i) + "]";
    if (std::find(std::begin(kScopes), std::end(kScopes), scopes[i]) == std::end(kScopes)) {
      return FailAt(path, "enum", "must be one of: admin, data:read, data:write");
    }
    if (std::find(scopes.begin(), scopes.begin() + static_cast<std::ptrdiff_t>(i), scopes[i]) !=
        scopes.begin() + static_cast<std::ptrdiff_t>(i)) {
      return FailAt(path, "unique", "repeats an earlier scope");
    }
  }
  const auto now = settings_.wall_clock();
  if (request.expires_at && *request.expires_at <= now) {
    return FailAt("$.expires_in_seconds", "minimum", "the expiry must be in the future");
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  auto t = std::make_unique<StoredToken>();
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(request.principal_id);
    if (it == (*dir)->principals.end() ||
        (!tenant_scope.empty() && it->second.info.tenant != tenant_scope)) {
      return Fail(ErrorCode::kNotFound, "no such principal");
    }
    t->info.tenant = it->second.info.tenant;
  }
  auto random = crypto::RandomSecret(32);
  if (!random) return std::unexpected(random.error());
  IssuedToken issued;
  issued.token = SecretBytes(
      std::string_view(std::string(kTokenPrefix) + crypto::Base64UrlEncode(random->reveal())));
  const std::string key = (*dir)->TokenKey(issued.token.reveal_as_text());
  t->info.token_id = "tok_" + key.substr(0, 12);
  t->info.principal_id = request.principal_id;
  t->info.name = request.name;
  t->info.scopes = std::move(scopes);
  t->info.created_at = FormatRfc3339(now);
  t->expires_unix = request.expires_at ? UnixSeconds(*request.expires_at) : 0;
  storage::WriteBatch batch;
  batch.Put(kTokensSpace, key, ToBytes(TokenRecord(*t)));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  issued.info = TokenView(*t, UnixSeconds(now));
  {
    std::unique_lock lock(mu_);
    (*dir)->tokens.emplace(key, std::move(t));
  }
  observe::Info("security.token_created", {{"token_id", issued.info.token_id},
                                           {"principal", issued.info.principal_id},
                                           {"tenant", issued.info.tenant}});
  return issued;
}

Result<std::vector<TokenInfo>> IdentityService::ListTokens(std::string_view tenant_scope,
                                                           std::string_view principal_id) {
  std::vector<TokenInfo> out;
  if (tenant_scope.empty() && (principal_id.empty() || principal_id == kBootstrapPrincipalId)) {
    TokenInfo bootstrap;
    bootstrap.token_id = bootstrap_token_id_;
    bootstrap.principal_id = std::string(kBootstrapPrincipalId);
    bootstrap.tenant = std::string(kDefaultTenant);
    bootstrap.name = "bootstrap-admin";
    bootstrap.scopes.assign(std::begin(kScopes), std::end(kScopes));
    bootstrap.created_at = bootstrap_created_at_;
    out.push_back(std::move(bootstrap));
  }
  if (principal_id == kBootstrapPrincipalId) return out;
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  const std::int64_t now = UnixSeconds(settings_.wall_clock());
  std::shared_lock lock(mu_);
  for (const auto& [key, t] : (*dir)->tokens) {
    if ((tenant_scope.empty() || t->info.tenant == tenant_scope) &&
        (principal_id.empty() || t->info.principal_id == principal_id)) {
      out.push_back(TokenView(*t, now));
    }
  }
  return out;
}

Result<void> IdentityService::RevokeToken(std::string_view token_id,
                                          std::string_view tenant_scope) {
  if (token_id == bootstrap_token_id_ && tenant_scope.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the bootstrap admin token cannot be revoked through the API");
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  std::string key;
  std::string principal;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, t] : (*dir)->tokens) {
      if (t->info.token_id == token_id &&
          (tenant_scope.empty() || t->info.tenant == tenant_scope)) {
        key = k;
        principal = t->info.principal_id;
      }
    }
  }
  if (key.empty()) return Fail(ErrorCode::kNotFound, "no such token");
  storage::WriteBatch batch;
  batch.Delete(kTokensSpace, key);
  if (auto written = metadata_.Write(std::move(batch)); !written) return written;
  {
    std::unique_lock lock(mu_);
    (*dir)->tokens.erase(key);
  }
  observe::Warn("security.token_revoked", {{"token_id", token_id}, {"principal", principal}});
  return {};
}

Result<std::vector<SessionInfo>> IdentityService::ListSessions(std::string_view principal_id,
                                                               std::string_view tenant_scope) {
  if (auto p = GetPrincipal(principal_id, tenant_scope); !p) return std::unexpected(p.error());
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::vector<SessionInfo> out;
  const auto now = settings_.wall_clock();
  std::shared_lock lock(mu_);
  for (const auto& [key, s] : (*dir)->sessions) {
    if (s->principal_id != principal_id) continue;
    const auto seen =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(s->last_seen_ms.load()));
    const auto deadline = std::min(seen + settings_.session_idle_timeout, s->absolute_deadline);
    if (now >= deadline) continue;
    SessionInfo info;
    info.session_id = s->id;
    info.principal_id = s->principal_id;
    info.created_at = FormatRfc3339(s->created);
    info.last_seen_at = FormatRfc3339(seen);
    info.expires_at = FormatRfc3339(deadline);
    info.password_change_only = s->password_change_only;
    out.push_back(std::move(info));
  }
  return out;
}

Result<void> IdentityService::RevokeSession(std::string_view principal_id,
                                            std::string_view session_id,
                                            std::string_view tenant_scope) {
  if (auto p = GetPrincipal(principal_id, tenant_scope); !p) return std::unexpected(p.error());
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::unique_lock lock(mu_);
  const std::size_t ended = std::erase_if((*dir)->sessions, [&](const auto& kv) {
    return kv.second->id == session_id && kv.second->principal_id == principal_id;
  });
  if (ended == 0) return Fail(ErrorCode::kNotFound, "no such session");
  observe::Warn("security.session_revoked", {{"principal", principal_id}, {"session", session_id}});
  return {};
}

}  // namespace strongroom::auth
