#include "strongroom/records/retention.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "strongroom/base/time.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/policy/policy.h"
#include "strongroom/records/document_service.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"
#include "support/sealed_vault.h"
#include "support/vault_stores.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;
using std::chrono::days;
using Clock = std::chrono::system_clock;

constexpr std::string_view kTenant = "acme";

// The rules as a tenant writes them: parsed by the policy, so the test covers the document too.
std::vector<RetentionRule> Rules(std::string_view text) {
  auto document = policy::ParseDocument(text);
  EXPECT_TRUE(document) << document.error().message();
  return document ? document->retention : std::vector<RetentionRule>{};
}

// Real SQLite stores, one file per kind, as the server opens them; an unsealed vault.
class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = strongroom::testing::OpenVaultStores(scratch_.path());
    ASSERT_EQ(stores_.size(), 4u);
    seal_ = strongroom::testing::MakeSealState(scratch_.path(), *stores_[0]);
    ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
    vault_ = std::make_unique<VaultService>(Stores{*stores_[0], *stores_[1], *stores_[2]}, *seal_);
    documents_ = std::make_unique<DocumentService>(*stores_[0], *stores_[3], *seal_);
    ASSERT_TRUE(vault_->CreateTenant(json::parse(R"({"id": "acme"})")));
    for (const char* collection : {"visits", "contacts"}) {
      auto made = vault_->CreateCollection(
          kTenant, json::parse(std::string(R"({"name": ")") + collection + R"(", "fields": [
          {"name": "note", "type": "string",
           "classification": {"grade": "internal", "category": "other"}},
          {"name": "diagnosis", "type": "string",
           "classification": {"grade": "restricted", "category": "health"}}]})"));
      ASSERT_TRUE(made) << made.error().message();
    }
    auto subject = vault_->CreateSubject(kTenant, json::parse("{}"));
    ASSERT_TRUE(subject);
    subject_ = std::string(subject->at("id").as_string());
  }

  std::string Record(std::string_view collection, std::string_view fields) {
    auto made = vault_->CreateRecord(kTenant, collection,
                                     json::parse(R"({"subject_id": ")" + subject_ +
                                                 R"(", "fields": )" + std::string(fields) + "}"));
    EXPECT_TRUE(made) << made.error().message();
    return made ? std::string(made->at("id").as_string()) : "";
  }
  bool RecordExists(std::string_view collection, std::string_view id) {
    return vault_->GetRecord(kTenant, collection, id).has_value();
  }
  void Event(std::string_view occurred_at) {
    auto appended = vault_->AppendActivity(
        kTenant, subject_,
        json::parse(R"({"type": "visit", "occurred_at": ")" + std::string(occurred_at) + "\"}"));
    ASSERT_TRUE(appended) << appended.error().message();
  }
  std::size_t EventCount() {
    auto listed = vault_->ListActivity(kTenant, subject_, "", "", Page{.limit = 200, .cursor = ""});
    EXPECT_TRUE(listed);
    return listed ? listed->at("events").as_array().size() : 0;
  }
  std::string Document() {
    auto upload = documents_->BeginUpload(kTenant, subject_, "text/plain");
    EXPECT_TRUE(upload);
    const std::string text = "scan";
    EXPECT_TRUE(
        (*upload)->Write({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}));
    auto committed = (*upload)->Commit();
    EXPECT_TRUE(committed);
    return committed ? std::string(committed->at("id").as_string()) : "";
  }
  std::size_t DocumentCount() {
    auto listed = documents_->List(kTenant, subject_, Page{.limit = 200, .cursor = ""});
    EXPECT_TRUE(listed);
    return listed ? listed->at("documents").as_array().size() : 0;
  }

  RetentionJob MakeJob() {
    return RetentionJob(*vault_, *documents_,
                        {.items_per_second = 0,
                         .batch = 2,
                         .clock = [this] { return now_; },
                         .tenants = nullptr,
                         .rules_for = nullptr,
                         .notify = nullptr,
                         .each_round = nullptr},
                        metrics_);
  }

  strongroom::testing::ScratchDir scratch_;
  std::vector<std::unique_ptr<storage::Store>> stores_;
  std::unique_ptr<barrier::SealState> seal_;
  std::unique_ptr<VaultService> vault_;
  std::unique_ptr<DocumentService> documents_;
  observe::MetricsRegistry metrics_;
  std::string subject_;
  Clock::time_point now_ = Clock::now();
};

