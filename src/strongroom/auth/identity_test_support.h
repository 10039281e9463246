#pragma once
// The IdentityService test fixture shared by identity_test.cc and identity_two_factor_test.cc:
// real SQLite, a real sealed key file and Argon2id at small parameters (the production minimum
// is enforced by the configuration, not by the service). Both clocks are stepped by hand.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/auth/identity.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::auth::testing_support {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

inline constexpr std::string_view kPassphrase = "correct horse battery staple";
inline constexpr std::string_view kBootstrapToken = "srt_bootstrap-token-for-the-identity-tests";
inline constexpr std::string_view kAlicePassword = "violet tractor umbrella quietly 1987";
inline constexpr std::string_view kNewPassword = "seven lanterns drift over quiet harbours";

inline std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline std::string Basic(std::string_view user_and_secret) {
  return "Basic " + crypto::Base64Encode(Bytes(user_and_secret));
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    ASSERT_TRUE(keys::CreateSealedKeyFile(scratch_ / "root.sealed", Bytes(kPassphrase),
                                          {.iterations = 1, .memory_bytes = 8ull << 20}));
    std::ofstream(scratch_ / "bootstrap.json")
        << R"({"token_id":"tok_boot","created_at":"2026-11-22T00:00:00Z","token_sha256":")"
        << crypto::HexEncode(crypto::Sha256(kBootstrapToken)) << "\"}";
    seal_ = std::make_unique<barrier::SealState>(
        std::make_unique<keys::SealedFileRootKeyProvider>(scratch_ / "root.sealed"), *store_,
        barrier::SealState::Options{});
    ASSERT_TRUE(seal_->Unseal(Bytes(kPassphrase)));
    settings_.argon2 = {.iterations = 1, .memory_bytes = 1ull << 20};
    settings_.account_throttle = {.max_failures = 3,
                                  .wait_increment = seconds(60),
                                  .max_wait = minutes(15),
                                  .failure_reset = hours(12)};
    settings_.source_throttle = settings_.account_throttle;
    settings_.source_throttle.max_failures = 5;
    service_ = Open();
  }

  std::unique_ptr<IdentityService> Open() {
    IdentitySettings s = settings_;
    s.wall_clock = [this] { return wall_; };
    s.steady_clock = [this] { return steady_; };
    auto service = IdentityService::Open(*store_, *seal_, scratch_ / "bootstrap.json", s,
                                         PasswordPolicy(), nullptr);
    EXPECT_TRUE(service) << service.error().message();
    return std::move(*service);
  }

  PrincipalInfo CreateUser(std::string_view username, std::optional<std::string> password,
                           std::vector<std::string> roles = {"admin"}) {
    IdentityService::NewPrincipal p{.tenant = "default",
                                    .username = std::string(username),
                                    .kind = PrincipalKind::kUser,
                                    .roles = std::move(roles),
                                    .password = std::move(password)};
    auto created = service_->CreatePrincipal(p);
    EXPECT_TRUE(created) << created.error().message();
    return *created;
  }

  // Alice with her own (changed) password: a usable account.
  PrincipalInfo Alice() {
    auto alice = CreateUser("alice@example.com", std::string("a temporary passphrase 2026"));
    auto first = SignInSession("alice@example.com", "a temporary passphrase 2026", "10.0.0.1");
    EXPECT_TRUE(first);
    EXPECT_TRUE(first->caller.password_change_required);
    auto changed = service_->ChangePassword(first->caller, "a temporary passphrase 2026",
                                            kAlicePassword, "10.0.0.1");
    EXPECT_TRUE(changed && *changed);
    service_->SignOut((*changed)->caller);  // start each test without sessions
    return alice;
  }

  // A password sign-in that must end in a session (an error otherwise, also for a challenge).
  Result<SignedIn> SignInSession(std::string_view username, std::string_view password,
                                 std::string_view source) {
    auto result = service_->SignIn(username, password, source);
    if (!result) return std::unexpected(result.error());
    if (!result->signed_in) return Fail(ErrorCode::kInternal, "a challenge, not a session");
    return std::move(*result->signed_in);
  }

  Result<Caller> Auth(std::optional<std::string_view> authorization,
                      std::optional<std::string_view> cookie = std::nullopt,
                      std::optional<std::string_view> csrf = std::nullopt, bool changing = false) {
    return service_->Authenticate({.authorization = authorization,
                                   .cookie = cookie,
                                   .csrf_token = csrf,
                                   .state_changing = changing,
                                   .source = "10.0.0.9"});
  }

  static void ExpectCode(const auto& result, ErrorCode code) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), code) << result.error().message();
  }

  std::string FileBytes(const std::string& name) {
    std::ifstream in(scratch_ / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<barrier::SealState> seal_;
  IdentitySettings settings_;
  std::unique_ptr<IdentityService> service_;
  std::chrono::system_clock::time_point wall_ =
      std::chrono::system_clock::time_point(seconds(1'790'000'000));
  FailureThrottle::Clock::time_point steady_ = FailureThrottle::Clock::time_point(hours(100));
};

}  // namespace strongroom::auth::testing_support
