#include "strongroom/barrier/data_barrier.h"

#include <gtest/gtest.h>

#include <tuple>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/blocking.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/crypto/random.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::barrier {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

class DataBarrierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    root_ = std::move(*crypto::RandomSecret(32));
    Reopen();
    storage::WriteBatch batch;
    ASSERT_TRUE(ring_->AddTenantKeys("acme", batch));
    ASSERT_TRUE(ring_->AddTenantKeys("beta", batch));
    ASSERT_TRUE(store_->Write(std::move(batch)));
    NewSubject("acme", "sub_a");
    NewSubject("acme", "sub_b");
  }
  // A restart: a new keyring and barrier over the same store.
  void Reopen(std::uint64_t max_encryptions = kMaxEncryptionsPerKey) {
    barrier_.reset();
    ring_ = std::move(*keys::Keyring::Create(SecretBytes(root_.reveal()), *store_));
    barrier_ = std::make_unique<DataBarrier>(*ring_, 1000, max_encryptions);
  }
  void NewSubject(std::string_view tenant, std::string_view subject) {
    ASSERT_TRUE(barrier_->CreateSubjectKey(tenant, subject, {}));
  }
  Result<std::vector<std::uint8_t>> Seal(std::string_view subject, const FieldLocation& at,
                                         std::string_view value) {
    std::vector<std::uint8_t> out;
    const EncryptItem item{at, Bytes(value), &out};
    if (auto done = barrier_->Encrypt("acme", subject, {&item, 1}); !done) {
      return std::unexpected(done.error());
    }
    return out;
  }
  std::uint64_t Reserved(std::string_view subject, std::uint32_t version = 1) {
    return (*ring_->LoadSubjectKey("acme", subject, version))->reserved;
  }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
  SecretBytes root_;
  std::unique_ptr<keys::Keyring> ring_;
  std::unique_ptr<DataBarrier> barrier_;
  const FieldLocation email_{"acme", "patients", "rec_1", "email"};
};

TEST_F(DataBarrierTest, RoundTripsAndSurvivesARestart) {
  auto sealed = Seal("sub_a", email_, "alice@example.com");
  ASSERT_TRUE(sealed);
  Reopen();
  auto opened = barrier_->Decrypt("acme", "sub_a", email_, *sealed);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->reveal_as_text(), "alice@example.com");
}

TEST_F(DataBarrierTest, MovedCiphertextIsDataLossNeverGarbage) {
  auto sealed = Seal("sub_a", email_, "alice@example.com");
  ASSERT_TRUE(sealed);
  const FieldLocation other_record{"acme", "patients", "rec_2", "email"};
  const FieldLocation other_field{"acme", "patients", "rec_1", "phone"};
  for (const auto& at : {other_record, other_field}) {
    auto opened = barrier_->Decrypt("acme", "sub_a", at, *sealed);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
  }
  // The hot-path form says the same, and leaves no bytes behind.
  std::vector<std::uint8_t> out(5, 0xAA);
  auto into = barrier_->DecryptTo("acme", "sub_a", other_record, *sealed, out);
  ASSERT_FALSE(into);
  EXPECT_EQ(into.error().code(), ErrorCode::kDataLoss);
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(barrier_->DecryptTo("acme", "sub_a", email_, *sealed, out));
  EXPECT_EQ(std::string(out.begin(), out.end()), "alice@example.com");
  // Another subject's key: moved between subjects' records.
  auto foreign = barrier_->Decrypt("acme", "sub_b", email_, *sealed);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code(), ErrorCode::kDataLoss);
  // A key version that does not exist.
  auto relabelled = *sealed;
  relabelled[4] = 9;
  auto missing = barrier_->Decrypt("acme", "sub_a", email_, relabelled);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kDataLoss);
}

