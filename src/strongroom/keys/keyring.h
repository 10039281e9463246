#pragma once
// Keyring: the key hierarchy under the root key, persisted only in wrapped form in the metadata
// store (space "keys"); byte-level formats in docs/keys.md.
//
//   root key ──wraps──► tenant KEK v1..vN (the highest is current) and the tenant's index key
//   tenant KEK ──wraps──► subject DEK vK (one per data subject per KEK version it was made under)
//   subject DEK vK ──encrypts──► field values (barrier/field_cipher.h; the header names vK)
//
// A DEK's version K says which KEK was current when it was made; the entry also names the KEK
// that wraps it now, which a rotation's re-wrap (Rewrap) moves to the current KEK without
// touching the data the DEK encrypts. Once no entry names an old KEK it can be retired
// (RetireKek): deleted from the store for good.
//
// Every wrap is AES-256-GCM with a fresh random nonce and associated data naming what the key is
// and where it belongs (tenant, subject, versions), so a wrapped key moved to another slot fails
// to unwrap with data_loss. A DEK entry also carries its *encryption reservation*: how many field
// encryptions it may have performed. The barrier persists a higher reservation before it uses
// it, so the count of a key's uses survives restarts and never undercounts (a crash only wastes
// the unused rest of a reservation). The reservation is inside the associated data, so it cannot
// be rolled back in the database without the unwrap failing.
//
// Thread-safe. `mu_` guards the cached KEKs and the root key's cipher. `dek_write_mu_` orders
// every write of a DEK entry (creation, reservation, re-wrap) and a retirement's check, each a
// read-wrap-write under it, so that a re-wrap never writes back an older reservation and a
// retirement never misses a key wrapped under the KEK it deletes. Owns the root key; destroying
// the keyring (sealing) drops every key it holds.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/aead.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/storage/store.h"

namespace strongroom::keys {

inline constexpr std::string_view kKeysSpace = "keys";
// When each tenant's current KEK was made (RFC 3339 UTC, key = tenant): what automatic rotation
// by age counts from (records/kek_rotation.h).
inline constexpr std::string_view kKekAgesSpace = "kek_ages";

// An unwrapped subject data-encryption key.
struct DataKey {
  SecretBytes key;             // 32 bytes
  std::uint32_t version = 0;   // the KEK version current when it was made (ciphertexts name it)
  std::uint64_t reserved = 0;  // encryptions this key may have performed, persisted
};

// Where a subject key entry stands, read without unwrapping anything.
struct SubjectKeyRef {
  std::string entry;  // its store key (a scan cursor)
  std::string subject;
  std::uint32_t version = 0;      // the DEK's version
  std::uint32_t kek_version = 0;  // the KEK that wraps it now; 0: the entry is damaged
};

// A tenant's KEKs and how many subject keys each wraps.
struct KekUsage {
  std::uint32_t current = 0;
  std::map<std::uint32_t, std::uint64_t> subject_keys;  // every stored KEK version -> keys
  std::uint64_t damaged = 0;  // entries that cannot be taken apart (name or size)
};

// What one Rewrap did.
struct RewrapResult {
  std::size_t rewrapped = 0;
  std::vector<std::string> damaged;  // entries that failed to parse or unwrap: left as they are
};

class Keyring {
 public:
  static Result<std::unique_ptr<Keyring>> Create(SecretBytes root_key, storage::Store& metadata);
  ~Keyring();
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // Adds a new tenant's KEK v1 and blind-index key, and the KEK's age (kKekAgesSpace, now), to
  // `batch` (the caller commits it with the tenant's own entry). already_exists if the tenant
  // has keys.
  Result<void> AddTenantKeys(std::string_view tenant, storage::WriteBatch& batch);
  // Writes KEK v(N+1) and makes it current; new subject keys are made under it, and every DEK
  // entry written from now on (a reservation, a re-wrap) is wrapped under it. `also` adds to the
  // same atomic write what must land with it (the re-wrap job), given the new version.
  Result<std::uint32_t> RotateKek(
      std::string_view tenant,
      const std::function<void(std::uint32_t version, storage::WriteBatch&)>& also = {});
  // not_found for a tenant without keys.
  Result<std::uint32_t> CurrentKekVersion(std::string_view tenant);

