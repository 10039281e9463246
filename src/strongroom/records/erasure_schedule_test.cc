// The erasure grace period (records/subject_erasure.h): a scheduled erasure hides the subject at
// once, is cancelled or carried out when due (by an injected "now"), and stays hidden across a
// restart. Real SQLite stores, a real ledger file.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "strongroom/base/time.h"
#include "strongroom/privacy/erasure_ledger.h"
#include "strongroom/records/subject_erasure.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"
#include "support/sealed_vault.h"
#include "support/vault_stores.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;
using std::chrono::days;
using std::chrono::seconds;

constexpr std::string_view kTenant = "acme";

class ErasureScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = strongroom::testing::OpenVaultStores(scratch_.path());
    ASSERT_EQ(stores_.size(), 4u);
    Open();
    ASSERT_TRUE(vault_->CreateTenant(json::parse(R"({"id": "acme"})")));
    ASSERT_TRUE(vault_->CreateCollection(kTenant, json::parse(R"({"name": "notes", "fields": [
        {"name": "text", "type": "string",
         "classification": {"grade": "confidential", "category": "other"}}]})")));
    subject_ = NewSubject();
    auto record = vault_->CreateRecord(
        kTenant, "notes",
        json::parse(R"({"subject_id": ")" + subject_ + R"(", "fields": {"text": "hello"}})"));
    ASSERT_TRUE(record) << record.error().message();
    record_ = std::string(record->at("id").as_string());
  }

  // A fresh seal state, service and eraser over the same files: what a restart makes.
  void Open() {
    eraser_.reset();
    vault_.reset();
    seal_ = strongroom::testing::MakeSealState(scratch_.path(), *stores_[0]);
    ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
    vault_ = std::make_unique<VaultService>(Stores{*stores_[0], *stores_[1], *stores_[2]}, *seal_);
    eraser_ = std::make_unique<SubjectEraser>(
        ErasureStores{*stores_[0], *stores_[1], *stores_[2], *stores_[3]}, *seal_, ledger_,
        std::vector<std::filesystem::path>{});
  }
  std::string NewSubject() {
    auto subject = vault_->CreateSubject(kTenant, json::parse("{}"));
    EXPECT_TRUE(subject);
    return subject ? std::string(subject->at("id").as_string()) : "";
  }
  // "ok", or the error code's name.
  std::string CodeOfGetRecord() {
    auto got = vault_->GetRecord(kTenant, "notes", record_);
    return got ? "ok" : std::string(ErrorCodeName(got.error().code()));
  }
  std::size_t ListedSubjects() {
    auto listed = vault_->ListSubjects(kTenant, Page{.limit = 50, .cursor = ""});
    EXPECT_TRUE(listed);
    return listed ? listed->at("subjects").as_array().size() : 0;
  }

  strongroom::testing::ScratchDir scratch_;
  std::vector<std::unique_ptr<storage::Store>> stores_;
  privacy::ErasureLedger ledger_{scratch_ / "erasure-ledger.jsonl"};
  std::unique_ptr<barrier::SealState> seal_;
  std::unique_ptr<VaultService> vault_;
  std::unique_ptr<SubjectEraser> eraser_;
  std::string subject_, record_;
  std::chrono::system_clock::time_point now_ = *ParseRfc3339("2026-11-24T10:00:00Z");
};

TEST_F(ErasureScheduleTest, AScheduledSubjectIsHiddenAtOnceAndBackWhenCancelled) {
  const std::string other = NewSubject();
  EXPECT_EQ(ListedSubjects(), 2u);
  auto scheduled = eraser_->Schedule(kTenant, subject_, now_, days(7));
  ASSERT_TRUE(scheduled) << scheduled.error().message();
  EXPECT_EQ(
      json::serialize(*scheduled),
      R"({"subject":")" + subject_ +
          R"(","state":"scheduled","requested_at":"2026-11-24T10:00:00Z","erase_at":"2026-12-01T10:00:00Z"})");
  EXPECT_EQ(eraser_->CountScheduled(), 1u);
  // Gone for every caller: the subject, its records, new writes, the listing.
  EXPECT_EQ(vault_->GetSubject(kTenant, subject_).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOfGetRecord(), "not_found");
  EXPECT_EQ(
      vault_->AppendActivity(kTenant, subject_, json::parse(R"({"type": "visit"})")).error().code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(ListedSubjects(), 1u);
  EXPECT_TRUE(vault_->GetSubject(kTenant, other));
  // Asked again a day later: the first date stands.
  auto again = eraser_->Schedule(kTenant, subject_, now_ + days(1), days(7));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->at("erase_at").as_string(), "2026-12-01T10:00:00Z");
  EXPECT_EQ(eraser_->CountScheduled(), 1u);
  // Unknown subjects and text that is no subject id are not found.
  EXPECT_EQ(eraser_->Schedule(kTenant, "sub_AAAAAAAAAAAAAAAAAAAAAA", now_, days(7)).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(eraser_->Schedule(kTenant, "../x", now_, days(7)).error().code(), ErrorCode::kNotFound);

  auto cancelled = eraser_->CancelScheduled(kTenant, subject_);
  ASSERT_TRUE(cancelled) << cancelled.error().message();
  EXPECT_EQ(cancelled->at("state").as_string(), "cancelled");
  EXPECT_EQ(eraser_->CountScheduled(), 0u);
  EXPECT_EQ(CodeOfGetRecord(), "ok");
  EXPECT_EQ(ListedSubjects(), 2u);
  EXPECT_EQ(eraser_->CancelScheduled(kTenant, subject_).error().code(), ErrorCode::kNotFound);
  // Nothing was erased: the ledger holds no receipt.
  auto receipts = privacy::ReadErasedSubjects(
      {ledger_.file()}, {}, *privacy::LedgerKeys::FromRoot([&](std::string_view i) {
        return seal_->keys()->keyring->DeriveFromRoot(i);
      }));
  ASSERT_TRUE(receipts) << receipts.error().message();
  EXPECT_TRUE(receipts->ids.empty());
}

