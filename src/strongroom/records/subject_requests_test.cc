#include "strongroom/records/subject_requests.h"

#include <gtest/gtest.h>

#include "strongroom/base/time.h"

namespace strongroom::records {
namespace {

std::string DueAfter(std::string_view received, int months) {
  const auto at = ParseRfc3339(received);
  EXPECT_TRUE(at.has_value()) << received;
  return FormatRfc3339(SubjectRequests::AddMonths(*at, months));
}

// GDPR art. 12(3): one month from receipt, extendable by two; a day the month lacks is its last.
TEST(SubjectRequestsTest, DeadlinesAreCalendarMonthsClampedToTheMonthsEnd) {
  EXPECT_EQ(DueAfter("2026-11-23T10:15:00Z", 1), "2026-12-23T10:15:00Z");
  EXPECT_EQ(DueAfter("2026-12-15T23:59:59Z", 1), "2027-01-15T23:59:59Z");
  EXPECT_EQ(DueAfter("2027-01-31T08:00:00Z", 1), "2027-02-28T08:00:00Z");
  EXPECT_EQ(DueAfter("2028-01-31T08:00:00Z", 1), "2028-02-29T08:00:00Z");  // leap year
  EXPECT_EQ(DueAfter("2027-03-31T00:00:00Z", 1), "2027-04-30T00:00:00Z");
  EXPECT_EQ(DueAfter("2027-04-30T12:00:00Z", 2), "2027-06-30T12:00:00Z");
  EXPECT_EQ(DueAfter("2027-05-31T12:00:00Z", -12), "2026-05-31T12:00:00Z");
  EXPECT_EQ(DueAfter("2028-02-29T12:00:00Z", -12), "2027-02-28T12:00:00Z");
  // An extended deadline is three months from receipt, not two from a clamped one.
  EXPECT_EQ(DueAfter("2027-01-31T08:00:00Z", 3), "2027-04-30T08:00:00Z");
}

}  // namespace
}  // namespace strongroom::records
