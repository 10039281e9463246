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

Clock::time_point Cutoff(const SweepControl& control, const RetentionRule& rule) {
  return control.now - std::chrono::days(rule.days);
}

// The rule (an index into `rules`) under which the stored record expires first, or -1 when no
// rule keeps it. Rules with grades or categories apply to a record holding a field they match.
int GoverningRule(std::span<const RetentionRule> rules, std::span<const int> candidates,
                  const Schema& schema, const json::object& envelope) {
  const json::object* fields = nullptr;
  if (const auto* f = envelope.if_contains("fields"); f != nullptr && f->is_object()) {
    fields = &f->get_object();
  }
  int governing = -1;
  for (const int i : candidates) {
    const RetentionRule& rule = rules[static_cast<std::size_t>(i)];
    if (governing >= 0 && rules[static_cast<std::size_t>(governing)].days <= rule.days) continue;
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
    if (applies) governing = i;
  }
  return governing;
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
  std::vector<int> candidates;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].NamesCollection(collection)) candidates.push_back(static_cast<int>(i));
  }
  if (candidates.empty()) return {};
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  // The rule a stored record expires under, when it has expired (-1: kept).
  const auto expired_under = [&](const json::object& envelope, bool& unreadable) {
    const int rule = GoverningRule(rules, candidates, **schema, envelope);
    if (rule < 0) return -1;
    const auto updated = UpdatedAt(envelope);
    if (!updated) {
      unreadable = true;
      return -1;
    }
    return *updated < Cutoff(control, rules[static_cast<std::size_t>(rule)]) ? rule : -1;
  };

  const auto held = [&](const json::object& envelope) {
    const auto* subject = envelope.if_contains("subject");
    return control.held != nullptr && subject != nullptr && subject->is_string() &&
           control.held->contains(std::string_view(subject->get_string()));
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
                                if (envelope && expired_under(*envelope, unreadable) >= 0) {
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

    std::size_t purged = 0;
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
      storage::WriteBatch batch;
      std::vector<int> purged_under;
      for (const auto& id : expired) {
        auto stored = stores_.profiles.Get(kRecords, prefix + id);
        if (!stored) return std::unexpected(stored.error());
        if (!*stored) continue;  // deleted meanwhile
        auto envelope = ParseStored(**stored, "record");
        if (!envelope) continue;  // counted as unreadable by the scan
        bool unreadable = false;
        const int rule = expired_under(*envelope, unreadable);
        if (rule < 0) continue;
        purged_under.push_back(rule);
        if (!control.dry_run) DeleteRecordRows(tenant, collection, id, *envelope, batch);
      }
      if (!control.dry_run && !purged_under.empty()) {
        if (auto written = stores_.profiles.Write(std::move(batch)); !written) return written;
      }
      locks.clear();
      for (const int rule : purged_under) ++result.purged[static_cast<std::size_t>(rule)];
      purged = purged_under.size();
    }
    if (control.pace && !control.pace(seen, purged)) {
      result.stopped = true;
      return {};
    }
    if (seen < batch_size) return {};
  }
}

Result<void> VaultService::SweepActivity(std::string_view tenant,
                                         std::span<const RetentionRule> rules,
                                         const SweepControl& control, SweepResult& result) {
  result.purged.resize(rules.size());
  const int governing = ShortestRuleNaming(rules, kActivityData);
  if (governing < 0) return {};
  const auto cutoff = Cutoff(control, rules[static_cast<std::size_t>(governing)]);
  const std::string cutoff_key = TimeKey(
      std::chrono::duration_cast<std::chrono::microseconds>(cutoff.time_since_epoch()).count());

  // Keys are "<subject>/<time key>/<event id>" under the tenant, each subject's in time order.
  const std::string prefix = std::string(tenant) + "/";
  const std::size_t batch_size = std::max<std::size_t>(control.batch, 1);
  std::string after;
  for (;;) {  // bounded: every scan moves `after` forward; one that sees nothing ends it
    storage::WriteBatch batch;
    std::size_t seen = 0, purged = 0;
    auto scanned =
        ScanPrefix(stores_.activity, kEvents, prefix, after, batch_size,
                   [&](std::string_view key, const storage::Bytes&) {
                     ++seen;
                     after = key;
                     const auto slash = key.find('/');
                     if (slash == std::string_view::npos || key.size() < slash + 1 + 16) {
                       ++result.unreadable;
                       return true;
                     }
                     const std::string_view time_key = key.substr(slash + 1, 16);
                     if (time_key < cutoff_key && control.held != nullptr &&
                         control.held->contains(key.substr(0, slash))) {
                       ++result.held;
                       return true;
                     }
                     if (time_key < cutoff_key) {
                       ++purged;
                       if (!control.dry_run) batch.Delete(kEvents, prefix + std::string(key));
                       return true;
                     }
                     // The rest of this subject's events are later still: go on at the next subject
                     // ('g' sorts after every hex digit of a time key).
                     after = std::string(key.substr(0, slash)) + "/g";
                     return false;
                   });
    if (!scanned) return std::unexpected(scanned.error());
    result.scanned += seen;
    if (purged > 0 && !control.dry_run) {
      if (auto written = stores_.activity.Write(std::move(batch)); !written) return written;
    }
    result.purged[static_cast<std::size_t>(governing)] += purged;
    if (control.pace && !control.pace(seen, purged)) {
      result.stopped = true;
      return {};
    }
    if (seen == 0) return {};
  }
}

}  // namespace strongroom::records
