#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "strongroom/backup/backup_engine.h"
#include "strongroom/backup/backup_internal.h"
#include "strongroom/backup/piece_checker.h"
#include "strongroom/base/files.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/storage/sqlite_snapshot.h"

namespace strongroom::backup {
namespace {

using internal::Sha256Hex;
namespace fs = std::filesystem;

Result<std::string> NewBackupId(bool full, std::chrono::system_clock::time_point now) {
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - seconds).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  (void)std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &utc);
  std::uint8_t random[4];
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  char tail[16];
  (void)std::snprintf(tail, sizeof tail, ".%06lldZ-", static_cast<long long>(micros));
  return std::string(stamp) + tail + (full ? "full-" : "incremental-") + crypto::HexEncode(random);
}

// The targets of one backup: each written in its partial directory, then renamed. A target whose
// write fails is dropped from the rest of the backup with its error.
class TargetSet {
 public:
  struct Target {
    fs::path root;
    fs::path partial;
    fs::path final_dir;
    internal::TargetLock lock;
    bool ok = true;
    std::string error;
    std::string warning;
  };

  Result<void> Add(const fs::path& root, const std::string& id) {
    auto lock = internal::TargetLock::Acquire(root);
    if (!lock) return std::unexpected(lock.error());
    // Leftovers of a backup or prune killed part-way: never listed, now safe to remove (the lock
    // says nobody is writing them).
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(".") && (name.ends_with(".partial") || name.ends_with(".deleting"))) {
        fs::remove_all(entry.path(), ec);
      }
    }
    targets_.push_back(
        Target{root, root / ("." + id + ".partial"), root / id, std::move(*lock), true, {}, {}});
    Target& target = targets_.back();
    if (!fs::create_directory(target.partial, ec) || ec) {
      Drop(target, "cannot create " + target.partial.string() + ": " +
                       (ec ? ec.message() : std::string("exists")));
    } else {
      fs::permissions(target.partial, fs::perms::owner_all, ec);
    }
    return {};
  }

  // Writes `bytes` as the file `name` on every target still taking the backup; returns the files
  // written, for the checker to sync and read back (piece_checker.h).
  std::vector<PieceChecker::File> Write(std::string_view name,
                                        std::span<const std::uint8_t> bytes) {
    std::vector<PieceChecker::File> files;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      Target& target = targets_[i];
      if (!target.ok) continue;
      fs::path path = target.partial / name;
      auto written = CreateAndWrite(path, bytes);
      if (!written) {
        Drop(target, written.error().message());
        continue;
      }
      files.push_back(PieceChecker::File{i, std::move(path), std::move(*written)});
    }
    return files;
  }

  // A file on target `index` did not sync or read back as written: the target is dropped.
  void Failed(std::size_t index, const Error& error) {
    if (targets_[index].ok) Drop(targets_[index], error.message());
  }

  bool any_ok() const {
    return std::any_of(targets_.begin(), targets_.end(), [](const Target& t) { return t.ok; });
  }

  // Writes, syncs and reads back the signature and the manifest (every piece has been checked),
  // makes the directory durable, then renames it into place: a backup that does not read back as
  // written never appears under its name.
  void Commit(std::span<const std::uint8_t> json, std::span<const std::uint8_t> signature) {
    std::vector<std::uint8_t> scratch;
    auto write_checked = [&](const fs::path& file,
                             std::span<const std::uint8_t> bytes) -> Result<void> {
      auto written = CreateAndWrite(file, bytes);
      if (!written) return std::unexpected(written.error());
      return SyncAndReadBack(std::move(*written), file, bytes, scratch);
    };
    for (Target& target : targets_) {
      if (!target.ok) continue;
      std::error_code ec;
      if (auto done = write_checked(target.partial / kSignatureFile, signature); !done) {
        Drop(target, done.error().message());
        continue;
      }
      if (auto done = write_checked(target.partial / kManifestFile, json); !done) {
        Drop(target, done.error().message());
        continue;
      }
      if (auto synced = SyncDirectory(target.partial); !synced) {
        Drop(target, synced.error().message());
        continue;
      }
      fs::rename(target.partial, target.final_dir, ec);
      if (ec) {
        Drop(target, "cannot rename into " + target.final_dir.string() + ": " + ec.message());
        continue;
      }
      if (auto synced = SyncDirectory(target.root); !synced) {
        // Renamed but maybe not durably: the backup is there, and the next sync will tell.
        target.warning = synced.error().message();
      }
    }
  }

  void Abort() {
    for (Target& target : targets_) {
      std::error_code ec;
      fs::remove_all(target.partial, ec);
    }
  }

  std::vector<Target>& targets() { return targets_; }

 private:
  void Drop(Target& target, std::string error) {
    target.ok = false;
    target.error = std::move(error);
    std::error_code ec;
    fs::remove_all(target.partial, ec);
  }

  std::vector<Target> targets_;
};

