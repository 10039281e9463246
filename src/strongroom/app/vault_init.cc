#include "strongroom/app/vault_init.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <chrono>

#include "strongroom/auth/api_token.h"
#include "strongroom/base/files.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/certificate.h"

namespace strongroom::app {
namespace {

constexpr int kVaultFormat = 1;
constexpr auto kDevCertificateLifetime = std::chrono::hours(24 * 365);

std::string NowRfc3339() { return FormatRfc3339(std::chrono::system_clock::now()); }

}  // namespace

Result<InitOutcome> InitializeVault(const config::Config& config) {
  const std::filesystem::path dir = config.server.data_dir;
  const auto marker = dir / "vault.json";
  if (std::filesystem::exists(marker)) {
    return Fail(ErrorCode::kAlreadyExists, dir.string() + " already holds a vault");
  }
  if (auto made = CreatePrivateDirectory(dir); !made) return std::unexpected(made.error());

  InitOutcome outcome;
  outcome.data_dir = std::filesystem::absolute(dir);
  outcome.cert_file = std::filesystem::absolute(config.cert_path());
  if (config.uses_development_certificate() && !std::filesystem::exists(config.cert_path())) {
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
  if (auto written = WriteFileAtomically(dir / "auth" / "bootstrap-admin.json",
                                         boost::json::serialize(admin), 0600);
      !written) {
    return std::unexpected(written.error());
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
  if (!std::filesystem::exists(dir / "vault.json")) {
    return Fail(ErrorCode::kFailedPrecondition,
                "data directory " + dir.string() +
                    " is not an initialised vault; run: strongroom init --data-dir " + dir.string());
  }
  return {};
}

}  // namespace strongroom::app
