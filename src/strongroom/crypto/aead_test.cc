#include "strongroom/crypto/aead.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::crypto {
namespace {

std::vector<std::uint8_t> Unhex(std::string_view hex) { return HexDecode(hex).value(); }

struct GcmVector {
  const char* name;
  const char* key;
  const char* nonce;
  const char* aad;
  const char* plaintext;
  const char* ciphertext;
  const char* tag;
};

// AES-256 cases 13-16 of "The Galois/Counter Mode of Operation" (McGrew & Viega), the test
// vectors NIST's GCM validation cites.
constexpr GcmVector kVectors[] = {
    {"case 13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case 15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"case 16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(Aes256GcmTest, GcmSpecVectors) {
  for (const GcmVector& v : kVectors) {
    auto aead = Aes256Gcm::Create(Unhex(v.key));
    ASSERT_TRUE(aead) << v.name;
    const auto nonce = Unhex(v.nonce);
    const auto plaintext = Unhex(v.plaintext);
    std::vector<std::uint8_t> sealed(plaintext.size() + Aes256Gcm::kTagSize);
    ASSERT_TRUE(aead->Seal(std::span<const std::uint8_t, 12>(nonce.data(), 12), Unhex(v.aad),
                           plaintext, sealed));
    EXPECT_EQ(HexEncode(sealed), std::string(v.ciphertext) + v.tag) << v.name;
    std::vector<std::uint8_t> opened(plaintext.size());
    ASSERT_TRUE(aead->Open(std::span<const std::uint8_t, 12>(nonce.data(), 12), Unhex(v.aad),
                           sealed, opened));
    EXPECT_EQ(opened, plaintext) << v.name;
  }
}

class Aes256GcmTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = Unhex(kVectors[3].key);
    aead_.emplace(std::move(*Aes256Gcm::Create(key_)));
    ASSERT_TRUE(NextNonce(nonce_));
    sealed_.resize(plaintext_.size() + Aes256Gcm::kTagSize);
    ASSERT_TRUE(aead_->Seal(nonce_, aad_, plaintext_, sealed_));
  }
  Result<void> Open(std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> aad,
                    std::span<const std::uint8_t, 12> nonce) {
    out_.assign(sealed.size() - Aes256Gcm::kTagSize, 0xEE);
    return aead_->Open(nonce, aad, sealed, out_);
  }
  std::vector<std::uint8_t> key_;
  std::optional<Aes256Gcm> aead_;
  std::array<std::uint8_t, 12> nonce_{};
  const std::vector<std::uint8_t> aad_ = {'t', '1', '/', 'p', 'a', 't', 'i', 'e', 'n', 't', 's'};
  const std::vector<std::uint8_t> plaintext_ = {'a', 'l', 'i', 'c', 'e', '@', 'x', '.', 'o', 'r', 'g'};
  std::vector<std::uint8_t> sealed_;
  std::vector<std::uint8_t> out_;
};

TEST_F(Aes256GcmTamperTest, EveryFlippedBitFailsWithDataLossAndNoPlaintext) {
  for (std::size_t i = 0; i < sealed_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto tampered = sealed_;
      tampered[i] ^= static_cast<std::uint8_t>(1 << bit);
      const auto opened = Open(tampered, aad_, nonce_);
      ASSERT_FALSE(opened) << "byte " << i << " bit " << bit;
      EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
      EXPECT_EQ(out_, std::vector<std::uint8_t>(out_.size(), 0)) << "plaintext leaked";
    }
  }
  ASSERT_TRUE(Open(sealed_, aad_, nonce_));
  EXPECT_EQ(out_, plaintext_);
}

TEST_F(Aes256GcmTamperTest, WrongAadNonceKeyOrTruncationFail) {
  auto other_aad = aad_;
  other_aad.back() = 'S';  // the same value "moved" to another place
  EXPECT_EQ(Open(sealed_, other_aad, nonce_).error().code(), ErrorCode::kDataLoss);
  auto other_nonce = nonce_;
  other_nonce[0] ^= 1;
  EXPECT_EQ(Open(sealed_, aad_, other_nonce).error().code(), ErrorCode::kDataLoss);
  auto other_key = key_;
  other_key[31] ^= 1;
  auto other = Aes256Gcm::Create(other_key);
  std::vector<std::uint8_t> out(plaintext_.size());
  EXPECT_EQ(other->Open(nonce_, aad_, sealed_, out).error().code(), ErrorCode::kDataLoss);
  const std::vector<std::uint8_t> truncated(sealed_.begin(), sealed_.end() - 1);
  EXPECT_EQ(Open(truncated, aad_, nonce_).error().code(), ErrorCode::kDataLoss);
}

TEST(Aes256GcmTest, RefusesBadSizes) {
  EXPECT_EQ(Aes256Gcm::Create(std::vector<std::uint8_t>(16)).error().code(),
            ErrorCode::kInvalidArgument);
  auto aead = Aes256Gcm::Create(std::vector<std::uint8_t>(32, 7));
  std::array<std::uint8_t, 12> nonce{};
  std::vector<std::uint8_t> out(3);
  EXPECT_EQ(aead->Seal(nonce, {}, std::vector<std::uint8_t>(4), out).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(aead->Open(nonce, {}, std::vector<std::uint8_t>(8), out).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(NonceTest, NoncesDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {  // crosses several 4 KiB refills
    std::array<std::uint8_t, 12> nonce{};
    ASSERT_TRUE(NextNonce(nonce));
    ASSERT_TRUE(seen.insert(HexEncode(nonce)).second);
  }
}

}  // namespace
}  // namespace strongroom::crypto
