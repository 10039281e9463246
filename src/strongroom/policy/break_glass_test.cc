#include "strongroom/policy/break_glass.h"

#include <gtest/gtest.h>

#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::policy {
namespace {

using std::chrono::minutes;
using Status = BreakGlassGrant::Status;

class BreakGlassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    glass_ = Open();
  }
  std::unique_ptr<BreakGlass> Open() {
    auto glass = std::make_unique<BreakGlass>(*store_, [this] { return now_; });
    EXPECT_TRUE(glass->Load());
    return glass;
  }
  BreakGlass::NewRequest Ask(std::int64_t duration = 30) {
    BreakGlass::NewRequest r;
    r.tenant = "ten_acme";
    r.requester = "prn_alice";
    r.collection = "patients";
    r.fields = {"email"};
    r.roles = {"operator", "admin"};
    r.purpose = "support";
    r.reason = "INC-4711: a patient cannot sign in";
    r.minutes = duration;
    return r;
  }
  // An administrator in a two-factor session whose account predates every request.
  static BreakGlass::Approver By(std::string_view principal) {
    return {principal, "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", true};
  }
  static void ExpectError(const Result<BreakGlassGrant>& result, ErrorCode code,
                          std::string_view path, std::string_view rule) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), code) << result.error().message();
    EXPECT_EQ(result.error().path(), path);
    EXPECT_EQ(result.error().rule(), rule);
  }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> store_;
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  std::unique_ptr<BreakGlass> glass_;
};

TEST_F(BreakGlassTest, NeedsASecondAdministratorAndExpiresByItself) {
  auto asked = glass_->Request(Ask());
  ASSERT_TRUE(asked) << asked.error().message();
  EXPECT_TRUE(asked->id.starts_with("brk_"));
  EXPECT_EQ(asked->StatusAt(now_), Status::kPending);
  // Pending: nothing changes yet.
  EXPECT_EQ(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);
  ExpectError(glass_->Approve("ten_acme", asked->id, By("prn_alice")), ErrorCode::kPermissionDenied,
              "principal", "same_principal");
  ExpectError(glass_->Approve("ten_beta", asked->id, By("prn_bob")), ErrorCode::kNotFound, "id",
              "unknown_request");
  // Not by API token or a session without a second factor; not by an account made or changed
  // for the occasion (in the request's second or after).
  auto by_token = By("prn_bob");
  by_token.two_factor_session = false;
  ExpectError(glass_->Approve("ten_acme", asked->id, by_token), ErrorCode::kPermissionDenied,
              "principal", "two_factor_session");
  auto fresh = By("prn_bob");
  fresh.created_at = "2027-01-15T08:00:00Z";  // the request's own second (1,800,000,000)
  ExpectError(glass_->Approve("ten_acme", asked->id, fresh), ErrorCode::kPermissionDenied,
              "principal", "approver_changed");
  auto promoted = By("prn_bob");
  promoted.updated_at = "2027-01-15T08:03:00Z";
  ExpectError(glass_->Approve("ten_acme", asked->id, promoted), ErrorCode::kPermissionDenied,
              "principal", "approver_changed");
  now_ += minutes(5);
  auto approved = glass_->Approve("ten_acme", asked->id, By("prn_bob"));
  ASSERT_TRUE(approved);
  EXPECT_EQ(approved->approved_by, "prn_bob");
  EXPECT_EQ(approved->expires_at, now_ + minutes(30));  // the duration counts from approval
  ExpectError(glass_->Approve("ten_acme", asked->id, By("prn_carol")),
              ErrorCode::kFailedPrecondition, "id", "not_pending");

  auto active = glass_->Active("ten_acme", "prn_alice", "patients");
  ASSERT_NE(active, nullptr);
  EXPECT_EQ(active->id, asked->id);
  EXPECT_TRUE(active->Covers("email"));
  EXPECT_FALSE(active->Covers("ssn"));
  // Only for calls made as it was asked: the same roles (any order) and purpose.
  const std::vector<std::string> same = {"admin", "operator"}, fewer = {"admin"};
  EXPECT_TRUE(active->Matches(same, "support"));
  EXPECT_FALSE(active->Matches(fewer, "support"));
  EXPECT_FALSE(active->Matches(same, "billing"));
  // Only for its requester, its collection and its tenant.
  EXPECT_EQ(glass_->Active("ten_acme", "prn_bob", "patients"), nullptr);
  EXPECT_EQ(glass_->Active("ten_acme", "prn_alice", "orders"), nullptr);
  EXPECT_EQ(glass_->Active("ten_beta", "prn_alice", "patients"), nullptr);
  // A restart keeps it.
  glass_ = Open();
  ASSERT_NE(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);

  now_ += minutes(29);
  EXPECT_NE(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);
  now_ += minutes(1);
  EXPECT_EQ(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);
  const auto listed = glass_->List("ten_acme");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].StatusAt(now_), Status::kExpired);
  EXPECT_EQ(listed[0].reason, "INC-4711: a patient cannot sign in");
  EXPECT_TRUE(glass_->List("ten_beta").empty());
  ExpectError(glass_->Revoke("ten_acme", asked->id, "prn_bob"), ErrorCode::kFailedPrecondition,
              "id", "not_live");
}

