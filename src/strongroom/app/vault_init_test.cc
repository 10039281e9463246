#include "strongroom/app/vault_init.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "strongroom/auth/api_token.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/storage/sqlite_store.h"
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
  Result<InitOutcome> Init() { return InitializeVault(config_, Passphrase(), kFastSealing); }
  static std::span<const std::uint8_t> Passphrase() {
    static constexpr std::string_view kText = "correct horse battery staple";
    return {reinterpret_cast<const std::uint8_t*>(kText.data()), kText.size()};
  }
  // Argon2id at its floor: these tests are about the layout, not the KDF.
  static constexpr crypto::Argon2idParams kFastSealing{.iterations = 1,
                                                       .memory_bytes = 8ull << 20};
  testing::ScratchDir scratch_;
  const std::filesystem::path& root_ = scratch_.path();
  config::Config config_;
};

TEST_F(VaultInitTest, CreatesPrivateLayoutAndStoresOnlyTheTokenHash) {
  EXPECT_FALSE(CheckVaultInitialized(config_));
  auto outcome = Init();
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

TEST_F(VaultInitTest, SealsTheRootKeyAndCreatesTheDefaultTenant) {
  ASSERT_TRUE(Init());
  const auto sealed = root_ / "vault" / "keys" / "root.sealed";
  struct stat st {};
  ASSERT_EQ(::stat(sealed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_TRUE(keys::UnsealKeyFile(sealed, Passphrase()));
  auto metadata = storage::OpenSqliteStore(root_ / "vault" / "metadata.db");
  ASSERT_TRUE(metadata);
  auto tenant = (*metadata)->Get("tenants", "default");
  ASSERT_TRUE(tenant && *tenant);
  auto kek = (*metadata)->Get("keys", "kek/default/0000000001");
  ASSERT_TRUE(kek && *kek);
  EXPECT_EQ((*kek)->size(), 61u);  // format byte, nonce, wrapped 32-byte key, tag
}

TEST_F(VaultInitTest, RefusesAShortPassphrase) {
  constexpr std::string_view kShort = "too short";
  auto outcome = InitializeVault(
      config_, {reinterpret_cast<const std::uint8_t*>(kShort.data()), kShort.size()}, kFastSealing);
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(outcome.error().message().find("at least 12"), std::string::npos);
  EXPECT_FALSE(CheckVaultInitialized(config_));
}

TEST_F(VaultInitTest, RefusesToInitialiseTwice) {
  ASSERT_TRUE(Init());
  const auto again = Init();
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
