#include "strongroom/policy/policy_store.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"

namespace strongroom::policy {
namespace {

namespace json = boost::json;

constexpr std::string_view kPolicies = "policies";
constexpr std::string_view kVersions = "policy_versions";

// "<tenant>/<version, 20 digits>": versions sort by number in the store's byte order.
std::string VersionKey(std::string_view tenant, std::uint64_t version) {
  const std::string digits = std::to_string(version);
  return std::string(tenant) + "/" + std::string(20 - digits.size(), '0') + digits;
}

storage::Bytes Encode(std::uint64_t version, std::string_view text, std::string_view at,
                      std::string_view by) {
  json::object o;
  o["version"] = version;
  o["text"] = text;
  o["updated_at"] = at;
  o["updated_by"] = by;
  const std::string s = json::serialize(o);
  return storage::Bytes(s.begin(), s.end());
}

struct Raw {
  PolicyVersion info;
  std::string text;
};

Result<Raw> DecodeRaw(const storage::Bytes& bytes) {
  boost::system::error_code ec;
  const json::value v =
      json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  const auto bad = [] { return Fail(ErrorCode::kDataLoss, "a stored policy is malformed"); };
  if (ec || !v.is_object()) return bad();
  const auto& o = v.get_object();
  const auto* version = o.if_contains("version");
  const auto* text = o.if_contains("text");
  const auto* at = o.if_contains("updated_at");
  const auto* by = o.if_contains("updated_by");
  // Boost.JSON reads a small unsigned number back as int64.
  if (!version || !(version->is_uint64() || (version->is_int64() && version->get_int64() >= 0)) ||
      !text || !text->is_string() || !at || !at->is_string() || !by || !by->is_string()) {
    return bad();
  }
  return Raw{{version->to_number<std::uint64_t>(), std::string(at->get_string()),
              std::string(by->get_string())},
             std::string(text->get_string())};
}

// A stored document is compiled again on load: the stored text is the truth, and a document
// that no longer compiles (edited below the barrier) is refused loudly, never half-applied.
Result<StoredPolicy> Decode(const storage::Bytes& bytes) {
  auto raw = DecodeRaw(bytes);
  if (!raw) return std::unexpected(raw.error());
  auto document = ParseDocument(raw->text);
  if (!document) {
    return Fail(ErrorCode::kDataLoss,
                "a stored policy no longer parses: " + document.error().message());
  }
  auto policy = Policy::Compile(std::move(*document), raw->info.version, std::move(raw->text));
  if (!policy) {
    return Fail(ErrorCode::kDataLoss,
                "a stored policy no longer compiles: " + policy.error().message());
  }
  return StoredPolicy{*policy, std::move(raw->info)};
}

}  // namespace

Result<StoredPolicy> PolicyStore::Load(std::string_view tenant) {
  {
    std::shared_lock lock(mu_);
    if (auto it = cache_.find(tenant); it != cache_.end()) return it->second;
  }
  auto stored = metadata_.Get(kPolicies, tenant);
  if (!stored) return std::unexpected(stored.error());
  StoredPolicy loaded{Policy::BuiltIn(), {}};
  if (*stored) {
    auto decoded = Decode(**stored);
    if (!decoded) {
      observe::Error("security.policy_unreadable",
                     {{"tenant", tenant}, {"reason", decoded.error().message()}});
      return std::unexpected(decoded.error());
    }
    loaded = std::move(*decoded);
  }
  std::unique_lock lock(mu_);
  return cache_.try_emplace(std::string(tenant), std::move(loaded)).first->second;
}

Result<std::shared_ptr<const Policy>> PolicyStore::For(std::string_view tenant) {
  auto loaded = Load(tenant);
  if (!loaded) return std::unexpected(loaded.error());
  return loaded->policy;
}

Result<StoredPolicy> PolicyStore::Current(std::string_view tenant) { return Load(tenant); }

Result<std::vector<std::string>> PolicyStore::Tenants() {
  std::vector<std::string> tenants;
  std::string after;
  for (;;) {  // bounded: every page moves `after` forward, and a short page ends it
    auto page = metadata_.Scan(kPolicies, after, 256);
    if (!page) return std::unexpected(page.error());
    for (const auto& entry : *page) tenants.push_back(entry.key);
    if (page->size() < 256) return tenants;
    after = page->back().key;
  }
}

Result<PolicyStore::LoadReport> PolicyStore::LoadAll() {
  auto tenants = Tenants();
  if (!tenants) return std::unexpected(tenants.error());
  LoadReport report;
  for (const auto& tenant : *tenants) {
    ++report.documents;
    auto loaded = Load(tenant);
    if (!loaded) {
      if (loaded.error().code() != ErrorCode::kDataLoss) return std::unexpected(loaded.error());
      ++report.unreadable;  // logged by Load
    }
  }
  return report;
}

Result<StoredPolicy> PolicyStore::Put(std::string_view tenant, std::string_view text,
                                      std::optional<std::uint64_t> expected_version,
                                      std::string_view updated_by) {
  auto document = ParseDocument(text);
  if (!document) return std::unexpected(document.error());
  std::lock_guard write(write_mu_);
  // The version from the stored bytes, not from Load: a stored document that no longer
  // compiles must still be replaceable.
  auto current = metadata_.Get(kPolicies, tenant);
  if (!current) return std::unexpected(current.error());
  std::uint64_t now_version = 0;
  if (*current) {
    auto raw = DecodeRaw(**current);
    if (raw) {
      now_version = raw->info.version;
    } else {
      // Not even the envelope reads: the newest kept version's number, from its key.
      auto versions = LatestVersionKey(tenant);
      if (!versions) return std::unexpected(versions.error());
      now_version = *versions;
    }
  }
  if (expected_version && *expected_version != now_version) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the policy is at version " + std::to_string(now_version) + ", not " +
                    std::to_string(*expected_version) + ": read it again and redo the change");
  }
  const std::uint64_t version = now_version + 1;
  auto policy = Policy::Compile(std::move(*document), version, std::string(text));
  if (!policy) return std::unexpected(policy.error());
  const std::string at = FormatRfc3339(std::chrono::system_clock::now());
  storage::WriteBatch batch;
  batch.Put(kPolicies, tenant, Encode(version, text, at, updated_by));
  batch.Put(kVersions, VersionKey(tenant, version), Encode(version, text, at, updated_by));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  StoredPolicy stored{*policy, {version, at, std::string(updated_by)}};
  std::unique_lock lock(mu_);
  cache_.insert_or_assign(std::string(tenant), stored);
  return stored;
}

