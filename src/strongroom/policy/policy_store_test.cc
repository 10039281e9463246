#include "strongroom/policy/policy_store.h"

#include <gtest/gtest.h>

#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::policy {
namespace {

constexpr std::string_view kDocument = R"([[rule]]
effect = "allow"
roles = ["admin"]
actions = ["manage-policy"]
)";

storage::Bytes Raw(std::string_view text) { return storage::Bytes(text.begin(), text.end()); }

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
  }
  void Overwrite(std::string_view bytes) {
    storage::WriteBatch batch;
    batch.Put("policies", "acme", Raw(bytes));
    ASSERT_TRUE(store_->Write(std::move(batch)));
  }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
};

TEST_F(PolicyStoreTest, VersionsAreKeptAndSurviveAReopen) {
  PolicyStore policies(*store_);
  auto builtin = policies.Current("acme");
  ASSERT_TRUE(builtin);
  EXPECT_EQ(builtin->info.version, 0u);
  ASSERT_TRUE(policies.Put("acme", kDocument, 0, "prn_a"));
  const auto stale = policies.Put("acme", kDocument, 0, "prn_b");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(policies.Put("acme", kDocument, std::nullopt, "prn_b"));
  const auto bad = policies.Put("acme", "[[rule]]\neffect = 1\n", std::nullopt, "prn_b");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "line 2: effect must be \"allow\", \"deny\" or \"limit\"");

  PolicyStore reopened(*store_);
  auto current = reopened.Current("acme");
  ASSERT_TRUE(current);
  EXPECT_EQ(current->info.version, 2u);
  EXPECT_EQ(current->info.updated_by, "prn_b");
  EXPECT_EQ(current->policy->text(), kDocument);
  auto versions = reopened.Versions("acme");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1u);
  // A tenant whose name starts like another's does not see its versions.
  auto other = reopened.Versions("acm");
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());
  EXPECT_EQ(reopened.Current("acme-2")->info.version, 0u);
}

// A stored document edited below the barrier fails closed (data_loss), and can still be
// replaced, with the next version number.
TEST_F(PolicyStoreTest, AnUnreadableStoredPolicyFailsClosedAndCanBeReplaced) {
  {
    PolicyStore policies(*store_);
    ASSERT_TRUE(policies.Put("acme", kDocument, std::nullopt, "prn_a"));
    ASSERT_TRUE(policies.Put("acme", kDocument, std::nullopt, "prn_a"));
    ASSERT_TRUE(policies.Put("beta", kDocument, std::nullopt, "prn_b"));
  }
  for (const std::string_view corrupt :
       {std::string_view(R"({"version":2,"text":"[[rule]]\neffect = 7\n","updated_at":"t",)"
                         R"("updated_by":"x"})"),
        std::string_view("not json at all")}) {
    Overwrite(corrupt);
    PolicyStore policies(*store_);
    // At start every stored document is compiled: the unreadable one is counted (and logged),
    // the other tenant's is in force.
    auto report = policies.LoadAll();
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_EQ(report->documents, 2u);
    EXPECT_EQ(report->unreadable, 1u);
    const auto loaded = policies.For("acme");
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss);
    auto replaced = policies.Put("acme", kDocument, std::nullopt, "prn_a");
    ASSERT_TRUE(replaced) << replaced.error().message();
    EXPECT_EQ(replaced->info.version, 3u);
    ASSERT_TRUE(policies.For("acme"));
    EXPECT_EQ(policies.LoadAll()->unreadable, 0u);
    // Back to version 2 for the next round.
    storage::WriteBatch batch;
    batch.Delete("policy_versions", "acme/00000000000000000003");
    ASSERT_TRUE(store_->Write(std::move(batch)));
  }
}

}  // namespace
}  // namespace strongroom::policy
