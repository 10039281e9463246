#pragma once
// The parsers of what a request offers as credentials: the Authorization header (RFC 9110
// §11.6.2, the Bearer scheme of RFC 6750, Basic of RFC 7617) and the Cookie header (RFC 6265
// §4.2.1). Hand-written because they are a few lines each and Beast parses neither; fuzzed by
// tests/fuzz/fuzz_credentials.cc. Pure functions of their input; thread-safe.

#include <cstddef>
#include <optional>
#include <string_view>

#include "strongroom/base/secret.h"

namespace strongroom::auth {

// "Bearer abc" -> {"Bearer", "abc"}: the scheme up to the first space, the rest trimmed of
// spaces and tabs. Views into `header`.
struct AuthorizationParts {
  std::string_view scheme;
  std::string_view credentials;
};
AuthorizationParts SplitAuthorization(std::string_view header);
// ASCII case-insensitive, as schemes are.
bool SchemeIs(std::string_view scheme, std::string_view expected);

// Basic credentials: base64(username ":" secret). The decoded text lives in secret memory.
class BasicCredentials {
 public:
  // nullopt when `base64` is not padded base64, has no ':', or the username or the secret is
  // empty or longer than its limit (bytes).
  static std::optional<BasicCredentials> Parse(std::string_view base64,
                                               std::size_t max_username_bytes,
                                               std::size_t max_secret_bytes);
  std::string_view username() const { return decoded_.reveal_as_text().substr(0, colon_); }
  std::string_view secret() const { return decoded_.reveal_as_text().substr(colon_ + 1); }

 private:
  BasicCredentials(SecretBytes decoded, std::size_t colon)
      : decoded_(std::move(decoded)), colon_(colon) {}
  SecretBytes decoded_;
  std::size_t colon_ = 0;
};

// The value of cookie `name` in a Cookie header ("a=b; c=d"), a view into `header`; the first
// one when a name repeats.
std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name);

}  // namespace strongroom::auth
