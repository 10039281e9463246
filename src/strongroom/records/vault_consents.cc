// VaultService, a subject's choices: consent records per purpose (given or withdrawn, when,
// under which version of the consent text), append-only, and their current state
// (docs/privacy.md, "Consent records"); the processing state (restriction, objections), replaced
// whole. Each is encrypted under the subject's data key in the activity store (spaces `consents`
// and `processing`), so it is crypto-shredded and purged with the subject. What reads weigh is
// kept decrypted in memory by choices_ (subject_choices.h).
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <limits>

#include "strongroom/crypto/encoding.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/service_support.h"
#include "strongroom/records/vault_service.h"

namespace strongroom::records {

namespace json = boost::json;
using namespace internal;  // NOLINT(google-build-using-namespace): this module's own helpers

namespace {

// A subject's records are few (one per choice a person makes); the cap bounds a listing.
constexpr std::size_t kMaxConsentRecords = 1000;

// Keys sort by the time recorded: 16 hex digits of microseconds since the epoch.
std::string ConsentTimeKey(std::int64_t micros) {
  char buffer[17];
  (void)std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(micros));
  return buffer;
}

// A consent text's version: what the person was shown ("2026-11", "v3.1").
bool IsTextVersion(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (const char c : v) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<json::object> VaultService::RecordConsent(std::string_view tenant, std::string_view subject,
                                                 const json::value& body,
                                                 std::span<const std::string> purposes,
                                                 std::string_view recorded_by) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto known = RefuseUnknownMembers(**o, {"purpose", "given", "text_version"}, "$"); !known) {
    return std::unexpected(known.error());
  }
  const auto* purpose = (*o)->if_contains("purpose");
  if (purpose == nullptr) return FailAt("$.purpose", "required", "is required");
  if (!purpose->is_string() ||
      std::find(purposes.begin(), purposes.end(), std::string_view(purpose->get_string())) ==
          purposes.end()) {
    return FailAt("$.purpose", "enum", "must be one of the purposes of the tenant's policy");
  }
  const auto* given = (*o)->if_contains("given");
  if (given == nullptr) return FailAt("$.given", "required", "is required");
  if (!given->is_bool()) return FailAt("$.given", "type", "must be true or false");
  const auto* text_version = (*o)->if_contains("text_version");
  if (text_version == nullptr) return FailAt("$.text_version", "required", "is required");
  if (!text_version->is_string() || !IsTextVersion(text_version->get_string())) {
    return FailAt("$.text_version", "pattern", "must be 1 to 64 of [A-Za-z0-9._-]");
  }

