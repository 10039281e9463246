#pragma once
// The composition root of `strongroom serve`: builds every part from the validated Config, wires
// them explicitly (no static registration), serves until drained, and tears down in order.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/config/config.h"

namespace strongroom::records {
struct ReplayReport;
}

namespace strongroom::app {

// Returns the process exit code, with the reason logged: 0 after a clean drain; 2 when files the
// configuration names are missing or unusable (no vault, unreadable certificate); 1 when the
// server could not start for another reason (a port in use).
// Starts unsealed when a passphrase is configured (ConfiguredPassphrase) and it opens the sealed
// key (a wrong one: exit 2); sealed otherwise.
// On SIGHUP the TLS certificate is reloaded and, when `reread` is given, the configuration is
// read again (same file, environment and flags) and its reloadable part (the traffic guard's
// [guard] settings) applied; an invalid one is logged and changes nothing.
int RunServer(const config::Config& config,
              const std::function<Result<config::Config>()>& reread = {});

// The unseal passphrase the configuration provides: keys.unseal_passphrase_file if set, else the
// STRONGROOM_UNSEAL_PASSPHRASE variable captured by CapturePassphraseEnvironment(); nullopt
// if neither.
Result<std::optional<SecretBytes>> ConfiguredPassphrase(const config::Config& config);

// Moves STRONGROOM_UNSEAL_PASSPHRASE out of the environment into locked memory, so that child
// processes never inherit it and /proc/<pid>/environ stops showing it (the bytes are overwritten in
// place). Call once at start-up,
// before any thread exists.
void CapturePassphraseEnvironment();

// A restore's erasure replay (records/subject_erasure.h, ReplayErasures) into the `restored`
// data directory: `ledgers` must check out (the keys come from `derive`, the root key's
// derivation, keys::Keyring::DeriveFromRoot; absent ones count as empty), `copies` (on backup
// targets) are skipped and reported when they do not. Returns ReplaySummary.
using RootDerivation = std::function<Result<SecretBytes>(std::string_view info)>;
Result<std::string> ReplayLedgers(const RootDerivation& derive,
                                  const std::filesystem::path& restored,
                                  const std::vector<std::filesystem::path>& ledgers,
                                  const std::vector<std::filesystem::path>& copies);
// "3 erasure receipts replayed: 1 subjects erased, 0 interrupted erasures finished".
std::string ReplaySummary(const records::ReplayReport& report);

}  // namespace strongroom::app