TEST_F(BreakGlassTest, RevokedAndLapsedRequestsGrantNothing) {
  auto first = glass_->Request(Ask());
  ASSERT_TRUE(first);
  ASSERT_TRUE(glass_->Approve("ten_acme", first->id, By("prn_bob")));
  ASSERT_NE(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);
  auto revoked = glass_->Revoke("ten_acme", first->id, "prn_bob");
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->StatusAt(now_), Status::kRevoked);
  EXPECT_EQ(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);
  glass_ = Open();
  EXPECT_EQ(glass_->Active("ten_acme", "prn_alice", "patients"), nullptr);
  // A request nobody approves lapses after a day.
  auto second = glass_->Request(Ask());
  ASSERT_TRUE(second);
  now_ += kPendingLifetime;
  const auto listed = glass_->List("ten_acme");
  ASSERT_EQ(listed.size(), 2u);
  for (const auto& grant : listed) {
    EXPECT_EQ(grant.StatusAt(now_), grant.id == second->id ? Status::kExpired : Status::kRevoked);
  }
  ExpectError(glass_->Approve("ten_acme", second->id, By("prn_bob")),
              ErrorCode::kFailedPrecondition, "id", "not_pending");
}

TEST_F(BreakGlassTest, RefusesBadRequests) {
  auto r = Ask();
  r.reason = "";
  ExpectError(glass_->Request(r), ErrorCode::kInvalidArgument, "$.reason", "length");
  r.reason = std::string(kMaxBreakGlassReason + 1, 'x');
  ExpectError(glass_->Request(r), ErrorCode::kInvalidArgument, "$.reason", "length");
  r.reason = "card 4111 1111 1111 1111 declined";
  ExpectError(glass_->Request(r), ErrorCode::kCardDataRefused, "$.reason", "card_number");
  ExpectError(glass_->Request(Ask(0)), ErrorCode::kInvalidArgument, "$.minutes", "range");
  ExpectError(glass_->Request(Ask(kMaxBreakGlassMinutes + 1)), ErrorCode::kInvalidArgument,
              "$.minutes", "range");
  EXPECT_TRUE(glass_->Request(Ask(kMaxBreakGlassMinutes)));
  EXPECT_TRUE(glass_->Request(Ask(1)));
  r = Ask();
  r.fields.clear();
  ExpectError(glass_->Request(r), ErrorCode::kInvalidArgument, "$.fields", "nothing_to_lift");
  // A stored grant that is not one (edited below the barrier) stops the start, loudly.
  storage::WriteBatch batch;
  batch.Put("break_glass", "ten_acme/brk_x", storage::Bytes{'{', '}'});
  ASSERT_TRUE(store_->Write(std::move(batch)));
  BreakGlass reopened(*store_, [this] { return now_; });
  auto loaded = reopened.Load();
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace strongroom::policy
