#include "strongroom/records/subject_erasure.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <set>
#include <utility>

#include "strongroom/base/files.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/service_support.h"
#include "strongroom/records/token_vault.h"
#include "strongroom/storage/sqlite_store.h"

namespace strongroom::records {

namespace json = boost::json;
namespace fs = std::filesystem;
using internal::Join;
using internal::kBySubject;
using internal::kChunks;
using internal::kDocuments;
using internal::kEvents;
using internal::kIndex;
using internal::kRecords;
using internal::kSubjects;
using internal::kUploads;
using internal::ParseStored;
using internal::ScanPrefix;
using internal::Serialize;

namespace {

// Deletes per batch: bounded, so one erasure never makes one huge commit that holds up every
// other writer of the store.
constexpr std::size_t kDeletesPerBatch = 512;
constexpr std::size_t kAll = static_cast<std::size_t>(-1);

std::string DekPrefix(std::string_view tenant, std::string_view subject) {
  return "dek/" + Join({tenant, subject}) + "/";
}

// Accumulates deletes and writes them in bounded batches.
class Deleter {
 public:
  explicit Deleter(storage::Store& store) : store_(store) {}
  Result<void> Delete(std::string_view space, std::string_view key) {
    batch_.Delete(space, key);
    if (++pending_ < kDeletesPerBatch) return {};
    return Flush();
  }
  Result<void> Flush() {
    if (pending_ == 0) return {};
    pending_ = 0;
    return store_.Write(std::exchange(batch_, storage::WriteBatch()));
  }

