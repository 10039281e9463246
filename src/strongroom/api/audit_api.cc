// The audit trail's read side (docs/audit.md): entries with filters and cursor paging (JSON, or
// the stored bytes as JSON lines, which is what proofs are checked against), the latest signed
// checkpoint and public key, inclusion and consistency proofs, and the keyed hash of a value to
// search for. Only the auditor role (any tenant's entries when in the operator tenant, else its
// own tenant's) and a tenant's data-protection officer (dpo: its tenant's) may call them; each
// call is itself audited (Guarded).

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

#include "strongroom/api/api_support.h"
#include "strongroom/api/audit_support.h"
#include "strongroom/audit/checkpoint.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;
using Query = std::vector<std::pair<std::string, std::string>>;

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 1000;
constexpr std::uint64_t kMaxScan = 50'000;  // entries one call reads at most (then a cursor)
constexpr std::size_t kReadChunk = 512;

std::string_view Param(const Query& query, std::string_view name) {
  for (const auto& [n, v] : query) {
    if (n == name) return v;
  }
  return {};
}

Result<std::uint64_t> Number(const Query& query, std::string_view name, std::uint64_t fallback) {
  const std::string_view text = Param(query, name);
  if (text.empty()) return fallback;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return FailAt(std::string(name), "type", "must be a non-negative integer");
  }
  return value;
}

// "2026-11-22T10:00:00Z" or with a fraction → "2026-11-22T10:00:00.000000Z", the form entries
// use, so that times compare as strings.
Result<std::string> CanonicalTime(std::string_view name, std::string_view text) {
  auto bad = [&] {
    return FailAt(std::string(name), "format", "must be an RFC 3339 UTC time (…T…Z)");
  };
  if (text.size() < 20 || text.back() != 'Z' || text[10] != 'T') return bad();
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (text[i] < '0' || text[i] > '9') return bad();
  }
  if (text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return bad();
  std::string out(text.substr(0, 19));
  std::string fraction;
  if (text.size() > 20) {
    if (text[19] != '.' || text.size() > 27) return bad();
    fraction = std::string(text.substr(20, text.size() - 21));
    if (fraction.empty() || fraction.find_first_not_of("0123456789") != std::string::npos) {
      return bad();
    }
  }
  fraction.resize(6, '0');
  return out + "." + fraction + "Z";
}

struct Filter {
  std::string tenant;  // empty: every tenant (operator-tenant auditors only)
  std::string actor, action, outcome, from, to, record, value;
  // Any of these names the subject (AuditKeys::SubjectPseudonyms); empty: any subject.
  std::vector<std::string> subjects;
  bool action_prefix = false;

  bool Matches(const json::object& e) const {
    auto text = [&](const json::object& o, std::string_view k) {
      const auto* v = o.if_contains(k);
      return v != nullptr && v->is_string() ? std::string_view(v->get_string())
                                            : std::string_view();
    };
    auto list_has = [](const json::value* list, std::string_view want) {
      if (list == nullptr || !list->is_array()) return false;
      for (const auto& item : list->get_array()) {
        if (item.is_string() && item.get_string() == want) return true;
      }
      return false;
    };
    if (!tenant.empty() && text(e, "tenant") != tenant) return false;
    const std::string_view time = text(e, "time");
    if (!from.empty() && time < from) return false;
    if (!to.empty() && time >= to) return false;
    if (!action.empty()) {
      const std::string_view a = text(e, "action");
      if (action_prefix ? !a.starts_with(action) : a != action) return false;
    }
    if (!actor.empty()) {
      const auto* a = e.if_contains("actor");
      if (a == nullptr || !a->is_object() || text(a->get_object(), "id") != actor) return false;
    }
    const auto* resource_value = e.if_contains("resource");
    const json::object* resource = resource_value != nullptr && resource_value->is_object()
                                       ? &resource_value->get_object()
                                       : nullptr;
    if (!subjects.empty() &&
        (resource == nullptr || std::none_of(subjects.begin(), subjects.end(), [&](const auto& s) {
           return list_has(resource->if_contains("subjects"), s);
         }))) {
      return false;
    }
    if (!record.empty() &&
        (resource == nullptr || !list_has(resource->if_contains("ids"), record))) {
      return false;
    }
    if (!value.empty()) {
      bool found = false;
      if (const auto* values = e.if_contains("values"); values != nullptr && values->is_array()) {
        for (const auto& item : values->get_array()) {
          found =
              found || (item.is_string() && std::string_view(item.get_string()).ends_with(value));
        }
      }
      if (!found) return false;
    }
    if (!outcome.empty()) {
      const auto* o = e.if_contains("outcome");
      const std::string_view code =
          o != nullptr && o->is_object() ? text(o->get_object(), "code") : std::string_view();
      if (outcome == "denied") {
        if (code != "permission_denied" && code != "unauthenticated") return false;
      } else if (code != outcome) {
        return false;
      }
    }
    return true;
  }
};

