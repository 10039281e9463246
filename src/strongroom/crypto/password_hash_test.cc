#include "strongroom/crypto/password_hash.h"

#include <gtest/gtest.h>

namespace strongroom::crypto {
namespace {

// Small parameters keep the suite fast; the defaults are exercised by the reference vector.
const Argon2idParams kFast{.iterations = 1, .memory_bytes = 8 << 20};

// Produced by the reference implementation (Debian's `argon2` 0~20171227, an independent
// client), e.g.: echo -n "correct horse battery staple" |
//   argon2 strongroomsalt16 -id -t 2 -k 19456 -p 1 -l 32 -e
TEST(PasswordHashTest, VerifiesHashesMadeByTheReferenceImplementation) {
  const std::string_view owasp_default =
      "$argon2id$v=19$m=19456,t=2,p=1$c3Ryb25ncm9vbXNhbHQxNg$"
      "fBcZzBJ9As5e3womowar4nBDOSgszAaTWmL57GYKBFs";
  EXPECT_EQ(VerifyPassword(owasp_default, "correct horse battery staple"), true);
  EXPECT_EQ(VerifyPassword(owasp_default, "correct horse battery stapl"), false);
  EXPECT_EQ(VerifyPassword(owasp_default, "Correct horse battery staple"), false);
  const std::string_view unicode =  // password "pässwörd ✓" in UTF-8
      "$argon2id$v=19$m=8192,t=3,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
      "PwLGlgSZmTO5bAHg1fcPPaZkwMcf4DhKd9jubr+HzAA";
  EXPECT_EQ(VerifyPassword(unicode, "p\xc3\xa4ssw\xc3\xb6rd \xe2\x9c\x93"), true);
  EXPECT_EQ(VerifyPassword(unicode, "passwoerd \xe2\x9c\x93"), false);
}

TEST(PasswordHashTest, HashesNameTheirParametersAndUseAFreshSalt) {
  auto first = HashPassword("a long enough passphrase", kFast);
  auto second = HashPassword("a long enough passphrase", kFast);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->starts_with("$argon2id$v=19$m=8192,t=1,p=1$")) << *first;
  EXPECT_NE(*first, *second);
  EXPECT_EQ(VerifyPassword(*first, "a long enough passphrase"), true);
  EXPECT_EQ(VerifyPassword(*second, "a long enough passphrase"), true);
  EXPECT_EQ(VerifyPassword(*first, "a long enough passphrasE"), false);
  EXPECT_EQ(VerifyPassword(*first, ""), false);
}

TEST(PasswordHashTest, OlderParametersAskForAnUpgrade) {
  auto hash = HashPassword("upgrade me later", kFast);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(PasswordHashNeedsUpgrade(*hash, kFast));
  EXPECT_TRUE(PasswordHashNeedsUpgrade(*hash, {.iterations = 2, .memory_bytes = 8 << 20}));
  EXPECT_TRUE(PasswordHashNeedsUpgrade(*hash, {.iterations = 1, .memory_bytes = 19 << 20}));
  EXPECT_FALSE(PasswordHashNeedsUpgrade("not a hash", kFast));
}

TEST(PasswordHashTest, DamagedOrForeignHashesAreErrorsNotMismatches) {
  auto hash = HashPassword("x", kFast);
  ASSERT_TRUE(hash);
  const std::string with_nul = *hash + std::string(1, '\0') + "x";
  for (const std::string_view bad : {
           std::string_view(""),
           std::string_view("$argon2i$v=19$m=8192,t=1,p=1$c29tZXNhbHQ$"
                            "RdescudvJCsgt3ub+b+dWRWJTmaaJObG"),           // Argon2i, not id
           std::string_view("$argon2id$v=19$m=8192,t=1,p=1$c29tZXNhbHQ"),  // no hash
           std::string_view("$argon2id$v=16$m=8192,t=1,p=1$c29tZXNhbHQ$AAAA"),
           std::string_view(*hash).substr(0, 20),
           std::string_view(with_nul),
           std::string_view("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"),
       }) {
    auto verified = VerifyPassword(bad, "x");
    ASSERT_FALSE(verified) << bad;
    EXPECT_EQ(verified.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  const std::string overlong(200, 'a');
  EXPECT_FALSE(VerifyPassword("$argon2id$" + overlong, "x"));
}

TEST(PasswordHashTest, ParametersOutOfRangeAreRefused) {
  for (const Argon2idParams params :
       {Argon2idParams{.iterations = 0, .memory_bytes = 8 << 20},
        Argon2idParams{.iterations = 1, .memory_bytes = 1024},
        Argon2idParams{.iterations = 1, .memory_bytes = 8ull << 30}}) {
    auto hash = HashPassword("x", params);
    ASSERT_FALSE(hash);
    EXPECT_EQ(hash.error().code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace strongroom::crypto
