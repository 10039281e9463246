// The second factor of IdentityService: enrolment, challenges, replay, the code throttle,
// recovery codes and the tenants' policy. Codes come from totp.h's TotpCode, which is checked
// against the RFC 6238 vectors and oathtool in totp_test.cc; the integration test drives the
// same flow over HTTPS with codes from oathtool itself.

#include <liboath/oath.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "strongroom/auth/identity.h"
#include "strongroom/auth/identity_test_support.h"
#include "strongroom/auth/totp.h"

namespace strongroom::auth {
namespace {

using std::chrono::seconds;
using testing_support::Basic;
using testing_support::IdentityTest;
using testing_support::kAlicePassword;

// liboath's base32 decoder, as an app would read the secret typed in by hand.
std::vector<std::uint8_t> FromBase32(std::string_view text) {
  char* out = nullptr;
  size_t size = 0;
  EXPECT_EQ(oath_base32_decode(text.data(), text.size(), &out, &size), OATH_OK);
  std::vector<std::uint8_t> bytes(out, out + size);
  std::free(out);  // NOLINT(cppcoreguidelines-no-malloc): liboath allocates with malloc
  return bytes;
}

class TwoFactorTest : public IdentityTest {
 protected:
  // Alice with a confirmed factor; her secret and recovery codes kept for the test.
  void EnrolAlice() {
    Alice();
    auto session = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
    ASSERT_TRUE(session);
    alice_ = session->caller;
    auto enrolment = service_->BeginTotpEnrolment(alice_);
    ASSERT_TRUE(enrolment) << enrolment.error().message();
    secret_ = FromBase32(enrolment->secret_base32.reveal_as_text());
    ASSERT_EQ(secret_.size(), kTotpSecretSize);
    std::optional<SignedIn> fresh;
    auto codes = service_->ConfirmTotp(alice_, Code(0), "10.0.0.1", &fresh);
    ASSERT_TRUE(codes) << codes.error().message();
    ASSERT_TRUE(fresh);
    alice_ = fresh->caller;
    for (const auto& c : codes->codes) recovery_.emplace_back(c.reveal_as_text());
    wall_ += seconds(30);  // the confirming step is used: later tests start at the next one
  }

  // The app's code `steps` steps from the service's clock.
  std::string Code(int steps) {
    const auto unix_now =
        std::chrono::duration_cast<seconds>(wall_.time_since_epoch()).count() + 30LL * steps;
    return *TotpCode(secret_, unix_now);
  }

  Result<TwoFactorChallenge> Challenge(std::string_view source = "10.0.0.1") {
    auto result = service_->SignIn("alice@example.com", kAlicePassword, source);
    if (!result) return std::unexpected(result.error());
    if (!result->challenge) return Fail(ErrorCode::kInternal, "signed in without a code");
    return std::move(*result->challenge);
  }

  Result<SignedIn> Complete(const TwoFactorChallenge& c, std::optional<std::string> code,
                            std::optional<std::string> recovery = std::nullopt) {
    return service_->CompleteSignIn(
        c.pending_token.reveal_as_text(),
        code ? std::optional<std::string_view>(*code) : std::nullopt,
        recovery ? std::optional<std::string_view>(*recovery) : std::nullopt, "10.0.0.1");
  }

  Caller alice_;
  std::vector<std::uint8_t> secret_;
  std::vector<std::string> recovery_;
};

TEST_F(TwoFactorTest, EnrolmentGivesAnAppUriAndStartsOnlyWithAConfirmingCode) {
  Alice();
  auto session = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(session);
  auto enrolment = service_->BeginTotpEnrolment(session->caller);
  ASSERT_TRUE(enrolment);
  const std::string base32(enrolment->secret_base32.reveal_as_text());
  EXPECT_EQ(base32.size(), 32u);  // 160 bits
  EXPECT_EQ(enrolment->otpauth_uri.reveal_as_text(),
            "otpauth://totp/Strongroom:alice%40example.com?secret=" + base32 +
                "&issuer=Strongroom&algorithm=SHA1&digits=6&period=30");
  secret_ = FromBase32(base32);
  auto status = service_->TwoFactorOf(session->caller);
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->enabled);
  EXPECT_TRUE(status->enrolment_pending);
  // Not on yet: a sign-in needs no code.
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.1"));

