#include "strongroom/records/vault_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <functional>

#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/json_input.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;

constexpr std::string_view kTenants = "tenants";
constexpr std::string_view kCollections = "collections";
constexpr std::string_view kSubjects = "subjects";
constexpr std::string_view kRecords = "records";
constexpr std::string_view kIndex = "index";
constexpr std::string_view kBySubject = "by_subject";
constexpr std::string_view kEvents = "events";
constexpr std::size_t kMaxGuardians = 8;
constexpr std::size_t kMaxEventData = 64 << 10;

std::string Now() { return FormatRfc3339(std::chrono::system_clock::now()); }

Result<std::string> NewId(std::string_view prefix) {
  std::array<std::uint8_t, 16> random{};
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  return std::string(prefix) + crypto::Base64UrlEncode(random);
}

// Ids we issue: prefix + 22 base64url characters. Anything else cannot name a stored object.
bool IsId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 22 || !id.starts_with(prefix)) return false;
  for (char c : id.substr(prefix.size())) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsTenantId(std::string_view id) {
  if (id.empty() || id.size() > 63 || id.front() == '-' || id.back() == '-') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

storage::Bytes ToBytes(std::string_view text) { return {text.begin(), text.end()}; }
storage::Bytes Serialize(const json::value& v) { return ToBytes(json::serialize(v)); }
std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Result<json::object> ParseStored(const storage::Bytes& bytes, std::string_view what) {
  boost::system::error_code ec;
  json::value v =
      json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  if (ec || !v.is_object())
    return Fail(ErrorCode::kDataLoss, "stored " + std::string(what) + " is malformed");
  return std::move(v.get_object());
}

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(p);
  }
  return out;
}

Result<const json::object*> BodyObject(const json::value& body) {
  if (!body.is_object()) return FailAt("$", "type", "the body must be a JSON object");
  return &body.get_object();
}

// Scans `space` for keys starting with `prefix`, after `prefix + after` (or from the start of the
// prefix), calling `visit(key_suffix, value)` until it returns false or `limit` entries are seen.
Result<void> ScanPrefix(storage::Store& store, std::string_view space, const std::string& prefix,
                        std::string_view after, std::size_t limit,
                        const std::function<bool(std::string_view, const storage::Bytes&)>& visit) {
  std::string from = prefix + std::string(after);
  std::size_t seen = 0;
  while (seen < limit) {
    const std::size_t want = std::min<std::size_t>(limit - seen, 256);
    auto entries = store.Scan(space, from, want);
    if (!entries) return std::unexpected(entries.error());
    for (const auto& entry : *entries) {
      if (!entry.key.starts_with(prefix)) return {};
      ++seen;
      if (!visit(std::string_view(entry.key).substr(prefix.size()), entry.value)) return {};
      from = entry.key;
    }
    if (entries->size() < want) return {};
  }
  return {};
}

Result<std::size_t> PageLimit(const Page& page) {
  if (page.limit < 1 || page.limit > kMaxPageSize) {
    return FailAt("limit", "range", "limit must be from 1 to 200");
  }
  return page.limit;
}

