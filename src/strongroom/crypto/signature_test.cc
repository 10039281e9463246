#include "strongroom/crypto/signature.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::crypto {
namespace {

std::vector<std::uint8_t> Hex(std::string_view hex) { return *HexDecode(hex); }

struct Rfc8032Vector {
  std::string_view secret, public_key, message, signature;
};

// RFC 8032 §7.1, TEST 1, TEST 2 and TEST 3.
constexpr Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "4"
     "6bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d"
     "8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6"
     "594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519Test, Rfc8032Vectors) {
  for (const auto& v : kVectors) {
    auto signer = Ed25519Signer::FromSeed(Hex(v.secret));
    ASSERT_TRUE(signer);
    EXPECT_EQ(HexEncode(signer->public_key()), v.public_key);
    const auto message = Hex(v.message);
    const auto signature = signer->Sign(message);
    EXPECT_EQ(HexEncode(signature), v.signature);
    EXPECT_TRUE(Ed25519Verify(signer->public_key(), message, signature));
  }
}

TEST(Ed25519Test, AlteredMessageSignatureOrKeyFails) {
  auto signer = Ed25519Signer::FromSeed(Hex(kVectors[1].secret));
  ASSERT_TRUE(signer);
  std::vector<std::uint8_t> message = {'c', 'h', 'e', 'c', 'k'};
  auto signature = signer->Sign(message);
  ASSERT_TRUE(Ed25519Verify(signer->public_key(), message, signature));
  message[0] ^= 1;
  EXPECT_FALSE(Ed25519Verify(signer->public_key(), message, signature));
  message[0] ^= 1;
  signature[10] ^= 0x40;
  EXPECT_FALSE(Ed25519Verify(signer->public_key(), message, signature));
  signature[10] ^= 0x40;
  auto other = Ed25519Signer::FromSeed(Hex(kVectors[0].secret));
  EXPECT_FALSE(Ed25519Verify(other->public_key(), message, signature));
}

TEST(Ed25519Test, SeedMustBe32Bytes) {
  EXPECT_EQ(Ed25519Signer::FromSeed(std::vector<std::uint8_t>(31, 1)).error().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace strongroom::crypto
