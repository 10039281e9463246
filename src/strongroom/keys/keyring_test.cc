#include "strongroom/keys/keyring.h"

#include <gtest/gtest.h>

#include "strongroom/crypto/kdf.h"
#include "strongroom/crypto/random.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::keys {
namespace {

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    root_ = std::move(*crypto::RandomSecret(32));
    ring_ = Open();
    storage::WriteBatch batch;
    ASSERT_TRUE(ring_->AddTenantKeys("acme", batch));
    ASSERT_TRUE(store_->Write(std::move(batch)));
  }
  std::unique_ptr<Keyring> Open() {
    auto ring = Keyring::Create(SecretBytes(root_.reveal()), *store_);
    EXPECT_TRUE(ring);
    return std::move(*ring);
  }
  DataKey NewKey(std::string_view subject, std::uint64_t reserve = 16) {
    storage::WriteBatch batch;
    auto key = ring_->NewSubjectKey("acme", subject, reserve, batch);
    EXPECT_TRUE(key);
    EXPECT_TRUE(store_->Write(std::move(batch)));
    return std::move(*key);
  }
  void Replace(const std::string& entry, storage::Bytes value) {
    storage::WriteBatch batch;
    batch.Put(kKeysSpace, entry, std::move(value));
    ASSERT_TRUE(store_->Write(std::move(batch)));
  }
  storage::Bytes Entry(const std::string& entry) { return **store_->Get(kKeysSpace, entry); }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
  SecretBytes root_;
  std::unique_ptr<Keyring> ring_;
};

TEST_F(KeyringTest, SubjectKeysSurviveAReopenWithTheSameRootKey) {
  const DataKey key = NewKey("sub_a");
  EXPECT_EQ(key.version, 1u);
  EXPECT_EQ(key.reserved, 16u);
  auto reopened = Open();
  auto loaded = reopened->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_TRUE(loaded && *loaded) << (loaded ? "missing" : loaded.error().message());
  EXPECT_TRUE(std::equal(key.key.reveal().begin(), key.key.reveal().end(),
                         (*loaded)->key.reveal().begin()));
  EXPECT_EQ((*loaded)->reserved, 16u);
  auto absent = reopened->LoadSubjectKey("acme", "sub_nobody", 1);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
}

TEST_F(KeyringTest, StoredKeysAreWrappedNeverPlain) {
  const DataKey key = NewKey("sub_a");
  const auto stored = Entry(Keyring::DekEntry("acme", "sub_a", 1));
  EXPECT_EQ(stored.size(), 8u + 61u);
  const auto raw = key.key.reveal();
  EXPECT_EQ(std::search(stored.begin(), stored.end(), raw.begin(), raw.end()), stored.end());
}

TEST_F(KeyringTest, AnotherRootKeyCannotUnwrap) {
  NewKey("sub_a");
  auto other = Keyring::Create(std::move(*crypto::RandomSecret(32)), *store_);
  ASSERT_TRUE(other);
  auto loaded = (*other)->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss);
}

TEST_F(KeyringTest, AKeyMovedToAnotherSubjectFailsToUnwrap) {
  NewKey("sub_a");
  NewKey("sub_b");
  Replace(Keyring::DekEntry("acme", "sub_b", 1), Entry(Keyring::DekEntry("acme", "sub_a", 1)));
  auto loaded = ring_->LoadSubjectKey("acme", "sub_b", 1);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss);
}

TEST_F(KeyringTest, ARolledBackReservationFailsToUnwrap) {
  DataKey key = NewKey("sub_a", 16);
  key.reserved = 4096;
  ASSERT_TRUE(ring_->SaveReservation("acme", "sub_a", key));
  auto stored = Entry(Keyring::DekEntry("acme", "sub_a", 1));
  stored[7] = 16;  // the count in the clear says 16 again (was 4096 = 0x1000)
  stored[6] = 0;
  Replace(Keyring::DekEntry("acme", "sub_a", 1), stored);
  auto loaded = ring_->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss);
}

