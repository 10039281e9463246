// VaultService, retention: the sweeps records/retention.h runs over a tenant's records and
// activity events. Nothing is decrypted: a record's updated_at and field names are in its stored
// envelope, an event's time is in its key.
#include <algorithm>
#include <boost/json/object.hpp>
#include <limits>

#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/service_support.h"
#include "strongroom/records/vault_service.h"

namespace strongroom::records {

namespace json = boost::json;
using namespace internal;  // NOLINT(google-build-using-namespace): this module's own helpers

namespace {

using Clock = std::chrono::system_clock;

// The bounds of the rules of `candidates` that apply to the stored record: rules with grades or
// categories apply to a record holding a field they match.
RetentionBounds RecordBounds(std::span<const RetentionRule> rules, std::span<const int> candidates,
                             const Schema& schema, const json::object& envelope) {
  const json::object* fields = nullptr;
  if (const auto* f = envelope.if_contains("fields"); f != nullptr && f->is_object()) {
    fields = &f->get_object();
  }
  RetentionBounds bounds;
  for (const int i : candidates) {
    const RetentionRule& rule = rules[static_cast<std::size_t>(i)];
    bool applies = !rule.NarrowsFields();
    if (!applies && fields != nullptr) {
      for (const auto& member : *fields) {
        const FieldSpec* spec = schema.Find(member.key());
        if (spec != nullptr && rule.FieldMatches(*spec)) {
          applies = true;
          break;
        }
      }
    }
    if (applies) bounds.Consider(rules, i);
  }
  return bounds;
}

// What becomes of an entry of time `t` under `bounds` (docs/privacy.md, "The archive"): kept,
// moved into the archive (under the `live` rule) or deleted (under the rule whose time came:
// `whole` once days + archive_days have passed). An archived entry is only kept or deleted.
struct Fate {
  enum Kind { kKeep, kArchive, kPurge } kind = kKeep;
  int rule = -1;
};
Fate FateOf(std::span<const RetentionRule> rules, const RetentionBounds& bounds,
            Clock::time_point now, Clock::time_point t, bool archived) {
  if (bounds.live < 0) return {};
  const auto& live = rules[static_cast<std::size_t>(bounds.live)];
  const auto& whole = rules[static_cast<std::size_t>(bounds.whole)];
  if (t < now - std::chrono::days(TotalDays(whole))) return {Fate::kPurge, bounds.whole};
  if (archived || t >= now - std::chrono::days(live.days)) return {};
  return {bounds.Archives(rules) ? Fate::kArchive : Fate::kPurge, bounds.live};
}

std::optional<Clock::time_point> UpdatedAt(const json::object& envelope) {
  const auto* at = envelope.if_contains("updated_at");
  if (at == nullptr || !at->is_string()) return std::nullopt;
  return ParseRfc3339(at->get_string());
}

}  // namespace

Result<std::vector<std::string>> VaultService::CollectionNames(std::string_view tenant) {
  std::vector<std::string> names;
  const std::string prefix = std::string(tenant) + "/";
  std::string after;
  for (;;) {  // bounded: every page moves `after` forward, and a short page ends it
    constexpr std::size_t kPage = 256;
    std::size_t seen = 0;
    auto scanned = ScanPrefix(stores_.metadata, kCollections, prefix, after, kPage,
                              [&](std::string_view name, const storage::Bytes&) {
                                ++seen;
                                names.emplace_back(name);
                                return true;
                              });
    if (!scanned) return std::unexpected(scanned.error());
    if (seen < kPage) return names;
    after = names.back();
  }
}

Result<std::set<std::string, std::less<>>> VaultService::RestrictedSubjects(
    std::string_view tenant) {
  if (auto keys = Keys(); !keys) return std::unexpected(keys.error());
  std::set<std::string, std::less<>> restricted;
  std::vector<std::string> subjects;  // those with a processing state (restriction lives there)
  auto scanned = ScanPrefix(stores_.activity, kProcessing, std::string(tenant) + "/", "",
                            std::numeric_limits<std::size_t>::max(),
                            [&](std::string_view suffix, const storage::Bytes&) {
                              subjects.emplace_back(suffix.substr(0, suffix.find('/')));
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  for (const auto& subject : subjects) {
    // Hidden (a scheduled erasure, its grace period): its state cannot be read (the barrier
    // refuses its keys), and a cancel would bring it back as it was: held.
    if (seal_.gate().IsErased(tenant, subject)) {
      restricted.insert(subject);
      continue;
    }
    auto choices = Choices(tenant, subject);
    if (!choices) return std::unexpected(choices.error());
    if (*choices != nullptr && (*choices)->restricted) restricted.insert(subject);
  }
  return restricted;
}

void VaultService::CheckpointStores() {
  for (auto [name, store] :
       {std::pair{"profiles", &stores_.profiles}, std::pair{"activity", &stores_.activity}}) {
    if (auto done = store->Checkpoint(); !done) {
      observe::Warn("privacy.retention_checkpoint_failed",
                    {{"store", name}, {"reason", done.error().message()}});
    }
  }
}

Result<void> VaultService::SweepRecords(std::string_view tenant, std::string_view collection,
                                        std::span<const RetentionRule> rules,
                                        const SweepControl& control, SweepResult& result) {
  result.purged.resize(rules.size());
  result.archived.resize(rules.size());
  result.archive_purged.resize(rules.size());
  std::vector<int> candidates;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].NamesCollection(collection)) candidates.push_back(static_cast<int>(i));
  }
  if (candidates.empty()) return {};
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  // What becomes of a stored record (live, or in the archive) under the rules.
  const auto fate_of = [&](const json::object& envelope, bool archived, bool& unreadable) {
    const auto bounds = RecordBounds(rules, candidates, **schema, envelope);
    if (bounds.live < 0) return Fate{};
    const auto updated = UpdatedAt(envelope);
    if (!updated) {
      unreadable = true;
      return Fate{};
    }
    return FateOf(rules, bounds, control.now, *updated, archived);
  };
  const auto subject_of = [](const json::object& envelope) -> std::string_view {
    const auto* subject = envelope.if_contains("subject");
    if (subject == nullptr || !subject->is_string()) return {};
    return subject->get_string();
  };
  const auto held = [&](const json::object& envelope) {
    return control.held != nullptr && control.held->contains(subject_of(envelope));
  };

