#include "strongroom/storage/sqlite_snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <system_error>

#include "strongroom/storage/sqlite_store.h"
#include "strongroom/storage/sqlite_support.h"

namespace strongroom::storage {
namespace {

std::string_view ColumnView(sqlite3_stmt* stmt, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, column));
  return data == nullptr
             ? std::string_view()
             : std::string_view(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

std::span<const std::uint8_t> ColumnSpan(sqlite3_stmt* stmt, int column) {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, column));
  return data == nullptr ? std::span<const std::uint8_t>()
                         : std::span<const std::uint8_t>(
                               data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

// Runs `stmt` to its end, handing every row to `row`; stops at the first error `row` returns.
template <typename RowFn>
Result<void> EachRow(sqlite3_stmt* stmt, std::string_view what, const RowFn& row) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (auto done = row(stmt); !done) {
      sqlite3_reset(stmt);
      return done;
    }
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return std::unexpected(SqliteError(what, rc));
  return {};
}

Result<ChangeLogPosition> ReadPosition(sqlite3* db) {
  auto meta = Prepare(db, "SELECT name, value FROM kv_meta");
  if (!meta) {
    return Fail(ErrorCode::kFailedPrecondition,
                "not a Strongroom store with a change log (open it once with this version)");
  }
  ChangeLogPosition position;
  auto read = EachRow(meta->get(), "kv_meta", [&](sqlite3_stmt* stmt) -> Result<void> {
    const std::string_view name = ColumnView(stmt, 0);
    if (name == "store_id") position.store_id = std::string(ColumnView(stmt, 1));
    if (name == "seq") position.seq = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1));
    if (name == "pruned_upto") {
      position.pruned_upto = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1));
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  auto page = Prepare(db, "PRAGMA page_size");
  if (!page) return std::unexpected(page.error());
  if (sqlite3_step(page->get()) == SQLITE_ROW)
    position.page_size = sqlite3_column_int(page->get(), 0);
  if (position.store_id.empty()) return Fail(ErrorCode::kDataLoss, "store has no id in kv_meta");
  return position;
}

}  // namespace

struct SqliteSnapshot::Impl {
  Db db;
};

SqliteSnapshot::SqliteSnapshot(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteSnapshot::~SqliteSnapshot() {
  if (impl_ && impl_->db) (void)Exec(impl_->db.get(), "COMMIT");
}

Result<std::unique_ptr<SqliteSnapshot>> SqliteSnapshot::Open(const std::filesystem::path& file) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(file, ec);
  if (ec) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read store " + file.string() + ": " + ec.message());
  }
  auto db = OpenDb(file, SQLITE_OPEN_READONLY);
  if (!db) return std::unexpected(db.error());
  sqlite3_busy_timeout(db->get(), 10'000);
  auto impl = std::make_unique<Impl>(Impl{std::move(*db)});
  // The read transaction starts at BEGIN's first read: the position and every later read see the
  // same commit boundary.
  if (auto begun = Exec(impl->db.get(), "BEGIN"); !begun) return std::unexpected(begun.error());
  auto position = ReadPosition(impl->db.get());
  if (!position) return std::unexpected(position.error());
  auto snapshot = std::unique_ptr<SqliteSnapshot>(new SqliteSnapshot(std::move(impl)));
  snapshot->position_ = std::move(*position);
  snapshot->file_bytes_ = bytes;
  return snapshot;
}

Result<void> SqliteSnapshot::ForEachEntry(const ChangeFn& fn) {
  // In the table's own (rowid) order: the file is read front to back, each page once. Key order
  // walked the (space, key) index and fetched every row from wherever its page was: a read
  // syscall per row once the store outgrew SQLite's page cache, 4x the time of the whole backup
  // (docs/performance.md). A restore does not care about the order.
  auto scan = Prepare(impl_->db.get(), "SELECT space, key, value FROM kv");
  if (!scan) return std::unexpected(scan.error());
  return EachRow(scan->get(), "snapshot scan", [&](sqlite3_stmt* stmt) {
    return fn(Change{false, ColumnView(stmt, 0), ColumnView(stmt, 1), ColumnSpan(stmt, 2)});
  });
}

Result<void> SqliteSnapshot::ForEachChangeSince(std::uint64_t since, const ChangeFn& fn) {
  if (since < position_.pruned_upto) {
    return Fail(ErrorCode::kFailedPrecondition,
                "deletes after the previous backup were already pruned (a later backup was "
                "taken); take a full backup");
  }
  // Every backup prunes up to its own number, so the base of the next one is exactly the mark.
  // Beyond it, the file is older than the base (rolled back, or copied from before it): its
  // numbers after the mark are another history than the base's, so only a full copy is exact.
  if (since > position_.pruned_upto || since > position_.seq) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the store file is older than the previous backup (rolled back?): take a full "
                "backup");
  }
  // A full scan that keeps only new rows: no index on seq, so writes pay nothing for backups
  // (reading is sequential and cheap next to what a daily incremental saves in size).
  auto puts = Prepare(impl_->db.get(), "SELECT space, key, value FROM kv WHERE seq > ?1");
  if (!puts) return std::unexpected(puts.error());
  sqlite3_bind_int64(puts->get(), 1, static_cast<sqlite3_int64>(since));
  auto put_rows = EachRow(puts->get(), "snapshot changes", [&](sqlite3_stmt* stmt) {
    return fn(Change{false, ColumnView(stmt, 0), ColumnView(stmt, 1), ColumnSpan(stmt, 2)});
  });
  if (!put_rows) return put_rows;
  auto deletes = Prepare(impl_->db.get(),
                         "SELECT d.space, d.key FROM kv_deleted d WHERE d.seq > ?1 AND NOT EXISTS"
                         " (SELECT 1 FROM kv WHERE kv.space = d.space AND kv.key = d.key)"
                         " ORDER BY d.space, d.key");
  if (!deletes) return std::unexpected(deletes.error());
  sqlite3_bind_int64(deletes->get(), 1, static_cast<sqlite3_int64>(since));
  return EachRow(deletes->get(), "snapshot deletes", [&](sqlite3_stmt* stmt) {
    return fn(Change{true, ColumnView(stmt, 0), ColumnView(stmt, 1), {}});
  });
}

