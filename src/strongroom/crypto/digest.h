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

// Incremental SHA-256 for data that arrives in pieces (streamed documents): the digest of
// Update(a); Update(b) equals Sha256(a || b). Owns one OpenSSL digest context; movable, not
// thread-safe (one stream at a time).
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&& other) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&& other) noexcept;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::span<const std::uint8_t> data);
  // The digest of everything given so far; the hasher then starts over, empty.
  Sha256Digest Finish();

 private:
  void* context_;  // EVP_MD_CTX, kept opaque so this header needs no OpenSSL include
};

// True when a and b are equal, in time that depends only on their lengths.
bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace strongroom::crypto
