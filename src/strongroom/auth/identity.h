#pragma once
// IdentityService: the vault's principals (people and applications), their credentials, and the
// answer to "who is calling?" for every request. docs/identity.md is the operator's guide and
// describes the stored formats byte by byte.
//
// Principals are human users and service accounts, each in one tenant, with role names (the
// policy issue gives them meaning). Credentials:
//   - passwords (users): NIST SP 800-63B policy (password_policy.h), NFKC, optionally peppered
//     with HMAC-SHA-256 under a key of the key hierarchy, then Argon2id (crypto/password_hash.h);
//     a hash made with older parameters or pepper setting is upgraded at the next sign-in;
//   - API tokens: `srt_` + 32 random bytes, shown once, stored only as HMAC-SHA-256 under a key of
//     the hierarchy, with a name, scopes, an optional expiry and the time of last use;
//   - sessions (sign-in with username + password): a random cookie value and CSRF token, held in
//     memory only, with idle and absolute timeouts;
//   - the bootstrap administrator token `init` wrote (SHA-256 in <data_dir>/auth/): break-glass,
//     valid while sealed, for the operator tenant's administration only;
//   - a TOTP second factor (identity_two_factor.cc): a password sign-in of a principal that has
//     one ends in a challenge answered with a code or a recovery code; tenants may require it
//     per role, and a covered user without one gets an enrolment-only session.
// Unknown usernames and wrong passwords get one answer in the same time (a dummy Argon2id
// verification). Failed password checks are throttled per username and per source address
// (failure_throttle.h); while a key is locked even a correct password gets that same answer.
//
// Everything except the bootstrap token needs the vault unsealed: usernames are stored
// encrypted, names and tokens are looked up by keyed hash, and all those keys derive from the
// keyring's system key "identity". The directory (principals, tokens, sessions) is loaded into
// memory at first use after an unseal and dropped at seal (which signs everyone out).
//
// Every sign-in, lock, token and password change is logged as a `security.*` event naming
// principals by id, never by username, and never with a credential.
//
// Thread-safe. Lookups share a reader lock over the in-memory directory; writes are serialised,
// reach the metadata store first and then the directory, so a revoked token or a disabled
// principal is refused on the very next request. Methods that verify a password (SignIn,
// ChangePassword, Basic authentication with a password) run Argon2id: call them from a pool
// sized for it (http Execution::kCredential), never on an I/O thread (inside a NonBlockingScope
// they fail with would_block instead). Borrows the store, the seal state and the registry.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/auth/failure_throttle.h"
#include "strongroom/auth/password_policy.h"
#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/storage/store.h"

