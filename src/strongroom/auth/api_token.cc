#include "strongroom/auth/api_token.h"

#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"

namespace strongroom::auth {
namespace {
constexpr std::string_view kPrefix = "srt_";
constexpr std::size_t kTokenBytes = 32;
}  // namespace

Result<IssuedToken> IssueApiToken() {
  auto random = crypto::RandomSecret(kTokenBytes);
  if (!random) return std::unexpected(random.error());
  const std::string text = std::string(kPrefix) + crypto::Base64UrlEncode(random->reveal());
  IssuedToken issued;
  const auto digest = crypto::Sha256(text);
  issued.sha256_hex = crypto::HexEncode(digest);
  issued.token_id = "tok_" + issued.sha256_hex.substr(0, 12);
  issued.token = SecretBytes(std::string_view(text));
  return issued;
}

bool TokenMatches(std::string_view presented, std::string_view stored_sha256_hex) {
  if (!presented.starts_with(kPrefix) || stored_sha256_hex.size() != 64) return false;
  const std::string presented_hex = crypto::HexEncode(crypto::Sha256(presented));
  return crypto::ConstantTimeEqual(
      {reinterpret_cast<const std::uint8_t*>(presented_hex.data()), presented_hex.size()},
      {reinterpret_cast<const std::uint8_t*>(stored_sha256_hex.data()), stored_sha256_hex.size()});
}

}  // namespace strongroom::auth
