#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "strongroom/audit/checkpoint.h"
#include "strongroom/audit/trail_verifier.h"
#include "strongroom/backup/backup_engine.h"
#include "strongroom/backup/backup_internal.h"
#include "strongroom/base/files.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/storage/sqlite_snapshot.h"

namespace strongroom::backup {
namespace {

using internal::Sha256Hex;
namespace fs = std::filesystem;

// Reads one piece as the manifest names it and decrypts it where it stands. Names what is wrong:
// missing, cut or grown, swapped with another piece of the backup, altered.
class PieceReader {
 public:
  PieceReader(fs::path dir, PieceCipher cipher, const Manifest& manifest)
      : dir_(std::move(dir)), cipher_(std::move(cipher)) {
    for (const auto* list : AllPieces(manifest)) {
      for (const PieceRef& piece : *list) by_hash_[piece.sha256] = piece.file;
    }
  }

  Result<std::vector<std::uint8_t>> Read(std::string_view stream, const std::vector<PieceRef>& refs,
                                         std::size_t index) {
    const PieceRef& ref = refs[index];
    if (!internal::IsSafeRelativePath(ref.file) || ref.file.find('/') != std::string::npos) {
      return Fail(ErrorCode::kDataLoss, "the manifest names an unsafe piece file");
    }
    const fs::path file = dir_ / ref.file;
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      return Fail(ErrorCode::kDataLoss,
                  "piece " + ref.file + " (" + std::string(stream) + ") is missing");
    }
    auto content = ReadWholeFile(file);
    if (!content) return std::unexpected(content.error());
    const std::string hash = Sha256Hex(*content);
    if (hash != ref.sha256) {
      const auto other = by_hash_.find(hash);
      if (other != by_hash_.end()) {
        return Fail(ErrorCode::kDataLoss, "piece " + ref.file + " (" + std::string(stream) +
                                              ") holds the content of piece " + other->second +
                                              " (pieces swapped or reordered)");
      }
      return Fail(ErrorCode::kDataLoss,
                  "piece " + ref.file + " (" + std::string(stream) + ") is altered (" +
                      (content->size() != ref.bytes ? "its size differs" : "its SHA-256 differs") +
                      " from the manifest)");
    }
    bytes_ += content->size();
    auto plain =
        cipher_.Open(stream, index, index + 1 == refs.size(),
                     std::span<const std::uint8_t>(
                         reinterpret_cast<const std::uint8_t*>(content->data()), content->size()));
    if (!plain) {
      return Fail(ErrorCode::kDataLoss, "piece " + ref.file + " (" + std::string(stream) +
                                            ") does not decrypt where the manifest puts it");
    }
    return plain;
  }

  std::uint64_t bytes() const { return bytes_; }

  static std::vector<const std::vector<PieceRef>*> AllPieces(const Manifest& manifest) {
    std::vector<const std::vector<PieceRef>*> out;
    out.reserve(manifest.stores.size() + manifest.files.size());
    for (const StoreStream& s : manifest.stores) out.push_back(&s.pieces);
    for (const FileStream& f : manifest.files) out.push_back(&f.pieces);
    return out;
  }

 private:
  fs::path dir_;
  PieceCipher cipher_;
  std::map<std::string, std::string> by_hash_;
  std::uint64_t bytes_ = 0;
};

Result<PieceReader> OpenReader(const BackupListing& listing, const Manifest& manifest,
                               BackupKeys& keys) {
  auto data_key = keys.UnwrapDataKey(manifest.id, manifest.wrapped_key);
  if (!data_key) return std::unexpected(data_key.error());
  auto cipher = PieceCipher::Create(data_key->reveal(), manifest.id);
  if (!cipher) return std::unexpected(cipher.error());
  return PieceReader(listing.dir, std::move(*cipher), manifest);
}

// Keyed digest of a restored file, to hold it to the manifest's.
Result<std::string> DigestOf(const fs::path& file, BackupKeys& keys) {
  auto content = ReadWholeFile(file);
  if (!content) return std::unexpected(content.error());
  return keys.FileDigest(crypto::Sha256(*content));
}

Result<void> SyncTree(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) {
      if (auto synced = SyncDirectory(it->path()); !synced) return synced;
    }
  }
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot walk " + dir.string() + ": " + ec.message());
  return SyncDirectory(dir);
}

