#include "strongroom/app/vault_init.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>

#include "strongroom/auth/api_token.h"
#include "strongroom/base/files.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/certificate.h"
#include "strongroom/crypto/random.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/keys/pkcs11/pkcs11_root_key.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/storage/sqlite_store.h"

namespace strongroom::app {
namespace {

constexpr int kVaultFormat = 1;
constexpr auto kDevCertificateLifetime = std::chrono::hours(24 * 365);

std::string NowRfc3339() { return FormatRfc3339(std::chrono::system_clock::now()); }

// std::filesystem's throwing overloads would turn a permission problem into an exception far
// from here; these turn it into an Error that names the path.
Result<bool> Exists(const std::filesystem::path& path) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) return Fail(ErrorCodeForErrno(ec.value()), "cannot access " + path.string() + ": " + ec.message());
  return exists;
}

Result<std::filesystem::path> Absolute(const std::filesystem::path& path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  if (ec) return Fail(ErrorCodeForErrno(ec.value()), "cannot resolve " + path.string() + ": " + ec.message());
  return absolute;
}

// The root key (created, or unsealed when an interrupted init already created it), the tenant
// "default" and its keys in metadata.db.
Result<void> CreateKeysAndDefaultTenant(const config::Config& config,
                                        std::span<const std::uint8_t> passphrase,
                                        const crypto::Argon2idParams& sealing) {
  const std::filesystem::path dir = config.server.data_dir;
  if (auto made = CreatePrivateDirectory(dir / "keys"); !made) return std::unexpected(made.error());
  const auto provider = MakeRootKeyProvider(config);
  auto root_exists = Exists(provider->file());
  if (!root_exists) return std::unexpected(root_exists.error());
  Result<SecretBytes> root = Fail(ErrorCode::kInternal, "no root key");
  if (*root_exists) {
    root = provider->Unseal(passphrase);
  } else if (provider->kind() == "sealed_file") {
    root = keys::CreateSealedKeyFile(provider->file(), passphrase, sealing);
  } else {
    root = crypto::RandomSecret(keys::kRootKeySize);
    if (root) {
      if (auto adopted = provider->Adopt(root->reveal(), passphrase); !adopted) {
        return std::unexpected(adopted.error());
      }
    }
  }
  if (!root) return std::unexpected(root.error());
  auto metadata = storage::OpenSqliteStore(StorePath(config, "metadata"));
  if (!metadata) return std::unexpected(metadata.error());
  auto tenant = (*metadata)->Get("tenants", "default");
  if (!tenant) return std::unexpected(tenant.error());
  if (*tenant) return {};
  auto keyring = keys::Keyring::Create(std::move(*root), **metadata);
  if (!keyring) return std::unexpected(keyring.error());
  storage::WriteBatch batch;
  if (auto added = (*keyring)->AddTenantKeys("default", batch); !added) {
    return std::unexpected(added.error());
  }
  boost::json::object record{{"id", "default"}, {"name", "default"}, {"created_at", NowRfc3339()}};
  const std::string serialized = boost::json::serialize(record);
  batch.Put("tenants", "default", storage::Bytes(serialized.begin(), serialized.end()));
  return (*metadata)->Write(std::move(batch));
}

}  // namespace

std::filesystem::path RootKeyPath(const config::Config& config, std::string_view provider) {
  return std::filesystem::path(config.server.data_dir) / "keys" /
         (provider == "pkcs11" ? "root.p11" : "root.sealed");
}
std::filesystem::path RootKeyPath(const config::Config& config) {
  return RootKeyPath(config, config.keys.provider);
}

std::unique_ptr<keys::RootKeyProvider> MakeRootKeyProvider(const config::Config& config,
                                                           std::string_view provider,
                                                           std::filesystem::path file) {
  if (provider == "pkcs11") {
    return std::make_unique<keys::Pkcs11RootKeyProvider>(
        std::move(file), keys::Pkcs11Settings{.module = config.keys.pkcs11_module,
                                              .token_label = config.keys.pkcs11_token_label,
                                              .key_label = config.keys.pkcs11_key_label});
  }
  return std::make_unique<keys::SealedFileRootKeyProvider>(std::move(file));
}
std::unique_ptr<keys::RootKeyProvider> MakeRootKeyProvider(const config::Config& config) {
  return MakeRootKeyProvider(config, config.keys.provider, RootKeyPath(config));
}
std::filesystem::path BootstrapAdminPath(const config::Config& config) {
  return std::filesystem::path(config.server.data_dir) / "auth" / "bootstrap-admin.json";
}
std::filesystem::path StorePath(const config::Config& config, std::string_view kind) {
  return std::filesystem::path(config.server.data_dir) / (std::string(kind) + ".db");
}

