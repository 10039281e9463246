#pragma once
// VaultService: the personal-data service above the barrier (vault_service.cc: tenants,
// collections, subjects; vault_records.cc: records; vault_activity.cc: activity). Tenants,
// collections (schemas),
// data subjects, records (with blind-index search) and activity events, each kind in its own
// store (docs/architecture.md, "Data at rest"):
//
//   metadata  tenants, collections, subjects, wrapped keys  (metadata.db)
//   profiles  records, blind indexes, subject->record links  (profiles.db)
//   activity  time-stamped events per subject                (activity.db)
//
// Requests arrive as parsed JSON and answers leave as JSON (the API layer is thin). Every value
// of a record field or event is encrypted by the DataBarrier under its subject's key before it
// reaches a store, bound to (tenant, collection, record, field); the stores see ids, schema
// names, timestamps, ciphertext and keyed hashes only. Errors are invalid_argument with a JSON
// path for bad input; data_loss (logged as the security event `security.ciphertext_rejected`,
// with ids only) for ciphertext that fails to authenticate; sealed when the keys are not loaded.
//
// Thread-safe. Record updates and deletes are serialised per record (striped locks) so two
// concurrent PATCHes cannot lose each other's fields. Every write holds its subjects in the seal
// state's SubjectGate from before it checks they exist until its batch is durable, so that an
// erasure (records/subject_erasure.h) never misses a row written alongside it. Borrows the
// stores and the seal state.

#include <array>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/records/retention_rule.h"
#include "strongroom/records/schema.h"
#include "strongroom/records/subject_choices.h"
#include "strongroom/storage/store.h"

namespace strongroom::records {

struct Stores {
  storage::Store& metadata;
  storage::Store& profiles;
  storage::Store& activity;
};

struct Page {
  std::size_t limit = 50;
  std::string cursor;  // opaque, from a previous page's next_cursor
};

inline constexpr std::size_t kMaxPageSize = 200;
inline constexpr std::size_t kMaxBatchItems = 100;

// How a retention sweep (records/retention.h) runs: it compares against `now`, handles
// `batch` entries per store write, and after each batch asks `pace` (with what the batch scanned,
// deleted and moved into the archive) whether to go on: false stops it there.
struct SweepControl {
  std::chrono::system_clock::time_point now;
  std::size_t batch = 256;
  bool dry_run = false;  // count what would be purged, delete nothing
  // Subjects whose data is kept whatever its age (restricted ones); null: none.
  const std::set<std::string, std::less<>>* held = nullptr;
  std::function<bool(std::size_t scanned, std::size_t purged, std::size_t archived)> pace;
};
// What a sweep did, added to across sweeps: `purged[i]` counts the entries rules[i] (of the span
// the sweep was given) let expire first.
struct SweepResult {
  std::vector<std::uint64_t> purged;
  // Moved into the archive (rules[i] has archive_days), and deleted from the archive (its
  // archive_days over), by rule like `purged`. A dry run counts them as it counts purges.
  std::vector<std::uint64_t> archived;
  std::vector<std::uint64_t> archive_purged;
  std::uint64_t scanned = 0;
  std::uint64_t unreadable = 0;  // entries whose time did not parse: left alone
  std::uint64_t held = 0;        // expired entries of held subjects: left alone
  bool stopped = false;          // `pace` stopped it before the end
};

class VaultService {
 public:
  VaultService(Stores stores, barrier::SealState& seal);

  // Tenants. Creating one also creates its KEK and index key (so the vault must be unsealed).
  Result<boost::json::object> CreateTenant(const boost::json::value& body);
  Result<boost::json::object> ListTenants();
  Result<bool> TenantExists(std::string_view tenant);

  Result<boost::json::object> CreateCollection(std::string_view tenant,
                                               const boost::json::value& body);
  Result<boost::json::object> GetCollection(std::string_view tenant, std::string_view name);
  Result<boost::json::object> ListCollections(std::string_view tenant, const Page& page);
  Result<boost::json::object> EvolveCollection(std::string_view tenant, std::string_view name,
                                               const boost::json::value& body);

  Result<boost::json::object> CreateSubject(std::string_view tenant,
                                            const boost::json::value& body);
  Result<boost::json::object> GetSubject(std::string_view tenant, std::string_view id);
  Result<boost::json::object> ListSubjects(std::string_view tenant, const Page& page);