// A piece from PieceWriter::StartPiece until the checker is done with it.
struct Piece {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::uint64_t ticket = 0;  // the checker's
};

// Encrypts pieces, writes them to the targets (numbering the files) and hands them to the
// checker, which hashes, syncs and reads them back on its thread meanwhile. Pieces whose check is
// pending hold their buffers and a descriptor per target: past kInFlightBytes or
// kInFlightPieces of them, Emit waits for the oldest; Finish waits for all. So about three big
// piece buffers (12 MiB) are in use at most, reused all along, and at most kInFlightPieces + 1
// piece descriptors per target are open (an incremental writes a small piece for each unchanged
// audit segment: hundreds in an old vault).
class PieceWriter {
 public:
  PieceWriter(PieceCipher cipher, TargetSet& targets, const ProgressFn& progress,
              const CancelFn& cancelled, std::uint64_t total)
      : cipher_(std::move(cipher)),
        targets_(targets),
        progress_(progress),
        cancelled_(cancelled),
        total_(total) {}

  // The buffer of the next piece: PieceCipher::kPieceHeaderBytes bytes, to which the caller
  // appends the piece's plaintext (about `expected_bytes`) before Emit. Calling it again before
  // Emit starts the same buffer over.
  std::vector<std::uint8_t>& StartPiece(std::size_t expected_bytes) {
    if (!current_) {
      current_.emplace();
      // A big piece takes a checked piece's buffer (fresh memory costs a page fault per 4 KiB);
      // a small one gets its own, so that it holds no big buffer back.
      if (expected_bytes >= kPieceBytes / 2 && !spare_.empty()) {
        current_->bytes = std::move(spare_.back());
        spare_.pop_back();
      } else {
        current_->bytes.reserve(PieceCipher::kPieceHeaderBytes + expected_bytes +
                                crypto::Aes256Gcm::kTagSize);
      }
    }
    current_->bytes.resize(PieceCipher::kPieceHeaderBytes);
    return current_->bytes;
  }

  // Seals the started piece in place, writes it to the targets and queues its check.
  Result<PieceRef> Emit(std::string_view stream, std::uint64_t index, bool final) {
    if (auto go_on = internal::CheckCancelled(cancelled_); !go_on) {
      return std::unexpected(go_on.error());
    }
    if (!current_) return Fail(ErrorCode::kInternal, "backup piece emitted before it was started");
    Piece piece = std::move(*current_);
    current_.reset();
    if (auto sealed = cipher_.SealInPlace(stream, index, final, piece.bytes); !sealed) {
      return std::unexpected(sealed.error());
    }
    char name[32];
    (void)std::snprintf(name, sizeof name, "%06llu.piece",
                        static_cast<unsigned long long>(++count_));
    piece.name = name;
    auto files = targets_.Write(piece.name, piece.bytes);
    if (!targets_.any_ok()) return Fail(ErrorCode::kUnavailable, "no backup target is writable");
    piece.ticket = checker_.Submit(piece.bytes, std::move(files));
    PieceRef ref{piece.name, piece.bytes.size(), {}};  // its SHA-256 comes with FillHashes
    bytes_ += piece.bytes.size();
    in_flight_bytes_ += piece.bytes.size();
    in_flight_.push_back(std::move(piece));
    while (in_flight_bytes_ > kInFlightBytes || in_flight_.size() > kInFlightPieces) {
      if (auto collected = CollectOldest(); !collected) return std::unexpected(collected.error());
    }
    return ref;
  }