namespace strongroom::auth {

inline constexpr std::string_view kDefaultTenant = "default";
inline constexpr std::string_view kBootstrapPrincipalId = "prn_bootstrap";
inline constexpr std::string_view kSessionCookie = "__Host-strongroom_session";
inline constexpr std::string_view kCsrfHeader = "x-csrf-token";

// What an API token may be used for, within what its principal's roles allow.
inline constexpr std::string_view kScopeAdmin = "admin";
inline constexpr std::string_view kScopeDataRead = "data:read";
inline constexpr std::string_view kScopeDataWrite = "data:write";
inline constexpr std::string_view kScopeAuditRead = "audit:read";  // the audit trail's readers

enum class PrincipalKind { kUser, kService };
std::string_view PrincipalKindName(PrincipalKind kind);

struct PrincipalInfo {
  std::string id;  // "prn_" + 16 hex digits
  std::string tenant;
  PrincipalKind kind = PrincipalKind::kUser;
  std::string username;
  std::vector<std::string> roles;
  bool disabled = false;
  bool must_change_password = false;
  bool has_password = false;
  bool locked = false;  // filled in by the service from its throttle
  bool two_factor_enabled = false;   // a confirmed TOTP factor
  bool two_factor_required = false;  // by its tenant's two-factor policy
  int recovery_codes_remaining = 0;
  std::string created_at;
  std::string updated_at;
};

struct TokenInfo {
  std::string token_id;  // "tok_" + 12 hex digits of the keyed hash: safe to log and show
  std::string principal_id;
  std::string tenant;
  std::string name;
  std::vector<std::string> scopes;
  std::string created_at;
  std::string expires_at;    // "" = never
  std::string last_used_at;  // "" = never used
  bool expired = false;
};

struct SessionInfo {
  std::string session_id;  // "ses_" + 16 hex digits: safe to log and show, not the cookie
  std::string principal_id;
  std::string created_at;
  std::string last_seen_at;
  std::string expires_at;  // the earlier of the idle and the absolute deadline
  bool password_change_only = false;
};

// Who must sign in with a second factor, per tenant (users only: service accounts sign in with
// API tokens). Either every user of the tenant, or those with one of `roles`.
struct TwoFactorPolicy {
  std::string tenant{};
  bool all_users = false;
  std::vector<std::string> roles{};
  std::string updated_at{};  // "" = never set
};

// A principal's second factor, for its own eyes.
struct TwoFactorStatus {
  bool enabled = false;
  bool required = false;
  bool enrolment_pending = false;  // started, not yet confirmed with a code
  std::string enrolled_at;
  int recovery_codes_remaining = 0;
};

// A TOTP enrolment in progress: what the authenticator app needs (show once, never log).
struct TotpEnrolment {
  SecretBytes secret_base32;
  SecretBytes otpauth_uri;
};

// A second factor just confirmed, or recovery codes regenerated.
struct RecoveryCodes {
  std::vector<SecretBytes> codes;  // "xxxxx-xxxxx", shown once
};

// The answer to a password sign-in of a principal with a second factor: no session yet.
struct TwoFactorChallenge {
  SecretBytes pending_token;  // goes to POST /v1/auth/login/totp
  std::string expires_at;
};

enum class AuthMethod { kBootstrap, kToken, kSession, kBasicPassword, kBasicToken };
std::string_view AuthMethodName(AuthMethod method);

// The authenticated caller of one request.
struct Caller {
  std::string principal_id;
  std::string tenant;
  std::vector<std::string> roles;
  std::string_view kind = "user";  // PrincipalKindName, or "bootstrap" (a static string)
  AuthMethod method = AuthMethod::kToken;
  std::string credential_id;        // tok_... or ses_...
  std::vector<std::string> scopes;  // tokens: their scopes; other methods: every scope
  bool password_change_required = false;
  // The tenant's policy demands a second factor this principal has not set up: it may only
  // enrol (and sign out) until it has.
  bool two_factor_enrolment_required = false;
  // A session signed in with a second factor (policies may require one); false for tokens and
  // HTTP Basic.
  bool two_factor = false;

