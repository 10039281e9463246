#pragma once
// Backup format v1 (docs/formats/backup-v1.md): the manifest, its signature, the backup keys and
// the encrypted pieces. A backup is a directory <id>/ holding manifest.json, manifest.sig and
// numbered pieces; everything but the manifest is ciphertext.
//
//   root key ──HKDF──► wrap key (AES-256-GCM) ──wraps──► a random data key per backup
//            ──HKDF──► Ed25519 seed: signs manifest.json
//            ──HKDF──► MAC key: keyed digests of copied files (append detection, restore checks)
//   data key ──AES-256-GCM──► each piece, its AAD naming the backup, the stream, the piece's
//                             index and whether it is the stream's last
//
// So a piece moved to another backup, stream or position, or a stream cut short, fails to
// decrypt; the signed manifest names every piece with its size and SHA-256, so a missing,
// altered or swapped piece is found before decryption, and a replaced manifest fails its
// signature. Backups never hold the root key, sealed or not: opening one needs the vault's root
// key provider.
//
// Types here are plain values; BackupKeys is immutable after Derive and safe to share between
// threads except for the ciphers it hands out (PieceCipher: one per thread).

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/aead.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/signature.h"

namespace strongroom::backup {

inline constexpr std::string_view kFormat = "strongroom-backup-v1";
inline constexpr std::string_view kManifestFile = "manifest.json";
inline constexpr std::string_view kSignatureFile = "manifest.sig";
// Plaintext bytes per piece (the last of a stream may be shorter, even empty).
inline constexpr std::size_t kPieceBytes = 4 << 20;

struct PieceRef {
  std::string file;         // "000001.piece"
  std::uint64_t bytes = 0;  // of the file (nonce + ciphertext + tag)
  std::string sha256;       // hex, of the file
};

// One SQLite store's part: every entry (full) or the changes after `since` (incremental).
struct StoreStream {
  std::string name;         // metadata, profiles, activity, documents
  std::string store_id;     // the file's change-log id (sqlite_snapshot.h)
  std::uint64_t seq = 0;    // the snapshot's last commit
  std::uint64_t since = 0;  // incremental: the parent's seq (0 for a full)
  int page_size = 4096;
  std::uint64_t puts = 0;
  std::uint64_t deletes = 0;
  std::vector<PieceRef> pieces;
};

// One copied file: its bytes from `offset` (0, or the parent's size when the file only grew,
// like an audit segment) to `size`. `digest` is the keyed digest of all `size` bytes.
struct FileStream {
  std::string path;  // relative, '/'-separated: "vault.json", "audit/segments/…"
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::string digest;  // hex HMAC-SHA-256 (MAC key) of the SHA-256 of the content
  std::vector<PieceRef> pieces;
};

struct Manifest {
  std::string id;          // "20261123T101500.123456Z-full-1a2b3c4d": sorts by time
  std::string kind;        // "full" or "incremental"
  std::string created_at;  // RFC 3339, seconds, UTC
  std::string parent_id;   // empty for a full
  std::string parent_manifest_sha256;
  std::string full_id;      // the chain's full backup (itself for a full)
  std::string wrapped_key;  // base64url(nonce || ciphertext || tag)
  std::vector<StoreStream> stores;
  std::vector<FileStream> files;
  std::uint64_t bytes = 0;  // of every piece
};

std::string SerializeManifest(const Manifest& manifest);
// data_loss naming the first thing wrong (not JSON, wrong format, missing or mistyped member).
Result<Manifest> ParseManifest(std::string_view text);

// The stream names in piece AAD: "store:<name>" and "file:<path>".
std::string StoreStreamName(std::string_view store);
std::string FileStreamName(std::string_view path);

// Encrypts and decrypts a backup's pieces under its data key.
class PieceCipher {
 public:
  static Result<PieceCipher> Create(std::span<const std::uint8_t> data_key, std::string backup_id);
  // nonce || ciphertext || tag.
  Result<std::vector<std::uint8_t>> Seal(std::string_view stream, std::uint64_t index, bool final,
                                         std::span<const std::uint8_t> plaintext);
  // The same in place: `piece` holds kPieceHeaderBytes bytes (any) and then the plaintext; it
  // ends as nonce || ciphertext || tag. A backup seals hundreds of 4 MiB pieces: gathering each
  // in the buffer it is written from spares a copy, and reusing the buffers spares the fresh
  // memory (a page fault per 4 KiB).
  static constexpr std::size_t kPieceHeaderBytes = 12;  // the nonce
  Result<void> SealInPlace(std::string_view stream, std::uint64_t index, bool final,
                           std::vector<std::uint8_t>& piece);
  // data_loss if anything about the piece or where it claims to belong is wrong.
  Result<std::vector<std::uint8_t>> Open(std::string_view stream, std::uint64_t index, bool final,
                                         std::span<const std::uint8_t> sealed);

 private:
  PieceCipher(crypto::Aes256Gcm aead, std::string backup_id)
      : aead_(std::move(aead)), backup_id_(std::move(backup_id)) {}
  std::vector<std::uint8_t> Aad(std::string_view stream, std::uint64_t index, bool final) const;
  crypto::Aes256Gcm aead_;
  std::string backup_id_;
};

// The keys every backup of one vault shares, derived from its root key.
class BackupKeys {
 public:
  static Result<BackupKeys> Derive(std::span<const std::uint8_t> root_key);
  // The same keys from a function that derives HKDF-SHA256(root key, no salt, info) without
  // handing out the root key (keys::Keyring::DeriveFromRoot, in the server).
  using RootDerivation = std::function<Result<SecretBytes>(std::string_view info)>;
  static Result<BackupKeys> FromRoot(const RootDerivation& derive);

  // A new random data key for `backup_id`, and its wrapped form for the manifest.
  Result<std::pair<SecretBytes, std::string>> NewDataKey(std::string_view backup_id);
  // permission_denied if the key does not unwrap: another vault's root key, or an altered one.
  Result<SecretBytes> UnwrapDataKey(std::string_view backup_id, std::string_view wrapped);

  std::string Sign(std::string_view manifest_json) const;  // base64url signature
  bool VerifySignature(std::string_view manifest_json, std::string_view signature) const;
  // Hex HMAC of a SHA-256 digest (FileStream::digest).
  Result<std::string> FileDigest(std::span<const std::uint8_t> sha256) const;

 private:
  BackupKeys(crypto::Aes256Gcm wrap, crypto::Ed25519Signer signer, crypto::HmacSha256 mac)
      : wrap_(std::move(wrap)), signer_(std::move(signer)), mac_(std::move(mac)) {}
  crypto::Aes256Gcm wrap_;  // guarded by being used from one thread (the backup's)
  crypto::Ed25519Signer signer_;
  crypto::HmacSha256 mac_;
};

}  // namespace strongroom::backup
