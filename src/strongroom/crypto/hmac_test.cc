#include "strongroom/crypto/hmac.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::crypto {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string Mac(const std::vector<std::uint8_t>& key, std::string_view data) {
  auto hmac = HmacSha256::Create(key);
  EXPECT_TRUE(hmac);
  return HexEncode(*hmac->Compute(Bytes(data)));
}

// RFC 4231 §4.2, §4.3, §4.7 (HMAC-SHA-256 column).
TEST(HmacSha256Test, Rfc4231Vectors) {
  EXPECT_EQ(Mac(std::vector<std::uint8_t>(20, 0x0b), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Mac(Bytes("Jefe"), "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Mac(std::vector<std::uint8_t>(131, 0xaa),
                "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, ContextIsReusableAcrossMessages) {
  auto hmac = HmacSha256::Create(Bytes("Jefe"));
  const auto first = *hmac->Compute(Bytes("what do ya want for nothing?"));
  (void)*hmac->Compute(Bytes("something else in between"));
  EXPECT_EQ(*hmac->Compute(Bytes("what do ya want for nothing?")), first);
}

TEST(HmacSha256Test, EmptyKeyIsRefused) {
  EXPECT_EQ(HmacSha256::Create({}).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace strongroom::crypto