  // Waits until every piece emitted is checked.
  Result<void> Finish() {
    while (!in_flight_.empty()) {
      if (auto collected = CollectOldest(); !collected) return collected;
    }
    return {};
  }

  // After Finish: sets the SHA-256 of every piece the manifest names (each taken by the checker
  // from the bytes written).
  Result<void> FillHashes(Manifest& manifest) const {
    auto fill = [&](std::vector<PieceRef>& pieces) -> Result<void> {
      for (PieceRef& piece : pieces) {
        const auto found = sha256_.find(piece.file);
        if (found == sha256_.end() || found->second.empty()) {
          return Fail(ErrorCode::kInternal, "piece " + piece.file + " was never hashed");
        }
        piece.sha256 = found->second;
      }
      return {};
    };
    for (StoreStream& store : manifest.stores) {
      if (auto filled = fill(store.pieces); !filled) return filled;
    }
    for (FileStream& file : manifest.files) {
      if (auto filled = fill(file.pieces); !filled) return filled;
    }
    return {};
  }

  // Plaintext bytes read so far, for the progress callback.
  void Advance(std::uint64_t plaintext_bytes) {
    done_ += plaintext_bytes;
    if (progress_) progress_(std::min(done_, total_), total_);
  }

  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t plaintext_bytes() const { return done_; }

 private:
  // Two full pieces and the small ones around them may wait for the checker (with the one being
  // filled, three big buffers): enough for the checker to sync one while hashing the next.
  static constexpr std::uint64_t kInFlightBytes = 2 * kPieceBytes + kPieceBytes / 2;
  static constexpr std::size_t kInFlightPieces = 16;

  Result<void> CollectOldest() {
    Piece piece = std::move(in_flight_.front());
    in_flight_.pop_front();
    in_flight_bytes_ -= piece.bytes.size();
    PieceChecker::Outcome outcome = checker_.Wait(piece.ticket);
    sha256_[piece.name] = std::move(outcome.sha256);
    for (const auto& [target, error] : outcome.failed) targets_.Failed(target, error);
    if (piece.bytes.capacity() >= kPieceBytes) spare_.push_back(std::move(piece.bytes));
    if (!targets_.any_ok()) return Fail(ErrorCode::kUnavailable, "no backup target is writable");
    return {};
  }

  PieceCipher cipher_;
  TargetSet& targets_;
  std::optional<Piece> current_;  // started, not yet emitted
  std::deque<Piece> in_flight_;   // emitted, check pending, oldest first
  std::uint64_t in_flight_bytes_ = 0;
  std::vector<std::vector<std::uint8_t>> spare_;  // checked big pieces' buffers, reused
  const ProgressFn& progress_;
  const CancelFn& cancelled_;
  std::uint64_t total_;
  std::uint64_t count_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t done_ = 0;
  std::map<std::string, std::string, std::less<>> sha256_;  // of the checked pieces, by file
  PieceChecker checker_;  // last: stopped before the pieces' bytes it may still read go away
};

