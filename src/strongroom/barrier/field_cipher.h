#pragma once
// FieldCipher: encrypts one field value under a data-encryption key (DEK), bound to where it
// lives. Format v1, byte by byte in docs/formats/field-ciphertext-v1.md:
//
//   format (1 byte, 0x01) | key version (4, big-endian) | nonce (12) | ciphertext | tag (16)
//
// The associated data is the value's FieldLocation (tenant, collection, record id, field) and
// the header's key version, so a ciphertext copied to another record or field, or relabelled
// with another key version, fails to decrypt with data_loss, never garbage.
//
// Each instance counts its encryptions and refuses (resource_exhausted: rotate the key) beyond
// kMaxEncryptionsPerKey, far below the 2^32 random-nonce bound of NIST SP 800-38D §8.3.
// NOT thread-safe (one AES-GCM context): one instance per thread, or serialise.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/aead.h"

namespace strongroom::barrier {

struct FieldLocation {
  std::string_view tenant;
  std::string_view collection;
  std::string_view record_id;
  std::string_view field;
};

inline constexpr std::uint8_t kFieldFormatV1 = 0x01;
inline constexpr std::size_t kFieldHeaderSize = 1 + 4 + crypto::Aes256Gcm::kNonceSize;
inline constexpr std::size_t kFieldOverhead = kFieldHeaderSize + crypto::Aes256Gcm::kTagSize;
// 2^30: a key reaching it is rotated with a 4x margin below the NIST bound.
inline constexpr std::uint64_t kMaxEncryptionsPerKey = std::uint64_t{1} << 30;

class FieldCipher {
 public:
  // `max_encryptions` is the budget for this key in this instance; only tests lower it.
  static Result<FieldCipher> Create(std::span<const std::uint8_t> key, std::uint32_t key_version,
                                    std::uint64_t max_encryptions = kMaxEncryptionsPerKey);

  Result<std::vector<std::uint8_t>> Encrypt(const FieldLocation& location,
                                            std::span<const std::uint8_t> plaintext);
  // The same into a caller's buffer (resized to fit), so a batch can reuse one allocation.
  Result<void> EncryptTo(const FieldLocation& location, std::span<const std::uint8_t> plaintext,
                         std::vector<std::uint8_t>& out);
  // data_loss for anything that does not authenticate: tampered, truncated, moved, wrong key.
  Result<SecretBytes> Decrypt(const FieldLocation& location,
                              std::span<const std::uint8_t> ciphertext);
  // The same into a caller's buffer, for the hot path: a SecretBytes costs its own mapping (four
  // system calls), too much per field of every record read. The caller wipes `out` after use;
  // on failure it is left empty.
  Result<void> DecryptTo(const FieldLocation& location, std::span<const std::uint8_t> ciphertext,
                         std::vector<std::uint8_t>& out);

  // The key version a ciphertext names, so callers can pick the right DEK before decrypting.
  static Result<std::uint32_t> KeyVersionOf(std::span<const std::uint8_t> ciphertext);

  std::uint32_t key_version() const { return key_version_; }
  std::uint64_t encryptions() const { return encryptions_; }
  std::uint64_t max_encryptions() const { return max_encryptions_; }
  // Lets this instance encrypt up to `max_encryptions` values in all. The keyring raises it one
  // persisted reservation at a time, so the count survives restarts (keys/keyring.h).
  void set_max_encryptions(std::uint64_t max_encryptions) { max_encryptions_ = max_encryptions; }

 private:
  Result<void> DecryptInto(const FieldLocation& location,
                           std::span<const std::uint8_t> ciphertext, std::span<std::uint8_t> out);
  FieldCipher(crypto::Aes256Gcm aead, std::uint32_t key_version, std::uint64_t max_encryptions)
      : aead_(std::move(aead)), key_version_(key_version), max_encryptions_(max_encryptions) {}

  crypto::Aes256Gcm aead_;
  std::uint32_t key_version_;
  std::uint64_t max_encryptions_;
  std::uint64_t encryptions_ = 0;
  std::vector<std::uint8_t> aad_;  // reused buffer: no allocation per value once warm
};

// The location part of the associated data (exposed for tests and the format document): the
// format byte, then each of tenant, collection, record id and field as a 4-byte big-endian length
// followed by its bytes, so no two locations encode alike. Encrypt/Decrypt append the 4-byte key
// version to it.
void EncodeFieldAad(const FieldLocation& location, std::uint8_t format,
                    std::vector<std::uint8_t>& out);

// Appends `part` as a 4-byte big-endian length and its bytes (the encoding of every AAD part).
void AppendAadPart(std::vector<std::uint8_t>& out, std::string_view part);

}  // namespace strongroom::barrier
