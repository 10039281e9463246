#pragma once
// What backup_create.cc and backup_restore.cc share: the target lock, the piece payload of store
// streams, and manifest checks. Private to backup/. Stateless; thread-safe.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strongroom/backup/backup_engine.h"
#include "strongroom/base/files.h"
#include "strongroom/storage/sqlite_snapshot.h"

namespace strongroom::backup::internal {

// Holds an exclusive flock on <target>/.lock; released on destruction.
class TargetLock {
 public:
  static Result<TargetLock> Acquire(const std::filesystem::path& target);

 private:
  explicit TargetLock(FileLock lock) : lock_(std::move(lock)) {}
  FileLock lock_;
};
// failed_precondition unless `target` is an existing directory.
Result<void> CheckTarget(const std::filesystem::path& target);

// A store stream's piece payload: entries of u8 op (1 put, 2 delete), u32 space length, u32 key
// length, u32 value length (big-endian), then the three byte strings.
void AppendChange(std::vector<std::uint8_t>& out, const storage::Change& change);
// data_loss if the payload does not parse (it decrypted, so only a bug or a forged key gets here).
Result<void> ForEachEncodedChange(std::span<const std::uint8_t> payload,
                                  const storage::ChangeFn& fn);

// SHA-256 of the text, hex.
std::string Sha256Hex(std::string_view text);
std::string Sha256Hex(std::span<const std::uint8_t> bytes);

// The listing's manifest, if it is there and its signature verifies under `keys`; otherwise the
// problem (naming whether the root key or the manifest is wrong).
Result<const Manifest*> VerifiedManifest(const BackupListing& listing, BackupKeys& keys);

const BackupListing* FindListing(const std::vector<BackupListing>& listings, std::string_view id);
// The chain that ends at `last`, full first: each member's signature verified and each linked to
// its base by the base manifest's SHA-256. data_loss (or permission_denied for a wrong root key)
// naming the first member that fails.
Result<std::vector<const BackupListing*>> VerifiedChain(const std::vector<BackupListing>& listings,
                                                        const BackupListing& last,
                                                        BackupKeys& keys);

// A path from a manifest: relative, '/'-separated, no "." or ".." parts, no empty parts.
bool IsSafeRelativePath(std::string_view path);

// unavailable if `cancelled` says so (CancelFn), else OK.
Result<void> CheckCancelled(const CancelFn& cancelled);

}  // namespace strongroom::backup::internal
