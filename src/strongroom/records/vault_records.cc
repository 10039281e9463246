// VaultService, records: create (one or a batch), get, partial update, delete, pages and
// blind-index search.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <limits>
#include <tuple>

#include "strongroom/crypto/encoding.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/service_support.h"
#include "strongroom/records/vault_service.h"

namespace strongroom::records {

namespace json = boost::json;
using namespace internal;  // NOLINT(google-build-using-namespace): this module's own helpers

struct VaultService::PreparedRecord {
  std::string subject;
  json::object fields;                         // plaintext, to answer with
  json::object flags;                          // what flagging detectors found, by field
  std::map<std::string, std::string> indexes;  // field -> blind index
};

// --- records ---------------------------------------------------------------------------------

Result<VaultService::PreparedRecord> VaultService::PrepareRecord(
    barrier::VaultKeys& keys, std::string_view tenant, const Schema& schema,
    const json::value& body, barrier::SubjectGate::WriteGuard& guard) {
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"subject_id", "fields"}, "$"); !only) {
    return std::unexpected(only.error());
  }
  PreparedRecord record;
  const auto* subject = (*o)->if_contains("subject_id");
  if (subject == nullptr) return FailAt("$.subject_id", "required", "is required");
  if (!subject->is_string()) return FailAt("$.subject_id", "type", "must be a string");
  record.subject = std::string(subject->get_string());
  const auto* fields = (*o)->if_contains("fields");
  if (fields == nullptr) return FailAt("$.fields", "required", "is required");
  if (!fields->is_object()) return FailAt("$.fields", "type", "must be an object");
  for (const auto& [name, value] : fields->get_object()) {
    const std::string path = JsonPathKey("$.fields", name);
    const FieldSpec* spec = schema.Find(name);
    if (spec == nullptr) return FailAt(path, "unknown_field", "is not a field of this collection");
    if (spec->deprecated)
      return FailAt(path, "deprecated", "is deprecated; it takes no new values");
    if (value.is_null()) return FailAt(path, "type", "must not be null; leave the field out");
    if (auto valid = ValidateFieldValue(*spec, value, path); !valid) {
      return std::unexpected(valid.error());
    }
  }
  for (const auto& spec : schema.fields) {
    if (spec.required && !fields->get_object().contains(spec.name)) {
      return FailAt(JsonPathKey("$.fields", spec.name), "required", "is required");
    }
  }
  seal_.gate().Enter(guard, tenant, record.subject);
  if (auto exists = RequireSubject(tenant, record.subject, "$.subject_id"); !exists) {
    return std::unexpected(exists.error());
  }
  record.fields = fields->get_object();
  // Free-text detectors refuse, mask or flag before anything is indexed or stored.
  if (auto detected = ApplyDetectors(schema, record.fields, record.flags); !detected) {
    return std::unexpected(detected.error());
  }
  for (const auto& [name, value] : record.fields) {
    const FieldSpec* spec = schema.Find(name);
    if (!spec->indexed) continue;
    auto index = keys.barrier->BlindIndex(tenant, schema.collection, spec->name,
                                          NormalizeForIndex(*spec, value));
    if (!index) return std::unexpected(index.error());
    record.indexes.emplace(spec->name, std::move(*index));
  }
  return record;
}

namespace {

// Encrypts `fields` (all of them) for the record, into the stored envelope's "fields" object.
Result<json::object> EncryptFields(barrier::VaultKeys& keys, std::string_view tenant,
                                   std::string_view collection, std::string_view subject,
                                   std::string_view id, const json::object& fields) {
  std::vector<std::string> plaintexts;
  std::vector<std::vector<std::uint8_t>> ciphertexts(fields.size());
  std::vector<barrier::EncryptItem> items;
  plaintexts.reserve(fields.size());
  items.reserve(fields.size());
  std::size_t i = 0;
  for (const auto& [name, value] : fields) {
    plaintexts.push_back(json::serialize(value));
    items.push_back({{tenant, collection, id, std::string_view(name)},
                     AsBytes(plaintexts.back()),
                     &ciphertexts[i++]});
  }
  auto encrypted = keys.barrier->Encrypt(tenant, subject, items);
  // The serialised plaintexts are wiped before their memory returns to the allocator.
  for (auto& p : plaintexts) std::fill(p.begin(), p.end(), '\0');
  if (!encrypted) return std::unexpected(encrypted.error());
  json::object out;
  i = 0;
  for (const auto& [name, value] : fields) {
    out[name] = crypto::Base64UrlEncode(ciphertexts[i++]);
  }
  return out;
}

json::object RecordAnswer(std::string_view id, std::string_view collection,
                          const json::object& envelope, json::object fields) {
  json::object out;
  out["id"] = id;
  out["collection"] = collection;
  out["subject_id"] = envelope.at("subject");
  out["schema_version"] = envelope.at("v");
  out["created_at"] = envelope.at("created_at");
  out["updated_at"] = envelope.at("updated_at");
  out["fields"] = std::move(fields);
  return out;
}

}  // namespace

