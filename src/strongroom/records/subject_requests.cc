#include "strongroom/records/subject_requests.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/service_support.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;
using internal::Join;
using internal::NewId;
using internal::ParseStored;
using internal::Serialize;
using std::chrono::system_clock;

constexpr std::array<std::string_view, 6> kKinds = {"access",  "portability", "rectification",
                                                    "erasure", "restriction", "objection"};
// Why a request may be refused (GDPR art. 12(5) and (6)), or found to concern no data.
constexpr std::array<std::string_view, 4> kReasons = {"manifestly_unfounded", "excessive",
                                                      "identity_not_verified", "no_data_held"};
constexpr int kDeadlineMonths = 1;   // art. 12(3)
constexpr int kExtensionMonths = 2;  // art. 12(3), once, "where necessary"

template <std::size_t N>
bool OneOf(const std::array<std::string_view, N>& set, std::string_view value) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

template <std::size_t N>
std::string Listed(const std::array<std::string_view, N>& set) {
  std::string out;
  for (const auto item : set) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

bool IsOpen(std::string_view status) { return status == "received" || status == "in_progress"; }

std::string_view Text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

bool IsRequestId(std::string_view id) { return internal::IsId(id, "dsr_"); }

}  // namespace

SubjectRequests::SubjectRequests(storage::Store& metadata, VaultService& vault, Clock clock)
    : metadata_(metadata), vault_(vault), clock_(std::move(clock)) {}

system_clock::time_point SubjectRequests::AddMonths(system_clock::time_point received, int months) {
  using namespace std::chrono;
  const auto day = floor<days>(received);
  const year_month_day date{day};
  year_month_day due = date + std::chrono::months(months);
  if (!due.ok()) due = year_month_day{due.year() / due.month() / last};  // the 31st, in June
  return sys_days{due} + (received - day);
}

json::object SubjectRequests::Present(json::object stored) const {
  bool overdue = false;
  if (IsOpen(Text(stored, "status"))) {
    const auto due = ParseRfc3339(Text(stored, "due_at"));
    overdue = due && clock_() > *due;
  }
  stored["overdue"] = overdue;
  return stored;
}

Result<json::object> SubjectRequests::Create(std::string_view tenant, const json::value& body,
                                             std::string_view by) {
  if (!body.is_object()) return FailAt("$", "type", "must be an object");
  const auto& o = body.get_object();
  if (auto known = RefuseUnknownMembers(o, {"subject_id", "kind", "received_at"}, "$"); !known) {
    return std::unexpected(known.error());
  }
  // A request may come from someone the vault holds nothing about (or no longer: erased): then
  // it names no subject, and is answered "no data held".
  const auto* subject = o.if_contains("subject_id");
  if (subject != nullptr && !subject->is_null() && !subject->is_string()) {
    return FailAt("$.subject_id", "type", "must be a subject id or null");
  }
  const bool names_subject = subject != nullptr && subject->is_string();
  const auto* kind = o.if_contains("kind");
  if (kind == nullptr) return FailAt("$.kind", "required", "is required");
  if (!kind->is_string() || !OneOf(kKinds, kind->get_string())) {
    return FailAt("$.kind", "enum", "must be one of " + Listed(kKinds));
  }
  const auto now = clock_();
  auto received = now;
  if (const auto* at = o.if_contains("received_at")) {
    const auto parsed = at->is_string() ? ParseRfc3339(at->get_string()) : std::nullopt;
    if (!parsed) {
      return FailAt("$.received_at", "format", "must be an RFC 3339 time (2026-11-23T10:15:00Z)");
    }
    if (*parsed > now + std::chrono::minutes(5)) {
      return FailAt("$.received_at", "range", "is in the future");
    }
    if (*parsed < AddMonths(now, -12)) {
      return FailAt("$.received_at", "range", "is more than a year ago");
    }
    received = *parsed;
  }
  if (names_subject) {
    if (auto exists = vault_.GetSubject(tenant, subject->get_string()); !exists) {
      if (exists.error().code() == ErrorCode::kNotFound) {
        return FailAt("$.subject_id", "exists", "no such subject");
      }
      return std::unexpected(exists.error());
    }
  }
  auto id = NewId("dsr_");
  if (!id) return std::unexpected(id.error());
  const std::string stamp = FormatRfc3339(now);
  json::object request{
      {"id", *id},
      {"subject_id", names_subject ? json::value(subject->get_string()) : json::value(nullptr)},
      {"kind", kind->get_string()},
      {"status", "received"},
      {"received_at", FormatRfc3339(received)},
      {"due_at", FormatRfc3339(AddMonths(received, kDeadlineMonths))},
      {"extended", false},
      {"rejection_reason", nullptr},
      {"closed_at", nullptr},
      {"created_by", by},
      {"updated_at", stamp},
      {"updated_by", by}};
  storage::WriteBatch batch;
  batch.Put(kSubjectRequests, Join({tenant, *id}), Serialize(request));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  Track(tenant, *id, request);
  return Present(std::move(request));
}

