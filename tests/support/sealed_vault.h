#pragma once
// A real key hierarchy for unit tests: a sealed key file (fast Argon2id parameters) and a
// SealState over a metadata store. Header-only, tests only; single-threaded setup.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/storage/store.h"

namespace strongroom::testing {

inline constexpr std::string_view kTestPassphrase = "unit test passphrase 2026";

inline std::span<const std::uint8_t> TestPassphrase() {
  return {reinterpret_cast<const std::uint8_t*>(kTestPassphrase.data()), kTestPassphrase.size()};
}

// A SealState (still sealed) whose root key is sealed in `<dir>/root.sealed` under
// kTestPassphrase; the file is made on the first call for `dir`.
inline std::unique_ptr<barrier::SealState> MakeSealState(const std::filesystem::path& dir,
                                                         storage::Store& metadata,
                                                         barrier::SealState::Options options = {}) {
  const auto file = dir / "root.sealed";
  if (!std::filesystem::exists(file)) {
    EXPECT_TRUE(keys::CreateSealedKeyFile(file, TestPassphrase(),
                                          {.iterations = 1, .memory_bytes = 8ull << 20}));
  }
  return std::make_unique<barrier::SealState>(
      std::make_unique<keys::SealedFileRootKeyProvider>(file), metadata, std::move(options));
}

}  // namespace strongroom::testing
