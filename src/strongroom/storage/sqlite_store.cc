#include "strongroom/storage/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "strongroom/base/blocking.h"
#include "strongroom/storage/read_cache.h"
#include "strongroom/storage/sqlite_support.h"
#include "strongroom/storage/sqlite_wal_vfs.h"

namespace strongroom::storage {

// The change log an incremental backup reads (sqlite_snapshot.h): a `seq` on every row, a
// tombstone table, and kv_meta with the last sequence number, the store's random id and how far
// tombstones were pruned. Adds what an older file lacks.
Result<void> PrepareChangeLog(sqlite3* db) {
  bool has_seq = false;
  {
    auto info = Prepare(db, "SELECT name FROM pragma_table_info('kv')");
    if (!info) return std::unexpected(info.error());
    while (sqlite3_step(info->get()) == SQLITE_ROW) {
      const auto* name = sqlite3_column_text(info->get(), 0);
      if (name != nullptr && std::string_view(reinterpret_cast<const char*>(name)) == "seq") {
        has_seq = true;
      }
    }
  }
  if (!has_seq) {
    if (auto done = Exec(db, "ALTER TABLE kv ADD COLUMN seq INTEGER NOT NULL DEFAULT 0"); !done) {
      return std::unexpected(done.error());
    }
  }
  // Tombstones are small keys: WITHOUT ROWID keeps each in the primary-key b-tree alone.
  for (const char* sql :
       {"CREATE TABLE IF NOT EXISTS kv_deleted (space BLOB NOT NULL, key BLOB NOT NULL,"
        " seq INTEGER NOT NULL, PRIMARY KEY (space, key)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS kv_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)"
        " WITHOUT ROWID",
        "INSERT OR IGNORE INTO kv_meta(name, value) VALUES('seq', 0), ('pruned_upto', 0)"}) {
    if (auto done = Exec(db, sql); !done) return std::unexpected(done.error());
  }
  // The store's id tells a backup whether its previous snapshot was of this very file: a file
  // restored or recreated gets a new id, and its sequence numbers start over. An identifier, not
  // a secret: std::random_device (the kernel's generator here) is enough.
  std::random_device random;
  char id[33];
  (void)std::snprintf(id, sizeof id, "%08x%08x%08x%08x", random(), random(), random(), random());
  {
    auto insert = Prepare(db, "INSERT OR IGNORE INTO kv_meta(name, value) VALUES('store_id', ?1)");
    if (!insert) return std::unexpected(insert.error());
    BindText(insert->get(), 1, id);
    if (const int rc = sqlite3_step(insert->get()); rc != SQLITE_DONE) {
      return std::unexpected(SqliteError("store id", rc));
    }
  }
  return {};
}

namespace {

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
    store->file_ = file;
    if (options.read_cache_bytes > 0) {
      store->cache_ = std::make_unique<ReadCache>(options.read_cache_bytes);
    }
    // The writer's WAL page writes are gathered into one write per commit (sqlite_wal_vfs.h),
    // which is correct only with synchronous=FULL, set below before the first transaction.
    auto writer = OpenDb(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WalCoalescingVfs());
    if (!writer) return std::unexpected(writer.error());
    store->writer_ = std::move(*writer);
    // Before WAL mode is set: in WAL mode the page size of a database can no longer change.
    const std::string page_size = "PRAGMA page_size=" + std::to_string(options.page_size);
    if (auto done = Exec(store->writer_.get(), page_size.c_str()); !done) {
      return std::unexpected(done.error());
    }
    // A rowid table, not WITHOUT ROWID: values are records of ~1.5 KB, far above the ~200 bytes
    // (1/20 of a page) SQLite recommends for WITHOUT ROWID rows. Rows now append to the table's
    // last page and only the small (space, key) entry lands at a random index position: 25%
    // fewer page writes per record (docs/performance.md).
    const char* const create_kv =
        "CREATE TABLE IF NOT EXISTS kv (space BLOB NOT NULL, key BLOB NOT NULL,"
        " value BLOB NOT NULL, seq INTEGER NOT NULL DEFAULT 0, UNIQUE (space, key))";
    for (const char* sql :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA secure_delete=ON",
          // The savepoint of each batch in a group commit keeps the pages it changes in a
          // statement journal, which past 64 KiB SQLite spills to a temporary file in /var/tmp:
          // a file created, written page by page and deleted at every commit, holding store
          // pages outside the vault's directory. In memory it is neither (its size is bounded
          // by one commit's group).
          "PRAGMA temp_store=MEMORY", create_kv}) {
      if (auto done = Exec(store->writer_.get(), sql); !done) return std::unexpected(done.error());
    }
    // Another process (`strongroom backup`) may hold the write lock for a moment to prune
    // tombstones: wait for it rather than fail a commit with SQLITE_BUSY.
    sqlite3_busy_timeout(store->writer_.get(), 10'000);
    if (auto tracked = PrepareChangeLog(store->writer_.get()); !tracked) {
      return std::unexpected(tracked.error());
    }
    auto reader = OpenDb(file, SQLITE_OPEN_READONLY);
    if (!reader) return std::unexpected(reader.error());
    store->reader_ = std::move(*reader);
    const std::pair<Stmt*, std::pair<sqlite3*, const char*>> statements[] = {
        {&store->put_,
         {store->writer_.get(),
          "INSERT INTO kv(space, key, value, seq) VALUES(?1, ?2, ?3, ?4)"
          " ON CONFLICT(space, key) DO UPDATE SET value = excluded.value,"
          " seq = excluded.seq"}},
        {&store->delete_, {store->writer_.get(), "DELETE FROM kv WHERE space = ?1 AND key = ?2"}},
        {&store->tombstone_,
         {store->writer_.get(),
          "INSERT INTO kv_deleted(space, key, seq) VALUES(?1, ?2, ?3)"
          " ON CONFLICT(space, key) DO UPDATE SET seq = excluded.seq"}},
        {&store->next_seq_,
         {store->writer_.get(),
          "UPDATE kv_meta SET value = value + 1 WHERE name = 'seq' RETURNING value"}},
        {&store->get_,
         {store->reader_.get(), "SELECT value FROM kv WHERE space = ?1 AND key = ?2"}},
        {&store->scan_,
         {store->reader_.get(),
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

  // On a connection of its own. A TRUNCATE checkpoint holds off writers while it waits for
  // readers of older states to finish, then copies the WAL into the database file (whose freed
  // cells secure_delete has zeroed) and truncates the WAL to nothing. The short busy timeout
  // bounds how long it can hold up the committer: a reader that stays longer (a backup's
  // snapshot) makes it give up with unavailable, to be tried again later.
  Result<void> Checkpoint() override {
    auto db = OpenDb(file_, SQLITE_OPEN_READWRITE);
    if (!db) return std::unexpected(db.error());
    sqlite3_busy_timeout(db->get(), 100);
    auto stmt = Prepare(db->get(), "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!stmt) return std::unexpected(stmt.error());
    const int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      return Fail(ErrorCode::kUnavailable, "cannot empty the write-ahead log of " +
                                               file_.filename().string() + " now: it is busy");
    }
    if (rc != SQLITE_ROW) return std::unexpected(SqliteError("checkpoint", rc));
    if (sqlite3_column_int(stmt->get(), 0) != 0) {
      return Fail(ErrorCode::kUnavailable, "cannot empty the write-ahead log of " +
                                               file_.filename().string() +
                                               " now: a reader (a backup) holds an older state");
    }
    return {};
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

  Result<void> Apply(const WriteBatch& batch, std::int64_t seq) {
    for (const auto& m : batch.mutations()) {
      if (m.value.size() > kMaxValueBytes) {
        return Fail(ErrorCode::kInvalidArgument, "a value exceeds the store's 4 MiB limit");
      }
      sqlite3_stmt* stmt = m.is_delete ? delete_.get() : put_.get();
      BindText(stmt, 1, m.space);
      BindText(stmt, 2, m.key);
      if (!m.is_delete) {
        BindValue(stmt, 3, m.value);
        sqlite3_bind_int64(stmt, 4, seq);
      }
      const int rc = sqlite3_step(stmt);
      sqlite3_reset(stmt);
      if (rc != SQLITE_DONE) return std::unexpected(SqliteError(m.is_delete ? "delete" : "put", rc));
      // The change log (sqlite_snapshot.h): a delete that removed a row leaves a tombstone, so
      // an incremental backup can carry it.
      if (m.is_delete && sqlite3_changes(writer_.get()) > 0) {
        sqlite3_stmt* tomb = tombstone_.get();
        BindText(tomb, 1, m.space);
        BindText(tomb, 2, m.key);
        sqlite3_bind_int64(tomb, 3, seq);
        const int trc = sqlite3_step(tomb);
        sqlite3_reset(tomb);
        if (trc != SQLITE_DONE) return std::unexpected(SqliteError("tombstone", trc));
      }
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
    // One change-log sequence number per commit, taken from the file inside the transaction (so
    // it never repeats, even if another process wrote the file): a backup's snapshot holds every
    // commit up to the number it reads, and none after.
    sqlite3_stmt* next = next_seq_.get();
    const int seq_rc = sqlite3_step(next);
    const std::int64_t seq = sqlite3_column_int64(next, 0);
    const bool has_seq = seq_rc == SQLITE_ROW && sqlite3_step(next) == SQLITE_DONE;
    sqlite3_reset(next);
    if (!has_seq) {
      (void)Exec(db, "ROLLBACK");
      (void)FlushWalBuffer(db);
      for (Pending* p : group) p->result = std::unexpected(SqliteError("seq", seq_rc));
      return;
    }
    for (Pending* p : group) {
      auto saved = Exec(db, "SAVEPOINT batch");
      auto result = saved ? Apply(*p->batch, seq) : saved;
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
      // Frames the transaction spilled stay in the WAL's buffer until the next write; write them
      // out now, as SQLite would have, before another connection truncates the WAL.
      (void)FlushWalBuffer(db);
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

  std::filesystem::path file_;
  Db writer_;  // used only by the committer thread
  Db reader_;  // guarded by read_mutex_
  std::unique_ptr<ReadCache> cache_;  // null: no cache; set before any thread starts
  Stmt put_, delete_, tombstone_, next_seq_, get_, scan_;
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