// With the clock moved on, what a rule lets expire goes and nothing else: records by their last
// change (the shortest rule that applies wins; grades and categories apply to records holding
// such a field), events by when they occurred, documents by their upload.
TEST_F(RetentionTest, AnInjectedClockPurgesExactlyWhatExpired) {
  const auto rules = Rules(R"(
[[retention]]
name = "visits"
collections = ["visits"]
days = 365

[[retention]]
name = "health"
collections = ["*"]
categories = ["health"]
days = 30

[[retention]]
name = "activity"
collections = ["@activity"]
days = 730

[[retention]]
name = "scans"
collections = ["@documents"]
days = 90
)");
  ASSERT_EQ(rules.size(), 4u);
  // 2 + 3 records: batches of 2 cover a short last page and a full one.
  const std::string visit_note = Record("visits", R"({"note": "ok"})");
  const std::string visit_health = Record("visits", R"({"diagnosis": "flu"})");
  const std::string contact_note = Record("contacts", R"({"note": "call back"})");
  const std::string contact_health = Record("contacts", R"({"diagnosis": "asthma"})");
  const std::string contact_empty = Record("contacts", "{}");
  // Events: two far older than 730 days, two recent ones (the scan leaves the subject there).
  const auto ago = [this](int d) { return FormatRfc3339(now_ - days(d)); };
  Event(ago(800));
  Event(ago(740));
  Event(ago(2));
  Event(ago(1));
  const std::string document = Document();

  auto job = MakeJob();
  // 10 days on: nothing has expired yet.
  now_ += days(10);
  auto pass = job.RunPass({std::string(kTenant), 3, rules}, "test", false);
  EXPECT_EQ(pass.error, "");
  EXPECT_EQ(pass.purged, 2u);  // only the two events past 730 days
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].rule, "activity");
  EXPECT_EQ(pass.purges[0].data, "@activity");
  EXPECT_EQ(EventCount(), 2u);
  for (const auto& [c, id] : {std::pair{"visits", visit_note},
                              {"visits", visit_health},
                              {"contacts", contact_note},
                              {"contacts", contact_health}}) {
    EXPECT_TRUE(RecordExists(c, id)) << id;
  }

  // 31 days: the health records go (in both collections), the rest stays.
  now_ += days(21);
  pass = job.RunPass({std::string(kTenant), 3, rules}, "test", false);
  EXPECT_EQ(pass.error, "");
  EXPECT_EQ(pass.purged, 2u);
  EXPECT_FALSE(RecordExists("visits", visit_health));
  EXPECT_FALSE(RecordExists("contacts", contact_health));
  EXPECT_TRUE(RecordExists("visits", visit_note));
  EXPECT_TRUE(RecordExists("contacts", contact_note));
  EXPECT_TRUE(RecordExists("contacts", contact_empty));
  EXPECT_EQ(DocumentCount(), 1u);

  // A dry run 100 days on counts the document and deletes nothing.
  now_ += days(69);
  pass = job.RunPass({std::string(kTenant), 3, rules}, "test", true);
  EXPECT_TRUE(pass.dry_run);
  EXPECT_EQ(pass.purged, 1u);
  EXPECT_EQ(DocumentCount(), 1u);
  pass = job.RunPass({std::string(kTenant), 3, rules}, "test", false);
  EXPECT_EQ(pass.purged, 1u);
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].rule, "scans");
  EXPECT_EQ(DocumentCount(), 0u);
  EXPECT_FALSE(documents_->Open(kTenant, subject_, document));

  // A year on: the visit expires under "visits"; contacts have no rule but "health", which their
  // remaining records do not match, so they are kept however old.
  now_ += days(366);
  pass = job.RunPass({std::string(kTenant), 3, rules}, "test", false);
  EXPECT_EQ(pass.purged, 1u);
  EXPECT_FALSE(RecordExists("visits", visit_note));
  EXPECT_TRUE(RecordExists("contacts", contact_note));
  EXPECT_TRUE(RecordExists("contacts", contact_empty));
  EXPECT_EQ(EventCount(), 2u);  // the recent events are 467 and 468 days old: kept
  EXPECT_EQ(pass.unreadable, 0u);
  EXPECT_EQ(pass.policy_version, 3u);
}

