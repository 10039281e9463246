// IdentityService, part three: the second factor. TOTP enrolment and confirmation, sign-in
// challenges answered with a code, recovery codes, and the per-tenant two-factor policy.
// Part one (identity.cc) holds the directory's keys and formats, authentication and sign-in;
// part two (identity_admin.cc) the administration of principals, tokens and sessions.
//
// Every check of a code runs under the service's writer mutex and consumes what it matched (the
// TOTP step, or the recovery code) in the store before it answers: two requests racing with one
// code cannot both pass, and a restart does not make a used code good again.

#include <algorithm>
#include <array>
#include <chrono>

#include "strongroom/auth/identity.h"
#include "strongroom/auth/identity_internal.h"
#include "strongroom/auth/totp.h"
#include "strongroom/base/blocking.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"

namespace strongroom::auth {

using identity_detail::Bytes;
using identity_detail::Directory;
using identity_detail::kTwoFactorPoliciesSpace;
using identity_detail::PendingSignIn;
using identity_detail::ReplacePrincipal;
using identity_detail::StoredPrincipal;
using identity_detail::UnixSeconds;
using identity_detail::ValidateRoles;

namespace {

constexpr int kRecoveryCodeCount = 10;
constexpr std::size_t kRecoveryCodeChars = 10;  // base32: 50 bits each
constexpr int kMaxWrongCodesPerChallenge = 5;
constexpr std::size_t kMaxChallengesPerPrincipal = 4;
constexpr std::size_t kMaxPendingTokenBytes = 100;


// One answer for a wrong, replayed or expired code and for a locked principal: none tells a
// guesser more than the others.
Error CodeRefusal() {
  return Error(ErrorCode::kUnauthenticated,
               "the code is wrong, expired or already used, or two-factor sign-in is temporarily "
               "locked after too many wrong codes");
}
Error ChallengeRefusal() {
  return Error(ErrorCode::kUnauthenticated,
               "this sign-in has expired or was never started: sign in with your password again");
}
Error NoFactorForBootstrap() {
  return Error(ErrorCode::kFailedPrecondition, "the bootstrap token has no second factor");
}

// Six ASCII digits, the shape every RFC 6238 app shows.
Result<void> CheckCodeShape(std::string_view code, std::string_view path) {
  const bool digits = code.size() == 6 && std::all_of(code.begin(), code.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return FailAt(std::string(path), "format", "is the 6-digit code the app shows");
  return {};
}

// "ABCDE-fghij" or "abcdefghij" -> "abcdefghij"; nullopt if it cannot be a recovery code.
std::optional<std::string> NormaliseRecoveryCode(std::string_view code) {
  if (code.size() > 2 * kRecoveryCodeChars) return std::nullopt;
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return std::nullopt;
    out.push_back(c);
  }
  if (out.size() != kRecoveryCodeChars) return std::nullopt;
  return out;
}

// Exactly one of `code` and `recovery_code`, each of the right shape.
Result<std::optional<std::string>> CheckFactorInput(std::optional<std::string_view> code,
                                                    std::optional<std::string_view> recovery_code) {
  if (code.has_value() == recovery_code.has_value()) {
    return FailAt("$.code", "one_of", "send either code (from the app) or recovery_code");
  }
  if (code) {
    if (auto shaped = CheckCodeShape(*code, "$.code"); !shaped) {
      return std::unexpected(shaped.error());
    }
    return std::optional<std::string>();
  }
  auto normalised = NormaliseRecoveryCode(*recovery_code);
  if (!normalised) {
    return FailAt("$.recovery_code", "format", "is one of your recovery codes: xxxxx-xxxxx");
  }
  return normalised;
}

std::string_view ResultName(int index) {
  static constexpr std::array<std::string_view, 4> kNames = {"ok", "refused", "locked",
                                                             "malformed"};
  return kNames[static_cast<std::size_t>(index)];
}

}  // namespace

void IdentityService::CountSecondFactor(SecondFactorResult result) {
  if (auto* counter = second_factor_[static_cast<std::size_t>(result)]) counter->Increment();
}

void IdentityService::InitSecondFactorMetrics() {
  if (metrics_ == nullptr) return;
  for (std::size_t r = 0; r < second_factor_.size(); ++r) {
    second_factor_[r] = &metrics_->GetCounter(
        "strongroom_auth_second_factor_total",
        "Second-factor codes checked (TOTP and recovery codes) by result (ok, refused, locked, "
        "malformed)",
        {{"result", std::string(ResultName(static_cast<int>(r)))}});
  }
}

Result<std::shared_ptr<Directory>> IdentityService::SelfDirectory(const Caller& caller) {
  if (caller.method == AuthMethod::kBootstrap) return std::unexpected(NoFactorForBootstrap());
  if (caller.method != AuthMethod::kSession && caller.method != AuthMethod::kBasicPassword) {
    // An API token (whatever its scopes) must not take over its owner's sign-in.
    return Fail(ErrorCode::kPermissionDenied,
                "sign in with your password to manage your second factor; API tokens cannot");
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::shared_lock lock(mu_);
  auto it = (*dir)->principals.find(caller.principal_id);
  if (it == (*dir)->principals.end()) return Fail(ErrorCode::kNotFound, "no such principal");
  if (it->second.info.kind != PrincipalKind::kUser) {
    return Fail(ErrorCode::kFailedPrecondition,
                "service accounts sign in with API tokens and have no second factor");
  }
  return *dir;
}

// ---- Sign-in challenges

Result<TwoFactorChallenge> IdentityService::NewChallenge(Directory& dir,
                                                         const std::string& principal_id,
                                                         std::string_view source) {
  auto token = crypto::RandomSecret(32);
  if (!token) return std::unexpected(token.error());
  TwoFactorChallenge challenge;
  challenge.pending_token = SecretBytes(std::string_view(crypto::Base64UrlEncode(token->reveal())));
  const auto now = settings_.wall_clock();
  const auto expires = now + settings_.pending_sign_in_timeout;
  challenge.expires_at = FormatRfc3339(expires);
  {
    std::unique_lock lock(mu_);
    std::erase_if(dir.pending_sign_ins, [&](const auto& kv) { return now >= kv.second.expires; });
    // A correct password may open only a few challenges at once: the code throttle counts
    // per principal anyway, this bounds the memory.
    for (;;) {
      auto oldest = dir.pending_sign_ins.end();
      std::size_t count = 0;
      for (auto it = dir.pending_sign_ins.begin(); it != dir.pending_sign_ins.end(); ++it) {
        if (it->second.principal_id != principal_id) continue;
        ++count;
        if (oldest == dir.pending_sign_ins.end() || it->second.expires < oldest->second.expires) {
          oldest = it;
        }
      }
      if (count < kMaxChallengesPerPrincipal || oldest == dir.pending_sign_ins.end()) break;
      dir.pending_sign_ins.erase(oldest);
    }
    dir.pending_sign_ins.emplace(
        crypto::HexEncode(crypto::Sha256(challenge.pending_token.reveal())),
        PendingSignIn{.principal_id = principal_id, .expires = expires, .wrong_codes = 0});
  }
  observe::Info(
      "security.sign_in",
      {{"result", "second_factor_needed"}, {"principal", principal_id}, {"source", source}});
  return challenge;
}

Result<SignedIn> IdentityService::CompleteSignIn(std::string_view pending_token,
                                                 std::optional<std::string_view> code,
                                                 std::optional<std::string_view> recovery_code,
                                                 std::string_view source) {
  if (pending_token.empty()) return FailAt("$.pending_token", "required", "is required");
  if (pending_token.size() > kMaxPendingTokenBytes) {
    CountSecondFactor(SecondFactorResult::kMalformed);
    return std::unexpected(ChallengeRefusal());
  }
  auto input = CheckFactorInput(code, recovery_code);
  if (!input) {
    CountSecondFactor(SecondFactorResult::kMalformed);
    return std::unexpected(input.error());
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("a second-factor check writes the store"));
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  const std::string key = crypto::HexEncode(crypto::Sha256(pending_token));
  const auto now = settings_.wall_clock();
  std::lock_guard writer(write_mu_);
  std::string principal_id;
  {
    std::unique_lock lock(mu_);
    auto it = (*dir)->pending_sign_ins.find(key);
    if (it == (*dir)->pending_sign_ins.end() || now >= it->second.expires) {
      if (it != (*dir)->pending_sign_ins.end()) (*dir)->pending_sign_ins.erase(it);
      CountSecondFactor(SecondFactorResult::kRefused);
      return std::unexpected(ChallengeRefusal());
    }
    principal_id = it->second.principal_id;
    // Disabled or deleted since the password was checked: the challenge is void.
    auto owner = (*dir)->principals.find(principal_id);
    if (owner == (*dir)->principals.end() || owner->second.info.disabled) {
      (*dir)->pending_sign_ins.erase(it);
      CountSecondFactor(SecondFactorResult::kRefused);
      return std::unexpected(ChallengeRefusal());
    }
  }
  const std::optional<std::string_view> normalised_recovery =
      *input ? std::optional<std::string_view>(**input) : std::nullopt;
  auto checked =
      CheckSecondFactorLocked(**dir, principal_id, code, normalised_recovery, source, "sign_in");
  if (!checked) {
    if (checked.error().code() == ErrorCode::kUnauthenticated) {
      std::unique_lock lock(mu_);
      auto it = (*dir)->pending_sign_ins.find(key);
      if (it != (*dir)->pending_sign_ins.end() &&
          ++it->second.wrong_codes >= kMaxWrongCodesPerChallenge) {
        (*dir)->pending_sign_ins.erase(it);  // the password must be shown again
      }
    }
    return std::unexpected(checked.error());
  }
  {
    std::unique_lock lock(mu_);
    if ((*dir)->pending_sign_ins.erase(key) != 1) {  // evicted or voided meanwhile
      return std::unexpected(ChallengeRefusal());
    }
  }
  auto signed_in = NewSession(**dir, principal_id, source);
  if (!signed_in) return std::unexpected(signed_in.error());
  observe::Info("security.sign_in", {{"result", "ok"},
                                     {"principal", principal_id},
                                     {"session", signed_in->session.session_id},
                                     {"factor", code ? "totp" : "recovery_code"},
                                     {"source", source}});
  return signed_in;
}

Result<void> IdentityService::CheckSecondFactorLocked(Directory& dir,
                                                      const std::string& principal_id,
                                                      std::optional<std::string_view> code,
                                                      std::optional<std::string_view> recovery_code,
                                                      std::string_view source,
                                                      std::string_view purpose) {
  const auto steady_now = settings_.steady_clock();
  if (totp_throttle_.LockedFor(principal_id, steady_now) >
      FailureThrottle::Clock::duration::zero()) {
    CountSecondFactor(SecondFactorResult::kLocked);
    observe::Warn("security.second_factor", {{"result", "locked"},
                                             {"principal", principal_id},
                                             {"purpose", purpose},
                                             {"source", source}});
    return std::unexpected(CodeRefusal());
  }
  std::string sealed_secret;
  std::int64_t last_step = -1;
  std::vector<std::string> recovery;
  {
    std::shared_lock lock(mu_);
    auto it = dir.principals.find(principal_id);
    if (it == dir.principals.end()) return std::unexpected(CodeRefusal());
    sealed_secret = it->second.totp_secret;
    last_step = it->second.totp_last_step;
    recovery = it->second.recovery_codes;
  }
  if (sealed_secret.empty()) return std::unexpected(CodeRefusal());
  std::optional<std::int64_t> matched_step;
  std::optional<std::string> matched_recovery;
  if (code) {
    auto secret = dir.OpenTotpSecret(principal_id, sealed_secret);
    if (!secret) return std::unexpected(secret.error());
    auto step = VerifyTotp(
        secret->reveal(), *code, UnixSeconds(settings_.wall_clock()),
        last_step >= 0 ? std::optional<std::uint64_t>(last_step) : std::optional<std::uint64_t>());
    if (step) {
      matched_step = static_cast<std::int64_t>(*step);
    } else if (step.error().code() != ErrorCode::kUnauthenticated) {
      return std::unexpected(step.error());
    }
  } else if (recovery_code) {
    const std::string presented = dir.RecoveryKey(principal_id, *recovery_code);
    for (const auto& stored : recovery) {  // every one compared: no early exit to time
      if (!presented.empty() && crypto::ConstantTimeEqual(Bytes(stored), Bytes(presented))) {
        matched_recovery = stored;
      }
    }
  }
  if (!matched_step && !matched_recovery) {
    CountSecondFactor(SecondFactorResult::kRefused);
    const bool locked = totp_throttle_.RecordFailure(principal_id, steady_now);
    observe::Warn("security.second_factor", {{"result", "refused"},
                                             {"principal", principal_id},
                                             {"factor", code ? "totp" : "recovery_code"},
                                             {"purpose", purpose},
                                             {"source", source}});
    if (locked) {
      observe::Warn("security.second_factor_locked",
                    {{"principal", principal_id},
                     {"failures", totp_throttle_.Failures(principal_id, steady_now)}});
    }
    return std::unexpected(CodeRefusal());
  }
  std::size_t remaining = 0;
  auto consumed = ReplacePrincipal(
      mu_, metadata_, dir, principal_id, "", [&](StoredPrincipal& p) -> Result<bool> {
        if (p.totp_secret != sealed_secret)
          return Fail(ErrorCode::kFailedPrecondition, "factor changed");
        if (matched_step) {
          p.totp_last_step = *matched_step;
        } else {
          std::erase(p.recovery_codes, *matched_recovery);
        }
        remaining = p.recovery_codes.size();
        return false;
      });
  if (!consumed) return std::unexpected(consumed.error());
  totp_throttle_.RecordSuccess(principal_id);
  CountSecondFactor(SecondFactorResult::kOk);
  observe::Info("security.second_factor", {{"result", "ok"},
                                           {"principal", principal_id},
                                           {"factor", code ? "totp" : "recovery_code"},
                                           {"purpose", purpose},
                                           {"source", source}});
  if (matched_recovery) {
    observe::Warn("security.recovery_code_used",
                  {{"principal", principal_id}, {"remaining", remaining}});
  }
  return {};
}

// ---- Enrolment and the caller's own factor

Result<TwoFactorStatus> IdentityService::TwoFactorOf(const Caller& caller) {
  auto dir = SelfDirectory(caller);
  if (!dir) return std::unexpected(dir.error());
  std::shared_lock lock(mu_);
  auto it = (*dir)->principals.find(caller.principal_id);
  if (it == (*dir)->principals.end()) return Fail(ErrorCode::kNotFound, "no such principal");
  const StoredPrincipal& p = it->second;
  TwoFactorStatus status;
  status.enabled = !p.totp_secret.empty();
  status.required = (*dir)->TwoFactorRequired(p);
  status.enrolment_pending = !p.pending_totp_secret.empty();
  status.enrolled_at = p.totp_enrolled_at;
  status.recovery_codes_remaining = static_cast<int>(p.recovery_codes.size());
  return status;
}

Result<TotpEnrolment> IdentityService::BeginTotpEnrolment(const Caller& caller) {
  auto dir = SelfDirectory(caller);
  if (!dir) return std::unexpected(dir.error());
  auto secret = crypto::RandomSecret(kTotpSecretSize);
  if (!secret) return std::unexpected(secret.error());
  std::lock_guard writer(write_mu_);
  auto replaced = ReplacePrincipal(
      mu_, metadata_, **dir, caller.principal_id, "", [&](StoredPrincipal& p) -> Result<bool> {
        if (!p.totp_secret.empty()) {
          return Fail(ErrorCode::kFailedPrecondition,
                      "two-factor authentication is already on: turn it off first "
                      "(POST /v1/auth/totp/disable)");
        }
        auto sealed = (*dir)->SealTotpSecret(p.info.id, secret->reveal());
        if (!sealed) return std::unexpected(sealed.error());
        p.pending_totp_secret = std::move(*sealed);
        p.pending_totp_started_unix = UnixSeconds(settings_.wall_clock());
        return false;
      });
  if (!replaced) return std::unexpected(replaced.error());
  TotpEnrolment enrolment;
  std::string base32 = Base32NoPadding(secret->reveal());
  enrolment.secret_base32 = SecretBytes(std::string_view(base32));
  std::fill(base32.begin(), base32.end(), '\0');
  std::string uri = OtpauthUri(settings_.totp_issuer, replaced->info.username, secret->reveal());
  enrolment.otpauth_uri = SecretBytes(std::string_view(uri));
  std::fill(uri.begin(), uri.end(), '\0');
  observe::Info("security.two_factor_enrolment_started", {{"principal", caller.principal_id}});
  return enrolment;
}

Result<RecoveryCodes> IdentityService::NewRecoveryCodes(Directory& dir,
                                                        const std::string& principal_id,
                                                        std::vector<std::string>* hashes) {
  RecoveryCodes out;
  hashes->clear();
  for (int i = 0; i < kRecoveryCodeCount; ++i) {
    auto raw = crypto::RandomSecret(7);  // 56 bits; the first 50 become ten base32 letters
    if (!raw) return std::unexpected(raw.error());
    std::string code = Base32NoPadding(raw->reveal()).substr(0, kRecoveryCodeChars);
    for (char& c : code) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    std::string key = dir.RecoveryKey(principal_id, code);
    if (key.empty()) return Fail(ErrorCode::kInternal, "cannot hash a recovery code");
    hashes->push_back(std::move(key));
    std::string shown = code.substr(0, 5) + "-" + code.substr(5);
    out.codes.emplace_back(std::string_view(shown));
    std::fill(code.begin(), code.end(), '\0');
    std::fill(shown.begin(), shown.end(), '\0');
  }
  return out;
}

Result<RecoveryCodes> IdentityService::ConfirmTotp(const Caller& caller, std::string_view code,
                                                   std::string_view source,
                                                   std::optional<SignedIn>* fresh_session) {
  if (auto shaped = CheckCodeShape(code, "$.code"); !shaped) {
    CountSecondFactor(SecondFactorResult::kMalformed);
    return std::unexpected(shaped.error());
  }
  auto dir = SelfDirectory(caller);
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  const auto steady_now = settings_.steady_clock();
  if (totp_throttle_.LockedFor(caller.principal_id, steady_now) >
      FailureThrottle::Clock::duration::zero()) {
    CountSecondFactor(SecondFactorResult::kLocked);
    return std::unexpected(CodeRefusal());
  }
  std::string pending;
  std::int64_t started = 0;
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(caller.principal_id);
    if (it == (*dir)->principals.end()) return Fail(ErrorCode::kNotFound, "no such principal");
    pending = it->second.pending_totp_secret;
    started = it->second.pending_totp_started_unix;
  }
  const std::int64_t now = UnixSeconds(settings_.wall_clock());
  if (pending.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "there is no enrolment to confirm: start one with POST /v1/auth/totp");
  }
  if (now - started > settings_.enrolment_timeout.count()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the enrolment has expired: start again with POST /v1/auth/totp");
  }
  auto secret = (*dir)->OpenTotpSecret(caller.principal_id, pending);
  if (!secret) return std::unexpected(secret.error());
  auto step = VerifyTotp(secret->reveal(), code, now, std::nullopt);
  if (!step) {
    if (step.error().code() != ErrorCode::kUnauthenticated) return std::unexpected(step.error());
    CountSecondFactor(SecondFactorResult::kRefused);
    const bool locked = totp_throttle_.RecordFailure(caller.principal_id, steady_now);
    observe::Warn("security.second_factor", {{"result", "refused"},
                                             {"principal", caller.principal_id},
                                             {"factor", "totp"},
                                             {"purpose", "enrolment"},
                                             {"source", source}});
    if (locked)
      observe::Warn("security.second_factor_locked", {{"principal", caller.principal_id}});
    return std::unexpected(CodeRefusal());
  }
  std::vector<std::string> hashes;
  auto codes = NewRecoveryCodes(**dir, caller.principal_id, &hashes);
  if (!codes) return std::unexpected(codes.error());
  auto replaced = ReplacePrincipal(
      mu_, metadata_, **dir, caller.principal_id, "", [&](StoredPrincipal& p) -> Result<bool> {
        if (p.pending_totp_secret != pending) {
          return Fail(ErrorCode::kFailedPrecondition,
                      "the enrolment changed meanwhile: start again");
        }
        p.totp_secret = std::move(p.pending_totp_secret);
        p.pending_totp_secret.clear();
        p.pending_totp_started_unix = 0;
        p.totp_last_step = static_cast<std::int64_t>(*step);
        p.totp_enrolled_at = FormatRfc3339(settings_.wall_clock());
        p.recovery_codes = hashes;
        p.info.updated_at = p.totp_enrolled_at;
        return true;  // a privilege change: every session ends, the caller's is renewed
      });
  if (!replaced) return std::unexpected(replaced.error());
  totp_throttle_.RecordSuccess(caller.principal_id);
  CountSecondFactor(SecondFactorResult::kOk);
  observe::Info("security.two_factor_enabled",
                {{"principal", caller.principal_id}, {"source", source}});
  if (caller.method == AuthMethod::kSession && fresh_session != nullptr) {
    auto fresh = NewSession(**dir, caller.principal_id, source);
    if (!fresh) return std::unexpected(fresh.error());
    *fresh_session = std::move(*fresh);
  }
  return codes;
}