Result<boost::json::object> VaultService::CreateOne(barrier::VaultKeys& keys,
                                                    std::string_view tenant, const Schema& schema,
                                                    const json::value& body,
                                                    storage::WriteBatch& batch,
                                                    barrier::SubjectGate::WriteGuard& guard) {
  auto prepared = PrepareRecord(keys, tenant, schema, body, guard);
  if (!prepared) return std::unexpected(prepared.error());
  auto id = NewId("rec_");
  if (!id) return std::unexpected(id.error());
  auto encrypted =
      EncryptFields(keys, tenant, schema.collection, prepared->subject, *id, prepared->fields);
  if (!encrypted) return std::unexpected(encrypted.error());
  const std::string now = Now();
  json::object envelope;
  envelope["subject"] = prepared->subject;
  envelope["v"] = static_cast<std::int64_t>(schema.version);
  envelope["created_at"] = now;
  envelope["updated_at"] = now;
  envelope["fields"] = std::move(*encrypted);
  json::object indexes;
  for (const auto& [field, index] : prepared->indexes) {
    indexes[field] = index;
    batch.Put(kIndex, Join({tenant, schema.collection, field, index, *id}), {});
  }
  envelope["index"] = std::move(indexes);
  batch.Put(kRecords, Join({tenant, schema.collection, *id}), Serialize(envelope));
  batch.Put(kBySubject, Join({tenant, prepared->subject, schema.collection, *id}), {});
  json::object answer = RecordAnswer(*id, schema.collection, envelope, std::move(prepared->fields));
  if (!prepared->flags.empty()) answer["flags"] = std::move(prepared->flags);
  return answer;
}

Result<boost::json::object> VaultService::CreateRecord(std::string_view tenant,
                                                       std::string_view collection,
                                                       const json::value& body) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  const auto& [keys, schema] = *open;
  barrier::SubjectGate::WriteGuard guard;  // released after the write
  storage::WriteBatch batch;
  auto answer = CreateOne(*keys, tenant, *schema, body, batch, guard);
  if (!answer) return std::unexpected(answer.error());
  if (auto written = stores_.profiles.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return answer;
}

Result<boost::json::object> VaultService::CreateRecords(std::string_view tenant,
                                                        std::string_view collection,
                                                        const json::value& body) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  const auto& [keys, schema] = *open;
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"records"}, "$"); !only)
    return std::unexpected(only.error());
  const auto* list = (*o)->if_contains("records");
  if (list == nullptr) return FailAt("$.records", "required", "is required");
  if (!list->is_array()) return FailAt("$.records", "type", "must be an array");
  const auto& items = list->get_array();
  if (items.empty()) return FailAt("$.records", "min_items", "a batch holds 1 to 100 records");
  if (items.size() > kMaxBatchItems) {
    return FailAt("$.records", "max_items", "a batch holds 1 to 100 records");
  }
  // Every item is prepared on its own; the good ones are written in one batch (one fsync).
  barrier::SubjectGate::WriteGuard guard;  // every item's subject, released after the write
  storage::WriteBatch batch;
  json::array results;
  std::size_t created = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto answer = CreateOne(*keys, tenant, *schema, items[i], batch, guard);
    json::object result{{"index", i}};
    if (answer) {
      result["status"] = 201;
      result["record"] = std::move(*answer);
      ++created;
    } else {
      Error error = answer.error();
      if (!error.path().empty() && error.path().starts_with("$")) {
        error.At(JsonPathIndex("$.records", i) + error.path().substr(1), error.rule());
      }
      if (error.code() == ErrorCode::kSealed || error.code() == ErrorCode::kInternal ||
          error.code() == ErrorCode::kUnavailable || error.code() == ErrorCode::kDataLoss) {
        return std::unexpected(error);  // not the item's fault: the whole call fails
      }
      json::object e{{"code", ErrorCodeName(error.code())}, {"message", error.message()}};
      if (!error.path().empty()) e["details"] = {{"path", error.path()}, {"rule", error.rule()}};
      // The status the same error would have as a whole request (see http/error_response.cc).
      result["status"] = error.code() == ErrorCode::kNotFound            ? 404
                         : error.code() == ErrorCode::kResourceExhausted ? 429
                         : error.code() == ErrorCode::kAlreadyExists     ? 409
                         : error.code() == ErrorCode::kCardDataRefused   ? 422
                                                                         : 400;
      result["error"] = std::move(e);
    }
    results.push_back(std::move(result));
  }
  if (!batch.empty()) {
    if (auto written = stores_.profiles.Write(std::move(batch)); !written) {
      return std::unexpected(written.error());
    }
  }
  return json::object{
      {"created", created}, {"failed", items.size() - created}, {"results", std::move(results)}};
}

