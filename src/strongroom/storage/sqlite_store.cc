#include "strongroom/storage/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "strongroom/base/blocking.h"
#include "strongroom/storage/read_cache.h"

namespace strongroom::storage {
namespace {

// SQLite messages can quote SQL; ours name only the operation and SQLite's result code.
Error SqliteError(std::string_view what, int code) {
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

Result<Db> OpenDb(const std::filesystem::path& file, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError("open " + file.string(), rc));
  sqlite3_extended_result_codes(db.get(), 0);
  return db;
}

Result<void> Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(sql, rc));
  return {};
}

Result<Stmt> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError("prepare", rc));
  return Stmt(raw);
}

void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_blob(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

Bytes ColumnBytes(sqlite3_stmt* stmt, int column) {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, column));
  return Bytes(data, data + sqlite3_column_bytes(stmt, column));
}

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& file,
                                                   const SqliteOptions& options) {
    // Create the file ourselves so it starts 0600; SQLite gives -wal and -shm the same mode.
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      const int err = errno;
      return Fail(ErrorCodeForErrno(err), "cannot create " + file.string() + ": " + ErrnoMessage(err));
    }
    ::close(fd);
    auto store = std::unique_ptr<SqliteStore>(new SqliteStore());
    if (options.read_cache_bytes > 0) {
      store->cache_ = std::make_unique<ReadCache>(options.read_cache_bytes);
    }
    auto writer = OpenDb(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!writer) return std::unexpected(writer.error());
    store->writer_ = std::move(*writer);
    // Before WAL mode is set: in WAL mode the page size of a database can no longer change.
    const std::string page_size = "PRAGMA page_size=" + std::to_string(options.page_size);
    if (auto done = Exec(store->writer_.get(), page_size.c_str()); !done) {
      return std::unexpected(done.error());
    }
    for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                            "PRAGMA secure_delete=ON",
                            // A rowid table, not WITHOUT ROWID: values are records of ~1.5 KB,
                            // far above the ~200 bytes (1/20 of a page) SQLite recommends for
                            // WITHOUT ROWID rows. Rows now append to the table's last page and
                            // only the small (space, key) entry lands at a random index position:
                            // 25% fewer page writes per record (docs/performance.md).
                            "CREATE TABLE IF NOT EXISTS kv (space BLOB NOT NULL, key BLOB NOT NULL,"
                            " value BLOB NOT NULL, UNIQUE (space, key))"}) {
      if (auto done = Exec(store->writer_.get(), sql); !done) return std::unexpected(done.error());
    }
    auto reader = OpenDb(file, SQLITE_OPEN_READONLY);
    if (!reader) return std::unexpected(reader.error());
    store->reader_ = std::move(*reader);
    const std::pair<Stmt*, std::pair<sqlite3*, const char*>> statements[] = {
        {&store->put_, {store->writer_.get(),
                        "INSERT INTO kv(space, key, value) VALUES(?1, ?2, ?3)"
                        " ON CONFLICT(space, key) DO UPDATE SET value = excluded.value"}},
        {&store->delete_, {store->writer_.get(), "DELETE FROM kv WHERE space = ?1 AND key = ?2"}},
        {&store->get_, {store->reader_.get(), "SELECT value FROM kv WHERE space = ?1 AND key = ?2"}},
        {&store->scan_, {store->reader_.get(),
                         "SELECT key, value FROM kv WHERE space = ?1 AND key > ?2"
                         " ORDER BY key LIMIT ?3"}},
    };
    for (const auto& [slot, source] : statements) {
      auto stmt = Prepare(source.first, source.second);
      if (!stmt) return std::unexpected(stmt.error());
      *slot = std::move(*stmt);
    }
    store->committer_ = std::thread([raw = store.get()] { raw->CommitLoop(); });
    return store;
  }

  ~SqliteStore() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    if (committer_.joinable()) committer_.join();
  }

  Result<std::optional<Bytes>> Get(std::string_view space, std::string_view key) override {
    std::uint64_t generation = 0;
    if (cache_) {
      if (auto hit = cache_->Find(space, key)) return std::optional<Bytes>(std::move(*hit));
      generation = cache_->Generation(space, key);  // before the read: see read_cache.h
    }
    if (!MayBlock()) return std::unexpected(WouldBlock("a store read from disk"));
    std::lock_guard lock(read_mutex_);
    sqlite3_stmt* stmt = get_.get();
    BindText(stmt, 1, space);
    BindText(stmt, 2, key);
    const int rc = sqlite3_step(stmt);
    std::optional<Bytes> value;
    if (rc == SQLITE_ROW) value = ColumnBytes(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return std::unexpected(SqliteError("get", rc));
    if (cache_ && value) cache_->Insert(space, key, *value, generation);
    return value;
  }

  Result<std::vector<Entry>> Scan(std::string_view space, std::string_view after_key,
                                  std::size_t limit) override {
    if (!MayBlock()) return std::unexpected(WouldBlock("a store scan"));
    std::lock_guard lock(read_mutex_);
    sqlite3_stmt* stmt = scan_.get();
    BindText(stmt, 1, space);
    BindText(stmt, 2, after_key);
    sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(limit));
    std::vector<Entry> entries;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const Bytes key = ColumnBytes(stmt, 0);
      entries.push_back({std::string(key.begin(), key.end()), ColumnBytes(stmt, 1)});
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return std::unexpected(SqliteError("scan", rc));
    return entries;
  }

  Result<void> Write(WriteBatch batch) override {
    if (batch.empty()) return {};
    if (!MayBlock()) return std::unexpected(WouldBlock("a store write"));
    Pending pending{&batch};
    std::unique_lock lock(queue_mutex_);
    if (stopping_) return Fail(ErrorCode::kUnavailable, "store is closing");
    queue_.push_back(&pending);
    queue_cv_.notify_one();
    done_cv_.wait(lock, [&] { return pending.done; });
    return pending.result;
  }

  Stats stats() const override {
    Stats stats;
    {
      std::lock_guard lock(queue_mutex_);
      stats = stats_;
    }
    if (cache_) {
      const ReadCache::Stats cached = cache_->stats();
      stats.cache_hits = cached.hits;
      stats.cache_misses = cached.misses;
    }
    return stats;
  }

 private:
  struct Pending {
    const WriteBatch* batch;
    Result<void> result{};
    bool done = false;
  };

  SqliteStore() = default;

  Result<void> Apply(const WriteBatch& batch) {
    for (const auto& m : batch.mutations()) {
      if (m.value.size() > kMaxValueBytes) {
        return Fail(ErrorCode::kInvalidArgument, "a value exceeds the store's 4 MiB limit");
      }
      sqlite3_stmt* stmt = m.is_delete ? delete_.get() : put_.get();
      BindText(stmt, 1, m.space);
      BindText(stmt, 2, m.key);
      if (!m.is_delete) {
        // An empty vector's data() may be null, which SQLite would store as NULL: bind an empty
        // blob instead (empty values are legal: index entries are keys with no value).
        if (m.value.empty()) {
          sqlite3_bind_zeroblob(stmt, 3, 0);
        } else {
          sqlite3_bind_blob(stmt, 3, m.value.data(), static_cast<int>(m.value.size()),
                            SQLITE_STATIC);
        }
      }
      const int rc = sqlite3_step(stmt);
      sqlite3_reset(stmt);
      if (rc != SQLITE_DONE) return std::unexpected(SqliteError(m.is_delete ? "delete" : "put", rc));
    }
    return {};
  }

  // Applies a group of batches in one transaction, each under its own savepoint.
  void Commit(const std::vector<Pending*>& group) {
    sqlite3* db = writer_.get();
    if (auto begun = Exec(db, "BEGIN IMMEDIATE"); !begun) {
      for (Pending* p : group) p->result = begun;
      return;
    }
    std::size_t applied = 0;
    for (Pending* p : group) {
      auto saved = Exec(db, "SAVEPOINT batch");
      auto result = saved ? Apply(*p->batch) : saved;
      if (result) {
        result = Exec(db, "RELEASE batch");
        ++applied;
      } else if (saved) {
        (void)Exec(db, "ROLLBACK TO batch");
        (void)Exec(db, "RELEASE batch");
      }
      p->result = result;
    }
    if (auto committed = Exec(db, "COMMIT"); !committed) {
      (void)Exec(db, "ROLLBACK");
      for (Pending* p : group) {
        if (p->result) p->result = committed;
      }
      return;
    }
    std::lock_guard lock(queue_mutex_);
    stats_.commits += applied > 0 ? 1 : 0;
    stats_.batches += applied;
  }

  void CommitLoop() {
    for (;;) {
      std::vector<Pending*> group;
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to commit
        group.assign(queue_.begin(), queue_.end());
        queue_.clear();
      }
      Commit(group);
      // Before any writer hears back, so no Get after an acknowledged write sees the old value.
      // Every key of the group, committed or not: dropping a still-valid entry costs one read.
      if (cache_) {
        for (const Pending* p : group) {
          for (const auto& m : p->batch->mutations()) cache_->Invalidate(m.space, m.key);
        }
      }
      {
        std::lock_guard lock(queue_mutex_);
        for (Pending* p : group) p->done = true;
      }
      done_cv_.notify_all();
    }
  }

  Db writer_;  // used only by the committer thread
  Db reader_;  // guarded by read_mutex_
  std::unique_ptr<ReadCache> cache_;  // null: no cache; set before any thread starts
  Stmt put_, delete_, get_, scan_;
  std::mutex read_mutex_;
  mutable std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::condition_variable done_cv_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread committer_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& file,
                                               SqliteOptions options) {
  const int size = options.page_size;
  if (size < 512 || size > 65536 || (size & (size - 1)) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "SQLite page size must be a power of two, 512-65536");
  }
  auto store = SqliteStore::Open(file, options);
  if (!store) return std::unexpected(store.error());
  return std::unique_ptr<Store>(std::move(*store));
}

}  // namespace strongroom::storage
