#pragma once
// `strongroom backup create | list | verify | restore | prune` (docs/backup.md): the backup
// engine (backup/backup_engine.h) run from the command line against a vault's data directory,
// with a progress bar (bytes, rate, ETA) on a terminal. Create, verify and restore need the
// root key: the unseal passphrase comes from the configuration, the environment or a prompt.
// Built once in main(); not thread-safe (the CLI is single-threaded).

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/cli/settings_flags.h"

namespace strongroom::cli {

class BackupCommands {
 public:
  explicit BackupCommands(CLI::App& app);
  // The exit code if one of these commands was parsed.
  std::optional<int> RunIfParsed();

 private:
  int RunCreate();
  int RunList();
  int RunVerify();
  int RunRestore();
  int RunPrune();

  CLI::App* create_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* verify_ = nullptr;
  CLI::App* restore_ = nullptr;
  CLI::App* prune_ = nullptr;
  SettingsFlags create_flags_, verify_flags_, restore_flags_;
  std::vector<std::string> targets_;
  std::string target_;
  bool full_ = false;
  bool incremental_ = false;
  std::string backup_id_;
  std::string at_;
  std::string destination_;
  std::string erasure_ledger_;
  std::string sealed_key_;
  int keep_full_ = 5;
  std::string output_ = "text";
};

}  // namespace strongroom::cli
