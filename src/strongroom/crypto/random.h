#pragma once
// Cryptographically secure random bytes from OpenSSL's DRBG (seeded by the kernel).
// Thread-safe: OpenSSL keeps per-thread DRBG state.

#include <cstdint>
#include <span>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::crypto {

// Fills `out`; fails only when the DRBG cannot be seeded (an unusable system).
Result<void> FillRandom(std::span<std::uint8_t> out);
Result<SecretBytes> RandomSecret(std::size_t size);

}  // namespace strongroom::crypto
