#include "strongroom/auth/identity.h"

#include <gtest/gtest.h>

#include "strongroom/auth/identity_test_support.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::auth {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using testing_support::Basic;
using testing_support::Bytes;
using testing_support::IdentityTest;
using testing_support::kAlicePassword;
using testing_support::kBootstrapToken;
using testing_support::kNewPassword;
using testing_support::kPassphrase;


TEST_F(IdentityTest, AdminSetPasswordsMustBeChangedBeforeAnythingElse) {
  CreateUser("bob", std::string("a temporary passphrase 2026"));
  auto signed_in = SignInSession("BOB", "a temporary passphrase 2026", "10.0.0.1");
  ASSERT_TRUE(signed_in) << signed_in.error().message();
  EXPECT_TRUE(signed_in->caller.password_change_required);
  EXPECT_TRUE(signed_in->session.password_change_only);
  // The policy applies to the new password, with its rule named.
  auto weak = service_->ChangePassword(signed_in->caller, "a temporary passphrase 2026",
                                       "password1234", "10.0.0.1");
  ExpectCode(weak, ErrorCode::kInvalidArgument);
  EXPECT_EQ(weak.error().path(), "$.new_password");
  EXPECT_EQ(weak.error().rule(), "too_weak");
  // A wrong current password is refused first, whatever the new one.
  auto wrong = service_->ChangePassword(signed_in->caller, "not the current one", "x", "10.0.0.1");
  ExpectCode(wrong, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wrong.error().path(), "$.current_password");
  auto changed = service_->ChangePassword(signed_in->caller, "a temporary passphrase 2026",
                                          kNewPassword, "10.0.0.1");
  ASSERT_TRUE(changed && *changed);
  EXPECT_FALSE((*changed)->caller.password_change_required);
  // The session was rotated: the old cookie is gone, the new one works.
  const std::string old_cookie =
      std::string(kSessionCookie) + "=" + std::string(signed_in->cookie_value.reveal_as_text());
  ExpectCode(Auth(std::nullopt, old_cookie), ErrorCode::kUnauthenticated);
  const std::string new_cookie =
      std::string(kSessionCookie) + "=" + std::string((*changed)->cookie_value.reveal_as_text());
  EXPECT_TRUE(Auth(std::nullopt, new_cookie));
  EXPECT_FALSE(SignInSession("bob", "a temporary passphrase 2026", "10.0.0.1"));
  EXPECT_TRUE(SignInSession("bob", kNewPassword, "10.0.0.1"));
}

TEST_F(IdentityTest, UnknownUsersAndWrongPasswordsGetTheSameAnswer) {
  Alice();
  auto wrong = SignInSession("alice@example.com", "not her password at all", "10.0.0.1");
  auto unknown = SignInSession("mallory@example.com", "not her password at all", "10.0.0.1");
  auto service = CreateUser("app", std::nullopt, {"service"});  // no password at all
  auto no_password = SignInSession("app", "not her password at all", "10.0.0.1");
  ExpectCode(wrong, ErrorCode::kUnauthenticated);
  ExpectCode(unknown, ErrorCode::kUnauthenticated);
  ExpectCode(no_password, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong.error().message(), unknown.error().message());
  EXPECT_EQ(wrong.error().message(), no_password.error().message());
  // Bad input is refused by rule before any work.
  EXPECT_EQ(SignInSession("", "x", "s").error().path(), "$.username");
  EXPECT_EQ(SignInSession(std::string(129, 'a'), "x", "s").error().rule(), "max_length");
  EXPECT_EQ(SignInSession("alice", "", "s").error().path(), "$.password");
  EXPECT_EQ(SignInSession("alice", std::string(4097, 'p'), "s").error().rule(), "max_length");
  ExpectCode(SignInSession("alice@example.com", "\xff\xfe not utf-8", "s"),
             ErrorCode::kUnauthenticated);
}

TEST_F(IdentityTest, ALockRefusesEvenTheRightPasswordUntilItPasses) {
  Alice();
  for (int i = 0; i < 3; ++i) {
    ExpectCode(SignInSession("alice@example.com", "wrong guess number x", "10.0.0.1"),
               ErrorCode::kUnauthenticated);
  }
  EXPECT_TRUE(service_->GetPrincipal(service_->ListPrincipals("")->at(0).id, "")->locked);
  auto locked = SignInSession("alice@example.com", kAlicePassword, "10.0.0.2");
  ExpectCode(locked, ErrorCode::kUnauthenticated);
  auto wrong = SignInSession("mallory", "wrong", "10.0.0.3");
  EXPECT_EQ(locked.error().message(), wrong.error().message());
  steady_ += seconds(59);
  ExpectCode(SignInSession("alice@example.com", kAlicePassword, "10.0.0.2"),
             ErrorCode::kUnauthenticated);
  steady_ += seconds(1);
  ASSERT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.2"));
  // The success reset the count: two more failures do not lock.
  for (int i = 0; i < 2; ++i) {
    (void)SignInSession("alice@example.com", "wrong guess number y", "10.0.0.4");
  }
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.4"));
}

