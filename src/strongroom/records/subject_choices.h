#pragma once
// What a data subject has chosen about the processing of their data (docs/privacy.md,
// "Restriction, objection and consent"): whether processing is restricted (GDPR art. 18), the
// purposes they object to or opted out of (art. 21, CCPA "do not sell or share"), and the
// purposes their latest consent record gives. The access policy decides reads with them
// (policy::Policy::DecideForSubject).
//
// SubjectChoicesCache keeps the choices of the subjects that have any, decrypted, in memory,
// so that checking them on every read costs a hash lookup and no disk read. It learns which
// subjects of a tenant have choices from one scan of the stores' keys (no decryption) the
// first time the tenant is asked about, loads a subject's choices when first needed, and drops
// them when they change, when the subject is erased and when the vault is sealed. Subjects
// without choices cost nothing to keep; those with choices cost an entry each (not bounded:
// proportional to the subjects who made a choice). The owner (VaultService)
// gives it the two functions that read the stores.
//
// Thread-safe: the subjects are split over shards, each with its own shared mutex; readers of
// a cached subject take a shared lock only. A load that raced a change is not kept (each shard
// counts its changes). Inside a NonBlockingScope (base/blocking.h) a lookup that would read the
// stores fails with would_block instead.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "strongroom/base/error.h"

namespace strongroom::records {

struct SubjectChoices {
  bool restricted = false;
  std::vector<std::string> objections;  // purposes, sorted
  std::vector<std::string> consented;   // purposes whose latest consent record gives consent
};

// Purposes no subject can object to and that restriction still allows: what a controller must
// keep doing (legal claims, answering the subject's own request).
inline constexpr std::string_view kLegalPurpose = "legal";
inline constexpr std::string_view kSubjectRequestPurpose = "subject-request";

class SubjectChoicesCache {
 public:
  // The subjects of `tenant` with any stored choice (ids only).
  using ListSubjects = std::function<Result<std::vector<std::string>>(std::string_view tenant)>;
  // One subject's choices, read and decrypted.
  using LoadChoices =
      std::function<Result<SubjectChoices>(std::string_view tenant, std::string_view subject)>;

  SubjectChoicesCache(ListSubjects list, LoadChoices load);

  // The subject's choices; null when it has none.
  Result<std::shared_ptr<const SubjectChoices>> Get(std::string_view tenant,
                                                    std::string_view subject);
  // The subject's choices were just written: forget what is cached, and count it among the
  // subjects with choices.
  void Changed(std::string_view tenant, std::string_view subject);
  // The subject was erased: nothing of it is kept.
  void Forget(std::string_view tenant, std::string_view subject);
  // The vault was sealed: every decrypted choice is dropped (loaded again after the unseal).
  void DropLoaded();

 private:
  struct Entry {
    std::shared_ptr<const SubjectChoices> choices;  // null: not loaded yet
  };
  struct Shard {
    std::shared_mutex mu;
    std::unordered_map<std::string, Entry> entries;  // tenant + '/' + subject
    std::uint64_t changes = 0;
  };
  Shard& ShardOf(const std::string& key);
  Result<void> LearnTenant(std::string_view tenant);

  ListSubjects list_;
  LoadChoices load_;
  std::array<Shard, 16> shards_;
  std::mutex scan_mu_;  // one tenant scan at a time (a cold start does not scan twice)
  std::shared_mutex tenants_mu_;
  std::set<std::string, std::less<>> tenants_;  // scanned already
};

}  // namespace strongroom::records