TEST_F(DataBarrierTest, WithoutBlockingOnlyKeysInMemoryDecrypt) {
  auto sealed = Seal("sub_a", email_, "alice@example.com");
  ASSERT_TRUE(sealed);
  Reopen();  // the subject key is now only on disk
  std::vector<std::uint8_t> out;
  {
    NonBlockingScope io_thread;
    auto refused = barrier_->DecryptTo("acme", "sub_a", email_, *sealed, out);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kWouldBlock);
    EXPECT_TRUE(out.empty());
  }
  ASSERT_TRUE(barrier_->DecryptTo("acme", "sub_a", email_, *sealed, out));  // loads the key
  out.clear();
  NonBlockingScope io_thread;
  ASSERT_TRUE(barrier_->DecryptTo("acme", "sub_a", email_, *sealed, out));
  EXPECT_EQ(std::string(out.begin(), out.end()), "alice@example.com");
}

TEST_F(DataBarrierTest, DocumentKeysAreRandomWrappedPerDocumentAndCountAgainstTheBudget) {
  auto first = barrier_->NewDocumentKey("acme", "sub_a", "doc_1");
  ASSERT_TRUE(first);
  auto second = barrier_->NewDocumentKey("acme", "sub_a", "doc_2");
  ASSERT_TRUE(second);
  // The wrap is a field ciphertext (fresh nonce) of a random 32-byte key.
  EXPECT_EQ(first->wrapped.size(), kFieldOverhead + 32);
  std::vector<std::uint8_t> chunk, opened;
  const DocumentLocation at{"acme", "sub_a", "doc_1"};
  ASSERT_TRUE(first->cipher.SealChunk(at, 0, true, Bytes("scan.pdf"), chunk));
  Reopen();
  auto reopened = barrier_->OpenDocumentKey("acme", "sub_a", "doc_1", first->wrapped);
  ASSERT_TRUE(reopened) << reopened.error().message();
  ASSERT_TRUE(reopened->OpenChunk(at, 0, true, chunk, opened));
  EXPECT_EQ(std::string(opened.begin(), opened.end()), "scan.pdf");
  // Another document's key cannot open it, and a wrapped key moved to another document, subject
  // or tenant does not unwrap.
  auto other = barrier_->OpenDocumentKey("acme", "sub_a", "doc_2", second->wrapped);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->OpenChunk(at, 0, true, chunk, opened));
  for (const auto& [tenant, subject, doc] :
       {std::tuple{"acme", "sub_a", "doc_2"}, std::tuple{"acme", "sub_b", "doc_1"},
        std::tuple{"beta", "sub_a", "doc_1"}}) {
    auto moved = barrier_->OpenDocumentKey(tenant, subject, doc, first->wrapped);
    ASSERT_FALSE(moved) << tenant << "/" << subject << "/" << doc;
    EXPECT_EQ(moved.error().code(), ErrorCode::kDataLoss);
  }
  // Nor is a record's field ciphertext ever taken for a document key.
  auto field = Seal("sub_a", {"acme", std::string(kDocumentsCollection), "doc_1", "meta"},
                    std::string(32, 'k'));
  ASSERT_TRUE(field);
  auto confused = barrier_->OpenDocumentKey("acme", "sub_a", "doc_1", *field);
  ASSERT_FALSE(confused);
  EXPECT_EQ(confused.error().code(), ErrorCode::kDataLoss);
}

TEST_F(DataBarrierTest, ReservationsArePersistedBeforeUseAndNeverGoBack) {
  // A new subject starts with one block reserved: no write needed for its first values.
  EXPECT_EQ(Reserved("sub_a"), kReservationBlock);
  ASSERT_TRUE(Seal("sub_a", email_, "x"));
  EXPECT_EQ(barrier_->stats().reservations, 0u);
  Reopen();
  // After a restart everything reserved counts as used: the first value reserves a new block.
  ASSERT_TRUE(Seal("sub_a", email_, "x"));
  EXPECT_EQ(Reserved("sub_a"), 2 * kReservationBlock);
  EXPECT_EQ(barrier_->stats().reservations, 1u);
  Reopen();
  ASSERT_TRUE(Seal("sub_a", email_, "x"));
  EXPECT_EQ(Reserved("sub_a"), 3 * kReservationBlock);
}