// A page of the JSON objects stored under `prefix` in `space`: {"<name>": [...], "next_cursor"}.
// The cursor is the key suffix of the last item; `valid_cursor` refuses ones we never issued.
Result<json::object> StoredObjectPage(storage::Store& store, std::string_view space,
                                      const std::string& prefix, const Page& page,
                                      std::string_view name,
                                      bool (*valid_cursor)(std::string_view)) {
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!page.cursor.empty() && !valid_cursor(page.cursor)) {
    return FailAt("cursor", "format", "cursor is not one this API issued");
  }
  json::array items;
  std::string last;
  Result<void> failure;
  auto scanned = ScanPrefix(store, space, prefix, page.cursor, *limit,
                            [&](std::string_view suffix, const storage::Bytes& value) {
                              auto parsed = ParseStored(value, name);
                              if (!parsed) {
                                failure = std::unexpected(parsed.error());
                                return false;
                              }
                              items.push_back(std::move(*parsed));
                              last = suffix;
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  const bool full = items.size() == *limit;
  json::object out{{name, std::move(items)}};
  out["next_cursor"] = full ? json::value(last) : nullptr;
  return out;
}

bool IsSubjectId(std::string_view id) { return IsId(id, "sub_"); }

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

// Event keys sort by time: 16 hex digits of (micros + 2^62) keep negative times in order too.
std::string TimeKey(std::int64_t micros) {
  char buffer[17];
  (void)std::snprintf(buffer, sizeof buffer, "%016llx",
                      static_cast<unsigned long long>(micros) + (1ull << 62));
  return buffer;
}

void LogRejectedCiphertext(std::string_view tenant, std::string_view collection,
                           std::string_view id, std::string_view field) {
  observe::Error("security.ciphertext_rejected",
                 {{"tenant", tenant},
                  {"collection", collection},
                  {"object_id", id},
                  {"field", field},
                  {"meaning",
                   "stored ciphertext failed authentication: tampered, moved or "
                   "truncated below the barrier"}});
}

}  // namespace

struct VaultService::PreparedRecord {
  std::string subject;
  json::object fields;                         // plaintext, to answer with
  std::map<std::string, std::string> indexes;  // field -> blind index
};

VaultService::VaultService(Stores stores, barrier::SealState& seal)
    : stores_(stores), seal_(seal) {}

Result<std::shared_ptr<barrier::VaultKeys>> VaultService::Keys() const {
  auto keys = seal_.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  return keys;
}

std::mutex& VaultService::RecordLock(std::string_view id) {
  return record_locks_[std::hash<std::string_view>{}(id) % record_locks_.size()];
}

// --- tenants ---------------------------------------------------------------------------------

Result<boost::json::object> VaultService::CreateTenant(const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"id", "name"}, "$"); !only)
    return std::unexpected(only.error());
  const auto* id = (*o)->if_contains("id");
  if (id == nullptr) return FailAt("$.id", "required", "is required");
  if (!id->is_string()) return FailAt("$.id", "type", "must be a string");
  if (!IsTenantId(id->get_string())) {
    return FailAt("$.id", "pattern", "must be 1 to 63 of [a-z0-9-], not starting or ending with -");
  }
  const std::string tenant(id->get_string());
  std::string name = tenant;
  if (const auto* n = (*o)->if_contains("name")) {
    if (!n->is_string()) return FailAt("$.name", "type", "must be a string");
    if (n->get_string().empty()) return FailAt("$.name", "min_length", "must not be empty");
    if (n->get_string().size() > 200)
      return FailAt("$.name", "max_length", "must be at most 200 bytes");
    name = std::string(n->get_string());
  }
  std::lock_guard lock(schema_write_mu_);
  auto existing = stores_.metadata.Get(kTenants, tenant);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) return Fail(ErrorCode::kAlreadyExists, "a tenant with this id exists");
  json::object record{{"id", tenant}, {"name", name}, {"created_at", Now()}};
  storage::WriteBatch batch;
  if (auto added = (*keys)->keyring->AddTenantKeys(tenant, batch); !added) {
    return std::unexpected(added.error());
  }
  batch.Put(kTenants, tenant, Serialize(record));
  if (auto written = stores_.metadata.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return record;
}

