#include "strongroom/crypto/ff1.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strongroom::crypto {
namespace {

std::vector<std::uint8_t> Hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kBase36 = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kKey128 = "2B7E151628AED2A6ABF7158809CF4F3C";
constexpr std::string_view kKey192 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F";
constexpr std::string_view kKey256 =
    "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";

// NIST's FF1 samples (csrc.nist.gov, "FF1samples.pdf", Samples 1-9).
TEST(Ff1Test, NistSamples) {
  struct Sample {
    std::string_view key, tweak, alphabet, plaintext, ciphertext;
  };
  const Sample samples[] = {
      {kKey128, "", kDigits, "0123456789", "2433477484"},
      {kKey128, "39383736353433323130", kDigits, "0123456789", "6124200773"},
      {kKey128, "3737373770717273373737", kBase36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"},
      {kKey192, "", kDigits, "0123456789", "2830668132"},
      {kKey192, "39383736353433323130", kDigits, "0123456789", "2496655549"},
      {kKey192, "3737373770717273373737", kBase36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"},
      {kKey256, "", kDigits, "0123456789", "6657667009"},
      {kKey256, "39383736353433323130", kDigits, "0123456789", "1001623463"},
      {kKey256, "3737373770717273373737", kBase36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"},
  };
  int number = 0;
  for (const Sample& s : samples) {
    SCOPED_TRACE("sample " + std::to_string(++number));
    auto ff1 = Ff1::Create(Hex(s.key), static_cast<unsigned>(s.alphabet.size()));
    ASSERT_TRUE(ff1);
    const auto tweak = Hex(s.tweak);
    auto encrypted = ff1->EncryptText(s.alphabet, s.plaintext, tweak);
    ASSERT_TRUE(encrypted) << encrypted.error().message();
    EXPECT_EQ(*encrypted, s.ciphertext);
    auto decrypted = ff1->DecryptText(s.alphabet, s.ciphertext, tweak);
    ASSERT_TRUE(decrypted);
    EXPECT_EQ(*decrypted, s.plaintext);
  }
}

TEST(Ff1Test, RoundTripsEveryLengthAndChangesWithTheTweak) {
  auto ff1 = Ff1::Create(Hex(kKey256), 10);
  ASSERT_TRUE(ff1);
  const std::vector<std::uint8_t> t1 = {1}, t2 = {2};
  std::string digits = "123456";
  for (; digits.size() <= 40; digits += static_cast<char>('0' + digits.size() % 10)) {
    auto a = ff1->EncryptText(kDigits, digits, t1);
    auto b = ff1->EncryptText(kDigits, digits, t2);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->size(), digits.size());
    EXPECT_EQ(a->find_first_not_of(kDigits), std::string::npos);
    EXPECT_NE(*a, *b) << digits;
    EXPECT_EQ(*ff1->DecryptText(kDigits, *a, t1), digits);
  }
}

TEST(Ff1Test, RefusesWhatTheStandardDoesNotAllow) {
  EXPECT_FALSE(Ff1::Create(Hex("00112233"), 10));
  EXPECT_FALSE(Ff1::Create(Hex(kKey128), 1));
  EXPECT_FALSE(Ff1::Create(Hex(kKey128), 65537));
  auto ff1 = Ff1::Create(Hex(kKey128), 10);
  ASSERT_TRUE(ff1);
  // Rev. 1's domain rule: 10^5 < 1,000,000 is too small a domain, 10^6 is enough.
  auto small = ff1->EncryptText(kDigits, "12345", {});
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(ff1->EncryptText(kDigits, "123456", {}));
  EXPECT_FALSE(ff1->EncryptText(kDigits, "12345a", {}));             // not in the alphabet
  EXPECT_FALSE(ff1->EncryptText("0123456789abcdef", "123456", {}));  // alphabet != radix
  const std::vector<std::uint16_t> out_of_range = {1, 2, 3, 4, 5, 10};
  EXPECT_FALSE(ff1->Encrypt(out_of_range, {}));
  EXPECT_FALSE(ff1->EncryptText(kDigits, "123456", std::vector<std::uint8_t>(257, 0)));
}

}  // namespace
}  // namespace strongroom::crypto