  const std::string prefix = Join({tenant, collection}) + "/";
  const std::size_t batch_size = std::max<std::size_t>(control.batch, 1);
  std::string after;
  for (;;) {  // bounded: every page moves `after` forward, and a short page ends it
    std::vector<std::string> expired;
    std::size_t seen = 0;
    auto scanned = ScanPrefix(stores_.profiles, kRecords, prefix, after, batch_size,
                              [&](std::string_view id, const storage::Bytes& value) {
                                ++seen;
                                after = id;
                                auto envelope = ParseStored(value, "record");
                                bool unreadable = !envelope;
                                if (envelope &&
                                    fate_of(*envelope, false, unreadable).kind != Fate::kKeep) {
                                  if (held(*envelope)) {
                                    ++result.held;
                                  } else {
                                    expired.emplace_back(id);
                                  }
                                }
                                if (unreadable) ++result.unreadable;
                                return true;
                              });
    if (!scanned) return std::unexpected(scanned.error());
    result.scanned += seen;

    std::size_t purged = 0, archived = 0;
    if (!expired.empty()) {
      // The records' locks, each stripe once and in address order (UpdateRecord and DeleteRecord
      // take one at a time, so no order of theirs can deadlock with this). Under them each
      // record is read again: one updated since the scan is no longer expired and stays. A dry
      // run deletes nothing and takes none.
      std::vector<std::mutex*> stripes;
      if (!control.dry_run) {
        stripes.reserve(expired.size());
        for (const auto& id : expired) stripes.push_back(&RecordLock(id));
        std::sort(stripes.begin(), stripes.end());
        stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
      }
      std::vector<std::unique_lock<std::mutex>> locks;
      locks.reserve(stripes.size());
      for (auto* stripe : stripes) locks.emplace_back(*stripe);
      // A record moved to the archive writes a row of its subject: the subject is held in the
      // gate (after the record lock, as UpdateRecord does) until the batch is durable, so an
      // erasure either waits and then finds the archived row, or came first (the record is
      // left to it).
      barrier::SubjectGate::WriteGuard guard;
      storage::WriteBatch batch;
      std::vector<int> purged_under, archived_under;
      for (const auto& id : expired) {
        auto stored = stores_.profiles.Get(kRecords, prefix + id);
        if (!stored) return std::unexpected(stored.error());
        if (!*stored) continue;  // deleted meanwhile
        auto envelope = ParseStored(**stored, "record");
        if (!envelope) continue;  // counted as unreadable by the scan
        bool unreadable = false;
        const Fate fate = fate_of(*envelope, false, unreadable);
        if (fate.kind == Fate::kKeep) continue;
        if (fate.kind == Fate::kPurge) {
          purged_under.push_back(fate.rule);
          if (!control.dry_run) DeleteRecordRows(tenant, collection, id, *envelope, batch);
          continue;
        }
        const std::string_view subject = subject_of(*envelope);
        if (subject.empty()) continue;  // not a record this service wrote: left alone
        if (!control.dry_run) {
          seal_.gate().Enter(guard, tenant, subject);
          if (seal_.gate().IsErased(tenant, subject)) continue;  // its erasure deletes it
          ArchiveRecordRows(tenant, collection, id, *envelope, batch);
        }
        archived_under.push_back(fate.rule);
      }
      if (!control.dry_run && !batch.empty()) {
        if (auto written = stores_.profiles.Write(std::move(batch)); !written) return written;
      }
      locks.clear();
      for (const int rule : purged_under) ++result.purged[static_cast<std::size_t>(rule)];
      for (const int rule : archived_under) ++result.archived[static_cast<std::size_t>(rule)];
      purged = purged_under.size();
      archived = archived_under.size();
    }  // (the gate and the locks are released here, before any pacing)
    if (control.pace && !control.pace(seen, purged, archived)) {
      result.stopped = true;
      return {};
    }
    if (seen < batch_size) break;
  }

