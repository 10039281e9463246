#pragma once
// Creating a vault's data directory (`strongroom init`) and checking one exists (`serve`).
//
// Layout of <data_dir> (mode 0700):
//   vault.json                 format version and creation time: marks an initialised vault
//   tls/server.crt, server.key the development certificate, when no certificate is configured
//   auth/bootstrap-admin.json  the bootstrap administrator's token, as a SHA-256 (mode 0600)
//   keys/root.sealed           the root key, sealed under the unseal passphrase (0600), or
//   keys/root.p11              the root key wrapped by a key in a PKCS#11 token (keys.provider)
//   metadata.db                tenants, collections, subjects, tokens, wrapped keys (SQLite)
//   profiles.db, activity.db   records and activity events: ciphertext only (created by serve)
// `init` also creates the tenant "default" (with its KEK) for the bootstrap administrator.
// Stateless; not safe to run twice at once on the same directory (init is a one-off step).

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/config/config.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/keys/sealed_key_file.h"

namespace strongroom::app {

struct InitOutcome {
  SecretBytes admin_token;
  std::string admin_token_id;
  std::filesystem::path data_dir;
  std::filesystem::path cert_file;
  std::string cert_sha256;
  bool created_development_certificate = false;
};

// Fails with already_exists if the directory already holds a vault. A run that failed part-way
// may be repeated (with the same passphrase once the sealed key exists). `passphrase` is the
// token's PIN with keys.provider = pkcs11 (the root key is then wrapped in the token, by a key
// made there if it has none). `sealing` is lowered only by tests.
Result<InitOutcome> InitializeVault(const config::Config& config,
                                    std::span<const std::uint8_t> passphrase,
                                    const crypto::Argon2idParams& sealing = keys::kDefaultSealingParams);

// Files of a vault, from its data directory. The root key's file depends on its provider
// ("sealed_file": keys/root.sealed, "pkcs11": keys/root.p11); without one, keys.provider's.
std::filesystem::path RootKeyPath(const config::Config& config);
std::filesystem::path RootKeyPath(const config::Config& config, std::string_view provider);
std::filesystem::path BootstrapAdminPath(const config::Config& config);
std::filesystem::path StorePath(const config::Config& config, std::string_view kind);

// The configured root key provider (keys.provider, with the keys.pkcs11_* settings).
std::unique_ptr<keys::RootKeyProvider> MakeRootKeyProvider(const config::Config& config);
// The provider `provider` ("sealed_file" or "pkcs11") with its root key in `file`.
std::unique_ptr<keys::RootKeyProvider> MakeRootKeyProvider(const config::Config& config,
                                                           std::string_view provider,
                                                           std::filesystem::path file);

// Fails with failed_precondition, naming the command to run, if `init` has not been run, and
// naming the setting to change if the root key is kept by another provider than keys.provider.
Result<void> CheckVaultInitialized(const config::Config& config);

}  // namespace strongroom::app