  std::optional<SignedIn> fresh;
  ExpectCode(service_->ConfirmTotp(session->caller, Code(3), "10.0.0.1", &fresh),
             ErrorCode::kUnauthenticated);
  ExpectCode(service_->ConfirmTotp(session->caller, "12345", "10.0.0.1", &fresh),
             ErrorCode::kInvalidArgument);
  auto codes = service_->ConfirmTotp(session->caller, Code(0), "10.0.0.1", &fresh);
  ASSERT_TRUE(codes) << codes.error().message();
  ASSERT_EQ(codes->codes.size(), 10u);
  std::set<std::string> distinct;
  for (const auto& c : codes->codes) {
    const std::string text(c.reveal_as_text());
    ASSERT_EQ(text.size(), 11u);
    EXPECT_EQ(text[5], '-');
    EXPECT_TRUE(std::all_of(text.begin(), text.end(), [](char ch) {
      return ch == '-' || (ch >= 'a' && ch <= 'z') || (ch >= '2' && ch <= '7');
    })) << text;
    distinct.insert(text);
  }
  EXPECT_EQ(distinct.size(), 10u);
  // Turning it on is a privilege change: the old session ends, the caller gets a new one.
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->session.session_id, session->session.session_id);
  const std::string old_cookie =
      std::string(kSessionCookie) + "=" + std::string(session->cookie_value.reveal_as_text());
  ExpectCode(Auth(std::nullopt, old_cookie), ErrorCode::kUnauthenticated);
  status = service_->TwoFactorOf(fresh->caller);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->enabled);
  EXPECT_EQ(status->recovery_codes_remaining, 10);
  ExpectCode(service_->BeginTotpEnrolment(fresh->caller), ErrorCode::kFailedPrecondition);
}

TEST_F(TwoFactorTest, AnEnrolmentLeftTooLongMustStartAgain) {
  Alice();
  auto session = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(session);
  auto enrolment = service_->BeginTotpEnrolment(session->caller);
  ASSERT_TRUE(enrolment);
  secret_ = FromBase32(enrolment->secret_base32.reveal_as_text());
  wall_ += std::chrono::minutes(16);
  std::optional<SignedIn> fresh;
  ExpectCode(service_->ConfirmTotp(session->caller, Code(0), "10.0.0.1", &fresh),
             ErrorCode::kFailedPrecondition);
}

TEST_F(TwoFactorTest, SignInNeedsACodeInTheWindowAndEachStepOnlyOnce) {
  EnrolAlice();
  // Password alone gives a challenge, never a session.
  auto challenge = Challenge();
  ASSERT_TRUE(challenge);
  EXPECT_FALSE(challenge->pending_token.empty());
  // ±2 steps are out of the window; -1 is the step the confirmation used (a replay).
  ExpectCode(Complete(*challenge, Code(2)), ErrorCode::kUnauthenticated);
  ExpectCode(Complete(*challenge, Code(-2)), ErrorCode::kUnauthenticated);
  ExpectCode(Complete(*challenge, Code(-1)), ErrorCode::kUnauthenticated);
  auto signed_in = Complete(*challenge, Code(0));
  ASSERT_TRUE(signed_in) << signed_in.error().message();
  EXPECT_EQ(signed_in->caller.principal_id, alice_.principal_id);
  // The challenge is spent, and the code is spent with it.
  ExpectCode(Complete(*challenge, Code(0)), ErrorCode::kUnauthenticated);
  auto again = Challenge();
  ASSERT_TRUE(again);
  ExpectCode(Complete(*again, Code(0)), ErrorCode::kUnauthenticated);  // replayed
  EXPECT_TRUE(Complete(*again, Code(1)));                              // the next step, early
  // Steps are consumed in the store: a restarted service still refuses the used ones.
  service_ = Open();
  auto after_restart = Challenge();
  ASSERT_TRUE(after_restart);
  ExpectCode(Complete(*after_restart, Code(1)), ErrorCode::kUnauthenticated);
  wall_ += seconds(60);
  EXPECT_TRUE(Complete(*after_restart, Code(0)));
}