Result<boost::json::object> VaultService::DecryptRecord(barrier::VaultKeys& keys,
                                                        std::string_view tenant,
                                                        std::string_view collection,
                                                        std::string_view id,
                                                        const storage::Bytes& stored) {
  auto envelope = ParseStored(stored, "record");
  if (!envelope) return std::unexpected(envelope.error());
  const auto* subject = envelope->if_contains("subject");
  const auto* fields = envelope->if_contains("fields");
  if (!subject || !subject->is_string() || !fields || !fields->is_object() ||
      !envelope->contains("v") || !envelope->contains("created_at") ||
      !envelope->contains("updated_at")) {
    return Fail(ErrorCode::kDataLoss, "stored record envelope is malformed");
  }
  json::object plain;
  std::vector<std::uint8_t> buffer;  // one plaintext buffer for every field, wiped at the end
  const auto wipe = [&buffer] { std::fill(buffer.begin(), buffer.end(), std::uint8_t{0}); };
  for (const auto& [name, encoded] : fields->get_object()) {
    std::optional<std::vector<std::uint8_t>> ciphertext;
    if (encoded.is_string()) ciphertext = crypto::Base64UrlDecode(encoded.get_string());
    if (!ciphertext) {
      LogRejectedCiphertext(tenant, collection, id, name);
      return Fail(ErrorCode::kDataLoss, "stored field is not a ciphertext");
    }
    auto value = keys.barrier->DecryptTo(tenant, subject->get_string(),
                                         {tenant, collection, id, std::string_view(name)},
                                         *ciphertext, buffer);
    if (!value) {
      if (value.error().code() == ErrorCode::kDataLoss) {
        LogRejectedCiphertext(tenant, collection, id, name);
      }
      wipe();
      return std::unexpected(value.error());
    }
    boost::system::error_code ec;
    json::value parsed = json::parse(
        std::string_view(reinterpret_cast<const char*>(buffer.data()), buffer.size()), ec);
    wipe();
    if (ec) return Fail(ErrorCode::kDataLoss, "decrypted field is not JSON");
    plain[name] = std::move(parsed);
  }
  return RecordAnswer(id, collection, *envelope, std::move(plain));
}

Result<boost::json::object> VaultService::GetRecord(std::string_view tenant,
                                                    std::string_view collection,
                                                    std::string_view id) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  const auto& [keys, schema] = *open;
  return LoadRecord(*keys, tenant, collection, id);
}

Result<boost::json::object> VaultService::LoadRecord(barrier::VaultKeys& keys,
                                                     std::string_view tenant,
                                                     std::string_view collection,
                                                     std::string_view id, bool archived) {
  if (!IsId(id, "rec_")) return Fail(ErrorCode::kNotFound, "no such record");
  auto stored =
      stores_.profiles.Get(archived ? kArchivedRecords : kRecords, Join({tenant, collection, id}));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such record");
  auto record = DecryptRecord(keys, tenant, collection, id, **stored);
  if (record && archived) (*record)["archived"] = true;
  return record;
}

Result<boost::json::object> VaultService::GetArchivedRecord(std::string_view tenant,
                                                            std::string_view collection,
                                                            std::string_view id) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  return LoadRecord(*open->keys, tenant, collection, id, true);
}

