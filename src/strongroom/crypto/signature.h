#pragma once
// Ed25519 signatures (RFC 8032, libsodium): the audit trail signs its checkpoints with a key from
// the key hierarchy, and an auditor checks them with nothing but the public key.
//
// Ed25519Signer owns the expanded private key (libsodium's 64-byte form: seed || public key) in
// a SecretBytes; Sign() only reads it, so one signer may be used from many threads at once.
// Ed25519Verify is stateless.

#include <array>
#include <cstdint>
#include <span>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::crypto {

using Ed25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519Signature = std::array<std::uint8_t, 64>;

class Ed25519Signer {
 public:
  // The key pair RFC 8032 §5.1.5 derives from a 32-byte seed (the private key of the RFC).
  static Result<Ed25519Signer> FromSeed(std::span<const std::uint8_t> seed);

  Ed25519Signature Sign(std::span<const std::uint8_t> message) const;
  const Ed25519PublicKey& public_key() const { return public_key_; }

 private:
  Ed25519Signer(SecretBytes secret, const Ed25519PublicKey& public_key)
      : secret_(std::move(secret)), public_key_(public_key) {}
  SecretBytes secret_;  // 64 bytes
  Ed25519PublicKey public_key_;
};

// True when `signature` is `public_key`'s signature of `message` (libsodium refuses small-order
// keys and non-canonical signatures).
bool Ed25519Verify(const Ed25519PublicKey& public_key, std::span<const std::uint8_t> message,
                   const Ed25519Signature& signature);

}  // namespace strongroom::crypto