  bool HasRole(std::string_view role) const;
  bool HasScope(std::string_view scope) const;
};

// What a request offers to prove who it is (views into the request).
struct RequestCredentials {
  std::optional<std::string_view> authorization;
  std::optional<std::string_view> cookie;
  std::optional<std::string_view> csrf_token;
  bool state_changing = false;  // POST, PUT, PATCH, DELETE: a session must show its CSRF token
  std::string_view source;      // the peer's address
};

struct SignedIn {
  SecretBytes cookie_value;  // goes into the Set-Cookie header only
  std::string csrf_token;
  SessionInfo session;
  Caller caller;
};

// A password sign-in either ends in a session or, for a principal with a second factor, in a
// challenge to answer with a code.
struct SignInResult {
  std::optional<SignedIn> signed_in;
  std::optional<TwoFactorChallenge> challenge;
};

struct IdentitySettings {
  crypto::Argon2idParams argon2;
  bool pepper = true;
  std::chrono::seconds session_idle_timeout{15 * 60};
  std::chrono::seconds session_absolute_timeout{8 * 60 * 60};
  std::size_t max_sessions_per_principal = 16;
  ThrottleSettings account_throttle;
  ThrottleSettings source_throttle{.max_failures = 100};
  // Second-factor codes, per principal: far fewer tries than passwords, as a 6-digit code has
  // only a million values (docs/identity.md has the arithmetic).
  ThrottleSettings totp_throttle{.max_failures = 5,
                                 .wait_increment = std::chrono::seconds(60),
                                 .max_wait = std::chrono::seconds(60 * 60),
                                 .failure_reset = std::chrono::seconds(24 * 60 * 60)};
  std::string totp_issuer = "Strongroom";  // the name authenticator apps show
  std::chrono::seconds pending_sign_in_timeout{5 * 60};
  std::chrono::seconds enrolment_timeout{15 * 60};
  // Injectable for tests.
  std::function<std::chrono::system_clock::time_point()> wall_clock =
      std::chrono::system_clock::now;
  std::function<FailureThrottle::Clock::time_point()> steady_clock = FailureThrottle::Clock::now;
};

class IdentityService {
 public:
  // Reads the bootstrap administrator file and prepares the dummy hash (one Argon2id run).
  // `metrics` may be null.
  static Result<std::unique_ptr<IdentityService>> Open(storage::Store& metadata,
                                                       barrier::SealState& seal,
                                                       const std::filesystem::path& bootstrap_file,
                                                       IdentitySettings settings,
                                                       PasswordPolicy policy,
                                                       observe::MetricsRegistry* metrics);
  ~IdentityService();
  IdentityService(const IdentityService&) = delete;
  IdentityService& operator=(const IdentityService&) = delete;

  // ---- Requests
  // The caller, from an Authorization header (Bearer token, or Basic with username and password
  // or username and API token) or else the session cookie. unauthenticated for anything missing,
  // malformed, unknown, expired, revoked or disabled (one message: no oracle); permission_denied
  // for a cookie-authenticated state-changing request without its CSRF token; sealed when the
  // vault is sealed (except for the bootstrap token).
  Result<Caller> Authenticate(const RequestCredentials& credentials);

  // ---- Sign-in and sessions
  // unauthenticated (one message) for an unknown user, a wrong password, a principal without a
  // password or disabled, or a locked username or source; invalid_argument for an empty or
  // overlong username or password.
  // A principal with a second factor gets a challenge instead of a session.
  Result<SignInResult> SignIn(std::string_view username, std::string_view password,
                              std::string_view source);
  // Answers a challenge with a TOTP code (`code`) or a recovery code. unauthenticated (one
  // message) for an unknown or expired challenge, a wrong, replayed or expired code, or a
  // principal whose codes are locked; invalid_argument for a code of the wrong shape. A
  // challenge survives at most five wrong codes.
  Result<SignedIn> CompleteSignIn(std::string_view pending_token, std::optional<std::string_view> code,
                                  std::optional<std::string_view> recovery_code,
                                  std::string_view source);
  // Ends the caller's session (a no-op for other methods).
  void SignOut(const Caller& caller);
  // Ends every session of the principal; returns how many.
  Result<std::size_t> SignOutEverywhere(std::string_view principal_id);
  // The caller's own password. Needs the current one (a wrong one counts as a failed sign-in);
  // the new one must pass the policy. Ends every other session of the principal; a session
  // caller gets a fresh session (new cookie and CSRF token) returned, others nullopt.
  Result<std::optional<SignedIn>> ChangePassword(const Caller& caller,
                                                 std::string_view current_password,
                                                 std::string_view new_password,
                                                 std::string_view source);
  // The caller's session, for GET /v1/auth/session (nullopt for other methods).
  std::optional<SessionInfo> SessionOf(const Caller& caller, std::string* csrf_token) const;

