#pragma once
// AuditKeys: the audit trail's keys, derived (HKDF-SHA-256) from the vault's system key "audit"
// in the key hierarchy: the Ed25519 seed that signs checkpoints, and the HMAC key behind subject
// pseudonyms and value hashes (entries never hold a subject id or a value, only these), and
// the choice between that key and a subject's own pseudonym key (SubjectPseudonym).
//
// Derived once per unsealing and cached; sealing drops them (SealState::OnSeal). Thread-safe:
// a shared mutex guards the cache; the keys themselves are immutable once derived.

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

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
  // How the trail names a data subject: "psn_" + 22 base64url characters (the first 128 bits of
  // an HMAC over the tenant and the subject id). For a subject that has keys, the HMAC is under
  // a key derived from the subject's own data key (DataBarrier::SubjectKeyPseudonym): the same
  // for its whole life, and gone with it when it is erased, so entries about an erased subject
  // no longer name anyone. For an id without keys (never made, or erased) or whose oldest key
  // is damaged (logged), the HMAC is under the audit key (VaultPseudonym). sealed while sealed;
  // would_block in a NonBlockingScope when a key is not yet loaded.
  Result<std::string> SubjectPseudonym(std::string_view tenant, std::string_view subject);
  // Every pseudonym the trail may name the subject by, the subject's own first (if it has
  // keys), then VaultPseudonym: what a search for a subject id looks for.
  Result<std::vector<std::string>> SubjectPseudonyms(std::string_view tenant,
                                                     std::string_view subject);
  // The pseudonym under the audit key, computable from the id for as long as the vault lives.
  Result<std::string> VaultPseudonym(std::string_view tenant, std::string_view subject);
  // "hmac-sha256:" + hex of an HMAC over the value: what an investigator searches the trail for.
  Result<std::string> ValueHash(std::string_view value);

 private:
  struct Keys;
  Result<std::shared_ptr<const Keys>> Current();
  // The subject's own pseudonym, or nullopt when it has no keys or its oldest key is damaged
  // (logged: the subject is then named under the audit key).
  Result<std::optional<std::string>> OwnPseudonym(std::string_view tenant,
                                                  std::string_view subject);

  barrier::SealState& seal_;
  std::shared_mutex mu_;
  std::shared_ptr<const Keys> keys_;
};

}  // namespace strongroom::audit
