#include "strongroom/privacy/desensitize.h"

#include <gtest/gtest.h>

namespace strongroom::privacy {
namespace {

TEST(DesensitizeTest, MasksByTypeExactly) {
  struct MaskCase {
    std::string_view type, value, masked;
  };
  const MaskCase cases[] = {
      {"email", "jane.doe@example.com", "j***@example.com"},
      {"email", "\xc3\xa9lodie@example.fr", "\xc3\xa9***@example.fr"},  // a whole character
      {"email", "not-an-email", "***"},
      {"email", "@example.com", "***"},
      {"phone", "+44 20 7946 0958", "+** ** **** 0958"},
      {"phone", "0958", "****"},  // no longer than what would be kept: hidden whole
      {"card", "4111 1111 1111 1111", "**** **** **** 1111"},
      {"card", "4111-1111-1111-1111", "****-****-****-1111"},
      {"national_id", "AB123456C", "*****456C"},
      {"national_id", "123-45-6789", "***-**-6789"},
      {"name", "Zo\xc3\xab Mary O'Brien", "Z. M. O."},
      {"name", "jean-luc picard", "J. L. P."},
      {"name", "\xc3\x89mile Zola", "\xc3\x89. Z."},
      {"name", "  ", "***"},
      {"date", "1990-02-14", "1990"},
      {"datetime", "1990-02-14T10:00:00Z", "1990"},
      {"date", "14/02/1990", "***"},
      {"string", "anything at all", "***"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MaskByType(c.type, c.value), c.masked) << c.type << " " << c.value;
  }
}

TEST(DesensitizeTest, GeneralizesExactly) {
  EXPECT_EQ(YearMonthOf("1990-02-14"), "1990-02");
  EXPECT_EQ(YearMonthOf("1990-02-14T23:59:59.5+02:00"), "1990-02");
  EXPECT_EQ(YearMonthOf("1990-2-14"), "***");
  EXPECT_EQ(*AgeBand(37), "30-39");
  EXPECT_EQ(*AgeBand(0), "0-9");
  EXPECT_EQ(*AgeBand(64, 5), "60-64");
  EXPECT_EQ(*AgeBand(7, 1), "7");
  EXPECT_FALSE(AgeBand(-1));
  EXPECT_FALSE(AgeBand(30, 0));
  EXPECT_EQ(PostcodePrefix("sw1a 1aa"), "SW1");
  EXPECT_EQ(PostcodePrefix("75008", 2), "75");
  EXPECT_EQ(PostcodePrefix(" - "), "***");
  EXPECT_EQ(kRedacted, "[redacted]");
}

}  // namespace
}  // namespace strongroom::privacy
