#include "strongroom/api/audit_support.h"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "strongroom/api/api_support.h"
#include "strongroom/audit/audit_keys.h"
#include "strongroom/audit/audit_trail.h"
#include "strongroom/base/card_numbers.h"
#include "strongroom/http/error_response.h"
#include "strongroom/records/schema.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;

struct RouteAction {
  Method method;
  std::string_view pattern;
  std::string_view action;
};

// Every audited route. A route missing here is a test failure (audit_support_test.cc), so a new
// endpoint cannot go unrecorded by accident.
constexpr std::array kActions = {
    RouteAction{Method::kPost, "/v1/sys/unseal", "vault.unseal"},
    RouteAction{Method::kPost, "/v1/sys/seal", "vault.seal"},
    RouteAction{Method::kPost, "/v1/tenants", "tenant.create"},
    RouteAction{Method::kGet, "/v1/tenants", "tenant.list"},
    RouteAction{Method::kGet, "/v1/tenants/{tenant}/two-factor-policy",
                "tenant.read_two_factor_policy"},
    RouteAction{Method::kPut, "/v1/tenants/{tenant}/two-factor-policy",
                "tenant.set_two_factor_policy"},
    RouteAction{Method::kPost, "/v1/collections", "collection.create"},
    RouteAction{Method::kGet, "/v1/collections", "collection.list"},
    RouteAction{Method::kGet, "/v1/collections/{collection}", "collection.read"},
    RouteAction{Method::kPatch, "/v1/collections/{collection}", "collection.evolve"},
    RouteAction{Method::kPost, "/v1/collections/{collection}/records", "record.create"},
    RouteAction{Method::kPost, "/v1/collections/{collection}/records/batch", "record.create"},
    RouteAction{Method::kPost, "/v1/collections/{collection}/records/search", "record.search"},
    RouteAction{Method::kGet, "/v1/collections/{collection}/records", "record.list"},
    RouteAction{Method::kGet, "/v1/collections/{collection}/records/{id}", "record.read"},
    RouteAction{Method::kGet, "/v1/collections/{collection}/archive", "record.list_archived"},
    RouteAction{Method::kGet, "/v1/collections/{collection}/archive/{id}", "record.read_archived"},
    RouteAction{Method::kPatch, "/v1/collections/{collection}/records/{id}", "record.update"},
    RouteAction{Method::kDelete, "/v1/collections/{collection}/records/{id}", "record.delete"},
    RouteAction{Method::kPost, "/v1/subjects", "subject.create"},
    RouteAction{Method::kGet, "/v1/subjects", "subject.list"},
    RouteAction{Method::kGet, "/v1/subjects/{id}", "subject.read"},
    RouteAction{Method::kDelete, "/v1/subjects/{id}", "subject.erase"},
    RouteAction{Method::kDelete, "/v1/subjects/{id}/erasure", "subject.cancel_erasure"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/export", "subject.export"},
    RouteAction{Method::kPost, "/v1/subjects/{id}/consents", "consent.create"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/consents", "consent.list"},
    RouteAction{Method::kPut, "/v1/subjects/{id}/processing", "processing.update"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/processing", "processing.read"},
    RouteAction{Method::kPost, "/v1/subjects/{id}/activity", "activity.append"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/activity", "activity.list"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/archive/activity", "activity.list_archived"},
    RouteAction{Method::kPost, "/v1/subjects/{id}/documents", "document.upload"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/documents", "document.list"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/documents/{doc}", "document.read"},
    RouteAction{Method::kDelete, "/v1/subjects/{id}/documents/{doc}", "document.delete"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/archive/documents", "document.list_archived"},
    RouteAction{Method::kGet, "/v1/subjects/{id}/archive/documents/{doc}",
                "document.read_archived"},
    RouteAction{Method::kPost, "/v1/auth/login", "auth.sign_in"},
    RouteAction{Method::kPost, "/v1/auth/login/totp", "auth.second_factor"},
    RouteAction{Method::kPost, "/v1/auth/logout", "auth.sign_out"},
    RouteAction{Method::kPost, "/v1/auth/logout-everywhere", "auth.sign_out_everywhere"},
    RouteAction{Method::kGet, "/v1/auth/session", "auth.read_session"},
    RouteAction{Method::kPost, "/v1/auth/password", "auth.change_password"},
    RouteAction{Method::kGet, "/v1/auth/totp", "auth.read_two_factor"},
    RouteAction{Method::kPost, "/v1/auth/totp", "auth.enrol_totp"},
    RouteAction{Method::kPost, "/v1/auth/totp/confirm", "auth.confirm_totp"},
    RouteAction{Method::kPost, "/v1/auth/totp/disable", "auth.disable_totp"},
    RouteAction{Method::kPost, "/v1/auth/recovery-codes", "auth.regenerate_recovery_codes"},
    RouteAction{Method::kPost, "/v1/principals", "principal.create"},
    RouteAction{Method::kGet, "/v1/principals", "principal.list"},
    RouteAction{Method::kGet, "/v1/principals/{id}", "principal.read"},
    RouteAction{Method::kPatch, "/v1/principals/{id}", "principal.update"},
    RouteAction{Method::kDelete, "/v1/principals/{id}", "principal.delete"},
    RouteAction{Method::kPost, "/v1/principals/{id}/password", "principal.reset_password"},
    RouteAction{Method::kPost, "/v1/principals/{id}/unlock", "principal.unlock"},
    RouteAction{Method::kDelete, "/v1/principals/{id}/totp", "principal.reset_two_factor"},
    RouteAction{Method::kGet, "/v1/principals/{id}/sessions", "session.list"},
    RouteAction{Method::kDelete, "/v1/principals/{id}/sessions", "session.end_all"},
    RouteAction{Method::kDelete, "/v1/principals/{id}/sessions/{session}", "session.end"},
    RouteAction{Method::kGet, "/v1/principals/{id}/tokens", "token.list"},
    RouteAction{Method::kPost, "/v1/principals/{id}/tokens", "token.issue"},
    RouteAction{Method::kGet, "/v1/tokens", "token.list"},
    RouteAction{Method::kDelete, "/v1/tokens/{id}", "token.revoke"},
    RouteAction{Method::kPost, "/v1/collections/{collection}/break-glass", "break_glass.request"},
    RouteAction{Method::kGet, "/v1/break-glass", "break_glass.list"},
    RouteAction{Method::kPost, "/v1/break-glass/{id}/approve", "break_glass.approve"},
    RouteAction{Method::kPost, "/v1/break-glass/{id}/revoke", "break_glass.revoke"},
    RouteAction{Method::kGet, "/v1/guard/bans", "guard.list_bans"},
    RouteAction{Method::kPost, "/v1/guard/bans", "guard.ban"},
    RouteAction{Method::kPost, "/v1/guard/bans/lift", "guard.lift_ban"},
    RouteAction{Method::kGet, "/v1/backups", "backup.list"},
    RouteAction{Method::kPost, "/v1/backups", "backup.create"},
    RouteAction{Method::kPost, "/v1/backups/verify", "backup.verify"},
    RouteAction{Method::kPost, "/v1/backups/restore", "backup.restore"},
    RouteAction{Method::kPost, "/v1/backups/prune", "backup.prune"},
    RouteAction{Method::kPost, "/v1/backups/drill", "backup.drill"},
    RouteAction{Method::kGet, "/v1/backups/jobs", "backup.list_jobs"},
    RouteAction{Method::kGet, "/v1/backups/jobs/{id}", "backup.read_job"},
    RouteAction{Method::kPost, "/v1/privacy/requests", "subject_request.create"},
    RouteAction{Method::kGet, "/v1/privacy/requests", "subject_request.list"},
    RouteAction{Method::kGet, "/v1/privacy/requests/{id}", "subject_request.read"},
    RouteAction{Method::kPatch, "/v1/privacy/requests/{id}", "subject_request.update"},
    RouteAction{Method::kGet, "/v1/retention", "retention.read"},
    RouteAction{Method::kPost, "/v1/retention/run", "retention.run"},
    RouteAction{Method::kGet, "/v1/keys", "key.read"},
    RouteAction{Method::kPost, "/v1/keys/rotate", "key.rotate"},
    RouteAction{Method::kDelete, "/v1/keys/versions/{version}", "key.retire"},
    RouteAction{Method::kPost, "/v1/tokenize", "tokenization.tokenize"},
    RouteAction{Method::kPost, "/v1/detokenize", "tokenization.detokenize"},
    RouteAction{Method::kGet, "/v1/policy", "policy.read"},
    RouteAction{Method::kPut, "/v1/policy", "policy.update"},
    RouteAction{Method::kGet, "/v1/policy/versions", "policy.list_versions"},
    RouteAction{Method::kPost, "/v1/policy/dry-run", "policy.dry_run"},
    RouteAction{Method::kGet, "/v1/audit", "audit.read"},
    RouteAction{Method::kGet, "/v1/audit/checkpoint", "audit.read_checkpoint"},
    RouteAction{Method::kGet, "/v1/audit/proof/inclusion", "audit.prove_inclusion"},
    RouteAction{Method::kGet, "/v1/audit/proof/consistency", "audit.prove_consistency"},
    RouteAction{Method::kPost, "/v1/audit/hash", "audit.hash_value"},
};

// Lists in an answer whose members are records, events, documents, principals, tokens or
// sessions (each with an "id", some with a subject).
constexpr std::array<std::string_view, 8> kListMembers = {
    "records", "events", "documents", "principals", "tokens", "sessions", "tenants", "requests"};
// At most this many ids per entry: a page is at most this long.
constexpr std::size_t kMaxIds = 1000;

bool IsSubjectRoute(std::string_view pattern) { return pattern.starts_with("/v1/subjects"); }

void AddUnique(std::vector<std::string>& list, std::string_view value) {
  if (value.empty() || list.size() >= kMaxIds) return;
  if (std::find(list.begin(), list.end(), value) == list.end()) list.emplace_back(value);
}

std::string_view Text(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// Each field of a record answer and the view it was shown in ("email:masked", "ssn:withheld"),
// from the answer's "views" (record_views.h).
void AddFields(audit::Event& event, const json::object& o) {
  const auto* views = o.if_contains("views");
  if (views == nullptr || !views->is_object()) return;
  for (const auto& [name, view] : views->get_object()) {
    if (!view.is_string()) continue;
    AddUnique(event.fields, std::string(name) + ":" + std::string(view.get_string()));
  }
  // What a flagging free-text detector found in a write ("notes:flagged:phone"; never what).
  const auto* flags = o.if_contains("flags");
  if (flags == nullptr || !flags->is_object()) return;
  for (const auto& [name, kinds] : flags->get_object()) {
    if (!kinds.is_array()) continue;
    for (const auto& kind : kinds.get_array()) {
      if (kind.is_string()) {
        AddUnique(event.fields, std::string(name) + ":flagged:" + std::string(kind.get_string()));
      }
    }
  }
}

// Subject ids go into the trail only as pseudonyms.
Result<void> AddSubject(const VaultApi& api, audit::Event& event, std::string_view subject) {
  if (subject.empty() || event.subjects.size() >= kMaxIds) return {};
  auto pseudonym = api.audit_keys.SubjectPseudonym(event.tenant, subject);
  if (!pseudonym) return std::unexpected(pseudonym.error());
  AddUnique(event.subjects, *pseudonym);
  return {};
}

Result<void> AddItem(const VaultApi& api, audit::Event& event, const json::object& item,
                     bool subject_ids) {
  if (subject_ids) {
    if (auto added = AddSubject(api, event, Text(item, "id")); !added) return added;
  } else {
    AddUnique(event.ids, Text(item, "id"));
  }
  for (std::string_view member : {"subject_id", "subject"}) {
    if (auto added = AddSubject(api, event, Text(item, member)); !added) return added;
  }
  AddFields(event, item);
  return {};
}

Result<void> AddAnswer(const VaultApi& api, std::string_view route, audit::Event& event,
                       const json::object& body);

// The text a value is hashed as: a string as it is, anything else as its JSON.
std::string ValueText(const json::value& value) {
  return value.is_string() ? std::string(value.get_string()) : json::serialize(value);
}

Result<void> HashFields(const VaultApi& api, audit::Event& event, const json::value* fields) {
  if (fields == nullptr || !fields->is_object()) return {};
  for (const auto& [name, value] : fields->get_object()) {
    if (event.values.size() >= kMaxIds) break;
    // A card number was refused (card_data_refused): not even its keyed hash is kept, nor a
    // field name that is one.
    if (ContainsCardNumber(name) || !records::RefuseCardNumbers(value, "$")) continue;
    auto hash = api.audit_keys.ValueHash(ValueText(value));
    if (!hash) return std::unexpected(hash.error());
    AddUnique(event.values, std::string(name) + ":" + *hash);
  }
  return {};
}

// Values a write or a search carried, hashed: record create (one or a batch), update, search.
Result<void> AddValueHashes(const VaultApi& api, const http::Request& request,
                            audit::Event& event) {
  const std::string_view action = event.action;
  const bool tokens = action == "tokenization.tokenize" || action == "tokenization.detokenize";
  if (action != "record.create" && action != "record.update" && action != "record.search" &&
      !tokens) {
    return {};
  }
  boost::system::error_code ec;
  json::value body = json::parse(request.body, ec);
  if (ec || !body.is_object()) return {};  // refused as bad input: nothing was carried
  const json::object& o = body.get_object();
  if (tokens) {
    // Which values were tokenized, which tokens were turned back: keyed hashes only, so that
    // "who revealed this token?" has an answer and neither is written down.
    const bool tokenize = action == "tokenization.tokenize";
    const auto* list = o.if_contains(tokenize ? "values" : "tokens");
    if (list == nullptr || !list->is_array()) return {};
    for (const auto& item : list->get_array()) {
      if (event.values.size() >= kMaxIds) break;
      if (!item.is_string() || ContainsCardNumber(item.get_string())) continue;
      auto hash = api.audit_keys.ValueHash(item.get_string());
      if (!hash) return std::unexpected(hash.error());
      AddUnique(event.values, (tokenize ? "value:" : "token:") + *hash);
    }
    return {};
  }
  if (action == "record.search") {
    const auto* field = o.if_contains("field");
    const auto* value = o.if_contains("value");
    if (field == nullptr || !field->is_string() || value == nullptr) return {};
    if (!records::RefuseCardNumbers(*value, "$")) return {};  // refused: no keyed hash either
    if (ContainsCardNumber(field->get_string())) return {};
    auto hash = api.audit_keys.ValueHash(ValueText(*value));
    if (!hash) return std::unexpected(hash.error());
    AddUnique(event.values, std::string(field->get_string()) + ":" + *hash);
    return {};
  }
  if (auto hashed = HashFields(api, event, o.if_contains("fields")); !hashed) return hashed;
  if (const auto* records = o.if_contains("records"); records != nullptr && records->is_array()) {
    for (const auto& item : records->get_array()) {
      if (!item.is_object()) continue;
      if (auto hashed = HashFields(api, event, item.get_object().if_contains("fields")); !hashed) {
        return hashed;
      }
    }
  }
  return {};
}

class AuditGate final : public http::ResponseGate {
 public:
  AuditGate(audit::Trail& trail, audit::Event event) : trail_(trail), event_(std::move(event)) {}
  void Wait(std::function<void(std::unique_ptr<http::Response>)> release) override {
    std::string request_id = event_.request_id;
    trail_.Append(std::move(event_), [release = std::move(release),
                                      request_id =
                                          std::move(request_id)](Result<std::uint64_t> recorded) {
      if (recorded) return release(nullptr);
      // The reason (a path, an errno) is for the log (audit.write_failed), not for clients.
      const Error refusal(ErrorCode::kAuditUnavailable,
                          "the audit trail cannot record this request, so nothing was released "
                          "(retry later)");
      release(std::make_unique<http::Response>(http::ErrorResponse(refusal, request_id)));
    });
  }

 private:
  audit::Trail& trail_;
  audit::Event event_;
};

// A streamed answer's entry is made before its first byte leaves (AuditGate), saying 200. When
// the server's own source fails part-way (a damaged chunk, a store error) the client gets a body
// cut short, and a second entry with the same request id says so: status 500, the error's code
// and the rule `stream_aborted`. A client that goes away is not recorded again: what it got is
// what the first entry allowed. Read() runs on a worker, so waiting for the entry is allowed;
// the cut waits for it, so the entry is durable by the time the client sees the cut.
class AuditedSource final : public http::BodySource {
 public:
  AuditedSource(audit::Trail& trail, std::unique_ptr<http::BodySource> inner,
                std::uint64_t body_length, bool chunked, audit::Event event)
      : trail_(trail),
        inner_(std::move(inner)),
        remaining_(body_length),
        chunked_(chunked),
        event_(std::move(event)) {}

  Result<std::size_t> Read(std::span<std::uint8_t> out) override {
    Result<std::size_t> read = Fail(ErrorCode::kInternal, "body source threw");
    try {
      read = inner_->Read(out);
    } catch (const std::exception&) {  // the server cuts the stream for it (http/server.cc)
      RecordCut("internal");
      throw;
    }
    if (!read) {
      RecordCut(ErrorCodeName(read.error().code()));
      return read;
    }
    // Cut by the server as well: a sized body that ends early or runs past its length.
    if ((*read == 0 && !chunked_ && remaining_ > 0) || (!chunked_ && *read > remaining_)) {
      RecordCut("short_body");
      return read;
    }
    if (!chunked_) remaining_ -= *read;
    return read;
  }

 private:
  void RecordCut(std::string_view code) {
    if (cut_) return;
    cut_ = true;
    event_.time = {};
    event_.status = 500;
    event_.code = std::string(code);
    event_.detail_path.clear();
    event_.detail_rule = "stream_aborted";
    // A refusal is logged by the trail itself (audit.write_failed); the stream is cut anyway.
    (void)trail_.AppendAndWait(std::move(event_));
  }

  audit::Trail& trail_;
  std::unique_ptr<http::BodySource> inner_;
  std::uint64_t remaining_;
  bool chunked_;
  audit::Event event_;
  bool cut_ = false;
};

// An upload's answer exists only once its body has been read: the entry is made then.
class AuditedSink final : public http::BodySink {
 public:
  AuditedSink(const VaultApi& api, std::string_view route, std::unique_ptr<http::BodySink> inner,
              audit::Event event)
      : api_(api), route_(route), inner_(std::move(inner)), event_(std::move(event)) {}
  Result<void> Write(std::span<const std::uint8_t> data) override { return inner_->Write(data); }
  http::Response Finish(const Error* failure) override {
    http::Response response = inner_->Finish(failure);
    if (response.status / 100 == 2) {
      boost::system::error_code ec;
      json::value body = json::parse(response.body, ec);
      if (!ec && body.is_object()) {
        if (auto added = AddAnswer(api_, route_, event_, body.get_object()); !added) {
          response = http::ErrorResponse(
              Error(ErrorCode::kAuditUnavailable, "the audit entry could not be made"),
              event_.request_id);
        }
      }
    }
    SetOutcome(event_, response);
    HoldForAudit(api_, response, std::move(event_), route_);
    return response;
  }

 private:
  VaultApi api_;
  std::string_view route_;  // the router's pattern: lives as long as the server
  std::unique_ptr<http::BodySink> inner_;
  audit::Event event_;
};

}  // namespace

std::string_view AuditActionOf(Method method, std::string_view pattern) {
  for (const auto& a : kActions) {
    if (a.method == method && a.pattern == pattern) return a.action;
  }
  return {};
}

audit::Event AuditEventFor(const http::Request& request) {
  audit::Event event;
  event.action = std::string(AuditActionOf(request.method, request.route));
  event.request_id = std::string(request.request_id);
  event.source = std::string(request.peer);
  event.collection = std::string(request.PathParam("collection"));
  if (!IsSubjectRoute(request.route)) AddUnique(event.ids, request.PathParam("id"));
  for (std::string_view name : {"doc", "session"}) AddUnique(event.ids, request.PathParam(name));
  event.target = std::string(request.PathParam("tenant"));
  return event;
}

void SetActor(audit::Event& event, const auth::Caller& who) {
  event.tenant = who.tenant;
  event.actor = audit::Actor{who.principal_id, std::string(who.kind), who.roles,
                             std::string(auth::AuthMethodName(who.method)), who.credential_id};
}

Result<void> CompleteEvent(const VaultApi& api, const http::Request& request, audit::Event& event,
                           const json::object* answer) {
  if (IsSubjectRoute(request.route)) {
    auto added = AddSubject(api, event, request.PathParam("id"));
    // Sealed: no key for pseudonyms (and no data was released); the entry goes without.
    if (!added && added.error().code() != ErrorCode::kSealed) return added;
  }
  if (auto hashed = AddValueHashes(api, request, event); !hashed) {
    // Sealed: the request was refused (503 sealed) and carried nothing anywhere.
    if (hashed.error().code() != ErrorCode::kSealed) return hashed;
  }
  if (answer == nullptr) return {};
  return AddAnswer(api, request.route, event, *answer);
}

namespace {

Result<void> AddAnswer(const VaultApi& api, std::string_view route, audit::Event& event,
                       const json::object& body) {
  // The ids in a /v1/subjects answer are subjects' (not those of its documents or events).
  const bool subject_ids = IsSubjectRoute(route) &&
                           route.find("/documents") == std::string_view::npos &&
                           route.find("/activity") == std::string_view::npos &&
                           route.find("/consents") == std::string_view::npos;
  if (auto added = AddItem(api, event, body, subject_ids); !added) return added;
  // A record answer shown under break-glass: every use is on the trail, with the grant.
  if (const auto* grant = body.if_contains("break_glass"); grant != nullptr && grant->is_string()) {
    event.policy_rule += "; break-glass " + std::string(grant->get_string());
  }
  // Records whose subject's choices refused the request's purpose (record_views.h): how many,
  // so that "why did this read show nothing?" has its answer on the trail.
  std::size_t refused = body.contains("refused") ? 1 : 0;
  for (std::string_view list : kListMembers) {
    const auto* items = body.if_contains(list);
    if (items == nullptr || !items->is_array()) continue;
    for (const auto& item : items->get_array()) {
      if (!item.is_object()) continue;
      if (auto added = AddItem(api, event, item.get_object(), false); !added) return added;
      refused += item.get_object().contains("refused") ? 1 : 0;
    }
  }
  // A batch answer: {"results": [{"status": 201, "record": {…}}, …]}.
  if (const auto* results = body.if_contains("results");
      results != nullptr && results->is_array()) {
    for (const auto& item : results->get_array()) {
      const auto* record = item.is_object() ? item.get_object().if_contains("record") : nullptr;
      if (record == nullptr || !record->is_object()) continue;
      if (auto added = AddItem(api, event, record->get_object(), false); !added) return added;
      refused += record->get_object().contains("refused") ? 1 : 0;
    }
  }
  if (refused > 0) {
    event.policy_rule += "; subjects' choices withheld " + std::to_string(refused) + " record" +
                         (refused == 1 ? "" : "s");
  }
  if (const auto* subjects = body.if_contains("subjects");
      subjects != nullptr && subjects->is_array()) {
    for (const auto& item : subjects->get_array()) {
      if (!item.is_object()) continue;
      if (auto added = AddItem(api, event, item.get_object(), true); !added) return added;
    }
  }
  return {};
}

}  // namespace

void SetOutcome(audit::Event& event, const http::Response& response) {
  event.status = response.status;
  if (response.status < 400) {
    event.code = "ok";
    return;
  }
  // An error envelope (http/error_response.cc): its code, and the path and rule of bad input.
  boost::system::error_code ec;
  json::value body = json::parse(response.body, ec);
  const json::object* error = nullptr;
  if (!ec && body.is_object()) {
    if (const auto* e = body.get_object().if_contains("error"); e != nullptr && e->is_object()) {
      error = &e->get_object();
    }
  }
  event.code = error != nullptr ? std::string(Text(*error, "code")) : "error";
  if (error != nullptr) {
    if (const auto* d = error->if_contains("details"); d != nullptr && d->is_object()) {
      event.detail_path = std::string(Text(d->get_object(), "path"));
      event.detail_rule = std::string(Text(d->get_object(), "rule"));
    }
  }
}

void HoldForAudit(const VaultApi& api, http::Response& response, audit::Event event,
                  std::string_view route) {
  if (response.body_sink) {
    response.body_sink =
        std::make_unique<AuditedSink>(api, route, std::move(response.body_sink), std::move(event));
    return;
  }
  if (response.body_source) {
    response.body_source =
        std::make_unique<AuditedSource>(api.trail, std::move(response.body_source),
                                        response.body_length, response.body_chunked, event);
  }
  response.gate = std::make_unique<AuditGate>(api.trail, std::move(event));
}

Result<void> AuditWritable(const VaultApi& api) {
  if (api.trail.accepting()) return {};
  return Fail(ErrorCode::kAuditUnavailable,
              "the audit trail cannot be written; nothing was changed (retry later)");
}

http::Handler AuditedOpen(const VaultApi& api, http::Handler handler) {
  return [api, handler = std::move(handler)](const http::Request& request) -> http::Response {
    audit::Event event = AuditEventFor(request);
    if (request.method == Method::kPost && !api.trail.available()) {
      return Failure(request, AuditWritable(api).error());
    }
    http::Response response = handler(request);
#ifdef STRONGROOM_BENCH_AUDIT_OFF
    return response;  // benchmark build (bench/audit.sh)
#endif
    if (response.would_block) return response;
    boost::system::error_code ec;
    json::value body = json::parse(response.body, ec);
    if (!ec && body.is_object()) {
      if (const auto* c = body.get_object().if_contains("caller"); c != nullptr && c->is_object()) {
        const auto& caller = c->get_object();
        event.tenant = std::string(Text(caller, "tenant"));
        audit::Actor actor{std::string(Text(caller, "principal_id")),
                           "",
                           {},
                           std::string(Text(caller, "method")),
                           std::string(Text(caller, "credential_id"))};
        if (const auto* roles = caller.if_contains("roles"); roles && roles->is_array()) {
          for (const auto& r : roles->get_array()) {
            if (r.is_string()) actor.roles.emplace_back(r.get_string());
          }
        }
        event.actor = std::move(actor);
      } else if (body.get_object().contains("pending_token")) {
        event.target = "second_factor_required";
      }
    }
    SetOutcome(event, response);
    HoldForAudit(api, response, std::move(event), request.route);
    return response;
  };
}

}  // namespace strongroom::api
