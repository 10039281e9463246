// VaultService, consents: a subject's consent records per purpose (given or withdrawn, when,
// under which version of the consent text), append-only, and their current state
// (docs/privacy.md, "Consent records"). Each record is encrypted under the subject's data key in
// the activity store (space `consents`), so it is crypto-shredded and purged with the subject.
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
  std::string plaintext = json::serialize(record);
  std::vector<std::uint8_t> ciphertext;
  // Bound to its id and its time: a record moved in the history fails to decrypt.
  const barrier::EncryptItem item{
      {tenant, "$consents", *id, time_key}, AsBytes(plaintext), &ciphertext};
  auto encrypted = (*keys)->barrier->Encrypt(tenant, subject, std::span(&item, 1));
  std::fill(plaintext.begin(), plaintext.end(), '\0');
  if (!encrypted) return std::unexpected(encrypted.error());
  storage::WriteBatch batch;
  batch.Put(kConsents, prefix + time_key + "/" + *id,
            Serialize(json::object{{"payload", crypto::Base64UrlEncode(ciphertext)}}));
  if (auto written = stores_.activity.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
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