TEST_F(TwoFactorTest, CodesAreThrottledPerPrincipalAndALockRefusesEvenTheRightCode) {
  EnrolAlice();
  auto challenge = Challenge();
  ASSERT_TRUE(challenge);
  // The default allows five wrong codes; a new challenge (the password again) does not reset.
  for (int i = 0; i < 4; ++i) {
    ExpectCode(Complete(*challenge, "000000" == Code(0) ? "111111" : "000000"),
               ErrorCode::kUnauthenticated);
  }
  auto second = Challenge("10.0.0.7");
  ASSERT_TRUE(second);
  ExpectCode(Complete(*second, "000000" == Code(0) ? "111111" : "000000"),
             ErrorCode::kUnauthenticated);
  auto third = Challenge();
  ASSERT_TRUE(third);
  auto locked = Complete(*third, Code(0));
  ExpectCode(locked, ErrorCode::kUnauthenticated);
  EXPECT_NE(locked.error().message().find("temporarily locked"), std::string::npos);
  steady_ += seconds(61);
  EXPECT_TRUE(Complete(*third, Code(0)));
}

TEST_F(TwoFactorTest, AChallengeDiesAfterFiveWrongCodes) {
  settings_.totp_throttle.max_failures = 10;
  service_ = Open();
  EnrolAlice();
  auto challenge = Challenge();
  ASSERT_TRUE(challenge);
  for (int i = 0; i < 5; ++i) {
    ExpectCode(Complete(*challenge, "000000" == Code(0) ? "111111" : "000000"),
               ErrorCode::kUnauthenticated);
  }
  auto dead = Complete(*challenge, Code(0));
  ExpectCode(dead, ErrorCode::kUnauthenticated);
  EXPECT_NE(dead.error().message().find("sign in with your password again"), std::string::npos);
}

TEST_F(TwoFactorTest, DisablingOrResettingThePrincipalVoidsItsOpenChallenges) {
  EnrolAlice();
  auto challenge = Challenge();
  ASSERT_TRUE(challenge);
  IdentityService::PrincipalChange disable;
  disable.disabled = true;
  ASSERT_TRUE(service_->UpdatePrincipal(alice_.principal_id, "", disable));
  ExpectCode(Complete(*challenge, Code(0)), ErrorCode::kUnauthenticated);
  disable.disabled = false;
  ASSERT_TRUE(service_->UpdatePrincipal(alice_.principal_id, "", disable));
  ExpectCode(Complete(*challenge, Code(0)), ErrorCode::kUnauthenticated);  // gone for good
  // A password reset voids them too: they were opened with the old password.
  auto before_reset = Challenge();
  ASSERT_TRUE(before_reset);
  ASSERT_TRUE(service_->ResetPassword(alice_.principal_id, "", "an entirely new passphrase 77"));
  ExpectCode(Complete(*before_reset, Code(0)), ErrorCode::kUnauthenticated);
}

TEST_F(TwoFactorTest, ChallengesExpireAndGarbageIsRefusedCleanly) {
  EnrolAlice();
  auto challenge = Challenge();
  ASSERT_TRUE(challenge);
  ExpectCode(service_->CompleteSignIn("not-a-challenge", "123456", std::nullopt, "s"),
             ErrorCode::kUnauthenticated);
  ExpectCode(service_->CompleteSignIn(std::string(500, 'x'), "123456", std::nullopt, "s"),
             ErrorCode::kUnauthenticated);
  EXPECT_EQ(service_->CompleteSignIn("", "123456", std::nullopt, "s").error().path(),
            "$.pending_token");
  const std::string token(challenge->pending_token.reveal_as_text());
  EXPECT_EQ(service_->CompleteSignIn(token, std::nullopt, std::nullopt, "s").error().rule(),
            "one_of");
  EXPECT_EQ(service_->CompleteSignIn(token, "123456", "abcde-fghij", "s").error().rule(), "one_of");
  EXPECT_EQ(service_->CompleteSignIn(token, "12a456", std::nullopt, "s").error().path(), "$.code");
  EXPECT_EQ(service_->CompleteSignIn(token, "1234567", std::nullopt, "s").error().path(), "$.code");
  EXPECT_EQ(service_->CompleteSignIn(token, std::nullopt, "abc", "s").error().path(),
            "$.recovery_code");
  EXPECT_EQ(service_->CompleteSignIn(token, std::nullopt, "\xff\xfe\xfd", "s").error().path(),
            "$.recovery_code");
  wall_ += std::chrono::minutes(6);
  ExpectCode(Complete(*challenge, Code(0)), ErrorCode::kUnauthenticated);
}