  // The archive: its rows are never changed (only deleted, here or by an erasure), so they are
  // deleted without a lock or a second read.
  after.clear();
  for (;;) {  // bounded as above
    storage::WriteBatch batch;
    std::size_t seen = 0;
    std::vector<int> gone_under;
    auto scanned = ScanPrefix(
        stores_.profiles, kArchivedRecords, prefix, after, batch_size,
        [&](std::string_view id, const storage::Bytes& value) {
          ++seen;
          after = id;
          auto envelope = ParseStored(value, "archived record");
          bool unreadable = !envelope;
          const Fate fate = envelope ? fate_of(*envelope, true, unreadable) : Fate{};
          if (unreadable) ++result.unreadable;
          if (fate.kind == Fate::kKeep) return true;
          if (held(*envelope)) {
            ++result.held;
            return true;
          }
          gone_under.push_back(fate.rule);
          if (!control.dry_run) {
            batch.Delete(kArchivedRecords, prefix + std::string(id));
            batch.Delete(kArchivedBySubject, Join({tenant, subject_of(*envelope), collection, id}));
          }
          return true;
        });
    if (!scanned) return std::unexpected(scanned.error());
    result.scanned += seen;
    if (!control.dry_run && !batch.empty()) {
      if (auto written = stores_.profiles.Write(std::move(batch)); !written) return written;
    }
    for (const int rule : gone_under) ++result.archive_purged[static_cast<std::size_t>(rule)];
    if (control.pace && !control.pace(seen, gone_under.size(), 0)) {
      result.stopped = true;
      return {};
    }
    if (seen < batch_size) return {};
  }
}

void VaultService::ArchiveRecordRows(std::string_view tenant, std::string_view collection,
                                     std::string_view id, const json::object& envelope,
                                     storage::WriteBatch& batch) {
  DeleteRecordRows(tenant, collection, id, envelope, batch);
  // The envelope as it was (its ciphertext stays bound to this tenant, collection, record and
  // field), less its blind-index hashes: nothing searches the archive.
  json::object archived = envelope;
  archived.erase("index");
  batch.Put(kArchivedRecords, Join({tenant, collection, id}), Serialize(archived));
  batch.Put(kArchivedBySubject, Join({tenant, envelope.at("subject").as_string(), collection, id}),
            {});
}