  // ---- The caller's own second factor (users only; failed_precondition for others)
  Result<TwoFactorStatus> TwoFactorOf(const Caller& caller);
  // Draws a new TOTP secret and keeps it pending until ConfirmTotp; a new call replaces it.
  // failed_precondition when a factor is already on.
  Result<TotpEnrolment> BeginTotpEnrolment(const Caller& caller);
  // Turns the pending factor on with one valid code; returns ten recovery codes. Ends every
  // session of the principal; a session caller gets a fresh one in `*fresh_session`.
  Result<RecoveryCodes> ConfirmTotp(const Caller& caller, std::string_view code,
                                    std::string_view source,
                                    std::optional<SignedIn>* fresh_session);
  // Turns the factor off; needs a current code or a recovery code. failed_precondition when the
  // tenant's policy requires it (an administrator can reset it: ResetTwoFactor).
  Result<void> DisableTotp(const Caller& caller, std::optional<std::string_view> code,
                           std::optional<std::string_view> recovery_code, std::string_view source);
  // Ten new recovery codes replace the old ones; needs a current TOTP code.
  Result<RecoveryCodes> RegenerateRecoveryCodes(const Caller& caller, std::string_view code,
                                                std::string_view source);

  // ---- Administration. `tenant_scope` "" reaches every tenant; otherwise only that one
  // (not_found for a principal or token of another tenant).
  struct NewPrincipal {
    std::string tenant{};
    std::string username{};
    PrincipalKind kind = PrincipalKind::kUser;
    std::vector<std::string> roles{};
    std::optional<std::string> password{};  // users only; must be changed at first sign-in
  };
  Result<PrincipalInfo> CreatePrincipal(const NewPrincipal& request);
  Result<std::vector<PrincipalInfo>> ListPrincipals(std::string_view tenant_scope);
  Result<PrincipalInfo> GetPrincipal(std::string_view id, std::string_view tenant_scope);
  struct PrincipalChange {
    std::optional<std::vector<std::string>> roles{};  // a change ends the principal's sessions
    std::optional<bool> disabled{};                   // disabling ends them too
  };
  Result<PrincipalInfo> UpdatePrincipal(std::string_view id, std::string_view tenant_scope,
                                        const PrincipalChange& change);
  // Deletes the principal with its tokens and sessions.
  Result<void> DeletePrincipal(std::string_view id, std::string_view tenant_scope);
  // Sets a new password that must be changed at the next sign-in; ends the principal's sessions.
  Result<void> ResetPassword(std::string_view id, std::string_view tenant_scope,
                             std::string_view password);
  // Clears the username's failure count and lock. True if it was locked.
  Result<bool> Unlock(std::string_view id, std::string_view tenant_scope);
  // Removes a principal's second factor and recovery codes (a lost phone); ends its sessions
  // and clears its code lock. Where the policy requires a factor, the principal enrols again at
  // its next sign-in.
  Result<void> ResetTwoFactor(std::string_view id, std::string_view tenant_scope);
  Result<TwoFactorPolicy> GetTwoFactorPolicy(std::string_view tenant);
  // invalid_argument at $.roles for malformed role names.
  Result<TwoFactorPolicy> SetTwoFactorPolicy(const TwoFactorPolicy& policy);

  struct NewToken {
    std::string principal_id{};
    std::string name{};
    std::vector<std::string> scopes{};  // empty: every scope
    std::optional<std::chrono::system_clock::time_point> expires_at{};
  };
  struct IssuedToken {
    SecretBytes token;  // shown once
    TokenInfo info;
  };
  Result<IssuedToken> IssueToken(const NewToken& request, std::string_view tenant_scope);
  // principal_id "" lists every principal's tokens in scope (and the bootstrap token for "").
  Result<std::vector<TokenInfo>> ListTokens(std::string_view tenant_scope,
                                            std::string_view principal_id);
  // failed_precondition for the bootstrap token.
  Result<void> RevokeToken(std::string_view token_id, std::string_view tenant_scope);
  Result<std::vector<SessionInfo>> ListSessions(std::string_view principal_id,
                                                std::string_view tenant_scope);
  Result<void> RevokeSession(std::string_view principal_id, std::string_view session_id,
                             std::string_view tenant_scope);

