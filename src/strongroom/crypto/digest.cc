#include "strongroom/crypto/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <utility>

namespace strongroom::crypto {

Sha256Digest Sha256(std::span<const std::uint8_t> data) {
  Sha256Digest out{};
  unsigned int len = 0;
  // EVP_Digest with the default provider's SHA-256 cannot fail for in-memory input short of
  // memory exhaustion; treat that as fatal rather than return a digest of zeros.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    std::abort();
  }
  return out;
}

// Like Sha256(): the calls below fail only on memory exhaustion, which is treated as fatal.
Sha256Hasher::Sha256Hasher() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

Sha256Hasher::Sha256Hasher(Sha256Hasher&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)) {}

Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_));
    context_ = std::exchange(other.context_, nullptr);
  }
  return *this;
}

void Sha256Hasher::Update(std::span<const std::uint8_t> data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), data.data(), data.size()) != 1) {
    std::abort();
  }
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  auto* context = static_cast<EVP_MD_CTX*>(context_);
  if (EVP_DigestFinal_ex(context, out.data(), &len) != 1 || len != out.size() ||
      EVP_DigestInit_ex(context, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace strongroom::crypto