TEST_F(DataBarrierTest, TheBudgetRefusesFurtherEncryptionAndKeepsValuesReadable) {
  Reopen(/*max_encryptions=*/kReservationBlock + 3);
  // sub_a has kReservationBlock counted as used after the restart: 3 more are allowed.
  std::vector<std::vector<std::uint8_t>> sealed;
  for (int i = 0; i < 3; ++i) {
    auto s = Seal("sub_a", email_, "value");
    ASSERT_TRUE(s) << i << ": " << s.error().message();
    sealed.push_back(std::move(*s));
  }
  auto refused = Seal("sub_a", email_, "value");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kResourceExhausted);
  for (const auto& s : sealed) EXPECT_TRUE(barrier_->Decrypt("acme", "sub_a", email_, s));
}

TEST_F(DataBarrierTest, KekRotationGivesTheSubjectANewKeyAndOldValuesStayReadable) {
  auto before = Seal("sub_a", email_, "old");
  ASSERT_TRUE(before);
  ASSERT_TRUE(ring_->RotateKek("acme"));
  auto after = Seal("sub_a", email_, "new");
  ASSERT_TRUE(after);
  EXPECT_EQ(*FieldCipher::KeyVersionOf(*before), 1u);
  EXPECT_EQ(*FieldCipher::KeyVersionOf(*after), 2u);
  Reopen();
  EXPECT_EQ(barrier_->Decrypt("acme", "sub_a", email_, *before)->reveal_as_text(), "old");
  EXPECT_EQ(barrier_->Decrypt("acme", "sub_a", email_, *after)->reveal_as_text(), "new");
}

TEST_F(DataBarrierTest, AForgottenSubjectNeitherEncryptsNorDecryptsNorGetsANewKey) {
  const FieldLocation at{"acme", "patients", "rec_1", "note"};
  auto sealed = Seal("sub_a", at, "kept until erased");
  ASSERT_TRUE(sealed);
  const auto keys_before = store_->Scan(keys::kKeysSpace, "", 100);
  ASSERT_TRUE(keys_before);
  barrier_->Forget("acme", "sub_a");
  // The cached key is gone and no new one is made (Encrypt would otherwise create one when
  // none is stored): not_found, and the keys space is as it was.
  auto again = Seal("sub_a", at, "after");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
  auto opened = barrier_->Decrypt("acme", "sub_a", at, *sealed);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), ErrorCode::kNotFound);
  // Encrypt did not make (and persist) a key of its own for the subject.
  const auto keys_after = store_->Scan(keys::kKeysSpace, "", 100);
  ASSERT_TRUE(keys_after);
  EXPECT_EQ(keys_after->size(), keys_before->size());
  // Even with no key stored at all (as after the erasure deletes them), nothing is made.
  storage::WriteBatch deleted;
  deleted.Delete(keys::kKeysSpace, keys::Keyring::DekEntry("acme", "sub_a", 1));
  ASSERT_TRUE(store_->Write(std::move(deleted)));
  EXPECT_FALSE(Seal("sub_a", at, "no key"));
  auto none = ring_->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto recreated = barrier_->CreateSubjectKey("acme", "sub_a", {});  // no key comes back
  ASSERT_FALSE(recreated);
  EXPECT_EQ(recreated.error().code(), ErrorCode::kNotFound);
  auto still_none = ring_->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_TRUE(still_none);
  EXPECT_FALSE(still_none->has_value());
  EXPECT_FALSE(Seal("sub_a", at, "after a new key was asked for"));
  // Unforget (an erasure that failed before deleting anything) gives the subject back.
  barrier_->Unforget("acme", "sub_b");
  barrier_->Forget("acme", "sub_b");
  EXPECT_FALSE(Seal("sub_b", at, "forgotten"));
  barrier_->Unforget("acme", "sub_b");
  // Another subject of the tenant, and the same subject id in another tenant, are untouched.
  EXPECT_TRUE(Seal("sub_b", at, "other subject"));
  NewSubject("beta", "sub_a");
  std::vector<std::uint8_t> out;
  const EncryptItem item{{"beta", "patients", "rec_1", "note"}, Bytes("beta"), &out};
  EXPECT_TRUE(barrier_->Encrypt("beta", "sub_a", {&item, 1}));
}