Result<void> IdentityService::DisableTotp(const Caller& caller,
                                          std::optional<std::string_view> code,
                                          std::optional<std::string_view> recovery_code,
                                          std::string_view source) {
  auto input = CheckFactorInput(code, recovery_code);
  if (!input) {
    CountSecondFactor(SecondFactorResult::kMalformed);
    return std::unexpected(input.error());
  }
  auto dir = SelfDirectory(caller);
  if (!dir) return std::unexpected(dir.error());
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(caller.principal_id);
    if (it == (*dir)->principals.end()) return Fail(ErrorCode::kNotFound, "no such principal");
    if (it->second.totp_secret.empty()) {
      return Fail(ErrorCode::kFailedPrecondition, "two-factor authentication is not on");
    }
    if ((*dir)->TwoFactorRequired(it->second)) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "your tenant requires two-factor authentication; an administrator can reset "
                  "your factor if you lost it");
    }
  }
  std::lock_guard writer(write_mu_);
  const std::optional<std::string_view> normalised_recovery =
      *input ? std::optional<std::string_view>(**input) : std::nullopt;
  if (auto checked = CheckSecondFactorLocked(**dir, caller.principal_id, code, normalised_recovery,
                                             source, "disable");
      !checked) {
    return checked;
  }
  auto replaced = ReplacePrincipal(
      mu_, metadata_, **dir, caller.principal_id, "", [&](StoredPrincipal& p) -> Result<bool> {
        {
          std::shared_lock lock(mu_);  // a policy may have been set since the check above
          if ((*dir)->TwoFactorRequired(p)) {
            return Fail(ErrorCode::kFailedPrecondition,
                        "your tenant requires two-factor authentication");
          }
        }
        p.totp_secret.clear();
        p.totp_last_step = -1;
        p.totp_enrolled_at.clear();
        p.recovery_codes.clear();
        p.info.updated_at = FormatRfc3339(settings_.wall_clock());
        return false;
      });
  if (!replaced) return std::unexpected(replaced.error());
  observe::Warn("security.two_factor_disabled",
                {{"principal", caller.principal_id}, {"by", caller.principal_id}});
  return {};
}

