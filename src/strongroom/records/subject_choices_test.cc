// SubjectChoicesCache on its own, with counting functions in place of the stores (the stores'
// part is covered end to end by tests/integration/test_subject_rights.py).
#include "strongroom/records/subject_choices.h"

#include <gtest/gtest.h>

#include <map>

// g++ 12 warns about members left to their defaults in designated initializers (GCC PR 96868).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "strongroom/base/blocking.h"

namespace strongroom::records {
namespace {

class SubjectChoicesCacheTest : public ::testing::Test {
 protected:
  SubjectChoicesCache cache_{
      [this](std::string_view tenant) -> Result<std::vector<std::string>> {
        ++lists_;
        std::vector<std::string> subjects;
        for (const auto& [key, choices] : stored_) {
          if (key.first == tenant) subjects.push_back(key.second);
        }
        return subjects;
      },
      [this](std::string_view tenant, std::string_view subject) -> Result<SubjectChoices> {
        ++loads_;
        return stored_.at({std::string(tenant), std::string(subject)});
      }};
  std::map<std::pair<std::string, std::string>, SubjectChoices> stored_;
  int lists_ = 0;
  int loads_ = 0;
};

TEST_F(SubjectChoicesCacheTest, SubjectsWithoutChoicesCostOneScanPerTenant) {
  stored_[{"t1", "sub_a"}] = SubjectChoices{.restricted = true};
  for (int i = 0; i < 3; ++i) {
    auto none = cache_.Get("t1", "sub_b");
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_EQ(*none, nullptr);
  }
  EXPECT_EQ(lists_, 1);
  EXPECT_EQ(loads_, 0);
  auto a = cache_.Get("t1", "sub_a");
  ASSERT_TRUE(a);
  ASSERT_NE(*a, nullptr);
  EXPECT_TRUE((*a)->restricted);
  ASSERT_TRUE(cache_.Get("t1", "sub_a"));
  EXPECT_EQ(loads_, 1);  // kept
  // Another tenant is scanned on its own; the same subject id there has no choices.
  auto elsewhere = cache_.Get("t2", "sub_a");
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(*elsewhere, nullptr);
  EXPECT_EQ(lists_, 2);
}

TEST_F(SubjectChoicesCacheTest, AChangeIsReadAgainAndANewSubjectCounts) {
  stored_[{"t1", "sub_a"}] = SubjectChoices{.objections = {"marketing"}};
  ASSERT_TRUE(cache_.Get("t1", "sub_a"));
  stored_[{"t1", "sub_a"}] = SubjectChoices{};
  cache_.Changed("t1", "sub_a");
  auto a = cache_.Get("t1", "sub_a");
  ASSERT_TRUE(a);
  EXPECT_TRUE((*a)->objections.empty());
  EXPECT_EQ(loads_, 2);
  // A subject that gains its first choice after the scan.
  stored_[{"t1", "sub_new"}] = SubjectChoices{.consented = {"marketing"}};
  cache_.Changed("t1", "sub_new");
  auto fresh = cache_.Get("t1", "sub_new");
  ASSERT_TRUE(fresh);
  ASSERT_NE(*fresh, nullptr);
  EXPECT_EQ((*fresh)->consented, std::vector<std::string>{"marketing"});
  EXPECT_EQ(lists_, 1);
}

TEST_F(SubjectChoicesCacheTest, AnIoThreadNeverReadsTheStores) {
  stored_[{"t1", "sub_a"}] = SubjectChoices{.restricted = true};
  {
    NonBlockingScope scope;
    auto scan = cache_.Get("t1", "sub_a");  // the tenant's scan reads the stores
    ASSERT_FALSE(scan);
    EXPECT_EQ(scan.error().code(), ErrorCode::kWouldBlock);
  }
  ASSERT_TRUE(cache_.Get("t1", "sub_b"));  // scans, on a thread that may block
  {
    NonBlockingScope scope;
    auto load = cache_.Get("t1", "sub_a");  // not loaded yet
    ASSERT_FALSE(load);
    EXPECT_EQ(load.error().code(), ErrorCode::kWouldBlock);
    auto none = cache_.Get("t1", "sub_b");  // known to have none: answered from memory
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, nullptr);
  }
  ASSERT_TRUE(cache_.Get("t1", "sub_a"));
  NonBlockingScope scope;
  auto cached = cache_.Get("t1", "sub_a");
  ASSERT_TRUE(cached);
  EXPECT_TRUE((*cached)->restricted);
  EXPECT_EQ(loads_, 1);
}

TEST_F(SubjectChoicesCacheTest, ErasureForgetsAndSealingDropsWhatWasDecrypted) {
  stored_[{"t1", "sub_a"}] = SubjectChoices{.restricted = true};
  stored_[{"t1", "sub_b"}] = SubjectChoices{.objections = {"marketing"}};
  ASSERT_TRUE(cache_.Get("t1", "sub_a"));
  ASSERT_TRUE(cache_.Get("t1", "sub_b"));
  EXPECT_EQ(loads_, 2);
  cache_.DropLoaded();  // sealed: both are read again, from the stores
  ASSERT_TRUE(cache_.Get("t1", "sub_a"));
  ASSERT_TRUE(cache_.Get("t1", "sub_b"));
  EXPECT_EQ(loads_, 4);
  cache_.Forget("t1", "sub_a");  // erased: no longer a subject with choices
  auto gone = cache_.Get("t1", "sub_a");
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, nullptr);
  EXPECT_EQ(loads_, 4);
  EXPECT_EQ(lists_, 1);
}

TEST_F(SubjectChoicesCacheTest, AFailedLoadIsAnErrorAndNotKept) {
  SubjectChoicesCache failing(
      [](std::string_view) -> Result<std::vector<std::string>> {
        return std::vector<std::string>{"sub_a"};
      },
      [this](std::string_view, std::string_view) -> Result<SubjectChoices> {
        ++loads_;
        return Fail(ErrorCode::kDataLoss, "tampered");
      });
  for (int i = 0; i < 2; ++i) {
    auto got = failing.Get("t1", "sub_a");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), ErrorCode::kDataLoss);
  }
  EXPECT_EQ(loads_, 2);
}

}  // namespace
}  // namespace strongroom::records
