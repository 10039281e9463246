#include "strongroom/audit/audit_keys.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "strongroom/observe/log.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"
#include "support/sealed_vault.h"

namespace strongroom::audit {
namespace {

// Which pseudonym the trail names a subject by: its own while it has keys, the audit key's
// otherwise (the derivations themselves: DataBarrierTest.SubjectKeyPseudonyms...).
class AuditKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    seal_ = strongroom::testing::MakeSealState(scratch_.path(), *store_);
    keys_ = std::make_unique<AuditKeys>(*seal_);
  }
  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<barrier::SealState> seal_;
  std::unique_ptr<AuditKeys> keys_;
};

TEST_F(AuditKeysTest, ASubjectWithKeysIsNamedByItsOwnPseudonymUntilItIsErased) {
  auto sealed = keys_->SubjectPseudonym("acme", "sub_a");
  ASSERT_FALSE(sealed);
  EXPECT_EQ(sealed.error().code(), ErrorCode::kSealed);
  ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
  auto vault = seal_->keys();
  storage::WriteBatch batch;
  ASSERT_TRUE(vault->keyring->AddTenantKeys("acme", batch));
  ASSERT_TRUE(store_->Write(std::move(batch)));

  // No keys yet: the audit key's pseudonym, the same every time, and the only one searched for.
  auto shared = keys_->VaultPseudonym("acme", "sub_a");
  ASSERT_TRUE(shared);
  EXPECT_EQ(*keys_->SubjectPseudonym("acme", "sub_a"), *shared);
  EXPECT_EQ(*keys_->SubjectPseudonyms("acme", "sub_a"), std::vector<std::string>{*shared});
  EXPECT_NE(*keys_->VaultPseudonym("other", "sub_a"), *shared);

  // With keys: its own, and a search looks for both.
  ASSERT_TRUE(vault->barrier->CreateSubjectKey("acme", "sub_a", {}));
  auto own = keys_->SubjectPseudonym("acme", "sub_a");
  ASSERT_TRUE(own);
  EXPECT_NE(*own, *shared);
  EXPECT_EQ(*own, **vault->barrier->SubjectKeyPseudonym("acme", "sub_a"));
  EXPECT_EQ(*keys_->SubjectPseudonyms("acme", "sub_a"), (std::vector<std::string>{*own, *shared}));

  // Erased (forgotten, its key deleted): back to the audit key's; nothing computes its own.
  vault->barrier->Forget("acme", "sub_a");
  storage::WriteBatch erase;
  erase.Delete(keys::kKeysSpace, keys::Keyring::DekEntry("acme", "sub_a", 1));
  ASSERT_TRUE(store_->Write(std::move(erase)));
  EXPECT_EQ(*keys_->SubjectPseudonym("acme", "sub_a"), *shared);
  EXPECT_EQ(*keys_->SubjectPseudonyms("acme", "sub_a"), std::vector<std::string>{*shared});
}

TEST_F(AuditKeysTest, ADamagedSubjectKeyIsNamedUnderTheAuditKeyRatherThanStopTheTrail) {
  ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
  auto vault = seal_->keys();
  storage::WriteBatch batch;
  ASSERT_TRUE(vault->keyring->AddTenantKeys("acme", batch));
  ASSERT_TRUE(store_->Write(std::move(batch)));
  // Made through the keyring, so the barrier has nothing cached for it; then one byte flipped.
  ASSERT_TRUE(vault->keyring->CreateSubjectKey("acme", "sub_d", 0, {}));
  const std::string entry = keys::Keyring::DekEntry("acme", "sub_d", 1);
  auto stored = **store_->Get(keys::kKeysSpace, entry);
  stored.back() ^= 1;
  storage::WriteBatch damage;
  damage.Put(keys::kKeysSpace, entry, stored);
  ASSERT_TRUE(store_->Write(std::move(damage)));
  auto own = vault->barrier->SubjectKeyPseudonym("acme", "sub_d");
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code(), ErrorCode::kDataLoss);
  // The fallback is logged for the operator, with the tenant and never the subject's id.
  const auto log_file = scratch_ / "damaged.log";
  ASSERT_TRUE(observe::InitLogging({observe::LogLevel::kInfo, log_file.string(), /*async=*/false}));
  auto named = keys_->SubjectPseudonym("acme", "sub_d");
  observe::ShutdownLogging();
  std::ifstream in(log_file);
  const std::string logged((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("\"event\":\"audit.subject_key_damaged\""), std::string::npos) << logged;
  EXPECT_NE(logged.find("\"tenant\":\"acme\""), std::string::npos) << logged;
  EXPECT_EQ(logged.find("sub_d"), std::string::npos) << logged;
  ASSERT_TRUE(named);
  EXPECT_EQ(*named, *keys_->VaultPseudonym("acme", "sub_d"));
  EXPECT_EQ(*keys_->SubjectPseudonyms("acme", "sub_d"), std::vector<std::string>{*named});
}

}  // namespace
}  // namespace strongroom::audit
