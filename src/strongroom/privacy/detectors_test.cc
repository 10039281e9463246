#include "strongroom/privacy/detectors.h"

#include <gtest/gtest.h>

namespace strongroom::privacy {
namespace {

constexpr std::uint32_t kAll = 0b111;

std::string Masked(std::string_view text, std::uint32_t which = kAll) {
  return MaskFindings(text, FindPersonalData(text, which));
}

std::vector<std::string> Kinds(std::string_view text, std::uint32_t which = kAll) {
  std::vector<std::string> out;
  for (const auto& f : FindPersonalData(text, which)) {
    out.emplace_back(std::string(DetectorName(f.detector)) + ":" +
                     std::string(text.substr(f.begin, f.end - f.begin)));
  }
  return out;
}

TEST(DetectorsTest, FindsAndMasksEachKindExactly) {
  EXPECT_EQ(Masked("Customer jane.doe@example.com called."), "Customer j***@example.com called.");
  EXPECT_EQ(Masked("call +44 20 7946 0958 after 5"), "call +** ** **** 0958 after 5");
  EXPECT_EQ(Masked("or (555) 010-0199, ext 4"), "or (***) ***-0199, ext 4");
  EXPECT_EQ(Masked("SSN 078-05-1120 on file"), "SSN ***-**-1120 on file");
  EXPECT_EQ(Masked("NI number AB 12 34 56 C and QQ123456A"),
            "NI number ** ** *4 56 C and *****456A");
  EXPECT_EQ(
      Kinds("mail a@b.co, phone 07700 900123, id 078-05-1120."),
      (std::vector<std::string>{"email:a@b.co", "phone:07700 900123", "national_id:078-05-1120"}));
  // Only the detectors asked for.
  EXPECT_EQ(Masked("a@b.co 07700 900123", 0b001), "a***@b.co 07700 900123");
  EXPECT_EQ(Masked("a@b.co 07700 900123", 0b010), "a@b.co ***** **0123");
}

TEST(DetectorsTest, LeavesOrdinaryTextAlone) {
  for (std::string_view text :
       {"order 12345678 shipped on 2026-11-23", "version 1.2.3.4", "room 101, floor 3",
        "total 1,234,567.89 EUR", "user@localhost", "@mention me", "email me at home",
        "ref ABC123456", "AB123456", "4111 1111 1111 1111", "isbn 978-3-16-148410-0x"}) {
    EXPECT_TRUE(FindPersonalData(text, kAll).empty()) << text;
  }
  EXPECT_EQ(Masked(""), "");
  for (std::string_view text :
       {"2026-11-23 10:30", "at 2026-11-23T10:30:00Z", "192.168.100.200", "v10.20.30.4000"}) {
    EXPECT_TRUE(FindPersonalData(text, kAll).empty()) << text;
  }
}

TEST(DetectorsTest, ARunOfDigitsHidesNothingAfterIt) {
  // Digits before an email that starts with digits, an SSN after a date or a number: each kind
  // is still found, and refusing on it cannot be dodged so.
  EXPECT_EQ(Kinds("x 12 34@example.com 078-05-1120"),
            (std::vector<std::string>{"email:34@example.com", "national_id:078-05-1120"}));
  EXPECT_EQ(Kinds("DOB 01.02.1985 078-05-1120"),
            (std::vector<std::string>{"national_id:078-05-1120"}));
  EXPECT_EQ(Kinds("Case 42 - 078-05-1120"), (std::vector<std::string>{"national_id:078-05-1120"}));
  EXPECT_EQ(Kinds("1 078-05-1120"), (std::vector<std::string>{"national_id:078-05-1120"}));
  EXPECT_EQ(Kinds("ticket 1234567, call 07700 900123"),
            (std::vector<std::string>{"phone:07700 900123"}));
}

TEST(DetectorsTest, NamesRoundTrip) {
  for (const Detector d : {Detector::kEmail, Detector::kPhone, Detector::kNationalId}) {
    EXPECT_EQ(DetectorFromName(DetectorName(d)), d);
  }
  EXPECT_FALSE(DetectorFromName("credit_card"));
}

}  // namespace
}  // namespace strongroom::privacy