Result<std::uint64_t> PolicyStore::LatestVersionKey(std::string_view tenant) {
  const std::string prefix = std::string(tenant) + "/";
  std::string after = prefix;
  std::uint64_t latest = 0;
  for (;;) {
    auto page = metadata_.Scan(kVersions, after, 100);
    if (!page) return std::unexpected(page.error());
    for (const auto& entry : *page) {
      if (!entry.key.starts_with(prefix)) return latest;
      const std::string_view digits = std::string_view(entry.key).substr(prefix.size());
      std::uint64_t version = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
      if (ec == std::errc() && end == digits.data() + digits.size()) {
        latest = std::max(latest, version);
      }
    }
    if (page->size() < 100) return latest;
    after = page->back().key;
  }
}

Result<std::vector<PolicyVersion>> PolicyStore::Versions(std::string_view tenant) {
  std::vector<PolicyVersion> out;
  const std::string prefix = std::string(tenant) + "/";
  std::string after = prefix;
  for (;;) {
    auto page = metadata_.Scan(kVersions, after, 100);
    if (!page) return std::unexpected(page.error());
    for (const auto& entry : *page) {
      if (!entry.key.starts_with(prefix)) return out;
      auto decoded = DecodeRaw(entry.value);
      if (!decoded) return std::unexpected(decoded.error());
      out.push_back(std::move(decoded->info));
    }
    if (page->size() < 100) return out;
    after = page->back().key;
  }
}

Result<StoredPolicy> PolicyStore::Version(std::string_view tenant, std::uint64_t version) {
  auto stored = metadata_.Get(kVersions, VersionKey(tenant, version));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such policy version");
  return Decode(**stored);
}

}  // namespace strongroom::policy