Result<boost::json::object> VaultService::ListArchivedRecords(std::string_view tenant,
                                                              std::string_view collection,
                                                              std::string_view subject,
                                                              const Page& page) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!page.cursor.empty() && !IsId(page.cursor, "rec_")) {
    return FailAt("cursor", "format", "cursor is not one this API issued");
  }
  if (!subject.empty()) {
    if (auto exists = SubjectExists(tenant, subject); !exists) {
      return std::unexpected(exists.error());
    }
  }
  json::array items;
  std::string last;
  Result<void> failure;
  std::size_t seen = 0;
  // The whole collection's archive, or the subject's links into it (both by record id).
  const bool by_subject = !subject.empty();
  auto scanned = ScanPrefix(
      stores_.profiles, by_subject ? kArchivedBySubject : kArchivedRecords,
      (by_subject ? Join({tenant, subject, collection}) : Join({tenant, collection})) + "/",
      page.cursor, *limit, [&](std::string_view id, const storage::Bytes& value) {
        ++seen;
        last = id;
        auto record = by_subject ? LoadRecord(*open->keys, tenant, collection, id, true)
                                 : DecryptRecord(*open->keys, tenant, collection, id, value);
        // Deleted since it was listed, or of a subject being erased: left out.
        if (!record && record.error().code() == ErrorCode::kNotFound) return true;
        if (!record) {
          failure = std::unexpected(record.error());
          return false;
        }
        (*record)["archived"] = true;
        items.push_back(std::move(*record));
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  json::object out{{"records", std::move(items)}};
  out["next_cursor"] = seen == *limit ? json::value(last) : nullptr;
  return out;
}

Result<boost::json::object> VaultService::UpdateRecord(std::string_view tenant,
                                                       std::string_view collection,
                                                       std::string_view id,
                                                       const json::value& body) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  const auto& keys = open->keys;
  const Schema& schema = *open->schema;
  if (!IsId(id, "rec_")) return Fail(ErrorCode::kNotFound, "no such record");
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"fields"}, "$"); !only)
    return std::unexpected(only.error());
  const auto* changes = (*o)->if_contains("fields");
  if (changes == nullptr) return FailAt("$.fields", "required", "is required");
  if (!changes->is_object()) return FailAt("$.fields", "type", "must be an object");
  if (changes->get_object().empty()) return FailAt("$.fields", "min_items", "changes nothing");
  for (const auto& [name, value] : changes->get_object()) {
    const std::string path = JsonPathKey("$.fields", name);
    const FieldSpec* spec = schema.Find(name);
    if (spec == nullptr) return FailAt(path, "unknown_field", "is not a field of this collection");
    if (value.is_null()) {
      if (spec->required) return FailAt(path, "required", "is required; it cannot be removed");
      continue;
    }
    if (spec->deprecated)
      return FailAt(path, "deprecated", "is deprecated; it takes no new values");
    if (auto valid = ValidateFieldValue(*spec, value, path); !valid) {
      return std::unexpected(valid.error());
    }
  }

  // Free-text detectors refuse, mask or flag before anything is stored.
  json::object changed = changes->get_object();
  json::object flags;
  if (auto detected = ApplyDetectors(schema, changed, flags); !detected) {
    return std::unexpected(detected.error());
  }

  std::lock_guard lock(RecordLock(id));
  const std::string record_key = Join({tenant, collection, id});
  auto stored = stores_.profiles.Get(kRecords, record_key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such record");
  auto envelope = ParseStored(**stored, "record");
  if (!envelope) return std::unexpected(envelope.error());
  const auto* subject_value = envelope->if_contains("subject");
  if (subject_value == nullptr || !subject_value->is_string()) {
    return Fail(ErrorCode::kDataLoss, "a stored record without its subject");
  }
  const std::string subject(subject_value->get_string());
  // Held until the write: an erasure of the subject waits for this update (and then deletes
  // it), or came first and the decryption below finds the subject erased.
  barrier::SubjectGate::WriteGuard guard;
  seal_.gate().Enter(guard, tenant, subject);
  // Decrypting first proves the stored record is intact before anything is rewritten.
  auto current = DecryptRecord(*keys, tenant, collection, id, **stored);
  if (!current) return std::unexpected(current.error());
  json::object to_encrypt;
  for (const auto& [name, value] : changed) {
    if (!value.is_null()) to_encrypt[name] = value;
  }
  auto encrypted = EncryptFields(*keys, tenant, collection, subject, id, to_encrypt);
  if (!encrypted) return std::unexpected(encrypted.error());

  storage::WriteBatch batch;
  auto& stored_fields = (*envelope)["fields"].get_object();
  if (!envelope->contains("index") || !(*envelope)["index"].is_object()) {
    (*envelope)["index"] = json::object();
  }
  auto& stored_indexes = (*envelope)["index"].get_object();
  json::object& plain = (*current)["fields"].get_object();
  for (const auto& [name, value] : changed) {
    const FieldSpec* spec = schema.Find(name);
    if (auto old = stored_indexes.find(name); old != stored_indexes.end()) {
      if (old->value().is_string()) {
        batch.Delete(kIndex, Join({tenant, collection, name, old->value().get_string(), id}));
      }
      stored_indexes.erase(old);
    }
    if (value.is_null()) {
      stored_fields.erase(name);
      plain.erase(name);
      continue;
    }
    stored_fields[name] = (*encrypted)[name];
    plain[name] = value;
    if (spec->indexed) {
      auto index =
          keys->barrier->BlindIndex(tenant, collection, name, NormalizeForIndex(*spec, value));
      if (!index) return std::unexpected(index.error());
      batch.Put(kIndex, Join({tenant, collection, name, *index, id}), {});
      stored_indexes[name] = *index;
    }
  }
  (*envelope)["updated_at"] = Now();
  (*envelope)["v"] = static_cast<std::int64_t>(schema.version);
  batch.Put(kRecords, record_key, Serialize(*envelope));
  if (auto written = stores_.profiles.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  json::object answer = RecordAnswer(id, collection, *envelope, std::move(plain));
  if (!flags.empty()) answer["flags"] = std::move(flags);
  return answer;
}

Result<void> VaultService::DeleteRecord(std::string_view tenant, std::string_view collection,
                                        std::string_view id) {
  // Sealed or unknown collection: refused like every other record call.
  if (auto open = OpenCollection(tenant, collection); !open) return std::unexpected(open.error());
  if (!IsId(id, "rec_")) return Fail(ErrorCode::kNotFound, "no such record");
  std::lock_guard lock(RecordLock(id));
  const std::string record_key = Join({tenant, collection, id});
  auto stored = stores_.profiles.Get(kRecords, record_key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such record");
  auto envelope = ParseStored(**stored, "record");
  if (!envelope) return std::unexpected(envelope.error());
  storage::WriteBatch batch;
  DeleteRecordRows(tenant, collection, id, *envelope, batch);
  return stores_.profiles.Write(std::move(batch));
}

void VaultService::DeleteRecordRows(std::string_view tenant, std::string_view collection,
                                    std::string_view id, const json::object& envelope,
                                    storage::WriteBatch& batch) {
  if (const auto* indexes = envelope.if_contains("index"); indexes && indexes->is_object()) {
    for (const auto& [name, index] : indexes->get_object()) {
      if (index.is_string())
        batch.Delete(kIndex, Join({tenant, collection, name, index.get_string(), id}));
    }
  }
  if (const auto* subject = envelope.if_contains("subject"); subject && subject->is_string()) {
    batch.Delete(kBySubject, Join({tenant, subject->get_string(), collection, id}));
  }
  batch.Delete(kRecords, Join({tenant, collection, id}));
}

Result<boost::json::object> VaultService::ListRecords(std::string_view tenant,
                                                      std::string_view collection,
                                                      const Page& page) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  const auto& [keys, schema] = *open;
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!page.cursor.empty() && !IsId(page.cursor, "rec_")) {
    return FailAt("cursor", "format", "cursor is not one this API issued");
  }
  json::array items;
  std::string last;
  Result<void> failure;
  std::size_t seen = 0;
  auto scanned =
      ScanPrefix(stores_.profiles, kRecords, Join({tenant, collection}) + "/", page.cursor, *limit,
                 [&](std::string_view id, const storage::Bytes& value) {
                   ++seen;
                   last = id;
                   auto record = DecryptRecord(*keys, tenant, collection, id, value);
                   // A record of a subject being erased (its keys are gone, its rows going):
                   // left out, as it will be in a moment.
                   if (!record && record.error().code() == ErrorCode::kNotFound) return true;
                   if (!record) {
                     failure = std::unexpected(record.error());
                     return false;
                   }
                   items.push_back(std::move(*record));
                   return true;
                 });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  const bool full = seen == *limit;
  json::object out{{"records", std::move(items)}};
  out["next_cursor"] = full ? json::value(last) : nullptr;
  return out;
}