Result<json::object> SubjectRequests::Get(std::string_view tenant, std::string_view id) {
  if (!IsRequestId(id)) return Fail(ErrorCode::kNotFound, "no such request");
  auto stored = metadata_.Get(kSubjectRequests, Join({tenant, id}));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such request");
  auto parsed = ParseStored(**stored, "subject request");
  if (!parsed) return std::unexpected(parsed.error());
  return Present(std::move(*parsed));
}

Result<json::object> SubjectRequests::List(std::string_view tenant, const Page& page,
                                           std::string_view status, bool overdue_only) {
  if (!status.empty() && status != "open" && status != "received" && status != "in_progress" &&
      status != "completed" && status != "rejected") {
    return FailAt("status", "enum", "must be open, received, in_progress, completed or rejected");
  }
  auto limit = internal::PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!page.cursor.empty() && !IsRequestId(page.cursor)) {
    return FailAt("cursor", "format", "is not a cursor from a previous page");
  }
  json::array items;
  std::string last;
  bool more = false;
  Result<void> failure;
  // Every entry after the cursor is looked at until the page is full; the log of one tenant is
  // small (requests from people, not from machines).
  auto scanned = internal::ScanPrefix(
      metadata_, kSubjectRequests, std::string(tenant) + "/", page.cursor,
      std::numeric_limits<std::size_t>::max(),
      [&](std::string_view suffix, const storage::Bytes& value) {
        if (items.size() == *limit) {
          more = true;
          return false;
        }
        auto parsed = ParseStored(value, "subject request");
        if (!parsed) {
          failure = std::unexpected(parsed.error());
          return false;
        }
        last = suffix;
        const std::string_view state = Text(*parsed, "status");
        if (status == "open" ? !IsOpen(state) : (!status.empty() && state != status)) return true;
        auto shown = Present(std::move(*parsed));
        if (overdue_only && !shown.at("overdue").as_bool()) return true;
        items.push_back(std::move(shown));
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  return json::object{{"requests", std::move(items)},
                      {"next_cursor", more ? json::value(last) : json::value(nullptr)}};
}

Result<json::object> SubjectRequests::Update(std::string_view tenant, std::string_view id,
                                             const json::value& body, std::string_view by) {
  if (!body.is_object()) return FailAt("$", "type", "must be an object");
  const auto& o = body.get_object();
  if (auto known = RefuseUnknownMembers(o, {"status", "reason", "extend"}, "$"); !known) {
    return std::unexpected(known.error());
  }
  if (o.empty()) return FailAt("$", "min_members", "give status, extend, or both");
  std::string_view next;
  if (const auto* s = o.if_contains("status")) {
    if (!s->is_string() || (s->get_string() != "in_progress" && s->get_string() != "completed" &&
                            s->get_string() != "rejected")) {
      return FailAt("$.status", "enum", "must be in_progress, completed or rejected");
    }
    next = s->get_string();
  }
  std::string_view reason;
  if (const auto* r = o.if_contains("reason")) {
    if (!r->is_string() || !OneOf(kReasons, r->get_string())) {
      return FailAt("$.reason", "enum", "must be one of " + Listed(kReasons));
    }
    reason = r->get_string();
  }
  if (next == "rejected" && reason.empty()) {
    return FailAt("$.reason", "required", "a rejection needs a reason");
  }
  if (next != "rejected" && !reason.empty()) {
    return FailAt("$.reason", "unexpected", "only a rejection has a reason");
  }
  bool extend = false;
  if (const auto* e = o.if_contains("extend")) {
    if (!e->is_bool() || !e->get_bool()) return FailAt("$.extend", "type", "must be true");
    extend = true;
  }

  std::lock_guard lock(update_mu_);
  if (!IsRequestId(id)) return Fail(ErrorCode::kNotFound, "no such request");
  auto stored = metadata_.Get(kSubjectRequests, Join({tenant, id}));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such request");
  auto request = ParseStored(**stored, "subject request");
  if (!request) return std::unexpected(request.error());
  if (!IsOpen(Text(*request, "status"))) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the request is " + std::string(Text(*request, "status")) + ": it is closed");
  }
  const std::string stamp = FormatRfc3339(clock_());
  if (extend) {
    const auto* extended = request->if_contains("extended");
    if (extended != nullptr && extended->is_bool() && extended->get_bool()) {
      return Fail(ErrorCode::kFailedPrecondition, "the deadline was extended already");
    }
    const auto due = ParseRfc3339(Text(*request, "due_at"));
    const auto received = ParseRfc3339(Text(*request, "received_at"));
    if (!due || !received) {
      return Fail(ErrorCode::kDataLoss, "a stored request has no readable dates");
    }
    // The person must be told of an extension within the first month (art. 12(3)): one asked
    // for later would hide a missed deadline.
    if (clock_() > *due) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the deadline passed on " + std::string(Text(*request, "due_at")) +
                      ": an extension is decided within the first month");
    }
    // Counted from receipt, not from a deadline a short month clamped (31 January -> 30 April).
    (*request)["due_at"] = FormatRfc3339(AddMonths(*received, kDeadlineMonths + kExtensionMonths));
    (*request)["extended"] = true;
  }
  if (!next.empty()) {
    (*request)["status"] = next;
    if (next == "rejected") (*request)["rejection_reason"] = reason;
    if (next != "in_progress") (*request)["closed_at"] = stamp;
  }
  (*request)["updated_at"] = stamp;
  (*request)["updated_by"] = by;
  storage::WriteBatch batch;
  batch.Put(kSubjectRequests, Join({tenant, id}), Serialize(*request));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  Track(tenant, id, *request);
  return Present(std::move(*request));
}

