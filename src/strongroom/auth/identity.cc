// IdentityService, part one: opening the service, authenticating requests (bearer tokens,
// Basic, session cookies), password sign-in and sessions. The directory it reads
// (identity_directory.cc) and the other parts share identity_internal.h.
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

using identity_detail::Bytes;
using identity_detail::Directory;
using identity_detail::Hex;
using identity_detail::kMaxUsernameBytes;
using identity_detail::kScopes;
using identity_detail::kTokenPrefix;
using identity_detail::kTokensSpace;
using identity_detail::LiveSession;
using identity_detail::LoadDirectory;
using identity_detail::NewHash;
using identity_detail::Prepared;
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


Result<std::string> RandomText(std::size_t bytes) {
  auto secret = crypto::RandomSecret(bytes);
  if (!secret) return std::unexpected(secret.error());
  return crypto::Base64UrlEncode(secret->reveal());
}

std::string TextOf(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t Millis(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
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
    caller.kind = "bootstrap";
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
    caller.kind = PrincipalKindName(owner->second.info.kind);
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
  caller.kind = PrincipalKindName(it->second.info.kind);
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
      caller.kind = PrincipalKindName(owner->second.info.kind);
    caller.kind = PrincipalKindName(owner->second.info.kind);
      caller.method = AuthMethod::kSession;
      caller.credential_id = s.id;
      caller.scopes.assign(std::begin(kScopes), std::end(kScopes));
      caller.password_change_required = s.password_change_only;
      caller.two_factor = s.two_factor;
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
  session->two_factor = !owner->second.totp_secret.empty();
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
  out.caller.kind = PrincipalKindName(owner->second.info.kind);
  out.caller.method = AuthMethod::kSession;
  out.caller.credential_id = session->id;
  out.caller.scopes.assign(std::begin(kScopes), std::end(kScopes));
  out.caller.password_change_required = session->password_change_only;
  out.caller.two_factor = session->two_factor;
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
