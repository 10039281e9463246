#pragma once
// AuditKeys: the audit trail's keys, derived (HKDF-SHA-256) from the vault's system key "audit"
// in the key hierarchy: the Ed25519 seed that signs checkpoints, and the HMAC key behind subject
// pseudonyms and value hashes (entries never hold a subject id or a value, only these).
//
// Derived once per unsealing and cached; sealing drops them (SealState::OnSeal). Thread-safe:
// a shared mutex guards the cache; the keys themselves are immutable once derived.

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/error.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/signature.h"

namespace strongroom::audit {

class AuditKeys {
 public:
  // Registers a seal listener: create before serving, and keep alive as long as `seal`.
  explicit AuditKeys(barrier::SealState& seal);

  // The checkpoint signer, or null while sealed (or if the keys cannot be loaded: logged).
  std::shared_ptr<const crypto::Ed25519Signer> Signer();
  // "psn_" + 22 base64url characters (the first 128 bits of an HMAC over the tenant and the
  // subject id): the same subject always gets the same pseudonym, and nobody without the key can
  // link it back. sealed while sealed; would_block in a NonBlockingScope when not yet derived.
  Result<std::string> SubjectPseudonym(std::string_view tenant, std::string_view subject);
  // "hmac-sha256:" + hex of an HMAC over the value: what an investigator searches the trail for.
  Result<std::string> ValueHash(std::string_view value);

 private:
  struct Keys;
  Result<std::shared_ptr<const Keys>> Current();

  barrier::SealState& seal_;
  std::shared_mutex mu_;
  std::shared_ptr<const Keys> keys_;
};

}  // namespace strongroom::audit
