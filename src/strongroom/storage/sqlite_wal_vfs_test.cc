// The WAL-gathering VFS (sqlite_wal_vfs.h) on real SQLite files: commits visible and in the file
// at once, far fewer write calls, nothing acknowledged lost to a failed write or a kill -9, and
// no frames of a rolled-back transaction written late.
#include "strongroom/storage/sqlite_wal_vfs.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "strongroom/storage/sqlite_support.h"
#include "support/scratch_dir.h"

namespace strongroom::storage {
namespace {

// A 3,000-byte value: each row fills most of a 4 KiB page, so N rows write about N frames.
constexpr int kValueBytes = 3000;

Db Open(const std::filesystem::path& file, const char* vfs) {
  auto db = OpenDb(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  EXPECT_TRUE(db.has_value());
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                          "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)"}) {
    EXPECT_TRUE(Exec(db->get(), sql).has_value()) << sql;
  }
  return std::move(*db);
}

void Insert(sqlite3* db, int id) {
  auto stmt = Prepare(db, "INSERT INTO t(id, v) VALUES(?1, randomblob(?2))");
  ASSERT_TRUE(stmt.has_value());
  sqlite3_bind_int(stmt->get(), 1, id);
  sqlite3_bind_int(stmt->get(), 2, kValueBytes);
  ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_DONE);
}

std::int64_t Count(sqlite3* db) {
  auto stmt = Prepare(db, "SELECT count(*) FROM t");
  EXPECT_TRUE(stmt.has_value());
  EXPECT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  return sqlite3_column_int64(stmt->get(), 0);
}

std::string IntegrityCheck(sqlite3* db) {
  auto stmt = Prepare(db, "PRAGMA integrity_check");
  EXPECT_TRUE(stmt.has_value());
  EXPECT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  return reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0));
}

void CommitRow(sqlite3* db, int id) {
  ASSERT_TRUE(Exec(db, "BEGIN").has_value());
  Insert(db, id);
  ASSERT_TRUE(Exec(db, "COMMIT").has_value());
}

// Opens `file` through SQLite's default VFS: it holds `rows` rows and passes integrity_check.
void ExpectFileHolds(const std::filesystem::path& file, std::int64_t rows) {
  Db check = Open(file, nullptr);
  EXPECT_EQ(Count(check.get()), rows);
  EXPECT_EQ(IntegrityCheck(check.get()), "ok");
}

// The write system calls this thread has made (pwrite included), from the kernel's I/O
// accounting.
std::int64_t WriteCallsOfThisThread() {
  std::ifstream io("/proc/thread-self/io");
  std::string name;
  std::int64_t value = 0;
  while (io >> name >> value) {
    if (name == "syscw:") return value;
  }
  ADD_FAILURE() << "no syscw in /proc/thread-self/io";
  return 0;
}

// Commits 200 rows in one transaction and returns the write calls COMMIT made.
std::int64_t WriteCallsOfOneCommit(const std::filesystem::path& file, const char* vfs) {
  Db db = Open(file, vfs);
  EXPECT_TRUE(Exec(db.get(), "BEGIN").has_value());
  for (int id = 1; id <= 200; ++id) Insert(db.get(), id);
  const std::int64_t before = WriteCallsOfThisThread();
  EXPECT_TRUE(Exec(db.get(), "COMMIT").has_value());
  return WriteCallsOfThisThread() - before;
}

TEST(SqliteWalVfs, GathersACommitsFramesIntoFewWrites) {
  testing::ScratchDir dir;
  const std::int64_t plain = WriteCallsOfOneCommit(dir / "plain.db", nullptr);
  const std::int64_t gathered = WriteCallsOfOneCommit(dir / "gathered.db", WalCoalescingVfs());
  // The default VFS writes each frame's header and page apart: two calls per frame.
  EXPECT_GE(plain, 300);  // 404 with SQLite 3.40
  // ~210 frames of 4,120 bytes in pieces of 64 KiB: 14 writes, and the WAL header's own.
  EXPECT_LE(gathered, 20);  // 14 with SQLite 3.40
}

TEST(SqliteWalVfs, EachCommitIsInTheFileAndVisibleAtOnce) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  Db writer = Open(file, WalCoalescingVfs());
  auto reader = OpenDb(file, SQLITE_OPEN_READONLY);
  ASSERT_TRUE(reader.has_value());
  for (int id = 1; id <= 50; ++id) {
    ASSERT_TRUE(Exec(writer.get(), "BEGIN").has_value());
    Insert(writer.get(), id);
    Insert(writer.get(), 1000 + id);
    ASSERT_TRUE(Exec(writer.get(), "COMMIT").has_value());
    // Another connection, through the default VFS, reads the frames from the file itself.
    EXPECT_EQ(Count(reader->get()), 2 * id);
  }
  EXPECT_EQ(IntegrityCheck(reader->get()), "ok");
}