Result<StoreStream> BackupStore(std::string_view name, storage::SqliteSnapshot& snapshot,
                                const StoreStream* base, PieceWriter& writer) {
  const storage::ChangeLogPosition& position = snapshot.position();
  StoreStream stream;
  stream.name = std::string(name);
  stream.store_id = position.store_id;
  stream.seq = position.seq;
  stream.since = base != nullptr ? base->seq : 0;
  stream.page_size = position.page_size;
  const std::string stream_name = StoreStreamName(name);
  // Entries are gathered straight into the piece's buffer, which is sealed in place.
  std::vector<std::uint8_t>* buffer = &writer.StartPiece(kPieceBytes);
  auto flush = [&](bool final) -> Result<void> {
    auto piece = writer.Emit(stream_name, stream.pieces.size(), final);
    if (!piece) return std::unexpected(piece.error());
    stream.pieces.push_back(std::move(*piece));
    if (!final) buffer = &writer.StartPiece(kPieceBytes);
    return {};
  };
  const storage::ChangeFn each = [&](const storage::Change& change) -> Result<void> {
    ++(change.is_delete ? stream.deletes : stream.puts);
    const std::size_t before = buffer->size();
    internal::AppendChange(*buffer, change);
    writer.Advance(buffer->size() - before);
    return buffer->size() - PieceCipher::kPieceHeaderBytes >= kPieceBytes ? flush(false)
                                                                          : Result<void>();
  };
  auto read =
      base != nullptr ? snapshot.ForEachChangeSince(base->seq, each) : snapshot.ForEachEntry(each);
  if (!read) {
    return Fail(read.error().code(), "store " + std::string(name) + ": " + read.error().message());
  }
  if (auto done = flush(true); !done) return std::unexpected(done.error());
  return stream;
}

// The end of `fd`'s first `size` bytes once the zeros they end with are left out (read
// backwards a page at a time). The file may shrink meanwhile: the audit writer cuts a segment's
// zeros when the next segment starts; the scan then goes on from the new end.
Result<std::uint64_t> EndBeforeZeros(int fd, std::uint64_t size, const fs::path& file) {
  std::array<char, 4096> page{};
  int regrown = 0;  // short reads of a file that was cut and grew back meanwhile
  while (size > 0) {
    const std::uint64_t from = (size - 1) / page.size() * page.size();
    const auto length = static_cast<std::size_t>(size - from);
    ssize_t n;
    do {
      n = ::pread(fd, page.data(), length, static_cast<off_t>(from));
    } while (n < 0 && errno == EINTR);
    if (n >= 0 && n != static_cast<ssize_t>(length)) {
      struct stat now {};
      if (::fstat(fd, &now) == 0 &&
          (static_cast<std::uint64_t>(now.st_size) < size || ++regrown <= 3)) {
        size = std::min(size, static_cast<std::uint64_t>(now.st_size));
        continue;
      }
    }
    if (n != static_cast<ssize_t>(length)) {
      return Fail(ErrorCode::kUnavailable, file.string() + " shrank or failed while read");
    }
    for (std::size_t i = length; i > 0; --i) {
      if (page[i - 1] != 0) return from + i;
    }
    size = from;
  }
  return 0;
}

