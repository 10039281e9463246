#include "strongroom/base/time.h"

#include <gtest/gtest.h>

namespace strongroom {
namespace {

TEST(Rfc3339Test, ParsesWhatFormatWrites) {
  const auto parsed = ParseRfc3339("2026-11-23T10:15:00Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*parsed), 1'795'428'900);
  EXPECT_EQ(FormatRfc3339(*parsed), "2026-11-23T10:15:00Z");
  EXPECT_TRUE(ParseRfc3339("2024-02-29T23:59:59Z").has_value());  // a leap day
}

TEST(Rfc3339Test, RefusesAnythingElse) {
  for (const char* bad :
       {"", "2026-11-23", "2026-11-23T10:15:00", "2026-11-23t10:15:00Z", "2026-11-23T10:15:00z",
        "2026-11-23T10:15:00+00:00", "2026-11-23T10:15:00.5Z", "2026-11-23 10:15:00Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:60:00Z",
        "2026-11-23T10:15:60Z", "2026-1a-23T10:15:00Z", "+026-11-23T10:15:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace strongroom
