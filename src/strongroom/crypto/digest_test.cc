#include "strongroom/crypto/digest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

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

// FIPS 180-4 long message: one million 'a', fed in uneven pieces (including empty ones), then
// the hasher is reused for "abc" to show Finish() starts over.
TEST(Sha256HasherTest, StreamedMillionAMatchesNistVector) {
  Sha256Hasher hasher;
  const std::string piece(7919, 'a');  // a prime: pieces straddle every block boundary
  std::size_t fed = 0;
  while (fed < 1'000'000) {
    const std::size_t n = std::min(piece.size(), 1'000'000 - fed);
    hasher.Update({reinterpret_cast<const std::uint8_t*>(piece.data()), n});
    hasher.Update({});
    fed += n;
  }
  EXPECT_EQ(HexEncode(hasher.Finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  const std::string abc = "abc";
  hasher.Update({reinterpret_cast<const std::uint8_t*>(abc.data()), 1});
  hasher.Update({reinterpret_cast<const std::uint8_t*>(abc.data()) + 1, 2});
  EXPECT_EQ(HexEncode(hasher.Finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Hasher moved = std::move(hasher);
  EXPECT_EQ(HexEncode(moved.Finish()),
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
