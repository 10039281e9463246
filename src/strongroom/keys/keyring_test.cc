#include "strongroom/keys/keyring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>

#include "strongroom/crypto/aead.h"
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
    auto key = ring_->CreateSubjectKey("acme", subject, reserve, {});
    EXPECT_TRUE(key);
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

TEST_F(KeyringTest, TheOldestSubjectKeyIsTheLowestVersionOfThatSubjectOnly) {
  const DataKey first = NewKey("sub_a");
  NewKey("sub_ab");  // shares "sub_a" as a prefix of its id, not of its entries
  ASSERT_TRUE(ring_->RotateKek("acme"));
  ASSERT_TRUE(ring_->CreateSubjectKey("acme", "sub_a", 0, {}, 2));  // a newer key after rotating
  auto oldest = ring_->LoadOldestSubjectKey("acme", "sub_a");
  ASSERT_TRUE(oldest && oldest->has_value());
  EXPECT_EQ((*oldest)->version, 1u);
  EXPECT_TRUE(std::ranges::equal((*oldest)->key.reveal(), first.key.reveal()));
  // Still the same once the re-wrap has moved it under KEK v2 and v1 is retired.
  auto refs = ring_->ListSubjectKeys("acme", "", 10);
  ASSERT_TRUE(refs);
  ASSERT_TRUE(ring_->Rewrap("acme", *refs));
  ASSERT_TRUE(ring_->RetireKek("acme", 1));
  auto reopened = Open();
  auto after = reopened->LoadOldestSubjectKey("acme", "sub_a");
  ASSERT_TRUE(after && after->has_value());
  EXPECT_TRUE(std::ranges::equal((*after)->key.reveal(), first.key.reveal()));
  auto none = reopened->LoadOldestSubjectKey("acme", "sub_nobody");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto elsewhere = reopened->LoadOldestSubjectKey("beta", "sub_a");
  ASSERT_TRUE(elsewhere);
  EXPECT_FALSE(elsewhere->has_value());
  // A key older than the subject's oldest is never made (a caller that read the current
  // version before a rotation): it would change what is derived from the oldest.
  ASSERT_TRUE(reopened->CreateSubjectKey("acme", "sub_c", 0, {}));  // made as v2
  auto older = reopened->CreateSubjectKey("acme", "sub_c", 0, {}, 1);
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code(), ErrorCode::kUnavailable);
}

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
  EXPECT_EQ(stored.size(), 8u + 4u + 61u);  // reservation, KEK version, wrapped key
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
  auto fresh = reopened->CreateSubjectKey("acme", "sub_b", 1, {});
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->version, 2u);
}

