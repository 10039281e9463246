#pragma once
// Small file helpers with the durability Strongroom needs. Stateless; thread-safe.

#include <filesystem>
#include <string_view>
#include <sys/types.h>

#include "strongroom/base/error.h"

namespace strongroom {

// Writes `content` to `path` so that a crash leaves either the old file or the complete new one:
// temp file in the same directory (created with `mode`), fsync, rename, fsync of the directory.
Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                                 mode_t mode);

// Creates `dir` (and parents) if missing and sets it to mode 0700.
Result<void> CreatePrivateDirectory(const std::filesystem::path& dir);

}  // namespace strongroom
