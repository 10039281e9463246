// VaultService: tenants, collections, subjects and the members every part shares. Records are
// in vault_records.cc, activity in vault_activity.cc.
#include "strongroom/records/vault_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

#include "strongroom/crypto/encoding.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/service_support.h"

namespace strongroom::records {

namespace json = boost::json;
using namespace internal;  // NOLINT(google-build-using-namespace): this module's own helpers

namespace {
constexpr std::size_t kMaxGuardians = 8;
}  // namespace

VaultService::VaultService(Stores stores, barrier::SealState& seal)
    : stores_(stores),
      seal_(seal),
      choices_(std::make_shared<SubjectChoicesCache>(
          [this](std::string_view tenant) { return SubjectsWithChoices(tenant); },
          [this](std::string_view tenant, std::string_view subject) {
            return LoadChoices(tenant, subject);
          })) {
  // Decrypted choices do not outlive the keys that decrypted them. The seal state may outlive
  // this service (tests make several on one), hence the weak reference.
  seal_.OnSeal([weak = std::weak_ptr<SubjectChoicesCache>(choices_)] {
    if (auto choices = weak.lock()) choices->DropLoaded();
  });
}

Result<std::shared_ptr<barrier::VaultKeys>> VaultService::Keys() const {
  auto keys = seal_.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  return keys;
}

Result<VaultService::CollectionAccess> VaultService::OpenCollection(std::string_view tenant,
                                                                    std::string_view collection) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  auto schema = LoadSchema(tenant, collection);
  if (!schema) return std::unexpected(schema.error());
  return CollectionAccess{std::move(*keys), std::move(*schema)};
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

Result<std::shared_ptr<const Schema>> VaultService::CollectionSchema(std::string_view tenant,
                                                                     std::string_view collection) {
  return LoadSchema(tenant, collection);
}

Result<std::string> VaultService::Pseudonym(std::string_view tenant, const FieldSpec& field,
                                            const boost::json::value& value) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  std::string text =
      value.is_string() ? NormalizeForIndex(field, value) : boost::json::serialize(value);
  auto pseudonym = (*keys)->barrier->Pseudonym(tenant, text);
  std::fill(text.begin(), text.end(), '\0');  // it held a plaintext value
  return pseudonym;
}

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
  auto found = FindSubject(tenant, subject);
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
  batch.Put(kSubjects, Join({tenant, *id}), Serialize(subject));
  // The subject and its key land in one write.
  if (auto created = (*keys)->barrier->CreateSubjectKey(tenant, *id, std::move(batch)); !created) {
    return std::unexpected(created.error());
  }
  return subject;
}

Result<std::optional<storage::Bytes>> VaultService::FindSubject(std::string_view tenant,
                                                                std::string_view id) {
  if (!IsId(id, "sub_")) return std::optional<storage::Bytes>();
  // One being erased, or scheduled for erasure (its grace period), is gone for every caller.
  if (seal_.gate().IsErased(tenant, id)) return std::optional<storage::Bytes>();
  return stores_.metadata.Get(kSubjects, Join({tenant, id}));
}

Result<void> VaultService::SubjectExists(std::string_view tenant, std::string_view id) {
  auto found = FindSubject(tenant, id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  return {};
}

Result<boost::json::object> VaultService::GetSubject(std::string_view tenant, std::string_view id) {
  auto found = FindSubject(tenant, id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  return ParseStored(**found, "subject");
}

Result<boost::json::object> VaultService::ListSubjects(std::string_view tenant, const Page& page) {
  auto listed = StoredObjectPage(stores_.metadata, kSubjects, std::string(tenant) + "/", page,
                                 "subjects", &IsSubjectId);
  if (!listed) return listed;
  // Subjects being erased or scheduled for erasure are left out (the page may come out shorter;
  // its cursor still moves on).
  auto& subjects = listed->at("subjects").as_array();
  const auto hidden = [&](const json::value& subject) {
    const auto* id = subject.is_object() ? subject.get_object().if_contains("id") : nullptr;
    return id != nullptr && id->is_string() && seal_.gate().IsErased(tenant, id->get_string());
  };
  for (auto it = subjects.begin(); it != subjects.end();) {
    it = hidden(*it) ? subjects.erase(it) : it + 1;
  }
  return listed;
}

}  // namespace strongroom::records
