// SubjectEraser, the grace period (subject_erasure.h): erasures scheduled for later, hidden at
// once, cancelled or carried out when due.
#include <boost/json/object.hpp>

#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/service_support.h"
#include "strongroom/records/subject_erasure.h"

namespace strongroom::records {

namespace json = boost::json;
using internal::Join;
using internal::kSubjects;
using internal::ParseStored;
using internal::Serialize;

namespace {

json::object ScheduledAnswer(std::string_view subject, const json::object& entry) {
  return json::object{{"subject", subject},
                      {"state", "scheduled"},
                      {"requested_at", entry.at("requested_at")},
                      {"erase_at", entry.at("erase_at")}};
}

}  // namespace

Result<std::vector<storage::Entry>> SubjectEraser::ScheduledEntries() {
  std::vector<storage::Entry> entries;
  std::string after;
  for (;;) {  // bounded: every page moves `after` forward, and a short page ends it
    auto page = stores_.metadata.Scan(kErasureSchedule, after, 256);
    if (!page) return std::unexpected(page.error());
    const bool last = page->size() < 256;
    if (!page->empty()) after = page->back().key;
    for (auto& entry : *page) entries.push_back(std::move(entry));
    if (last) return entries;
  }
}

Result<json::object> SubjectEraser::Schedule(std::string_view tenant, std::string_view subject,
                                             std::chrono::system_clock::time_point now,
                                             std::chrono::seconds grace) {
  if (!internal::IsSubjectId(subject)) return Fail(ErrorCode::kNotFound, "no such subject");
  std::lock_guard lock(mu_);
  const std::string key = Join({tenant, subject});
  auto scheduled = stores_.metadata.Get(kErasureSchedule, key);
  if (!scheduled) return std::unexpected(scheduled.error());
  if (*scheduled) {  // asked twice: the first date stands
    auto entry = ParseStored(**scheduled, "erasure schedule");
    if (!entry) return std::unexpected(entry.error());
    return ScheduledAnswer(subject, *entry);
  }
  // A subject being erased (or erased) is gone already, as are unknown ones.
  if (seal_.gate().IsErased(tenant, subject)) return Fail(ErrorCode::kNotFound, "no such subject");
  auto found = stores_.metadata.Get(kSubjects, key);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  // Hidden before the entry is written: waits for the writes that hold the subject, and every
  // later read or write of its data answers not_found. Undone if the entry cannot be written.
  seal_.gate().Erase(tenant, subject);
  const json::object entry{{"requested_at", FormatRfc3339(now)},
                           {"erase_at", FormatRfc3339(now + grace)}};
  storage::WriteBatch batch;
  batch.Put(kErasureSchedule, key, Serialize(entry));
  if (auto written = stores_.metadata.Write(std::move(batch)); !written) {
    seal_.gate().Unerase(tenant, subject);
    return std::unexpected(written.error());
  }
  ++scheduled_count_;
  return ScheduledAnswer(subject, entry);
}

Result<json::object> SubjectEraser::CancelScheduled(std::string_view tenant,
                                                    std::string_view subject) {
  if (!internal::IsSubjectId(subject)) {
    return Fail(ErrorCode::kNotFound, "no erasure of this subject is scheduled");
  }
  std::lock_guard lock(mu_);
  const std::string key = Join({tenant, subject});
  auto scheduled = stores_.metadata.Get(kErasureSchedule, key);
  if (!scheduled) return std::unexpected(scheduled.error());
  if (!*scheduled) return Fail(ErrorCode::kNotFound, "no erasure of this subject is scheduled");
  // Erased meanwhile (the grace period had ended): there is nothing to bring back.
  auto found = stores_.metadata.Get(kSubjects, key);
  if (!found) return std::unexpected(found.error());
  storage::WriteBatch batch;
  batch.Delete(kErasureSchedule, key);
  if (auto written = stores_.metadata.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  --scheduled_count_;
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  seal_.gate().Unerase(tenant, subject);
  return json::object{{"subject", subject}, {"state", "cancelled"}};
}

Result<std::size_t> SubjectEraser::LoadScheduled() {
  std::lock_guard lock(mu_);
  auto entries = ScheduledEntries();
  if (!entries) return std::unexpected(entries.error());
  for (const auto& entry : *entries) {
    const auto slash = entry.key.find('/');
    if (slash == std::string::npos) continue;
    seal_.gate().MarkErased(std::string_view(entry.key).substr(0, slash),
                            std::string_view(entry.key).substr(slash + 1));
  }
  scheduled_count_ = entries->size();
  return entries->size();
}

Result<std::vector<json::object>> SubjectEraser::ErasePending(
    std::chrono::system_clock::time_point now) {
  if (!seal_.keys()) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  std::vector<storage::Entry> entries;
  {
    std::lock_guard lock(mu_);
    auto all = ScheduledEntries();
    if (!all) return std::unexpected(all.error());
    entries = std::move(*all);
  }
  // What was erased is returned whatever fails later: each needs its audit entry.
  std::vector<json::object> erased;
  for (const auto& entry : entries) {
    const auto slash = entry.key.find('/');
    const std::string tenant = entry.key.substr(0, slash);
    const std::string subject = slash == std::string::npos ? "" : entry.key.substr(slash + 1);
    auto parsed = ParseStored(entry.value, "erasure schedule");
    const auto* at = parsed ? parsed->if_contains("erase_at") : nullptr;
    const auto due =
        at != nullptr && at->is_string() ? ParseRfc3339(at->get_string()) : std::nullopt;
    if (!due) {
      // Never erased by a date nobody can read: it stays scheduled (and hidden) and is reported
      // (by tenant: the key names the subject).
      observe::Error("privacy.erasure_schedule_unreadable", {{"tenant", tenant}});
      continue;
    }
    if (*due > now) continue;
    std::lock_guard lock(mu_);
    auto still = stores_.metadata.Get(kErasureSchedule, entry.key);
    if (!still || !*still) continue;  // cancelled meanwhile (or unreadable: the next call)
    auto done = EraseLocked(tenant, subject);
    if (done) {
      json::object answer = std::move(*done);
      answer["tenant"] = tenant;
      erased.push_back(std::move(answer));
      continue;
    }
    if (done.error().code() != ErrorCode::kNotFound) {
      observe::Error("privacy.scheduled_erasure_failed",
                     {{"tenant", tenant}, {"reason", done.error().message()}});
      continue;
    }
    // not_found: erased already (an erasure a crash cut short that the start finished, from
    // before the shred deleted schedules too); only the entry is left.
    storage::WriteBatch batch;
    batch.Delete(kErasureSchedule, entry.key);
    if (auto written = stores_.metadata.Write(std::move(batch)); written) --scheduled_count_;
  }
  return erased;
}

}  // namespace strongroom::records