TEST_F(KeyringTest, EveryFlippedByteOfAWrappedKeyIsDetected) {
  NewKey("sub_a");
  const auto original = Entry(Keyring::DekEntry("acme", "sub_a", 1));
  for (std::size_t i = 0; i < original.size(); ++i) {
    auto altered = original;
    altered[i] ^= 0x01;
    Replace(Keyring::DekEntry("acme", "sub_a", 1), altered);
    auto loaded = Open()->LoadSubjectKey("acme", "sub_a", 1);
    ASSERT_FALSE(loaded) << "byte " << i;
    EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss) << "byte " << i;
  }
}

TEST_F(KeyringTest, RotationMakesANewCurrentKekAndKeepsOldOnesReadable) {
  NewKey("sub_a");
  ASSERT_EQ(*ring_->CurrentKekVersion("acme"), 1u);
  auto rotated = ring_->RotateKek("acme");
  ASSERT_TRUE(rotated);
  EXPECT_EQ(*rotated, 2u);
  auto reopened = Open();
  EXPECT_EQ(*reopened->CurrentKekVersion("acme"), 2u);
  EXPECT_TRUE(*reopened->LoadSubjectKey("acme", "sub_a", 1));
  storage::WriteBatch batch;
  auto fresh = reopened->NewSubjectKey("acme", "sub_b", 1, batch);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->version, 2u);
}

TEST_F(KeyringTest, TenantsAreSeparate) {
  auto missing = ring_->CurrentKekVersion("other");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  storage::WriteBatch again;
  auto duplicate = ring_->AddTenantKeys("acme", again);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kAlreadyExists);
  storage::WriteBatch batch;
  ASSERT_TRUE(ring_->AddTenantKeys("acme2", batch));
  ASSERT_TRUE(store_->Write(std::move(batch)));
  auto a = ring_->BlindIndexKey("acme");
  auto b = ring_->BlindIndexKey("acme2");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(std::equal(a->reveal().begin(), a->reveal().end(), b->reveal().begin()));
}

TEST_F(KeyringTest, SystemKeysAreCreatedOnceAndBoundToTheirName) {
  auto first = ring_->SystemKey("identity");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->size(), 32u);
  auto again = Open()->SystemKey("identity");  // another keyring over the same store
  ASSERT_TRUE(again);
  EXPECT_TRUE(std::equal(first->reveal().begin(), first->reveal().end(), again->reveal().begin()));
  auto other = ring_->SystemKey("other");
  ASSERT_TRUE(other);
  EXPECT_FALSE(std::equal(first->reveal().begin(), first->reveal().end(), other->reveal().begin()));
  // The identity key's wrapped bytes moved into the slot of another name fail to unwrap.
  auto wrapped = store_->Get(kKeysSpace, "sys/identity");
  ASSERT_TRUE(wrapped && *wrapped);
  Replace("sys/other", **wrapped);
  auto moved = Open()->SystemKey("other");
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code(), ErrorCode::kDataLoss);
}

TEST_F(KeyringTest, DerivesFromTheRootKeyAsHkdfDoesAndHandsOutACopyProvider) {
  const std::string_view info = "strongroom-backup-v1 wrap";
  auto derived = ring_->DeriveFromRoot(info);
  auto expected = crypto::HkdfSha256(
      root_.reveal(), {},
      std::span(reinterpret_cast<const std::uint8_t*>(info.data()), info.size()), 32);
  ASSERT_TRUE(derived.has_value() && expected.has_value());
  EXPECT_TRUE(std::ranges::equal(derived->reveal(), expected->reveal()));
  auto other = ring_->DeriveFromRoot("strongroom-backup-v1 sign");
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(std::ranges::equal(derived->reveal(), other->reveal()));

  const auto provider = ring_->CopyProvider();
  EXPECT_EQ(provider->kind(), "copied_root_key");
  auto copy = provider->Unseal({});
  ASSERT_TRUE(copy.has_value());
  EXPECT_TRUE(std::ranges::equal(copy->reveal(), root_.reveal()));
}

}  // namespace
}  // namespace strongroom::keys