// Who may read which tenant's entries.
Result<std::string> ReadableTenant(const auth::Caller& who, std::string_view asked) {
  const bool vault_wide = who.HasRole("auditor") && who.tenant == auth::kDefaultTenant;
  if (vault_wide) return std::string(asked);
  if (!asked.empty() && asked != who.tenant) {
    return Fail(ErrorCode::kPermissionDenied, "you may read only your own tenant's audit entries");
  }
  return who.tenant;
}

Result<Filter> FilterFrom(const VaultApi& api, const auth::Caller& who, const Query& q) {
  Filter f;
  auto tenant = ReadableTenant(who, Param(q, "tenant"));
  if (!tenant) return std::unexpected(tenant.error());
  f.tenant = *tenant;
  f.actor = std::string(Param(q, "actor"));
  f.action = std::string(Param(q, "action"));
  if (f.action.ends_with(".*")) {
    f.action.pop_back();
    f.action_prefix = true;
  }
  f.outcome = std::string(Param(q, "outcome"));
  f.record = std::string(Param(q, "record"));
  f.value = std::string(Param(q, "value_hash"));
  if (!f.value.empty() && !f.value.starts_with("hmac-sha256:")) {
    return FailAt("value_hash", "format", "must be a hash from POST /v1/audit/hash");
  }
  if (const auto from = Param(q, "from"); !from.empty()) {
    auto t = CanonicalTime("from", from);
    if (!t) return std::unexpected(t.error());
    f.from = *t;
  }
  if (const auto to = Param(q, "to"); !to.empty()) {
    auto t = CanonicalTime("to", to);
    if (!t) return std::unexpected(t.error());
    f.to = *t;
  }
  if (const auto subject = Param(q, "subject"); !subject.empty()) {
    if (subject.starts_with("psn_")) {
      f.subjects.emplace_back(subject);
    } else {
      // A subject id: its pseudonyms in the tenant asked for (or the caller's). An erased
      // subject's own pseudonym is gone: only entries written after its erasure still match.
      const std::string in = f.tenant.empty() ? who.tenant : f.tenant;
      auto pseudonyms = api.audit_keys.SubjectPseudonyms(in, subject);
      if (!pseudonyms) return std::unexpected(pseudonyms.error());
      f.subjects = std::move(*pseudonyms);
    }
  }
  return f;
}

std::string Hex(const audit::Hash& h) { return crypto::HexEncode(h); }

json::array HexList(const std::vector<audit::Hash>& hashes) {
  json::array out;
  for (const auto& h : hashes) out.emplace_back(Hex(h));
  return out;
}

json::object CheckpointJson(const audit::Checkpoint& c) {
  return json::object{
      {"size", c.size}, {"root", Hex(c.root)}, {"last_leaf", Hex(c.last_leaf)},
      {"time", c.time}, {"key_id", c.key_id},  {"signature", crypto::Base64Encode(c.signature)}};
}