// Builds the restored vault in `dir` (which exists, empty).
Result<RestoreReport> RestoreInto(const fs::path& dir,
                                  const std::vector<const BackupListing*>& chain,
                                  const RestoreOptions& options, BackupKeys& keys) {
  RestoreReport report;
  std::vector<PieceReader> readers;
  std::uint64_t total = 0;
  for (const BackupListing* member : chain) {
    report.chain.push_back(member->name);
    total += member->manifest->bytes;
    auto reader = OpenReader(*member, *member->manifest, keys);
    if (!reader) return std::unexpected(reader.error());
    readers.push_back(std::move(*reader));
  }
  std::uint64_t done = 0;
  auto advance = [&](std::uint64_t bytes) {
    done += bytes;
    if (options.progress) options.progress(std::min(done, total), total);
    return internal::CheckCancelled(options.cancelled);
  };
  // Stores: the full's entries, then each incremental's changes, in one loader per store.
  for (std::string_view name : kStoreNames) {
    std::unique_ptr<storage::SqliteLoader> loader;
    const StoreStream* previous = nullptr;
    for (std::size_t m = 0; m < chain.size(); ++m) {
      const Manifest& manifest = *chain[m]->manifest;
      const StoreStream* stream = nullptr;
      for (const StoreStream& s : manifest.stores) {
        if (s.name == name) stream = &s;
      }
      if (stream == nullptr) {
        return Fail(ErrorCode::kDataLoss,
                    "backup " + manifest.id + " has no store " + std::string(name));
      }
      if (previous != nullptr &&
          (stream->store_id != previous->store_id || stream->since != previous->seq)) {
        return Fail(ErrorCode::kDataLoss, "backup " + manifest.id + ": store " + std::string(name) +
                                              " does not continue its base's change log");
      }
      if (!loader) {
        auto created =
            storage::SqliteLoader::Create(dir / (std::string(name) + ".db"), stream->page_size);
        if (!created) return std::unexpected(created.error());
        loader = std::move(*created);
      }
      const std::string stream_name = StoreStreamName(name);
      for (std::size_t i = 0; i < stream->pieces.size(); ++i) {
        auto plain = readers[m].Read(stream_name, stream->pieces, i);
        if (!plain) {
          return Fail(plain.error().code(),
                      "backup " + manifest.id + ": " + plain.error().message());
        }
        auto applied = internal::ForEachEncodedChange(
            *plain, [&](const storage::Change& change) { return loader->Apply(change); });
        if (!applied) return std::unexpected(applied.error());
        if (auto go_on = advance(stream->pieces[i].bytes); !go_on) {
          return std::unexpected(go_on.error());
        }
      }
      previous = stream;
    }
    if (auto finished = loader->Finish(); !finished) return std::unexpected(finished.error());
  }
  // Files: each member's list is complete; a file it extends must have exactly its base's size.
  std::set<std::string> present;
  for (std::size_t m = 0; m < chain.size(); ++m) {
    const Manifest& manifest = *chain[m]->manifest;
    std::set<std::string> listed;
    for (const FileStream& f : manifest.files) {
      if (!internal::IsSafeRelativePath(f.path) || f.path.starts_with("keys/")) {
        return Fail(ErrorCode::kDataLoss, "backup " + manifest.id + " names an unsafe file path");
      }
      const fs::path file = dir / f.path;
      std::error_code ec;
      fs::create_directories(file.parent_path(), ec);
      if (ec) return Fail(ErrorCode::kUnavailable, "cannot create " + file.parent_path().string());
      const std::uint64_t existing = fs::exists(file, ec) ? fs::file_size(file, ec) : 0;
      if (f.offset > 0 && (!present.contains(f.path) || existing != f.offset)) {
        return Fail(ErrorCode::kDataLoss, "backup " + manifest.id + ": file " + f.path +
                                              " extends a copy its base does not hold");
      }
      if (f.offset == 0) fs::resize_file(file, 0, ec);
      std::uint64_t offset = f.offset;
      const std::string stream_name = FileStreamName(f.path);
      for (std::size_t i = 0; i < f.pieces.size(); ++i) {
        auto plain = readers[m].Read(stream_name, f.pieces, i);
        if (!plain) {
          return Fail(plain.error().code(),
                      "backup " + manifest.id + ": " + plain.error().message());
        }
        if (auto written = WriteFileRange(file, offset, *plain, /*exclusive=*/false); !written) {
          return std::unexpected(written.error());
        }
        offset += plain->size();
        if (auto go_on = advance(f.pieces[i].bytes); !go_on) return std::unexpected(go_on.error());
      }
      if (offset != f.size) {
        return Fail(ErrorCode::kDataLoss,
                    "backup " + manifest.id + ": file " + f.path + " does not add up to its size");
      }
      listed.insert(f.path);
      present.insert(f.path);
    }
    for (auto it = present.begin(); it != present.end();) {
      if (listed.contains(*it)) {
        ++it;
        continue;
      }
      std::error_code ec;
      fs::remove(dir / *it, ec);
      it = present.erase(it);
    }
  }
  for (const FileStream& f : chain.back()->manifest->files) {
    auto digest = DigestOf(dir / f.path, keys);
    if (!digest) return std::unexpected(digest.error());
    if (*digest != f.digest) {
      return Fail(ErrorCode::kDataLoss, "restored file " + f.path + " differs from the backup's");
    }
  }
  // The root key stays out of backups: its file (sealed, or wrapped by an HSM's key) comes from
  // the operator.
  {
    auto sealed = ReadWholeFile(options.sealed_key_file);
    if (!sealed) return std::unexpected(sealed.error());
    std::error_code ec;
    fs::create_directory(dir / "keys", ec);
    fs::permissions(dir / "keys", fs::perms::owner_all, ec);
    if (auto written = WriteFileRange(
            dir / "keys" / options.root_key_name, 0,
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(sealed->data()),
                                          sealed->size()),
            /*exclusive=*/true);
        !written) {
      return std::unexpected(written.error());
    }
  }
  // The audit trail inside must verify under its own (backed-up, signed-for) public key.
  const fs::path audit_dir = dir / "audit";
  std::error_code ec;
  if (fs::is_directory(audit_dir / "segments", ec)) {
    audit::VerifyOptions verify;
    verify.dir = audit_dir;
    // The trail publishes its key with its first checkpoint; before that there is no signature
    // to check, only the hash chain.
    if (fs::exists(audit_dir / "public-key.json", ec)) {
      auto key_text = ReadWholeFile(audit_dir / "public-key.json");
      if (!key_text) return std::unexpected(key_text.error());
      auto key = audit::ParsePublicKeyFile(*key_text);
      if (!key) {
        return Fail(ErrorCode::kDataLoss, "restored audit public key: " + key.error().message());
      }
      verify.public_key = *key;
    }
    const audit::VerifyReport trail = audit::VerifyTrail(verify);
    if (!trail.ok) {
      return Fail(ErrorCode::kDataLoss,
                  "the restored audit trail does not verify: " + trail.reason);
    }
    report.audit_entries = trail.entries;
  }
  for (const PieceReader& reader : readers) report.bytes += reader.bytes();
  if (options.before_open) {
    auto replayed = options.before_open(dir);
    if (!replayed) return std::unexpected(replayed.error());
    report.before_open = std::move(*replayed);
  }
  if (auto synced = SyncTree(dir); !synced) return std::unexpected(synced.error());
  return report;
}

}  // namespace

