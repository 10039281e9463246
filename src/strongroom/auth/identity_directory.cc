// IdentityService, the directory: the keys it derives from the keyring's system key
// "identity", the sealing of usernames and TOTP secrets, the stored formats of principals,
// tokens and two-factor policies (docs/identity.md, "Stored formats"), loading them after an
// unseal, and the copy-write-swap of a principal. Shared through identity_internal.h with
// identity.cc (authentication, sign-in, sessions), identity_admin.cc and identity_two_factor.cc.

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>

#include "strongroom/auth/identity.h"
#include "strongroom/auth/identity_internal.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/aead.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/crypto/password_hash.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"

namespace strongroom::auth {

using identity_detail::Bytes;
using identity_detail::Directory;
using identity_detail::Hex;
using identity_detail::StoredPrincipal;
using identity_detail::StoredToken;

namespace {

namespace json = boost::json;
using std::chrono::system_clock;

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
  auto opened =
      OpenBytes(*this, "strongroom/principal-username/v1/" + id, sealed_b64, [&](std::size_t size) {
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
  auto opened =
      OpenBytes(*this, "strongroom/principal-totp/v1/" + id, sealed_b64, [&](std::size_t size) {
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

namespace identity_detail {

// The password as Argon2id sees it: the NFKC text, or its HMAC under the pepper key.
Result<SecretBytes> Prepared(const Directory& dir, SecretBytes normalised, bool peppered) {
  if (!peppered) return normalised;
  auto mac = dir.pepper_mac->Compute(normalised.reveal());
  if (!mac) return std::unexpected(mac.error());
  SecretBytes out{std::span<const std::uint8_t>(*mac)};
  std::fill(mac->begin(), mac->end(), 0);
  return out;
}

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

}  // namespace

namespace identity_detail {

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

}  // namespace identity_detail
}  // namespace strongroom::auth
