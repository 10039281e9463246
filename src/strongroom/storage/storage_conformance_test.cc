// The conformance suite every Store backend must pass (SQLite now; PostgreSQL joins the list
// when it exists). Tests use only the Store interface.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "strongroom/storage/sqlite_store.h"
#include "strongroom/storage/store.h"
#include "support/scratch_dir.h"

namespace strongroom::storage {
namespace {

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }

struct Backend {
  std::string name;
  // Opens (or reopens) the store kept under `dir`.
  std::function<Result<std::unique_ptr<Store>>(const std::filesystem::path& dir)> open;
};

// Names the backend in test output (gtest would otherwise dump the struct's bytes).
void PrintTo(const Backend& backend, std::ostream* out) { *out << backend.name; }

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { Reopen(); }
  void TearDown() override { store_.reset(); }  // close before the directory goes
  void Reopen() {
    store_.reset();
    auto opened = GetParam().open(dir_);
    ASSERT_TRUE(opened) << opened.error().message();
    store_ = std::move(*opened);
  }
  void Put(std::string_view space, std::string_view key, std::string_view value) {
    WriteBatch batch;
    batch.Put(space, key, B(value));
    ASSERT_TRUE(store_->Write(std::move(batch)));
  }
  std::string GetText(std::string_view space, std::string_view key) {
    auto value = store_->Get(space, key);
    EXPECT_TRUE(value);
    return *value ? std::string((*value)->begin(), (*value)->end()) : "<none>";
  }
  testing::ScratchDir scratch_;
  const std::filesystem::path& dir_ = scratch_.path();
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformanceTest, PutGetOverwriteDelete) {
  EXPECT_EQ(GetText("records", "k1"), "<none>");
  Put("records", "k1", "v1");
  EXPECT_EQ(GetText("records", "k1"), "v1");
  Put("records", "k1", "v2");
  EXPECT_EQ(GetText("records", "k1"), "v2");
  WriteBatch del;
  del.Delete("records", "k1");
  del.Delete("records", "never-existed");  // deleting a missing key is not an error
  ASSERT_TRUE(store_->Write(std::move(del)));
  EXPECT_EQ(GetText("records", "k1"), "<none>");
}

TEST_P(StoreConformanceTest, EmptyValuesAreValuesNotAbsence) {
  WriteBatch batch;
  batch.Put("index", "present-but-empty", {});
  ASSERT_TRUE(store_->Write(std::move(batch)));
  auto value = store_->Get("index", "present-but-empty");
  ASSERT_TRUE(value && *value);
  EXPECT_TRUE((*value)->empty());
  auto scanned = store_->Scan("index", "", 10);
  ASSERT_TRUE(scanned);
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_TRUE((*scanned)[0].value.empty());
}

TEST_P(StoreConformanceTest, SpacesAreSeparate) {
  Put("records", "k", "in records");
  Put("index", "k", "in index");
  EXPECT_EQ(GetText("records", "k"), "in records");
  EXPECT_EQ(GetText("index", "k"), "in index");
}

TEST_P(StoreConformanceTest, ScanIsByteOrderedAndPaginates) {
  const std::string keys[] = {std::string("\xff", 1), "b", std::string("a\0z", 3), "a", "c"};
  for (const auto& k : keys) Put("s", k, "v" + k);
  Put("other", "a0", "not in s");
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto entries = store_->Scan("s", after, 2);
    ASSERT_TRUE(entries);
    if (entries->empty()) break;
    for (const auto& e : *entries) seen.push_back(e.key);
    after = entries->back().key;
  }
  const std::vector<std::string> expected = {"a", std::string("a\0z", 3), "b", "c",
                                             std::string("\xff", 1)};
  EXPECT_EQ(seen, expected);
}

TEST_P(StoreConformanceTest, BatchesAreAllOrNothing) {
  WriteBatch bad;
  bad.Put("s", "first", B("would be written"));
  bad.Put("s", "second", Bytes(kMaxValueBytes + 1, 'x'));  // refused inside the batch
  const auto result = store_->Write(std::move(bad));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(GetText("s", "first"), "<none>");
  Put("s", "after", "ok");  // the store is still usable
  EXPECT_EQ(GetText("s", "after"), "ok");
}

TEST_P(StoreConformanceTest, AcknowledgedWritesSurviveReopen) {
  WriteBatch batch;
  for (int i = 0; i < 100; ++i) batch.Put("s", "k" + std::to_string(i), B("v" + std::to_string(i)));
  ASSERT_TRUE(store_->Write(std::move(batch)));
  Reopen();
  EXPECT_EQ(GetText("s", "k0"), "v0");
  EXPECT_EQ(GetText("s", "k99"), "v99");
  auto all = store_->Scan("s", "", 1000);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 100u);
}

TEST_P(StoreConformanceTest, ConcurrentWritersShareCommitsAndLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kWritesPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        WriteBatch batch;
        batch.Put("s", "t" + std::to_string(t) + "-" + std::to_string(i), B("x"));
        if (!store_->Write(std::move(batch))) failures.fetch_add(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const auto stats = store_->stats();
  EXPECT_EQ(stats.batches, static_cast<std::uint64_t>(kThreads * kWritesPerThread));
  // Group commit: writers that arrive during an fsync share the next one.
  EXPECT_LT(stats.commits, stats.batches);
  Reopen();
  auto all = store_->Scan("s", "", 10000);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), static_cast<std::size_t>(kThreads * kWritesPerThread));
}

TEST_P(StoreConformanceTest, FilesArePrivate) {
  Put("s", "k", "v");
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    struct stat st {};
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0077, 0u) << entry.path();
  }
}

TEST_P(StoreConformanceTest, AfterACheckpointDeletedBytesAreInNoFile) {
  const std::string secret = "wrapped-key-bytes-0123456789abcdef";
  Put("keys", "dek/acme/sub_a/1", secret);
  Put("keys", "other", "kept-value-fedcba9876543210");
  WriteBatch batch;
  batch.Delete("keys", "dek/acme/sub_a/1");
  ASSERT_TRUE(store_->Write(std::move(batch)));
  ASSERT_TRUE(store_->Checkpoint());
  const auto files_holding = [&](std::string_view needle) {
    int found = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string data((std::istreambuf_iterator<char>(in)), {});
      found += data.find(needle) != std::string::npos;
    }
    return found;
  };
  EXPECT_EQ(files_holding(secret), 0);
  EXPECT_EQ(files_holding("kept-value-fedcba9876543210"), 1);  // in the main file only
  EXPECT_EQ(GetText("keys", "other"), "kept-value-fedcba9876543210");
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformanceTest,
    ::testing::Values(Backend{"sqlite",
                              [](const std::filesystem::path& dir) {
                                return OpenSqliteStore(dir / "store.db");
                              }},
                      // The same contract with a read cache in front (read_cache_test.cc tests
                      // what the cache adds).
                      Backend{"sqlite_cached",
                              [](const std::filesystem::path& dir) {
                                return OpenSqliteStore(dir / "store.db",
                                                       {.read_cache_bytes = 1 << 20});
                              }}),
    [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace strongroom::storage
