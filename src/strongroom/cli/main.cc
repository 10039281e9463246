// `strongroom`: init, serve, unseal, principal, token, audit, backup, config check, version. Exit
// codes: 0 success; 2 a usage, configuration or missing-file error (one line on stderr naming the
// problem); 1 a failure at run time (e.g. the listen port is taken).
#include <unistd.h>  // environ

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "strongroom/app/server_app.h"
#include "strongroom/app/vault_init.h"
#include "strongroom/base/build_info.h"
#include "strongroom/base/files.h"
#include "strongroom/cli/admin_commands.h"
#include "strongroom/cli/audit_commands.h"
#include "strongroom/cli/backup_commands.h"
#include "strongroom/cli/exit_codes.h"
#include "strongroom/cli/https_client.h"
#include "strongroom/cli/passphrase.h"
#include "strongroom/cli/rekey_command.h"
#include "strongroom/cli/settings_flags.h"
#include "strongroom/config/config.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/observe/log.h"

namespace strongroom::cli {
namespace {

int RunInit(const SettingsFlags& flags, const std::string& output) {
  auto config = BuildConfig(flags);
  if (!config) return UsageError(config.error().message());
  auto passphrase = ObtainPassphrase(*config, /*confirm=*/true);
  if (!passphrase) return UsageError(passphrase.error().message());
  auto outcome = app::InitializeVault(*config, passphrase->reveal());
  if (!outcome) {
    // An existing vault, a missing or unusable file or directory: the operator's to fix (2).
    const ErrorCode code = outcome.error().code();
    const bool usage = code == ErrorCode::kAlreadyExists ||
                       code == ErrorCode::kFailedPrecondition ||
                       code == ErrorCode::kInvalidArgument;
    std::cerr << "strongroom: error: " << outcome.error().message() << "\n";
    return usage ? kExitUsage : kExitRuntime;
  }
  if (outcome->created_development_certificate) {
    std::cerr << "WARNING: created a SELF-SIGNED DEVELOPMENT certificate at "
              << outcome->cert_file.string()
              << ".\nWARNING: clients must be told to trust it; for production set tls.cert_file "
                 "and tls.key_file.\n";
  }
  if (output == "json") {
    boost::json::object out;
    out["admin_token"] = outcome->admin_token.reveal_as_text();
    out["admin_token_id"] = outcome->admin_token_id;
    out["data_dir"] = outcome->data_dir.string();
    out["tls_certificate"] = outcome->cert_file.string();
    out["tls_certificate_sha256"] = outcome->cert_sha256;
    out["development_certificate"] = outcome->created_development_certificate;
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    std::cout << "Vault initialised in " << outcome->data_dir.string() << "\n"
              << "Bootstrap admin token (shown once; keep it in a password manager):\n  "
              << outcome->admin_token.reveal_as_text() << "\n"
              << "TLS certificate: " << outcome->cert_file.string() << "\n"
              << "  SHA-256 " << outcome->cert_sha256 << "\n";
  }
  return kExitOk;
}

int RunServe(const SettingsFlags& flags) {
  auto config = BuildConfig(flags);
  if (!config) return UsageError(config.error().message());
  const auto level = observe::ParseLogLevel(config->log.level);
  if (auto logging = observe::InitLogging({*level, config->log.file, /*async=*/true}); !logging) {
    return UsageError(logging.error().message());
  }
  const int code = app::RunServer(*config, [&flags] { return BuildConfig(flags); });
  observe::ShutdownLogging();
  return code;
}

int RunUnseal(const SettingsFlags& flags, std::string ca_file) {
  auto config = BuildConfig(flags);
  if (!config) return UsageError(config.error().message());
  NetAddress server = config->server.listen;
  if (server.host == "0.0.0.0") server.host = "127.0.0.1";
  if (server.host == "::") server.host = "::1";
  if (ca_file.empty()) ca_file = config->cert_path().string();
  auto passphrase = ObtainPassphrase(*config, /*confirm=*/false);
  if (!passphrase) return UsageError(passphrase.error().message());
  auto reply = PostUnseal(server, ca_file, *passphrase);
  if (!reply) {
    std::cerr << "strongroom: error: " << reply.error().message() << "\n";
    return reply.error().code() == ErrorCode::kFailedPrecondition ? kExitUsage : kExitRuntime;
  }
  switch (reply->status) {
    case 200: std::cout << "Vault unsealed.\n"; return kExitOk;
    case 403: std::cerr << "strongroom: unseal refused: wrong passphrase\n"; return kExitRuntime;
    case 429:
      std::cerr << "strongroom: unseal refused: too many attempts; retry in "
                << (reply->retry_after.empty() ? "a minute" : reply->retry_after + " s") << "\n";
      return kExitRuntime;
    default:
      std::cerr << "strongroom: unseal failed: HTTP " << reply->status << " " << reply->body << "\n";
      return kExitRuntime;
  }
}

int RunConfigCheck(const std::string& file) {
  config::ConfigBuilder builder;
  if (auto applied = builder.ApplyFile(file); !applied) return UsageError(applied.error().message());
  if (auto applied = builder.ApplyEnvironment(environ); !applied) {
    return UsageError(applied.error().message());
  }
  if (auto finished = builder.Finish(); !finished) return UsageError(finished.error().message());
  std::cout << file << ": ok\n";
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{"Strongroom: a self-hosted personal-data vault.", "strongroom"};
  app.set_version_flag("--version", std::string("strongroom ") + kVersion);
  app.require_subcommand(1);

  app.add_subcommand("version", "Print the version and exit.");

  SettingsFlags serve_flags;
  auto* serve = app.add_subcommand("serve", "Run the HTTPS API server until SIGTERM or SIGINT.");
  AddSettingsFlags(serve, serve_flags);

  SettingsFlags init_flags;
  std::string output = "text";
  auto* init = app.add_subcommand(
      "init", "Create a vault: data directory, development TLS certificate (unless one is "
              "configured) and the bootstrap administrator's API token (printed once).");
  AddSettingsFlags(init, init_flags);
  init->add_option("--output", output, "text or json")->check(CLI::IsMember({"text", "json"}));

  SettingsFlags unseal_flags;
  std::string ca_file;
  auto* unseal = app.add_subcommand(
      "unseal", "Unseal a running server (POST /v1/sys/unseal at --listen). The passphrase comes "
                "from --keys-unseal-passphrase-file, $STRONGROOM_UNSEAL_PASSPHRASE, or a prompt.");
  AddSettingsFlags(unseal, unseal_flags);
  unseal->add_option("--ca-file", ca_file,
                     "CA certificate to verify the server with (default: the vault's certificate)");

  SettingsFlags rekey_flags;
  RekeyOptions rekey_options;
  auto* rekey = app.add_subcommand(
      "rekey",
      "Root key re-keying (no data is re-encrypted): re-seal the root key under a new unseal "
      "passphrase, or move it to another root key provider (--to). The current passphrase or PIN "
      "comes as for unseal.");
  AddSettingsFlags(rekey, rekey_flags);
  rekey->add_option("--new-passphrase-file", rekey_options.new_secret_file,
                    "file holding the new passphrase, or the token's PIN with --to pkcs11 (mode "
                    "0600); default: typed twice");
  rekey
      ->add_option("--to", rekey_options.to,
                   "move the root key to this provider: pkcs11 (an HSM; keys.pkcs11_* name it) "
                   "or sealed_file")
      ->check(CLI::IsMember({"sealed_file", "pkcs11"}));

  auto* config_command = app.add_subcommand("config", "Configuration tools.");
  config_command->require_subcommand(1);
  std::string check_file;
  auto* check = config_command->add_subcommand(
      "check", "Validate a configuration file (and STRONGROOM_* variables) without starting.");
  check->add_option("FILE", check_file, "the TOML file")->required();

  AdminCommands admin(app);
  AuditCommands audit_commands(app);
  BackupCommands backup_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(std::string(e.what()) + " (see 'strongroom --help')");
  }

