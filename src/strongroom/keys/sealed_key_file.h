#pragma once
// The sealed key file: the vault's 32-byte root key, encrypted under a key derived from the
// unseal passphrase with Argon2id. Format v1 is documented byte by byte in
// docs/formats/sealed-key-v1.md. Stateless functions; thread-safe. Both are CPU- and
// memory-heavy (Argon2id): never call them on an I/O thread.

#include <cstdint>
#include <filesystem>
#include <span>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/kdf.h"

namespace strongroom::keys {

inline constexpr std::size_t kRootKeySize = 32;
inline constexpr std::size_t kSealedKeyFileSize = 92;

// Defaults for sealing: stronger than the OWASP minimum for interactive logins, because unsealing
// happens once per start and the passphrase guards every key.
inline constexpr crypto::Argon2idParams kDefaultSealingParams{.iterations = 3,
                                                              .memory_bytes = 64ull << 20};

// Generates a random root key, seals it under `passphrase` and writes `path` (mode 0600,
// atomically). Fails with already_exists rather than replace a sealed key, and with
// invalid_argument for an empty passphrase.
Result<SecretBytes> CreateSealedKeyFile(const std::filesystem::path& path,
                                        std::span<const std::uint8_t> passphrase,
                                        const crypto::Argon2idParams& params = kDefaultSealingParams);

// Seals an existing root key (moving it here from another root key provider) under
// `passphrase` and writes `path` (0600, atomically). Errors as CreateSealedKeyFile, and
// invalid_argument for a root key that is not kRootKeySize bytes.
Result<void> SealRootKeyFile(const std::filesystem::path& path, std::span<const std::uint8_t> root,
                             std::span<const std::uint8_t> passphrase,
                             const crypto::Argon2idParams& params = kDefaultSealingParams);

// Root key re-keying: re-seals the same root key under `new_passphrase` (fresh salt and nonce,
// `params`) and replaces `path` atomically. Nothing under the root key changes: no KEK, data key
// or backup key is touched. Errors as UnsealKeyFile for the old passphrase; invalid_argument for
// an empty new passphrase or one equal to the old. The caller keeps two re-keyings apart.
Result<void> ResealKeyFile(const std::filesystem::path& path,
                           std::span<const std::uint8_t> old_passphrase,
                           std::span<const std::uint8_t> new_passphrase,
                           const crypto::Argon2idParams& params = kDefaultSealingParams);

// Reads `path` and returns the root key. Errors, none of which says anything about the key:
//   failed_precondition  the file cannot be read
//   data_loss            not a sealed key file (size, magic) or parameters outside safe bounds
//   permission_denied    wrong passphrase, or the file was altered (indistinguishable by design)
Result<SecretBytes> UnsealKeyFile(const std::filesystem::path& path,
                                  std::span<const std::uint8_t> passphrase);

}  // namespace strongroom::keys
