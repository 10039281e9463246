#include <algorithm>

#include "strongroom/backup/backup_internal.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::backup::internal {
namespace {

void AppendU32(std::vector<std::uint8_t>& out, std::size_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

std::uint32_t ReadU32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

Result<TargetLock> TargetLock::Acquire(const std::filesystem::path& target) {
  auto lock = FileLock::Take(target / ".lock", /*wait=*/false);
  if (!lock && lock.error().code() == ErrorCode::kWouldBlock) {
    return Fail(ErrorCode::kFailedPrecondition,
                "another backup or prune is running on target " + target.string());
  }
  if (!lock) return std::unexpected(lock.error());
  return TargetLock(std::move(*lock));
}

Result<void> CheckTarget(const std::filesystem::path& target) {
  std::error_code ec;
  if (!std::filesystem::is_directory(target, ec)) {
    return Fail(ErrorCode::kFailedPrecondition,
                "backup target " + target.string() + " does not exist or is not a directory");
  }
  return {};
}

void AppendChange(std::vector<std::uint8_t>& out, const storage::Change& change) {
  out.push_back(change.is_delete ? 2 : 1);
  AppendU32(out, change.space.size());
  AppendU32(out, change.key.size());
  AppendU32(out, change.value.size());
  out.insert(out.end(), change.space.begin(), change.space.end());
  out.insert(out.end(), change.key.begin(), change.key.end());
  out.insert(out.end(), change.value.begin(), change.value.end());
}

Result<void> ForEachEncodedChange(std::span<const std::uint8_t> payload,
                                  const storage::ChangeFn& fn) {
  std::size_t at = 0;
  while (at < payload.size()) {
    if (payload.size() - at < 13 || (payload[at] != 1 && payload[at] != 2)) {
      return Fail(ErrorCode::kDataLoss, "a store piece holds a malformed entry");
    }
    const bool is_delete = payload[at] == 2;
    const std::uint64_t space = ReadU32(&payload[at + 1]);
    const std::uint64_t key = ReadU32(&payload[at + 5]);
    const std::uint64_t value = ReadU32(&payload[at + 9]);
    at += 13;
    if (payload.size() - at < space + key + value) {
      return Fail(ErrorCode::kDataLoss, "a store piece holds a cut entry");
    }
    const auto* base = reinterpret_cast<const char*>(payload.data() + at);
    storage::Change change{is_delete, std::string_view(base, space),
                           std::string_view(base + space, key),
                           payload.subspan(at + space + key, value)};
    at += space + key + value;
    if (auto done = fn(change); !done) return done;
  }
  return {};
}

std::string Sha256Hex(std::string_view text) { return crypto::HexEncode(crypto::Sha256(text)); }
std::string Sha256Hex(std::span<const std::uint8_t> bytes) {
  return crypto::HexEncode(crypto::Sha256(bytes));
}

Result<const Manifest*> VerifiedManifest(const BackupListing& listing, BackupKeys& keys) {
  if (!listing.manifest) {
    return Fail(ErrorCode::kDataLoss, "backup " + listing.name + ": " + listing.problem);
  }
  if (!keys.VerifySignature(listing.manifest_json, listing.signature)) {
    // Tell a wrong root key from an altered manifest: the wrapped key opens only under the
    // right one.
    const bool right_key =
        keys.UnwrapDataKey(listing.manifest->id, listing.manifest->wrapped_key).has_value();
    return Fail(right_key ? ErrorCode::kDataLoss : ErrorCode::kPermissionDenied,
                "backup " + listing.name +
                    (right_key ? ": the manifest's signature does not verify (manifest altered "
                                 "or replaced)"
                               : ": the manifest's signature does not verify under this root key "
                                 "(another vault's key, or the manifest was replaced)"));
  }
  if (listing.manifest->id != listing.name) {
    return Fail(ErrorCode::kDataLoss, "backup " + listing.name + ": its manifest names backup " +
                                          listing.manifest->id + " (directory renamed)");
  }
  return &*listing.manifest;
}

const BackupListing* FindListing(const std::vector<BackupListing>& listings, std::string_view id) {
  for (const BackupListing& listing : listings) {
    if (listing.name == id) return &listing;
  }
  return nullptr;
}

Result<std::vector<const BackupListing*>> VerifiedChain(const std::vector<BackupListing>& listings,
                                                        const BackupListing& last,
                                                        BackupKeys& keys) {
  std::vector<const BackupListing*> chain;
  const BackupListing* at = &last;
  for (;;) {
    auto manifest = internal::VerifiedManifest(*at, keys);
    if (!manifest) return std::unexpected(manifest.error());
    chain.push_back(at);
    if ((*manifest)->kind == "full") break;
    const BackupListing* parent = FindListing(listings, (*manifest)->parent_id);
    if (parent == nullptr) {
      return Fail(ErrorCode::kDataLoss, "backup " + at->name + " is based on " +
                                            (*manifest)->parent_id +
                                            ", which is not on this target");
    }
    if (Sha256Hex(parent->manifest_json) != (*manifest)->parent_manifest_sha256) {
      return Fail(ErrorCode::kDataLoss, "backup " + at->name + " is based on another " +
                                            (*manifest)->parent_id +
                                            " than the one here (its manifest differs)");
    }
    if (chain.size() > 100'000) return Fail(ErrorCode::kDataLoss, "backup chain loops");
    at = parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

Result<void> CheckCancelled(const CancelFn& cancelled) {
  if (cancelled && cancelled())
    return Fail(ErrorCode::kUnavailable,
                "cancelled: the server is stopping or the vault was sealed");
  return {};
}

}  // namespace strongroom::backup::internal
