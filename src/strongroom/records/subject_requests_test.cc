#include "strongroom/records/subject_requests.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "strongroom/base/time.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"
#include "support/sealed_vault.h"

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

// The overdue metric counts from memory, with an injected clock: a request turns overdue when
// its deadline passes, stops counting once closed, and a restart (LoadOpen) finds the same.
TEST(SubjectRequestsTest, OpenAndOverdueRequestsAreCountedWithoutReadingTheStore) {
  strongroom::testing::ScratchDir scratch;
  auto metadata = storage::OpenSqliteStore(scratch / "metadata.db");
  ASSERT_TRUE(metadata);
  auto seal = strongroom::testing::MakeSealState(scratch.path(), **metadata);
  VaultService vault({**metadata, **metadata, **metadata}, *seal);
  auto now = *ParseRfc3339("2026-11-23T10:00:00Z");
  const auto clock = [&now] { return now; };
  SubjectRequests log(**metadata, vault, clock);
  const auto create = [&](std::string_view kind) {
    auto made = log.Create("ten_a", boost::json::parse(R"({"kind": ")" + std::string(kind) + "\"}"),
                           "prn_dpo");
    EXPECT_TRUE(made) << made.error().message();
    return std::string(made->at("id").as_string());
  };
  const std::string first = create("access");
  now = *ParseRfc3339("2026-12-01T00:00:00Z");
  const std::string second = create("erasure");
  EXPECT_EQ(log.CountOpen().open, 2u);
  EXPECT_EQ(log.CountOpen().overdue, 0u);
  now = *ParseRfc3339("2026-12-23T10:00:01Z");  // the first one's deadline has passed
  EXPECT_EQ(log.CountOpen().overdue, 1u);
  now = *ParseRfc3339("2027-01-02T00:00:00Z");
  EXPECT_EQ(log.CountOpen().overdue, 2u);
  ASSERT_TRUE(log.Update("ten_a", first, boost::json::parse(R"({"status": "completed"})"), "p"));
  EXPECT_EQ(log.CountOpen().open, 1u);
  EXPECT_EQ(log.CountOpen().overdue, 1u);
  SubjectRequests restarted(**metadata, vault, clock);
  EXPECT_EQ(restarted.CountOpen().open, 0u);  // nothing until loaded
  ASSERT_TRUE(restarted.LoadOpen());
  EXPECT_EQ(restarted.CountOpen().open, 1u);
  EXPECT_EQ(restarted.CountOpen().overdue, 1u);
}

}  // namespace
}  // namespace strongroom::records