  Result<boost::json::object> CreateRecord(std::string_view tenant, std::string_view collection,
                                           const boost::json::value& body);
  // {"records": [...]}: each item is validated and written whole or not at all; the answer
  // lists a status (and the record or the error) per item, in order.
  Result<boost::json::object> CreateRecords(std::string_view tenant, std::string_view collection,
                                            const boost::json::value& body);
  Result<boost::json::object> GetRecord(std::string_view tenant, std::string_view collection,
                                        std::string_view id);
  Result<boost::json::object> UpdateRecord(std::string_view tenant, std::string_view collection,
                                           std::string_view id, const boost::json::value& body);
  Result<void> DeleteRecord(std::string_view tenant, std::string_view collection,
                            std::string_view id);
  Result<boost::json::object> ListRecords(std::string_view tenant, std::string_view collection,
                                          const Page& page);
  // The subject's records in every collection, decrypted, ordered by collection then id:
  // {"records": [...], "next_cursor"} (the cursor is this call's own, for the export); with
  // `archived`, its records in the archive.
  Result<boost::json::object> ListSubjectRecords(std::string_view tenant, std::string_view subject,
                                                 const Page& page, bool archived = false);
  // How much is held about the subject, from the stores' keys (nothing decrypted):
  // {"records", "activity_events", "consents"}, the archived records and events included
  // unless `with_archive` is false.
  Result<boost::json::object> CountSubjectData(std::string_view tenant, std::string_view subject,
                                               bool with_archive = true);
  // {"field": "email", "value": "..."}: exact match on an indexed field through its blind index.
  Result<boost::json::object> SearchRecords(std::string_view tenant, std::string_view collection,
                                            const boost::json::value& body);

  // The collection's current schema (not_found if there is none).
  Result<std::shared_ptr<const Schema>> CollectionSchema(std::string_view tenant,
                                                         std::string_view collection);
  // The keyed-hash pseudonym of a valid value of `field` (normalised as for its blind index):
  // what a "hashed" view shows (DataBarrier::Pseudonym).
  Result<std::string> Pseudonym(std::string_view tenant, const FieldSpec& field,
                                const boost::json::value& value);

  // One event {"type", "occurred_at"?, "data"?} or {"events": [...]} (all or nothing).
  Result<boost::json::object> AppendActivity(std::string_view tenant, std::string_view subject,
                                             const boost::json::value& body);
  // A consent record {"purpose", "given", "text_version"} for the subject (docs/privacy.md):
  // `purposes` are those the tenant's policy names; `recorded_by` the caller's principal id.
  Result<boost::json::object> RecordConsent(std::string_view tenant, std::string_view subject,
                                            const boost::json::value& body,
                                            std::span<const std::string> purposes,
                                            std::string_view recorded_by);
  // {"subject_id", "current": {purpose: the latest record}, "history": [oldest first]}.
  Result<boost::json::object> ListConsents(std::string_view tenant, std::string_view subject);
  // The subject's processing state {"restricted": bool, "objections": [purpose, …]}, replaced
  // whole (docs/privacy.md): objections name purposes of `purposes` (the tenant policy's) other
  // than "legal" and "subject-request".
  Result<boost::json::object> SetProcessing(std::string_view tenant, std::string_view subject,
                                            const boost::json::value& body,
                                            std::span<const std::string> purposes,
                                            std::string_view recorded_by);
  // The stored state, or {"restricted": false, "objections": [], "updated_at": null}.
  Result<boost::json::object> GetProcessing(std::string_view tenant, std::string_view subject);
  // The subject's restriction, objections and consents as the policy weighs them on a read
  // (null: none), from memory once loaded; would_block inside a NonBlockingScope when they
  // must be read from the stores.
  Result<std::shared_ptr<const SubjectChoices>> Choices(std::string_view tenant,
                                                        std::string_view subject);
  // The subject was erased: its choices leave memory too.
  void ForgetChoices(std::string_view tenant, std::string_view subject);
  // Retention (records/retention.h, docs/privacy.md "Retention"). The sweeps decrypt nothing
  // (the times are in the stores' keys and envelopes); they skip the subjects in control.held.
  // The record collections of the tenant, by name.
  Result<std::vector<std::string>> CollectionNames(std::string_view tenant);
  // The tenant's restricted subjects (their processing state, decrypted through the choices
  // cache): sealed while sealed.
  Result<std::set<std::string, std::less<>>> RestrictedSubjects(std::string_view tenant);
  // Checkpoints the profiles and activity stores (deleted pages leave the write-ahead logs);
  // the first failure is logged, not returned (a backup's snapshot may hold a checkpoint off).
  void CheckpointStores();
  // Deletes (with their index entries) the records of the collection that a rule of `rules` lets
  // expire: past the shortest `days` of the rules that name the collection and, for rules with
  // grades or categories, match a field the record holds, counted from its updated_at. A record
  // changed meanwhile is re-read under its lock and kept if no longer expired.
  Result<void> SweepRecords(std::string_view tenant, std::string_view collection,
                            std::span<const RetentionRule> rules, const SweepControl& control,
                            SweepResult& result);
  // Deletes the tenant's activity events older than the shortest `days` of the rules naming
  // "@activity" (by occurred_at). Each subject's events are in time order, so the scan leaves a
  // subject at its first event still kept.
  Result<void> SweepActivity(std::string_view tenant, std::span<const RetentionRule> rules,
                             const SweepControl& control, SweepResult& result);
  // Events with from <= occurred_at < to (RFC 3339; either may be empty), oldest first; with
  // `archived`, those in the archive (each marked "archived": true).
  Result<boost::json::object> ListActivity(std::string_view tenant, std::string_view subject,
                                           std::string_view from, std::string_view to,
                                           const Page& page, bool archived = false);

