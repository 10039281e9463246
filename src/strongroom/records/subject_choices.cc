#include "strongroom/records/subject_choices.h"

#include <utility>

#include "strongroom/base/blocking.h"

namespace strongroom::records {

namespace {

std::string KeyOf(std::string_view tenant, std::string_view subject) {
  std::string key;
  key.reserve(tenant.size() + 1 + subject.size());
  key.append(tenant).push_back('/');
  key.append(subject);
  return key;
}

}  // namespace

SubjectChoicesCache::SubjectChoicesCache(ListSubjects list, LoadChoices load)
    : list_(std::move(list)), load_(std::move(load)) {}

SubjectChoicesCache::Shard& SubjectChoicesCache::ShardOf(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % shards_.size()];
}

Result<void> SubjectChoicesCache::LearnTenant(std::string_view tenant) {
  {
    std::shared_lock lock(tenants_mu_);
    if (tenants_.contains(tenant)) return {};
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("a scan of the subjects' choices"));
  std::lock_guard scanning(scan_mu_);
  {
    std::shared_lock lock(tenants_mu_);
    if (tenants_.contains(tenant)) return {};  // scanned while this thread waited
  }
  auto subjects = list_(tenant);
  if (!subjects) return std::unexpected(subjects.error());
  for (const std::string& subject : *subjects) {
    std::string key = KeyOf(tenant, subject);
    Shard& shard = ShardOf(key);
    std::unique_lock lock(shard.mu);
    shard.entries.try_emplace(std::move(key));  // a change recorded meanwhile stays
  }
  std::unique_lock lock(tenants_mu_);
  tenants_.emplace(tenant);
  return {};
}

Result<std::shared_ptr<const SubjectChoices>> SubjectChoicesCache::Get(std::string_view tenant,
                                                                       std::string_view subject) {
  if (auto learned = LearnTenant(tenant); !learned) return std::unexpected(learned.error());
  const std::string key = KeyOf(tenant, subject);
  Shard& shard = ShardOf(key);
  std::uint64_t changes = 0;
  {
    std::shared_lock lock(shard.mu);
    const auto found = shard.entries.find(key);
    if (found == shard.entries.end()) return nullptr;  // no choices: the common case
    if (found->second.choices) return found->second.choices;
    changes = shard.changes;
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("a read of a subject's choices"));
  auto loaded = load_(tenant, subject);
  if (!loaded) return std::unexpected(loaded.error());
  auto choices = std::make_shared<const SubjectChoices>(std::move(*loaded));
  std::unique_lock lock(shard.mu);
  // Kept only if nothing in the shard changed while it loaded (else the next read loads again).
  if (shard.changes == changes) {
    if (const auto found = shard.entries.find(key); found != shard.entries.end()) {
      found->second.choices = choices;
    }
  }
  return choices;
}

void SubjectChoicesCache::Changed(std::string_view tenant, std::string_view subject) {
  std::string key = KeyOf(tenant, subject);
  Shard& shard = ShardOf(key);
  std::unique_lock lock(shard.mu);
  ++shard.changes;
  shard.entries[std::move(key)].choices = nullptr;
}

void SubjectChoicesCache::Forget(std::string_view tenant, std::string_view subject) {
  const std::string key = KeyOf(tenant, subject);
  Shard& shard = ShardOf(key);
  std::unique_lock lock(shard.mu);
  ++shard.changes;
  shard.entries.erase(key);
}

void SubjectChoicesCache::DropLoaded() {
  for (Shard& shard : shards_) {
    std::unique_lock lock(shard.mu);
    ++shard.changes;
    for (auto& [key, entry] : shard.entries) entry.choices = nullptr;
  }
}

}  // namespace strongroom::records
