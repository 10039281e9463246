#pragma once
// The configuration flags every command that reads the configuration shares (`serve`, `init`,
// `unseal`, `principal`, `token`): --config and one flag per setting, applied in command-line
// order over the file and STRONGROOM_* variables. CLI11 is included here, so only the CLI's
// translation units include this header.

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/config/config.h"

namespace strongroom::cli {

struct SettingsFlags {
  std::string config_file;
  std::vector<std::pair<std::string, std::string>> overrides;  // key, value
};

void AddSettingsFlags(CLI::App* command, SettingsFlags& flags);
// Defaults, then the file (--config or $STRONGROOM_CONFIG), the environment, then the flags.
Result<config::Config> BuildConfig(const SettingsFlags& flags);

}  // namespace strongroom::cli
