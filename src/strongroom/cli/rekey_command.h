#pragma once
// `strongroom rekey`: root key re-keying (docs/keys.md). The same 32-byte root key gets a new
// protection, and nothing under it (KEKs, data keys, data, backups) changes:
//   - a new unseal passphrase for the sealed key file;
//   - `--to pkcs11` / `--to sealed_file`: the root key moved to the other root key provider (an
//     HSM through PKCS#11, or a sealed key file), checked there, then the old provider's file
//     removed.
// Offline; one re-keying of a data directory at a time (a lock file). Not thread-safe (prompts).

#include <string>

#include "strongroom/cli/settings_flags.h"

namespace strongroom::cli {

struct RekeyOptions {
  std::string new_secret_file;  // the new passphrase or PIN; empty: typed twice at the terminal
  std::string to;               // the provider to move to; empty: keys.provider (new passphrase)
};

int RunRekey(const SettingsFlags& flags, const RekeyOptions& options);

}  // namespace strongroom::cli