TEST_F(ErasureScheduleTest, TheErasureIsCarriedOutWhenDueAndSurvivesARestartUntilThen) {
  ASSERT_TRUE(eraser_->Schedule(kTenant, subject_, now_, days(7)));
  // A restart: the schedule is read back and the subject hidden again before anything serves.
  Open();
  EXPECT_EQ(CodeOfGetRecord(), "ok");  // nothing loaded yet
  auto loaded = eraser_->LoadScheduled();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, 1u);
  EXPECT_EQ(CodeOfGetRecord(), "not_found");

  // A second before the date: nothing is erased.
  auto early = eraser_->ErasePending(now_ + days(7) - seconds(1));
  ASSERT_TRUE(early) << early.error().message();
  EXPECT_TRUE(early->empty());
  auto stored = stores_[1]->Scan("records", "", 10);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->size(), 1u);

  // Sealed, nothing can be erased (the receipt needs the keys): it waits, still hidden.
  seal_->Seal();
  EXPECT_EQ(eraser_->ErasePending(now_ + days(8)).error().code(), ErrorCode::kSealed);
  ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));

  auto due = eraser_->ErasePending(now_ + days(7));
  ASSERT_TRUE(due) << due.error().message();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].at("tenant").as_string(), kTenant);
  EXPECT_EQ((*due)[0].at("subject").as_string(), subject_);
  EXPECT_EQ((*due)[0].at("destroyed").at("records").to_number<std::int64_t>(), 1);
  EXPECT_EQ(eraser_->CountScheduled(), 0u);
  // The rows and the key are gone; the schedule entry too; cancelling is too late.
  stored = stores_[1]->Scan("records", "", 10);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->empty());
  auto schedule = stores_[0]->Scan(kErasureSchedule, "", 10);
  ASSERT_TRUE(schedule);
  EXPECT_TRUE(schedule->empty());
  EXPECT_EQ(eraser_->CancelScheduled(kTenant, subject_).error().code(), ErrorCode::kNotFound);
  auto again = eraser_->ErasePending(now_ + days(30));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

// After a restart a hidden subject's choices cannot be read (the barrier refuses its keys): a
// retention pass treats it as held rather than failing the tenant's pass; a cancel after the
// restart brings it back; an immediate erasure of a hidden subject takes its schedule along.
TEST_F(ErasureScheduleTest, HiddenSubjectsAreHeldByRetentionAndCancelOrEraseAfterARestart) {
  const std::vector<std::string> purposes{"support"};
  ASSERT_TRUE(vault_->SetProcessing(kTenant, subject_,
                                    json::parse(R"({"restricted": false, "objections": []})"),
                                    purposes, "prn_dpo"));
  const std::string other = NewSubject();
  ASSERT_TRUE(eraser_->Schedule(kTenant, subject_, now_, days(7)));
  ASSERT_TRUE(eraser_->Schedule(kTenant, other, now_, days(7)));
  Open();
  ASSERT_TRUE(eraser_->LoadScheduled());
  auto held = vault_->RestrictedSubjects(kTenant);
  ASSERT_TRUE(held) << held.error().message();
  EXPECT_EQ(*held, (std::set<std::string, std::less<>>{subject_}));

  ASSERT_TRUE(eraser_->CancelScheduled(kTenant, subject_));
  EXPECT_EQ(CodeOfGetRecord(), "ok");
  held = vault_->RestrictedSubjects(kTenant);
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->empty());

  EXPECT_EQ(eraser_->CountScheduled(), 1u);
  ASSERT_TRUE(eraser_->Erase(kTenant, other));
  EXPECT_EQ(eraser_->CountScheduled(), 0u);
  auto schedule = stores_[0]->Scan(kErasureSchedule, "", 10);
  ASSERT_TRUE(schedule);
  EXPECT_TRUE(schedule->empty());
}

}  // namespace
}  // namespace strongroom::records
