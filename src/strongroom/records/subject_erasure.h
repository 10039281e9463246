#pragma once
// Subject erasure (GDPR art. 17, CCPA deletion): crypto-shredding first, then the rows.
//
//   1. shred: the barrier forgets the subject's keys (barrier/data_barrier.h, Forget), then one
//      atomic metadata batch deletes the subject and every version of its wrapped data key and
//      puts a marker `erasures/<tenant>/<subject>` (the purge's to-do). From here on nothing of
//      the subject decrypts, anywhere the key is gone from.
//   2. purge: the rows that held its ciphertext go, in batches: records with their blind-index
//      entries and subject links (profiles), activity events, documents and their chunks,
//      finished or not.
//   3. the signed receipt is appended to the erasure ledger (privacy/erasure_ledger.h) and
//      copied to every backup target; then the marker goes and every store is checkpointed, so
//      the deleted bytes leave the write-ahead logs too (secure_delete zeroes them in the main
//      files).
// A crash between the steps leaves the marker: ResumePending() finishes the work (at start and
// after unsealing). A restore replays the ledger into the restored files before they open
// (ReplayErasures), which is how an erasure reaches every backup ever taken.
//
// With a grace period (privacy.erasure_grace_days, docs/privacy.md "Erasure grace period") an
// erasure is scheduled first (soft delete): the subject is marked erased in the seal state's
// gate at once, so every read and write of its data answers not_found as after an erasure, but
// nothing is destroyed until ErasePending() runs after its `erase_at`; CancelScheduled() undoes
// it until then. The schedule is kept in the metadata space `erasure_schedule` and hidden again
// at every start (LoadScheduled).
//
// SubjectEraser is thread-safe; erasures run one at a time (a mutex: they are rare and touch
// every store). Borrows the stores, the seal state and the ledger.

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/error.h"
#include "strongroom/privacy/erasure_ledger.h"
#include "strongroom/storage/store.h"

namespace strongroom::records {

// The metadata space of the erasure markers.
inline constexpr std::string_view kErasures = "erasures";
// The metadata space of erasures waiting for their grace period to end: "<tenant>/<subject>".
inline constexpr std::string_view kErasureSchedule = "erasure_schedule";

struct ErasureStores {
  storage::Store& metadata;
  storage::Store& profiles;
  storage::Store& activity;
  storage::Store& documents;
};

class SubjectEraser {
 public:
  // `ledger_copies`: directories that get a copy of the ledger after each erasure (the backup
  // targets); a copy that fails is logged (privacy.ledger_copy_failed) and does not fail the
  // erasure, which is done and receipted by then.
  SubjectEraser(ErasureStores stores, barrier::SealState& seal, privacy::ErasureLedger& ledger,
                std::vector<std::filesystem::path> ledger_copies);

  // Erases the subject: {"subject", "erased_at", "destroyed": {...}, "receipt": {...}}.
  // not_found for no such subject, sealed while sealed. A subject named as a guardian of a minor
  // keeps that minor's link (an id, not personal data) until the minor is updated.
  Result<boost::json::object> Erase(std::string_view tenant, std::string_view subject);
  // Finishes erasures a crash interrupted (markers left): purge, receipt, checkpoint. Returns
  // how many. While sealed it only checkpoints the stores (the rest needs the keys: call it
  // again after unsealing).
  Result<std::size_t> ResumePending();
  // After each backup job (BackupService::ErasureHooks): copies the ledger to every target
  // again (one missed at an erasure catches up) and makes a checkpoint a backup's snapshot held
  // off.
  void AfterBackup();