TEST_F(TwoFactorTest, RecoveryCodesWorkOnceAndCanBeRegenerated) {
  EnrolAlice();
  auto challenge = Challenge();
  ASSERT_TRUE(challenge);
  // Typed in capitals and without the dash, as people do.
  std::string typed = recovery_[3];
  typed.erase(5, 1);
  std::transform(typed.begin(), typed.end(), typed.begin(), ::toupper);
  ASSERT_TRUE(Complete(*challenge, std::nullopt, typed));
  auto status = service_->TwoFactorOf(alice_);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->recovery_codes_remaining, 9);
  auto again = Challenge();
  ASSERT_TRUE(again);
  ExpectCode(Complete(*again, std::nullopt, recovery_[3]), ErrorCode::kUnauthenticated);
  // Regenerating needs a current code and replaces all ten.
  ExpectCode(service_->RegenerateRecoveryCodes(alice_, "000000" == Code(0) ? "111111" : "000000",
                                               "10.0.0.1"),
             ErrorCode::kUnauthenticated);
  auto fresh = service_->RegenerateRecoveryCodes(alice_, Code(0), "10.0.0.1");
  ASSERT_TRUE(fresh) << fresh.error().message();
  ASSERT_EQ(fresh->codes.size(), 10u);
  ExpectCode(Complete(*again, std::nullopt, recovery_[0]), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(Complete(*again, std::nullopt, std::string(fresh->codes[0].reveal_as_text())));
}

TEST_F(TwoFactorTest, BasicWithAPasswordIsRefusedOnceTheFactorIsOnButTokensStillWork) {
  EnrolAlice();
  auto basic = Auth(Basic(std::string("alice@example.com:") + std::string(kAlicePassword)));
  ExpectCode(basic, ErrorCode::kUnauthenticated);
  EXPECT_NE(basic.error().message().find("two factors"), std::string::npos);
  // A wrong password gets the generic answer, not the two-factor one.
  auto wrong = Auth(Basic("alice@example.com:not her password at all"));
  ExpectCode(wrong, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong.error().message().find("two factors"), std::string::npos);
  auto token = service_->IssueToken({.principal_id = alice_.principal_id, .name = "cli"}, "");
  ASSERT_TRUE(token);
  auto by_token = Auth("Bearer " + std::string(token->token.reveal_as_text()));
  ASSERT_TRUE(by_token);
  // A token (whatever its scopes) cannot take over its owner's sign-in.
  ExpectCode(service_->DisableTotp(*by_token, std::nullopt, recovery_[0], "s"),
             ErrorCode::kPermissionDenied);
  ExpectCode(service_->RegenerateRecoveryCodes(*by_token, Code(0), "s"),
             ErrorCode::kPermissionDenied);
  ExpectCode(service_->BeginTotpEnrolment(*by_token), ErrorCode::kPermissionDenied);
}

