#pragma once
// Reading a SQLite store's change log for backups, and loading one back (restore).
//
// Every store file keeps a change log (sqlite_store.cc): each row carries the sequence number of
// the commit that last wrote it, each delete that removed a row leaves a tombstone with its
// commit's number, and kv_meta holds the last number, a random id of the file and how far
// tombstones were pruned. A snapshot is a read transaction (WAL: writers go on, the reader sees
// one commit boundary) from which a backup reads either everything or the changes after an
// earlier snapshot's number; its size then grows with the change, not with the data.
//
// A snapshot opens its own read-only connection, so it works from another process (the CLI)
// beside a running server as well as inside it. Not thread-safe: one thread per snapshot. While
// it is open SQLite cannot recycle the WAL, which grows until the snapshot closes.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom::storage {

struct ChangeLogPosition {
  std::string store_id;           // 32 hex: a new file (restored, recreated) gets a new one
  std::uint64_t seq = 0;          // the last commit the snapshot holds
  std::uint64_t pruned_upto = 0;  // tombstones at or below this were dropped
  int page_size = 4096;
};

struct Change {
  bool is_delete = false;
  std::string_view space;
  std::string_view key;
  std::span<const std::uint8_t> value;  // empty for a delete
};
using ChangeFn = std::function<Result<void>(const Change&)>;

class SqliteSnapshot {
 public:
  // failed_precondition if `file` is missing or not a store (no change log).
  static Result<std::unique_ptr<SqliteSnapshot>> Open(const std::filesystem::path& file);
  ~SqliteSnapshot();
  SqliteSnapshot(const SqliteSnapshot&) = delete;
  SqliteSnapshot& operator=(const SqliteSnapshot&) = delete;

  const ChangeLogPosition& position() const { return position_; }
  // Bytes of the database file (for progress estimates).
  std::uint64_t file_bytes() const { return file_bytes_; }
  // Every entry, as puts, in the file's own (rowid) order: sequential reads.
  Result<void> ForEachEntry(const ChangeFn& fn);
  // What changed after commit `since`: rows written after it (puts), then keys deleted after it
  // and not written again (deletes). failed_precondition unless `since` is where tombstones were
  // last pruned (each backup prunes up to its own number): below, deletes may be gone; above,
  // the file is older than the base (rolled back). Only a full copy is exact then.
  Result<void> ForEachChangeSince(std::uint64_t since, const ChangeFn& fn);

 private:
  struct Impl;
  explicit SqliteSnapshot(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  ChangeLogPosition position_;
  std::uint64_t file_bytes_ = 0;
};

// Drops the tombstones of `file` at or below `upto` (once a backup holding them is safe) and
// records it, so an incremental based on an older snapshot is refused rather than miss a delete.
// Waits up to 10 s for the write lock of a running server.
Result<void> PruneTombstones(const std::filesystem::path& file, std::uint64_t upto);

// Builds a new store file from changes (restore). Creates the file like the store does (mode
// 0600, `page_size`, WAL) with a new id, applies every change in one transaction without
// syncing, and Finish() makes it durable (checkpoint, fsync). A file that was not finished is
// not a good store: the caller deletes it. Not thread-safe.
class SqliteLoader {
 public:
  static Result<std::unique_ptr<SqliteLoader>> Create(const std::filesystem::path& file,
                                                      int page_size);
  ~SqliteLoader();
  SqliteLoader(const SqliteLoader&) = delete;
  SqliteLoader& operator=(const SqliteLoader&) = delete;
  Result<void> Apply(const Change& change);
  Result<void> Finish();

 private:
  struct Impl;
  explicit SqliteLoader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strongroom::storage
