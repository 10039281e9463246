#include "strongroom/cli/settings_flags.h"

#include <unistd.h>  // environ

#include <algorithm>
#include <cstdlib>

namespace strongroom::cli {
namespace {

std::string TypeName(config::SettingKind kind) {
  switch (kind) {
    case config::SettingKind::kInteger:
      return "INT";
    case config::SettingKind::kBool:
      return "true|false";
    case config::SettingKind::kAddress:
      return "HOST:PORT";
    case config::SettingKind::kLogLevel:
      return "LEVEL";
    case config::SettingKind::kPath:
      return "DIR";
    case config::SettingKind::kString:
      return "TEXT";
  }
  return "TEXT";
}

}  // namespace

void AddSettingsFlags(CLI::App* command, SettingsFlags& flags) {
  command->add_option("--config", flags.config_file,
                      "TOML configuration file (default: $STRONGROOM_CONFIG, else none)");
  for (const auto& setting : config::AllSettings()) {
    const std::string key(setting.key);
    command
        ->add_option_function<std::string>(
            "--" + config::FlagFor(setting),
            [&flags, key](const std::string& value) { flags.overrides.emplace_back(key, value); },
            std::string(setting.help) + " [" + key + "]")
        ->type_name(TypeName(setting.kind));
  }
}

Result<config::Config> BuildConfig(const SettingsFlags& flags) {
  config::ConfigBuilder builder;
  std::string file = flags.config_file;
  if (file.empty()) {
    // Start-up runs before any other thread exists.
    if (const char* from_env = std::getenv("STRONGROOM_CONFIG")) {  // NOLINT(concurrency-mt-unsafe)
      file = from_env;
    }
  }
  if (!file.empty()) {
    if (auto applied = builder.ApplyFile(file); !applied) return std::unexpected(applied.error());
  }
  if (auto applied = builder.ApplyEnvironment(environ); !applied) {
    return std::unexpected(applied.error());
  }
  for (const auto& [key, value] : flags.overrides) {
    const auto* setting = &*std::find_if(config::AllSettings().begin(), config::AllSettings().end(),
                                         [&](const auto& s) { return s.key == key; });
    if (auto applied = builder.ApplyText(key, value, "--" + config::FlagFor(*setting)); !applied) {
      return std::unexpected(applied.error());
    }
  }
  return builder.Finish();
}

}  // namespace strongroom::cli
