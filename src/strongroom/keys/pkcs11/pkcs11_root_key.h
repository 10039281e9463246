#pragma once
// Pkcs11RootKeyProvider: the vault's root key kept wrapped by an AES-256 key that never leaves a
// PKCS#11 token (an HSM; SoftHSM2 in the tests). The unseal secret is the token's user PIN.
//
// The root key itself stays the same 32 random bytes as with the sealed key file, so moving
// between providers (`strongroom rekey --to …`) re-wraps it and re-encrypts nothing. On disk,
// `keys/root.p11` holds it encrypted by the token with AES-256-GCM
// (docs/formats/pkcs11-root-key-v1.md); the file is useless without the token and its PIN, and the
// token's key is made there non-extractable, so the key that opens the vault cannot be copied off
// the machine.
//
// Each call loads the module, logs in, does its one operation and logs out: unsealing is rare, and
// holding no session means nothing of the token stays open while the vault is sealed. Calls are
// serialised by one process-wide mutex (a module's C_Initialize/C_Finalize pair and the login
// state are per process). Never call on an I/O thread: a network HSM may take seconds.

#include <filesystem>
#include <string>

#include "strongroom/keys/root_key_provider.h"

namespace strongroom::keys {

// Where the token is and which key in it wraps the root key (config keys.pkcs11_*).
struct Pkcs11Settings {
  std::filesystem::path
      module;               // the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;  // the token's label (CKA_LABEL of the token, as its tools show it)
  std::string key_label;    // the AES key's CKA_LABEL in that token
};

inline constexpr std::size_t kPkcs11RootKeyFileSize = 68;

class Pkcs11RootKeyProvider final : public RootKeyProvider {
 public:
  Pkcs11RootKeyProvider(std::filesystem::path file, Pkcs11Settings settings)
      : file_(std::move(file)), settings_(std::move(settings)) {}
  std::string_view kind() const override { return "pkcs11"; }
  const std::filesystem::path& file() const override { return file_; }
  // Errors: failed_precondition (module, token or key missing; file unreadable; the token failing
  // otherwise), data_loss (not a root key file of this format), permission_denied (wrong PIN, a
  // locked PIN or one with a single try left, which is not tried; or a file that the token's key
  // does not open: altered, or wrapped by another key).
  Result<SecretBytes> Unseal(std::span<const std::uint8_t> pin) const override;
  // Wraps `root` with the token's key labelled key_label and writes the file (0600, atomically).
  // A token without such a key gets one made in it: AES-256, sensitive, never extractable. An
  // existing key that is not that (or ever was extractable or not sensitive) is refused
  // (failed_precondition), as is a file that already exists (already_exists).
  Result<void> Adopt(std::span<const std::uint8_t> root,
                     std::span<const std::uint8_t> pin) const override;

 private:
  std::filesystem::path file_;
  Pkcs11Settings settings_;
};

}  // namespace strongroom::keys
