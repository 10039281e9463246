#include "strongroom/auth/totp.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>

#include "strongroom/crypto/random.h"

namespace strongroom::auth {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// RFC 6238 Appendix B: the seeds are ASCII "1234567890" repeated to 20, 32 and 64 bytes.
TEST(TotpTest, Rfc6238TestVectors) {
  const std::string_view sha1 = "12345678901234567890";
  const std::string_view sha256 = "12345678901234567890123456789012";
  const std::string_view sha512 =
      "1234567890123456789012345678901234567890123456789012345678901234";
  struct Vector {
    std::int64_t time;
    const char* sha1;
    const char* sha256;
    const char* sha512;
  };
  for (const Vector& v : {Vector{59, "94287082", "46119246", "90693936"},
                          Vector{1111111109, "07081804", "68084774", "25091201"},
                          Vector{1111111111, "14050471", "67062674", "99943326"},
                          Vector{1234567890, "89005924", "91819424", "93441116"},
                          Vector{2000000000, "69279037", "90698825", "38618901"},
                          Vector{20000000000, "65353130", "77737706", "47863826"}}) {
    EXPECT_EQ(TotpCode(Bytes(sha1), v.time, {TotpAlgorithm::kSha1, 8, 30}), v.sha1) << v.time;
    EXPECT_EQ(TotpCode(Bytes(sha256), v.time, {TotpAlgorithm::kSha256, 8, 30}), v.sha256) << v.time;
    EXPECT_EQ(TotpCode(Bytes(sha512), v.time, {TotpAlgorithm::kSha512, 8, 30}), v.sha512) << v.time;
  }
  // The app default: the last 6 digits of the same truncation.
  EXPECT_EQ(TotpCode(Bytes(sha1), 59), "287082");
}

// A code from oathtool (oath-toolkit's command-line client, installed by install-deps --test)
// for `time`, 6 digits, SHA-1, 30 s.
std::string OathtoolCode(std::span<const std::uint8_t> secret, std::int64_t time) {
  std::string hex;
  for (const std::uint8_t b : secret) {
    std::array<char, 3> two{};
    (void)std::snprintf(two.data(), two.size(), "%02x", b);
    hex += two.data();
  }
  const std::string command = "oathtool --totp --now=@" + std::to_string(time) + " " + hex;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return "";
  std::array<char, 32> line{};
  if (std::fgets(line.data(), line.size(), pipe.get()) == nullptr) return "";
  std::string code(line.data());
  while (!code.empty() && (code.back() == '\n' || code.back() == '\r')) code.pop_back();
  return code;
}

TEST(TotpTest, CodesFromOathtoolAreAcceptedWithinOneStepAndOnlyOnce) {
  auto secret = crypto::RandomSecret(kTotpSecretSize);
  ASSERT_TRUE(secret);
  const auto key = secret->reveal();
  const std::int64_t now = 1'795'000'015;  // mid-step, a fixed instant
  const std::uint64_t step = now / 30;
  for (int offset = -2; offset <= 2; ++offset) {
    const std::string code = OathtoolCode(key, now + offset * 30);
    ASSERT_EQ(code.size(), 6u) << "oathtool missing or failed: '" << code << "'";
    EXPECT_EQ(TotpCode(key, now + offset * 30), code) << offset;
    auto verified = VerifyTotp(key, code, now, std::nullopt);
    if (offset >= -1 && offset <= 1) {
      ASSERT_TRUE(verified) << offset << ": " << verified.error().message();
      EXPECT_EQ(*verified, step + offset);
      // Replayed: the same code once its step is recorded as used.
      auto replayed = VerifyTotp(key, code, now, *verified);
      ASSERT_FALSE(replayed);
      EXPECT_EQ(replayed.error().code(), ErrorCode::kUnauthenticated);
    } else {
      ASSERT_FALSE(verified) << offset;
      EXPECT_EQ(verified.error().code(), ErrorCode::kUnauthenticated);
    }
  }
  // After a later step was used, an earlier (still in-window) code is refused too.
  const std::string previous = OathtoolCode(key, now - 30);
  auto older = VerifyTotp(key, previous, now, step);
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code(), ErrorCode::kUnauthenticated);
  // Wrong, expired and replayed codes read the same. (At most 3 codes are valid at `now`.)
  std::string wrong = "000000";
  while (VerifyTotp(key, wrong, now, std::nullopt)) ++wrong.back();
  EXPECT_EQ(VerifyTotp(key, wrong, now, std::nullopt).error().message(), older.error().message());
}

TEST(TotpTest, MalformedCodesAndParametersAreRefused) {
  const auto key = Bytes("12345678901234567890");
  for (const std::string_view bad : {"", "12345", "1234567", "12345a", " 12345", "１２３４５６"}) {
    auto verified = VerifyTotp(key, bad, 59, std::nullopt);
    ASSERT_FALSE(verified) << bad;
    EXPECT_EQ(verified.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(TotpCode(Bytes("short"), 59).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(TotpCode(key, -1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(TotpCode(key, 59, {TotpAlgorithm::kSha1, 5, 30}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(TotpCode(key, 59, {TotpAlgorithm::kSha1, 6, 0}).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(TotpTest, OtpauthUriFollowsTheKeyUriFormat) {
  EXPECT_EQ(Base32NoPadding(Bytes("12345678901234567890")), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  EXPECT_EQ(Base32NoPadding(Bytes("f")), "MY");  // RFC 4648 §10, padding dropped
  EXPECT_EQ(Base32NoPadding(Bytes("foobar")), "MZXW6YTBOI");
  EXPECT_EQ(OtpauthUri("Strongroom", "alice@example.com", Bytes("12345678901234567890")),
            "otpauth://totp/Strongroom:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=Strongroom&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(OtpauthUri("Acme Health", "a:b", Bytes("12345678901234567890")).substr(0, 39),
            "otpauth://totp/Acme%20Health:a%3Ab?secr");
}

}  // namespace
}  // namespace strongroom::auth
