#pragma once
// PolicyStore: each tenant's access-policy document, versioned, in the metadata store, and its
// compiled form cached in memory. A tenant without a stored document has the built-in one
// (version 0). Every stored version is kept (space "policy_versions") so an auditor can see
// what was in force when; the current one is in space "policies".
//
// For() is on every request's path: a shared lock and a map lookup on a hit. Put() serialises
// writers and replaces the cached entry only after the write is durable. Thread-safe; borrows
// the store, which must outlive it.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/policy/policy.h"
#include "strongroom/storage/store.h"

namespace strongroom::policy {

struct PolicyVersion {
  std::uint64_t version = 0;  // 0: the built-in policy
  std::string updated_at;     // "" for the built-in policy
  std::string updated_by;     // principal id
};

struct StoredPolicy {
  std::shared_ptr<const Policy> policy;
  PolicyVersion info;
};

class PolicyStore {
 public:
  explicit PolicyStore(storage::Store& metadata) : metadata_(metadata) {}

  // The tenant's policy in force. would_block inside a NonBlockingScope when not yet cached;
  // data_loss (logged as security.policy_unreadable) when the stored document no longer
  // compiles: every call is then refused but the policy's own replacement (Put).
  Result<std::shared_ptr<const Policy>> For(std::string_view tenant);
  Result<StoredPolicy> Current(std::string_view tenant);
  // At start: loads and compiles every stored document (into the cache), so that one that no
  // longer compiles is reported (security.policy_unreadable) before the first request, not at
  // it. Returns how many tenants have a stored document and how many of those are unreadable
  // (their tenants are refused everything but the repair, as For() says).
  struct LoadReport {
    std::size_t documents = 0;
    std::size_t unreadable = 0;
  };
  Result<LoadReport> LoadAll();
  // The tenants with a stored document, in key order.
  Result<std::vector<std::string>> Tenants();
  // Stores `text` as the tenant's next version. invalid_argument (with the line) when it does
  // not parse; failed_precondition when `expected_version` is given and is not the current
  // version (someone else changed it meanwhile).
  Result<StoredPolicy> Put(std::string_view tenant, std::string_view text,
                           std::optional<std::uint64_t> expected_version,
                           std::string_view updated_by);
  // Every stored version, oldest first (without the built-in one).
  Result<std::vector<PolicyVersion>> Versions(std::string_view tenant);
  // One stored version's text; not_found if there is none.
  Result<StoredPolicy> Version(std::string_view tenant, std::uint64_t version);

 private:
  Result<StoredPolicy> Load(std::string_view tenant);
  // The highest version number among the kept versions' keys (0: none).
  Result<std::uint64_t> LatestVersionKey(std::string_view tenant);

  storage::Store& metadata_;
  std::shared_mutex mu_;
  std::map<std::string, StoredPolicy, std::less<>> cache_;
  std::mutex write_mu_;
};

}  // namespace strongroom::policy
