#include "strongroom/auth/totp.h"

#include <liboath/oath.h>

#include <algorithm>
#include <array>
#include <cstdio>

namespace strongroom::auth {
namespace {

bool OathReady() {
  static const bool initialised = oath_init() == OATH_OK;
  return initialised;
}

int OathFlags(TotpAlgorithm algorithm) {
  switch (algorithm) {
    case TotpAlgorithm::kSha1:
      return 0;
    case TotpAlgorithm::kSha256:
      return OATH_TOTP_HMAC_SHA256;
    case TotpAlgorithm::kSha512:
      return OATH_TOTP_HMAC_SHA512;
  }
  return 0;
}

std::string_view AlgorithmName(TotpAlgorithm algorithm) {
  switch (algorithm) {
    case TotpAlgorithm::kSha1:
      return "SHA1";
    case TotpAlgorithm::kSha256:
      return "SHA256";
    case TotpAlgorithm::kSha512:
      return "SHA512";
  }
  return "SHA1";
}

Result<void> CheckParams(std::span<const std::uint8_t> secret, std::int64_t unix_time,
                         const TotpParams& params) {
  if (params.digits < 6 || params.digits > 8 || params.period_seconds < 1 ||
      params.period_seconds > 300) {
    return Fail(ErrorCode::kInvalidArgument, "TOTP parameters out of range");
  }
  if (secret.size() < 10 || secret.size() > 128) {
    return Fail(ErrorCode::kInvalidArgument, "a TOTP secret is 10 to 128 bytes");
  }
  if (unix_time < 0) return Fail(ErrorCode::kInvalidArgument, "time before the Unix epoch");
  if (!OathReady()) return Fail(ErrorCode::kInternal, "liboath failed to initialise");
  return {};
}

const char* Chars(std::span<const std::uint8_t> secret) {
  return reinterpret_cast<const char*>(secret.data());
}

void AppendPercentEncoded(std::string& out, std::string_view text) {
  // RFC 3986 unreserved characters stay; everything else (including ':' inside a name) is %XX.
  for (const unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      std::array<char, 4> escaped{};
      (void)std::snprintf(escaped.data(), escaped.size(), "%%%02X", c);
      out.append(escaped.data(), 3);
    }
  }
}

}  // namespace

Result<std::string> TotpCode(std::span<const std::uint8_t> secret, std::int64_t unix_time,
                             const TotpParams& params) {
  if (auto ok = CheckParams(secret, unix_time, params); !ok) return std::unexpected(ok.error());
  std::array<char, 16> code{};
  const int rc = oath_totp_generate2(Chars(secret), secret.size(), static_cast<time_t>(unix_time),
                                     static_cast<unsigned>(params.period_seconds), 0,
                                     static_cast<unsigned>(params.digits),
                                     OathFlags(params.algorithm), code.data());
  if (rc != OATH_OK) return Fail(ErrorCode::kInternal, "TOTP generation failed");
  return std::string(code.data());
}

Result<std::uint64_t> VerifyTotp(std::span<const std::uint8_t> secret, std::string_view code,
                                 std::int64_t unix_time,
                                 std::optional<std::uint64_t> last_used_step,
                                 const TotpParams& params, int window) {
  if (auto ok = CheckParams(secret, unix_time, params); !ok) return std::unexpected(ok.error());
  if (window < 0 || window > 10)
    return Fail(ErrorCode::kInvalidArgument, "TOTP window out of range");
  if (code.size() != static_cast<std::size_t>(params.digits) ||
      !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Fail(ErrorCode::kInvalidArgument,
                "a code is " + std::to_string(params.digits) + " digits");
  }
  const std::string terminated(code);
  std::uint64_t matched_step = 0;
  int position = 0;
  const int rc = oath_totp_validate4(Chars(secret), secret.size(), static_cast<time_t>(unix_time),
                                     static_cast<unsigned>(params.period_seconds), 0,
                                     static_cast<size_t>(window), &position, &matched_step,
                                     OathFlags(params.algorithm), terminated.c_str());
  // One answer for wrong, out-of-window and replayed codes: none tells a guesser more.
  if (rc < 0 || (last_used_step && matched_step <= *last_used_step)) {
    return Fail(ErrorCode::kUnauthenticated, "the code is wrong, expired or already used");
  }
  return matched_step;
}

std::string Base32NoPadding(std::span<const std::uint8_t> data) {
  // Hand-written: six lines of RFC 4648 §6, where liboath's encoder allocates with malloc and pads.
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const std::uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::span<const std::uint8_t> secret, const TotpParams& params) {
  std::string uri = "otpauth://totp/";
  AppendPercentEncoded(uri, issuer);
  uri.push_back(':');
  AppendPercentEncoded(uri, account);
  uri += "?secret=" + Base32NoPadding(secret) + "&issuer=";
  AppendPercentEncoded(uri, issuer);
  uri += "&algorithm=";
  uri += AlgorithmName(params.algorithm);
  uri += "&digits=" + std::to_string(params.digits) +
         "&period=" + std::to_string(params.period_seconds);
  return uri;
}

}  // namespace strongroom::auth
