#include "strongroom/crypto/signature.h"

#include <sodium.h>

namespace strongroom::crypto {

static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_BYTES == 64 &&
              crypto_sign_SEEDBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64);

Result<Ed25519Signer> Ed25519Signer::FromSeed(std::span<const std::uint8_t> seed) {
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) return Fail(ErrorCode::kInternal, "libsodium failed to initialise");
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return Fail(ErrorCode::kInvalidArgument, "an Ed25519 seed is 32 bytes");
  }
  SecretBytes secret(crypto_sign_SECRETKEYBYTES);
  Ed25519PublicKey public_key{};
  if (crypto_sign_seed_keypair(public_key.data(), secret.mutable_bytes().data(), seed.data()) !=
      0) {
    return Fail(ErrorCode::kInternal, "Ed25519 key derivation failed");
  }
  return Ed25519Signer(std::move(secret), public_key);
}

Ed25519Signature Ed25519Signer::Sign(std::span<const std::uint8_t> message) const {
  Ed25519Signature signature{};
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(),
                       secret_.reveal().data());
  return signature;
}

bool Ed25519Verify(const Ed25519PublicKey& public_key, std::span<const std::uint8_t> message,
                   const Ed25519Signature& signature) {
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

}  // namespace strongroom::crypto
