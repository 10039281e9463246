#pragma once
// Keyring: the key hierarchy under the root key, persisted only in wrapped form in the metadata
// store (space "keys"); byte-level formats in docs/keys.md.
//
//   root key ──wraps──► tenant KEK v1..vN (the highest is current) and the tenant's index key
//   tenant KEK vK ──wraps──► subject DEK vK (one per data subject per KEK version)
//   subject DEK vK ──encrypts──► field values (barrier/field_cipher.h; the header names vK)
//
// Every wrap is AES-256-GCM with a fresh random nonce and associated data naming what the key is
// and where it belongs (tenant, subject, version), so a wrapped key moved to another slot fails
// to unwrap with data_loss. A DEK entry also carries its *encryption reservation*: how many field
// encryptions it may have performed. The barrier persists a higher reservation before it uses
// it, so the count of a key's uses survives restarts and never undercounts (a crash only wastes
// the unused rest of a reservation). The reservation is inside the associated data, so it cannot
// be rolled back in the database without the unwrap failing.
//
// Thread-safe: one mutex guards the cached KEKs and the root key's cipher. Lookups read the
// store; only key creation, rotation and reservations write it. Owns the root key; destroying the
// keyring (sealing) drops every key it holds.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

// An unwrapped subject data-encryption key.
struct DataKey {
  SecretBytes key;             // 32 bytes
  std::uint32_t version = 0;   // = the KEK version that wraps it
  std::uint64_t reserved = 0;  // encryptions this key may have performed, persisted
};

class Keyring {
 public:
  static Result<std::unique_ptr<Keyring>> Create(SecretBytes root_key, storage::Store& metadata);
  ~Keyring();
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // Adds a new tenant's KEK v1 and blind-index key to `batch` (the caller commits it with the
  // tenant's own entry). already_exists if the tenant has keys.
  Result<void> AddTenantKeys(std::string_view tenant, storage::WriteBatch& batch);
  // Writes KEK v(N+1) and makes it current; new subject keys are wrapped under it from now on.
  Result<std::uint32_t> RotateKek(std::string_view tenant);
  // not_found for a tenant without keys.
  Result<std::uint32_t> CurrentKekVersion(std::string_view tenant);

  // A fresh DEK for `subject` under the tenant's current KEK, with `reserve` encryptions
  // reserved, added to `batch`. Use the key only after the batch is durable.
  Result<DataKey> NewSubjectKey(std::string_view tenant, std::string_view subject,
                                std::uint64_t reserve, storage::WriteBatch& batch);
  // The subject's DEK of `version`, or nullopt if there is none. data_loss if it fails to unwrap.
  Result<std::optional<DataKey>> LoadSubjectKey(std::string_view tenant, std::string_view subject,
                                                std::uint32_t version);
  // Persists `key.reserved` (rewrapping the key so its reservation stays authenticated).
  Result<void> SaveReservation(std::string_view tenant, std::string_view subject,
                               const DataKey& key);
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

  // Store keys of the "keys" space (exposed for tests that tamper with them).
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
  Result<std::vector<std::uint8_t>> WrapDekLocked(std::string_view tenant, std::string_view subject,
                                                  const DataKey& key);

  std::mutex mu_;
  // The root key's bytes, for DeriveFromRoot and CopyProvider (locked, zeroed memory; the AES
  // key schedule in root_ holds the same secret anyway). Immutable: read without mu_.
  const SecretBytes root_key_;
  crypto::Aes256Gcm root_;
  storage::Store& metadata_;
  std::map<std::string, TenantKeks, std::less<>> tenants_;
};

}  // namespace strongroom::keys