Result<std::vector<BackupListing>> ListBackups(const fs::path& target) {
  if (auto checked = internal::CheckTarget(target); !checked)
    return std::unexpected(checked.error());
  std::vector<BackupListing> listings;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(target, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") || !entry.is_directory(ec)) continue;
    BackupListing listing;
    listing.dir = entry.path();
    listing.name = name;
    auto json = ReadWholeFile(entry.path() / kManifestFile);
    auto signature = ReadWholeFile(entry.path() / kSignatureFile);
    if (!json) {
      listing.problem = "manifest.json is missing or unreadable";
    } else if (!signature) {
      listing.problem = "manifest.sig is missing or unreadable";
    } else if (auto manifest = ParseManifest(*json); !manifest) {
      listing.problem = manifest.error().message();
    } else {
      listing.manifest = std::move(*manifest);
      listing.manifest_json = std::move(*json);
      listing.signature = std::move(*signature);
    }
    listings.push_back(std::move(listing));
  }
  if (ec)
    return Fail(ErrorCode::kUnavailable, "cannot list " + target.string() + ": " + ec.message());
  std::sort(listings.begin(), listings.end(),
            [](const BackupListing& a, const BackupListing& b) { return a.name < b.name; });
  return listings;
}

Result<std::vector<VerifyResult>> VerifyBackups(const fs::path& target, BackupKeys& keys,
                                                const std::string& id, const ProgressFn& progress,
                                                const CancelFn& cancelled) {
  auto listings = ListBackups(target);
  if (!listings) return std::unexpected(listings.error());
  if (!id.empty() && internal::FindListing(*listings, id) == nullptr) {
    return Fail(ErrorCode::kNotFound, "no backup " + id + " on " + target.string());
  }
  std::uint64_t total = 0;
  for (const BackupListing& listing : *listings) {
    if (listing.manifest && (id.empty() || listing.name == id)) total += listing.manifest->bytes;
  }
  std::uint64_t done = 0;
  std::vector<VerifyResult> results;
  for (const BackupListing& listing : *listings) {
    if (!id.empty() && listing.name != id) continue;
    VerifyResult result;
    result.id = listing.name;
    auto check = [&]() -> Result<void> {
      auto chain = internal::VerifiedChain(*listings, listing, keys);
      if (!chain) return std::unexpected(chain.error());
      const Manifest& manifest = *listing.manifest;
      auto reader = OpenReader(listing, manifest, keys);
      if (!reader) return std::unexpected(reader.error());
      std::set<std::string> named{std::string(kManifestFile), std::string(kSignatureFile)};
      auto read_all = [&](std::string_view stream,
                          const std::vector<PieceRef>& pieces) -> Result<void> {
        for (std::size_t i = 0; i < pieces.size(); ++i) {
          named.insert(pieces[i].file);
          auto plain = reader->Read(stream, pieces, i);
          if (!plain) return std::unexpected(plain.error());
          done += pieces[i].bytes;
          if (progress) progress(std::min(done, total), total);
          if (auto go_on = internal::CheckCancelled(cancelled); !go_on) return go_on;
        }
        return {};
      };
      for (const StoreStream& s : manifest.stores) {
        if (auto ok = read_all(StoreStreamName(s.name), s.pieces); !ok) return ok;
      }
      for (const FileStream& f : manifest.files) {
        if (auto ok = read_all(FileStreamName(f.path), f.pieces); !ok) return ok;
      }
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(listing.dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (!named.contains(name)) {
          return Fail(ErrorCode::kDataLoss, "file " + name + " is not in the manifest");
        }
      }
      result.bytes = reader->bytes();
      return {};
    };
    auto ok = check();
    // A cancelled check says nothing about the backup: the whole call ends.
    if (auto go_on = internal::CheckCancelled(cancelled); !go_on) {
      return std::unexpected(go_on.error());
    }
    if (ok) {
      result.ok = true;
    } else {
      result.problem = ok.error().message();
    }
    results.push_back(std::move(result));
  }
  return results;
}

