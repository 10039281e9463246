// ReadCache on its own, then the SQLite store with a cache: reads inside a NonBlockingScope,
// and the proof that a cached read never returns a value an acknowledged write replaced.
#include "strongroom/storage/read_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "strongroom/base/blocking.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"

namespace strongroom::storage {
namespace {

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }
std::string Text(const std::optional<Bytes>& b) {
  return b ? std::string(b->begin(), b->end()) : "<none>";
}

TEST(ReadCacheTest, FindsWhatWasInsertedUntilInvalidated) {
  ReadCache cache(1 << 20);
  EXPECT_FALSE(cache.Find("s", "k"));
  cache.Insert("s", "k", B("v1"), cache.Generation("s", "k"));
  EXPECT_EQ(Text(cache.Find("s", "k")), "v1");
  cache.Invalidate("s", "k");
  EXPECT_FALSE(cache.Find("s", "k"));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
}

TEST(ReadCacheTest, SpaceAndKeyAreNotConcatenated) {
  ReadCache cache(1 << 20);
  cache.Insert("a", "bc", B("first"), cache.Generation("a", "bc"));
  EXPECT_FALSE(cache.Find("ab", "c"));
  EXPECT_FALSE(cache.Find("", "abc"));
  EXPECT_EQ(Text(cache.Find("a", "bc")), "first");
}

TEST(ReadCacheTest, AReadThatRacedAnInvalidationIsNotKept) {
  ReadCache cache(1 << 20);
  const std::uint64_t before_read = cache.Generation("s", "k");
  cache.Invalidate("s", "k");  // a write committed while the reader was on the disk
  cache.Insert("s", "k", B("old"), before_read);
  EXPECT_FALSE(cache.Find("s", "k"));
  cache.Insert("s", "k", B("new"), cache.Generation("s", "k"));
  EXPECT_EQ(Text(cache.Find("s", "k")), "new");
}

TEST(ReadCacheTest, StaysWithinItsCapacityEvictingTheLeastRecentlyUsed) {
  // 16 shards of 4 KiB; values of 300 bytes (under an eighth of a shard) with overhead.
  constexpr std::size_t kCapacity = 64 << 10;
  ReadCache cache(kCapacity);
  const Bytes value(300, 0xab);
  cache.Insert("s", "keep", value, cache.Generation("s", "keep"));
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    cache.Insert("s", key, value, cache.Generation("s", key));
    ASSERT_TRUE(cache.Find("s", "keep")) << "used all along, so never the eviction victim";
  }
  const auto stats = cache.stats();
  EXPECT_LE(stats.bytes, kCapacity);
  EXPECT_GT(stats.entries, 50u);
  EXPECT_LT(stats.entries, 2000u);
  EXPECT_FALSE(cache.Find("s", "k0"));  // the oldest untouched entry went first
  EXPECT_TRUE(cache.Find("s", "k1999"));
}

TEST(ReadCacheTest, LargeValuesAreNotKept) {
  ReadCache cache(16 * 8 * 1024);  // shards of 8 KiB: values over ~1 KiB are not kept
  cache.Insert("s", "big", Bytes(2048, 1), cache.Generation("s", "big"));
  EXPECT_FALSE(cache.Find("s", "big"));
  cache.Insert("s", "small", Bytes(512, 1), cache.Generation("s", "small"));
  EXPECT_TRUE(cache.Find("s", "small"));
}

class CachedSqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = OpenSqliteStore(scratch_ / "store.db", {.read_cache_bytes = 1 << 20});
    ASSERT_TRUE(opened) << opened.error().message();
    store_ = std::move(*opened);
  }
  void TearDown() override { store_.reset(); }
  void Put(std::string_view key, std::string_view value) {
    WriteBatch batch;
    batch.Put("s", key, B(value));
    ASSERT_TRUE(store_->Write(std::move(batch)));
  }
  // A Get on an "I/O thread": the value from memory, or the error.
  Result<std::optional<Bytes>> GetWithoutBlocking(std::string_view key) {
    NonBlockingScope scope;
    return store_->Get("s", key);
  }
  void ExpectWouldBlock(const Result<std::optional<Bytes>>& got) {
    ASSERT_FALSE(got) << "answered " << Text(*got);
    EXPECT_EQ(got.error().code(), ErrorCode::kWouldBlock);
  }

  testing::ScratchDir scratch_;
  std::unique_ptr<Store> store_;
};