  barrier::SubjectGate::WriteGuard guard;  // until the record is durable (vault_service.h)
  seal_.gate().Enter(guard, tenant, subject);
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  const std::string prefix = Join({tenant, subject}) + "/";
  std::size_t held = 0;
  auto counted = ScanPrefix(stores_.activity, kConsents, prefix, "", kMaxConsentRecords,
                            [&](std::string_view, const storage::Bytes&) {
                              ++held;
                              return true;
                            });
  if (!counted) return std::unexpected(counted.error());
  if (held >= kMaxConsentRecords) {
    return Fail(ErrorCode::kResourceExhausted,
                "the subject holds 1000 consent records, the most it may");
  }
  const std::int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  auto id = NewId("csn_");
  if (!id) return std::unexpected(id.error());
  const std::string time_key = ConsentTimeKey(micros);
  const std::string recorded_at = Now();
  json::object record{{"purpose", purpose->get_string()},
                      {"given", given->get_bool()},
                      {"text_version", text_version->get_string()},
                      {"recorded_at", recorded_at},
                      {"recorded_by", recorded_by}};
  // Bound to its id and its time: a record moved in the history fails to decrypt.
  auto envelope = SealEnvelope(**keys, tenant, subject, "$consents", *id, time_key, record);
  if (!envelope) return std::unexpected(envelope.error());
  storage::WriteBatch batch;
  batch.Put(kConsents, prefix + time_key + "/" + *id, std::move(*envelope));
  if (auto written = stores_.activity.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  choices_->Changed(tenant, subject);
  record["id"] = *id;
  record["subject_id"] = subject;
  return record;
}

Result<json::object> VaultService::ListConsents(std::string_view tenant, std::string_view subject) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  json::array history;
  json::object current;
  Result<void> failure;
  auto scanned = ScanPrefix(
      stores_.activity, kConsents, Join({tenant, subject}) + "/", "", kMaxConsentRecords,
      [&](std::string_view suffix, const storage::Bytes& value) {
        const std::string_view time_key = suffix.substr(0, 16);
        const std::string_view id = suffix.size() > 17 ? suffix.substr(17) : std::string_view();
        auto envelope = ParseStored(value, "consent record");
        if (!envelope) {
          failure = std::unexpected(envelope.error());
          return false;
        }
        auto parsed = OpenEnvelope(**keys, tenant, subject, "$consents", id, time_key, *envelope);
        if (parsed && (!parsed->contains("purpose") || !parsed->at("purpose").is_string())) {
          parsed = Fail(ErrorCode::kDataLoss, "a decrypted consent record is not one");
        }
        if (!parsed) {
          failure = std::unexpected(parsed.error());
          return false;
        }
        json::object record = std::move(*parsed);
        record["id"] = id;
        // Oldest first, so the last record of a purpose is its current state.
        current[record.at("purpose").get_string()] =
            json::object{{"given", record["given"]},
                         {"text_version", record["text_version"]},
                         {"recorded_at", record["recorded_at"]},
                         {"id", id}};
        history.push_back(std::move(record));
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  return json::object{
      {"subject_id", subject}, {"current", std::move(current)}, {"history", std::move(history)}};
}

}  // namespace strongroom::records

// --- Processing state: restriction and objections ---------------------------------------------

namespace strongroom::records {

namespace {

// One key per subject: the state is replaced whole.
std::string ProcessingKey(std::string_view tenant, std::string_view subject) {
  return Join({tenant, subject, "state"});
}

}  // namespace

Result<std::optional<json::object>> VaultService::LoadProcessing(barrier::VaultKeys& keys,
                                                                 std::string_view tenant,
                                                                 std::string_view subject) {
  auto stored = stores_.activity.Get(kProcessing, ProcessingKey(tenant, subject));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return std::optional<json::object>();
  auto envelope = ParseStored(**stored, "processing state");
  if (!envelope) return std::unexpected(envelope.error());
  auto state = OpenEnvelope(keys, tenant, subject, "$processing", subject, "state", *envelope);
  if (state && (!state->contains("restricted") || !state->at("restricted").is_bool() ||
                !state->contains("objections") || !state->at("objections").is_array())) {
    state = Fail(ErrorCode::kDataLoss, "a decrypted processing state is not one");
  }
  if (!state) return std::unexpected(state.error());
  return std::optional<json::object>(std::move(*state));
}

Result<json::object> VaultService::SetProcessing(std::string_view tenant, std::string_view subject,
                                                 const json::value& body,
                                                 std::span<const std::string> purposes,
                                                 std::string_view recorded_by) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto known = RefuseUnknownMembers(**o, {"restricted", "objections"}, "$"); !known) {
    return std::unexpected(known.error());
  }
  // Both are required: a PUT that left one out must not lift a restriction by accident.
  const auto* restricted = (*o)->if_contains("restricted");
  if (restricted == nullptr) return FailAt("$.restricted", "required", "is required");
  if (!restricted->is_bool()) return FailAt("$.restricted", "type", "must be true or false");
  const auto* objections = (*o)->if_contains("objections");
  if (objections == nullptr) return FailAt("$.objections", "required", "is required");
  if (!objections->is_array()) return FailAt("$.objections", "type", "must be an array");
  std::vector<std::string> objected;
  for (std::size_t i = 0; i < objections->get_array().size(); ++i) {
    const auto& purpose = objections->get_array()[i];
    const std::string path = "$.objections[" + std::to_string(i) + "]";
    if (!purpose.is_string() ||
        std::find(purposes.begin(), purposes.end(), std::string_view(purpose.get_string())) ==
            purposes.end()) {
      return FailAt(path, "enum", "must be one of the purposes of the tenant's policy");
    }
    if (purpose.get_string() == kLegalPurpose || purpose.get_string() == kSubjectRequestPurpose) {
      return FailAt(path, "enum",
                    "processing for legal claims or the subject's own request cannot be "
                    "objected to");
    }
    objected.emplace_back(purpose.get_string());
  }
  std::sort(objected.begin(), objected.end());
  if (std::adjacent_find(objected.begin(), objected.end()) != objected.end()) {
    return FailAt("$.objections", "unique", "names a purpose twice");
  }

