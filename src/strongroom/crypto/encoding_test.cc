#include "strongroom/crypto/encoding.h"

#include <gtest/gtest.h>

namespace strongroom::crypto {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 4648 §10 test vectors, in the unpadded URL-safe alphabet.
TEST(Base64UrlTest, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64UrlEncode(Bytes(plain)), encoded);
    EXPECT_EQ(*Base64UrlDecode(encoded), Bytes(plain));
  }
}

// The same vectors padded, in the standard alphabet (RFC 4648 §4).
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) EXPECT_EQ(Base64Encode(Bytes(plain)), encoded);
  EXPECT_EQ(Base64Encode(std::vector<std::uint8_t>{0xfb, 0xff, 0xbf}), "+/+/");
}

TEST(Base64Test, DecodesRfc4648VectorsAndRefusesBadInput) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), plain);
  }
  for (std::string_view bad : {"Zg", "Zg=", "Zh==", "Z===", "Zm9v\n", "Zm-v", "=Zm9", "Zm=v"}) {
    EXPECT_FALSE(Base64Decode(bad)) << bad;
  }
}

TEST(Base64UrlTest, UsesTheUrlAlphabet) {
  const std::vector<std::uint8_t> bytes = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(*Base64UrlDecode("-_-_"), bytes);
}

TEST(Base64UrlTest, RefusesNonCanonicalAndForeignInput) {
  EXPECT_FALSE(Base64UrlDecode("Zm9v+g"));   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm9vYg=="));  // padding
  EXPECT_FALSE(Base64UrlDecode("Zh"));       // stray low bits (canonical is "Zg")
  EXPECT_FALSE(Base64UrlDecode("Z"));        // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zm9v!"));
}

TEST(HexTest, LowercaseTwoDigitsPerByte) {
  const std::uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(HexEncode(bytes), "000fa5ff");
  EXPECT_EQ(*HexDecode("000fa5ff"), std::vector<std::uint8_t>(std::begin(bytes), std::end(bytes)));
  EXPECT_EQ(*HexDecode("000FA5FF"), std::vector<std::uint8_t>(std::begin(bytes), std::end(bytes)));
  EXPECT_EQ(*HexDecode(""), std::vector<std::uint8_t>());
}

TEST(HexTest, DecodeRefusesOddLengthsAndNonDigits) {
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
  EXPECT_FALSE(HexDecode("0x"));
  EXPECT_FALSE(HexDecode(" 0"));
}

}  // namespace
}  // namespace strongroom::crypto