// A purged record leaves nothing behind: its blind-index entries and its subject link go too, so
// a search no longer finds it and the subject's listing no longer names it.
TEST_F(RetentionTest, PurgedRecordsLeaveNoIndexOrSubjectEntries) {
  auto made = vault_->CreateCollection(kTenant, json::parse(R"({"name": "people", "fields": [
      {"name": "email", "type": "email", "indexed": true,
       "classification": {"grade": "confidential", "category": "contact"}}]})"));
  ASSERT_TRUE(made) << made.error().message();
  Record("people", R"({"email": "ada@example.com"})");
  const auto rules = Rules("[[retention]]\ncollections = [\"people\"]\ndays = 1\n");
  auto job = MakeJob();
  now_ += days(2);
  const auto pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.purged, 1u);
  EXPECT_EQ(pass.purges.at(0).rule, "retention at line 1");
  auto found = vault_->SearchRecords(
      kTenant, "people", json::parse(R"({"field": "email", "value": "ada@example.com"})"));
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_TRUE(found->at("records").as_array().empty());
  auto counts = vault_->CountSubjectData(kTenant, subject_);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->at("records").to_number<std::int64_t>(), 0);
  // The index and link rows are gone from the file, not just unreachable.
  auto index = stores_[1]->Scan("index", "", 10);
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->empty());
  auto links = stores_[1]->Scan("by_subject", "", 10);
  ASSERT_TRUE(links);
  EXPECT_TRUE(links->empty());
}