// Copies one file: whole, or only what it grew by when its first `base->size` bytes are still
// what the base backup holds (an audit segment, the checkpoint log). nullopt if the file went
// away meanwhile (a segment moved to the archive). With `zero_tail`, the zeros the file ends
// with are left out: the audit writer's reserved space (audit_trail.h), which carries nothing
// and would otherwise change the copied prefix of the next incremental.
Result<std::optional<FileStream>> BackupFile(const std::string& relative, const fs::path& file,
                                             const FileStream* base, BackupKeys& keys,
                                             PieceWriter& writer, bool zero_tail) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) return std::optional<FileStream>();
  if (fd < 0) {
    return Fail(ErrorCodeForErrno(errno),
                "cannot open " + file.string() + ": " + ErrnoMessage(errno));
  }
  const OwnedFd closer(fd);
  struct stat info {};
  if (::fstat(fd, &info) != 0) return Fail(ErrorCode::kInternal, "cannot stat " + file.string());
  // Exactly the size seen now: a segment being appended to is copied up to here.
  std::uint64_t size = static_cast<std::uint64_t>(info.st_size);
  if (zero_tail) {
    auto end = EndBeforeZeros(fd, size, file);
    if (!end) return std::unexpected(end.error());
    size = *end;
  }
  // Each chunk is read straight into its piece's buffer (sealed in place), after the header.
  auto read_exact = [&](std::uint64_t offset,
                        std::size_t length) -> Result<std::span<const std::uint8_t>> {
    std::vector<std::uint8_t>& piece = writer.StartPiece(length);
    piece.resize(PieceCipher::kPieceHeaderBytes + length);
    std::uint8_t* into = piece.data() + PieceCipher::kPieceHeaderBytes;
    std::size_t got = 0;
    while (got < length) {
      const ssize_t n = ::pread(fd, into + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Fail(ErrorCode::kUnavailable, file.string() + " shrank or failed while read");
      }
      got += static_cast<std::size_t>(n);
    }
    return std::span<const std::uint8_t>(into, length);
  };
  FileStream stream;
  stream.path = relative;
  stream.size = size;
  crypto::Sha256Hasher whole;
  if (base != nullptr && base->size > 0 && base->size <= size) {
    crypto::Sha256Hasher prefix;
    for (std::uint64_t at = 0; at < base->size;) {
      const std::size_t length = std::min<std::uint64_t>(kPieceBytes, base->size - at);
      auto chunk = read_exact(at, length);
      if (!chunk) return std::unexpected(chunk.error());
      prefix.Update(*chunk);
      whole.Update(*chunk);
      at += length;
    }
    auto digest = keys.FileDigest(prefix.Finish());
    if (!digest) return std::unexpected(digest.error());
    if (*digest == base->digest) {
      stream.offset = base->size;
    } else {
      (void)whole.Finish();  // rewritten, not appended: copy it whole
    }
  }
  const std::string stream_name = FileStreamName(relative);
  std::uint64_t at = stream.offset;
  do {
    const std::size_t length = std::min<std::uint64_t>(kPieceBytes, size - at);
    auto chunk = read_exact(at, length);
    if (!chunk) return std::unexpected(chunk.error());
    whole.Update(*chunk);
    at += length;
    auto piece = writer.Emit(stream_name, stream.pieces.size(), at == size);
    if (!piece) return std::unexpected(piece.error());
    stream.pieces.push_back(std::move(*piece));
    writer.Advance(length);
  } while (at < size);
  auto digest = keys.FileDigest(whole.Finish());
  if (!digest) return std::unexpected(digest.error());
  stream.digest = std::move(*digest);
  return std::optional<FileStream>(std::move(stream));
}