  // The archive (docs/privacy.md, "The archive"): records a retention rule with archive_days
  // moved out of the live spaces, decrypted like live ones and marked "archived": true. The
  // API reads them only for the purpose `legal`. One record (not_found when it is not there).
  Result<boost::json::object> GetArchivedRecord(std::string_view tenant,
                                                std::string_view collection, std::string_view id);
  // {"records": [...], "next_cursor"}: the collection's archived records by id, or only the
  // subject's when `subject` is not empty (not_found for a subject that does not exist).
  Result<boost::json::object> ListArchivedRecords(std::string_view tenant,
                                                  std::string_view collection,
                                                  std::string_view subject, const Page& page);

 private:
  struct PreparedRecord;
  // The keys (sealed: `sealed`) and the collection's schema (not_found): what every record call
  // needs first.
  struct CollectionAccess {
    std::shared_ptr<barrier::VaultKeys> keys;
    std::shared_ptr<const Schema> schema;
  };
  Result<CollectionAccess> OpenCollection(std::string_view tenant, std::string_view collection);
  Result<std::shared_ptr<barrier::VaultKeys>> Keys() const;
  // The stored subject, or nullopt (also for text that is not a subject id).
  Result<std::optional<storage::Bytes>> FindSubject(std::string_view tenant, std::string_view id);
  Result<void> SubjectExists(std::string_view tenant, std::string_view id);  // not_found
  // Reads and decrypts one record (from the archive with `archived`, and marked so); not_found
  // if there is none.
  Result<boost::json::object> LoadRecord(barrier::VaultKeys& keys, std::string_view tenant,
                                         std::string_view collection, std::string_view id,
                                         bool archived = false);
  Result<std::shared_ptr<const Schema>> LoadSchema(std::string_view tenant, std::string_view name);
  Result<void> RequireSubject(std::string_view tenant, std::string_view subject,
                              const std::string& path);
  // Enters the record's subject into `guard` before it checks that the subject exists.
  Result<PreparedRecord> PrepareRecord(barrier::VaultKeys& keys, std::string_view tenant,
                                       const Schema& schema, const boost::json::value& body,
                                       barrier::SubjectGate::WriteGuard& guard);
  // Validates, encrypts and adds one new record to `batch`; returns the answer for it. `guard`
  // holds the record's subject from then until the caller has written `batch` (an erasure of
  // the subject waits for it, or it finds the subject erased).
  Result<boost::json::object> CreateOne(barrier::VaultKeys& keys, std::string_view tenant,
                                        const Schema& schema, const boost::json::value& body,
                                        storage::WriteBatch& batch,
                                        barrier::SubjectGate::WriteGuard& guard);
  // Adds to `batch` the deletion of a stored record and of its index and subject entries.
  static void DeleteRecordRows(std::string_view tenant, std::string_view collection,
                               std::string_view id, const boost::json::object& envelope,
                               storage::WriteBatch& batch);
  // Adds to `batch` the move of a stored record into the archive: DeleteRecordRows, then its
  // envelope (less its blind-index hashes) and its subject's link under the archive spaces.
  static void ArchiveRecordRows(std::string_view tenant, std::string_view collection,
                                std::string_view id, const boost::json::object& envelope,
                                storage::WriteBatch& batch);
  Result<boost::json::object> DecryptRecord(barrier::VaultKeys& keys, std::string_view tenant,
                                            std::string_view collection, std::string_view id,
                                            const storage::Bytes& stored);
  std::mutex& RecordLock(std::string_view id);
  // For choices_: the subjects of a tenant with consents or a processing state, and one
  // subject's choices decrypted.
  Result<std::vector<std::string>> SubjectsWithChoices(std::string_view tenant);
  Result<SubjectChoices> LoadChoices(std::string_view tenant, std::string_view subject);
  // The stored processing state (decrypted), or nullopt.
  Result<std::optional<boost::json::object>> LoadProcessing(barrier::VaultKeys& keys,
                                                            std::string_view tenant,
                                                            std::string_view subject);

  Stores stores_;
  barrier::SealState& seal_;
  std::shared_mutex schemas_mu_;
  std::map<std::string, std::shared_ptr<const Schema>, std::less<>> schemas_;
  std::mutex schema_write_mu_;  // collection creation and evolution
  std::array<std::mutex, 64> record_locks_;
  // Shared with the seal state's listener (which may outlive this service) through a weak one.
  std::shared_ptr<SubjectChoicesCache> choices_;
};

}  // namespace strongroom::records