// docs/keys.md's layout: the big-endian parts of an AAD.
std::vector<std::uint8_t> Parts(std::initializer_list<std::string_view> parts) {
  std::vector<std::uint8_t> out;
  for (const auto part : parts) {
    const auto n = static_cast<std::uint32_t>(part.size());
    out.insert(out.end(), {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                           static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

bool SameKey(const DataKey& a, const DataKey& b) {
  return std::ranges::equal(a.key.reveal(), b.key.reveal());
}

TEST_F(KeyringTest, ARewrapMovesOldKeysToTheCurrentKekAndThenTheOldOneCanBeRetired) {
  DataKey a = NewKey("sub_a", 16);
  const DataKey b = NewKey("sub_b", 16);
  ASSERT_EQ(*ring_->RotateKek("acme"), 2u);
  auto usage = ring_->Usage("acme");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->current, 2u);
  EXPECT_EQ(usage->subject_keys, (std::map<std::uint32_t, std::uint64_t>{{1, 2}, {2, 0}}));
  auto in_use = ring_->RetireKek("acme", 1);
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(in_use.error().message().find("2 subject keys"), std::string::npos);

  auto refs = ring_->ListSubjectKeys("acme", "", 10);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].subject, "sub_a");
  EXPECT_EQ((*refs)[0].version, 1u);
  EXPECT_EQ((*refs)[0].kek_version, 1u);
  // A reservation saved after the listing is not rolled back by the re-wrap (read again).
  a.reserved = 8192;
  ASSERT_TRUE(ring_->SaveReservation("acme", "sub_a", a));
  auto rewrapped = ring_->Rewrap("acme", *refs);
  ASSERT_TRUE(rewrapped);
  EXPECT_EQ(rewrapped->rewrapped, 1u);  // sub_a's reservation already wrapped it under v2
  EXPECT_EQ(ring_->Rewrap("acme", *refs)->rewrapped, 0u);
  usage = ring_->Usage("acme");
  EXPECT_EQ(usage->subject_keys, (std::map<std::uint32_t, std::uint64_t>{{1, 0}, {2, 2}}));

  auto current = ring_->RetireKek("acme", 2);
  ASSERT_FALSE(current);
  EXPECT_EQ(current.error().code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(ring_->RetireKek("acme", 1));
  EXPECT_FALSE(*store_->Get(kKeysSpace, Keyring::KekEntry("acme", 1)));
  auto again = ring_->RetireKek("acme", 1);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);

  // The DEKs themselves did not change: data they encrypted stays readable, through a new
  // keyring too, with the reservation intact.
  auto reopened = Open();
  auto loaded_a = reopened->LoadSubjectKey("acme", "sub_a", 1);
  auto loaded_b = reopened->LoadSubjectKey("acme", "sub_b", 1);
  ASSERT_TRUE(loaded_a && *loaded_a && loaded_b && *loaded_b);
  EXPECT_TRUE(SameKey(**loaded_a, a));
  EXPECT_TRUE(SameKey(**loaded_b, b));
  EXPECT_EQ((*loaded_a)->reserved, 8192u);
  EXPECT_EQ((*loaded_a)->version, 1u);
}

TEST_F(KeyringTest, ARewrapDoesNotBringBackADeletedKey) {
  NewKey("sub_a");
  ASSERT_TRUE(ring_->RotateKek("acme"));
  auto refs = ring_->ListSubjectKeys("acme", "", 10);
  ASSERT_TRUE(refs);
  storage::WriteBatch erase;
  erase.Delete(kKeysSpace, Keyring::DekEntry("acme", "sub_a", 1));
  ASSERT_TRUE(store_->Write(std::move(erase)));
  EXPECT_EQ(ring_->Rewrap("acme", *refs)->rewrapped, 0u);
  EXPECT_FALSE(*store_->Get(kKeysSpace, Keyring::DekEntry("acme", "sub_a", 1)));
}

TEST_F(KeyringTest, AnEntryClaimingAnotherKekFailsToUnwrap) {
  NewKey("sub_a");
  ASSERT_TRUE(ring_->RotateKek("acme"));
  ASSERT_TRUE(ring_->RotateKek("acme"));
  auto refs = ring_->ListSubjectKeys("acme", "", 10);
  ASSERT_EQ(ring_->Rewrap("acme", *refs)->rewrapped, 1u);  // now under v3
  auto stored = Entry(Keyring::DekEntry("acme", "sub_a", 1));
  ASSERT_EQ(stored[11], 3);
  stored[11] = 2;  // KEK v2 exists, but did not wrap it
  Replace(Keyring::DekEntry("acme", "sub_a", 1), stored);
  auto loaded = Open()->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss);
}

// A key is never written over a stored one; a slot found empty before a rotation is filled
// with its own version, wrapped under the current KEK (so a cache slot and its key agree).
TEST_F(KeyringTest, ANewKeyNeverReplacesAStoredOneAndMayBeOfAnOlderVersion) {
  NewKey("sub_a");
  auto again = ring_->CreateSubjectKey("acme", "sub_a", 16, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  ASSERT_EQ(*ring_->RotateKek("acme"), 2u);
  auto older = ring_->CreateSubjectKey("acme", "sub_b", 16, {}, 1);
  ASSERT_TRUE(older);
  EXPECT_EQ(older->version, 1u);
  auto refs = ring_->ListSubjectKeys("acme", Keyring::DekEntry("acme", "sub_a", 1), 10);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].kek_version, 2u);  // wrapped under the current KEK
  auto future = ring_->CreateSubjectKey("acme", "sub_c", 16, {}, 3);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code(), ErrorCode::kInvalidArgument);
  auto loaded = Open()->LoadSubjectKey("acme", "sub_b", 1);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_TRUE(SameKey(**loaded, *older));
}

