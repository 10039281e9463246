#include "strongroom/crypto/random.h"

#include <openssl/rand.h>

#include <climits>

namespace strongroom::crypto {

Result<void> FillRandom(std::span<std::uint8_t> out) {
  if (out.size() > INT_MAX || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Fail(ErrorCode::kInternal, "the random number generator failed");
  }
  return {};
}

Result<SecretBytes> RandomSecret(std::size_t size) {
  SecretBytes secret(size);
  if (auto filled = FillRandom(secret.mutable_bytes()); !filled) return std::unexpected(filled.error());
  return secret;
}

}  // namespace strongroom::crypto