// The files a backup copies, as (path in the backup, path on disk): the audit trail's (with
// checkpoints.log first, handled by the caller) and the data directory's small files.
std::vector<std::pair<std::string, fs::path>> ListVaultFiles(const VaultPaths& vault) {
  std::vector<std::pair<std::string, fs::path>> files;
  std::error_code ec;
  if (fs::is_directory(vault.audit_dir, ec)) {
    for (auto it = fs::recursive_directory_iterator(vault.audit_dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const std::string relative = fs::relative(it->path(), vault.audit_dir, ec).generic_string();
      if (relative == "checkpoints.log") continue;
      files.emplace_back("audit/" + relative, it->path());
    }
  }
  for (const char* name :
       {"vault.json", "auth/bootstrap-admin.json", "tls/server.crt", "tls/server.key"}) {
    if (fs::is_regular_file(vault.data_dir / name, ec)) {
      files.emplace_back(name, vault.data_dir / name);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The newest backup on any target whose whole chain verifies there (signatures and hash links
// down to its full backup): an incremental's base. Called with every target locked, so no prune
// removes it meanwhile.
std::optional<BackupListing> NewestVerified(const std::vector<fs::path>& targets,
                                            BackupKeys& keys) {
  std::optional<BackupListing> newest;
  for (const fs::path& target : targets) {
    auto listings = ListBackups(target);
    if (!listings) continue;
    for (auto it = listings->rbegin(); it != listings->rend(); ++it) {
      if (newest && it->name <= newest->name) break;
      if (!internal::VerifiedChain(*listings, *it, keys)) continue;
      newest = *it;
      break;
    }
  }
  return newest;
}

}  // namespace

Result<CreateReport> CreateBackup(const CreateOptions& options, BackupKeys& keys) {
  if (options.targets.empty()) return Fail(ErrorCode::kInvalidArgument, "no backup target given");
  for (const fs::path& target : options.targets) {
    if (auto checked = internal::CheckTarget(target); !checked) {
      return std::unexpected(checked.error());
    }
  }
  const auto now = std::chrono::system_clock::now();
  auto id = NewBackupId(options.full, now);
  if (!id) return std::unexpected(id.error());
  // Every target locked (and its leftovers cleared) before anything is chosen or read.
  TargetSet targets;
  for (const fs::path& target : options.targets) {
    if (auto added = targets.Add(target, *id); !added) {
      targets.Abort();
      return std::unexpected(added.error());
    }
  }
  auto fail = [&](const Error& error) -> Result<CreateReport> {
    targets.Abort();
    std::string message = error.message();
    for (const auto& target : targets.targets()) {
      if (!target.ok) message += "; target " + target.root.string() + ": " + target.error;
    }
    return Fail(error.code(), message);
  };
  std::optional<BackupListing> base;
  if (!options.full) {
    base = NewestVerified(options.targets, keys);
    if (!base) {
      return fail(Error(ErrorCode::kFailedPrecondition,
                        "no verified backup chain on the targets to base an incremental on: take "
                        "a full backup first"));
    }
  }

  // Snapshots first, data stores before metadata (see the header), all before reading any.
  std::vector<std::unique_ptr<storage::SqliteSnapshot>> snapshots;
  std::uint64_t total = 0;
  for (std::string_view name : kStoreNames) {
    auto snapshot =
        storage::SqliteSnapshot::Open(options.vault.data_dir / (std::string(name) + ".db"));
    if (!snapshot) {
      return fail(Error(snapshot.error().code(),
                        "store " + std::string(name) + ": " + snapshot.error().message()));
    }
    total += (*snapshot)->file_bytes();
    snapshots.push_back(std::move(*snapshot));
  }
  const Manifest* base_manifest = base ? &*base->manifest : nullptr;
  std::vector<const StoreStream*> base_stores;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    const StoreStream* found = nullptr;
    if (base_manifest != nullptr) {
      for (const StoreStream& s : base_manifest->stores) {
        if (s.name == kStoreNames[i]) found = &s;
      }
      if (found == nullptr || found->store_id != snapshots[i]->position().store_id) {
        return fail(Error(ErrorCode::kFailedPrecondition,
                          "store " + std::string(kStoreNames[i]) + " is not the one backup " +
                              base_manifest->id +
                              " was taken of (restored or recreated since): take "
                              "a full backup"));
      }
    }
    base_stores.push_back(found);
  }

  Manifest manifest;
  manifest.id = *id;
  manifest.kind = options.full ? "full" : "incremental";
  // The time the backup stands for, read once every snapshot is open and rounded up to the
  // second: every commit it holds came before it, so `restore --at T` never brings back a change
  // made after T (the id's time, taken at the start, may be earlier).
  manifest.created_at =
      FormatRfc3339(std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()));
  manifest.full_id = base_manifest != nullptr ? base_manifest->full_id : *id;
  if (base) {
    manifest.parent_id = base_manifest->id;
    manifest.parent_manifest_sha256 = Sha256Hex(base->manifest_json);
  }
  auto data_key = keys.NewDataKey(*id);
  if (!data_key) return fail(data_key.error());
  manifest.wrapped_key = std::move(data_key->second);
  auto cipher = PieceCipher::Create(data_key->first.reveal(), *id);
  if (!cipher) return fail(cipher.error());

  const auto vault_files = ListVaultFiles(options.vault);
  std::error_code ec;
  for (const auto& [relative, file] : vault_files) total += fs::file_size(file, ec);
  std::optional<PieceWriter> started;
  try {
    started.emplace(std::move(*cipher), targets, options.progress, options.cancelled, total);
  } catch (const std::system_error& e) {  // the checker's thread did not start (no resources)
    return fail(Error(ErrorCode::kUnavailable,
                      std::string("cannot start the backup's checker thread: ") + e.what()));
  }
  PieceWriter& writer = *started;

  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    auto stream = BackupStore(kStoreNames[i], *snapshots[i], base_stores[i], writer);
    if (!stream) return fail(stream.error());
    manifest.stores.push_back(std::move(*stream));
    snapshots[i].reset();  // ends the read transaction: the WAL may be recycled again
  }
  std::map<std::string, const FileStream*, std::less<>> base_files;
  if (base_manifest != nullptr) {
    for (const FileStream& f : base_manifest->files) base_files[f.path] = &f;
  }
  auto copy = [&](const std::string& relative, const fs::path& file) -> Result<void> {
    const auto found = base_files.find(relative);
    auto stream = BackupFile(relative, file, found == base_files.end() ? nullptr : found->second,
                             keys, writer, relative.starts_with("audit/segments/"));
    if (!stream) return std::unexpected(stream.error());
    if (*stream) manifest.files.push_back(std::move(**stream));
    return {};
  };
  // The checkpoint log before the segments: every entry a copied checkpoint covers was durable
  // before the checkpoint was written, so it is in the segments read afterwards.
  if (auto copied = copy("audit/checkpoints.log", options.vault.audit_dir / "checkpoints.log");
      !copied) {
    return fail(copied.error());
  }
  for (const auto& [relative, file] : ListVaultFiles(options.vault)) {
    if (auto copied = copy(relative, file); !copied) return fail(copied.error());
  }
  if (auto settled = writer.Finish(); !settled) return fail(settled.error());
  if (auto filled = writer.FillHashes(manifest); !filled) return fail(filled.error());
  manifest.bytes = writer.bytes();
  const std::string json = SerializeManifest(manifest);
  const std::string signature = keys.Sign(json);
  auto as_bytes = [](std::string_view text) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                         text.size());
  };
  targets.Commit(as_bytes(json), as_bytes(signature));
  if (!targets.any_ok()) {
    return fail(Error(ErrorCode::kUnavailable, "no backup target took backup " + *id));
  }

  CreateReport report;
  report.plaintext_bytes = writer.plaintext_bytes();
  for (auto& target : targets.targets()) {
    TargetOutcome outcome{target.root, target.ok, target.error, target.warning};
    if (target.ok && base && !fs::exists(target.root / base_manifest->id, ec)) {
      outcome.warning = "the backup this one is based on (" + base_manifest->id +
                        ") is not on this target: restore it from another target";
    }
    report.targets.push_back(std::move(outcome));
  }
  // The next incremental is based on this backup, so it no longer needs the tombstones this one
  // carries. Pruning marks how far, so an incremental on an older base is refused, not wrong.
  for (const StoreStream& store : manifest.stores) {
    if (auto pruned =
            storage::PruneTombstones(options.vault.data_dir / (store.name + ".db"), store.seq);
        !pruned) {
      report.warnings.push_back("store " + store.name +
                                ": tombstones not pruned: " + pruned.error().message());
    }
  }
  report.manifest = std::move(manifest);
  return report;
}

}  // namespace strongroom::backup
