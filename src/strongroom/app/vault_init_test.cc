#include "strongroom/app/vault_init.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "strongroom/auth/api_token.h"
#include "support/scratch_dir.h"

namespace strongroom::app {
namespace {

class VaultInitTest : public ::testing::Test {
 protected:
  void SetUp() override { config_.server.data_dir = (root_ / "vault").string(); }
  static std::string Read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  testing::ScratchDir scratch_;
  const std::filesystem::path& root_ = scratch_.path();
  config::Config config_;
};

TEST_F(VaultInitTest, CreatesPrivateLayoutAndStoresOnlyTheTokenHash) {
  EXPECT_FALSE(CheckVaultInitialized(config_));
  auto outcome = InitializeVault(config_);
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_TRUE(CheckVaultInitialized(config_));
  EXPECT_TRUE(outcome->created_development_certificate);

  const auto dir = root_ / "vault";
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
  ASSERT_EQ(::stat((dir / "auth" / "bootstrap-admin.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  const std::string stored = Read(dir / "auth" / "bootstrap-admin.json");
  const std::string token(outcome->admin_token.reveal_as_text());
  EXPECT_EQ(stored.find(token), std::string::npos);
  EXPECT_EQ(stored.find(token.substr(4)), std::string::npos);
  const auto at = stored.find("\"token_sha256\":\"");
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(auth::TokenMatches(token, stored.substr(at + 16, 64)));
}

TEST_F(VaultInitTest, RefusesToInitialiseTwice) {
  ASSERT_TRUE(InitializeVault(config_));
  const auto again = InitializeVault(config_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(VaultInitTest, UninitialisedDirectoryNamesTheFix) {
  const auto check = CheckVaultInitialized(config_);
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(check.error().message().find("strongroom init --data-dir"), std::string::npos);
}

}  // namespace
}  // namespace strongroom::app
