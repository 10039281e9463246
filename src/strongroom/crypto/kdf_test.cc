#include "strongroom/crypto/kdf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::crypto {
namespace {

std::vector<std::uint8_t> Unhex(std::string_view hex) { return HexDecode(hex).value(); }
std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 5869 Appendix A, test cases 1 and 3.
TEST(HkdfSha256Test, Rfc5869Vectors) {
  const std::vector<std::uint8_t> ikm(22, 0x0b);
  auto okm1 = HkdfSha256(ikm, Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm1);
  EXPECT_EQ(HexEncode(okm1->reveal()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  auto okm3 = HkdfSha256(ikm, {}, {}, 42);
  ASSERT_TRUE(okm3);
  EXPECT_EQ(HexEncode(okm3->reveal()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfSha256Test, RefusesImpossibleLengths) {
  EXPECT_EQ(HkdfSha256(Bytes("k"), {}, {}, 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(HkdfSha256(Bytes("k"), {}, {}, 255 * 32 + 1).error().code(), ErrorCode::kInvalidArgument);
}

// Expected values from the Argon2 reference implementation (Debian package `argon2`, v1.3):
//   echo -n "correct horse battery staple" | argon2 "strongroom-salt!" -id -t 2 -k 19456 -p 1 -l 32 -r
//   echo -n "password" | argon2 "somesaltsomesalt" -id -t 3 -k 65536 -p 1 -l 32 -r
TEST(Argon2idTest, MatchesTheReferenceImplementation) {
  const auto salt1 = Bytes("strongroom-salt!");
  auto key1 = Argon2id(Bytes("correct horse battery staple"),
                       std::span<const std::uint8_t, 16>(salt1.data(), 16),
                       {.iterations = 2, .memory_bytes = 19456ull << 10}, 32);
  ASSERT_TRUE(key1);
  EXPECT_EQ(HexEncode(key1->reveal()),
            "70943a2090c42f652fd459610f6172ceb20ce858e0d1e89ecc961e178c5c5ccc");
  const auto salt2 = Bytes("somesaltsomesalt");
  auto key2 = Argon2id(Bytes("password"), std::span<const std::uint8_t, 16>(salt2.data(), 16),
                       {.iterations = 3, .memory_bytes = 64ull << 20}, 32);
  ASSERT_TRUE(key2);
  EXPECT_EQ(HexEncode(key2->reveal()),
            "7664ad4ba1a3c999fcdd0991ffc2270f78302d2383233db5e7befc85d1bb1819");
}

TEST(Argon2idTest, RefusesWeakParameters) {
  const auto salt = Bytes("0123456789abcdef");
  const auto weak = Argon2id(Bytes("pw"), std::span<const std::uint8_t, 16>(salt.data(), 16),
                             {.iterations = 0, .memory_bytes = 1 << 20}, 32);
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace strongroom::crypto
