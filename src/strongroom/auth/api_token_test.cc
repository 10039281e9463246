#include "strongroom/auth/api_token.h"

#include <gtest/gtest.h>

#include <set>

namespace strongroom::auth {
namespace {

TEST(ApiTokenTest, TokensHaveThePrefixAndMatchOnlyTheirHash) {
  auto issued = IssueApiToken();
  ASSERT_TRUE(issued);
  const std::string_view token = issued->token.reveal_as_text();
  EXPECT_TRUE(token.starts_with("srt_"));
  EXPECT_EQ(token.size(), 4u + 43u);  // 32 bytes in unpadded base64url
  EXPECT_EQ(issued->sha256_hex.size(), 64u);
  EXPECT_EQ(issued->token_id, "tok_" + issued->sha256_hex.substr(0, 12));
  EXPECT_EQ(issued->sha256_hex.find(token.substr(4, 8)), std::string::npos);
  EXPECT_TRUE(TokenMatches(token, issued->sha256_hex));

  std::string tampered(token);
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(TokenMatches(tampered, issued->sha256_hex));
  EXPECT_FALSE(TokenMatches("", issued->sha256_hex));
  EXPECT_FALSE(TokenMatches(token, "abc"));
}

TEST(ApiTokenTest, TokensAreUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(std::string(IssueApiToken()->token.reveal_as_text()));
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace strongroom::auth
