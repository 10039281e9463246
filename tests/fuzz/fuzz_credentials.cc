// libFuzzer target: the parsers of request credentials (auth/credential_parsing.h): the
// Authorization header split, Basic credentials, and the Cookie header.
// Properties: the split's views lie inside the header and the scheme has no space; parsed Basic
// credentials have a non-empty username without ':' and a non-empty secret within their limits,
// and username ":" secret re-encodes to what was decoded; a cookie value lies inside the header
// and holds no ';'.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "strongroom/auth/credential_parsing.h"
#include "strongroom/crypto/encoding.h"

namespace {

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strongroom::auth;  // NOLINT(google-build-using-namespace): a fuzz target
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const AuthorizationParts parts = SplitAuthorization(text);
  if (!Inside(parts.scheme, text) || !Inside(parts.credentials, text)) std::abort();
  if (parts.scheme.find(' ') != std::string_view::npos) std::abort();
  (void)SchemeIs(parts.scheme, "basic");

  constexpr std::size_t kMaxUser = 128;
  constexpr std::size_t kMaxSecret = 4096;
  if (const auto basic = BasicCredentials::Parse(parts.credentials, kMaxUser, kMaxSecret)) {
    const std::string_view user = basic->username();
    const std::string_view secret = basic->secret();
    if (user.empty() || user.size() > kMaxUser || user.find(':') != std::string_view::npos) {
      std::abort();
    }
    if (secret.empty() || secret.size() > kMaxSecret) std::abort();
    const std::string joined = std::string(user) + ":" + std::string(secret);
    const auto again = strongroom::crypto::Base64Decode(parts.credentials);
    if (!again || std::string(again->begin(), again->end()) != joined) std::abort();
  }

  if (const auto value = CookieValue(text, "__Host-strongroom_session")) {
    if (!Inside(*value, text) || value->find(';') != std::string_view::npos) std::abort();
  }
  return 0;
}
