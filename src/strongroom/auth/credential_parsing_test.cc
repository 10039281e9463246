#include "strongroom/auth/credential_parsing.h"

#include <gtest/gtest.h>

namespace strongroom::auth {
namespace {

TEST(CredentialParsing, SplitsTheSchemeFromTheCredentials) {
  auto parts = SplitAuthorization("  Bearer \t srt_abc  ");
  EXPECT_EQ(parts.scheme, "Bearer");
  EXPECT_EQ(parts.credentials, "srt_abc");
  EXPECT_TRUE(SchemeIs(parts.scheme, "bearer"));
  EXPECT_FALSE(SchemeIs(parts.scheme, "bear"));
  parts = SplitAuthorization("Bearer");
  EXPECT_EQ(parts.scheme, "Bearer");
  EXPECT_EQ(parts.credentials, "");
  EXPECT_EQ(SplitAuthorization("").scheme, "");
}

TEST(CredentialParsing, BasicNeedsAUsernameAColonAndASecretWithinLimits) {
  // RFC 7617 §2's example: Aladdin:open sesame.
  auto basic = BasicCredentials::Parse("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 128, 4096);
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->username(), "Aladdin");
  EXPECT_EQ(basic->secret(), "open sesame");
  // The secret may hold colons; the username may not (the first one splits).
  basic = BasicCredentials::Parse("YTpiOmM=", 128, 4096);  // a:b:c
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->username(), "a");
  EXPECT_EQ(basic->secret(), "b:c");
  EXPECT_FALSE(BasicCredentials::Parse("", 128, 4096));
  EXPECT_FALSE(BasicCredentials::Parse("not base64!", 128, 4096));
  EXPECT_FALSE(BasicCredentials::Parse("YWxpY2U=", 128, 4096));        // alice: no colon
  EXPECT_FALSE(BasicCredentials::Parse("OnNlY3JldA==", 128, 4096));    // :secret
  EXPECT_FALSE(BasicCredentials::Parse("YWxpY2U6", 128, 4096));        // alice:
  EXPECT_FALSE(BasicCredentials::Parse("YWxpY2U6c2VjcmV0", 4, 4096));  // username too long
  EXPECT_FALSE(BasicCredentials::Parse("YWxpY2U6c2VjcmV0", 128, 5));   // secret too long
  EXPECT_FALSE(BasicCredentials::Parse(std::string(10000, 'A'), 128, 4096));
}

TEST(CredentialParsing, FindsTheNamedCookieAmongOthers) {
  EXPECT_EQ(CookieValue("a=1; __Host-s=xyz; b=2", "__Host-s"), "xyz");
  EXPECT_EQ(CookieValue("__Host-s=", "__Host-s"), "");
  EXPECT_EQ(CookieValue("x__Host-s=1", "__Host-s"), std::nullopt);
  EXPECT_EQ(CookieValue("a=1;;; __Host-s=first; __Host-s=second", "__Host-s"), "first");
  EXPECT_EQ(CookieValue("", "__Host-s"), std::nullopt);
}

}  // namespace
}  // namespace strongroom::auth
