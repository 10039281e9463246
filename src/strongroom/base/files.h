#pragma once
// Small file helpers with the durability Strongroom needs. Stateless; thread-safe.

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom {

// Writes `content` to `path` so that a crash leaves either the old file or the complete new one:
// temp file in the same directory (created with `mode`), fsync, rename, fsync of the directory.
Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                                 mode_t mode);

// Creates `dir` (and parents) if missing and sets it to mode 0700.
Result<void> CreatePrivateDirectory(const std::filesystem::path& dir);

// Reads a secret from a file (`what` names it in errors: "passphrase file"): its bytes, one
// trailing newline dropped, at most 4096. Refuses a file that its group or others may read
// (failed_precondition, like ssh with a private key), a symbolic link, and an empty file
// (invalid_argument).
Result<SecretBytes> ReadPrivateFile(const std::filesystem::path& file, std::string_view what);

}  // namespace strongroom