Result<RecoveryCodes> IdentityService::RegenerateRecoveryCodes(const Caller& caller,
                                                               std::string_view code,
                                                               std::string_view source) {
  if (auto shaped = CheckCodeShape(code, "$.code"); !shaped) {
    CountSecondFactor(SecondFactorResult::kMalformed);
    return std::unexpected(shaped.error());
  }
  auto dir = SelfDirectory(caller);
  if (!dir) return std::unexpected(dir.error());
  {
    std::shared_lock lock(mu_);
    auto it = (*dir)->principals.find(caller.principal_id);
    if (it == (*dir)->principals.end() || it->second.totp_secret.empty()) {
      return Fail(ErrorCode::kFailedPrecondition, "two-factor authentication is not on");
    }
  }
  std::lock_guard writer(write_mu_);
  if (auto checked = CheckSecondFactorLocked(**dir, caller.principal_id, code, std::nullopt, source,
                                             "recovery_codes");
      !checked) {
    return std::unexpected(checked.error());
  }
  std::vector<std::string> hashes;
  auto codes = NewRecoveryCodes(**dir, caller.principal_id, &hashes);
  if (!codes) return std::unexpected(codes.error());
  auto replaced = ReplacePrincipal(mu_, metadata_, **dir, caller.principal_id, "",
                                   [&](StoredPrincipal& p) -> Result<bool> {
                                     p.recovery_codes = hashes;
                                     return false;
                                   });
  if (!replaced) return std::unexpected(replaced.error());
  observe::Info("security.recovery_codes_regenerated", {{"principal", caller.principal_id}});
  return codes;
}

