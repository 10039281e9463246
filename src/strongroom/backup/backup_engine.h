#pragma once
// Backups of a vault (docs/backup.md; format in docs/formats/backup-v1.md): create full or
// incremental backups on one or more target directories, list, verify, restore into a new data
// directory, prune by retention.
//
// What a backup holds: the four SQLite stores read from consistent snapshots (sqlite_snapshot.h;
// writers are never stopped), the audit trail's files (checkpoints.log read before the segments,
// so every checkpoint's entries are in the copy), and the data directory's small files
// (vault.json, auth/, tls/). Never the root key, sealed or not: a restore is given the sealed key
// file, and opening a backup needs the root key inside it.
//
// Stores are snapshotted data first, metadata last: every key a record needs was committed before
// the record, so the metadata snapshot holds the keys of every record in the others.
//
// Targets: a backup is written to each target as <target>/.<id>.partial/, every file fdatasync'ed
// and read back from the disk (compared byte for byte with what was written, from which the
// manifest's SHA-256 was taken; piece_checker.h, on a second thread), then the directory renamed
// to <target>/<id>/. A target that
// fails is reported and the others go on; the backup fails only if no target took it.
// An incremental is based on the newest backup whose signature verifies on any target.
//
// Functions are blocking (disk, CPU); call them from a thread that may block. A target is locked
// (flock on <target>/.lock) while a backup or prune runs on it; verify and restore only read.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/backup/backup_format.h"
#include "strongroom/base/error.h"

namespace strongroom::backup {

struct VaultPaths {
  std::filesystem::path data_dir;
  std::filesystem::path audit_dir;
};

// Snapshot order: data stores first, metadata (the keys) last.
inline constexpr std::string_view kStoreNames[] = {"documents", "activity", "profiles", "metadata"};

// Bytes processed so far and the expected total (an estimate; `done` never exceeds it).
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;
// Asked between pieces: true stops the operation, which then fails with unavailable and leaves
// nothing behind (as any failure does). Empty: never.
using CancelFn = std::function<bool()>;

struct TargetOutcome {
  std::filesystem::path target;
  bool ok = false;
  std::string error;    // when !ok: what failed, naming the file
  std::string warning;  // when ok but worth knowing (the chain's base is not on this target)
};

struct CreateOptions {
  VaultPaths vault;
  std::vector<std::filesystem::path> targets;
  bool full = true;
  ProgressFn progress;
  CancelFn cancelled;
};

struct CreateReport {
  Manifest manifest;
  std::vector<TargetOutcome> targets;
  std::uint64_t plaintext_bytes = 0;  // read from the vault and encrypted
  std::vector<std::string> warnings;  // e.g. tombstones not pruned (the backup itself is good)
};

// failed_precondition: a target missing or not a directory, another backup running on a target,
// an incremental without a verified backup to base it on or whose base is not of these store
// files; unavailable: no target took the backup (each target's error in the message).
Result<CreateReport> CreateBackup(const CreateOptions& options, BackupKeys& keys);

struct BackupListing {
  std::filesystem::path dir;
  std::string name;                  // the directory's name
  std::optional<Manifest> manifest;  // nullopt: manifest missing or unreadable (see problem)
  std::string manifest_json;
  std::string signature;
  std::string problem;
};
// The backups on a target, oldest first, as their manifests say (not yet verified). Partial
// directories (a backup cut short) are not listed.
Result<std::vector<BackupListing>> ListBackups(const std::filesystem::path& target);

struct VerifyResult {
  std::string id;
  bool ok = false;
  std::string problem;  // when !ok, operator-facing: names the piece or file
  std::uint64_t bytes = 0;
};
// Checks every backup on the target (or only `id`): the manifest's signature, its chain (parent
// present, its manifest's SHA-256), and every piece: present, its size, its SHA-256, that it
// decrypts where it stands. not_found for an unknown `id`.
Result<std::vector<VerifyResult>> VerifyBackups(const std::filesystem::path& target,
                                                BackupKeys& keys, const std::string& id,
                                                const ProgressFn& progress,
                                                const CancelFn& cancelled = {});

struct RestoreOptions {
  std::filesystem::path target;
  std::string backup_id;              // empty: the newest (or the newest at or before `at`)
  std::string at;                     // RFC 3339 UTC, seconds ("2026-11-23T10:15:00Z"); empty: none
  std::filesystem::path destination;  // must not exist
  std::filesystem::path sealed_key_file;      // the root key's file, copied to <destination>/keys/
  std::string root_key_name = "root.sealed";  // its name there: root.sealed, or root.p11 (PKCS#11)
  ProgressFn progress;
  CancelFn cancelled;
  // Runs on the restored files once they check out and before they are renamed into place
  // (records/subject_erasure.h: the erasure ledger's replay). Its failure fails the restore;
  // it returns a line for the report ("2 subjects erased by the ledger").
  std::function<Result<std::string>(const std::filesystem::path& restored)> before_open;
};

struct RestoreReport {
  std::vector<std::string> chain;  // full first
  std::uint64_t bytes = 0;         // of pieces read
  std::uint64_t audit_entries = 0;
  std::string before_open;  // what RestoreOptions::before_open reported
};
// Restores a backup's chain into `destination`, built as .<name>.restoring beside it and renamed
// only once every store, file and the audit trail check out; on any failure nothing is left
// behind. already_exists if `destination` exists; not_found for an unknown backup; data_loss
// naming the piece for anything altered, missing or out of place.
Result<RestoreReport> RestoreBackup(const RestoreOptions& options, BackupKeys& keys);

struct PruneReport {
  std::vector<std::string> deleted;
  std::vector<std::string> kept;
};
// Keeps the newest `keep_full` full backups and the incrementals based on them; deletes the rest
// (each renamed away first, so a crash never leaves half a backup that looks whole).
Result<PruneReport> PruneBackups(const std::filesystem::path& target, int keep_full);

}  // namespace strongroom::backup