Result<void> VaultService::SweepActivity(std::string_view tenant,
                                         std::span<const RetentionRule> rules,
                                         const SweepControl& control, SweepResult& result) {
  result.purged.resize(rules.size());
  result.archived.resize(rules.size());
  result.archive_purged.resize(rules.size());
  const RetentionBounds bounds = BoundsNaming(rules, kActivityData);
  if (bounds.live < 0) return {};
  const auto key_of = [&](const RetentionRule& rule, bool whole) {
    const auto cutoff = control.now - std::chrono::days(whole ? TotalDays(rule) : rule.days);
    return TimeKey(
        std::chrono::duration_cast<std::chrono::microseconds>(cutoff.time_since_epoch()).count());
  };
  const auto& live = rules[static_cast<std::size_t>(bounds.live)];
  const auto& whole = rules[static_cast<std::size_t>(bounds.whole)];
  // Events before `purge_key` are deleted (from the live events or the archive: `whole`'s days
  // and archive days are over); live events before `live_key` are archived when the rules keep
  // an archive, else deleted (under `live`).
  const std::string live_key = key_of(live, false);
  const std::string purge_key = key_of(whole, true);
  const bool archive = bounds.Archives(rules);

  // Keys are "<subject>/<time key>/<event id>" under the tenant, each subject's in time order.
  const std::string prefix = std::string(tenant) + "/";
  const std::size_t batch_size = std::max<std::size_t>(control.batch, 1);
  for (const std::string_view space : {kEvents, kArchivedEvents}) {
    const bool archived_stage = space == kArchivedEvents;
    const std::string& expiry_key = archived_stage ? purge_key : live_key;
    std::string after;
    for (;;) {  // bounded: every scan moves `after` forward; one that sees nothing ends it
      storage::WriteBatch batch;
      std::vector<std::pair<std::string, storage::Bytes>> moving;  // (key under tenant, value)
      std::size_t seen = 0;
      std::vector<int> purged_under;
      auto scanned = ScanPrefix(
          stores_.activity, space, prefix, after, batch_size,
          [&](std::string_view key, const storage::Bytes& value) {
            ++seen;
            after = key;
            const auto slash = key.find('/');
            if (slash == std::string_view::npos || key.size() < slash + 1 + 16) {
              ++result.unreadable;
              return true;
            }
            const std::string_view time_key = key.substr(slash + 1, 16);
            if (time_key >= expiry_key) {
              // The rest of this subject's events are later still: go on at the next subject
              // ('g' sorts after every hex digit of a time key).
              after = std::string(key.substr(0, slash)) + "/g";
              return false;
            }
            if (control.held != nullptr && control.held->contains(key.substr(0, slash))) {
              ++result.held;
              return true;
            }
            if (!archived_stage && archive && time_key >= purge_key) {
              moving.emplace_back(key, value);  // (a dry run counts them below)
              return true;
            }
            purged_under.push_back(archived_stage || time_key < purge_key ? bounds.whole
                                                                          : bounds.live);
            if (!control.dry_run) batch.Delete(space, prefix + std::string(key));
            return true;
          });
      if (!scanned) return std::unexpected(scanned.error());
      result.scanned += seen;
      std::size_t archived = 0;
      {
        // Moving writes rows of the events' subjects: each is held in the gate until the batch
        // is durable (an erasure waits for it and then finds them, or came first: left to it),
        // and released before any pacing.
        barrier::SubjectGate::WriteGuard guard;
        for (auto& [key, value] : moving) {
          const std::string_view subject = std::string_view(key).substr(0, key.find('/'));
          if (!control.dry_run) {
            seal_.gate().Enter(guard, tenant, subject);
            if (seal_.gate().IsErased(tenant, subject)) continue;
            batch.Delete(kEvents, prefix + key);
            batch.Put(kArchivedEvents, prefix + key, std::move(value));
          }
          ++archived;
        }
        if (!batch.empty()) {
          if (auto written = stores_.activity.Write(std::move(batch)); !written) return written;
        }
      }
      auto& purged = archived_stage ? result.archive_purged : result.purged;
      for (const int rule : purged_under) ++purged[static_cast<std::size_t>(rule)];
      result.archived[static_cast<std::size_t>(bounds.live)] += archived;
      if (control.pace && !control.pace(seen, purged_under.size(), archived)) {
        result.stopped = true;
        return {};
      }
      if (seen == 0) break;
    }
  }
  return {};
}

}  // namespace strongroom::records