// ---- Administration

Result<void> IdentityService::ResetTwoFactor(std::string_view id, std::string_view tenant_scope) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::lock_guard writer(write_mu_);
  auto replaced = ReplacePrincipal(
      mu_, metadata_, **dir, id, tenant_scope, [&](StoredPrincipal& p) -> Result<bool> {
        if (p.info.kind != PrincipalKind::kUser) {
          return Fail(ErrorCode::kFailedPrecondition, "service accounts have no second factor");
        }
        p.totp_secret.clear();
        p.totp_last_step = -1;
        p.totp_enrolled_at.clear();
        p.pending_totp_secret.clear();
        p.pending_totp_started_unix = 0;
        p.recovery_codes.clear();
        p.info.updated_at = FormatRfc3339(settings_.wall_clock());
        return true;
      });
  if (!replaced) return std::unexpected(replaced.error());
  (void)totp_throttle_.Unlock(replaced->info.id, settings_.steady_clock());
  {
    std::unique_lock lock(mu_);
    std::erase_if((*dir)->pending_sign_ins,
                  [&](const auto& kv) { return kv.second.principal_id == replaced->info.id; });
  }
  observe::Warn("security.two_factor_reset", {{"principal", replaced->info.id}});
  return {};
}

Result<TwoFactorPolicy> IdentityService::GetTwoFactorPolicy(std::string_view tenant) {
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  std::shared_lock lock(mu_);
  auto it = (*dir)->two_factor_policies.find(tenant);
  if (it != (*dir)->two_factor_policies.end()) return it->second;
  TwoFactorPolicy none;
  none.tenant = std::string(tenant);
  return none;
}

