#include "strongroom/crypto/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <utility>

namespace strongroom::crypto {
namespace {

// Fetched once: EVP_sha256() is a legacy handle that OpenSSL 3 looks up again (a lock, a name
// lookup, a reference count) at every EVP_DigestInit_ex; the audit writer hashes every entry.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) std::abort();  // the default provider always has it
  return md;
}

}  // namespace

Sha256Digest Sha256(std::span<const std::uint8_t> data) {
  // One context per thread, reused (Finish() starts it over): a context costs as much as
  // hashing a short input, and the Merkle tree hashes 64-byte nodes.
  thread_local Sha256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

// The calls below fail only on memory exhaustion, which is treated as fatal rather than return
// a digest of zeros.
Sha256Hasher::Sha256Hasher() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), Sha256Md(), nullptr) != 1) {
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
      EVP_DigestInit_ex(context, Sha256Md(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace strongroom::crypto