// The running server's part: a requested pass runs on the thread, its state is published
// (queued, then done with counts), notify hears it, and the metrics count it.
TEST_F(RetentionTest, RequestedPassesRunOnTheThreadAndAreReported) {
  Record("visits", R"({"note": "x"})");
  std::mutex mu;
  std::vector<RetentionJob::Pass> notified;
  const auto rules = Rules("[[retention]]\nname = \"v\"\ncollections = [\"visits\"]\ndays = 2\n");
  RetentionJob job(
      *vault_, *documents_,
      {.first_pass_after = std::chrono::hours(1),
       .items_per_second = 0,
       .clock = [this] { return now_ + days(3); },
       .tenants = nullptr,
       .rules_for =
           [&](std::string_view tenant) -> Result<std::optional<RetentionJob::TenantRules>> {
         std::lock_guard lock(mu);
         if (rules.empty()) return std::nullopt;
         return RetentionJob::TenantRules{std::string(tenant), 7, rules};
       },
       .notify =
           [&](const RetentionJob::Pass& pass) {
             std::lock_guard lock(mu);
             notified.push_back(pass);
           },
       .each_round = nullptr},
      metrics_);
  EXPECT_FALSE(job.Request(kTenant, "api: prn_x", false));  // not started
  job.Start();
  auto queued = job.Request(kTenant, "api: prn_x", false);
  ASSERT_TRUE(queued) << queued.error().message();
  for (int i = 0; i < 500; ++i) {  // bounded: 5 s
    {
      std::lock_guard lock(mu);
      if (!notified.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  job.Stop();
  ASSERT_EQ(notified.size(), 1u);
  EXPECT_EQ(notified[0].trigger, "api: prn_x");
  EXPECT_EQ(notified[0].purged, 1u);
  auto status = job.Status(kTenant);
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->running());
  EXPECT_EQ(status->purges.at(0).rule, "v");
  EXPECT_EQ(status->purges.at(0).data, "visits");
  EXPECT_EQ(status->purges.at(0).count, 1u);
  const std::string text = metrics_.RenderText();
  EXPECT_NE(text.find("strongroom_retention_purged_total{data=\"records\"} 1"), std::string::npos)
      << text;
  EXPECT_EQ(notified[0].policy_version, 7u);
  EXPECT_FALSE(job.Request(kTenant, "api: prn_x", false));  // stopped
}

// A pass reads the rules when it starts: one asked for under rules since removed purges
// nothing, and says why.
TEST_F(RetentionTest, APassAskedForUnderRulesSinceRemovedPurgesNothing) {
  const std::string id = Record("visits", R"({"note": "x"})");
  bool finished = false;
  RetentionJob job(
      *vault_, *documents_,
      {.first_pass_after = std::chrono::hours(1),
       .items_per_second = 0,
       .clock = [this] { return now_ + days(3); },
       .tenants = nullptr,
       .rules_for = [](std::string_view) -> Result<std::optional<RetentionJob::TenantRules>> {
         return std::nullopt;  // the policy lost its rules after the request
       },
       .notify = nullptr,
       .each_round = nullptr},
      metrics_);
  job.Start();
  ASSERT_TRUE(job.Request(kTenant, "api: prn_x", false));
  for (int i = 0; i < 500 && !finished; ++i) {  // bounded: 5 s
    auto status = job.Status(kTenant);
    finished = status && !status->started_at.empty() && !status->running();
    if (!finished) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  job.Stop();
  ASSERT_TRUE(finished);
  const auto status = job.Status(kTenant);
  EXPECT_EQ(status->purged, 0u);
  EXPECT_EQ(status->error_code, "failed_precondition");
  EXPECT_TRUE(RecordExists("visits", id));
}

// A restricted subject's data is held (GDPR art. 18(1)(c)): however old, a pass keeps it and
// counts it; once the restriction is lifted, the next pass deletes it. Also: with two subjects,
// the event scan that leaves the first at its first kept event lands on the second's expired
// ones (whichever sorts first), and a rule on grades applies to records holding such a field.
TEST_F(RetentionTest, RestrictedSubjectsAreHeldAndEverySubjectsEventsAreSwept) {
  auto other = vault_->CreateSubject(kTenant, json::parse("{}"));
  ASSERT_TRUE(other);
  const std::string second(other->at("id").as_string());
  const std::string first = subject_;
  const auto ago = [this](int d) { return FormatRfc3339(now_ - days(d)); };
  Event(ago(50));
  Event(ago(1));
  subject_ = second;
  Event(ago(60));
  Event(ago(2));
  const std::string restricted_record = Record("visits", R"({"diagnosis": "x"})");
  subject_ = first;
  const std::string open_record = Record("visits", R"({"diagnosis": "y"})");
  const std::string internal_record = Record("visits", R"({"note": "z"})");
  const auto rules = Rules(R"(
[[retention]]
name = "restricted fields"
collections = ["visits"]
grades = ["restricted"]
days = 10

[[retention]]
name = "events"
collections = ["@activity"]
days = 30
)");
  const std::vector<std::string> purposes{"support"};
  ASSERT_TRUE(vault_->SetProcessing(kTenant, second,
                                    json::parse(R"({"restricted": true, "objections": []})"),
                                    purposes, "prn_dpo"));
  auto job = MakeJob();
  now_ += days(11);
  auto pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.error, "");
  EXPECT_EQ(pass.purged, 2u);  // the open subject's restricted-grade record and its old event
  EXPECT_EQ(pass.held, 2u);    // the restricted subject's record and old event
  EXPECT_FALSE(RecordExists("visits", open_record));
  EXPECT_TRUE(RecordExists("visits", internal_record));  // no field of the rule's grade
  EXPECT_TRUE(RecordExists("visits", restricted_record));
  EXPECT_EQ(EventCount(), 1u);
  subject_ = second;
  EXPECT_EQ(EventCount(), 2u);

  ASSERT_TRUE(vault_->SetProcessing(kTenant, second,
                                    json::parse(R"({"restricted": false, "objections": []})"),
                                    purposes, "prn_dpo"));
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.purged, 2u);
  EXPECT_EQ(pass.held, 0u);
  EXPECT_FALSE(RecordExists("visits", restricted_record));
  EXPECT_EQ(EventCount(), 1u);

  // Sealed, nobody can tell who is restricted: the pass purges nothing and says so.
  seal_->Seal();
  now_ += days(100);
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.purged, 0u);
  EXPECT_EQ(pass.error_code, "sealed");
}