Result<Query> CheckedQuery(const Request& request,
                           std::initializer_list<std::string_view> allowed) {
  if (request.query.empty()) return Query{};
  return ParseQuery(request.query, allowed);
}

Result<Answer> ReadEntries(const VaultApi& api, const Request& request, const auth::Caller& who) {
  auto q = CheckedQuery(request, {"tenant", "actor", "subject", "action", "outcome", "from", "to",
                                  "record", "value_hash", "cursor", "limit", "format"});
  if (!q) return std::unexpected(q.error());
  auto filter = FilterFrom(api, who, *q);
  if (!filter) return std::unexpected(filter.error());
  auto cursor = Number(*q, "cursor", 0);
  if (!cursor) return std::unexpected(cursor.error());
  auto limit = Number(*q, "limit", kDefaultLimit);
  if (!limit) return std::unexpected(limit.error());
  if (*limit == 0 || *limit > kMaxLimit) {
    return FailAt("limit", "range", "must be 1 to " + std::to_string(kMaxLimit));
  }
  const std::string_view format = Param(*q, "format");
  if (!format.empty() && format != "json" && format != "jsonl") {
    return FailAt("format", "enum", "must be json or jsonl");
  }
  const std::uint64_t end = api.trail.size();
  // Entries before first() were moved to the archive: they are read from there, offline.
  std::uint64_t at = std::max(*cursor, api.trail.first());
  const std::uint64_t scan_end = std::min(end, at + kMaxScan);
  std::string lines;
  json::array entries;
  std::size_t found = 0;
  int archived_retries = 0;
  while (at < scan_end && found < *limit) {
    auto chunk = api.trail.Read(
        at, static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, scan_end - at)));
    if (!chunk && chunk.error().code() == ErrorCode::kFailedPrecondition &&
        archived_retries++ < 3) {
      at = std::max(at, api.trail.first());  // archived meanwhile: go on from the first live one
      continue;
    }
    if (!chunk) return std::unexpected(chunk.error());
    if (chunk->empty()) break;
    for (const std::string& raw : *chunk) {
      ++at;
      boost::system::error_code ec;
      json::value entry = json::parse(raw, ec);
      if (ec || !entry.is_object()) {
        return Fail(ErrorCode::kDataLoss, "an audit entry does not parse");
      }
      if (!filter->Matches(entry.get_object())) continue;
      if (format == "jsonl") {
        lines.append(raw).push_back('\n');
      } else {
        entries.push_back(std::move(entry));
      }
      if (++found == *limit) break;
    }
  }
  const bool more = at < end;
  if (format == "jsonl") {
    http::Response r;
    r.content_type = "application/x-ndjson";
    r.body = std::move(lines);
    if (more) r.headers.emplace_back("Strongroom-Next-Cursor", std::to_string(at));
    return Answer(std::move(r));
  }
  json::object out{{"entries", std::move(entries)}};
  out["next_cursor"] = more ? json::value(std::to_string(at)) : json::value(nullptr);
  return Answer{200, std::move(out)};
}

}  // namespace