// The subject's own pseudonym (what the audit trail names it by): recomputed here from the key
// the keyring holds with HKDF-SHA-256 and HMAC-SHA-256, whose RFC 5869 and RFC 4231 vectors
// crypto/ tests.
TEST_F(DataBarrierTest, SubjectKeyPseudonymsComeFromTheOldestKeyAndGoWithIt) {
  auto own = barrier_->SubjectKeyPseudonym("acme", "sub_a");
  ASSERT_TRUE(own);
  ASSERT_TRUE(own->has_value());
  auto dek = ring_->LoadSubjectKey("acme", "sub_a", 1);
  ASSERT_TRUE(dek && dek->has_value());
  auto key =
      crypto::HkdfSha256((*dek)->key.reveal(), {}, Bytes("strongroom/subject-pseudonym/v1"), 32);
  ASSERT_TRUE(key);
  auto hmac = crypto::HmacSha256::Create(key->reveal());
  ASSERT_TRUE(hmac);
  constexpr std::string_view kInput("subject\0acme\0sub_a", 18);
  auto mac = hmac->Compute(Bytes(kInput));
  ASSERT_TRUE(mac);
  const std::string expected =
      "psn_" + crypto::Base64UrlEncode(std::span<const std::uint8_t>(*mac).first(16));
  EXPECT_EQ(**own, expected);
  EXPECT_EQ(expected.size(), 26u);

  // Another subject has another; an id without keys (here: in another tenant) has none.
  auto other = barrier_->SubjectKeyPseudonym("acme", "sub_b");
  ASSERT_TRUE(other && other->has_value());
  EXPECT_NE(**other, expected);
  auto keyless = barrier_->SubjectKeyPseudonym("beta", "sub_a");
  ASSERT_TRUE(keyless);
  EXPECT_FALSE(keyless->has_value());

  // The same after a KEK rotation gives the subject a newer key, and after a restart.
  ASSERT_TRUE(ring_->RotateKek("acme"));
  ASSERT_TRUE(Seal("sub_a", email_, "written under the new key"));
  auto newer = ring_->LoadSubjectKey("acme", "sub_a", 2);
  ASSERT_TRUE(newer && newer->has_value());
  Reopen();
  {
    // Not cached after the restart: an I/O thread does not load keys for it.
    NonBlockingScope io_thread;
    auto refused = barrier_->SubjectKeyPseudonym("acme", "sub_a");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kWouldBlock);
  }
  auto again = barrier_->SubjectKeyPseudonym("acme", "sub_a");
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ(**again, expected);
  {
    NonBlockingScope io_thread;  // now cached
    auto cached = barrier_->SubjectKeyPseudonym("acme", "sub_a");
    ASSERT_TRUE(cached && cached->has_value());
    EXPECT_EQ(**cached, expected);
  }

  // Hidden by a grace period (the gate alone): its keys are there, so is its pseudonym, cached
  // or not (a hidden subject is not cached anew).
  barrier_->gate().Erase("acme", "sub_a");
  EXPECT_EQ(**barrier_->SubjectKeyPseudonym("acme", "sub_a"), expected);
  Reopen();
  barrier_->gate().Erase("acme", "sub_a");
  EXPECT_EQ(**barrier_->SubjectKeyPseudonym("acme", "sub_a"), expected);
  {
    NonBlockingScope io_thread;
    EXPECT_FALSE(barrier_->SubjectKeyPseudonym("acme", "sub_a"));  // was not cached
  }
  barrier_->gate().Unerase("acme", "sub_a");
  EXPECT_EQ(**barrier_->SubjectKeyPseudonym("acme", "sub_a"), expected);

  // Erased (Forget, then its keys deleted): none, in this process and after a restart; a new
  // subject that happens to get the same id gets another pseudonym.
  barrier_->Forget("acme", "sub_a");
  storage::WriteBatch deleted;
  deleted.Delete(keys::kKeysSpace, keys::Keyring::DekEntry("acme", "sub_a", 1));
  deleted.Delete(keys::kKeysSpace, keys::Keyring::DekEntry("acme", "sub_a", 2));
  ASSERT_TRUE(store_->Write(std::move(deleted)));
  auto erased = barrier_->SubjectKeyPseudonym("acme", "sub_a");
  ASSERT_TRUE(erased);
  EXPECT_FALSE(erased->has_value());
  Reopen();
  auto gone = barrier_->SubjectKeyPseudonym("acme", "sub_a");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  NewSubject("acme", "sub_a");
  auto fresh = barrier_->SubjectKeyPseudonym("acme", "sub_a");
  ASSERT_TRUE(fresh && fresh->has_value());
  EXPECT_NE(**fresh, expected);
  EXPECT_EQ(**barrier_->SubjectKeyPseudonym("acme", "sub_b"), **other);
}