// The archive: a rule with archive_days moves what it let expire out of the live spaces (no
// read, list, search or subject listing finds it) into the archive, where it still decrypts,
// and deletes it from there archive_days later; a restricted subject's archived data is held
// there too; a dry run moves and deletes nothing; a rule that stops archiving empties the
// archive of what its own days let expire.
TEST_F(RetentionTest, ARuleWithAnArchiveMovesExpiredDataThereAndDeletesItLater) {
  auto made = vault_->CreateCollection(kTenant, json::parse(R"({"name": "people", "fields": [
      {"name": "email", "type": "email", "indexed": true,
       "classification": {"grade": "confidential", "category": "contact"}}]})"));
  ASSERT_TRUE(made) << made.error().message();
  const std::string person = Record("people", R"({"email": "ada@example.com"})");
  const std::string contact = Record("contacts", R"({"note": "no rule names contacts"})");
  const auto ago = [this](int d) { return FormatRfc3339(now_ - days(d)); };
  const auto start = now_;
  Event(ago(100));  // past 30 + 60 days already: deleted at once, never archived
  Event(ago(40));
  Event(ago(1));
  // A second subject's old event: the archive's sweep goes on past the first subject's kept
  // ones to it (whichever sorts first).
  auto other = vault_->CreateSubject(kTenant, json::parse("{}"));
  ASSERT_TRUE(other);
  const std::string first = subject_;
  subject_ = std::string(other->at("id").as_string());
  Event(ago(45));
  subject_ = first;
  const auto rules = Rules(R"(purposes = ["legal"]
[[retention]]
name = "people"
collections = ["people"]
days = 30
archive_days = 60

[[retention]]
name = "events"
collections = ["@activity"]
days = 30
archive_days = 60
)");
  ASSERT_EQ(rules.size(), 2u);
  const auto archived_events = [this] {
    auto listed =
        vault_->ListActivity(kTenant, subject_, "", "", Page{.limit = 200, .cursor = ""}, true);
    EXPECT_TRUE(listed) << listed.error().message();
    std::vector<std::string> at;
    for (const auto& e : listed ? listed->at("events").as_array() : json::array{}) {
      EXPECT_TRUE(e.at("archived").as_bool());
      // "…T12:00:00.000000Z": the whole seconds ago() wrote.
      at.push_back(std::string(e.at("occurred_at").as_string()).substr(0, 19) + "Z");
    }
    return at;
  };
  const auto rows = [this](std::size_t store, std::string_view space) {
    auto scanned = stores_[store]->Scan(space, "", 100);
    EXPECT_TRUE(scanned);
    return scanned ? scanned->size() : 0;
  };
  auto job = MakeJob();

  // Now: the 40- and 45-day-old events are archived, the 100-day-old one deleted, the rest
  // kept; a dry run first counts the same and changes nothing.
  for (const bool dry_run : {true, false}) {
    auto pass = job.RunPass({std::string(kTenant), 1, rules}, "test", dry_run);
    EXPECT_EQ(pass.error, "");
    EXPECT_EQ(pass.archived, 2u);
    EXPECT_EQ(pass.purged, 1u);
    ASSERT_EQ(pass.purges.size(), 2u);
    EXPECT_EQ(pass.purges[0].rule, "events");
    EXPECT_EQ(pass.purges[0].data, "@activity");
    EXPECT_EQ(pass.purges[0].action, "purge");
    EXPECT_EQ(pass.purges[0].count, 1u);
    EXPECT_EQ(pass.purges[1].action, "archive");
    EXPECT_EQ(pass.purges[1].count, 2u);
    EXPECT_EQ(rows(2, "events"), dry_run ? 4u : 1u);
  }
  EXPECT_EQ(EventCount(), 1u);
  EXPECT_EQ(archived_events(), std::vector<std::string>{FormatRfc3339(start - days(40))});
  EXPECT_EQ(rows(2, "archived_events"), 2u);
  RetentionJob::Pass pass;

  // 31 days on: the person's record goes to the archive with its subject link, its index
  // entry leaves; the other event is archived too.
  now_ = start + days(31);
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.error, "");
  EXPECT_EQ(pass.archived, 2u);
  EXPECT_EQ(pass.purged, 0u);
  EXPECT_FALSE(RecordExists("people", person));
  EXPECT_TRUE(RecordExists("contacts", contact));
  auto found = vault_->SearchRecords(
      kTenant, "people", json::parse(R"({"field": "email", "value": "ada@example.com"})"));
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_TRUE(found->at("records").as_array().empty());
  auto live = vault_->ListSubjectRecords(kTenant, subject_, Page{.limit = 10, .cursor = ""});
  ASSERT_TRUE(live);
  ASSERT_EQ(live->at("records").as_array().size(), 1u);  // the contact only
  auto archived = vault_->GetArchivedRecord(kTenant, "people", person);
  ASSERT_TRUE(archived) << archived.error().message();
  EXPECT_EQ(archived->at("fields").at("email").as_string(), "ada@example.com");
  EXPECT_TRUE(archived->at("archived").as_bool());
  EXPECT_EQ(vault_->GetArchivedRecord(kTenant, "contacts", contact).error().code(),
            ErrorCode::kNotFound);
  for (const std::string_view subject : {std::string_view(subject_), std::string_view()}) {
    auto listed =
        vault_->ListArchivedRecords(kTenant, "people", subject, Page{.limit = 10, .cursor = ""});
    ASSERT_TRUE(listed) << listed.error().message();
    ASSERT_EQ(listed->at("records").as_array().size(), 1u);
    EXPECT_EQ(listed->at("records").as_array()[0].at("id").as_string(), person);
  }
  auto by_subject =
      vault_->ListSubjectRecords(kTenant, subject_, Page{.limit = 10, .cursor = ""}, true);
  ASSERT_TRUE(by_subject);
  EXPECT_EQ(by_subject->at("records").as_array().size(), 1u);
  auto counts = vault_->CountSubjectData(kTenant, subject_);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->at("records").to_number<std::int64_t>(), 2);  // live and archived
  EXPECT_EQ(counts->at("activity_events").to_number<std::int64_t>(), 2);
  EXPECT_EQ(rows(1, "index"), 0u);
  EXPECT_EQ(rows(1, "by_subject"), 1u);
  EXPECT_EQ(rows(1, "archived_records"), 1u);
  EXPECT_EQ(rows(1, "archived_by_subject"), 1u);
  EXPECT_EQ(EventCount(), 0u);
  EXPECT_EQ(archived_events().size(), 2u);
  EXPECT_EQ(rows(2, "archived_events"), 3u);
  // The archived envelope keeps no blind-index hash.
  auto raw = stores_[1]->Scan("archived_records", "", 1);
  ASSERT_TRUE(raw && raw->size() == 1);
  EXPECT_EQ(std::string(raw->at(0).value.begin(), raw->at(0).value.end()).find("\"index\""),
            std::string::npos);

  // 51 days on, the first subject's 40-day-old event is 91 days old and the second's 96: past
  // 30 + 60, they leave the archive. A restricted subject's archived data would be held: the
  // first subject is restricted first.
  now_ = start + days(51);
  const std::vector<std::string> purposes{"legal"};
  ASSERT_TRUE(vault_->SetProcessing(kTenant, subject_,
                                    json::parse(R"({"restricted": true, "objections": []})"),
                                    purposes, "prn_dpo"));
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.purged, 1u);  // the second subject's
  EXPECT_EQ(pass.held, 1u);
  EXPECT_EQ(rows(2, "archived_events"), 2u);
  ASSERT_TRUE(vault_->SetProcessing(kTenant, subject_,
                                    json::parse(R"({"restricted": false, "objections": []})"),
                                    purposes, "prn_dpo"));
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", true);  // dry run
  EXPECT_EQ(pass.purged, 1u);
  EXPECT_EQ(archived_events().size(), 2u);
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.purged, 1u);
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].action, "purge_archived");
  EXPECT_EQ(pass.purges[0].rule, "events");
  EXPECT_EQ(archived_events(), std::vector<std::string>{FormatRfc3339(start - days(1))});
  EXPECT_TRUE(vault_->GetArchivedRecord(kTenant, "people", person));  // 51 days: kept

  // The rule stops archiving: what its 30 days let expire leaves the archive at the next pass.
  const auto no_archive = Rules(R"(
[[retention]]
name = "people"
collections = ["people"]
days = 30

[[retention]]
name = "events"
collections = ["@activity"]
days = 30
)");
  pass = job.RunPass({std::string(kTenant), 2, no_archive}, "test", false);
  EXPECT_EQ(pass.error, "");
  EXPECT_EQ(pass.purged, 2u);
  EXPECT_EQ(pass.archived, 0u);
  EXPECT_EQ(vault_->GetArchivedRecord(kTenant, "people", person).error().code(),
            ErrorCode::kNotFound);
  EXPECT_TRUE(archived_events().empty());
  EXPECT_EQ(rows(1, "archived_records"), 0u);
  EXPECT_EQ(rows(1, "archived_by_subject"), 0u);
  EXPECT_EQ(rows(2, "archived_events"), 0u);
  EXPECT_TRUE(RecordExists("contacts", contact));
  const std::string text = metrics_.RenderText();
  EXPECT_NE(text.find("strongroom_retention_archived_total{data=\"records\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("strongroom_retention_archived_total{data=\"activity\"} 3"),
            std::string::npos);
}

