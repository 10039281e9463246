#pragma once
// One audit entry: what a caller records (Event), its stored form (a compact JSON object,
// docs/formats/audit-v1.md) and the strict reading of that form's fixed prefix, which is all
// the chain and the Merkle tree need. Never holds a personal-data value: subjects appear as keyed
// pseudonyms, values only as keyed hashes, and ids are random. Plain values; no locking.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/audit/merkle.h"
#include "strongroom/base/error.h"

namespace strongroom::audit {

struct Actor {
  std::string id;    // "prn_…", or "bootstrap" for the bootstrap admin token
  std::string kind;  // "user" or "service"
  std::vector<std::string> roles;
  std::string via;         // "session", "token", "password" (HTTP Basic)
  std::string credential;  // session or token id, never the secret
};

struct Event {
  std::chrono::system_clock::time_point time;  // set by Trail::Append when left empty
  std::string tenant;
  std::optional<Actor> actor;  // none: the caller was not authenticated
  std::string source;          // the peer's IP address
  std::string request_id;
  std::string action;  // "record.read", "auth.sign_in", … (docs/audit.md lists them)
  // The resource: a collection, the ids of what was touched (records, documents, events,
  // principals, tokens), the pseudonyms of the data subjects, another target (a tenant name).
  std::string collection;
  std::vector<std::string> ids;
  std::vector<std::string> subjects;
  std::string target;
  // Each field asked for and the view returned: "email:plain", "ssn:masked".
  std::vector<std::string> fields;
  // Values the request carried (written or searched for), as keyed hashes only:
  // "email:hmac-sha256:<hex>" (AuditKeys::ValueHash), so "who touched value X" can be answered.
  std::vector<std::string> values;
  std::string purpose;
  // The access policy's decision: the version in force (0: built-in) and the rule that decided
  // ("default deny" when none allowed). Empty rule: no policy was consulted (sign-in, …).
  std::uint64_t policy_version = 0;
  std::string policy_rule;
  int status = 0;
  std::string code;  // "ok", or the error code ("permission_denied")
  std::string detail_path, detail_rule;
};

// The stored bytes of entry `seq`: {"v":1,"seq":…,"time":…,"prev":…, then the event}.
std::string EncodeEntry(std::uint64_t seq, const Hash& prev, const Event& event);

// The fixed prefix of a stored entry, read strictly (exact member order and syntax).
struct EntryHead {
  std::uint64_t seq = 0;
  // As stored, fixed width (so times compare as strings); points into the entry's bytes.
  std::string_view time;
  Hash prev{};
};
// invalid_argument when the bytes are not an audit-v1 entry.
Result<EntryHead> ReadEntryHead(std::span<const std::uint8_t> entry);

}  // namespace strongroom::audit