  barrier::SubjectGate::WriteGuard guard;  // until the state is durable (vault_service.h)
  seal_.gate().Enter(guard, tenant, subject);
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  json::array objection_list;
  for (const auto& purpose : objected) objection_list.emplace_back(purpose);
  json::object state{{"restricted", restricted->get_bool()},
                     {"objections", std::move(objection_list)},
                     {"updated_at", Now()},
                     {"updated_by", recorded_by}};
  // Bound to its subject: a state copied onto another subject fails to decrypt.
  auto envelope = SealEnvelope(**keys, tenant, subject, "$processing", subject, "state", state);
  if (!envelope) return std::unexpected(envelope.error());
  storage::WriteBatch batch;
  batch.Put(kProcessing, ProcessingKey(tenant, subject), std::move(*envelope));
  if (auto written = stores_.activity.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  choices_->Changed(tenant, subject);
  state["subject_id"] = subject;
  return state;
}

Result<json::object> VaultService::GetProcessing(std::string_view tenant,
                                                 std::string_view subject) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  auto state = LoadProcessing(**keys, tenant, subject);
  if (!state) return std::unexpected(state.error());
  json::object answer = *state ? std::move(**state)
                               : json::object{{"restricted", false},
                                              {"objections", json::array()},
                                              {"updated_at", nullptr},
                                              {"updated_by", nullptr}};
  answer["subject_id"] = subject;
  return answer;
}

Result<std::shared_ptr<const SubjectChoices>> VaultService::Choices(std::string_view tenant,
                                                                    std::string_view subject) {
  return choices_->Get(tenant, subject);
}

void VaultService::ForgetChoices(std::string_view tenant, std::string_view subject) {
  choices_->Forget(tenant, subject);
}

Result<std::vector<std::string>> VaultService::SubjectsWithChoices(std::string_view tenant) {
  std::vector<std::string> subjects;
  const std::string prefix = std::string(tenant) + "/";
  for (const std::string_view space : {kConsents, kProcessing}) {
    auto scanned =
        ScanPrefix(stores_.activity, space, prefix, "", std::numeric_limits<std::size_t>::max(),
                   [&](std::string_view suffix, const storage::Bytes&) {
                     const std::string_view subject = suffix.substr(0, suffix.find('/'));
                     if (subjects.empty() || subjects.back() != subject) {
                       subjects.emplace_back(subject);
                     }
                     return true;
                   });
    if (!scanned) return std::unexpected(scanned.error());
  }
  return subjects;
}

Result<SubjectChoices> VaultService::LoadChoices(std::string_view tenant,
                                                 std::string_view subject) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  SubjectChoices choices;
  auto state = LoadProcessing(**keys, tenant, subject);
  if (!state) return std::unexpected(state.error());
  if (*state) {
    choices.restricted = (*state)->at("restricted").get_bool();
    for (const auto& purpose : (*state)->at("objections").get_array()) {
      if (purpose.is_string()) choices.objections.emplace_back(purpose.get_string());
    }
    std::sort(choices.objections.begin(), choices.objections.end());
  }
  auto consents = ListConsents(tenant, subject);
  if (!consents) {
    // A subject erased meanwhile has no choices left to weigh; its reads answer 404 anyway.
    if (consents.error().code() == ErrorCode::kNotFound) return choices;
    return std::unexpected(consents.error());
  }
  for (const auto& [purpose, latest] : consents->at("current").get_object()) {
    const auto* given = latest.get_object().if_contains("given");
    if (given != nullptr && given->is_bool() && given->get_bool()) {
      choices.consented.emplace_back(purpose);
    }
  }
  std::sort(choices.consented.begin(), choices.consented.end());
  return choices;
}

}  // namespace strongroom::records
