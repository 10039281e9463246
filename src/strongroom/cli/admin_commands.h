#pragma once
// `strongroom principal …`, `strongroom token …`, `strongroom ban …` and `strongroom keys …`:
// the identity administration API (docs/identity.md), the traffic guard's bans (docs/guard.md)
// and the tenant's KEK rotation (docs/keys.md) from the command line, over HTTPS to a running
// server. The caller's API
// token comes from --token-file or $STRONGROOM_TOKEN (never a flag value: those show in `ps`);
// passwords from --password-file or a prompt. Text output for people, --output json for scripts
// (the server's JSON as it is). Exit codes as every command: 0 success, 1 the server refused or
// could not be reached (one line naming the error code and message), 2 a usage error.
//
// Owns the parsed options of its commands; single-threaded, like the CLI.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/cli/settings_flags.h"

namespace strongroom::cli {

class AdminCommands {
 public:
  // Adds `principal` and `token` with their subcommands to `app`.
  explicit AdminCommands(CLI::App& app);
  AdminCommands(const AdminCommands&) = delete;
  AdminCommands& operator=(const AdminCommands&) = delete;

  // The exit code when one of them was parsed, nullopt otherwise.
  std::optional<int> RunIfParsed();

 private:
  struct Common {
    SettingsFlags settings;
    std::string ca_file;
    std::string token_file;
    std::string output = "text";
  };
  CLI::App* AddParent(CLI::App& app, const std::string& name, const std::string& help,
                      Common& common);
  int RunPrincipal();
  int RunToken();
  int RunBan();
  int RunKeys();

  Common principal_common_;
  Common token_common_;
  Common ban_common_;
  Common keys_common_;
  CLI::App* principal_ = nullptr;
  CLI::App* token_ = nullptr;
  CLI::App* ban_ = nullptr;
  CLI::App* keys_ = nullptr;
  // Arguments and options of the subcommands (each subcommand reads only its own).
  std::string id_;
  std::string username_;
  std::vector<std::string> roles_;
  std::string kind_ = "user";
  std::string tenant_;
  std::string password_file_;
  bool password_prompt_ = false;
  std::string name_;
  std::vector<std::string> scopes_;
  std::int64_t expires_in_ = 0;
  std::string target_;  // ban add/lift: an address or CIDR network
  std::int64_t minutes_ = 60;
  std::string reason_;
  std::uint32_t kek_version_ = 0;  // keys retire
};

}  // namespace strongroom::cli
