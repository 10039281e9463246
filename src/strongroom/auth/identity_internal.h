#pragma once
// The insides of IdentityService shared by its two translation units: identity.cc (the
// directory's keys and stored formats, request authentication, sign-in and sessions) and
// identity_admin.cc (the administration of principals, tokens and sessions). Include nowhere
// else. Locking rules are IdentityService's (identity.h): the maps of a Directory are read under
// the service's shared mutex and changed under it exclusively, after the store holds the change.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/auth/identity.h"
#include "strongroom/crypto/aead.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/hmac.h"

namespace strongroom::auth {

namespace identity_detail {

inline constexpr std::string_view kPrincipalsSpace = "principals";
inline constexpr std::string_view kTokensSpace = "tokens";
inline constexpr std::string_view kTwoFactorPoliciesSpace = "two_factor_policies";
inline constexpr std::string_view kTokenPrefix = "srt_";
inline constexpr std::size_t kMaxUsernameBytes = 128;
inline constexpr std::string_view kScopes[] = {kScopeAdmin, kScopeDataRead, kScopeDataWrite,
                                               kScopeAuditRead};

struct StoredPrincipal {
  PrincipalInfo info;
  std::string password;  // PHC string, empty if none
  bool peppered = false;
  std::string name_key;  // hex HMAC of the lowercased username
  // The TOTP factor: its secret sealed like the username (AAD .../principal-totp/v1/<id>), the
  // last step a code matched (-1: none yet; that step and older are refused), when it was set.
  std::string totp_secret;  // "" = no factor
  std::int64_t totp_last_step = -1;
  std::string totp_enrolled_at;
  std::string pending_totp_secret;  // an enrolment awaiting its first code
  std::int64_t pending_totp_started_unix = 0;
  std::vector<std::string> recovery_codes;  // hex HMACs of the unused ones
};

struct PendingSignIn {
  std::string principal_id;
  std::chrono::system_clock::time_point expires;
  int wrong_codes = 0;
};

struct StoredToken {
  TokenInfo info;
  std::int64_t expires_unix = 0;  // 0 = never
  std::atomic<std::int64_t> last_used_unix{0};
  std::atomic<std::int64_t> persisted_unix{0};
};

struct LiveSession {
  std::string id;
  std::string principal_id;
  std::string csrf;
  std::string source;
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point absolute_deadline;
  std::atomic<std::int64_t> last_seen_ms{0};
  bool password_change_only = false;
  // Signed in with a second factor. A principal with a factor gets sessions only through a code
  // (sign-in, enrolment, or a renewal of such a session), and enrolment ends older sessions.
  bool two_factor = false;
};

}  // namespace identity_detail

// The directory of one unseal: its keys (derived from the keyring's system key "identity") and
// everyone it knows. Dropped at seal.
struct IdentityService::Directory {
  std::weak_ptr<barrier::VaultKeys> owner;
  std::optional<crypto::HmacSha256> pepper_mac;
  std::optional<crypto::HmacSha256> name_mac;
  std::optional<crypto::HmacSha256> token_mac;
  std::optional<crypto::HmacSha256> recovery_mac;
  std::mutex secrets_mu;  // Aes256Gcm is not thread-safe
  std::optional<crypto::Aes256Gcm> secrets;
  std::map<std::string, identity_detail::StoredPrincipal, std::less<>> principals;  // id ->
  std::map<std::string, std::string, std::less<>> by_name;  // name key -> id
  std::map<std::string, std::unique_ptr<identity_detail::StoredToken>, std::less<>>
      tokens;  // token MAC hex ->
  std::map<std::string, std::unique_ptr<identity_detail::LiveSession>, std::less<>>
      sessions;  // SHA-256(cookie) hex ->
  std::map<std::string, identity_detail::PendingSignIn, std::less<>>
      pending_sign_ins;  // SHA-256(pending token) hex ->
  std::map<std::string, TwoFactorPolicy, std::less<>> two_factor_policies;  // tenant ->

  // Hex HMAC of the lowercased username / of a token.
  std::string NameKey(std::string_view username) const;
  std::string TokenKey(std::string_view token) const;
  // The username sealed for the store: base64(nonce | ciphertext | tag), bound to the id.
  Result<std::string> SealUsername(const std::string& id, std::string_view username);
  Result<std::string> OpenUsername(const std::string& id, std::string_view sealed_b64);
  // The same for a TOTP secret (its own AAD, so neither can stand in for the other).
  Result<std::string> SealTotpSecret(const std::string& id, std::span<const std::uint8_t> secret);
  Result<SecretBytes> OpenTotpSecret(const std::string& id, std::string_view sealed_b64);
  // Hex HMAC of a normalised recovery code, bound to its principal.
  std::string RecoveryKey(std::string_view principal_id, std::string_view normalised_code) const;
  // Whether the tenant's policy demands a second factor of `p` (shared lock held).
  bool TwoFactorRequired(const identity_detail::StoredPrincipal& p) const;
};

namespace identity_detail {

using Directory = IdentityService::Directory;

// The bytes of text, for the MAC, hash and cipher calls.
inline std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string Hex(const crypto::Sha256Digest& d) { return crypto::HexEncode(d); }

std::string RandomHex(std::size_t bytes);
std::int64_t UnixSeconds(std::chrono::system_clock::time_point t);
storage::Bytes ToBytes(const std::string& s);
// invalid_argument at $.username / $.roles[i] with the rule broken.
Result<void> ValidateUsername(std::string_view name);
Result<void> ValidateRoles(const std::vector<std::string>& roles);
// The password as Argon2id sees it: the NFKC text, or its HMAC under the pepper key.
Result<SecretBytes> Prepared(const Directory& dir, SecretBytes normalised, bool peppered);
// The directory of the keys' unseal: derived keys, then every principal, policy and token.
Result<std::shared_ptr<Directory>> LoadDirectory(storage::Store& metadata,
                                                 const std::shared_ptr<barrier::VaultKeys>& keys);
// A new stored hash for a password the policy accepted (NFKC), with the current settings.
Result<std::string> NewHash(const Directory& dir, SecretBytes normalised,
                            const IdentitySettings& settings);
// The stored JSON of a principal (its username already sealed) and of a token.
std::string PrincipalRecord(const StoredPrincipal& p, const std::string& sealed_username);
std::string TokenRecord(const StoredToken& t);
std::string TwoFactorPolicyRecord(const TwoFactorPolicy& policy);
// Applies `change` to a copy of principal `id` (not_found outside `tenant_scope`), writes the
// copy, then swaps it in, ending the principal's sessions when `change` answers true.
Result<StoredPrincipal> ReplacePrincipal(
    std::shared_mutex& mu, storage::Store& store, Directory& dir, std::string_view id,
    std::string_view tenant_scope, const std::function<Result<bool>(StoredPrincipal&)>& change);
// What administrators see of a principal (with its lock and second-factor state) and of a token.
PrincipalInfo WithLock(const Directory& dir, const StoredPrincipal& p,
                       const FailureThrottle& throttle, FailureThrottle::Clock::time_point now);
TokenInfo TokenView(const StoredToken& t, std::int64_t now_unix);

}  // namespace identity_detail
}  // namespace strongroom::auth