Result<InitOutcome> InitializeVault(const config::Config& config,
                                    std::span<const std::uint8_t> passphrase,
                                    const crypto::Argon2idParams& sealing) {
  const std::filesystem::path dir = config.server.data_dir;
  const auto marker = dir / "vault.json";
  auto marker_exists = Exists(marker);
  if (!marker_exists) return std::unexpected(marker_exists.error());
  if (*marker_exists) return Fail(ErrorCode::kAlreadyExists, dir.string() + " already holds a vault");
  if (config.keys.provider == "pkcs11" && passphrase.size() < keys::kMinPinLength) {
    return Fail(ErrorCode::kInvalidArgument, "the token's PIN must be at least " +
                                                 std::to_string(keys::kMinPinLength) +
                                                 " characters long");
  }
  if (config.keys.provider == "sealed_file" && passphrase.size() < keys::kMinPassphraseLength) {
    return Fail(ErrorCode::kInvalidArgument, "the unseal passphrase must be at least " +
                                                 std::to_string(keys::kMinPassphraseLength) +
                                                 " characters long");
  }
  if (auto made = CreatePrivateDirectory(dir); !made) return std::unexpected(made.error());

  InitOutcome outcome;
  auto data_dir = Absolute(dir);
  if (!data_dir) return std::unexpected(data_dir.error());
  auto cert_file = Absolute(config.cert_path());
  if (!cert_file) return std::unexpected(cert_file.error());
  outcome.data_dir = std::move(*data_dir);
  outcome.cert_file = std::move(*cert_file);
  auto cert_exists = Exists(config.cert_path());
  if (!cert_exists) return std::unexpected(cert_exists.error());
  if (config.uses_development_certificate() && !*cert_exists) {
    if (auto made = CreatePrivateDirectory(dir / "tls"); !made) return std::unexpected(made.error());
    if (auto created = crypto::CreateDevelopmentCertificate(config.cert_path(), config.key_path(),
                                                            kDevCertificateLifetime);
        !created) {
      return std::unexpected(created.error());
    }
    outcome.created_development_certificate = true;
  }
  auto info = crypto::InspectCertificateFile(config.cert_path());
  if (!info) return std::unexpected(info.error());
  outcome.cert_sha256 = info->sha256_fingerprint;

  auto token = auth::IssueApiToken();
  if (!token) return std::unexpected(token.error());
  if (auto made = CreatePrivateDirectory(dir / "auth"); !made) return std::unexpected(made.error());
  boost::json::object admin;
  admin["format"] = kVaultFormat;
  admin["principal"] = "admin";
  admin["roles"] = boost::json::array{"admin"};
  admin["token_id"] = token->token_id;
  admin["token_sha256"] = token->sha256_hex;
  admin["created_at"] = NowRfc3339();
  if (auto written = WriteFileAtomically(BootstrapAdminPath(config),
                                         boost::json::serialize(admin), 0600);
      !written) {
    return std::unexpected(written.error());
  }
  if (auto made = CreateKeysAndDefaultTenant(config, passphrase, sealing); !made) {
    return std::unexpected(made.error());
  }
  // The marker goes last: a crash part-way leaves no vault.json, and init can simply run again.
  boost::json::object vault;
  vault["format"] = kVaultFormat;
  vault["created_at"] = NowRfc3339();
  if (auto written = WriteFileAtomically(marker, boost::json::serialize(vault), 0600); !written) {
    return std::unexpected(written.error());
  }
  outcome.admin_token = std::move(token->token);
  outcome.admin_token_id = token->token_id;
  return outcome;
}

Result<void> CheckVaultInitialized(const config::Config& config) {
  const std::filesystem::path dir = config.server.data_dir;
  auto exists = Exists(dir / "vault.json");
  if (!exists) return std::unexpected(exists.error());
  if (!*exists) {
    return Fail(ErrorCode::kFailedPrecondition,
                "data directory " + dir.string() +
                    " is not an initialised vault; run: strongroom init --data-dir " + dir.string());
  }
  auto root_exists = Exists(RootKeyPath(config));
  if (!root_exists) return std::unexpected(root_exists.error());
  if (*root_exists) return {};
  for (std::string_view other : {"sealed_file", "pkcs11"}) {
    if (other == config.keys.provider) continue;
    auto elsewhere = Exists(RootKeyPath(config, other));
    if (!elsewhere) return std::unexpected(elsewhere.error());
    if (*elsewhere) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the root key of " + dir.string() + " is kept by the provider " +
                      std::string(other) + " (" + RootKeyPath(config, other).string() + "), not " +
                      config.keys.provider + ": set keys.provider = \"" + std::string(other) +
                      "\"");
    }
  }
  return Fail(ErrorCode::kFailedPrecondition,
              "the root key file " + RootKeyPath(config).string() +
                  " is missing: without it the vault cannot be unsealed");
}

}  // namespace strongroom::app