 private:
  storage::Store& store_;
  storage::WriteBatch batch_;
  std::size_t pending_ = 0;
};

// The keys under `prefix` in `space` (whole keys), all of them.
Result<std::vector<std::string>> KeysUnder(storage::Store& store, std::string_view space,
                                           const std::string& prefix) {
  std::vector<std::string> keys;
  auto scanned = ScanPrefix(store, space, prefix, "", kAll,
                            [&](std::string_view suffix, const storage::Bytes&) {
                              keys.push_back(prefix + std::string(suffix));
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  return keys;
}

Result<void> PurgeProfiles(storage::Store& profiles, std::string_view tenant,
                           std::string_view subject, privacy::ErasureCounts& counts) {
  const std::string prefix = Join({tenant, subject}) + "/";
  auto links = KeysUnder(profiles, kBySubject, prefix);
  if (!links) return std::unexpected(links.error());
  Deleter deleter(profiles);
  for (const std::string& link : *links) {
    // <tenant>/<subject>/<collection>/<rec_id>
    const std::string_view rest = std::string_view(link).substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) continue;
    const std::string_view collection = rest.substr(0, slash);
    const std::string_view id = rest.substr(slash + 1);
    const std::string record_key = Join({tenant, collection, id});
    auto stored = profiles.Get(kRecords, record_key);
    if (!stored) return std::unexpected(stored.error());
    if (*stored) {
      auto envelope = ParseStored(**stored, "record");
      if (!envelope) return std::unexpected(envelope.error());
      if (const auto* indexes = envelope->if_contains("index"); indexes && indexes->is_object()) {
        for (const auto& [name, index] : indexes->get_object()) {
          if (!index.is_string()) continue;
          if (auto done =
                  deleter.Delete(kIndex, Join({tenant, collection, name, index.get_string(), id}));
              !done) {
            return done;
          }
          ++counts.index_entries;
        }
      }
      if (auto done = deleter.Delete(kRecords, record_key); !done) return done;
      ++counts.records;
    }
    if (auto done = deleter.Delete(kBySubject, link); !done) return done;
  }
  // Its archived records (retention's archive): the record and its link.
  auto archived = KeysUnder(profiles, internal::kArchivedBySubject, prefix);
  if (!archived) return std::unexpected(archived.error());
  for (const std::string& link : *archived) {
    const std::string_view rest = std::string_view(link).substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos) {
      const std::string record_key = Join({tenant, rest.substr(0, slash), rest.substr(slash + 1)});
      // Counted only when it is there (an erasure resumed after its delete was written finds
      // the link alone).
      auto stored = profiles.Get(internal::kArchivedRecords, record_key);
      if (!stored) return std::unexpected(stored.error());
      if (*stored) {
        if (auto done = deleter.Delete(internal::kArchivedRecords, record_key); !done) return done;
        ++counts.records;
      }
    }
    if (auto done = deleter.Delete(internal::kArchivedBySubject, link); !done) return done;
  }
  if (auto flushed = deleter.Flush(); !flushed) return flushed;
  // The tokens made of its values (token_vault.h): every link goes, and each token that no
  // other subject (nor the tenant) holds goes with it. One batch per token, under the token's
  // link lock, so that a link written for another subject meanwhile is either seen here (the
  // token stays) or written after the delete (and puts the token back). In each batch the
  // token goes first and the link last: an erasure cut short finds the link again.
  auto tokens = KeysUnder(profiles, kTokenLinks, prefix);
  if (!tokens) return std::unexpected(tokens.error());
  for (const std::string& link : *tokens) {
    const std::string_view token = std::string_view(link).substr(prefix.size());
    const std::string holders = Join({tenant, token}) + "/";
    const std::string_view one[] = {token};
    const auto locked = LockTokenLinks(tenant, one);
    bool shared = false;
    auto scanned = ScanPrefix(profiles, kTokenHolders, holders, "", 2,
                              [&](std::string_view holder, const storage::Bytes&) {
                                shared = shared || holder != subject;
                                return !shared;
                              });
    if (!scanned) return std::unexpected(scanned.error());
    storage::WriteBatch batch;
    if (!shared) batch.Delete(kTokensSpace, Join({tenant, token}));
    batch.Delete(kTokenHolders, holders + std::string(subject));
    batch.Delete(kTokenLinks, link);
    if (auto written = profiles.Write(std::move(batch)); !written) return written;
    if (!shared) ++counts.tokens;
  }
  return {};
}

Result<void> PurgeActivity(storage::Store& activity, std::string_view tenant,
                           std::string_view subject, privacy::ErasureCounts& counts) {
  auto events = KeysUnder(activity, kEvents, Join({tenant, subject}) + "/");
  if (!events) return std::unexpected(events.error());
  auto archived = KeysUnder(activity, internal::kArchivedEvents, Join({tenant, subject}) + "/");
  if (!archived) return std::unexpected(archived.error());
  auto consents = KeysUnder(activity, internal::kConsents, Join({tenant, subject}) + "/");
  if (!consents) return std::unexpected(consents.error());
  Deleter deleter(activity);
  for (const std::string& key : *events) {
    if (auto done = deleter.Delete(kEvents, key); !done) return done;
    ++counts.activity_events;
  }
  for (const std::string& key : *archived) {
    if (auto done = deleter.Delete(internal::kArchivedEvents, key); !done) return done;
    ++counts.activity_events;
  }
  for (const std::string& key : *consents) {
    if (auto done = deleter.Delete(internal::kConsents, key); !done) return done;
    ++counts.consents;
  }
  auto processing = KeysUnder(activity, internal::kProcessing, Join({tenant, subject}) + "/");
  if (!processing) return std::unexpected(processing.error());
  for (const std::string& key : *processing) {
    if (auto done = deleter.Delete(internal::kProcessing, key); !done) return done;
    ++counts.processing;
  }
  return deleter.Flush();
}

Result<void> PurgeDocuments(storage::Store& documents, std::string_view tenant,
                            std::string_view subject, privacy::ErasureCounts& counts) {
  const std::string prefix = Join({tenant, subject}) + "/";
  Deleter deleter(documents);
  // Finished documents, archived ones and unfinished uploads: each names its chunks by
  // document id.
  for (const std::string_view space : {kDocuments, internal::kArchivedDocuments, kUploads}) {
    auto names = KeysUnder(documents, space, prefix);
    if (!names) return std::unexpected(names.error());
    for (const std::string& key : *names) {
      const std::string_view id = std::string_view(key).substr(prefix.size());
      auto chunks = KeysUnder(documents, kChunks, Join({tenant, id}) + "/");
      if (!chunks) return std::unexpected(chunks.error());
      for (const std::string& chunk : *chunks) {
        if (auto done = deleter.Delete(kChunks, chunk); !done) return done;
        ++counts.document_chunks;
      }
      if (auto done = deleter.Delete(space, key); !done) return done;
      if (space != kUploads) ++counts.documents;
    }
  }
  return deleter.Flush();
}

// Every store, even after one fails; the first failure is the answer.
Result<void> CheckpointAll(ErasureStores& stores) {
  Result<void> first;
  for (storage::Store* store :
       {&stores.metadata, &stores.profiles, &stores.activity, &stores.documents}) {
    if (auto done = store->Checkpoint(); !done && first) first = done;
  }
  return first;
}

struct Marker {
  std::string tenant, subject, erased_at, receipt_id;
  std::uint64_t keys = 0;
};

Marker ParseMarker(std::string_view tenant, std::string_view subject, const json::object& value) {
  Marker m{std::string(tenant), std::string(subject), "", "", 0};
  if (const auto* at = value.if_contains("erased_at"); at && at->is_string()) {
    m.erased_at = at->get_string();
  }
  if (const auto* id = value.if_contains("receipt_id"); id && id->is_string()) {
    m.receipt_id = id->get_string();
  }
  if (const auto* k = value.if_contains("keys"); k && k->is_int64()) {
    m.keys = static_cast<std::uint64_t>(k->get_int64());
  }
  return m;
}

Result<std::vector<Marker>> PendingMarkers(storage::Store& metadata) {
  std::vector<Marker> markers;
  Result<void> failure;
  auto scanned = ScanPrefix(
      metadata, kErasures, "", "", kAll, [&](std::string_view key, const storage::Bytes& value) {
        const auto slash = key.find('/');
        auto parsed = ParseStored(value, "erasure marker");
        if (slash == std::string_view::npos) {
          // Not one an erasure wrote (and its key may name a subject: not logged).
          observe::Error("privacy.erasure_marker_malformed", {});
          return true;
        }
        // A value that does not parse still names the subject: its erasure is finished all
        // the same (with a fresh receipt id).
        markers.push_back(ParseMarker(key.substr(0, slash), key.substr(slash + 1),
                                      parsed ? *parsed : json::object()));
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  return markers;
}

// (tenant, subject) of every subject some data store has rows of and the metadata store has no
// subject (and no erasure marker) for.
Result<std::set<std::pair<std::string, std::string>>> OrphanSubjects(ErasureStores& stores) {
  std::set<std::pair<std::string, std::string>> seen;
  const auto collect = [&](storage::Store& store, std::string_view space) -> Result<void> {
    return ScanPrefix(store, space, "", "", kAll, [&](std::string_view key, const storage::Bytes&) {
      // <tenant>/<sub_id>/...
      const auto first = key.find('/');
      const auto second = key.find('/', first + 1);
      if (first == std::string_view::npos || second == std::string_view::npos) {
        return true;
      }
      seen.emplace(std::string(key.substr(0, first)),
                   std::string(key.substr(first + 1, second - first - 1)));
      return true;
    });
  };
  for (const auto& [store, space] :
       {std::pair<storage::Store*, std::string_view>{&stores.profiles, kBySubject},
        {&stores.profiles, kTokenLinks},
        {&stores.profiles, internal::kArchivedBySubject},
        {&stores.activity, kEvents},
        {&stores.activity, internal::kArchivedEvents},
        {&stores.activity, internal::kConsents},
        {&stores.activity, internal::kProcessing},
        {&stores.documents, kDocuments},
        {&stores.documents, internal::kArchivedDocuments},
        {&stores.documents, kUploads}}) {
    if (auto done = collect(*store, space); !done) return std::unexpected(done.error());
  }
  // The subjects the metadata has, in one pass (not one lookup per subject seen).
  std::set<std::string, std::less<>> known;
  auto listed = ScanPrefix(stores.metadata, kSubjects, "", "", kAll,
                           [&](std::string_view key, const storage::Bytes&) {
                             known.emplace(key);
                             return true;
                           });
  if (!listed) return std::unexpected(listed.error());
  std::set<std::pair<std::string, std::string>> orphans;
  for (const auto& [tenant, subject] : seen) {
    if (!known.contains(Join({tenant, subject}))) orphans.emplace(tenant, subject);
  }
  return orphans;
}

}  // namespace

Result<std::uint64_t> ShredSubject(ErasureStores& stores, std::string_view tenant,
                                   std::string_view subject, std::string_view erased_at,
                                   std::string_view receipt_id) {
  if (!internal::IsSubjectId(subject)) return Fail(ErrorCode::kNotFound, "no such subject");
  auto found = stores.metadata.Get(kSubjects, Join({tenant, subject}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  auto deks = KeysUnder(stores.metadata, keys::kKeysSpace, DekPrefix(tenant, subject));
  if (!deks) return std::unexpected(deks.error());
  // One batch: the subject, its keys and the marker go (and come) together.
  storage::WriteBatch batch;
  for (const std::string& dek : *deks) batch.Delete(keys::kKeysSpace, dek);
  batch.Delete(kSubjects, Join({tenant, subject}));
  // A grace period's schedule goes with the subject (erasure_schedule.cc).
  batch.Delete(kErasureSchedule, Join({tenant, subject}));
  batch.Put(kErasures, Join({tenant, subject}),
            Serialize(json::object{{"erased_at", erased_at},
                                   {"receipt_id", receipt_id},
                                   {"keys", static_cast<std::int64_t>(deks->size())}}));
  if (auto written = stores.metadata.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return deks->size();
}

Result<privacy::ErasureCounts> PurgeSubject(ErasureStores& stores, std::string_view tenant,
                                            std::string_view subject) {
  privacy::ErasureCounts counts;
  if (auto done = PurgeProfiles(stores.profiles, tenant, subject, counts); !done) {
    return std::unexpected(done.error());
  }
  if (auto done = PurgeActivity(stores.activity, tenant, subject, counts); !done) {
    return std::unexpected(done.error());
  }
  if (auto done = PurgeDocuments(stores.documents, tenant, subject, counts); !done) {
    return std::unexpected(done.error());
  }
  return counts;
}

SubjectEraser::SubjectEraser(ErasureStores stores, barrier::SealState& seal,
                             privacy::ErasureLedger& ledger,
                             std::vector<std::filesystem::path> ledger_copies)
    : stores_(stores), seal_(seal), ledger_(ledger), ledger_copies_(std::move(ledger_copies)) {}

Result<json::object> SubjectEraser::Erase(std::string_view tenant, std::string_view subject) {
  if (!internal::IsSubjectId(subject)) return Fail(ErrorCode::kNotFound, "no such subject");
  std::lock_guard lock(mu_);
  return EraseLocked(tenant, subject);
}

Result<json::object> SubjectEraser::EraseLocked(std::string_view tenant, std::string_view subject) {
  // The keys are taken under the lock, after any seal and unseal that came before.
  auto keys = seal_.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  // An earlier try at this subject that failed after destroying its keys: finished now, and
  // its receipt is the answer.
  auto own = stores_.metadata.Get(kErasures, Join({tenant, subject}));
  if (!own) return std::unexpected(own.error());
  if (*own) {
    auto value = ParseStored(**own, "erasure marker");
    const Marker m = ParseMarker(tenant, subject, value ? *value : json::object());
    return Finish(m.tenant, m.subject, m.erased_at, m.receipt_id, m.keys);
  }
  // Others a crash left: finished too, but their trouble is not this request's.
  if (auto resumed = ResumeLocked(); !resumed) {
    observe::Error("privacy.erasure_resume_failed", {{"reason", resumed.error().message()}});
  }
  auto found = stores_.metadata.Get(kSubjects, Join({tenant, subject}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  auto receipt_id = privacy::ErasureLedger::NewReceiptId();
  if (!receipt_id) return std::unexpected(receipt_id.error());
  // Waits for the writes that hold the subject; every later one finds it erased. So no write
  // can save a reservation (or make a new key) after the keys are deleted, nor land a row
  // after the purge has read the stores.
  // A subject hidden for its grace period stays hidden if this fails.
  const bool hidden = seal_.gate().IsErased(tenant, subject);
  auto scheduled = stores_.metadata.Get(kErasureSchedule, Join({tenant, subject}));
  if (!scheduled) return std::unexpected(scheduled.error());
  keys->barrier->Forget(tenant, subject);
  const std::string erased_at = internal::Now();
  auto shredded = ShredSubject(stores_, tenant, subject, erased_at, *receipt_id);
  if (!shredded) {
    if (!hidden) keys->barrier->Unforget(tenant, subject);  // nothing was destroyed
    return std::unexpected(shredded.error());
  }
  if (*scheduled) --scheduled_count_;  // its schedule went with it
  return Finish(tenant, subject, erased_at, *receipt_id, *shredded);
}

Result<json::object> SubjectEraser::Finish(std::string_view tenant, std::string_view subject,
                                           std::string_view erased_at, std::string_view receipt_id,
                                           std::uint64_t keys) {
  const Marker m{std::string(tenant), std::string(subject), std::string(erased_at),
                 std::string(receipt_id), keys};
  auto vault_keys = seal_.keys();
  if (!vault_keys) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  // Also after a restart (a resumed erasure): no write may bring the subject back meanwhile.
  vault_keys->barrier->Forget(m.tenant, m.subject);
  auto counts = PurgeSubject(stores_, m.tenant, m.subject);
  if (!counts) return std::unexpected(counts.error());
  counts->keys = m.keys;
  // A crash after the receipt was appended and before the marker went: the receipt stands.
  std::optional<json::object> receipt;
  if (!m.receipt_id.empty()) {
    auto found = ledger_.Find(m.receipt_id);
    if (!found) return std::unexpected(found.error());
    receipt = std::move(*found);
  }
  if (!receipt) {
    auto ledger_keys = privacy::LedgerKeys::FromRoot(
        [&](std::string_view info) { return vault_keys->keyring->DeriveFromRoot(info); });
    if (!ledger_keys) return std::unexpected(ledger_keys.error());
    std::string id = m.receipt_id;
    if (id.empty()) {
      auto made = privacy::ErasureLedger::NewReceiptId();
      if (!made) return std::unexpected(made.error());
      id = std::move(*made);
    }
    auto appended = ledger_.Append(*ledger_keys, id, m.tenant, m.subject, m.erased_at, *counts);
    if (!appended) return std::unexpected(appended.error());
    receipt = std::move(*appended);
  }
  CopyLedger();
  storage::WriteBatch done;
  done.Delete(kErasures, Join({m.tenant, m.subject}));
  if (auto written = stores_.metadata.Write(std::move(done)); !written) {
    return std::unexpected(written.error());
  }
  Checkpoint();
  json::object& signed_receipt = (*receipt)["receipt"].as_object();
  const std::string pseudonym(signed_receipt["subject"].as_string());
  observe::Info("privacy.subject_erased",
                {{"tenant", m.tenant},
                 {"subject", pseudonym},
                 {"records", static_cast<std::int64_t>(counts->records)},
                 {"activity_events", static_cast<std::int64_t>(counts->activity_events)},
                 {"documents", static_cast<std::int64_t>(counts->documents)}});
  // The receipt's counts: a resumed purge may have found less left to delete.
  json::value destroyed = signed_receipt["destroyed"];
  return json::object{{"subject", m.subject},
                      {"erased_at", m.erased_at},
                      {"destroyed", std::move(destroyed)},
                      {"receipt", std::move(*receipt)}};
}

void SubjectEraser::CopyLedger() {
  for (const fs::path& dir : ledger_copies_) {
    if (auto copied = ledger_.CopyTo(dir); !copied) {
      observe::Error("privacy.ledger_copy_failed",
                     {{"target", dir.string()}, {"reason", copied.error().message()}});
    }
  }
}

void SubjectEraser::Checkpoint() {
  // A backup's snapshot may hold the logs for now; the deleted rows are gone and the keys too,
  // only their old bytes wait in a log for the next checkpoint (after the backup, at the next
  // erasure or start).
  if (auto done = CheckpointAll(stores_); !done) {
    checkpoint_owed_ = true;
    observe::Warn("privacy.erasure_checkpoint_deferred", {{"reason", done.error().message()}});
    return;
  }
  checkpoint_owed_ = false;
}

void SubjectEraser::AfterBackup() {
  std::lock_guard lock(mu_);
  CopyLedger();
  if (checkpoint_owed_) Checkpoint();
}

Result<std::size_t> SubjectEraser::ResumePending() {
  std::lock_guard lock(mu_);
  // Needs no keys: subjects whose erasure a crash cut short are erased for every write and read
  // from now on (their keys are gone; their rows answer as missing, not as tampered).
  auto markers = PendingMarkers(stores_.metadata);
  if (!markers) return std::unexpected(markers.error());
  for (const Marker& m : *markers) seal_.gate().MarkErased(m.tenant, m.subject);
  auto keys = seal_.keys();
  if (!keys) {
    Checkpoint();  // the rest waits for the unseal
    return 0;
  }
  // A ledger lost with its data directory (or one that missed receipts) is taken back from a
  // target's copy this vault signed, before anything appends to it.
  auto ledger_keys = privacy::LedgerKeys::FromRoot(
      [&](std::string_view info) { return keys->keyring->DeriveFromRoot(info); });
  if (!ledger_keys) return std::unexpected(ledger_keys.error());
  if (auto adopted = ledger_.AdoptLongerCopy(ledger_copies_, *ledger_keys); !adopted) {
    observe::Error("privacy.ledger_copies_differ", {{"reason", adopted.error().message()}});
  } else if (*adopted) {
    observe::Warn("privacy.ledger_adopted", {{"ledger", ledger_.file().string()}});
  }
  auto resumed = ResumeLocked();
  // At start: the logs of a run that crashed before its checkpoint are emptied too.
  if (resumed && *resumed == 0) Checkpoint();
  return resumed;
}

Result<std::size_t> SubjectEraser::ResumeLocked() {
  auto markers = PendingMarkers(stores_.metadata);
  if (!markers) return std::unexpected(markers.error());
  // Each on its own: one that fails does not hold up the others.
  Result<std::size_t> outcome = std::size_t{0};
  for (const Marker& m : *markers) {
    auto finished = Finish(m.tenant, m.subject, m.erased_at, m.receipt_id, m.keys);
    if (!finished) {
      if (outcome) outcome = std::unexpected(finished.error());
      continue;
    }
    if (outcome) ++*outcome;
  }
  return outcome;
}

Result<ReplayReport> ReplayErasures(const fs::path& data_dir, const std::vector<fs::path>& ledgers,
                                    const std::vector<fs::path>& copies,
                                    const privacy::LedgerKeys& keys) {
  ReplayReport report;
  auto erased = privacy::ReadErasedSubjects(ledgers, copies, keys);
  if (!erased) return std::unexpected(erased.error());
  report.receipts = erased->ids.size();
  report.skipped = erased->skipped;
  std::unique_ptr<storage::Store> opened[4];
  const char* kinds[] = {"metadata", "profiles", "activity", "documents"};
  for (int i = 0; i < 4; ++i) {
    auto store = storage::OpenSqliteStore(data_dir / (std::string(kinds[i]) + ".db"),
                                          {.page_size = i == 3 ? 65536 : 4096});
    if (!store) return std::unexpected(store.error());
    opened[i] = std::move(*store);
  }
  ErasureStores stores{*opened[0], *opened[1], *opened[2], *opened[3]};
  // The subjects the ledgers name, found by their pseudonyms.
  std::vector<std::pair<std::string, std::string>> doomed;
  Result<void> failure;
  auto scanned = ScanPrefix(
      stores.metadata, kSubjects, "", "", kAll, [&](std::string_view key, const storage::Bytes&) {
        const auto slash = key.find('/');
        if (slash == std::string_view::npos) return true;
        const std::string_view tenant = key.substr(0, slash);
        const auto names = erased->by_tenant.find(tenant);
        if (names == erased->by_tenant.end()) return true;
        auto pseudonym = keys.SubjectPseudonym(tenant, key.substr(slash + 1));
        if (!pseudonym) {
          failure = std::unexpected(pseudonym.error());
          return false;
        }
        if (names->second.contains(*pseudonym)) {
          doomed.emplace_back(std::string(tenant), std::string(key.substr(slash + 1)));
        }
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  for (const auto& [tenant, subject] : doomed) {
    auto shredded = ShredSubject(stores, tenant, subject, internal::Now());
    if (!shredded) return std::unexpected(shredded.error());
  }
  report.erased = doomed.size();
  // Every marker now: the ones just made and any the backup caught mid-erasure.
  auto markers = PendingMarkers(stores.metadata);
  if (!markers) return std::unexpected(markers.error());
  report.finished = markers->size() - doomed.size();
  // Markers of erasures the source vault had not receipted yet (it crashed first): their
  // receipts are written into the ledger the restored vault keeps, below.
  std::vector<std::pair<Marker, privacy::ErasureCounts>> unreceipted;
  for (const Marker& m : *markers) {
    auto purged = PurgeSubject(stores, m.tenant, m.subject);
    if (!purged) return std::unexpected(purged.error());
    purged->keys = m.keys;
    // (The markers the replay itself made have no receipt id: their receipts are the ledgers'.)
    if (!m.receipt_id.empty() && !erased->ids.contains(m.receipt_id)) {
      unreceipted.emplace_back(m, *purged);
    }
    storage::WriteBatch done;
    done.Delete(kErasures, Join({m.tenant, m.subject}));
    if (auto written = stores.metadata.Write(std::move(done)); !written) {
      return std::unexpected(written.error());
    }
  }
  // Data of subjects the metadata no longer has: an erasure that finished between the snapshot
  // of a data store and that of the metadata (taken last). Its keys are gone; its rows go too.
  auto orphans = OrphanSubjects(stores);
  if (!orphans) return std::unexpected(orphans.error());
  for (const auto& [tenant, subject] : *orphans) {
    auto deks = KeysUnder(stores.metadata, keys::kKeysSpace, DekPrefix(tenant, subject));
    if (!deks) return std::unexpected(deks.error());
    storage::WriteBatch batch;
    for (const std::string& dek : *deks) batch.Delete(keys::kKeysSpace, dek);
    if (!batch.empty()) {
      if (auto written = stores.metadata.Write(std::move(batch)); !written) {
        return std::unexpected(written.error());
      }
    }
    if (auto purged = PurgeSubject(stores, tenant, subject); !purged) {
      return std::unexpected(purged.error());
    }
  }
  report.finished += orphans->size();
  if (auto done = CheckpointAll(stores); !done) return std::unexpected(done.error());
  // The restored vault keeps the ledger it was made from: its own erasures chain onto it, and
  // its copies never replace a longer one on the targets.
  const fs::path kept = data_dir / "erasure-ledger.jsonl";
  if (!erased->longest.empty()) {
    if (auto written = WriteFileAtomically(kept, erased->longest, 0600); !written) {
      return std::unexpected(written.error());
    }
  }
  privacy::ErasureLedger restored_ledger(kept);
  for (const auto& [m, counts] : unreceipted) {
    if (auto appended =
            restored_ledger.Append(keys, m.receipt_id, m.tenant, m.subject, m.erased_at, counts);
        !appended) {
      return std::unexpected(appended.error());
    }
  }
  return report;
}

}  // namespace strongroom::records