// Of several rules, the shortest wins at each stage: the fewest days decide when a record leaves
// the live data, the fewest days + archive_days when it is deleted; and a move holds the
// subject's gate stripe only until its write is durable, so an erasure asked for while the pass
// paces itself goes through at once.
TEST_F(RetentionTest, EachStageOfTheArchiveKeepsToTheShortestRule) {
  const std::string visit = Record("visits", R"({"note": "x", "diagnosis": "y"})");
  const auto rules = Rules(R"(purposes = ["legal"]
[[retention]]
name = "archive early"
collections = ["visits"]
days = 10
archive_days = 100

[[retention]]
name = "health"
collections = ["visits"]
categories = ["health"]
days = 40

[[retention]]
name = "events"
collections = ["@activity"]
days = 10
archive_days = 100
)");
  auto job = MakeJob();
  now_ += days(11);
  auto pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].rule, "archive early");
  EXPECT_EQ(pass.purges[0].action, "archive");
  EXPECT_FALSE(RecordExists("visits", visit));
  now_ += days(30);  // 41 days: "health" (40 in all) deletes it, long before 10 + 100
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].rule, "health");
  EXPECT_EQ(pass.purges[0].action, "purge_archived");
  EXPECT_EQ(vault_->GetArchivedRecord(kTenant, "visits", visit).error().code(),
            ErrorCode::kNotFound);

  // The gate: a pass paced between batches holds no stripe, so the erasure of the subject
  // whose record or event it just moved is not held up (the gate's Erase waits for writes).
  const auto erasable_while_paced = [&](const auto& sweep, SweepResult& result) {
    std::atomic<bool> erased{false};
    bool while_paced = false;
    std::thread eraser;
    SweepControl control{
        .now = now_, .batch = 1, .dry_run = false, .held = nullptr, .pace = nullptr};
    control.pace = [&](std::size_t, std::size_t, std::size_t archived) {
      if (archived > 0 && !eraser.joinable()) {
        eraser = std::thread([&] {
          seal_->gate().Erase(kTenant, subject_);
          erased = true;
        });
        for (int i = 0; i < 200 && !erased; ++i) {  // bounded: 2 s
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        while_paced = erased;
      }
      return true;
    };
    EXPECT_TRUE(sweep(control, result));
    EXPECT_TRUE(eraser.joinable());
    if (eraser.joinable()) eraser.join();  // (a held stripe would have let it finish only now)
    seal_->gate().Unerase(kTenant, subject_);
    return while_paced;
  };
  const std::string other = Record("visits", R"({"note": "z"})");
  now_ += days(11);
  SweepResult records;
  EXPECT_TRUE(erasable_while_paced(
      [&](const SweepControl& c, SweepResult& r) {
        return vault_->SweepRecords(kTenant, "visits", rules, c, r).has_value();
      },
      records));
  EXPECT_EQ(records.archived.at(0), 1u);
  EXPECT_TRUE(vault_->GetArchivedRecord(kTenant, "visits", other));
  Event(FormatRfc3339(now_ - days(20)));
  SweepResult events;
  EXPECT_TRUE(erasable_while_paced(
      [&](const SweepControl& c, SweepResult& r) {
        return vault_->SweepActivity(kTenant, rules, c, r).has_value();
      },
      events));
  EXPECT_EQ(events.archived.at(2), 1u);
}

