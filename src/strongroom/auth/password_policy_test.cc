#include "strongroom/auth/password_policy.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>

#include "support/scratch_dir.h"

namespace strongroom::auth {
namespace {

void ExpectRefused(const Result<SecretBytes>& checked, std::string_view rule,
                   std::string_view password) {
  ASSERT_FALSE(checked) << "accepted: " << password;
  EXPECT_EQ(checked.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(checked.error().path(), "$.password");
  EXPECT_EQ(checked.error().rule(), rule) << password;
  if (password.size() >= 4) {
    EXPECT_EQ(checked.error().message().find(password), std::string::npos)
        << "the message quotes the password";
  }
}

constexpr std::string_view kStrong = "violet tractor umbrella quietly 1987";

TEST(PasswordPolicyTest, AcceptsALongUnrelatedPassphraseAsItsNfkcForm) {
  const PasswordPolicy policy;
  auto checked = policy.Check(kStrong, "alice");
  ASSERT_TRUE(checked) << checked.error().message();
  EXPECT_EQ(checked->reveal_as_text(), kStrong);
  // Fullwidth letters and a ligature: NFKC makes them the ASCII a user types elsewhere.
  auto wide = policy.Check("\xef\xbc\xb6iolet tractor umbrella quietly \xef\xac\x81ne", "alice");
  ASSERT_TRUE(wide) << wide.error().message();
  EXPECT_EQ(wide->reveal_as_text(), "Violet tractor umbrella quietly fine");
}

TEST(PasswordPolicyTest, LengthIsCountedInCharacters) {
  const PasswordPolicy policy;
  ExpectRefused(policy.Check("short pass", "alice"), "min_length", "short pass");
  // 11 characters in 22 bytes: still too short.
  std::string accented;
  for (int i = 0; i < 11; ++i) accented += "\xc3\xa9";
  ExpectRefused(policy.Check(accented, "alice"), "min_length", accented);
  const std::string overlong = std::string(kStrong) + std::string(100, 'x');
  ExpectRefused(policy.Check(overlong, "alice"), "max_length", overlong);
  // NIST: at least 64 characters must be allowed.
  const std::string sixty_four = std::string(kStrong) + " zebra marmalade kiln ochres";
  ASSERT_EQ(sixty_four.size(), 64u);
  EXPECT_TRUE(policy.Check(sixty_four, "alice"));
}

TEST(PasswordPolicyTest, BrokenEncodingAndControlCharactersAreRefused) {
  const PasswordPolicy policy;
  ExpectRefused(policy.Check(std::string(kStrong) + "\xff", "alice"), "encoding", "");
  ExpectRefused(policy.Check(std::string(kStrong) + "\xc3", "alice"), "encoding", "");
  ExpectRefused(policy.Check(std::string(kStrong) + "\n", "alice"), "encoding", "");
  ExpectRefused(policy.Check(std::string("violet\0tractor umbrella quietly", 31), "alice"),
                "encoding", "");
}

TEST(PasswordPolicyTest, GuessablePasswordsAreRefusedWithoutCompositionRules) {
  const PasswordPolicy policy;
  for (const std::string_view weak :
       {"password1234", "123456789012", "aaaaaaaaaaaaaaaa", "qwertyuiop123", "Password1234!"}) {
    ExpectRefused(policy.Check(weak, "alice"), "too_weak", weak);
  }
  EXPECT_LE(PasswordPolicy::Strength("password1234", {}), 1);
  EXPECT_EQ(PasswordPolicy::Strength(kStrong, {}), 4);
  // The tenant's and product's names count as dictionary words.
  const std::string_view context[] = {"strongroom", "acmehealth"};
  EXPECT_TRUE(policy.Check("acmehealth strongroom", "alice"));
  ExpectRefused(policy.Check("acmehealth strongroom", "alice", context), "too_weak",
                "acmehealth strongroom");
}

TEST(PasswordPolicyTest, TheUsernameMayNotBeInsideThePassword) {
  const PasswordPolicy policy;
  ExpectRefused(policy.Check("violet Alice.Smith umbrella 1987", "alice.smith"),
                "contains_username", "violet Alice.Smith umbrella 1987");
  // Very short usernames are not searched for (every password would contain "a").
  EXPECT_TRUE(policy.Check(kStrong, "al"));
}

TEST(PasswordPolicyTest, TheBlocklistIsComparedCaseFoldedAndNormalised) {
  strongroom::testing::ScratchDir dir;
  {
    std::ofstream out(dir / "blocklist.txt");
    out << "# common passphrases\n\nViolet Tractor Umbrella Quietly 1987\r\nanother entry here\n";
  }
  auto entries = PasswordPolicy::LoadBlocklist(dir / "blocklist.txt");
  ASSERT_TRUE(entries) << entries.error().message();
  EXPECT_EQ(entries->size(), 2u);
  const PasswordPolicy policy({}, *entries);
  ExpectRefused(policy.Check(kStrong, "alice"), "blocklisted", kStrong);
  ExpectRefused(policy.Check("VIOLET TRACTOR UMBRELLA QUIETLY 1987", "alice"), "blocklisted",
                "VIOLET TRACTOR UMBRELLA QUIETLY 1987");
  EXPECT_TRUE(policy.Check("violet tractor umbrella quietly 1988", "alice"));
  {
    std::ofstream out(dir / "broken.txt");
    out << "fine\n\xff\xfe broken\n";
  }
  auto broken = PasswordPolicy::LoadBlocklist(dir / "broken.txt");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message().find("broken.txt:2"), std::string::npos);
  EXPECT_FALSE(PasswordPolicy::LoadBlocklist(dir / "missing.txt"));
}

TEST(PasswordPolicyTest, TheShippedListOfCommonPasswordsIsRefusedEvenWhereZxcvbnWouldPassIt) {
  const std::vector<std::string> shipped = PasswordPolicy::ShippedBlocklist();
  ASSERT_GT(shipped.size(), 700u);  // parses whole: a broken line would empty it
  EXPECT_NE(std::find(shipped.begin(), shipped.end(), "correcthorsebatterystaple"), shipped.end());
  // A lenient policy (zxcvbn score 0 accepted) still refuses every entry it could otherwise take.
  const PasswordPolicy lenient({.min_length = 8, .max_length = 128, .min_strength = 0}, shipped);
  for (const std::string& entry : shipped) {
    auto checked = lenient.Check(entry, "nobody-here");
    ASSERT_FALSE(checked) << "accepted: " << entry;
    EXPECT_EQ(checked.error().rule(), "blocklisted") << entry;
  }
  // Case and compatibility forms fold onto the entry.
  ExpectRefused(lenient.Check("Correct Horse Battery Staple", "alice"), "blocklisted",
                "Correct Horse Battery Staple");
  ExpectRefused(lenient.Check("ＰＡＳＳＷＯＲＤ１２３４", "alice"), "blocklisted",
                "ＰＡＳＳＷＯＲＤ１２３４");
}

TEST(PasswordPolicyTest, SettingsAreHonoured) {
  const PasswordPolicy lenient({.min_length = 8, .max_length = 64, .min_strength = 2});
  EXPECT_TRUE(lenient.Check("tractor umbrella", "alice"));
  const PasswordPolicy strict({.min_length = 40, .max_length = 128, .min_strength = 4});
  ExpectRefused(strict.Check(kStrong, "alice"), "min_length", kStrong);
}

}  // namespace
}  // namespace strongroom::auth
