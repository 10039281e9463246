#pragma once
// The four SQLite stores of a vault (metadata, profiles, activity, documents), as the server
// opens them, in a test's directory. Test support only.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "strongroom/storage/sqlite_store.h"

namespace strongroom::testing {

// [0] metadata.db, [1] profiles.db, [2] activity.db, [3] documents.db; fails the test (and
// returns fewer) when one does not open.
inline std::vector<std::unique_ptr<storage::Store>> OpenVaultStores(
    const std::filesystem::path& dir) {
  std::vector<std::unique_ptr<storage::Store>> stores;
  for (const char* name : {"metadata.db", "profiles.db", "activity.db", "documents.db"}) {
    auto store = storage::OpenSqliteStore(dir / name);
    EXPECT_TRUE(store) << name;
    if (!store) break;
    stores.push_back(std::move(*store));
  }
  return stores;
}

}  // namespace strongroom::testing