// A damaged entry is named and left alone; the others are re-wrapped; its KEK stays.
TEST_F(KeyringTest, ARewrapSkipsADamagedEntryAndKeepsItsKek) {
  NewKey("sub_a");
  NewKey("sub_b");
  auto broken = Entry(Keyring::DekEntry("acme", "sub_a", 1));
  broken[20] ^= 0x01;  // inside the wrapped key
  Replace(Keyring::DekEntry("acme", "sub_a", 1), broken);
  Replace(Keyring::DekEntry("acme", "sub_c", 1), {1, 2, 3});  // a size no format has
  ASSERT_TRUE(ring_->RotateKek("acme"));
  auto refs = ring_->ListSubjectKeys("acme", "", 10);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 3u);
  EXPECT_EQ((*refs)[2].kek_version, 0u);  // sub_c: listed as damaged, not a failed scan
  auto result = ring_->Rewrap("acme", *refs);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->rewrapped, 1u);
  EXPECT_EQ(result->damaged, (std::vector<std::string>{Keyring::DekEntry("acme", "sub_a", 1),
                                                       Keyring::DekEntry("acme", "sub_c", 1)}));
  auto usage = ring_->Usage("acme");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->damaged, 1u);
  EXPECT_EQ(usage->subject_keys, (std::map<std::uint32_t, std::uint64_t>{{1, 1}, {2, 1}}));
  auto refused = ring_->RetireKek("acme", 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
}

// Entries written before KEK versions were named in them (format v1: wrapped under the KEK of
// the DEK's own version) stay readable, and a re-wrap upgrades them. The entry is built here by
// hand from docs/keys.md.
TEST_F(KeyringTest, AVersionOneEntryIsReadAndRewrapped) {
  auto root = crypto::Aes256Gcm::Create(root_.reveal());
  ASSERT_TRUE(root);
  const auto wrapped_kek = Entry(Keyring::KekEntry("acme", 1));
  ASSERT_EQ(wrapped_kek.size(), 61u);
  std::vector<std::uint8_t> kek(32);
  ASSERT_TRUE(root->Open(std::span(wrapped_kek).subspan<1, 12>(),
                         Parts({"strongroom/kek/v1", "acme", "0000000001"}),
                         std::span(wrapped_kek).subspan(13), kek));
  auto kek_cipher = crypto::Aes256Gcm::Create(kek);
  ASSERT_TRUE(kek_cipher);
  auto dek = crypto::RandomSecret(32);
  ASSERT_TRUE(dek);
  std::vector<std::uint8_t> entry = {0, 0, 0, 0, 0, 0, 0x10, 0};  // reservation 4096
  entry.push_back(0x01);
  std::array<std::uint8_t, 12> nonce{};
  nonce[0] = 7;
  entry.insert(entry.end(), nonce.begin(), nonce.end());
  entry.resize(entry.size() + 48);
  auto aad = Parts({"strongroom/dek/v1", "acme", "sub_old", "0000000001"});
  aad.insert(aad.end(), {0, 0, 0, 0, 0, 0, 0x10, 0});
  ASSERT_TRUE(kek_cipher->Seal(nonce, aad, dek->reveal(), std::span(entry).subspan(21)));
  Replace(Keyring::DekEntry("acme", "sub_old", 1), entry);

  auto loaded = ring_->LoadSubjectKey("acme", "sub_old", 1);
  ASSERT_TRUE(loaded && *loaded) << (loaded ? "missing" : loaded.error().message());
  EXPECT_TRUE(std::ranges::equal((*loaded)->key.reveal(), dek->reveal()));
  EXPECT_EQ((*loaded)->reserved, 4096u);

  ASSERT_TRUE(ring_->RotateKek("acme"));
  auto refs = ring_->ListSubjectKeys("acme", "", 10);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].kek_version, 1u);
  EXPECT_EQ(ring_->Rewrap("acme", *refs)->rewrapped, 1u);
  EXPECT_EQ(Entry(Keyring::DekEntry("acme", "sub_old", 1)).size(), 73u);
  ASSERT_TRUE(ring_->RetireKek("acme", 1));
  auto after = Open()->LoadSubjectKey("acme", "sub_old", 1);
  ASSERT_TRUE(after && *after);
  EXPECT_TRUE(std::ranges::equal((*after)->key.reveal(), dek->reveal()));
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
