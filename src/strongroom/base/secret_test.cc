#include "strongroom/base/secret.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace strongroom {
namespace {

TEST(SecretBytesTest, PrintsRedactedWithLengthOnly) {
  SecretBytes secret(std::string_view("hunter2-hunter2-hunter2"));
  std::ostringstream out;
  out << secret;
  EXPECT_EQ(out.str(), "<redacted:23B>");
}

TEST(SecretBytesTest, MoveLeavesTheSourceEmpty) {
  SecretBytes a(std::string_view("key material"));
  SecretBytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.reveal_as_text(), "key material");
  SecretBytes c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.reveal_as_text(), "key material");
}

// Reads the VmFlags of the mapping that holds `address` from /proc/self/smaps.
std::string VmFlagsOf(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2 && line.find(' ') > 8) {
      inside = target >= start && target < end;
    } else if (inside && line.starts_with("VmFlags:")) {
      return line;
    }
  }
  return "";
}

TEST(SecretBytesTest, BytesAreLockedAndExcludedFromCoreDumps) {
  SecretBytes key(32);
  ASSERT_EQ(key.size(), 32u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(key.reveal().data()) % 4096, 0u);
  EXPECT_EQ(key.reveal()[0], 0);  // zero-filled
  const std::string flags = VmFlagsOf(key.reveal().data());
  EXPECT_NE(flags.find(" dd"), std::string::npos) << flags;  // MADV_DONTDUMP
  if (key.locked()) {
    EXPECT_NE(flags.find(" lo"), std::string::npos) << flags;  // mlock
  }
}

TEST(SecretBytesTest, EmptySecretsMapNothing) {
  SecretBytes empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.locked());
  SecretBytes zero(std::size_t{0});
  EXPECT_EQ(zero.reveal().data(), nullptr);
}

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);

}  // namespace
}  // namespace strongroom