void SubjectRequests::Track(std::string_view tenant, std::string_view id,
                            const json::object& stored) {
  const std::string key = Join({tenant, id});
  const auto due = ParseRfc3339(Text(stored, "due_at"));
  std::lock_guard lock(open_mu_);
  if (!IsOpen(Text(stored, "status")) || !due) {
    open_.erase(key);
    return;
  }
  auto& entry = open_[key];
  if (entry.due != *due) entry.warned = false;  // extended: a new deadline to warn about
  entry.due = *due;
}

Result<void> SubjectRequests::LoadOpen() {
  Result<void> failure;
  auto scanned = internal::ScanPrefix(metadata_, kSubjectRequests, "", "",
                                      std::numeric_limits<std::size_t>::max(),
                                      [&](std::string_view key, const storage::Bytes& value) {
                                        auto parsed = ParseStored(value, "data-subject request");
                                        if (!parsed) {
                                          failure = std::unexpected(parsed.error());
                                          return false;
                                        }
                                        const auto slash = key.find('/');
                                        if (slash == std::string_view::npos) return true;
                                        Track(key.substr(0, slash), key.substr(slash + 1), *parsed);
                                        return true;
                                      });
  if (!scanned) return scanned;
  return failure;
}

SubjectRequests::OpenCounts SubjectRequests::CountOpen() {
  const auto now = clock_();
  OpenCounts counts;
  std::lock_guard lock(open_mu_);
  for (auto& [key, request] : open_) {
    ++counts.open;
    if (now <= request.due) continue;
    ++counts.overdue;
    if (!request.warned) {
      request.warned = true;
      const std::string_view name(key);
      const auto slash = name.find('/');
      observe::Warn("privacy.request_overdue", {{"tenant", name.substr(0, slash)},
                                                {"request_id", name.substr(slash + 1)},
                                                {"due_at", FormatRfc3339(request.due)}});
    }
  }
  return counts;
}

}  // namespace strongroom::records