Result<RestoreReport> RestoreBackup(const RestoreOptions& options, BackupKeys& keys) {
  auto listings = ListBackups(options.target);
  if (!listings) return std::unexpected(listings.error());
  std::error_code ec;
  if (fs::exists(options.destination, ec)) {
    return Fail(ErrorCode::kAlreadyExists,
                "restore destination " + options.destination.string() + " already exists");
  }
  const fs::path parent = fs::absolute(options.destination, ec).parent_path();
  if (!fs::is_directory(parent, ec)) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the directory to restore into, " + parent.string() + ", does not exist");
  }
  if (options.root_key_name != "root.sealed" && options.root_key_name != "root.p11") {
    return Fail(ErrorCode::kInvalidArgument, "a root key file is root.sealed or root.p11");
  }
  if (!fs::is_regular_file(options.sealed_key_file, ec)) {
    return Fail(ErrorCode::kFailedPrecondition,
                "sealed key file " + options.sealed_key_file.string() + " does not exist");
  }
  const BackupListing* chosen = nullptr;
  if (!options.backup_id.empty()) {
    chosen = internal::FindListing(*listings, options.backup_id);
    if (chosen == nullptr) {
      return Fail(ErrorCode::kNotFound,
                  "no backup " + options.backup_id + " on " + options.target.string());
    }
  } else {
    std::optional<Error> refused;
    for (const BackupListing& listing : *listings) {
      if (!listing.manifest) continue;
      if (!options.at.empty() && listing.manifest->created_at > options.at) continue;
      if (auto verified = internal::VerifiedManifest(listing, keys); !verified) {
        refused = verified.error();
        continue;
      }
      chosen = &listing;  // listings are oldest first: the last match is the newest
    }
    // Backups there, none that verifies: say why (a wrong root key, most likely).
    if (chosen == nullptr && refused) return std::unexpected(*refused);
    if (chosen == nullptr) {
      return Fail(ErrorCode::kNotFound, options.at.empty()
                                            ? "no verified backup on " + options.target.string()
                                            : "no verified backup on " + options.target.string() +
                                                  " at or before " + options.at);
    }
  }
  auto chain = internal::VerifiedChain(*listings, *chosen, keys);
  if (!chain) return std::unexpected(chain.error());

  // A name of its own (two restores to one destination never share it); a restore killed
  // part-way leaves it behind, never renamed, so never taken for a vault.
  std::uint8_t random[4];
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  const fs::path partial = parent / ("." + options.destination.filename().string() + ".restoring-" +
                                     crypto::HexEncode(random));
  if (!fs::create_directory(partial, ec) || ec) {
    return Fail(ErrorCode::kUnavailable,
                "cannot create " + partial.string() + ": " + (ec ? ec.message() : "it exists"));
  }
  fs::permissions(partial, fs::perms::owner_all, ec);
  auto restored = RestoreInto(partial, *chain, options, keys);
  if (!restored) {
    fs::remove_all(partial, ec);
    return std::unexpected(restored.error());
  }
  // RENAME_NOREPLACE: a destination created meanwhile (even an empty directory) is kept, and
  // this restore fails instead of replacing it.
  if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, options.destination.c_str(),
                  RENAME_NOREPLACE) != 0) {
    const int err = errno;
    fs::remove_all(partial, ec);
    return Fail(err == EEXIST ? ErrorCode::kAlreadyExists : ErrorCodeForErrno(err),
                "cannot rename the restored vault to " + options.destination.string() + ": " +
                    ErrnoMessage(err));
  }
  if (auto synced = SyncDirectory(parent); !synced) return std::unexpected(synced.error());
  return restored;
}