TEST_F(DataBarrierTest, BlindIndexesAreKeyedPerTenantAndField) {
  auto a1 = barrier_->BlindIndex("acme", "patients", "email", "alice@example.com");
  auto a2 = barrier_->BlindIndex("acme", "patients", "email", "alice@example.com");
  auto other_field = barrier_->BlindIndex("acme", "patients", "contact", "alice@example.com");
  auto other_tenant = barrier_->BlindIndex("beta", "patients", "email", "alice@example.com");
  ASSERT_TRUE(a1 && a2 && other_field && other_tenant);
  EXPECT_EQ(*a1, *a2);
  EXPECT_EQ(a1->size(), 43u);  // base64url of 32 bytes
  EXPECT_NE(*a1, *other_field);
  EXPECT_NE(*a1, *other_tenant);
  Reopen();
  EXPECT_EQ(*barrier_->BlindIndex("acme", "patients", "email", "alice@example.com"), *a1);
}

class SealStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    ASSERT_TRUE(keys::CreateSealedKeyFile(scratch_ / "root.sealed", Bytes(kRight),
                                          {.iterations = 1, .memory_bytes = 8ull << 20}));
  }
  SealState Make(int per_minute) {
    SealState::Options options;
    options.attempts_per_minute = per_minute;
    options.clock = [this] { return now_; };
    return SealState(std::make_unique<keys::SealedFileRootKeyProvider>(scratch_ / "root.sealed"),
                     *store_, options);
  }
  static constexpr std::string_view kRight = "correct horse battery staple";
  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
  std::chrono::steady_clock::time_point now_{};
};

TEST_F(SealStateTest, StartsSealedUnsealsAndSealsAgain) {
  SealState seal = Make(5);
  EXPECT_TRUE(seal.sealed());
  EXPECT_EQ(seal.keys(), nullptr);
  ASSERT_TRUE(seal.Unseal(Bytes(kRight)));
  EXPECT_FALSE(seal.sealed());
  auto in_flight = seal.keys();
  ASSERT_NE(in_flight, nullptr);
  seal.Seal();
  EXPECT_TRUE(seal.sealed());
  // A request that started unsealed keeps its reference until it finishes; then the keys go.
  std::weak_ptr<VaultKeys> watch = in_flight;
  in_flight.reset();
  EXPECT_TRUE(watch.expired());
}

TEST_F(SealStateTest, WrongPassphrasesAreRefusedAndRateLimited) {
  SealState seal = Make(2);
  for (int i = 0; i < 2; ++i) {
    auto refused = seal.Unseal(Bytes("wrong passphrase!"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(refused.error().message(), "unseal refused");
  }
  // Out of attempts: even the right passphrase waits, and the wait is announced.
  auto limited = seal.Unseal(Bytes(kRight));
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(seal.retry_after(), std::chrono::seconds(30));
  EXPECT_TRUE(seal.sealed());
  now_ += std::chrono::seconds(30);
  EXPECT_EQ(seal.retry_after(), std::chrono::seconds(0));
  ASSERT_TRUE(seal.Unseal(Bytes(kRight)));
  EXPECT_FALSE(seal.sealed());
}

}  // namespace
}  // namespace strongroom::barrier