// Documents: archived with their manifest moved (the chunks stay, under the same key), read from
// the archive, not deletable there through the API, and deleted with their chunks later.
TEST_F(RetentionTest, DocumentsAreArchivedReadThereAndDeletedWithTheirChunksLater) {
  const std::string document = Document();
  const auto rules = Rules(R"(purposes = ["legal"]
[[retention]]
name = "scans"
collections = ["@documents"]
days = 10
archive_days = 20
)");
  const auto rows = [this](std::string_view space) {
    auto scanned = stores_[3]->Scan(space, "", 100);
    EXPECT_TRUE(scanned);
    return scanned ? scanned->size() : 0;
  };
  auto job = MakeJob();
  now_ += days(11);
  auto pass = job.RunPass({std::string(kTenant), 1, rules}, "test", true);  // dry run
  EXPECT_EQ(pass.archived, 1u);
  EXPECT_EQ(DocumentCount(), 1u);
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.error, "");
  EXPECT_EQ(pass.archived, 1u);
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].data, "@documents");
  EXPECT_EQ(pass.purges[0].action, "archive");
  EXPECT_EQ(DocumentCount(), 0u);
  EXPECT_EQ(documents_->Open(kTenant, subject_, document).error().code(), ErrorCode::kNotFound);
  auto listed = documents_->List(kTenant, subject_, Page{.limit = 10, .cursor = ""}, true);
  ASSERT_TRUE(listed) << listed.error().message();
  ASSERT_EQ(listed->at("documents").as_array().size(), 1u);
  EXPECT_TRUE(listed->at("documents").as_array()[0].at("archived").as_bool());
  auto reader = documents_->Open(kTenant, subject_, document, true);
  ASSERT_TRUE(reader) << reader.error().message();
  std::vector<std::uint8_t> out(16);
  auto read = (*reader)->Read(out);
  ASSERT_TRUE(read);
  EXPECT_EQ(std::string(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*read)), "scan");
  reader->reset();
  EXPECT_EQ(documents_->Delete(kTenant, subject_, document).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(rows("documents"), 0u);
  EXPECT_EQ(rows("archived_documents"), 1u);
  EXPECT_EQ(rows("chunks"), 1u);

  now_ += days(20);  // 31 days: past 10 + 20
  pass = job.RunPass({std::string(kTenant), 1, rules}, "test", false);
  EXPECT_EQ(pass.purged, 1u);
  ASSERT_EQ(pass.purges.size(), 1u);
  EXPECT_EQ(pass.purges[0].action, "purge_archived");
  EXPECT_EQ(rows("archived_documents"), 0u);
  EXPECT_EQ(rows("chunks"), 0u);
  EXPECT_NE(metrics_.RenderText().find("strongroom_retention_archived_total{data=\"documents\"} 1"),
            std::string::npos);
}
}  // namespace
}  // namespace strongroom::records
