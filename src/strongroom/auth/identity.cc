#include "strongroom/auth/identity.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>

#include "strongroom/auth/credential_parsing.h"
#include "strongroom/auth/identity_internal.h"
#include "strongroom/base/blocking.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/aead.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/password_hash.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"

namespace strongroom::auth {

using identity_detail::Directory;
using identity_detail::kPrincipalsSpace;
using identity_detail::kScopes;
using identity_detail::kTokenPrefix;
using identity_detail::kTokensSpace;
using identity_detail::kTwoFactorPoliciesSpace;
using identity_detail::LiveSession;
using identity_detail::NewHash;
using identity_detail::RandomHex;
using identity_detail::ReplacePrincipal;
using identity_detail::StoredPrincipal;
using identity_detail::StoredToken;
using identity_detail::ToBytes;
using identity_detail::TokenRecord;
using identity_detail::UnixSeconds;

namespace {

namespace json = boost::json;
using std::chrono::system_clock;

constexpr std::size_t kMaxUsernameBytes = 128;
constexpr std::size_t kMaxPasswordBytes = 4096;  // far above the policy's 128 characters
constexpr std::size_t kMaxTokenBytes = 200;
constexpr std::int64_t kLastUsePersistSeconds = 60;
constexpr std::array<std::string_view, 6> kResults = {"ok",        "refused", "locked",
                                                      "malformed", "expired", "csrf"};

// One answer for every credential that does not prove who the caller is.
Error Refusal() {
  return Error(ErrorCode::kUnauthenticated,
               "authentication failed: send a valid API token (Authorization: Bearer), Basic "
               "credentials, or sign in (POST /v1/auth/login)");
}
Error SignInRefusal() {
  return Error(ErrorCode::kUnauthenticated,
               "sign-in failed: the username or password is wrong, or sign-in is temporarily "
               "locked after too many failures");
}
Error SealedError() { return Error(ErrorCode::kSealed, "the vault is sealed; unseal it first"); }

std::string Hex(const crypto::Sha256Digest& d) { return crypto::HexEncode(d); }
std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Result<std::string> RandomText(std::size_t bytes) {
  auto secret = crypto::RandomSecret(bytes);
  if (!secret) return std::unexpected(secret.error());
  return crypto::Base64UrlEncode(secret->reveal());
}

std::string Rfc3339OrEmpty(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return {};
  return FormatRfc3339(system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

json::array JsonStrings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& s : items) out.emplace_back(s);
  return out;
}
std::vector<std::string> StringsFrom(const json::value* v) {
  std::vector<std::string> out;
  if (v != nullptr && v->is_array()) {
    for (const auto& item : v->get_array()) {
      if (item.is_string()) out.emplace_back(item.get_string());
    }
  }
  return out;
}
std::string TextOf(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}
bool BoolOf(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}
std::int64_t IntOf(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->get_int64() : 0;
}

std::int64_t Millis(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string IdentityService::Directory::NameKey(std::string_view username) const {
  std::string lower(username);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  auto mac = name_mac->Compute(Bytes(lower));
  return mac ? Hex(*mac) : std::string();
}

std::string IdentityService::Directory::TokenKey(std::string_view token) const {
  auto mac = token_mac->Compute(Bytes(token));
  return mac ? Hex(*mac) : std::string();
}

namespace {

// base64(nonce | AES-256-GCM(plain) | tag) under the directory's secrets key, bound to `aad`.
Result<std::string> SealBytes(Directory& dir, const std::string& aad,
                              std::span<const std::uint8_t> plain) {
  std::vector<std::uint8_t> out(crypto::Aes256Gcm::kNonceSize + plain.size() +
                                crypto::Aes256Gcm::kTagSize);
  auto nonce = std::span(out).first<crypto::Aes256Gcm::kNonceSize>();
  if (auto drawn = crypto::NextNonce(nonce); !drawn) return std::unexpected(drawn.error());
  std::lock_guard lock(dir.secrets_mu);
  if (auto sealed = dir.secrets->Seal(nonce, Bytes(aad), plain,
                                      std::span(out).subspan(crypto::Aes256Gcm::kNonceSize));
      !sealed) {
    return std::unexpected(sealed.error());
  }
  return crypto::Base64Encode(out);
}

// Opens what SealBytes made into `plain` (sized by the caller from the sealed length).
Result<void> OpenBytes(Directory& dir, const std::string& aad, std::string_view sealed_b64,
                       const std::function<std::span<std::uint8_t>(std::size_t)>& plain_of) {
  auto sealed = crypto::Base64Decode(sealed_b64);
  constexpr std::size_t kOverhead = crypto::Aes256Gcm::kNonceSize + crypto::Aes256Gcm::kTagSize;
  if (!sealed || sealed->size() <= kOverhead) {
    return Fail(ErrorCode::kDataLoss, "a stored principal's sealed value is malformed");
  }
  const std::span<std::uint8_t> plain = plain_of(sealed->size() - kOverhead);
  std::lock_guard lock(dir.secrets_mu);
  return dir.secrets->Open(std::span(*sealed).first<crypto::Aes256Gcm::kNonceSize>(), Bytes(aad),
                           std::span(*sealed).subspan(crypto::Aes256Gcm::kNonceSize), plain);
}

}  // namespace

Result<std::string> IdentityService::Directory::SealUsername(const std::string& id,
                                                             std::string_view username) {
  return SealBytes(*this, "strongroom/principal-username/v1/" + id, Bytes(username));
}

Result<std::string> IdentityService::Directory::OpenUsername(const std::string& id,
                                                             std::string_view sealed_b64) {
  std::string plain;
  auto opened = OpenBytes(*this, "strongroom/principal-username/v1/" + id, sealed_b64,
                          [&](std::size_t size) {
                            plain.assign(size, '\0');
                            return std::span(reinterpret_cast<std::uint8_t*>(plain.data()), size);
                          });
  if (!opened) return std::unexpected(opened.error());
  return plain;
}

Result<std::string> IdentityService::Directory::SealTotpSecret(
    const std::string& id, std::span<const std::uint8_t> secret) {
  return SealBytes(*this, "strongroom/principal-totp/v1/" + id, secret);
}

Result<SecretBytes> IdentityService::Directory::OpenTotpSecret(const std::string& id,
                                                               std::string_view sealed_b64) {
  SecretBytes plain;
  auto opened = OpenBytes(*this, "strongroom/principal-totp/v1/" + id, sealed_b64,
                          [&](std::size_t size) {
                            plain = SecretBytes(size);
                            return plain.mutable_bytes();
                          });
  if (!opened) return std::unexpected(opened.error());
  return plain;
}

std::string IdentityService::Directory::RecoveryKey(std::string_view principal_id,
                                                    std::string_view normalised_code) const {
  std::string input(principal_id);
  input.push_back(':');
  input.append(normalised_code);
  auto mac = recovery_mac->Compute(Bytes(input));
  return mac ? Hex(*mac) : std::string();
}

bool IdentityService::Directory::TwoFactorRequired(const StoredPrincipal& p) const {
  if (p.info.kind != PrincipalKind::kUser) return false;
  auto it = two_factor_policies.find(p.info.tenant);
  if (it == two_factor_policies.end()) return false;
  if (it->second.all_users) return true;
  return std::any_of(p.info.roles.begin(), p.info.roles.end(), [&](const std::string& role) {
    return std::find(it->second.roles.begin(), it->second.roles.end(), role) !=
           it->second.roles.end();
  });
}

namespace {

// The password as Argon2id sees it: the NFKC text, or its HMAC under the pepper key.
Result<SecretBytes> Prepared(const Directory& dir, SecretBytes normalised, bool peppered) {
  if (!peppered) return normalised;
  auto mac = dir.pepper_mac->Compute(normalised.reveal());
  if (!mac) return std::unexpected(mac.error());
  SecretBytes out{std::span<const std::uint8_t>(*mac)};
  std::fill(mac->begin(), mac->end(), 0);
  return out;
}

}  // namespace

namespace identity_detail {

std::string RandomHex(std::size_t bytes) {
  std::vector<std::uint8_t> raw(bytes);
  (void)crypto::FillRandom(raw);  // fails only without a kernel CSPRNG; ids need not be secret
  return crypto::HexEncode(raw);
}

std::int64_t UnixSeconds(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

storage::Bytes ToBytes(const std::string& s) { return storage::Bytes(s.begin(), s.end()); }

// A new stored hash for a password the policy accepted (NFKC), with the current settings.
Result<std::string> NewHash(const Directory& dir, SecretBytes normalised,
                            const IdentitySettings& settings) {
  auto prepared = Prepared(dir, std::move(normalised), settings.pepper);
  if (!prepared) return std::unexpected(prepared.error());
  return crypto::HashPassword(prepared->reveal_as_text(), settings.argon2);
}

std::string PrincipalRecord(const StoredPrincipal& p, const std::string& sealed_username) {
  json::object o{{"v", 1},
                 {"id", p.info.id},
                 {"tenant", p.info.tenant},
                 {"kind", PrincipalKindName(p.info.kind)},
                 {"username", sealed_username},
                 {"roles", JsonStrings(p.info.roles)},
                 {"disabled", p.info.disabled},
                 {"must_change_password", p.info.must_change_password},
                 {"created_at", p.info.created_at},
                 {"updated_at", p.info.updated_at}};
  if (!p.password.empty()) {
    o["password"] = p.password;
    o["pepper"] = p.peppered;
  }
  if (!p.totp_secret.empty()) {
    o["totp"] = json::object{{"secret", p.totp_secret},
                             {"last_step", p.totp_last_step},
                             {"enrolled_at", p.totp_enrolled_at}};
    o["recovery_codes"] = JsonStrings(p.recovery_codes);
  }
  if (!p.pending_totp_secret.empty()) {
    o["totp_pending"] = json::object{{"secret", p.pending_totp_secret},
                                     {"started_unix", p.pending_totp_started_unix}};
  }
  return json::serialize(o);
}

std::string TwoFactorPolicyRecord(const TwoFactorPolicy& policy) {
  return json::serialize(json::object{{"v", 1},
                                      {"tenant", policy.tenant},
                                      {"all_users", policy.all_users},
                                      {"roles", JsonStrings(policy.roles)},
                                      {"updated_at", policy.updated_at}});
}

std::string TokenRecord(const StoredToken& t) {
  json::object o{{"v", 1},
                 {"token_id", t.info.token_id},
                 {"principal", t.info.principal_id},
                 {"tenant", t.info.tenant},
                 {"name", t.info.name},
                 {"scopes", JsonStrings(t.info.scopes)},
                 {"created_at", t.info.created_at},
                 {"expires_unix", t.expires_unix},
                 {"last_used_unix", t.last_used_unix.load(std::memory_order_relaxed)}};
  return json::serialize(o);
}

// Applies `change` to a copy of principal `id` (not_found outside `tenant_scope`), writes the
// copy, and only then puts it in the directory, ending the principal's sessions when `change`
// answers true: readers never see a state the store does not hold. The caller holds the
// service's writer mutex, so the copy cannot go stale between the read and the swap.
Result<StoredPrincipal> ReplacePrincipal(
    std::shared_mutex& mu, storage::Store& store, Directory& dir, std::string_view id,
    std::string_view tenant_scope, const std::function<Result<bool>(StoredPrincipal&)>& change) {
  StoredPrincipal copy;
  {
    std::shared_lock lock(mu);
    auto it = dir.principals.find(id);
    if (it == dir.principals.end() ||
        (!tenant_scope.empty() && it->second.info.tenant != tenant_scope)) {
      return Fail(ErrorCode::kNotFound, "no such principal");
    }
    copy = it->second;
  }
  auto end_sessions = change(copy);
  if (!end_sessions) return std::unexpected(end_sessions.error());
  auto sealed = dir.SealUsername(copy.info.id, copy.info.username);
  if (!sealed) return std::unexpected(sealed.error());
  storage::WriteBatch batch;
  batch.Put(kPrincipalsSpace, copy.info.id, ToBytes(PrincipalRecord(copy, *sealed)));
  if (auto written = store.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  std::unique_lock lock(mu);
  dir.principals.insert_or_assign(copy.info.id, copy);
  if (*end_sessions) {  // and every open sign-in challenge: it was made under the old state
    std::erase_if(dir.sessions, [&](const auto& kv) { return kv.second->principal_id == id; });
    std::erase_if(dir.pending_sign_ins,
                  [&](const auto& kv) { return kv.second.principal_id == id; });
  }
  return copy;
}

PrincipalInfo WithLock(const Directory& dir, const StoredPrincipal& p,
                       const FailureThrottle& throttle, FailureThrottle::Clock::time_point now) {
  PrincipalInfo info = p.info;
  info.locked = throttle.LockedFor(p.name_key, now) > FailureThrottle::Clock::duration::zero();
  info.two_factor_enabled = !p.totp_secret.empty();
  info.two_factor_required = dir.TwoFactorRequired(p);
  info.recovery_codes_remaining = static_cast<int>(p.recovery_codes.size());
  return info;
}

TokenInfo TokenView(const StoredToken& t, std::int64_t now_unix) {
  TokenInfo info = t.info;
  info.expires_at = Rfc3339OrEmpty(t.expires_unix);
  info.last_used_at = Rfc3339OrEmpty(t.last_used_unix.load(std::memory_order_relaxed));
  info.expired = t.expires_unix != 0 && now_unix >= t.expires_unix;
  return info;
}

// Usernames: 1-128 of [A-Za-z0-9._@+-] (an email address fits; ':' cannot, as Basic needs).
// Compared case-insensitively.
Result<void> ValidateUsername(std::string_view name) {
  if (name.empty()) return FailAt("$.username", "required", "must not be empty");
  if (name.size() > kMaxUsernameBytes) {
    return FailAt("$.username", "max_length", "must be at most 128 characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
    if (!ok) {
      return FailAt("$.username", "format",
                    "may contain only letters, digits and . _ @ + - (no spaces or ':')");
    }
  }
  return {};
}

Result<void> ValidateRoles(const std::vector<std::string>& roles) {
  if (roles.empty()) return FailAt("$.roles", "min_items", "needs at least one role");
  if (roles.size() > 16) return FailAt("$.roles", "max_items", "at most 16 roles");
  for (std::size_t i = 0; i < roles.size(); ++i) {
    const std::string path = "$.roles[" + std::to_string(i) + "]";
    const std::string& r = roles[i];
    bool ok = !r.empty() && r.size() <= 32 && r[0] >= 'a' && r[0] <= 'z';
    for (char c : r)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    if (!ok) return FailAt(path, "format", "a role is 1-32 of a-z 0-9 _ - starting with a letter");
    for (std::size_t j = 0; j < i; ++j) {
      if (roles[j] == r) return FailAt(path, "unique", "repeats an earlier role");
    }
  }
  return {};
}

}  // namespace identity_detail

namespace {

Result<SecretBytes> Derive(const SecretBytes& root, std::string_view purpose) {
  const std::string info = "strongroom/identity/" + std::string(purpose) + "/v1";
  return crypto::HkdfSha256(root.reveal(), {}, Bytes(info), 32);
}

Result<json::object> ParseRecord(const storage::Bytes& value) {
  boost::system::error_code ec;
  json::value v =
      json::parse(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()), ec);
  if (ec || !v.is_object())
    return Fail(ErrorCode::kDataLoss, "a stored identity record is malformed");
  return std::move(v.get_object());
}

Result<std::vector<storage::Entry>> ScanAll(storage::Store& store, std::string_view space) {
  std::vector<storage::Entry> all;
  std::string after;
  for (;;) {
    auto page = store.Scan(space, after, 512);
    if (!page) return std::unexpected(page.error());
    for (auto& entry : *page) {
      after = entry.key;
      all.push_back(std::move(entry));
    }
    if (page->size() < 512) return all;
  }
}

Result<std::shared_ptr<Directory>> LoadDirectory(storage::Store& metadata,
                                                 const std::shared_ptr<barrier::VaultKeys>& keys) {
  auto root = keys->keyring->SystemKey("identity");
  if (!root) return std::unexpected(root.error());
  auto dir = std::make_shared<Directory>();
  dir->owner = keys;
  auto pepper = Derive(*root, "pepper");
  auto name = Derive(*root, "username-index");
  auto token = Derive(*root, "token-hash");
  auto secrets = Derive(*root, "secrets");
  auto recovery = Derive(*root, "recovery-codes");
  if (!pepper || !name || !token || !secrets || !recovery)
    return Fail(ErrorCode::kInternal, "key derivation failed");
  auto pepper_mac = crypto::HmacSha256::Create(pepper->reveal());
  auto name_mac = crypto::HmacSha256::Create(name->reveal());
  auto token_mac = crypto::HmacSha256::Create(token->reveal());
  auto recovery_mac = crypto::HmacSha256::Create(recovery->reveal());
  auto cipher = crypto::Aes256Gcm::Create(secrets->reveal());
  if (!pepper_mac || !name_mac || !token_mac || !recovery_mac || !cipher) {
    return Fail(ErrorCode::kInternal, "identity key setup failed");
  }
  dir->pepper_mac.emplace(std::move(*pepper_mac));
  dir->name_mac.emplace(std::move(*name_mac));
  dir->token_mac.emplace(std::move(*token_mac));
  dir->recovery_mac.emplace(std::move(*recovery_mac));
  dir->secrets.emplace(std::move(*cipher));

  auto principals = ScanAll(metadata, kPrincipalsSpace);
  if (!principals) return std::unexpected(principals.error());
  for (const auto& entry : *principals) {
    auto o = ParseRecord(entry.value);
    if (!o) return std::unexpected(o.error());
    StoredPrincipal p;
    p.info.id = TextOf(*o, "id");
    if (p.info.id != entry.key)
      return Fail(ErrorCode::kDataLoss, "a stored principal is misplaced");
    p.info.tenant = TextOf(*o, "tenant");
    p.info.kind = TextOf(*o, "kind") == "service" ? PrincipalKind::kService : PrincipalKind::kUser;
    auto username = dir->OpenUsername(p.info.id, TextOf(*o, "username"));
    if (!username) return std::unexpected(username.error());
    p.info.username = std::move(*username);
    p.info.roles = StringsFrom(o->if_contains("roles"));
    p.info.disabled = BoolOf(*o, "disabled");
    p.info.must_change_password = BoolOf(*o, "must_change_password");
    p.info.created_at = TextOf(*o, "created_at");
    p.info.updated_at = TextOf(*o, "updated_at");
    p.password = TextOf(*o, "password");
    p.peppered = BoolOf(*o, "pepper");
    p.info.has_password = !p.password.empty();
    if (const auto* totp = o->if_contains("totp"); totp != nullptr && totp->is_object()) {
      p.totp_secret = TextOf(totp->get_object(), "secret");
      p.totp_enrolled_at = TextOf(totp->get_object(), "enrolled_at");
      const auto* step = totp->get_object().if_contains("last_step");
      if (p.totp_secret.empty() || step == nullptr || !step->is_int64()) {
        // Without its last step a factor would accept used codes again: refuse to guess.
        return Fail(ErrorCode::kDataLoss, "a stored second factor is malformed");
      }
      p.totp_last_step = step->get_int64();
      p.recovery_codes = StringsFrom(o->if_contains("recovery_codes"));
    }
    if (const auto* pending = o->if_contains("totp_pending");
        pending != nullptr && pending->is_object()) {
      p.pending_totp_secret = TextOf(pending->get_object(), "secret");
      p.pending_totp_started_unix = IntOf(pending->get_object(), "started_unix");
    }
    p.name_key = dir->NameKey(p.info.username);
    dir->by_name.emplace(p.name_key, p.info.id);
    dir->principals.emplace(p.info.id, std::move(p));
  }
  auto policies = ScanAll(metadata, kTwoFactorPoliciesSpace);
  if (!policies) return std::unexpected(policies.error());
  for (const auto& entry : *policies) {
    auto o = ParseRecord(entry.value);
    if (!o) return std::unexpected(o.error());
    TwoFactorPolicy policy;
    policy.tenant = entry.key;
    policy.all_users = BoolOf(*o, "all_users");
    policy.roles = StringsFrom(o->if_contains("roles"));
    policy.updated_at = TextOf(*o, "updated_at");
    dir->two_factor_policies.emplace(entry.key, std::move(policy));
  }
  auto tokens = ScanAll(metadata, kTokensSpace);
  if (!tokens) return std::unexpected(tokens.error());
  std::size_t older_format = 0;
  for (const auto& entry : *tokens) {
    auto o = ParseRecord(entry.value);
    if (!o) return std::unexpected(o.error());
    if (IntOf(*o, "v") != 1) {  // a token of the pre-principal format (no owner): not honoured
      ++older_format;
      continue;
    }
    auto t = std::make_unique<StoredToken>();
    t->info.token_id = TextOf(*o, "token_id");
    t->info.principal_id = TextOf(*o, "principal");
    t->info.tenant = TextOf(*o, "tenant");
    t->info.name = TextOf(*o, "name");
    t->info.scopes = StringsFrom(o->if_contains("scopes"));
    t->info.created_at = TextOf(*o, "created_at");
    t->expires_unix = IntOf(*o, "expires_unix");
    t->last_used_unix = IntOf(*o, "last_used_unix");
    t->persisted_unix = t->last_used_unix.load();
    dir->tokens.emplace(entry.key, std::move(t));
  }
  if (older_format > 0) {
    observe::Warn("security.tokens_ignored",
                  {{"count", older_format},
                   {"reason",
                    "tokens of the format before principals existed are not honoured; "
                    "issue new ones to principals"}});
  }
  return dir;
}

}  // namespace

std::string_view PrincipalKindName(PrincipalKind kind) {
  return kind == PrincipalKind::kService ? "service" : "user";
}

std::string_view AuthMethodName(AuthMethod method) {
  switch (method) {
    case AuthMethod::kBootstrap:
      return "bootstrap";
    case AuthMethod::kToken:
      return "token";
    case AuthMethod::kSession:
      return "session";
    case AuthMethod::kBasicPassword:
      return "basic_password";
    case AuthMethod::kBasicToken:
      return "basic_token";
  }
  return "token";
}

bool Caller::HasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}
bool Caller::HasScope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

IdentityService::IdentityService(storage::Store& metadata, barrier::SealState& seal,
                                 IdentitySettings settings, PasswordPolicy policy,
                                 observe::MetricsRegistry* metrics)
    : metadata_(metadata),
      seal_(seal),
      settings_(std::move(settings)),
      policy_(std::move(policy)),
      metrics_(metrics),
      account_throttle_(settings_.account_throttle),
      source_throttle_(settings_.source_throttle),
      totp_throttle_(settings_.totp_throttle) {
  InitSecondFactorMetrics();
  if (metrics_ == nullptr) return;
  for (std::size_t m = 0; m < attempts_.size(); ++m) {
    for (std::size_t r = 0; r < kResults.size(); ++r) {
      attempts_[m][r] = &metrics_->GetCounter(
          "strongroom_auth_attempts_total",
          "Authentication attempts by method and result (ok, refused, locked, malformed, "
          "expired, csrf)",
          {{"method", std::string(AuthMethodName(static_cast<AuthMethod>(m)))},
           {"result", std::string(kResults[r])}});
    }
  }
}

IdentityService::~IdentityService() = default;

Result<std::unique_ptr<IdentityService>> IdentityService::Open(
    storage::Store& metadata, barrier::SealState& seal, const std::filesystem::path& bootstrap_file,
    IdentitySettings settings, PasswordPolicy policy, observe::MetricsRegistry* metrics) {
  std::unique_ptr<IdentityService> service(
      new IdentityService(metadata, seal, std::move(settings), std::move(policy), metrics));
  std::ifstream in(bootstrap_file, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read the bootstrap admin file " + bootstrap_file.string());
  }
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  json::value bootstrap = json::parse(content, ec);
  const json::object* o = ec || !bootstrap.is_object() ? nullptr : &bootstrap.get_object();
  const std::string hash = o == nullptr ? std::string() : TextOf(*o, "token_sha256");
  auto decoded = crypto::HexDecode(hash);
  if (!decoded || decoded->size() != 32 || crypto::HexEncode(*decoded) != hash) {
    return Fail(ErrorCode::kDataLoss,
                "bootstrap admin file " + bootstrap_file.string() + " is malformed");
  }
  service->bootstrap_sha256_hex_ = hash;
  service->bootstrap_token_id_ = TextOf(*o, "token_id");
  if (service->bootstrap_token_id_.empty()) service->bootstrap_token_id_ = "tok_bootstrap";
  service->bootstrap_created_at_ = TextOf(*o, "created_at");
  auto dummy_password = RandomText(32);
  if (!dummy_password) return std::unexpected(dummy_password.error());
  auto dummy = crypto::HashPassword(*dummy_password, service->settings_.argon2);
  if (!dummy) return std::unexpected(dummy.error());
  service->dummy_hash_ = std::move(*dummy);
  seal.OnSeal([raw = service.get()] {
    std::unique_lock lock(raw->mu_);
    raw->dir_.reset();  // derived keys, decrypted usernames and every session go
  });
  return service;
}

void IdentityService::Count(AuthMethod method, std::string_view result) {
  for (std::size_t r = 0; r < kResults.size(); ++r) {
    if (kResults[r] == result) {
      if (auto* counter = attempts_[static_cast<std::size_t>(method)][r]) counter->Increment();
      return;
    }
  }
}

Result<std::shared_ptr<Directory>> IdentityService::Current() {
  auto keys = seal_.keys();
  if (!keys) return std::unexpected(SealedError());
  const auto same_owner = [&](const std::shared_ptr<Directory>& d) {
    return d && !d->owner.owner_before(keys) && !keys.owner_before(d->owner);
  };
  {
    std::shared_lock lock(mu_);
    if (same_owner(dir_)) return dir_;
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("loading the identity directory"));
  std::lock_guard writer(write_mu_);  // no write may land between the scan and the swap
  {
    std::shared_lock lock(mu_);
    if (same_owner(dir_)) return dir_;
  }
  auto loaded = LoadDirectory(metadata_, keys);
  if (!loaded) return std::unexpected(loaded.error());
  std::unique_lock lock(mu_);
  if (!seal_.keys()) return std::unexpected(SealedError());  // sealed while loading
  dir_ = *loaded;
  return dir_;
}

// ---- Authentication

Result<Caller> IdentityService::Authenticate(const RequestCredentials& c) {
  if (c.authorization) {
    const AuthorizationParts parts = SplitAuthorization(*c.authorization);
    if (SchemeIs(parts.scheme, "bearer")) return AuthenticateBearer(parts.credentials);
    if (SchemeIs(parts.scheme, "basic")) return AuthenticateBasic(parts.credentials, c.source);
    Count(AuthMethod::kToken, "malformed");
    return std::unexpected(Refusal());
  }
  if (c.cookie) {
    if (auto value = CookieValue(*c.cookie, kSessionCookie)) return AuthenticateSession(c);
  }
  return std::unexpected(Refusal());
}

Result<Caller> IdentityService::AuthenticateBearer(std::string_view token) {
  if (!token.starts_with(kTokenPrefix) || token.size() > kMaxTokenBytes) {
    Count(AuthMethod::kToken, "malformed");
    return std::unexpected(Refusal());
  }
  // The bootstrap token is checked by SHA-256 (what `init` could store before any key existed),
  // in constant time; it works while sealed.
  const std::string hash = Hex(crypto::Sha256(token));
  if (crypto::ConstantTimeEqual(Bytes(hash), Bytes(bootstrap_sha256_hex_))) {
    Count(AuthMethod::kBootstrap, "ok");
    Caller caller;
    caller.principal_id = std::string(kBootstrapPrincipalId);
    caller.tenant = std::string(kDefaultTenant);
    caller.roles = {"admin"};
    caller.method = AuthMethod::kBootstrap;
    caller.credential_id = bootstrap_token_id_;
    caller.scopes.assign(std::begin(kScopes), std::end(kScopes));
    return caller;
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  return VerifyToken(**dir, token, std::nullopt, AuthMethod::kToken);
}

Result<Caller> IdentityService::VerifyToken(Directory& dir, std::string_view token,
                                            std::optional<std::string_view> principal_id,
                                            AuthMethod method) {
  const std::string key = dir.TokenKey(token);
  const std::int64_t now = UnixSeconds(settings_.wall_clock());
  Caller caller;
  bool persist = false;
  {
    std::shared_lock lock(mu_);
    auto it = dir.tokens.find(key);
    if (it == dir.tokens.end()) {
      Count(method, "refused");
      return std::unexpected(Refusal());
    }
    StoredToken& t = *it->second;
    if (t.expires_unix != 0 && now >= t.expires_unix) {
      Count(method, "expired");
      return std::unexpected(Refusal());
    }
    auto owner = dir.principals.find(t.info.principal_id);
    if (owner == dir.principals.end() || owner->second.info.disabled ||
        (principal_id && *principal_id != t.info.principal_id)) {
      Count(method, "refused");
      return std::unexpected(Refusal());
    }
    caller.principal_id = t.info.principal_id;
    caller.tenant = owner->second.info.tenant;
    caller.roles = owner->second.info.roles;
    caller.method = method;
    caller.credential_id = t.info.token_id;
    caller.scopes = t.info.scopes;
    if (t.last_used_unix.load(std::memory_order_relaxed) != now) {
      t.last_used_unix.store(now, std::memory_order_relaxed);
    }
    persist = MayBlock() &&
              now - t.persisted_unix.load(std::memory_order_relaxed) >= kLastUsePersistSeconds;
  }
  Count(method, "ok");
  if (persist) {
    if (auto saved = PersistLastUse(dir, key); !saved) {
      observe::Warn("security.token_last_use_not_saved",
                    {{"token_id", caller.credential_id}, {"reason", saved.error().message()}});
    }
  }
  return caller;
}

Result<void> IdentityService::PersistLastUse(Directory& dir, std::string_view token_key) {
  std::lock_guard writer(write_mu_);  // so a revocation cannot be undone by this write
  std::string record;
  std::int64_t last_used = 0;
  {
    std::shared_lock lock(mu_);
    auto it = dir.tokens.find(token_key);
    if (it == dir.tokens.end()) return {};
    last_used = it->second->last_used_unix.load(std::memory_order_relaxed);
    if (last_used - it->second->persisted_unix.load() < kLastUsePersistSeconds) return {};
    record = TokenRecord(*it->second);
  }
  storage::WriteBatch batch;
  batch.Put(kTokensSpace, token_key, ToBytes(record));
  if (auto written = metadata_.Write(std::move(batch)); !written) return written;
  std::shared_lock lock(mu_);
  if (auto it = dir.tokens.find(token_key); it != dir.tokens.end()) {
    it->second->persisted_unix.store(last_used);
  }
  return {};
}

Result<Caller> IdentityService::AuthenticateBasic(std::string_view encoded,
                                                  std::string_view source) {
  const auto basic = BasicCredentials::Parse(encoded, kMaxUsernameBytes, kMaxPasswordBytes);
  if (!basic) {
    Count(AuthMethod::kBasicPassword, "malformed");
    return std::unexpected(Refusal());
  }
  const std::string_view username = basic->username();
  const std::string_view secret = basic->secret();
  const bool is_token = secret.starts_with(kTokenPrefix);
  if (!is_token && !MayBlock()) return std::unexpected(WouldBlock("Argon2id"));  // Argon2id ahead
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  const std::string name_key = (*dir)->NameKey(username);
  const std::optional<std::string> principal_id = FindByName(**dir, name_key);
  if (is_token) {
    if (!principal_id) {
      Count(AuthMethod::kBasicToken, "refused");
      return std::unexpected(Refusal());
    }
    return VerifyToken(**dir, secret, *principal_id, AuthMethod::kBasicToken);
  }
  auto ok = CheckPassword(**dir, name_key, principal_id ? &*principal_id : nullptr, secret, source);
  if (!ok) return std::unexpected(ok.error());
  if (!*ok) return std::unexpected(Refusal());
  std::shared_lock lock(mu_);
  auto it = (*dir)->principals.find(*principal_id);
  if (it == (*dir)->principals.end()) return std::unexpected(Refusal());  // deleted meanwhile
  if (!it->second.totp_secret.empty()) {
    // Basic carries no second factor. Said only after a correct password, as a challenge is.
    Count(AuthMethod::kBasicPassword, "refused");
    observe::Warn("security.sign_in", {{"result", "refused"},
                                       {"principal", *principal_id},
                                       {"source", source},
                                       {"reason", "basic_without_second_factor"}});
    return Fail(ErrorCode::kUnauthenticated,
                "this principal signs in with two factors: use POST /v1/auth/login, or an API "
                "token");
  }
  Count(AuthMethod::kBasicPassword, "ok");
  Caller caller;
  caller.principal_id = *principal_id;
  caller.tenant = it->second.info.tenant;
  caller.roles = it->second.info.roles;
  caller.method = AuthMethod::kBasicPassword;
  caller.credential_id = *principal_id;
  caller.scopes.assign(std::begin(kScopes), std::end(kScopes));
  caller.password_change_required = it->second.info.must_change_password;
  caller.two_factor_enrolment_required = (*dir)->TwoFactorRequired(it->second);
  return caller;
}

Result<bool> IdentityService::CheckPassword(Directory& dir, std::string_view name_key,
                                            const std::string* principal_id,
                                            std::string_view password, std::string_view source) {
  const AuthMethod method = AuthMethod::kBasicPassword;
  const auto now = settings_.steady_clock();
  const std::string_view who = principal_id != nullptr ? std::string_view(*principal_id) : "";
  if (account_throttle_.LockedFor(name_key, now) > FailureThrottle::Clock::duration::zero() ||
      source_throttle_.LockedFor(source, now) > FailureThrottle::Clock::duration::zero()) {
    Count(method, "locked");
    observe::Warn("security.sign_in",
                  {{"result", "locked"}, {"principal", who}, {"source", source}});
    return false;
  }
  std::string phc = dummy_hash_;
  bool peppered = settings_.pepper;
  bool usable = false;
  if (principal_id != nullptr) {
    std::shared_lock lock(mu_);
    if (auto it = dir.principals.find(*principal_id); it != dir.principals.end()) {
      if (!it->second.password.empty()) {
        phc = it->second.password;
        peppered = it->second.peppered;
        usable = !it->second.info.disabled;
      }
    }
  }
  auto normalised = NormalizePassword(password);
  bool match = false;
  if (normalised) {
    auto prepared = Prepared(dir, SecretBytes(normalised->reveal()), peppered);
    if (!prepared) return std::unexpected(prepared.error());
    auto verified = crypto::VerifyPassword(phc, prepared->reveal_as_text());
    if (!verified) {
      return Fail(ErrorCode::kDataLoss, "a stored password hash is damaged");
    }
    match = *verified;
  }
  if (!match || !usable) {
    Count(method, "refused");
    const bool account_locked = account_throttle_.RecordFailure(name_key, now);
    const bool source_locked = source_throttle_.RecordFailure(source, now);
    observe::Warn("security.sign_in", {{"result", "refused"},
                                       {"principal", who},
                                       {"source", source},
                                       {"reason", !match ? "wrong_password" : "disabled"}});
    if (account_locked) {
      observe::Warn("security.account_locked",
                    {{"principal", principal_id != nullptr ? who : std::string_view("unknown")},
                     {"failures", account_throttle_.Failures(name_key, now)}});
    }
    if (source_locked) {
      observe::Warn("security.source_locked",
                    {{"source", source}, {"failures", source_throttle_.Failures(source, now)}});
    }
    return false;
  }
  account_throttle_.RecordSuccess(name_key);
  // The source's count is kept: one good account must not let an address guess on for others.
  if (crypto::PasswordHashNeedsUpgrade(phc, settings_.argon2) || peppered != settings_.pepper) {
    auto rehashed = NewHash(dir, std::move(*normalised), settings_);
    std::lock_guard writer(write_mu_);
    auto replaced =
        !rehashed ? Result<StoredPrincipal>(std::unexpected(rehashed.error()))
                  : ReplacePrincipal(mu_, metadata_, dir, *principal_id, "",
                                     [&](StoredPrincipal& p) -> Result<bool> {
                                       if (p.password != phc) {  // changed meanwhile
                                         return Fail(ErrorCode::kFailedPrecondition, "changed");
                                       }
                                       p.password = std::move(*rehashed);
                                       p.peppered = settings_.pepper;
                                       return false;
                                     });
    if (replaced) observe::Info("security.password_rehashed", {{"principal", who}});
  }
  return true;
}

Result<Caller> IdentityService::AuthenticateSession(const RequestCredentials& c) {
  const std::string_view value = *CookieValue(*c.cookie, kSessionCookie);
  if (value.empty() || value.size() > 100) {
    Count(AuthMethod::kSession, "malformed");
    return std::unexpected(Refusal());
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  const std::string key = Hex(crypto::Sha256(value));
  const auto now = settings_.wall_clock();
  Caller caller;
  bool expired = false;
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->sessions.find(key);
    if (it == (*dir)->sessions.end()) {
      Count(AuthMethod::kSession, "refused");
      return std::unexpected(Refusal());
    }
    LiveSession& s = *it->second;
    const auto last_seen =
        system_clock::time_point(std::chrono::milliseconds(s.last_seen_ms.load()));
    expired = now >= s.absolute_deadline || now - last_seen >= settings_.session_idle_timeout;
    auto owner = (*dir)->principals.find(s.principal_id);
    if (!expired) {
      if (owner == (*dir)->principals.end() || owner->second.info.disabled) {
        Count(AuthMethod::kSession, "refused");
        return std::unexpected(Refusal());
      }
      if (c.state_changing) {
        const std::string_view presented = c.csrf_token.value_or("");
        if (!crypto::ConstantTimeEqual(Bytes(presented), Bytes(s.csrf))) {
          Count(AuthMethod::kSession, "csrf");
          observe::Warn("security.csrf_refused", {{"session", s.id}, {"source", c.source}});
          return Fail(ErrorCode::kPermissionDenied,
                      "this request needs the session's CSRF token in the X-CSRF-Token header");
        }
      }
      s.last_seen_ms.store(Millis(now), std::memory_order_relaxed);
      caller.principal_id = s.principal_id;
      caller.tenant = owner->second.info.tenant;
      caller.roles = owner->second.info.roles;
      caller.method = AuthMethod::kSession;
      caller.credential_id = s.id;
      caller.scopes.assign(std::begin(kScopes), std::end(kScopes));
      caller.password_change_required = s.password_change_only;
      // Live, not fixed at sign-in: a policy set later restricts sessions already open.
      caller.two_factor_enrolment_required =
          owner->second.totp_secret.empty() && (*dir)->TwoFactorRequired(owner->second);
    }
  }
  if (expired) {
    Count(AuthMethod::kSession, "expired");
    std::unique_lock lock(mu_);
    if (auto it = (*dir)->sessions.find(key); it != (*dir)->sessions.end()) {
      observe::Info("security.session_expired",
                    {{"session", it->second->id}, {"principal", it->second->principal_id}});
      (*dir)->sessions.erase(it);
    }
    return std::unexpected(Refusal());
  }
  Count(AuthMethod::kSession, "ok");
  return caller;
}

// ---- Sign-in and sessions

Result<SignInResult> IdentityService::SignIn(std::string_view username,
                                             std::string_view password, std::string_view source) {
  if (username.empty()) return FailAt("$.username", "required", "must not be empty");
  if (username.size() > kMaxUsernameBytes) {
    return FailAt("$.username", "max_length", "must be at most 128 characters");
  }
  if (password.empty()) return FailAt("$.password", "required", "must not be empty");
  if (password.size() > kMaxPasswordBytes) {
    return FailAt("$.password", "max_length", "must be at most 4096 bytes");
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("Argon2id"));
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  const std::string name_key = (*dir)->NameKey(username);
  const std::optional<std::string> principal_id = FindByName(**dir, name_key);
  auto ok =
      CheckPassword(**dir, name_key, principal_id ? &*principal_id : nullptr, password, source);
  if (!ok) return std::unexpected(ok.error());
  if (!*ok) return std::unexpected(SignInRefusal());
  bool has_second_factor = false;
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(*principal_id);
    if (it == (*dir)->principals.end()) return std::unexpected(SignInRefusal());
    has_second_factor = !it->second.totp_secret.empty();
  }
  SignInResult result;
  if (has_second_factor) {
    auto challenge = NewChallenge(**dir, *principal_id, source);
    if (!challenge) return std::unexpected(challenge.error());
    result.challenge = std::move(*challenge);
    return result;
  }
  auto signed_in = NewSession(**dir, *principal_id, source, /*password_only=*/true);
  if (!signed_in) return std::unexpected(signed_in.error());
  observe::Info("security.sign_in", {{"result", "ok"},
                                     {"principal", *principal_id},
                                     {"session", signed_in->session.session_id},
                                     {"source", source}});
  result.signed_in = std::move(*signed_in);
  return result;
}

Result<SignedIn> IdentityService::NewSession(Directory& dir, const std::string& principal_id,
                                             std::string_view source, bool password_only) {
  auto cookie = crypto::RandomSecret(32);
  auto csrf = RandomText(32);
  if (!cookie || !csrf) return Fail(ErrorCode::kInternal, "cannot draw random session values");
  SignedIn out;
  out.cookie_value = SecretBytes(std::string_view(crypto::Base64UrlEncode(cookie->reveal())));
  out.csrf_token = *csrf;
  const auto now = settings_.wall_clock();
  auto session = std::make_unique<LiveSession>();
  session->id = "ses_" + RandomHex(8);
  session->principal_id = principal_id;
  session->csrf = *csrf;
  session->source = std::string(source);
  session->created = now;
  session->absolute_deadline = now + settings_.session_absolute_timeout;
  session->last_seen_ms = Millis(now);
  std::unique_lock lock(mu_);
  auto owner = dir.principals.find(principal_id);
  if (owner == dir.principals.end() || owner->second.info.disabled ||
      (password_only && !owner->second.totp_secret.empty())) {
    return std::unexpected(SignInRefusal());
  }
  session->password_change_only = owner->second.info.must_change_password;
  // Forget expired sessions, and the principal's oldest beyond the cap.
  const auto idle = settings_.session_idle_timeout;
  std::erase_if(dir.sessions, [&](const auto& kv) {
    const auto seen =
        system_clock::time_point(std::chrono::milliseconds(kv.second->last_seen_ms.load()));
    return now >= kv.second->absolute_deadline || now - seen >= idle;
  });
  for (;;) {
    std::size_t count = 0;
    auto oldest = dir.sessions.end();
    for (auto it = dir.sessions.begin(); it != dir.sessions.end(); ++it) {
      if (it->second->principal_id != principal_id) continue;
      ++count;
      if (oldest == dir.sessions.end() || it->second->created < oldest->second->created)
        oldest = it;
    }
    if (count < settings_.max_sessions_per_principal || oldest == dir.sessions.end()) break;
    dir.sessions.erase(oldest);
  }
  out.caller.principal_id = principal_id;
  out.caller.tenant = owner->second.info.tenant;
  out.caller.roles = owner->second.info.roles;
  out.caller.method = AuthMethod::kSession;
  out.caller.credential_id = session->id;
  out.caller.scopes.assign(std::begin(kScopes), std::end(kScopes));
  out.caller.password_change_required = session->password_change_only;
  out.caller.two_factor_enrolment_required =
      owner->second.totp_secret.empty() && dir.TwoFactorRequired(owner->second);
  out.session.session_id = session->id;
  out.session.principal_id = principal_id;
  out.session.created_at = FormatRfc3339(now);
  out.session.last_seen_at = out.session.created_at;
  out.session.expires_at = FormatRfc3339(std::min(now + idle, session->absolute_deadline));
  out.session.password_change_only = session->password_change_only;
  dir.sessions.emplace(Hex(crypto::Sha256(out.cookie_value.reveal())), std::move(session));
  return out;
}

void IdentityService::SignOut(const Caller& caller) {
  if (caller.method != AuthMethod::kSession) return;
  std::shared_ptr<Directory> dir;
  {
    std::shared_lock lock(mu_);
    dir = dir_;
  }
  if (!dir) return;
  std::unique_lock lock(mu_);
  std::erase_if(dir->sessions,
                [&](const auto& kv) { return kv.second->id == caller.credential_id; });
  observe::Info("security.signed_out",
                {{"principal", caller.principal_id}, {"session", caller.credential_id}});
}

std::optional<std::string> IdentityService::FindByName(const Directory& dir,
                                                       std::string_view name_key) const {
  std::shared_lock lock(mu_);
  auto it = dir.by_name.find(name_key);
  if (it == dir.by_name.end()) return std::nullopt;
  return it->second;
}

void IdentityService::DropSessionsLocked(Directory& dir, std::string_view principal_id) {
  std::erase_if(dir.sessions,
                [&](const auto& kv) { return kv.second->principal_id == principal_id; });
}

Result<std::size_t> IdentityService::SignOutEverywhere(std::string_view principal_id) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::unique_lock lock(mu_);
  const std::size_t ended = std::erase_if(
      (*dir)->sessions, [&](const auto& kv) { return kv.second->principal_id == principal_id; });
  observe::Info("security.signed_out_everywhere",
                {{"principal", principal_id}, {"sessions", ended}});
  return ended;
}

std::optional<SessionInfo> IdentityService::SessionOf(const Caller& caller,
                                                      std::string* csrf_token) const {
  if (caller.method != AuthMethod::kSession) return std::nullopt;
  std::shared_lock lock(mu_);
  if (!dir_) return std::nullopt;
  for (const auto& [key, s] : dir_->sessions) {
    if (s->id != caller.credential_id) continue;
    SessionInfo info;
    info.session_id = s->id;
    info.principal_id = s->principal_id;
    info.created_at = FormatRfc3339(s->created);
    const auto seen = system_clock::time_point(std::chrono::milliseconds(s->last_seen_ms.load()));
    info.last_seen_at = FormatRfc3339(seen);
    info.expires_at =
        FormatRfc3339(std::min(seen + settings_.session_idle_timeout, s->absolute_deadline));
    info.password_change_only = s->password_change_only;
    if (csrf_token != nullptr) *csrf_token = s->csrf;
    return info;
  }
  return std::nullopt;
}

Result<std::optional<SignedIn>> IdentityService::ChangePassword(const Caller& caller,
                                                                std::string_view current_password,
                                                                std::string_view new_password,
                                                                std::string_view source) {
  if (caller.method == AuthMethod::kBootstrap) {
    return Fail(ErrorCode::kFailedPrecondition, "the bootstrap token has no password");
  }
  if (current_password.empty()) return FailAt("$.current_password", "required", "is required");
  if (current_password.size() > kMaxPasswordBytes) {
    return FailAt("$.current_password", "max_length", "must be at most 4096 bytes");
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("Argon2id"));
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::string name_key, username, tenant;
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(caller.principal_id);
    if (it == (*dir)->principals.end()) return std::unexpected(Refusal());
    if (it->second.info.kind == PrincipalKind::kService) {
      return Fail(ErrorCode::kFailedPrecondition, "service accounts have no password");
    }
    name_key = it->second.name_key;
    username = it->second.info.username;
    tenant = it->second.info.tenant;
  }
  // The current password first: a wrong one is a failed sign-in whatever the new one is.
  auto ok = CheckPassword(**dir, name_key, &caller.principal_id, current_password, source);
  if (!ok) return std::unexpected(ok.error());
  if (!*ok) {
    Error refused(ErrorCode::kPermissionDenied,
                  "the current password is wrong, or sign-in is temporarily locked");
    refused.At("$.current_password", "mismatch");
    return std::unexpected(std::move(refused));
  }
  auto checked = policy_.Check(new_password, username, std::array{std::string_view(tenant)});
  if (!checked) {
    Error refused = checked.error();
    const std::string rule = refused.rule();
    refused.At("$.new_password", rule);
    return std::unexpected(std::move(refused));
  }
  auto hashed = NewHash(**dir, std::move(*checked), settings_);
  if (!hashed) return std::unexpected(hashed.error());
  {
    std::lock_guard writer(write_mu_);
    auto replaced = ReplacePrincipal(mu_, metadata_, **dir, caller.principal_id, "",
                                     [&](StoredPrincipal& p) -> Result<bool> {
                                       p.password = std::move(*hashed);
                                       p.peppered = settings_.pepper;
                                       p.info.must_change_password = false;
                                       p.info.has_password = true;
                                       p.info.updated_at = FormatRfc3339(settings_.wall_clock());
                                       return true;  // every session ends; the caller gets anew
                                     });
    if (!replaced) return std::unexpected(replaced.error());
  }
  observe::Info("security.password_changed",
                {{"principal", caller.principal_id}, {"by", caller.principal_id}});
  if (caller.method != AuthMethod::kSession) return std::optional<SignedIn>();
  auto fresh = NewSession(**dir, caller.principal_id, source);
  if (!fresh) return std::unexpected(fresh.error());
  return std::optional<SignedIn>(std::move(*fresh));
}

}  // namespace strongroom::auth