Result<void> PruneTombstones(const std::filesystem::path& file, std::uint64_t upto) {
  auto db = OpenDb(file, SQLITE_OPEN_READWRITE);
  if (!db) return std::unexpected(db.error());
  sqlite3_busy_timeout(db->get(), 10'000);
  // secure_delete is per connection: pruned tombstones are overwritten, as the store's deletes.
  if (auto done = Exec(db->get(), "PRAGMA secure_delete=ON"); !done) return done;
  if (auto begun = Exec(db->get(), "BEGIN IMMEDIATE"); !begun) return begun;
  auto prune = Prepare(db->get(), "DELETE FROM kv_deleted WHERE seq <= ?1");
  auto mark =
      Prepare(db->get(), "UPDATE kv_meta SET value = max(value, ?1) WHERE name = 'pruned_upto'");
  if (!prune || !mark) {
    (void)Exec(db->get(), "ROLLBACK");
    return Fail(ErrorCode::kFailedPrecondition, file.string() + " has no change log");
  }
  for (sqlite3_stmt* stmt : {prune->get(), mark->get()}) {
    sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(upto));
    if (const int rc = sqlite3_step(stmt); rc != SQLITE_DONE) {
      (void)Exec(db->get(), "ROLLBACK");
      return std::unexpected(SqliteError("prune tombstones", rc));
    }
  }
  return Exec(db->get(), "COMMIT");
}

struct SqliteLoader::Impl {
  std::filesystem::path file;
  Db db;
  Stmt put, del;
};

SqliteLoader::SqliteLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteLoader::~SqliteLoader() = default;

Result<std::unique_ptr<SqliteLoader>> SqliteLoader::Create(const std::filesystem::path& file,
                                                           int page_size) {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    return Fail(ErrorCode::kAlreadyExists, file.string() + " already exists");
  }
  {
    // The store itself lays out the file (schema, page size, WAL, a new id, mode 0600).
    auto created = OpenSqliteStore(file, SqliteOptions{.page_size = page_size});
    if (!created) return std::unexpected(created.error());
  }
  auto db = OpenDb(file, SQLITE_OPEN_READWRITE);
  if (!db) return std::unexpected(db.error());
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  impl->db = std::move(*db);
  // Nothing is acknowledged until Finish(), which syncs once: a crash leaves a file the caller
  // never marked good.
  // secure_delete as in the store: a delete replayed from an incremental leaves no old bytes in
  // free pages of the restored file.
  // A page cache of up to 256 MiB: entries arrive in the source file's order, so their keys land
  // at random places in the (space, key) index; with SQLite's default 2 MiB cache every such
  // insert spilled and re-read index pages (a restore took 4x as long).
  for (const char* sql : {"PRAGMA synchronous=OFF", "PRAGMA secure_delete=ON",
                          "PRAGMA cache_size=-262144", "BEGIN"}) {
    if (auto done = Exec(impl->db.get(), sql); !done) return std::unexpected(done.error());
  }
  auto put = Prepare(impl->db.get(),
                     "INSERT INTO kv(space, key, value) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(space, key) DO UPDATE SET value = excluded.value");
  auto del = Prepare(impl->db.get(), "DELETE FROM kv WHERE space = ?1 AND key = ?2");
  if (!put) return std::unexpected(put.error());
  if (!del) return std::unexpected(del.error());
  impl->put = std::move(*put);
  impl->del = std::move(*del);
  return std::unique_ptr<SqliteLoader>(new SqliteLoader(std::move(impl)));
}

Result<void> SqliteLoader::Apply(const Change& change) {
  if (change.value.size() > kMaxValueBytes) {
    return Fail(ErrorCode::kDataLoss, "a value exceeds the store's 4 MiB limit");
  }
  sqlite3_stmt* stmt = change.is_delete ? impl_->del.get() : impl_->put.get();
  BindText(stmt, 1, change.space);
  BindText(stmt, 2, change.key);
  if (!change.is_delete) BindValue(stmt, 3, change.value);
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return std::unexpected(SqliteError("restore", rc));
  return {};
}

Result<void> SqliteLoader::Finish() {
  sqlite3* db = impl_->db.get();
  for (const char* sql : {"COMMIT", "PRAGMA wal_checkpoint(TRUNCATE)"}) {
    if (auto done = Exec(db, sql); !done) return done;
  }
  impl_->put.reset();
  impl_->del.reset();
  impl_->db.reset();
  // synchronous=OFF skipped every fsync: one now, of the whole file.
  const int fd = ::open(impl_->file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCodeForErrno(errno), "cannot open " + impl_->file.string());
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return Fail(ErrorCodeForErrno(err), "fsync " + impl_->file.string() + ": " + ErrnoMessage(err));
  }
  return {};
}

}  // namespace strongroom::storage
