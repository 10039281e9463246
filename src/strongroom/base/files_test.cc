#include "strongroom/base/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>

namespace strongroom {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// flock locks belong to an open file description, so two Takes in one process conflict just as
// two processes do.
TEST(FileLockTest, IsExclusiveUntilReleased) {
  const fs::path file = FreshDir("file_lock_exclusive") / ".lock";
  std::optional<FileLock> held;
  {
    auto first = FileLock::Take(file, /*wait=*/false);
    ASSERT_TRUE(first.has_value()) << first.error().message();
    held.emplace(std::move(*first));
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  auto second = FileLock::Take(file, /*wait=*/false);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), ErrorCode::kWouldBlock);

  // A moved-from lock releases nothing; destroying the owner does.
  std::optional<FileLock> moved(std::move(*held));
  held.reset();
  EXPECT_FALSE(FileLock::Take(file, /*wait=*/false).has_value());
  moved.reset();
  auto third = FileLock::Take(file, /*wait=*/true);
  EXPECT_TRUE(third.has_value());
}

TEST(FileLockTest, RefusesASymbolicLink) {
  const fs::path dir = FreshDir("file_lock_symlink");
  fs::create_symlink(dir / "elsewhere", dir / ".lock");
  auto lock = FileLock::Take(dir / ".lock", /*wait=*/true);
  ASSERT_FALSE(lock.has_value());
  EXPECT_EQ(lock.error().code(), ErrorCode::kFailedPrecondition);  // ELOOP
  EXPECT_FALSE(fs::exists(dir / "elsewhere"));  // nothing created through the link
}

// A lock that cannot be opened is a setup problem (ErrorCodeForErrno), not a busy lock.
TEST(FileLockTest, AMissingDirectoryIsAFailedPrecondition) {
  const fs::path dir = FreshDir("file_lock_missing");
  auto lock = FileLock::Take(dir / "absent" / ".lock", /*wait=*/false);
  ASSERT_FALSE(lock.has_value());
  EXPECT_EQ(lock.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace strongroom