  if (app.got_subcommand("version")) {
    std::cout << "strongroom " << kVersion << "\n";
    return kExitOk;
  }
  if (serve->parsed()) return RunServe(serve_flags);
  if (init->parsed()) return RunInit(init_flags, output);
  if (unseal->parsed()) return RunUnseal(unseal_flags, ca_file);
  if (check->parsed()) return RunConfigCheck(check_file);
  if (rekey->parsed()) return RunRekey(rekey_flags, rekey_options);
  if (auto code = admin.RunIfParsed()) return *code;
  if (auto code = audit_commands.RunIfParsed()) return *code;
  if (auto code = backup_commands.RunIfParsed()) return *code;
  return UsageError("no command given (see 'strongroom --help')");
}

}  // namespace
}  // namespace strongroom::cli

int main(int argc, char** argv) {
  // Writes to a closed socket must fail with EPIPE, not kill the server.
  (void)std::signal(SIGPIPE, SIG_IGN);
  strongroom::app::CapturePassphraseEnvironment();
  try {
    return strongroom::cli::Main(argc, argv);
  } catch (const std::exception&) {
    // Nothing is expected to throw this far; say so in one line without echoing details that
    // could contain input.
    std::cerr << "strongroom: internal error: unexpected exception\n";
    return 1;
  }
}
