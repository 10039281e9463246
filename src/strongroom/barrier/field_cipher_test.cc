#include "strongroom/barrier/field_cipher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strongroom::barrier {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

class FieldCipherTest : public ::testing::Test {
 protected:
  void SetUp() override { cipher_.emplace(std::move(*FieldCipher::Create(key_, 7))); }
  std::string Decrypt(const FieldLocation& where, const std::vector<std::uint8_t>& ct) {
    auto plaintext = cipher_->Decrypt(where, ct);
    return plaintext ? std::string(plaintext->reveal_as_text()) : "<" + plaintext.error().message() + ">";
  }
  const std::vector<std::uint8_t> key_ = std::vector<std::uint8_t>(32, 0x42);
  std::optional<FieldCipher> cipher_;
  const FieldLocation here_{"t1", "patients", "rec-1", "email"};
  const std::string value_ = "alice@example.org";
};

TEST_F(FieldCipherTest, RoundTripWithSelfDescribingHeader) {
  auto ct = cipher_->Encrypt(here_, Bytes(value_));
  ASSERT_TRUE(ct);
  ASSERT_EQ(ct->size(), kFieldOverhead + value_.size());
  EXPECT_EQ((*ct)[0], kFieldFormatV1);
  EXPECT_EQ(*FieldCipher::KeyVersionOf(*ct), 7u);
  EXPECT_EQ(std::search(ct->begin(), ct->end(), value_.begin(), value_.end()), ct->end());
  EXPECT_EQ(Decrypt(here_, *ct), value_);
  EXPECT_EQ(cipher_->encryptions(), 1u);
}

TEST_F(FieldCipherTest, SameValueEncryptsDifferentlyEachTime) {
  EXPECT_NE(*cipher_->Encrypt(here_, Bytes(value_)), *cipher_->Encrypt(here_, Bytes(value_)));
}

TEST_F(FieldCipherTest, MovedCiphertextFailsWithDataLoss) {
  const auto ct = *cipher_->Encrypt(here_, Bytes(value_));
  const FieldLocation elsewhere[] = {
      {"t2", "patients", "rec-1", "email"},
      {"t1", "staff", "rec-1", "email"},
      {"t1", "patients", "rec-2", "email"},
      {"t1", "patients", "rec-1", "phone"},
      // Same concatenated bytes, different boundaries: length prefixes keep them apart.
      {"t1p", "atients", "rec-1", "email"},
  };
  for (const auto& where : elsewhere) {
    const auto result = cipher_->Decrypt(where, ct);
    ASSERT_FALSE(result) << where.tenant << "/" << where.collection << "/" << where.record_id;
    EXPECT_EQ(result.error().code(), ErrorCode::kDataLoss);
  }
}

TEST_F(FieldCipherTest, EveryFlippedByteOfHeaderAndBodyIsDetected) {
  const auto ct = *cipher_->Encrypt(here_, Bytes(value_));
  for (std::size_t i = 0; i < ct.size(); ++i) {
    auto tampered = ct;
    tampered[i] ^= 0x80;
    const auto result = cipher_->Decrypt(here_, tampered);
    ASSERT_FALSE(result) << "byte " << i;
    EXPECT_EQ(result.error().code(), ErrorCode::kDataLoss) << "byte " << i;
  }
  for (std::size_t keep = 0; keep < ct.size(); ++keep) {  // every truncation
    const std::vector<std::uint8_t> truncated(ct.begin(), ct.begin() + static_cast<long>(keep));
    EXPECT_EQ(cipher_->Decrypt(here_, truncated).error().code(), ErrorCode::kDataLoss) << keep;
  }
}

TEST_F(FieldCipherTest, WrongKeyOrVersionFails) {
  const auto ct = *cipher_->Encrypt(here_, Bytes(value_));
  auto other_key = key_;
  other_key[0] ^= 1;
  auto other = FieldCipher::Create(other_key, 7);
  EXPECT_EQ(other->Decrypt(here_, ct).error().code(), ErrorCode::kDataLoss);
  auto other_version = FieldCipher::Create(key_, 8);
  EXPECT_EQ(other_version->Decrypt(here_, ct).error().code(), ErrorCode::kDataLoss);
}

TEST_F(FieldCipherTest, KeyRefusesToEncryptBeyondItsBudgetButStillDecrypts) {
  auto limited = FieldCipher::Create(key_, 7, 3);
  ASSERT_TRUE(limited);
  std::vector<std::uint8_t> last;
  for (int i = 0; i < 3; ++i) last = *limited->Encrypt(here_, Bytes(value_));
  const auto refused = limited->Encrypt(here_, Bytes(value_));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(refused.error().message(),
            "data key version 7 reached its encryption limit; rotate it");
  EXPECT_EQ(limited->encryptions(), 3u);
  ASSERT_TRUE(limited->Decrypt(here_, last));  // old values stay readable until re-encrypted
  EXPECT_EQ(FieldCipher::Create(key_, 7, kMaxEncryptionsPerKey + 1).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(FieldCipherTest, EmptyValuesAreSupported) {
  const auto ct = *cipher_->Encrypt(here_, {});
  EXPECT_EQ(ct.size(), kFieldOverhead);
  EXPECT_EQ(Decrypt(here_, ct), "");
}

TEST(FieldAadTest, EncodingIsLengthPrefixed) {
  std::vector<std::uint8_t> aad;
  EncodeFieldAad({"t", "c", "r", "f"}, kFieldFormatV1, aad);
  const std::vector<std::uint8_t> expected = {0x01, 0, 0, 0, 1, 't', 0, 0, 0, 1, 'c',
                                              0,    0, 0, 1, 'r', 0, 0, 0, 1, 'f'};
  EXPECT_EQ(aad, expected);
}

}  // namespace
}  // namespace strongroom::barrier