  const IdentitySettings& settings() const { return settings_; }

  struct Directory;  // the in-memory directory of one unseal (identity_internal.h)

 private:
  IdentityService(storage::Store& metadata, barrier::SealState& seal, IdentitySettings settings,
                  PasswordPolicy policy, observe::MetricsRegistry* metrics);

  // The directory for the current keys, loading it if needed (disk: would_block inside a
  // NonBlockingScope); sealed when there are no keys.
  Result<std::shared_ptr<Directory>> Current();
  Result<Caller> AuthenticateBearer(std::string_view token);
  Result<Caller> AuthenticateBasic(std::string_view encoded, std::string_view source);
  Result<Caller> AuthenticateSession(const RequestCredentials& credentials);
  Result<Caller> VerifyToken(Directory& dir, std::string_view token,
                             std::optional<std::string_view> principal_id, AuthMethod method);
  // Runs Argon2id against the principal's hash, or the dummy hash for nobody; true on a match
  // by an enabled principal with a password. Counts failures on both throttle keys.
  Result<bool> CheckPassword(Directory& dir, std::string_view name_key,
                             const std::string* principal_id, std::string_view password,
                             std::string_view source);
  // A session for an enabled principal. `password_only`: the caller proved only a password,
  // so a principal that has a second factor by now (a race with ConfirmTotp) is refused.
  Result<SignedIn> NewSession(Directory& dir, const std::string& principal_id,
                              std::string_view source, bool password_only = false);
  // A pending sign-in after a correct password, to be completed with a code.
  Result<TwoFactorChallenge> NewChallenge(Directory& dir, const std::string& principal_id,
                                          std::string_view source);
  // Checks a TOTP code or a recovery code of `principal_id` against its stored factor under the
  // writer mutex (the caller holds it), consuming the step or the recovery code in the store.
  // Counts failures on the code throttle.
  Result<void> CheckSecondFactorLocked(Directory& dir, const std::string& principal_id,
                                       std::optional<std::string_view> code,
                                       std::optional<std::string_view> recovery_code,
                                       std::string_view source, std::string_view purpose);
  Result<RecoveryCodes> NewRecoveryCodes(Directory& dir, const std::string& principal_id,
                                         std::vector<std::string>* hashes);
  // The user principal the caller is (failed_precondition for the bootstrap token and services).
  Result<std::shared_ptr<Directory>> SelfDirectory(const Caller& caller);
  Result<void> PersistLastUse(Directory& dir, std::string_view token_key);
  void DropSessionsLocked(Directory& dir, std::string_view principal_id);
  std::optional<std::string> FindByName(const Directory& dir, std::string_view name_key) const;
  void Count(AuthMethod method, std::string_view result);
  enum class SecondFactorResult { kOk, kRefused, kLocked, kMalformed };
  void CountSecondFactor(SecondFactorResult result);
  void InitSecondFactorMetrics();

  storage::Store& metadata_;
  barrier::SealState& seal_;
  const IdentitySettings settings_;
  const PasswordPolicy policy_;
  observe::MetricsRegistry* const metrics_;
  // strongroom_auth_attempts_total{method, result}, made once: counted on every request.
  std::array<std::array<observe::Counter*, 6>, 5> attempts_{};
  std::array<observe::Counter*, 4> second_factor_{};  // strongroom_auth_second_factor_total
  FailureThrottle account_throttle_;
  FailureThrottle source_throttle_;
  FailureThrottle totp_throttle_;
  std::string dummy_hash_;  // Argon2id of a random password: unknown users cost the same time
  std::string bootstrap_sha256_hex_;
  std::string bootstrap_token_id_;
  std::string bootstrap_created_at_;

  std::mutex write_mu_;           // serialises every store write of the identity data
  mutable std::shared_mutex mu_;  // guards dir_ (the pointer and the maps in it)
  std::shared_ptr<Directory> dir_;
};

}  // namespace strongroom::auth