TEST(SqliteWalVfs, AFramesWriteThatFailsFailsTheCommitAndLosesNothingCommitted) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  Db writer = Open(file, WalCoalescingVfs());
  CommitRow(writer.get(), 1);
  const auto wal_size = std::filesystem::file_size(dir / "s.db-wal");

  // Files may grow 16 KiB past the WAL's size: the gathered frames of the next commit cannot
  // all be written, and the write that fails is one the buffer makes, not SQLite.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &previous), 0);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = wal_size + 16 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  ASSERT_TRUE(Exec(writer.get(), "BEGIN").has_value());
  for (int id = 2; id <= 40; ++id) Insert(writer.get(), id);
  const auto committed = Exec(writer.get(), "COMMIT");
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &previous, nullptr), 0);
  EXPECT_FALSE(committed.has_value());
  (void)Exec(writer.get(), "ROLLBACK");
  EXPECT_EQ(FlushWalBuffer(writer.get()), SQLITE_OK);

  CommitRow(writer.get(), 100);
  writer.reset();
  ExpectFileHolds(file, 2);
}

TEST(SqliteWalVfs, ARolledBackTransactionsSpilledFramesAreNotWrittenLate) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  Db writer = Open(file, WalCoalescingVfs());
  // A page cache of 10 pages: the transaction below spills frames into the WAL before COMMIT.
  ASSERT_TRUE(Exec(writer.get(), "PRAGMA cache_size=10").has_value());
  ASSERT_TRUE(Exec(writer.get(), "BEGIN").has_value());
  // Until a spill is left in the buffer (a later read of a spilled page writes it out first).
  int id = 0;
  while (id < 2000 && (id < 100 || BufferedWalBytes(writer.get()) == 0)) Insert(writer.get(), ++id);
  ASSERT_GT(BufferedWalBytes(writer.get()), 0u) << "no spilled frames left in the buffer";
  // SQLite 3.40's rollback reads spilled pages back (which writes the buffer out first);
  // FlushWalBuffer, which the store calls after every rollback, covers a version that does not.
  ASSERT_TRUE(Exec(writer.get(), "ROLLBACK").has_value());
  EXPECT_EQ(FlushWalBuffer(writer.get()), SQLITE_OK);
  EXPECT_EQ(BufferedWalBytes(writer.get()), 0u);

  // Another connection empties the WAL (as the store's Checkpoint does).
  {
    Db other = Open(file, nullptr);
    ASSERT_TRUE(Exec(other.get(), "PRAGMA wal_checkpoint(TRUNCATE)").has_value());
  }
  ASSERT_EQ(std::filesystem::file_size(dir / "s.db-wal"), 0u);

  CommitRow(writer.get(), 1);
  // The WAL holds its header and this commit's few frames: the rolled-back frames the buffer
  // held were written before the truncation, not after it at their old offsets.
  EXPECT_LT(std::filesystem::file_size(dir / "s.db-wal"), 32u * 1024);
  writer.reset();
  ExpectFileHolds(file, 1);
}

TEST(SqliteWalVfs, EveryCommitReportedBeforeAKillSurvivesIt) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  { Db created = Open(file, nullptr); }
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Commits rows one by one and reports each committed id; stops by itself after 5,000.
    close(pipe_fds[0]);
    auto db = OpenDb(file, SQLITE_OPEN_READWRITE, WalCoalescingVfs());
    if (!db || !Exec(db->get(), "PRAGMA synchronous=FULL")) _exit(2);
    for (int id = 1; id <= 5000; ++id) {
      const std::string sql = "INSERT INTO t(id, v) VALUES(" + std::to_string(id) +
                              ", randomblob(" + std::to_string(kValueBytes) + "))";
      if (!Exec(db->get(), sql.c_str())) _exit(3);
      if (write(pipe_fds[1], &id, sizeof id) != sizeof id) _exit(4);
    }
    _exit(0);
  }
  close(pipe_fds[1]);
  int acknowledged = 0;
  int id = 0;
  while (acknowledged < 30 && read(pipe_fds[0], &id, sizeof id) == sizeof id) acknowledged = id;
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(pipe_fds[0]);
  ASSERT_EQ(acknowledged, 30);

  Db check = Open(file, nullptr);
  auto stmt = Prepare(check.get(), "SELECT count(*) FROM t WHERE id <= 30");
  ASSERT_TRUE(stmt.has_value());
  ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt->get(), 0), 30);
  EXPECT_EQ(IntegrityCheck(check.get()), "ok");
}

}  // namespace
}  // namespace strongroom::storage
