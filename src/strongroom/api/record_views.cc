#include "strongroom/api/record_views.h"

#include "strongroom/api/api_support.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/privacy/desensitize.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using privacy::View;

Error NotAllowed(std::string path, std::string_view what) {
  Error error(ErrorCode::kPermissionDenied, "the access policy does not allow this caller to " +
                                                std::string(what) + " this field");
  error.At(std::move(path), "policy");
  return error;
}

}  // namespace

Result<RecordViews> RecordViews::Prepare(const VaultApi& api, const http::Request& request,
                                         const auth::Caller& who, policy::Action action) {
  RecordViews views;
  views.api_ = &api;
  views.request_ = &request;
  views.who_ = &who;
  views.action_ = action;
  views.tenant_ = who.tenant;
  auto policy = api.policies.For(who.tenant);
  if (!policy) return std::unexpected(policy.error());
  views.policy_ = std::move(*policy);
  const std::string_view collection = request.PathParam("collection");
  auto schema = api.service.CollectionSchema(who.tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  views.schema_ = std::move(*schema);
  const policy::Context context = CallContext(request, who, action, collection);
  views.prepared_ = views.policy_->Prepare(context);
  // Answers show what this caller may *read*, whatever the call was: a write or a search does
  // not reveal more of a record than reading it would.
  policy::Context read = context;
  read.action = policy::Action::kRead;
  views.read_ = action == policy::Action::kRead ? views.prepared_ : views.policy_->Prepare(read);
  // A grant counts for calls made as it was asked (same roles, same purpose).
  views.grant_ = api.break_glass.Active(who.tenant, who.principal_id, collection);
  if (views.grant_ != nullptr && !views.grant_->Matches(who.roles, context.purpose)) {
    views.grant_ = nullptr;
  }
  return views;
}

Result<void> RecordViews::CheckWrite(const json::value* fields, const std::string& path) const {
  if (fields == nullptr || !fields->is_object()) return {};  // the service names what is wrong
  for (const auto& [name, value] : fields->get_object()) {
    const records::FieldSpec* spec = schema_->Find(name);
    if (spec == nullptr) continue;  // unknown_field, from the service
    if (!prepared_.FieldView(*spec)) {
      return std::unexpected(NotAllowed(records::JsonPathKey(path + ".fields", name), "write"));
    }
  }
  return {};
}

Result<void> RecordViews::CheckSearch(const json::value& body) const {
  const auto* o = body.if_object();
  const auto* field = o ? o->if_contains("field") : nullptr;
  if (field == nullptr || !field->is_string()) return {};  // the service names what is wrong
  // An exact-match search answers "does a record hold this value?": only for a caller whose
  // *search* view of the field is plain (a policy that also shows it masked on read has chosen
  // so), or a masked or redacted view would leak through guesses.
  const records::FieldSpec* spec = schema_->Find(field->get_string());
  if (spec != nullptr && prepared_.FieldView(*spec) != View::kPlain) {
    return std::unexpected(NotAllowed("$.field", "search on"));
  }
  return {};
}

Result<void> RecordViews::ApplyToRecord(json::object& record, bool whole) const {
  auto* fields = record.if_contains("fields");
  if (fields == nullptr || !fields->is_object()) return {};
  json::object& values = fields->get_object();
  bool refused = false;
  if (const auto* subject = record.if_contains("subject_id");
      subject != nullptr && subject->is_string()) {
    auto allowed = CheckSubjectChoices(*api_, *policy_, *request_, *who_, subject->get_string());
    if (!allowed) {
      const ErrorCode code = allowed.error().code();
      // One record: its refusal is the answer. In a list or a write's answer (the write is
      // already durable) the record is withheld instead; only would_block (try again on a
      // worker) fails the call.
      if (whole || code == ErrorCode::kWouldBlock) return std::unexpected(allowed.error());
      refused = true;
      record["refused"] =
          code == ErrorCode::kPermissionDenied ? allowed.error().rule() : "unavailable";
    }
  }
  const auto* archived_flag = record.if_contains("archived");
  const bool archived =
      archived_flag != nullptr && archived_flag->is_bool() && archived_flag->get_bool();
  json::object shown;
  for (const auto& spec : schema_->fields) {
    auto* value = values.if_contains(spec.name);
    const auto view = refused ? std::nullopt : read_.FieldView(spec);
    if (!view) {
      // Every field the caller may not see is listed, held or not: "withheld" must not tell
      // that a value exists.
      if (value != nullptr) values.erase(spec.name);
      shown[spec.name] = "withheld";
      continue;
    }
    // Break-glass shows better what the caller sees; it never opens a withheld field.
    View shown_as = grant_ != nullptr && grant_->Covers(spec.name) ? View::kPlain : *view;
    // An archived value is read for the purpose legal only: a token of it could be detokenized
    // for another purpose later, so the archive shows it masked instead.
    if (shown_as == View::kTokenized && archived) shown_as = View::kMasked;
    if (value == nullptr) continue;
    switch (shown_as) {
      case View::kPlain:
        break;
      case View::kMasked:
        *value = value->is_string()
                     ? privacy::MaskByType(records::FieldTypeName(spec.type), value->get_string())
                     : std::string("***");
        break;
      case View::kHashed: {
        auto pseudonym = api_->service.Pseudonym(tenant_, spec, *value);
        if (!pseudonym) return std::unexpected(pseudonym.error());
        *value = *pseudonym;
        break;
      }
      case View::kTokenized: {
        // Stored so that a caller allowed to detokenize can turn it back: a write on a read,
        // made once per distinct value.
        const auto* subject = record.if_contains("subject_id");
        auto token = api_->tokens.TokenizeField(tenant_, schema_->collection, spec.name, *value,
                                                subject != nullptr && subject->is_string()
                                                    ? std::string_view(subject->get_string())
                                                    : std::string_view());
        if (!token) return std::unexpected(token.error());
        *value = *token;
        break;
      }
      case View::kRedacted:
        *value = privacy::kRedacted;
        break;
    }
    shown[spec.name] = privacy::ViewName(shown_as);
  }
  // A stored field the schema no longer names is never shown (schemas only deprecate, so this
  // is a guard, not a path taken).
  std::vector<std::string> unknown;
  for (const auto& member : values) {
    if (schema_->Find(member.key()) == nullptr) unknown.emplace_back(member.key());
  }
  for (const auto& name : unknown) values.erase(name);
  // A flagging detector's note about a field the caller may not read would tell it holds one.
  if (auto* flags = record.if_contains("flags"); flags != nullptr && flags->is_object()) {
    std::vector<std::string> hidden;
    for (const auto& member : flags->get_object()) {
      const auto* view = shown.if_contains(member.key());
      if (view == nullptr || *view == "withheld") hidden.emplace_back(member.key());
    }
    for (const auto& name : hidden) flags->get_object().erase(name);
    if (flags->get_object().empty()) record.erase("flags");
  }
  record["views"] = std::move(shown);
  return {};
}

Result<void> RecordViews::Apply(json::object& answer) const {
  if (grant_ != nullptr) answer["break_glass"] = grant_->id;
  if (answer.contains("fields")) return ApplyToRecord(answer, action_ == policy::Action::kRead);
  if (auto* list = answer.if_contains("records"); list != nullptr && list->is_array()) {
    for (auto& item : list->get_array()) {
      if (!item.is_object()) continue;
      if (auto applied = ApplyToRecord(item.get_object(), false); !applied) return applied;
    }
    // A search matching a refusing subject's record would tell that they hold the value: such
    // records are left out of a search (a listing shows them withheld).
    if (action_ == policy::Action::kSearch) {
      auto& items = list->get_array();
      for (auto it = items.begin(); it != items.end();) {
        it = it->is_object() && it->get_object().contains("refused") ? items.erase(it) : it + 1;
      }
    }
  }
  if (auto* results = answer.if_contains("results"); results != nullptr && results->is_array()) {
    for (auto& item : results->get_array()) {
      auto* record = item.is_object() ? item.get_object().if_contains("record") : nullptr;
      if (record == nullptr || !record->is_object()) continue;
      if (auto applied = ApplyToRecord(record->get_object(), false); !applied) return applied;
    }
  }
  return {};
}

}  // namespace strongroom::api
