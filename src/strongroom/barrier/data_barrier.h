#pragma once
// DataBarrier: the door between plaintext and storage for personal data. Services above it hand
// it plaintext field values and get ciphertext (and keyed blind-index hashes) to store; storage
// below it never sees anything else.
//
// It keeps one FieldCipher per (tenant, subject, key version) in a bounded cache, created from
// the subject's DEK (keys/keyring.h), and counts every encryption against the key's persisted
// reservation: before a cipher goes past its reservation, a larger one (kReservationBlock more)
// is written to the keyring, so the budget of kMaxEncryptionsPerKey holds across restarts. A
// ciphertext that fails to authenticate is data_loss and is logged as a security event (ids only,
// never values) by the caller.
//
// Thread-safe. Each cached cipher has its own mutex (FieldCipher is single-threaded), so
// different subjects encrypt in parallel. Borrows the keyring, which must outlive it.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "strongroom/barrier/document_cipher.h"
#include "strongroom/barrier/field_cipher.h"
#include "strongroom/barrier/subject_gate.h"
#include "strongroom/crypto/ff1.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/keys/keyring.h"

namespace strongroom::barrier {

// Encryptions reserved (and persisted) at a time per subject key.
inline constexpr std::uint64_t kReservationBlock = 4096;

// The collection name of a document's wrapped key and encrypted metadata in their field
// locations. User collections cannot have it (names are [a-z][a-z0-9_]*), so these ciphertexts
// can never be taken for a record's.
inline constexpr std::string_view kDocumentsCollection = "$documents";

struct DocumentKey {
  DocumentCipher cipher;
  std::vector<std::uint8_t> wrapped;  // to store with the document
};

// Called when a subject key's reservation reaches half of its budget (and at every reservation
// after that), with the tenant and the key's version: a KEK rotation then gives the subject a
// fresh key for its next writes (records/kek_rotation.h). Runs on the encrypting thread, under
// the key's lock: it must only note the request.
using HalfSpentListener = std::function<void(std::string_view tenant, std::uint32_t version)>;

struct EncryptItem {
  FieldLocation location;
  std::span<const std::uint8_t> plaintext;
  std::vector<std::uint8_t>* out;
};

// The form every subject pseudonym takes: "psn_" + base64url of the first 16 bytes of `mac`
// over "subject" 0x00 tenant 0x00 subject. Under a subject's own key
// (DataBarrier::SubjectKeyPseudonym) or the audit key (audit/audit_keys.h, VaultPseudonym).
Result<std::string> SubjectPseudonymUnder(const crypto::HmacSha256& mac, std::string_view tenant,
                                          std::string_view subject);

class DataBarrier {
 public:
  // `cache_capacity`: subject keys kept unwrapped (two generations of this size at most).
  // `max_encryptions_per_key` exists for tests of the budget.
  // `gate`: the seal state's (subject_gate.h), which outlives the barrier; null: one of its own.
  DataBarrier(keys::Keyring& keyring, std::size_t cache_capacity = 50'000,
              std::uint64_t max_encryptions_per_key = kMaxEncryptionsPerKey,
              SubjectGate* gate = nullptr, HalfSpentListener half_spent = {});
  ~DataBarrier();

  // Creates a new subject's DEK and writes it together with `batch` (the subject's entry), then
  // keeps it, so the first writes for that subject need no key lookup.
  Result<void> CreateSubjectKey(std::string_view tenant, std::string_view subject,
                                storage::WriteBatch batch);

  // Crypto-shredding, first step (records/subject_erasure.h): waits for the writes that hold
  // the subject (SubjectGate), marks it erased there, so that every later use of its keys, by
  // this barrier or any other of the seal state, fails with not_found and no reservation or new
  // key is written for it, and drops its cached keys. The caller then deletes the wrapped keys.
  void Forget(std::string_view tenant, std::string_view subject);
  // Undoes Forget (the caller could not delete the keys: the subject is not erased).
  void Unforget(std::string_view tenant, std::string_view subject);
  SubjectGate& gate() { return *gate_; }

  // Encrypts every item under the subject's current key (one lock, one reservation check).
  Result<void> Encrypt(std::string_view tenant, std::string_view subject,
                       std::span<const EncryptItem> items);
  // data_loss if the ciphertext does not authenticate at `location` under the subject's key.
  Result<SecretBytes> Decrypt(std::string_view tenant, std::string_view subject,
                              const FieldLocation& location,
                              std::span<const std::uint8_t> ciphertext);

  // The same into a caller's buffer (see FieldCipher::DecryptTo): the read path of records.
  Result<void> DecryptTo(std::string_view tenant, std::string_view subject,
                         const FieldLocation& location, std::span<const std::uint8_t> ciphertext,
                         std::vector<std::uint8_t>& out);

  // A new random key for one document, wrapped under the subject's current DEK as the field
  // (tenant, kDocumentsCollection, document id, "key"): one encryption of the subject's budget.
  Result<DocumentKey> NewDocumentKey(std::string_view tenant, std::string_view subject,
                                     std::string_view document_id);
  // Unwraps a document's key; data_loss if `wrapped` does not belong to that document.
  Result<DocumentCipher> OpenDocumentKey(std::string_view tenant, std::string_view subject,
                                         std::string_view document_id,
                                         std::span<const std::uint8_t> wrapped);

  // The blind index of an (already normalised) value of an indexed field: base64url of
  // HMAC-SHA-256 under the tenant's index key, over the collection, field and value.
  Result<std::string> BlindIndex(std::string_view tenant, std::string_view collection,
                                 std::string_view field, std::string_view normalized_value);