Result<PruneReport> PruneBackups(const fs::path& target, int keep_full) {
  if (keep_full < 1) return Fail(ErrorCode::kInvalidArgument, "keep at least one full backup");
  auto lock = internal::TargetLock::Acquire(target);
  if (!lock) return std::unexpected(lock.error());
  auto listings = ListBackups(target);
  if (!listings) return std::unexpected(listings.error());
  std::vector<std::string> fulls;
  for (const BackupListing& listing : *listings) {
    if (listing.manifest && listing.manifest->kind == "full") fulls.push_back(listing.name);
  }
  const std::set<std::string> kept_fulls(
      fulls.end() - std::min<std::ptrdiff_t>(keep_full, static_cast<std::ptrdiff_t>(fulls.size())),
      fulls.end());
  PruneReport report;
  for (const BackupListing& listing : *listings) {
    // An unreadable manifest is left for an operator to look at, never deleted unseen.
    if (!listing.manifest || kept_fulls.contains(listing.manifest->full_id)) {
      report.kept.push_back(listing.name);
      continue;
    }
    std::error_code ec;
    const fs::path doomed = target / ("." + listing.name + ".deleting");
    fs::rename(listing.dir, doomed, ec);
    if (ec) {
      return Fail(ErrorCode::kUnavailable,
                  "cannot remove " + listing.dir.string() + ": " + ec.message());
    }
    fs::remove_all(doomed, ec);
    report.deleted.push_back(listing.name);
  }
  if (auto synced = SyncDirectory(target); !synced) return std::unexpected(synced.error());
  return report;
}

}  // namespace strongroom::backup
