#pragma once
// RootKeyProvider: where the vault's root key comes from. The root key wraps every tenant KEK
// (keys/keyring.h); nothing is readable until a provider has produced it ("unsealing").
//
// Two implementations: SealedFileRootKeyProvider (a sealed key file opened with a passphrase)
// and Pkcs11RootKeyProvider (keys/pkcs11/: the root key wrapped by a key inside an HSM, opened
// with the token's PIN). Both keep the same 32-byte root key in a file of their own under
// keys/, so moving from one to the other re-wraps that key and nothing under it. Implementations
// are thread-safe; Unseal may burn a second of CPU and 64 MiB (Argon2id) or wait on an HSM: never
// call it on an I/O thread.

#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::keys {

class RootKeyProvider {
 public:
  virtual ~RootKeyProvider() = default;
  // A short name for logs, /v1/sys/seal-status and the keys.provider setting ("sealed_file").
  virtual std::string_view kind() const = 0;
  // The file that holds the wrapped root key (a restore copies this provider's file from the
  // configured vault into the restored one: app::RootKeyPath).
  virtual const std::filesystem::path& file() const = 0;
  // The root key, given the operator's unseal secret. permission_denied when the secret is wrong
  // (or the sealed material was altered: the two are indistinguishable by design).
  virtual Result<SecretBytes> Unseal(std::span<const std::uint8_t> secret) const = 0;
  // Puts an existing root key under this provider, protected by `secret`, where Unseal finds it.
  // Refuses (already_exists) to replace material that is already there.
  virtual Result<void> Adopt(std::span<const std::uint8_t> root,
                             std::span<const std::uint8_t> secret) const = 0;
};

class SealedFileRootKeyProvider final : public RootKeyProvider {
 public:
  explicit SealedFileRootKeyProvider(std::filesystem::path file) : file_(std::move(file)) {}
  std::string_view kind() const override { return "sealed_file"; }
  const std::filesystem::path& file() const override { return file_; }
  Result<SecretBytes> Unseal(std::span<const std::uint8_t> secret) const override;
  // Seals `root` under the passphrase `secret` with the default Argon2id parameters.
  Result<void> Adopt(std::span<const std::uint8_t> root,
                     std::span<const std::uint8_t> secret) const override;

 private:
  std::filesystem::path file_;
};

// Reads an unseal passphrase from a file: one line, the trailing newline dropped. Refuses a file
// that its group or others may read (failed_precondition, like ssh with a private key), and an
// empty passphrase (invalid_argument).
Result<SecretBytes> ReadPassphraseFile(const std::filesystem::path& file);

// The shortest passphrase `init` accepts for a new vault.
inline constexpr std::size_t kMinPassphraseLength = 12;
// The shortest token PIN `init` and `rekey --to pkcs11` accept: the unseal endpoint lets a
// network caller try 5 a minute, and a token without a lockout (SoftHSM2) never stops them.
inline constexpr std::size_t kMinPinLength = 6;

}  // namespace strongroom::keys