Result<TwoFactorPolicy> IdentityService::SetTwoFactorPolicy(const TwoFactorPolicy& request) {
  if (!request.roles.empty()) {
    if (auto valid = ValidateRoles(request.roles); !valid) return std::unexpected(valid.error());
  }
  auto dir = Current();
  if (!dir) return std::unexpected(dir.error());
  TwoFactorPolicy policy = request;
  policy.updated_at = FormatRfc3339(settings_.wall_clock());
  const bool off = !policy.all_users && policy.roles.empty();
  std::lock_guard writer(write_mu_);
  storage::WriteBatch batch;
  if (off) {
    batch.Delete(kTwoFactorPoliciesSpace, policy.tenant);
  } else {
    batch.Put(kTwoFactorPoliciesSpace, policy.tenant,
              identity_detail::ToBytes(identity_detail::TwoFactorPolicyRecord(policy)));
  }
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  {
    std::unique_lock lock(mu_);
    if (off) {
      (*dir)->two_factor_policies.erase(policy.tenant);
    } else {
      (*dir)->two_factor_policies.insert_or_assign(policy.tenant, policy);
    }
  }
  observe::Warn("security.two_factor_policy_changed",
                {{"tenant", policy.tenant},
                 {"all_users", policy.all_users},
                 {"roles", static_cast<std::int64_t>(policy.roles.size())}});
  return policy;
}

}  // namespace strongroom::auth
