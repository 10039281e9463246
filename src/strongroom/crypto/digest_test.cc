#include "strongroom/crypto/digest.h"

#include <gtest/gtest.h>

#include "strongroom/crypto/encoding.h"

namespace strongroom::crypto {
namespace {

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf").
TEST(Sha256Test, NistVectors) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  const std::uint8_t a[] = {1, 2, 3};
  const std::uint8_t b[] = {1, 2, 3};
  const std::uint8_t c[] = {1, 2, 4};
  const std::uint8_t d[] = {1, 2};
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, c));
  EXPECT_FALSE(ConstantTimeEqual(a, d));
}

}  // namespace
}  // namespace strongroom::crypto