Result<boost::json::object> VaultService::ListSubjectRecords(std::string_view tenant,
                                                             std::string_view subject,
                                                             const Page& page, bool archived) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  json::array items;
  std::string last;
  Result<void> failure;
  std::size_t seen = 0;
  // The subject's links: <tenant>/<subject>/<collection>/<record id>.
  auto scanned = ScanPrefix(
      stores_.profiles, archived ? kArchivedBySubject : kBySubject, Join({tenant, subject}) + "/",
      page.cursor, *limit, [&](std::string_view link, const storage::Bytes&) {
        ++seen;
        last = link;
        const auto slash = link.find('/');
        if (slash == std::string_view::npos) return true;
        auto record =
            LoadRecord(**keys, tenant, link.substr(0, slash), link.substr(slash + 1), archived);
        // Deleted since its link was read: left out.
        if (!record && record.error().code() == ErrorCode::kNotFound) return true;
        if (!record) {
          failure = std::unexpected(record.error());
          return false;
        }
        items.push_back(std::move(*record));
        return true;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  json::object out{{"records", std::move(items)}};
  out["next_cursor"] = seen == *limit ? json::value(last) : nullptr;
  return out;
}

Result<boost::json::object> VaultService::CountSubjectData(std::string_view tenant,
                                                           std::string_view subject,
                                                           bool with_archive) {
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  const std::string prefix = Join({tenant, subject}) + "/";
  json::object counts{{"records", 0}, {"activity_events", 0}, {"consents", 0}};
  for (const auto& [store, space, name] :
       {std::tuple<storage::Store*, std::string_view, std::string_view>{&stores_.profiles,
                                                                        kBySubject, "records"},
        {&stores_.profiles, kArchivedBySubject, "records"},
        {&stores_.activity, kEvents, "activity_events"},
        {&stores_.activity, kArchivedEvents, "activity_events"},
        {&stores_.activity, kConsents, "consents"}}) {
    if (!with_archive && (space == kArchivedBySubject || space == kArchivedEvents)) continue;
    std::uint64_t count = counts[name].to_number<std::uint64_t>();
    auto scanned = ScanPrefix(*store, space, prefix, "", std::numeric_limits<std::size_t>::max(),
                              [&](std::string_view, const storage::Bytes&) {
                                ++count;
                                return true;
                              });
    if (!scanned) return std::unexpected(scanned.error());
    counts[name] = count;
  }
  return counts;
}

Result<boost::json::object> VaultService::SearchRecords(std::string_view tenant,
                                                        std::string_view collection,
                                                        const json::value& body) {
  auto open = OpenCollection(tenant, collection);
  if (!open) return std::unexpected(open.error());
  const auto& [keys, schema] = *open;
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"field", "value", "limit"}, "$"); !only) {
    return std::unexpected(only.error());
  }
  const auto* field = (*o)->if_contains("field");
  if (field == nullptr) return FailAt("$.field", "required", "is required");
  if (!field->is_string()) return FailAt("$.field", "type", "must be a string");
  const FieldSpec* spec = schema->Find(field->get_string());
  if (spec == nullptr)
    return FailAt("$.field", "unknown_field", "is not a field of this collection");
  if (!spec->indexed) return FailAt("$.field", "not_indexed", "is not an indexed field");
  const auto* value = (*o)->if_contains("value");
  if (value == nullptr) return FailAt("$.value", "required", "is required");
  if (auto valid = ValidateFieldValue(*spec, *value, "$.value"); !valid) {
    return std::unexpected(valid.error());
  }
  std::size_t limit = 50;
  if (const auto* l = (*o)->if_contains("limit")) {
    if (!l->is_int64() || l->get_int64() < 1 || l->get_int64() > 200) {
      return FailAt("$.limit", "range", "must be an integer from 1 to 200");
    }
    limit = static_cast<std::size_t>(l->get_int64());
  }
  auto index =
      keys->barrier->BlindIndex(tenant, collection, spec->name, NormalizeForIndex(*spec, *value));
  if (!index) return std::unexpected(index.error());
  std::vector<std::string> ids;
  auto scanned =
      ScanPrefix(stores_.profiles, kIndex, Join({tenant, collection, spec->name, *index}) + "/", "",
                 limit, [&](std::string_view id, const storage::Bytes&) {
                   ids.emplace_back(id);
                   return true;
                 });
  if (!scanned) return std::unexpected(scanned.error());
  json::array records;
  for (const auto& id : ids) {
    auto record = LoadRecord(*keys, tenant, collection, id);
    if (!record) {
      if (record.error().code() == ErrorCode::kNotFound) continue;  // deleted meanwhile
      return std::unexpected(record.error());
    }
    records.push_back(std::move(*record));
  }
  return json::object{{"records", std::move(records)}};
}

}  // namespace strongroom::records
