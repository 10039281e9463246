#pragma once
// Time-based one-time passwords (TOTP, RFC 6238, over HOTP, RFC 4226) for two-factor sign-in,
// compatible with Google Authenticator and every RFC 6238 app: by default HMAC-SHA-1, 6 digits,
// 30-second steps, as those apps assume. The HOTP/TOTP arithmetic is liboath's (oath-toolkit,
// the same project as the `oathtool` the tests check us against); this file adds the policy:
// a window of ±1 step, each step usable once (the caller stores the step a code matched and
// passes it back), and the otpauth:// URI apps scan from a QR code.
//
// Stateless apart from liboath's one-time initialisation; thread-safe. Time is a parameter, so
// tests use fixed instants instead of sleeping.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom::auth {

enum class TotpAlgorithm { kSha1, kSha256, kSha512 };

struct TotpParams {
  TotpAlgorithm algorithm = TotpAlgorithm::kSha1;
  int digits = 6;           // 6 to 8
  int period_seconds = 30;  // the step
};

inline constexpr std::size_t kTotpSecretSize = 20;  // 160 bits, RFC 4226's recommendation

// The code for `unix_time`: `digits` decimal digits. invalid_argument for bad parameters.
Result<std::string> TotpCode(std::span<const std::uint8_t> secret, std::int64_t unix_time,
                             const TotpParams& params = {});

// Checks `code` against the steps around `unix_time` (±`window`). On success returns the step it
// matched; the caller stores it and passes it as `last_used_step` next time, and any step at or
// before it is refused (a replayed code, or an older one). unauthenticated (one message) for a
// wrong, expired or replayed code; invalid_argument if `code` is not `digits` ASCII digits.
Result<std::uint64_t> VerifyTotp(std::span<const std::uint8_t> secret, std::string_view code,
                                 std::int64_t unix_time,
                                 std::optional<std::uint64_t> last_used_step,
                                 const TotpParams& params = {}, int window = 1);

// otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30
// (Google Authenticator's Key Uri Format), label and issuer percent-encoded.
std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::span<const std::uint8_t> secret, const TotpParams& params = {});

// RFC 4648 base32 without padding, as the otpauth URI carries the secret.
std::string Base32NoPadding(std::span<const std::uint8_t> data);

}  // namespace strongroom::auth
