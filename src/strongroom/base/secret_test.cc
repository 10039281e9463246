#include "strongroom/base/secret.h"

#include <gtest/gtest.h>

#include <sstream>

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

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);

}  // namespace
}  // namespace strongroom
