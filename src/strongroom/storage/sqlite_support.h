#pragma once
// What the SQLite store and its snapshot reader share: RAII handles, statement helpers, error
// mapping, and the change-log schema. Private to storage/ (only its .cc files include it, and
// only they include <sqlite3.h>). Stateless; each handle is used by one thread at a time.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/storage/store.h"

namespace strongroom::storage {

// SQLite messages can quote SQL; ours name only the operation and SQLite's result code.
inline Error SqliteError(std::string_view what, int code) {
  return Error(code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_BUSY
                   ? ErrorCode::kUnavailable
                   : ErrorCode::kInternal,
               std::string("sqlite ") + std::string(what) + ": " + sqlite3_errstr(code));
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// vfs: null for SQLite's default, or a registered VFS's name (sqlite_wal_vfs.h).
inline Result<Db> OpenDb(const std::filesystem::path& file, int flags, const char* vfs = nullptr) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
  Db db(raw);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError("open " + file.string(), rc));
  sqlite3_extended_result_codes(db.get(), 0);
  return db;
}

inline Result<void> Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(sql, rc));
  return {};
}

inline Result<Stmt> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError("prepare", rc));
  return Stmt(raw);
}

inline void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_blob(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// An empty span's data() may be null, which SQLite would store as NULL: bind an empty blob
// instead (empty values are legal: index entries are keys with no value).
inline void BindValue(sqlite3_stmt* stmt, int index, std::span<const std::uint8_t> value) {
  if (value.empty()) {
    sqlite3_bind_zeroblob(stmt, index, 0);
  } else {
    sqlite3_bind_blob(stmt, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  }
}

inline Bytes ColumnBytes(sqlite3_stmt* stmt, int column) {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, column));
  return Bytes(data, data + sqlite3_column_bytes(stmt, column));
}

// Adds the change log (sqlite_snapshot.h) to a store file that lacks it, in the writer's
// connection.
Result<void> PrepareChangeLog(sqlite3* db);

}  // namespace strongroom::storage
