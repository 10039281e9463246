#pragma once
// Creating a vault's data directory (`strongroom init`) and checking one exists (`serve`).
//
// Layout of <data_dir> (mode 0700):
//   vault.json                 format version and creation time: marks an initialised vault
//   tls/server.crt, server.key the development certificate, when no certificate is configured
//   auth/bootstrap-admin.json  the bootstrap administrator's token, as a SHA-256 (mode 0600)
// Stateless; not safe to run twice at once on the same directory (init is a one-off step).

#include <filesystem>
#include <string>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/config/config.h"

namespace strongroom::app {

struct InitOutcome {
  SecretBytes admin_token;
  std::string admin_token_id;
  std::filesystem::path data_dir;
  std::filesystem::path cert_file;
  std::string cert_sha256;
  bool created_development_certificate = false;
};

// Fails with already_exists if the directory already holds a vault.
Result<InitOutcome> InitializeVault(const config::Config& config);

// Fails with failed_precondition, naming the command to run, if `init` has not been run.
Result<void> CheckVaultInitialized(const config::Config& config);

}  // namespace strongroom::app