Result<boost::json::object> VaultService::ListTenants() {
  json::array tenants;
  Result<void> failure;
  auto scanned = ScanPrefix(stores_.metadata, kTenants, "", "", 10'000,
                            [&](std::string_view, const storage::Bytes& value) {
                              auto parsed = ParseStored(value, "tenant");
                              if (!parsed) {
                                failure = std::unexpected(parsed.error());
                                return false;
                              }
                              tenants.push_back(std::move(*parsed));
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  return json::object{{"tenants", std::move(tenants)}};
}

Result<bool> VaultService::TenantExists(std::string_view tenant) {
  auto found = stores_.metadata.Get(kTenants, tenant);
  if (!found) return std::unexpected(found.error());
  return found->has_value();
}

// --- collections -----------------------------------------------------------------------------

Result<std::shared_ptr<const Schema>> VaultService::LoadSchema(std::string_view tenant,
                                                               std::string_view name) {
  const std::string key = Join({tenant, name});
  {
    std::shared_lock lock(schemas_mu_);
    if (auto it = schemas_.find(key); it != schemas_.end()) return it->second;
  }
  if (!IsValidName(name)) return Fail(ErrorCode::kNotFound, "no such collection");
  auto stored = stores_.metadata.Get(kCollections, key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such collection");
  auto object = ParseStored(**stored, "schema");
  if (!object) return std::unexpected(object.error());
  auto schema = SchemaFromJson(*object);
  if (!schema) return std::unexpected(schema.error());
  auto shared = std::make_shared<const Schema>(std::move(*schema));
  std::unique_lock lock(schemas_mu_);
  return schemas_.insert_or_assign(key, shared).first->second;
}

Result<boost::json::object> VaultService::CreateCollection(std::string_view tenant,
                                                           const json::value& body) {
  auto schema = ParseCollectionDefinition(body);
  if (!schema) return std::unexpected(schema.error());
  schema->created_at = schema->updated_at = Now();
  std::lock_guard lock(schema_write_mu_);
  const std::string key = Join({tenant, schema->collection});
  auto existing = stores_.metadata.Get(kCollections, key);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) return Fail(ErrorCode::kAlreadyExists, "a collection with this name exists");
  json::object out = SchemaToJson(*schema);
  storage::WriteBatch batch;
  batch.Put(kCollections, key, Serialize(out));
  if (auto written = stores_.metadata.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  std::unique_lock schemas_lock(schemas_mu_);
  schemas_.insert_or_assign(key, std::make_shared<const Schema>(std::move(*schema)));
  return out;
}

Result<boost::json::object> VaultService::GetCollection(std::string_view tenant,
                                                        std::string_view name) {
  auto schema = LoadSchema(tenant, name);
  if (!schema) return std::unexpected(schema.error());
  return SchemaToJson(**schema);
}

Result<boost::json::object> VaultService::ListCollections(std::string_view tenant,
                                                          const Page& page) {
  return StoredObjectPage(stores_.metadata, kCollections, std::string(tenant) + "/", page,
                          "collections", &IsValidName);
}

Result<boost::json::object> VaultService::EvolveCollection(std::string_view tenant,
                                                           std::string_view name,
                                                           const json::value& body) {
  std::lock_guard lock(schema_write_mu_);
  auto current = LoadSchema(tenant, name);
  if (!current) return std::unexpected(current.error());
  auto next = EvolveSchema(**current, body);
  if (!next) return std::unexpected(next.error());
  next->updated_at = Now();
  json::object out = SchemaToJson(*next);
  const std::string key = Join({tenant, name});
  storage::WriteBatch batch;
  batch.Put(kCollections, key, Serialize(out));
  if (auto written = stores_.metadata.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  std::unique_lock schemas_lock(schemas_mu_);
  schemas_.insert_or_assign(key, std::make_shared<const Schema>(std::move(*next)));
  return out;
}

// --- subjects --------------------------------------------------------------------------------

Result<void> VaultService::RequireSubject(std::string_view tenant, std::string_view subject,
                                          const std::string& path) {
  if (!IsId(subject, "sub_")) return FailAt(path, "exists", "is not a subject id");
  auto found = stores_.metadata.Get(kSubjects, Join({tenant, subject}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return FailAt(path, "exists", "names no subject of this tenant");
  return {};
}

Result<boost::json::object> VaultService::CreateSubject(std::string_view tenant,
                                                        const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"minor", "guardians"}, "$"); !only) {
    return std::unexpected(only.error());
  }
  bool minor = false;
  if (const auto* m = (*o)->if_contains("minor")) {
    if (!m->is_bool()) return FailAt("$.minor", "type", "must be true or false");
    minor = m->get_bool();
  }
  json::array guardians;
  if (const auto* g = (*o)->if_contains("guardians")) {
    if (!g->is_array()) return FailAt("$.guardians", "type", "must be an array of subject ids");
    if (g->get_array().size() > kMaxGuardians) {
      return FailAt("$.guardians", "max_items", "a subject has at most 8 guardians");
    }
    for (std::size_t i = 0; i < g->get_array().size(); ++i) {
      const auto& item = g->get_array()[i];
      const std::string path = JsonPathIndex("$.guardians", i);
      if (!item.is_string()) return FailAt(path, "type", "must be a subject id");
      if (auto exists = RequireSubject(tenant, item.get_string(), path); !exists) {
        return std::unexpected(exists.error());
      }
      for (const auto& seen : guardians) {
        if (seen == item) return FailAt(path, "unique", "is listed twice");
      }
      guardians.push_back(item);
    }
  }
  if (!guardians.empty() && !minor) {
    return FailAt("$.guardians", "minor_only", "only a subject flagged as a minor has guardians");
  }
  auto id = NewId("sub_");
  if (!id) return std::unexpected(id.error());
  json::object subject{
      {"id", *id}, {"minor", minor}, {"guardians", std::move(guardians)}, {"created_at", Now()}};
  storage::WriteBatch batch;
  auto key = (*keys)->barrier->NewSubjectKey(tenant, *id, batch);
  if (!key) return std::unexpected(key.error());
  batch.Put(kSubjects, Join({tenant, *id}), Serialize(subject));
  if (auto written = stores_.metadata.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  (*keys)->barrier->Adopt(tenant, *id, std::move(*key));
  return subject;
}

Result<boost::json::object> VaultService::GetSubject(std::string_view tenant, std::string_view id) {
  if (!IsId(id, "sub_")) return Fail(ErrorCode::kNotFound, "no such subject");
  auto found = stores_.metadata.Get(kSubjects, Join({tenant, id}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  return ParseStored(**found, "subject");
}

Result<boost::json::object> VaultService::ListSubjects(std::string_view tenant, const Page& page) {
  return StoredObjectPage(stores_.metadata, kSubjects, std::string(tenant) + "/", page, "subjects",
                          &IsSubjectId);
}

// --- records ---------------------------------------------------------------------------------

Result<VaultService::PreparedRecord> VaultService::PrepareRecord(barrier::VaultKeys& keys,
                                                                 std::string_view tenant,
                                                                 const Schema& schema,
                                                                 const json::value& body) {
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
  if (auto exists = RequireSubject(tenant, record.subject, "$.subject_id"); !exists) {
    return std::unexpected(exists.error());
  }
  record.fields = fields->get_object();
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
                                                    storage::WriteBatch& batch) {
  auto prepared = PrepareRecord(keys, tenant, schema, body);
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
  return RecordAnswer(*id, schema.collection, envelope, std::move(prepared->fields));
}

Result<boost::json::object> VaultService::CreateRecord(std::string_view tenant,
                                                       std::string_view collection,
                                                       const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  storage::WriteBatch batch;
  auto answer = CreateOne(**keys, tenant, **schema, body, batch);
  if (!answer) return std::unexpected(answer.error());
  if (auto written = stores_.profiles.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return answer;
}

Result<boost::json::object> VaultService::CreateRecords(std::string_view tenant,
                                                        std::string_view collection,
                                                        const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
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
  storage::WriteBatch batch;
  json::array results;
  std::size_t created = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto answer = CreateOne(**keys, tenant, **schema, items[i], batch);
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
    auto value =
        keys.barrier->DecryptTo(tenant, subject->get_string(),
                                {tenant, collection, id, std::string_view(name)}, *ciphertext,
                                buffer);
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
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  if (!IsId(id, "rec_")) return Fail(ErrorCode::kNotFound, "no such record");
  auto stored = stores_.profiles.Get(kRecords, Join({tenant, collection, id}));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such record");
  return DecryptRecord(**keys, tenant, collection, id, **stored);
}

Result<boost::json::object> VaultService::UpdateRecord(std::string_view tenant,
                                                       std::string_view collection,
                                                       std::string_view id,
                                                       const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema_result = LoadSchema(tenant, collection);
  if (!schema_result) return std::unexpected(schema_result.error());
  const Schema& schema = **schema_result;
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

  std::lock_guard lock(RecordLock(id));
  const std::string record_key = Join({tenant, collection, id});
  auto stored = stores_.profiles.Get(kRecords, record_key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such record");
  auto envelope = ParseStored(**stored, "record");
  if (!envelope) return std::unexpected(envelope.error());
  // Decrypting first proves the stored record is intact before anything is rewritten.
  auto current = DecryptRecord(**keys, tenant, collection, id, **stored);
  if (!current) return std::unexpected(current.error());
  const std::string subject(envelope->at("subject").get_string());
  json::object to_encrypt;
  for (const auto& [name, value] : changes->get_object()) {
    if (!value.is_null()) to_encrypt[name] = value;
  }
  auto encrypted = EncryptFields(**keys, tenant, collection, subject, id, to_encrypt);
  if (!encrypted) return std::unexpected(encrypted.error());

  storage::WriteBatch batch;
  auto& stored_fields = (*envelope)["fields"].get_object();
  if (!envelope->contains("index") || !(*envelope)["index"].is_object()) {
    (*envelope)["index"] = json::object();
  }
  auto& stored_indexes = (*envelope)["index"].get_object();
  json::object& plain = (*current)["fields"].get_object();
  for (const auto& [name, value] : changes->get_object()) {
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
          (*keys)->barrier->BlindIndex(tenant, collection, name, NormalizeForIndex(*spec, value));
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
  return RecordAnswer(id, collection, *envelope, std::move(plain));
}

Result<void> VaultService::DeleteRecord(std::string_view tenant, std::string_view collection,
                                        std::string_view id) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  if (!IsId(id, "rec_")) return Fail(ErrorCode::kNotFound, "no such record");
  std::lock_guard lock(RecordLock(id));
  const std::string record_key = Join({tenant, collection, id});
  auto stored = stores_.profiles.Get(kRecords, record_key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such record");
  auto envelope = ParseStored(**stored, "record");
  if (!envelope) return std::unexpected(envelope.error());
  storage::WriteBatch batch;
  if (const auto* indexes = envelope->if_contains("index"); indexes && indexes->is_object()) {
    for (const auto& [name, index] : indexes->get_object()) {
      if (index.is_string())
        batch.Delete(kIndex, Join({tenant, collection, name, index.get_string(), id}));
    }
  }
  if (const auto* subject = envelope->if_contains("subject"); subject && subject->is_string()) {
    batch.Delete(kBySubject, Join({tenant, subject->get_string(), collection, id}));
  }
  batch.Delete(kRecords, record_key);
  return stores_.profiles.Write(std::move(batch));
}

Result<boost::json::object> VaultService::ListRecords(std::string_view tenant,
                                                      std::string_view collection,
                                                      const Page& page) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!page.cursor.empty() && !IsId(page.cursor, "rec_")) {
    return FailAt("cursor", "format", "cursor is not one this API issued");
  }
  json::array items;
  std::string last;
  Result<void> failure;
  auto scanned =
      ScanPrefix(stores_.profiles, kRecords, Join({tenant, collection}) + "/", page.cursor, *limit,
                 [&](std::string_view id, const storage::Bytes& value) {
                   auto record = DecryptRecord(**keys, tenant, collection, id, value);
                   if (!record) {
                     failure = std::unexpected(record.error());
                     return false;
                   }
                   items.push_back(std::move(*record));
                   last = id;
                   return true;
                 });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  const bool full = items.size() == *limit;
  json::object out{{"records", std::move(items)}};
  out["next_cursor"] = full ? json::value(last) : nullptr;
  return out;
}

Result<boost::json::object> VaultService::SearchRecords(std::string_view tenant,
                                                        std::string_view collection,
                                                        const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  auto o = BodyObject(body);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"field", "value", "limit"}, "$"); !only) {
    return std::unexpected(only.error());
  }
  const auto* field = (*o)->if_contains("field");
  if (field == nullptr) return FailAt("$.field", "required", "is required");
  if (!field->is_string()) return FailAt("$.field", "type", "must be a string");
  const FieldSpec* spec = (*schema)->Find(field->get_string());
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
  auto index = (*keys)->barrier->BlindIndex(tenant, collection, spec->name,
                                            NormalizeForIndex(*spec, *value));
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
    auto record = GetRecord(tenant, collection, id);
    if (!record) {
      if (record.error().code() == ErrorCode::kNotFound) continue;  // deleted meanwhile
      return std::unexpected(record.error());
    }
    records.push_back(std::move(*record));
  }
  return json::object{{"records", std::move(records)}};
}

// --- activity --------------------------------------------------------------------------------

Result<boost::json::object> VaultService::AppendActivity(std::string_view tenant,
                                                         std::string_view subject,
                                                         const json::value& body) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  if (!IsId(subject, "sub_")) return Fail(ErrorCode::kNotFound, "no such subject");
  auto found = stores_.metadata.Get(kSubjects, Join({tenant, subject}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
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
                                                       const Page& page) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!IsId(subject, "sub_")) return Fail(ErrorCode::kNotFound, "no such subject");
  auto found = stores_.metadata.Get(kSubjects, Join({tenant, subject}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
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
      stores_.activity, kEvents, Join({tenant, subject}) + "/", start, *limit,
      [&](std::string_view suffix, const storage::Bytes& value) {
        const std::string_view time_key = suffix.substr(0, 16);
        if (!end.empty() && time_key >= end) return false;
        const std::string_view id = suffix.size() > 17 ? suffix.substr(17) : std::string_view();
        auto envelope = ParseStored(value, "event");
        if (!envelope) {
          failure = std::unexpected(envelope.error());
          return false;
        }
        const auto* payload = envelope->if_contains("payload");
        std::optional<std::vector<std::uint8_t>> ciphertext;
        if (payload && payload->is_string())
          ciphertext = crypto::Base64UrlDecode(payload->get_string());
        if (!ciphertext) {
          LogRejectedCiphertext(tenant, "$activity", id, "payload");
          failure = Fail(ErrorCode::kDataLoss, "stored event is not a ciphertext");
          return false;
        }
        std::vector<std::uint8_t> plain;
        auto opened = (*keys)->barrier->DecryptTo(
            tenant, subject, {tenant, "$activity", id, time_key}, *ciphertext, plain);
        if (!opened) {
          if (opened.error().code() == ErrorCode::kDataLoss) {
            LogRejectedCiphertext(tenant, "$activity", id, "payload");
          }
          failure = std::unexpected(opened.error());
          return false;
        }
        boost::system::error_code ec;
        json::value parsed = json::parse(
            std::string_view(reinterpret_cast<const char*>(plain.data()), plain.size()), ec);
        std::fill(plain.begin(), plain.end(), std::uint8_t{0});
        if (ec || !parsed.is_object()) {
          failure = Fail(ErrorCode::kDataLoss, "decrypted event is not JSON");
          return false;
        }
        const std::int64_t micros = static_cast<std::int64_t>(
            std::stoull(std::string(time_key), nullptr, 16) - (1ull << 62));
        json::object event{
            {"id", id},
            {"type", parsed.get_object()["type"]},
            {"occurred_at", FormatMicros(micros)},
            {"recorded_at", envelope->contains("recorded_at") ? envelope->at("recorded_at")
                                                              : json::value(nullptr)},
            {"data", parsed.get_object()["data"]}};
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