  // A fresh DEK for `subject`, wrapped under the tenant's current KEK, with `reserve`
  // encryptions reserved, written together with `batch` (the subject's own entry, or nothing).
  // Its version is the current KEK's, or `version` (the slot a caller found empty, which a
  // rotation since may have made older). already_exists rather than replace a stored key;
  // unavailable (try again) rather than make a key older than the subject's oldest.
  Result<DataKey> CreateSubjectKey(std::string_view tenant, std::string_view subject,
                                   std::uint64_t reserve, storage::WriteBatch batch,
                                   std::optional<std::uint32_t> version = std::nullopt);
  // The subject's DEK of `version`, or nullopt if there is none. data_loss if it fails to unwrap.
  Result<std::optional<DataKey>> LoadSubjectKey(std::string_view tenant, std::string_view subject,
                                                std::uint32_t version);
  // The subject's oldest DEK (the lowest version it has), or nullopt if it has none (never made,
  // or erased). A subject keeps its oldest DEK for as long as it exists (rotations re-wrap it,
  // nothing else deletes it), so what is derived from it stays the same for the subject's whole
  // life and cannot be derived again once the subject is erased (barrier/data_barrier.h,
  // SubjectKeyPseudonym). Unwrapped from a read made without dek_write_mu_: its `reserved` may
  // be behind the stored one, so it is for derivations only, never to build a cipher from.
  Result<std::optional<DataKey>> LoadOldestSubjectKey(std::string_view tenant,
                                                      std::string_view subject);
  // Persists `key.reserved` (rewrapping the key, under the current KEK, so its reservation
  // stays authenticated).
  Result<void> SaveReservation(std::string_view tenant, std::string_view subject,
                               const DataKey& key);

  // Up to `limit` subject key entries of the tenant after the entry `after` ("": from the
  // first), in store order.
  Result<std::vector<SubjectKeyRef>> ListSubjectKeys(std::string_view tenant,
                                                     std::string_view after, std::size_t limit);
  // Re-wraps under the current KEK those of `keys` that another KEK still wraps, reading each
  // entry again first (one that is gone, e.g. erased, stays gone), in one write together with
  // what `also` adds, told the result first (the re-wrap job's progress). The caller keeps the
  // subjects from being erased meanwhile (barrier::SubjectGate). An entry that fails to parse
  // or unwrap is left as it is and named in the result.
  using RewrapAlso = std::function<void(const RewrapResult&, storage::WriteBatch&)>;
  Result<RewrapResult> Rewrap(std::string_view tenant, std::span<const SubjectKeyRef> keys,
                              const RewrapAlso& also = {});
  // Every tenant with keys (up to `limit` after `after`, in order).
  Result<std::vector<std::string>> Tenants(std::string_view after, std::size_t limit);
  // Every KEK version of the tenant and the subject keys each wraps (a scan of its keys).
  Result<KekUsage> Usage(std::string_view tenant);
  // Deletes KEK `version` for good. failed_precondition for the current version or while a
  // subject key is still wrapped under it; not_found if there is no such version. Its scan runs
  // without dek_write_mu_ (it only waits once for writes in flight): after a rotation nothing
  // new is wrapped under an old version.
  Result<void> RetireKek(std::string_view tenant, std::uint32_t version);
  // The tenant's key for blind indexes (keyed HMACs of indexed values).
  Result<SecretBytes> BlindIndexKey(std::string_view tenant);
  // A vault-wide 32-byte key for one purpose (`name`: "identity", ...), created at first use.
  // Concurrent first uses agree on one key (creation is serialised on the keyring's mutex).
  Result<SecretBytes> SystemKey(std::string_view name);

  // HKDF-SHA256 of the root key (no salt, `info`, 32 bytes): for keys that must be derivable from
  // the root key alone, without this vault's metadata (the backup keys, backup/backup_format.h:
  // a backup is opened where only its sealed root key exists).
  Result<SecretBytes> DeriveFromRoot(std::string_view info) const;
  // The same from a root key's bytes (the CLI, which unseals the root key without a keyring).
  static Result<SecretBytes> DeriveFromRootKey(std::span<const std::uint8_t> root_key,
                                               std::string_view info);
  // A provider that returns this root key whatever secret it is given: for opening a scratch copy
  // of this vault (the restore drill) without the operator's passphrase. Never give it to a
  // SealState that serves requests.
  std::unique_ptr<RootKeyProvider> CopyProvider() const;

  // Store keys of the "keys" space (exposed for tests that tamper with them). A DEK's entry is
  // named by its own version, whichever KEK wraps it.
  static std::string KekEntry(std::string_view tenant, std::uint32_t version);
  static std::string DekEntry(std::string_view tenant, std::string_view subject,
                              std::uint32_t version);

 private:
  Keyring(SecretBytes root_key, crypto::Aes256Gcm root, storage::Store& metadata);
  struct TenantKeks {
    std::uint32_t current = 0;
    std::map<std::uint32_t, crypto::Aes256Gcm> keks;  // loaded on first use
  };
  // Both expect mu_ held.
  Result<TenantKeks*> TenantLocked(std::string_view tenant);
  Result<crypto::Aes256Gcm*> KekLocked(std::string_view tenant, std::uint32_t version);
  // The entry of `key` wrapped under the current KEK.
  Result<std::vector<std::uint8_t>> WrapDekLocked(std::string_view tenant, std::string_view subject,
                                                  const DataKey& key);

  std::mutex dek_write_mu_;  // taken before mu_, never after
  std::mutex mu_;
  // The root key's bytes, for DeriveFromRoot and CopyProvider (locked, zeroed memory; the AES
  // key schedule in root_ holds the same secret anyway). Immutable: read without mu_.
  const SecretBytes root_key_;
  crypto::Aes256Gcm root_;
  storage::Store& metadata_;
  std::map<std::string, TenantKeks, std::less<>> tenants_;
};

}  // namespace strongroom::keys
