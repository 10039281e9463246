#include "strongroom/base/card_numbers.h"

#include <gtest/gtest.h>

#include <string>

namespace strongroom {
namespace {

// The check digit that makes `body` Luhn-valid, computed independently of LuhnValid().
std::string WithCheckDigit(const std::string& body) {
  int sum = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    int d = body[body.size() - 1 - i] - '0';
    if (i % 2 == 0) {  // doubled once the check digit is appended
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + static_cast<char>('0' + (10 - sum % 10) % 10);
}

std::string Found(std::string_view text) {
  std::string out;
  for (const auto& card : FindCardNumbers(text)) {
    if (!out.empty()) out += "|";
    out += std::string(text.substr(card.begin, card.end - card.begin));
  }
  return out;
}

TEST(CardNumbersTest, LuhnMatchesTheClassicExample) {
  EXPECT_TRUE(LuhnValid("79927398713"));
  EXPECT_FALSE(LuhnValid("79927398710"));
  EXPECT_FALSE(LuhnValid(""));
  EXPECT_FALSE(LuhnValid("7992739871a"));
}

TEST(CardNumbersTest, FindsTheSchemesPublishedTestNumbers) {
  for (const char* pan :
       {"4111111111111111", "4012888888881881", "5555555555554444", "2223003122003222",
        "378282246310005", "6011111111111117", "3530111333300000", "30569309025904",
        "6200000000000005", "4222222222222"}) {
    EXPECT_EQ(Found(pan), pan) << pan;
    EXPECT_TRUE(ContainsCardNumber(pan)) << pan;
  }
  const std::string mir = WithCheckDigit("220000000000000");
  EXPECT_EQ(Found(mir), mir);
}

TEST(CardNumbersTest, SeparatorsAndSurroundingText) {
  EXPECT_EQ(Found("card 4111 1111 1111 1111, exp 12/27"), "4111 1111 1111 1111");
  EXPECT_EQ(Found("4111-1111-1111-1111"), "4111-1111-1111-1111");
  EXPECT_EQ(Found("3782 822463 10005"), "3782 822463 10005");
  EXPECT_EQ(Found("pay 4111111111111111 then 5555-5555-5555-4444."),
            "4111111111111111|5555-5555-5555-4444");
  // A card number followed by a year in the same run of groups is still found.
  EXPECT_EQ(Found("4111 1111 1111 1111 2027"), "4111 1111 1111 1111");
  EXPECT_EQ(Found("ref 12 4111 1111 1111 1111"), "4111 1111 1111 1111");
  EXPECT_EQ(Found("40008 4111 1111 1111 1111"), "4111 1111 1111 1111");
  EXPECT_EQ(Found("4111111111111111 2027"), "4111111111111111");
  // After a '+' only the country code is a phone number's: a card after it is still found.
  EXPECT_EQ(Found("+1 4111 1111 1111 1111"), "4111 1111 1111 1111");
  EXPECT_EQ(Found("+44 7700 900123 4111 1111 1111 1111"), "4111 1111 1111 1111");
}

TEST(CardNumbersTest, NoFalsePositivesOnOrdinaryNumbers) {
  EXPECT_EQ(Found("order 4111111111111112"), "");           // fails Luhn
  EXPECT_EQ(Found(WithCheckDigit("123456789012345")), "");  // no scheme starts with 1
  EXPECT_EQ(Found(WithCheckDigit("41111111111")), "");      // 12 digits: too short for any scheme
  EXPECT_EQ(Found("00004111111111111111"), "");             // inside a longer number
  EXPECT_EQ(Found("41111111111111110000"), "");
  EXPECT_EQ(Found("+" + WithCheckDigit("491511234567")), "");  // a phone number
  EXPECT_EQ(Found("4111  1111  1111  1111"), "");  // double separators do not join groups
  EXPECT_EQ(Found("4111.1111.1111.1111"), "");
  EXPECT_EQ(Found(WithCheckDigit("378282246310000")), "");  // Amex numbers have 15 digits, not 16
  EXPECT_FALSE(ContainsCardNumber("invoice 2026-11-22 total 1299"));
  // Part of a longer run counts only in a card's layout: phone pairs and date lists do not.
  EXPECT_EQ(Found("455-475-1793 839-389-5643"), "");
  EXPECT_EQ(Found("2027-12-30 2027-12-31 2028-01-01 2028-01-02"), "");
  EXPECT_EQ(Found("4111-1111 1111-1111 77"), "");  // mixed separators in a partial run
  EXPECT_FALSE(ContainsCardNumber(""));
}

}  // namespace
}  // namespace strongroom
