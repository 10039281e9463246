// VaultService, activity: append (one or an all-or-nothing batch) and time-range pages of a
// subject's events.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

#include "strongroom/crypto/encoding.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/service_support.h"
#include "strongroom/records/vault_service.h"

namespace strongroom::records {

namespace json = boost::json;
using namespace internal;  // NOLINT(google-build-using-namespace): this module's own helpers

namespace {

constexpr std::size_t kMaxEventData = 64 << 10;

// RFC 3339 -> microseconds since the epoch (UTC). Only after the value passed validation.
std::optional<std::int64_t> Rfc3339Micros(std::string_view s) {
  FieldSpec datetime{.name = "t", .type = FieldType::kDatetime};
  if (!ValidateFieldValue(datetime, json::value(json::string_view(s.data(), s.size())), "$")) {
    return std::nullopt;
  }
  auto num = [&](std::size_t from, std::size_t n) {
    int v = 0;
    for (std::size_t i = from; i < from + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  using namespace std::chrono;
  const sys_days day = year{num(0, 4)} / month{static_cast<unsigned>(num(5, 2))} /
                       std::chrono::day{static_cast<unsigned>(num(8, 2))};
  std::int64_t micros = duration_cast<microseconds>(day.time_since_epoch()).count();
  const std::int64_t hours = num(11, 2), minutes = num(14, 2), seconds = std::min(num(17, 2), 59);
  micros += (hours * 3600 + minutes * 60 + seconds) * 1'000'000;
  std::size_t i = 19;
  if (s[i] == '.') {
    std::int64_t fraction = 0;
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
      if (digits < 6) fraction = fraction * 10 + (s[i] - '0');
    }
    for (; digits < 6; ++digits) fraction *= 10;
    micros += fraction;
  }
  if (s[i] == '+' || s[i] == '-') {
    const std::int64_t offset_hours = num(i + 1, 2), offset_minutes = num(i + 4, 2);
    const std::int64_t offset = (offset_hours * 3600 + offset_minutes * 60) * 1'000'000;
    micros += s[i] == '+' ? -offset : offset;
  }
  return micros;
}

std::string FormatMicros(std::int64_t micros) {
  using namespace std::chrono;
  const sys_time<microseconds> t{microseconds{micros}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buffer[40];
  (void)std::snprintf(
      buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()), static_cast<long long>(hms.subseconds().count()));
  return buffer;
}

}  // namespace

// --- activity --------------------------------------------------------------------------------

Result<boost::json::object> VaultService::AppendActivity(std::string_view tenant,
                                                         std::string_view subject,
                                                         const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  barrier::SubjectGate::WriteGuard guard;  // until the events are durable (vault_service.h)
  seal_.gate().Enter(guard, tenant, subject);
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());

  // One event, or {"events": [...]}: both become a list of (path, event).
  std::vector<std::pair<std::string, const json::object*>> events;
  if ((*o)->contains("events")) {
    if (auto only = RefuseUnknownMembers(**o, {"events"}, "$"); !only)
      return std::unexpected(only.error());
    const auto& list = (*o)->at("events");
    if (!list.is_array()) return FailAt("$.events", "type", "must be an array");
    if (list.get_array().empty()) {
      return FailAt("$.events", "min_items", "a batch holds 1 to 100 events");
    }
    if (list.get_array().size() > kMaxBatchItems) {
      return FailAt("$.events", "max_items", "a batch holds 1 to 100 events");
    }
    for (std::size_t i = 0; i < list.get_array().size(); ++i) {
      const std::string path = JsonPathIndex("$.events", i);
      if (!list.get_array()[i].is_object()) return FailAt(path, "type", "must be an object");
      events.emplace_back(path, &list.get_array()[i].get_object());
    }
  } else {
    events.emplace_back("$", *o);
  }

  struct Prepared {
    std::string id;
    std::int64_t micros;
    std::string plaintext;
    std::vector<std::uint8_t> ciphertext;
  };
  std::vector<Prepared> prepared;
  const std::int64_t now_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  for (const auto& [path, event] : events) {
    if (auto only = RefuseUnknownMembers(*event, {"type", "occurred_at", "data"}, path); !only) {
      return std::unexpected(only.error());
    }
    if (const auto* type = event->if_contains("type"); type != nullptr) {
      if (auto clean = RefuseCardNumbers(*type, JsonPathKey(path, "type")); !clean) {
        return std::unexpected(clean.error());
      }
    }
    const auto* type = event->if_contains("type");
    if (type == nullptr) return FailAt(JsonPathKey(path, "type"), "required", "is required");
    if (!type->is_string()) return FailAt(JsonPathKey(path, "type"), "type", "must be a string");
    const std::string_view type_text = type->get_string();
    bool type_ok = !type_text.empty() && type_text.size() <= 64;
    for (char c : type_text) {
      type_ok = type_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                            c == '.' || c == '-');
    }
    if (!type_ok) {
      return FailAt(JsonPathKey(path, "type"), "pattern", "must be 1 to 64 of [a-z0-9_.-]");
    }
    std::int64_t micros = now_micros;
    if (const auto* at = event->if_contains("occurred_at")) {
      const std::string at_path = JsonPathKey(path, "occurred_at");
      if (!at->is_string()) return FailAt(at_path, "type", "must be a string");
      auto parsed = Rfc3339Micros(at->get_string());
      if (!parsed) return FailAt(at_path, "format", "is not an RFC 3339 date-time");
      micros = *parsed;
    }
    json::object payload{{"type", type_text}};
    if (const auto* data = event->if_contains("data")) {
      if (!data->is_object()) {
        return FailAt(JsonPathKey(path, "data"), "type", "must be an object");
      }
      if (auto clean = RefuseCardNumbers(*data, JsonPathKey(path, "data")); !clean) {
        return std::unexpected(clean.error());
      }
      payload["data"] = *data;
    } else {
      payload["data"] = json::object();
    }
    std::string plaintext = json::serialize(payload);
    if (plaintext.size() > kMaxEventData) {
      return FailAt(JsonPathKey(path, "data"), "max_length", "is larger than 64 KiB as JSON");
    }
    auto id = NewId("evt_");
    if (!id) return std::unexpected(id.error());
    prepared.push_back({std::move(*id), micros, std::move(plaintext), {}});
  }

