#pragma once
// AES-256-GCM (NIST SP 800-38D): 256-bit key, 96-bit nonce, 128-bit tag.
//
// An Aes256Gcm holds one key in two reusable OpenSSL contexts (seal and open), so a message
// costs no key schedule and no algorithm lookup. It is NOT thread-safe: give each thread its own
// instance (they are cheap to create from the same key) or serialise access.
//
// Nonces: callers draw them from NonceSource (random 96-bit). With random nonces, SP 800-38D
// §8.3 caps one key at 2^32 messages; the key hierarchy counts uses and rotates long before that.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "strongroom/base/error.h"

namespace strongroom::crypto {

class Aes256Gcm {
 public:
  static constexpr std::size_t kKeySize = 32;
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kTagSize = 16;
  using Nonce = std::span<const std::uint8_t, kNonceSize>;

  static Result<Aes256Gcm> Create(std::span<const std::uint8_t> key);
  ~Aes256Gcm();
  Aes256Gcm(Aes256Gcm&&) noexcept;
  Aes256Gcm& operator=(Aes256Gcm&&) noexcept;

  // Encrypts `plaintext` bound to `aad` into `out` = ciphertext || tag.
  // `out.size()` must be `plaintext.size() + kTagSize`. `out` may start where `plaintext` does
  // (in place: OpenSSL allows it), and must not otherwise overlap it.
  Result<void> Seal(Nonce nonce, std::span<const std::uint8_t> aad,
                    std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out);

  // Decrypts `sealed` = ciphertext || tag into `out` (`sealed.size() - kTagSize` bytes). A wrong
  // key, nonce, AAD or any altered byte fails with data_loss, and `out` is zeroed: a caller
  // never sees unauthenticated plaintext.
  Result<void> Open(Nonce nonce, std::span<const std::uint8_t> aad,
                    std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out);

 private:
  struct Contexts;
  explicit Aes256Gcm(std::unique_ptr<Contexts> contexts);
  std::unique_ptr<Contexts> contexts_;
};

// Random 96-bit nonces, drawn from the CSPRNG 4 KiB at a time per thread so that a nonce costs a
// copy rather than a DRBG call. Thread-safe (the buffer is thread-local). After fork() the child
// refills before its first nonce, so parent and child never share buffered bytes.
Result<void> NextNonce(std::span<std::uint8_t, Aes256Gcm::kNonceSize> out);

}  // namespace strongroom::crypto