TEST_F(CachedSqliteStoreTest, WithoutBlockingOnlyWhatIsInMemoryIsAnswered) {
  Put("k", "v1");
  ExpectWouldBlock(GetWithoutBlocking("k"));  // writes do not fill the cache
  EXPECT_EQ(Text(*store_->Get("s", "k")), "v1");
  auto cached = GetWithoutBlocking("k");
  ASSERT_TRUE(cached);
  EXPECT_EQ(Text(*cached), "v1");

  Put("k", "v2");  // invalidated before the write returned
  ExpectWouldBlock(GetWithoutBlocking("k"));
  EXPECT_EQ(Text(*store_->Get("s", "k")), "v2");
  EXPECT_EQ(Text(*GetWithoutBlocking("k")), "v2");

  WriteBatch del;
  del.Delete("s", "k");
  ASSERT_TRUE(store_->Write(std::move(del)));
  ExpectWouldBlock(GetWithoutBlocking("k"));
  EXPECT_EQ(Text(*store_->Get("s", "k")), "<none>");
  ExpectWouldBlock(GetWithoutBlocking("k"));  // absence is not cached

  const auto stats = store_->stats();
  EXPECT_EQ(stats.cache_hits, 2u);
  EXPECT_EQ(stats.cache_misses, 7u);
}

TEST_F(CachedSqliteStoreTest, WithoutBlockingScansAndWritesAreRefused) {
  Put("k", "v");
  NonBlockingScope scope;
  auto scanned = store_->Scan("s", "", 10);
  ASSERT_FALSE(scanned);
  EXPECT_EQ(scanned.error().code(), ErrorCode::kWouldBlock);
  WriteBatch batch;
  batch.Put("s", "k2", B("v"));
  auto written = store_->Write(std::move(batch));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code(), ErrorCode::kWouldBlock);
}

TEST_F(CachedSqliteStoreTest, AnUncachedStoreNeverAnswersWithoutBlocking) {
  auto plain = OpenSqliteStore(scratch_ / "plain.db");
  ASSERT_TRUE(plain);
  WriteBatch batch;
  batch.Put("s", "k", B("v"));
  ASSERT_TRUE((*plain)->Write(std::move(batch)));
  EXPECT_EQ(Text(*(*plain)->Get("s", "k")), "v");
  NonBlockingScope scope;
  auto got = (*plain)->Get("s", "k");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kWouldBlock);
}

// Readers keep refilling the cache while a writer replaces the value; after each acknowledged
// write, no read (from memory or disk) may return an older value. Without the invalidation
// before acknowledgement, or with a fill that ignores the generation, this sees stale values.
TEST_F(CachedSqliteStoreTest, NoReadReturnsAValueAnAcknowledgedWriteReplaced) {
  constexpr int kWrites = 300;
  Put("k", "0");
  std::atomic<int> acknowledged{0};
  std::atomic<bool> stop{false};
  std::atomic<int> stale{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const int floor = acknowledged.load();
        auto got = store_->Get("s", "k");
        if (!got || !*got) {
          errors.fetch_add(1);
          continue;
        }
        if (std::stoi(Text(*got)) < floor) stale.fetch_add(1);
      }
    });
  }
  for (int i = 1; i <= kWrites; ++i) {
    Put("k", std::to_string(i));
    acknowledged.store(i);
    auto cached = GetWithoutBlocking("k");
    if (cached) {
      ASSERT_TRUE(*cached);
      EXPECT_EQ(Text(*cached), std::to_string(i)) << "a stale value from memory";
    }
    EXPECT_EQ(Text(*store_->Get("s", "k")), std::to_string(i));
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(store_->stats().cache_hits, 0u);  // the readers did read from memory
}

}  // namespace
}  // namespace strongroom::storage
