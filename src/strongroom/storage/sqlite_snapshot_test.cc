// The change log backups read (sqlite_snapshot.h), on real SQLite files.
#include "strongroom/storage/sqlite_snapshot.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <string>

#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::storage {
namespace {

Bytes B(std::string_view text) { return Bytes(text.begin(), text.end()); }

// What a pass over a snapshot yields: "put space/key=value" or "delete space/key".
std::vector<std::string> Collect(SqliteSnapshot& snapshot, std::optional<std::uint64_t> since) {
  std::vector<std::string> out;
  const ChangeFn fn = [&](const Change& c) -> Result<void> {
    out.push_back(std::string(c.is_delete ? "delete " : "put ") + std::string(c.space) + "/" +
                  std::string(c.key) +
                  (c.is_delete ? "" : "=" + std::string(c.value.begin(), c.value.end())));
    return {};
  };
  auto done = since ? snapshot.ForEachChangeSince(*since, fn) : snapshot.ForEachEntry(fn);
  EXPECT_TRUE(done.has_value()) << done.error().message();
  // Puts come in the file's order (which means nothing), then the deletes: sort the puts only,
  // so that a delete before a put still fails the comparison.
  const auto first_delete = std::find_if(
      out.begin(), out.end(), [](const std::string& line) { return line.starts_with("delete "); });
  std::sort(out.begin(), first_delete);
  return out;
}

TEST(SqliteSnapshot, FullThenOnlyWhatChangedAfterIt) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  auto store = OpenSqliteStore(file);
  ASSERT_TRUE(store.has_value());
  WriteBatch first;
  first.Put("a", "1", B("one"));
  first.Put("a", "2", B("two"));
  first.Put("b", "3", B("three"));
  ASSERT_TRUE((*store)->Write(std::move(first)).has_value());

  auto base = SqliteSnapshot::Open(file);
  ASSERT_TRUE(base.has_value());
  const ChangeLogPosition at = (*base)->position();
  EXPECT_EQ(at.store_id.size(), 32u);
  EXPECT_EQ(Collect(**base, std::nullopt),
            (std::vector<std::string>{"put a/1=one", "put a/2=two", "put b/3=three"}));

  // Writes after the snapshot began are invisible to it.
  WriteBatch second;
  second.Put("a", "2", B("TWO"));
  second.Delete("b", "3");
  second.Delete("b", "never-there");  // removes nothing: no tombstone
  second.Put("c", "4", B("four"));
  ASSERT_TRUE((*store)->Write(std::move(second)).has_value());
  WriteBatch third;
  third.Delete("a", "1");
  third.Put("a", "1", B("again"));  // deleted and written again: a put, not a delete
  ASSERT_TRUE((*store)->Write(std::move(third)).has_value());
  EXPECT_EQ(Collect(**base, std::nullopt).size(), 3u);
  base->reset();
  // What a backup does once it holds that snapshot: the next one is based on it.
  ASSERT_TRUE(PruneTombstones(file, at.seq).has_value());

  auto next = SqliteSnapshot::Open(file);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ((*next)->position().seq, at.seq + 2);
  EXPECT_EQ((*next)->position().store_id, at.store_id);
  EXPECT_EQ(Collect(**next, at.seq), (std::vector<std::string>{"put a/1=again", "put a/2=TWO",
                                                               "put c/4=four", "delete b/3"}));
  const std::uint64_t newest = (*next)->position().seq;
  next->reset();
  ASSERT_TRUE(PruneTombstones(file, newest).has_value());
  // Nothing changed after the newest commit.
  auto last = SqliteSnapshot::Open(file);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(Collect(**last, newest), std::vector<std::string>{});
}