TEST_F(IdentityTest, AnAdministratorCanUnlockAndUnknownNamesLockAlike) {
  auto alice = Alice();
  for (int i = 0; i < 3; ++i) (void)SignInSession("alice@example.com", "wrong", "10.0.1.1");
  auto unlocked = service_->Unlock(alice.id, "");
  ASSERT_TRUE(unlocked);
  EXPECT_TRUE(*unlocked);
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.1.2"));
  // A username nobody has is throttled exactly like a real one (no oracle in the lock).
  for (int i = 0; i < 3; ++i) (void)SignInSession("ghost", "wrong", "10.0.2.1");
  auto ghost = SignInSession("ghost", "wrong", "10.0.2.2");
  ExpectCode(ghost, ErrorCode::kUnauthenticated);
}

TEST_F(IdentityTest, ASourceThatFailsTooOftenIsLockedForEveryUsername) {
  Alice();
  for (int i = 0; i < 5; ++i) {
    (void)SignInSession("user" + std::to_string(i), "wrong", "192.0.2.66");
  }
  ExpectCode(SignInSession("alice@example.com", kAlicePassword, "192.0.2.66"),
             ErrorCode::kUnauthenticated);
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "192.0.2.67"));
}

TEST_F(IdentityTest, TokensCarryScopesExpireAndStopOnTheNextRequest) {
  auto app = CreateUser("billing-app", std::nullopt, {"service"});
  auto issued = service_->IssueToken({.principal_id = app.id,
                                      .name = "reader",
                                      .scopes = {"data:read"},
                                      .expires_at = wall_ + hours(1)},
                                     "");
  ASSERT_TRUE(issued) << issued.error().message();
  const std::string token(issued->token.reveal_as_text());
  EXPECT_TRUE(token.starts_with("srt_"));
  const std::string bearer = "Bearer " + token;
  auto caller = Auth(bearer);
  ASSERT_TRUE(caller);
  EXPECT_EQ(caller->principal_id, app.id);
  EXPECT_EQ(caller->scopes, std::vector<std::string>{"data:read"});
  EXPECT_EQ(caller->credential_id, issued->info.token_id);
  EXPECT_FALSE(service_->ListTokens("", app.id)->at(0).last_used_at.empty());
  // Disabled: refused; enabled again: accepted.
  ASSERT_TRUE(service_->UpdatePrincipal(app.id, "", {.disabled = true}));
  ExpectCode(Auth(bearer), ErrorCode::kUnauthenticated);
  ASSERT_TRUE(service_->UpdatePrincipal(app.id, "", {.disabled = false}));
  EXPECT_TRUE(Auth(bearer));
  // Expired.
  wall_ += hours(1);
  ExpectCode(Auth(bearer), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(service_->ListTokens("", app.id)->at(0).expired);
  // Revoked (another, unexpiring token).
  auto second = service_->IssueToken({.principal_id = app.id, .name = "writer"}, "");
  ASSERT_TRUE(second);
  // Every scope: admin, data:read, data:write, audit:read.
  EXPECT_EQ(second->info.scopes.size(), 4u);
  const std::string bearer2 = "Bearer " + std::string(second->token.reveal_as_text());
  EXPECT_TRUE(Auth(bearer2));
  ASSERT_TRUE(service_->RevokeToken(second->info.token_id, ""));
  ExpectCode(Auth(bearer2), ErrorCode::kUnauthenticated);
  ExpectCode(service_->RevokeToken(second->info.token_id, ""), ErrorCode::kNotFound);
  // Bad requests for tokens.
  EXPECT_EQ(service_->IssueToken({.principal_id = app.id, .name = "x", .scopes = {"root"}}, "")
                .error()
                .path(),
            "$.scopes[0]");
  ExpectCode(service_->IssueToken({.principal_id = app.id, .name = "x"}, "other-tenant"),
             ErrorCode::kNotFound);
  ExpectCode(service_->RevokeToken("tok_boot", ""), ErrorCode::kFailedPrecondition);
}

TEST_F(IdentityTest, BasicAcceptsAPasswordOrThatUsersTokenAndRefusesGarbage) {
  Alice();
  auto app = CreateUser("billing-app", std::nullopt, {"service"});
  auto issued = service_->IssueToken({.principal_id = app.id, .name = "t"}, "");
  ASSERT_TRUE(issued);
  const std::string token(issued->token.reveal_as_text());
  auto by_password = Auth(Basic("alice@example.com:" + std::string(kAlicePassword)));
  ASSERT_TRUE(by_password) << by_password.error().message();
  EXPECT_EQ(by_password->method, AuthMethod::kBasicPassword);
  auto by_token = Auth(Basic("billing-app:" + token));
  ASSERT_TRUE(by_token);
  EXPECT_EQ(by_token->method, AuthMethod::kBasicToken);
  // The token of another principal, under Alice's name: refused.
  ExpectCode(Auth(Basic("alice@example.com:" + token)), ErrorCode::kUnauthenticated);
  for (std::string bad :
       {std::string("Basic"), std::string("Basic !!!!"), Basic("no-colon"), Basic(":password"),
        Basic("alice@example.com:"), std::string("Basic ") + "YWxpY2U6cA",
        std::string("Digest abc"), std::string("Bearer "), std::string("Bearer srt_"),
        std::string("Bearer ") + std::string(300, 'a'), "Bearer srt_" + std::string(250, 'x'),
        std::string("Bearer \xff\xfe")}) {
    ExpectCode(Auth(bad), ErrorCode::kUnauthenticated);
  }
  ExpectCode(Auth(std::nullopt), ErrorCode::kUnauthenticated);
}

TEST_F(IdentityTest, SessionsNeedTheirCsrfTokenAndEndWhenIdleOrOld) {
  Alice();
  auto signed_in = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(signed_in);
  const std::string cookie = "theme=dark; " + std::string(kSessionCookie) + "=" +
                             std::string(signed_in->cookie_value.reveal_as_text());
  EXPECT_TRUE(Auth(std::nullopt, cookie));
  ExpectCode(Auth(std::nullopt, cookie, std::nullopt, true), ErrorCode::kPermissionDenied);
  ExpectCode(Auth(std::nullopt, cookie, "forged", true), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(Auth(std::nullopt, cookie, signed_in->csrf_token, true));
  // Idle: 15 minutes without a request ends it.
  wall_ += minutes(14);
  EXPECT_TRUE(Auth(std::nullopt, cookie));
  wall_ += minutes(15);
  ExpectCode(Auth(std::nullopt, cookie), ErrorCode::kUnauthenticated);
  // Absolute: 8 hours after sign-in, however busy.
  auto busy = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(busy);
  const std::string busy_cookie =
      std::string(kSessionCookie) + "=" + std::string(busy->cookie_value.reveal_as_text());
  for (int i = 0; i < 47; ++i) {
    wall_ += minutes(10);
    ASSERT_TRUE(Auth(std::nullopt, busy_cookie)) << i;
  }
  wall_ += minutes(10);
  ExpectCode(Auth(std::nullopt, busy_cookie), ErrorCode::kUnauthenticated);
}

TEST_F(IdentityTest, SignOutEverywhereAndPrivilegeChangesEndSessions) {
  auto alice = Alice();
  std::vector<std::string> cookies;
  for (int i = 0; i < 3; ++i) {
    auto s = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
    ASSERT_TRUE(s);
    cookies.push_back(std::string(kSessionCookie) + "=" +
                      std::string(s->cookie_value.reveal_as_text()));
  }
  EXPECT_EQ(service_->ListSessions(alice.id, "")->size(), 3u);
  auto first = Auth(std::nullopt, cookies[0]);
  ASSERT_TRUE(first);
  service_->SignOut(*first);
  ExpectCode(Auth(std::nullopt, cookies[0]), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(Auth(std::nullopt, cookies[1]));
  ASSERT_TRUE(
      service_->UpdatePrincipal(alice.id, "", {.roles = std::vector<std::string>{"auditor"}}));
  ExpectCode(Auth(std::nullopt, cookies[1]), ErrorCode::kUnauthenticated);
  auto again = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->caller.roles, std::vector<std::string>{"auditor"});
  EXPECT_EQ(*service_->SignOutEverywhere(alice.id), 1u);
  EXPECT_TRUE(service_->ListSessions(alice.id, "")->empty());
}

TEST_F(IdentityTest, SealingSignsEveryoneOutAndTheDirectorySurvivesARestart) {
  auto alice = Alice();
  auto app = CreateUser("billing-app", std::nullopt, {"service"});
  auto issued = service_->IssueToken({.principal_id = app.id, .name = "t"}, "");
  ASSERT_TRUE(issued);
  const std::string bearer = "Bearer " + std::string(issued->token.reveal_as_text());
  auto s = SignInSession("alice@example.com", kAlicePassword, "10.0.0.1");
  ASSERT_TRUE(s);
  const std::string cookie =
      std::string(kSessionCookie) + "=" + std::string(s->cookie_value.reveal_as_text());
  seal_->Seal();
  ExpectCode(Auth(bearer), ErrorCode::kSealed);
  EXPECT_TRUE(Auth("Bearer " + std::string(kBootstrapToken)));  // break-glass works sealed
  ASSERT_TRUE(seal_->Unseal(Bytes(kPassphrase)));
  ExpectCode(Auth(std::nullopt, cookie), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(Auth(bearer));
  // A new service over the same files (a restart) knows everyone, usernames included.
  service_ = Open();
  auto listed = service_->ListPrincipals("");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(service_->GetPrincipal(alice.id, "")->username, "alice@example.com");
  EXPECT_TRUE(Auth(bearer));
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.1"));
  ExpectCode(service_->GetPrincipal(alice.id, "other-tenant"), ErrorCode::kNotFound);
  ExpectCode(service_->CreatePrincipal(
                 {.tenant = "default", .username = "ALICE@example.com", .roles = {"admin"}}),
             ErrorCode::kAlreadyExists);
}

TEST_F(IdentityTest, TheDatabaseHoldsNoUsernamePasswordOrToken) {
  Alice();
  auto app = CreateUser("billing-app-7f3e", std::nullopt, {"service"});
  auto issued = service_->IssueToken({.principal_id = app.id, .name = "t"}, "");
  ASSERT_TRUE(issued);
  const std::string token(issued->token.reveal_as_text());
  ASSERT_TRUE(Auth("Bearer " + token));
  store_.reset();  // close: everything is in the files now
  std::string files = FileBytes("metadata.db") + FileBytes("metadata.db-wal");
  ASSERT_GT(files.size(), 4096u);
  for (std::string_view needle :
       {std::string_view("alice@example.com"), std::string_view("billing-app-7f3e"), kAlicePassword,
        std::string_view(token), std::string_view(token).substr(4, 20)}) {
    EXPECT_EQ(files.find(needle), std::string::npos) << needle;
  }
  EXPECT_NE(files.find("$argon2id$"), std::string::npos);  // what is there instead
}

TEST_F(IdentityTest, OlderHashParametersAreUpgradedAtTheNextSignIn) {
  auto alice = Alice();
  settings_.argon2 = {.iterations = 2, .memory_bytes = 2ull << 20};
  settings_.pepper = false;
  service_ = Open();
  ASSERT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.1"));
  auto record = store_->Get("principals", alice.id);
  ASSERT_TRUE(record && *record);
  const std::string text((*record)->begin(), (*record)->end());
  EXPECT_NE(text.find("m=2048,t=2"), std::string::npos) << text;
  EXPECT_NE(text.find("\"pepper\":false"), std::string::npos);
  // And the upgraded hash verifies.
  service_ = Open();
  EXPECT_TRUE(SignInSession("alice@example.com", kAlicePassword, "10.0.0.1"));
}

TEST_F(IdentityTest, PrincipalsAreValidated) {
  const auto path_of = [&](IdentityService::NewPrincipal p) {
    auto created = service_->CreatePrincipal(p);
    return created ? std::string("created") : created.error().path() + " " + created.error().rule();
  };
  EXPECT_EQ(path_of({.tenant = "default", .username = "has space", .roles = {"admin"}}),
            "$.username format");
  EXPECT_EQ(path_of({.tenant = "default", .username = "a:b", .roles = {"admin"}}),
            "$.username format");
  EXPECT_EQ(path_of({.tenant = "default", .username = "", .roles = {"admin"}}),
            "$.username required");
  EXPECT_EQ(path_of({.tenant = "default", .username = "x", .roles = {}}), "$.roles min_items");
  EXPECT_EQ(path_of({.tenant = "default", .username = "x", .roles = {"Admin"}}),
            "$.roles[0] format");
  EXPECT_EQ(path_of({.tenant = "default", .username = "x", .roles = {"a", "a"}}),
            "$.roles[1] unique");
  EXPECT_EQ(path_of({.tenant = "default",
                     .username = "x",
                     .kind = PrincipalKind::kService,
                     .roles = {"service"},
                     .password = std::string(kAlicePassword)}),
            "$.password not_allowed");
  EXPECT_EQ(path_of({.tenant = "default",
                     .username = "x",
                     .roles = {"admin"},
                     .password = std::string("short")}),
            "$.password min_length");
}

}  // namespace
}  // namespace strongroom::auth
