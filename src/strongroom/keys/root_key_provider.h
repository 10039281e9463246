#pragma once
// RootKeyProvider: where the vault's root key comes from. The root key wraps every tenant KEK
// (keys/keyring.h); nothing is readable until a provider has produced it ("unsealing").
//
// One implementation today, SealedFileRootKeyProvider (a sealed key file opened with a
// passphrase); a PKCS#11 HSM provider comes later behind the same interface. Implementations are
// thread-safe; Unseal may burn a second of CPU and 64 MiB (Argon2id): never call it on an I/O
// thread.

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
  // A short name for logs and /v1/sys/seal-status ("sealed_file").
  virtual std::string_view kind() const = 0;
  // The root key, given the operator's unseal secret. permission_denied when the secret is wrong
  // (or the sealed material was altered: the two are indistinguishable by design).
  virtual Result<SecretBytes> Unseal(std::span<const std::uint8_t> secret) const = 0;
};

class SealedFileRootKeyProvider final : public RootKeyProvider {
 public:
  explicit SealedFileRootKeyProvider(std::filesystem::path file) : file_(std::move(file)) {}
  std::string_view kind() const override { return "sealed_file"; }
  Result<SecretBytes> Unseal(std::span<const std::uint8_t> secret) const override;

 private:
  std::filesystem::path file_;
};

// Reads an unseal passphrase from a file: one line, the trailing newline dropped. Refuses a file
// that its group or others may read (failed_precondition, like ssh with a private key), and an
// empty passphrase (invalid_argument).
Result<SecretBytes> ReadPassphraseFile(const std::filesystem::path& file);

// The shortest passphrase `init` accepts for a new vault.
inline constexpr std::size_t kMinPassphraseLength = 12;

}  // namespace strongroom::keys