  // The keyed-hash pseudonym of an (already normalised) value: "psn_" + base64url of the first
  // 16 bytes of HMAC-SHA-256 under the tenant's pseudonym key. Equal values give equal
  // pseudonyms across fields and collections (joinable); the value cannot be recovered.
  Result<std::string> Pseudonym(std::string_view tenant, std::string_view normalized_value);

  // A pseudonym of the subject under a key that only the subject has: "psn_" + base64url of the
  // first 16 bytes of HMAC-SHA-256 over "subject" 0x00 tenant 0x00 subject, keyed with
  // HKDF-SHA-256 (no salt, info "strongroom/subject-pseudonym/v1") of the subject's oldest DEK
  // (Keyring::LoadOldestSubjectKey). The same for the subject's whole life, across rotations
  // and restarts; once its keys are destroyed (erasure) nobody can compute it again, so what was
  // written under it (the audit trail: audit/audit_keys.h) no longer names the person. nullopt
  // for a subject without keys (never made, or erased); a subject an erasure's grace period
  // hides still has its keys, and its pseudonym. Cached (two generations of the key cache's
  // size); would_block on an I/O thread on a miss. data_loss if its oldest key is damaged.
  Result<std::optional<std::string>> SubjectKeyPseudonym(std::string_view tenant,
                                                         std::string_view subject);

  // Tokens (records/token_vault.h), each under its own key derived with HKDF from the tenant's
  // index key, so no token can be matched against a blind index, a pseudonym or another kind:
  //   DeterministicToken: "tkd_" + base64url of the first 16 bytes of HMAC-SHA-256 over `value`
  //     (info "strongroom/token/deterministic/v1"): equal values, equal tokens.
  //   OneWayToken: "tkh_" + the same under its own key (info "strongroom/token/one-way/v1"):
  //     never stored, never reversible, and not a pseudonym (so tokenizing is no way to guess
  //     at "hashed" views).
  //   FormatPreservingToken: FF1 (NIST SP 800-38G, radix 10, AES-256) of a string of 6 to 64
  //     digits under `tweak` (info "strongroom/token/ff1/v1"): digits stay digits, length kept,
  //     and distinct inputs never share a token (FF1 is a permutation).
  Result<std::string> DeterministicToken(std::string_view tenant, std::string_view value);
  Result<std::string> OneWayToken(std::string_view tenant, std::string_view value);
  Result<std::string> FormatPreservingToken(std::string_view tenant, std::string_view digits,
                                            std::string_view tweak);

  struct Stats {
    std::uint64_t key_loads = 0;     // cache misses that unwrapped a DEK
    std::uint64_t reservations = 0;  // reservations written
  };
  Stats stats() const;

 private:
  struct SubjectCipher;
  struct Indexer;
  Result<std::shared_ptr<SubjectCipher>> Find(std::string_view tenant, std::string_view subject,
                                              std::uint32_t version, bool create_if_missing);
  void InsertLocked(std::string key, std::shared_ptr<SubjectCipher> cipher);
  void Adopt(std::string_view tenant, std::string_view subject, keys::DataKey key);
  // SubjectKeyPseudonym's derivation from the subject's oldest key, and its cache insert.
  static Result<std::string> PseudonymUnder(const keys::DataKey& oldest, std::string_view tenant,
                                            std::string_view subject);
  void KeepPseudonym(std::string_view tenant, std::string_view subject,
                     const std::string& pseudonym);
  using PseudonymMap = std::unordered_map<std::string, std::string>;
  void InsertPseudonymLocked(std::string key, const std::string& pseudonym, PseudonymMap& dropped);
  enum class MacKind : std::uint8_t { kIndex, kPseudonym, kToken, kOneWayToken };
  // The tenant's blind-index, pseudonym or token MAC, made on first use.
  Result<std::shared_ptr<Indexer>> TenantMac(std::string_view tenant, MacKind kind);
  Result<std::shared_ptr<const crypto::Ff1>> TenantFf1(std::string_view tenant);
  // prefix + base64url of the first 16 bytes of the tenant's `kind` MAC over `value`.
  Result<std::string> MacToken(std::string_view tenant, MacKind kind, std::string_view prefix,
                               std::string_view value);

  keys::Keyring& keyring_;
  std::unique_ptr<SubjectGate> own_gate_;  // when none was given
  SubjectGate* gate_;
  const std::size_t cache_capacity_;
  const std::uint64_t max_encryptions_;
  const HalfSpentListener half_spent_;
  mutable std::mutex mu_;
  // Two generations: a hit in `previous_` moves to `current_`; when `current_` is full it
  // becomes `previous_` and the old previous is dropped (an LRU approximation in O(1)).
  std::unordered_map<std::string, std::shared_ptr<SubjectCipher>> current_, previous_;
  std::unordered_map<std::string, std::shared_ptr<Indexer>> macs_[4];  // by MacKind
  std::unordered_map<std::string, std::shared_ptr<const crypto::Ff1>> ff1s_;
  Stats stats_;
  // SubjectKeyPseudonym's cache ("tenant/subject/" -> pseudonym), two generations like the key
  // cache. Its own mutex: hits must not wait for a key loading under mu_.
  std::mutex pseudonyms_mu_;
  PseudonymMap pseudonyms_, previous_pseudonyms_;
};

}  // namespace strongroom::barrier
