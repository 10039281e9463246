#pragma once
// ScratchDir: a fresh directory for one unit test, named after the process and the test, removed
// (with its contents) when the test ends. Test-only; not thread-safe (one per test).

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace strongroom::testing {

class ScratchDir {
 public:
  ScratchDir() : path_(std::filesystem::temp_directory_path() / UniqueName()) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  static std::string UniqueName() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "sr-test-" + std::to_string(::getpid()) + "-" + test->test_suite_name() +
                       "-" + test->name();
    for (char& c : name) c = c == '/' ? '_' : c;  // parameterised tests have '/' in their names
    return name;
  }
  std::filesystem::path path_;
};

}  // namespace strongroom::testing