  // The grace period. Schedules the subject's erasure `grace` after `now` and hides the subject
  // at once (waiting for the writes that hold it): {"subject", "state": "scheduled",
  // "requested_at", "erase_at"}. A subject already scheduled keeps its date (the same answer).
  // not_found for no such subject (or one erased). Needs no keys (the API asks for them anyway).
  Result<boost::json::object> Schedule(std::string_view tenant, std::string_view subject,
                                       std::chrono::system_clock::time_point now,
                                       std::chrono::seconds grace);
  // Cancels a scheduled erasure: the subject and its data are back as they were.
  // {"subject", "state": "cancelled"}; not_found when none is scheduled.
  Result<boost::json::object> CancelScheduled(std::string_view tenant, std::string_view subject);
  // At start: hides every scheduled subject again; returns how many are scheduled.
  Result<std::size_t> LoadScheduled();
  // Erases every scheduled subject whose erase_at is at or before `now`, each as Erase() does
  // (receipt and all; the shred deletes its schedule entry in the same batch); returns the
  // erasures' answers with their tenants ({"tenant", ...Erase's answer}), also when a later one
  // failed (that one stays scheduled and hidden, is logged and tried again at the next call).
  // sealed while sealed (nothing done).
  Result<std::vector<boost::json::object>> ErasePending(std::chrono::system_clock::time_point now);
  std::size_t CountScheduled() const { return scheduled_count_.load(); }

 private:
  // Purge, receipt (unless the ledger has `receipt_id` already), copies, marker, checkpoint.
  // Expects mu_ held.
  Result<boost::json::object> Finish(std::string_view tenant, std::string_view subject,
                                     std::string_view erased_at, std::string_view receipt_id,
                                     std::uint64_t keys);
  Result<std::size_t> ResumeLocked();  // expects mu_ held
  Result<boost::json::object> EraseLocked(std::string_view tenant, std::string_view subject);
  // The schedule's entries (key "<tenant>/<subject>", value {"requested_at", "erase_at"}).
  Result<std::vector<storage::Entry>> ScheduledEntries();
  void CopyLedger();
  void Checkpoint();  // expects mu_ held

  ErasureStores stores_;
  barrier::SealState& seal_;
  privacy::ErasureLedger& ledger_;
  std::vector<std::filesystem::path> ledger_copies_;
  std::mutex mu_;
  bool checkpoint_owed_ = false;  // guarded by mu_
  std::atomic<std::size_t> scheduled_count_{0};  // for the metric; changed under mu_
};

// Step 1 without the barrier (no keys needed): deletes the subject and its wrapped keys and
// puts the marker. Returns how many keys went; not_found if there is no such subject.
// `receipt_id` is kept in the marker, so a resumed erasure finds its receipt if it was written.
Result<std::uint64_t> ShredSubject(ErasureStores& stores, std::string_view tenant,
                                   std::string_view subject, std::string_view erased_at,
                                   std::string_view receipt_id = {});
// Step 2: deletes every row of the subject's data (idempotent); keeps the marker.
Result<privacy::ErasureCounts> PurgeSubject(ErasureStores& stores, std::string_view tenant,
                                            std::string_view subject);

struct ReplayReport {
  std::size_t receipts = 0;  // distinct receipts read from the ledgers
  std::size_t erased = 0;    // subjects of the restored vault erased by them
  std::size_t finished = 0;  // erasures the backup caught half-done (or between stores), finished
  std::vector<std::string> skipped;  // ledgers not replayed: "<path> (why)"
};
// Replays erasure ledgers into the (restored, not yet serving) vault in `data_dir`: every subject
// whose pseudonym a receipt names is shredded and purged, erasures the backup caught half-done
// are finished (a marker, or rows of a subject the metadata no longer has), the stores are
// checkpointed, and the longest ledger is kept as `<data_dir>/erasure-ledger.jsonl` (with a
// receipt added for a half-done erasure the ledgers lack). `ledgers` must check out (data_loss
// otherwise); `copies` (on backup targets) that cannot be read or do not check out are skipped
// and reported (privacy::ReadErasedSubjects).
Result<ReplayReport> ReplayErasures(const std::filesystem::path& data_dir,
                                    const std::vector<std::filesystem::path>& ledgers,
                                    const std::vector<std::filesystem::path>& copies,
                                    const privacy::LedgerKeys& keys);

}  // namespace strongroom::records