void AddAuditRoutes(http::Router& router, const VaultApi& api) {
  router.Add(Method::kGet, "/v1/audit", http::Execution::kWorker,
             Guarded(api, Access::kAudit, false, [api](const Request& r, const auth::Caller& who) {
               return ReadEntries(api, r, who);
             }));
  router.Add(Method::kGet, "/v1/audit/checkpoint", http::Execution::kWorker,
             Guarded(api, Access::kAudit, false,
                     [api](const Request& r, const auth::Caller&) -> Result<Answer> {
                       if (auto q = CheckedQuery(r, {}); !q) return std::unexpected(q.error());
                       auto c = api.trail.latest_checkpoint();
                       if (!c) {
                         return Fail(ErrorCode::kNotFound,
                                     "no checkpoint yet (the vault has not been unsealed since "
                                     "the trail began)");
                       }
                       json::object out = CheckpointJson(*c);
                       out["entries"] = api.trail.size();
                       out["first"] = api.trail.first();
                       return Answer{200, std::move(out)};
                     }));
  router.Add(Method::kGet, "/v1/audit/proof/inclusion", http::Execution::kWorker,
             Guarded(api, Access::kAudit, false,
                     [api](const Request& r, const auth::Caller&) -> Result<Answer> {
                       auto q = CheckedQuery(r, {"index", "size"});
                       if (!q) return std::unexpected(q.error());
                       const auto latest = api.trail.latest_checkpoint();
                       auto index = Number(*q, "index", UINT64_MAX);
                       auto size = Number(*q, "size", latest ? latest->size : 0);
                       if (!index) return std::unexpected(index.error());
                       if (!size) return std::unexpected(size.error());
                       if (*index == UINT64_MAX) return FailAt("index", "required", "is required");
                       if (*index >= *size) {
                         return FailAt("index", "range", "must be below size");
                       }
                       auto proof = api.trail.InclusionProof(*index, *size);
                       if (!proof) return std::unexpected(proof.error());
                       auto root = api.trail.RootAt(*size);
                       if (!root) return std::unexpected(root.error());
                       return Answer{200,
                                     {{"index", *index},
                                      {"size", *size},
                                      {"root", Hex(*root)},
                                      {"proof", HexList(*proof)}}};
                     }));
  router.Add(Method::kGet, "/v1/audit/proof/consistency", http::Execution::kWorker,
             Guarded(api, Access::kAudit, false,
                     [api](const Request& r, const auth::Caller&) -> Result<Answer> {
                       auto q = CheckedQuery(r, {"old", "new"});
                       if (!q) return std::unexpected(q.error());
                       const auto latest = api.trail.latest_checkpoint();
                       auto old_size = Number(*q, "old", 0);
                       auto new_size = Number(*q, "new", latest ? latest->size : 0);
                       if (!old_size) return std::unexpected(old_size.error());
                       if (!new_size) return std::unexpected(new_size.error());
                       if (*old_size == 0 || *old_size > *new_size) {
                         return FailAt("old", "range", "must be 1 to new");
                       }
                       auto proof = api.trail.ConsistencyProof(*old_size, *new_size);
                       if (!proof) return std::unexpected(proof.error());
                       auto old_root = api.trail.RootAt(*old_size);
                       auto new_root = api.trail.RootAt(*new_size);
                       if (!old_root || !new_root) {
                         return std::unexpected(!old_root ? old_root.error() : new_root.error());
                       }
                       return Answer{200,
                                     {{"old", *old_size},
                                      {"new", *new_size},
                                      {"old_root", Hex(*old_root)},
                                      {"new_root", Hex(*new_root)},
                                      {"proof", HexList(*proof)}}};
                     }));
  router.Add(Method::kPost, "/v1/audit/hash", http::Execution::kWorker,
             Guarded(api, Access::kAudit, true,
                     [api](const Request& r, const auth::Caller&) -> Result<Answer> {
                       auto body = Body(r);
                       if (!body) return std::unexpected(body.error());
                       if (!body->is_object()) return FailAt("$", "type", "must be an object");
                       auto& o = body->get_object();
                       if (auto known = records::RefuseUnknownMembers(o, {"value"}, "$"); !known) {
                         return std::unexpected(known.error());
                       }
                       const auto* value = o.if_contains("value");
                       if (value == nullptr) return FailAt("$.value", "required", "is required");
                       const std::string text = value->is_string()
                                                    ? std::string(value->get_string())
                                                    : json::serialize(*value);
                       auto hash = api.audit_keys.ValueHash(text);
                       if (!hash) return std::unexpected(hash.error());
                       return Answer{200, {{"hash", *hash}}};
                     }));
}

}  // namespace strongroom::api