  std::vector<std::string> time_keys;
  std::vector<barrier::EncryptItem> items;
  time_keys.reserve(prepared.size());
  for (auto& p : prepared) time_keys.push_back(TimeKey(p.micros));
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    // The event is bound to its id and its time: moving it in time fails to decrypt.
    items.push_back({{tenant, "$activity", prepared[i].id, time_keys[i]},
                     AsBytes(prepared[i].plaintext),
                     &prepared[i].ciphertext});
  }
  auto encrypted = (*keys)->barrier->Encrypt(tenant, subject, items);
  for (auto& p : prepared) std::fill(p.plaintext.begin(), p.plaintext.end(), '\0');
  if (!encrypted) return std::unexpected(encrypted.error());

  storage::WriteBatch batch;
  json::array answers;
  const std::string recorded_at = FormatMicros(now_micros);
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    json::object envelope{{"recorded_at", recorded_at},
                          {"payload", crypto::Base64UrlEncode(prepared[i].ciphertext)}};
    batch.Put(kEvents, Join({tenant, subject, time_keys[i], prepared[i].id}), Serialize(envelope));
    answers.push_back(json::object{{"id", prepared[i].id},
                                   {"occurred_at", FormatMicros(prepared[i].micros)},
                                   {"recorded_at", recorded_at}});
  }
  if (auto written = stores_.activity.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return json::object{{"events", std::move(answers)}};
}

Result<boost::json::object> VaultService::ListActivity(std::string_view tenant,
                                                       std::string_view subject,
                                                       std::string_view from, std::string_view to,
                                                       const Page& page, bool archived) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  std::string start;  // the part of the key after the subject prefix to scan after
  if (!from.empty()) {
    auto micros = Rfc3339Micros(from);
    if (!micros) return FailAt("from", "format", "from is not an RFC 3339 date-time");
    // Just before the first key at `from`: its time key followed by a byte below '/'.
    start = TimeKey(*micros);
    start.push_back('.');  // '.' < '/' : sorts before every "<time>/<id>" of that instant
  }
  std::string end;
  if (!to.empty()) {
    auto micros = Rfc3339Micros(to);
    if (!micros) return FailAt("to", "format", "to is not an RFC 3339 date-time");
    end = TimeKey(*micros);
  }
  if (!page.cursor.empty()) {
    auto decoded = crypto::Base64UrlDecode(page.cursor);
    std::string cursor = decoded ? std::string(decoded->begin(), decoded->end()) : std::string();
    if (cursor.size() != 16 + 1 + 26 || cursor[16] != '/' || !IsId(cursor.substr(17), "evt_")) {
      return FailAt("cursor", "format", "cursor is not one this API issued");
    }
    if (cursor > start) start = cursor;
  }
  json::array events;
  std::string last;
  Result<void> failure;
  auto scanned = ScanPrefix(
      stores_.activity, archived ? kArchivedEvents : kEvents, Join({tenant, subject}) + "/", start,
      *limit, [&](std::string_view suffix, const storage::Bytes& value) {
        const std::string_view time_key = suffix.substr(0, 16);
        if (!end.empty() && time_key >= end) return false;
        const std::string_view id = suffix.size() > 17 ? suffix.substr(17) : std::string_view();
        auto envelope = ParseStored(value, "event");
        if (!envelope) {
          failure = std::unexpected(envelope.error());
          return false;
        }
        auto parsed = OpenEnvelope(**keys, tenant, subject, "$activity", id, time_key, *envelope);
        if (!parsed) {
          failure = std::unexpected(parsed.error());
          return false;
        }
        const std::int64_t micros = static_cast<std::int64_t>(
            std::stoull(std::string(time_key), nullptr, 16) - (1ull << 62));
        json::object event{
            {"id", id},
            {"type", (*parsed)["type"]},
            {"occurred_at", FormatMicros(micros)},
            {"recorded_at", envelope->contains("recorded_at") ? envelope->at("recorded_at")
                                                              : json::value(nullptr)},
            {"data", (*parsed)["data"]}};
        if (archived) event["archived"] = true;
        events.push_back(std::move(event));
        last = suffix;
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  const bool full = events.size() == *limit;
  json::object out{{"events", std::move(events)}};
  out["next_cursor"] = full ? json::value(crypto::Base64UrlEncode(AsBytes(last))) : nullptr;
  return out;
}

}  // namespace strongroom::records
