#pragma once
// ErasureLedger: the append-only, signed record of every subject erasure, kept outside the
// backups (docs/formats/erasure-ledger-v1.md). Each line is a receipt: which subject (as a keyed
// pseudonym, never its id), of which tenant, when, and what was destroyed, signed with Ed25519
// and chained to the line before it by SHA-256. A restore replays the ledger before the restored
// vault opens (records/subject_erasure.h), so a subject erased after a backup was taken stays
// erased in every copy made from it; that is also why the ledger is copied beside the backups,
// on every backup target.
//
// LedgerKeys holds the signing key and the pseudonym key, both derived from the root key (so a
// restore, which has only the root key, can check and use the ledger). Immutable once made;
// thread-safe.
//
// ErasureLedger: thread-safe (one mutex around appends and copies), and safe across processes
// (the server and `strongroom backup create`): appends, copies and adoption hold an flock on
// `<file>.lock`, and a copy on a target holds `<target>/.erasure-ledger.lock` too. Borrows
// nothing.

#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/signature.h"

namespace strongroom::privacy {

// The file name of the ledger's copy on a backup target.
inline constexpr std::string_view kLedgerCopyName = "erasure-ledger.jsonl";

class LedgerKeys {
 public:
  // HKDF infos of the two keys (docs/keys.md).
  static constexpr std::string_view kSignInfo = "strongroom/erasure-ledger/sign/v1";
  static constexpr std::string_view kSubjectInfo = "strongroom/erasure-ledger/subject/v1";
  using RootDerivation = std::function<Result<SecretBytes>(std::string_view info)>;
  static Result<LedgerKeys> FromRoot(const RootDerivation& derive);

  // "esn_" + base64url of HMAC-SHA-256 over (tenant, subject): the receipt's name for the
  // subject. Stable, so a restore can find the subject; unlinkable without the root key.
  Result<std::string> SubjectPseudonym(std::string_view tenant, std::string_view subject) const;
  std::string PublicKeyText() const;  // base64url of the Ed25519 public key
  const crypto::Ed25519Signer& signer() const { return signer_; }

 private:
  LedgerKeys(crypto::Ed25519Signer signer, crypto::HmacSha256 subject_mac)
      : signer_(std::move(signer)), subject_mac_(std::move(subject_mac)) {}
  crypto::Ed25519Signer signer_;
  crypto::HmacSha256 subject_mac_;
};

// What one erasure destroyed, as the receipt states it.
struct ErasureCounts {
  std::uint64_t keys = 0;     // wrapped data keys (every version)
  std::uint64_t records = 0;  // with their blind-index entries and subject links
  std::uint64_t index_entries = 0;
  std::uint64_t activity_events = 0;
  std::uint64_t documents = 0;        // finished documents
  std::uint64_t document_chunks = 0;  // of finished documents and unfinished uploads
  std::uint64_t consents = 0;         // consent records
  std::uint64_t processing = 0;       // processing states (restriction, objections): 0 or 1
  std::uint64_t tokens = 0;           // tokens of its values no other subject holds (token_vault.h)
  boost::json::object ToJson() const;
};

// A receipt read back from a ledger and checked.
struct LedgerReceipt {
  std::string id;
  std::string tenant;
  std::string subject;  // the pseudonym
  std::string erased_at;
};

class ErasureLedger {
 public:
  explicit ErasureLedger(std::filesystem::path file) : file_(std::move(file)) {}
  const std::filesystem::path& file() const { return file_; }

  // A new receipt id ("ers_" + 22 base64url characters).
  static Result<std::string> NewReceiptId();
  // Appends the signed receipt of one erasure (durable when it returns) and returns it:
  // {"receipt": {...}, "signature": "...", "public_key": "..."}, as written. A last line a
  // crash cut short (never acknowledged) is cut off first.
  Result<boost::json::object> Append(const LedgerKeys& keys, std::string_view receipt_id,
                                     std::string_view tenant, std::string_view subject,
                                     std::string_view erased_at, const ErasureCounts& destroyed);
  // The line of receipt `receipt_id` as written, or nullopt.
  Result<std::optional<boost::json::object>> Find(std::string_view receipt_id);
  // Replaces `<dir>/erasure-ledger.jsonl` with a copy of the ledger's complete lines
  // (atomically). failed_precondition, and the copy kept, when the copy there is not a prefix
  // of this ledger (it holds receipts this one lacks: see AdoptLongerCopy). Nothing to do when
  // there is no ledger yet.
  Result<void> CopyTo(const std::filesystem::path& dir);
  // Takes over the copy in one of `dirs` when this ledger is a strict prefix of it (this one was
  // lost with its data directory, or missed receipts) and the copy checks out under `keys`
  // (Read: this vault's signatures, an unbroken chain): true if it did. A copy that differs
  // otherwise, or does not check out, is left alone and reported (failed_precondition) after
  // the others are looked at.
  Result<bool> AdoptLongerCopy(const std::vector<std::filesystem::path>& dirs,
                               const LedgerKeys& keys);

  // Every receipt of the ledger `file`, each signature checked against `keys` and each line's
  // chain link against the line before. data_loss naming the line for a bad one; an absent
  // file has no receipts (any other error reading it is an error); a last line without its
  // newline was never acknowledged and is ignored.
  static Result<std::vector<LedgerReceipt>> Read(const std::filesystem::path& file,
                                                 const LedgerKeys& keys);

 private:
  std::filesystem::path file_;
  std::mutex mu_;
};

// What a restore replays: the union of the receipts of `ledgers` (each checked; absent files
// skipped, and so is a ledger whose first line carries another vault's public key: it is not
// this vault's ledger, as when restoring another vault's backup next to this one). A ledger of
// `copies` (the copies on backup targets) that cannot be read or does not check out is skipped
// and reported, where one of `ledgers` fails the call: one stale mount must not stop every
// restore.
struct ErasedSubjects {
  std::map<std::string, std::set<std::string>, std::less<>> by_tenant;  // tenant -> pseudonyms
  std::set<std::string> ids;                                            // the receipts' ids
  std::vector<std::string> skipped;                                     // "<path> (why)"
  std::string longest;  // the complete lines of the longest ledger read (to keep with a restore)
};
Result<ErasedSubjects> ReadErasedSubjects(const std::vector<std::filesystem::path>& ledgers,
                                          const std::vector<std::filesystem::path>& copies,
                                          const LedgerKeys& keys);

}  // namespace strongroom::privacy