TEST(SqliteSnapshot, SequenceNumbersContinueAcrossReopening) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  std::uint64_t before = 0;
  for (int round = 0; round < 2; ++round) {
    auto store = OpenSqliteStore(file);
    ASSERT_TRUE(store.has_value());
    WriteBatch batch;
    batch.Put("a", std::to_string(round), B("v"));
    ASSERT_TRUE((*store)->Write(std::move(batch)).has_value());
    auto snapshot = SqliteSnapshot::Open(file);
    ASSERT_TRUE(snapshot.has_value());
    EXPECT_EQ((*snapshot)->position().seq, before + 1);
    before = (*snapshot)->position().seq;
  }
}

TEST(SqliteSnapshot, PrunedTombstonesRefuseAnOlderBase) {
  testing::ScratchDir dir;
  const auto file = dir / "s.db";
  auto store = OpenSqliteStore(file);
  ASSERT_TRUE(store.has_value());
  for (int i = 0; i < 3; ++i) {
    WriteBatch batch;
    batch.Put("a", std::to_string(i), B("v"));
    if (i > 0) batch.Delete("a", std::to_string(i - 1));
    ASSERT_TRUE((*store)->Write(std::move(batch)).has_value());
  }
  ASSERT_TRUE(PruneTombstones(file, 2).has_value());
  auto snapshot = SqliteSnapshot::Open(file);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ((*snapshot)->position().pruned_upto, 2u);
  const ChangeFn ignore = [](const Change&) -> Result<void> { return {}; };
  // Below the mark deletes may be gone; above it the file is older than the base (rolled back).
  for (std::uint64_t since : {1, 3}) {
    auto refused = (*snapshot)->ForEachChangeSince(since, ignore);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  }
  // From the pruned mark on, the log is whole: the delete of commit 3 is still there.
  EXPECT_EQ(Collect(**snapshot, 2), (std::vector<std::string>{"put a/2=v", "delete a/1"}));
}

TEST(SqliteSnapshot, AFileWithoutAChangeLogGetsOneWhenTheStoreOpensIt) {
  testing::ScratchDir dir;
  const auto file = dir / "old.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE kv (space BLOB NOT NULL, key BLOB NOT NULL, value BLOB NOT "
                   "NULL, UNIQUE (space, key)); INSERT INTO kv VALUES(X'61', X'6B', X'6F6C64');",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto before = SqliteSnapshot::Open(file);
  ASSERT_FALSE(before.has_value());
  EXPECT_EQ(before.error().code(), ErrorCode::kFailedPrecondition);
  {
    auto store = OpenSqliteStore(file);
    ASSERT_TRUE(store.has_value());
    auto got = (*store)->Get("a", "k");
    ASSERT_TRUE(got.has_value() && got->has_value());
    EXPECT_EQ(**got, B("old"));
  }
  auto after = SqliteSnapshot::Open(file);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(Collect(**after, std::nullopt), std::vector<std::string>{"put a/k=old"});
}

TEST(SqliteLoader, BuildsAStoreFromChangesWithANewId) {
  testing::ScratchDir dir;
  auto loader = SqliteLoader::Create(dir / "restored.db", 65536);
  ASSERT_TRUE(loader.has_value());
  const Bytes value = B("payload");
  ASSERT_TRUE((*loader)->Apply({false, "a", "1", value}).has_value());
  ASSERT_TRUE((*loader)->Apply({false, "a", "2", value}).has_value());
  ASSERT_TRUE((*loader)->Apply({true, "a", "1", {}}).has_value());
  ASSERT_TRUE((*loader)->Finish().has_value());
  loader->reset();
  EXPECT_FALSE(SqliteLoader::Create(dir / "restored.db", 4096).has_value());  // never over a file

  auto snapshot = SqliteSnapshot::Open(dir / "restored.db");
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ((*snapshot)->position().page_size, 65536);
  EXPECT_EQ(Collect(**snapshot, std::nullopt), std::vector<std::string>{"put a/2=payload"});
  auto store = OpenSqliteStore(dir / "restored.db");
  ASSERT_TRUE(store.has_value());
  auto got = (*store)->Get("a", "2");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ(**got, value);
}

}  // namespace
}  // namespace strongroom::storage
