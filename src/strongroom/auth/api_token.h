#pragma once
// API tokens: `srt_` + base64url(32 random bytes). The prefix lets secret scanners recognise a
// leaked token; 256 random bits make a plain SHA-256 the right way to store it (no salt or slow
// hash needed: there is nothing to guess). Stateless; thread-safe.

#include <string>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::auth {

struct IssuedToken {
  SecretBytes token;       // shown to its owner once, never stored
  std::string token_id;    // "tok_" + 12 hex digits of the hash: safe to log and display
  std::string sha256_hex;  // what is stored
};

Result<IssuedToken> IssueApiToken();

// Constant-time check of a presented token against a stored hash. Malformed input is false.
bool TokenMatches(std::string_view presented, std::string_view stored_sha256_hex);

}  // namespace strongroom::auth
