#pragma once
// Key derivation: HKDF-SHA-256 (RFC 5869) for keys from keys, Argon2id (RFC 9106, libsodium)
// for keys from passphrases. Stateless; thread-safe.

#include <cstdint>
#include <span>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::crypto {

// HKDF extract-and-expand. `length` at most 255 * 32 bytes.
Result<SecretBytes> HkdfSha256(std::span<const std::uint8_t> input_key,
                               std::span<const std::uint8_t> salt,
                               std::span<const std::uint8_t> info, std::size_t length);

struct Argon2idParams {
  std::uint64_t iterations = 2;            // t
  std::uint64_t memory_bytes = 19ull << 20;  // m: the OWASP minimum, 19 MiB
  // Parallelism is 1: libsodium's Argon2id implementation supports only p = 1.
};

inline constexpr std::size_t kArgon2SaltSize = 16;

// Derives `length` bytes from `passphrase` and a 16-byte random salt. CPU- and memory-heavy by
// design: never call it on an I/O thread.
Result<SecretBytes> Argon2id(std::span<const std::uint8_t> passphrase,
                             std::span<const std::uint8_t, kArgon2SaltSize> salt,
                             const Argon2idParams& params, std::size_t length);

}  // namespace strongroom::crypto