TEST_F(TwoFactorTest, ATenantPolicyLeadsUsersThroughEnrolmentWithoutALockOut) {
  Alice();
  auto bob = CreateUser("bob", std::string("a temporary passphrase 2026"), {"auditor"});
  auto open = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(open);
  ASSERT_FALSE(open->caller.two_factor_enrolment_required);
  ASSERT_TRUE(service_->SetTwoFactorPolicy({.tenant = "default", .roles = {"admin"}}));
  // A session opened before the policy is restricted from the next request on.
  const std::string cookie =
      std::string(kSessionCookie) + "=" + std::string(open->cookie_value.reveal_as_text());
  auto restricted = Auth(std::nullopt, cookie);
  ASSERT_TRUE(restricted);
  EXPECT_TRUE(restricted->two_factor_enrolment_required);
  auto info = service_->GetPrincipal(open->caller.principal_id, "");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->two_factor_required);
  EXPECT_FALSE(info->two_factor_enabled);
  EXPECT_FALSE(service_->GetPrincipal(bob.id, "")->two_factor_required);  // not an admin
  // A new sign-in is a session that may only enrol; enrolling lifts the restriction.
  auto first = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->caller.two_factor_enrolment_required);
  auto enrolment = service_->BeginTotpEnrolment(first->caller);
  ASSERT_TRUE(enrolment);
  secret_ = FromBase32(enrolment->secret_base32.reveal_as_text());
  std::optional<SignedIn> fresh;
  ASSERT_TRUE(service_->ConfirmTotp(first->caller, Code(0), "10.0.0.1", &fresh));
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->caller.two_factor_enrolment_required);
  // Required: she cannot turn it off herself; an administrator can reset it (a lost phone), and
  // she is led through enrolment again.
  wall_ += seconds(30);
  ExpectCode(service_->DisableTotp(fresh->caller, Code(0), std::nullopt, "10.0.0.1"),
             ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(service_->ResetTwoFactor(fresh->caller.principal_id, ""));
  auto after_reset = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(after_reset);
  EXPECT_TRUE(after_reset->caller.two_factor_enrolment_required);
  // The policy is stored: a restarted service still applies it.
  service_ = Open();
  auto reloaded = service_->GetTwoFactorPolicy("default");
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->roles, std::vector<std::string>{"admin"});
  after_reset = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(after_reset);
  EXPECT_TRUE(after_reset->caller.two_factor_enrolment_required);
  // Turning the policy off lifts it.
  ASSERT_TRUE(service_->SetTwoFactorPolicy({.tenant = "default"}));
  EXPECT_FALSE(service_->GetTwoFactorPolicy("default")->all_users);
  EXPECT_TRUE(service_->GetTwoFactorPolicy("default")->roles.empty());
  auto lifted = Auth(std::nullopt, std::string(kSessionCookie) + "=" +
                                       std::string(after_reset->cookie_value.reveal_as_text()));
  ASSERT_TRUE(lifted);
  EXPECT_FALSE(lifted->two_factor_enrolment_required);
  ExpectCode(service_->SetTwoFactorPolicy({.tenant = "default", .roles = {"Not A Role"}}),
             ErrorCode::kInvalidArgument);
}

TEST_F(TwoFactorTest, TurningItOffNeedsACodeOrARecoveryCode) {
  EnrolAlice();
  EXPECT_EQ(service_->DisableTotp(alice_, std::nullopt, std::nullopt, "s").error().rule(),
            "one_of");
  ExpectCode(
      service_->DisableTotp(alice_, "000000" == Code(0) ? "111111" : "000000", std::nullopt, "s"),
      ErrorCode::kUnauthenticated);
  ASSERT_TRUE(service_->DisableTotp(alice_, std::nullopt, recovery_[9], "s"));
  EXPECT_FALSE(service_->TwoFactorOf(alice_)->enabled);
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.1"));
}

TEST_F(TwoFactorTest, OnlyUsersHaveASecondFactorAndItsSecretIsStoredSealed) {
  auto app = service_->CreatePrincipal({.tenant = "default",
                                        .username = "app",
                                        .kind = PrincipalKind::kService,
                                        .roles = {"service"}});
  ASSERT_TRUE(app);
  auto token = service_->IssueToken({.principal_id = app->id, .name = "t"}, "");
  ASSERT_TRUE(token);
  auto as_app = Auth("Bearer " + std::string(token->token.reveal_as_text()));
  ASSERT_TRUE(as_app);
  ExpectCode(service_->BeginTotpEnrolment(*as_app), ErrorCode::kPermissionDenied);  // a token
  auto bootstrap = Auth("Bearer " + std::string(testing_support::kBootstrapToken));
  ASSERT_TRUE(bootstrap);
  ExpectCode(service_->BeginTotpEnrolment(*bootstrap), ErrorCode::kFailedPrecondition);
  ExpectCode(service_->ResetTwoFactor(app->id, ""), ErrorCode::kFailedPrecondition);

  EnrolAlice();
  store_.reset();  // flush and close, then read the database's bytes
  const std::string db = FileBytes("metadata.db") + FileBytes("metadata.db-wal");
  const std::string base32 = Base32NoPadding(secret_);
  EXPECT_EQ(db.find(base32), std::string::npos);
  EXPECT_EQ(db.find(std::string(secret_.begin(), secret_.end())), std::string::npos);
  for (const auto& code : recovery_) {
    std::string bare = code;
    bare.erase(5, 1);
    EXPECT_EQ(db.find(bare), std::string::npos);
  }
  EXPECT_EQ(db.find("alice@example.com"), std::string::npos);
}

}  // namespace
}  // namespace strongroom::auth
