#pragma once
// SHA-256 (FIPS 180-4) and constant-time comparison. Stateless; thread-safe.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace strongroom::crypto {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest Sha256(std::span<const std::uint8_t> data);
inline Sha256Digest Sha256(std::string_view text) {
  return Sha256({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

// True when a and b are equal, in time that depends only on their lengths.
bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace strongroom::crypto
