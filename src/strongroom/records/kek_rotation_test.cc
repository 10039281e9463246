#include "strongroom/records/kek_rotation.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "strongroom/barrier/data_barrier.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"
#include "support/sealed_vault.h"

namespace strongroom::records {
namespace {

constexpr std::string_view kTenant = "ten_acme";

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

class KekRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto metadata = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(metadata);
    metadata_ = std::move(*metadata);
    seal_ = strongroom::testing::MakeSealState(scratch_.path(), *metadata_);
    ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
    storage::WriteBatch batch;
    ASSERT_TRUE(seal_->keys()->keyring->AddTenantKeys(kTenant, batch));
    ASSERT_TRUE(metadata_->Write(std::move(batch)));
    for (int i = 0; i < 10; ++i) {
      subjects_.push_back("sub_" + std::to_string(100 + i));
      ASSERT_TRUE(seal_->keys()->barrier->CreateSubjectKey(kTenant, subjects_.back(), {}));
    }
  }

  // Batches of 3 over 10 keys: four batches, the last one short.
  std::unique_ptr<KekRotation> MakeRotation(std::chrono::seconds rotate_after = {}) {
    return std::make_unique<KekRotation>(
        *seal_, *metadata_,
        KekRotation::Options{.rewrap_per_second = 0,
                             .batch = 3,
                             .rotate_after = rotate_after,
                             .check_every = std::chrono::milliseconds(20),
                             .clock = [this] { return now_.load(); },
                             .notify =
                                 [this](const KekRotation::Notice& notice) {
                                   std::lock_guard lock(notices_mu_);
                                   notices_.push_back(notice.action + " v" +
                                                      std::to_string(notice.version) + " " +
                                                      notice.detail);
                                 }},
        metrics_);
  }
  std::vector<std::string> Notices() {
    std::lock_guard lock(notices_mu_);
    return notices_;
  }
  std::uint32_t Current() { return *seal_->keys()->keyring->CurrentKekVersion(kTenant); }

  // Polls (bounded) until the tenant's job is done.
  bool WaitDone(const KekRotation& rotation) {
    for (int i = 0; i < 500; ++i) {
      auto job = rotation.JobOf(kTenant);
      if (job && !job->running()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::map<std::uint32_t, std::uint64_t> Usage() {
    auto usage = seal_->keys()->keyring->Usage(kTenant);
    EXPECT_TRUE(usage);
    return usage ? usage->subject_keys : std::map<std::uint32_t, std::uint64_t>{};
  }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> metadata_;
  std::unique_ptr<barrier::SealState> seal_;
  observe::MetricsRegistry metrics_;
  std::vector<std::string> subjects_;
  std::atomic<std::chrono::system_clock::time_point> now_{std::chrono::system_clock::now()};
  std::mutex notices_mu_;
  std::vector<std::string> notices_;
};

TEST_F(KekRotationTest, ReWrapsEveryKeyButAnErasedSubjectsAndThenRetires) {
  seal_->gate().MarkErased(kTenant, subjects_[4]);
  auto rotation = MakeRotation();
  rotation->Start();
  auto job = rotation->Rotate(kTenant);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->target, 2u);
  EXPECT_TRUE(job->running());
  ASSERT_TRUE(WaitDone(*rotation));
  const auto done = rotation->JobOf(kTenant);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->scanned, 10u);
  EXPECT_EQ(done->moved, 9u);
  EXPECT_EQ(done->cursor, keys::Keyring::DekEntry(kTenant, subjects_.back(), 1));
  // The erased subject's key was not written again (its erasure deletes it).
  EXPECT_EQ(Usage(), (std::map<std::uint32_t, std::uint64_t>{{1, 1}, {2, 9}}));
  auto refused = rotation->Retire(kTenant, 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  storage::WriteBatch erase;
  erase.Delete(keys::kKeysSpace, keys::Keyring::DekEntry(kTenant, subjects_[4], 1));
  ASSERT_TRUE(metadata_->Write(std::move(erase)));
  auto retired = rotation->Retire(kTenant, 1);
  ASSERT_TRUE(retired) << retired.error().message();
  EXPECT_TRUE(*retired);  // checkpointed
  EXPECT_EQ(Usage(), (std::map<std::uint32_t, std::uint64_t>{{2, 9}}));
}

// One damaged entry does not stall the tenant: it is counted and passed, the rest move.
TEST_F(KekRotationTest, ADamagedEntryIsCountedAndPassed) {
  const auto entry = keys::Keyring::DekEntry(kTenant, subjects_[2], 1);
  auto stored = metadata_->Get(keys::kKeysSpace, entry);
  ASSERT_TRUE(stored && *stored);
  (**stored)[30] ^= 0x01;
  storage::WriteBatch damage;
  damage.Put(keys::kKeysSpace, entry, **stored);
  ASSERT_TRUE(metadata_->Write(std::move(damage)));
  auto rotation = MakeRotation();
  rotation->Start();
  ASSERT_TRUE(rotation->Rotate(kTenant));
  ASSERT_TRUE(WaitDone(*rotation));
  const auto done = rotation->JobOf(kTenant);
  EXPECT_EQ(done->scanned, 10u);
  EXPECT_EQ(done->moved, 9u);
  EXPECT_EQ(done->damaged, 1u);
  EXPECT_EQ(Usage(), (std::map<std::uint32_t, std::uint64_t>{{1, 1}, {2, 9}}));
  rotation->Stop();
  auto reloaded = MakeRotation();  // the count is in the job's record
  ASSERT_TRUE(reloaded->Load());
  EXPECT_EQ(reloaded->JobOf(kTenant)->damaged, 1u);
}

TEST_F(KekRotationTest, AJobLeftByAStoppedRunResumesFromItsRecord) {
  {
    auto first = MakeRotation();  // never started: as if killed right after the rotation
    ASSERT_TRUE(first->Rotate(kTenant));
  }
  auto second = MakeRotation();
  ASSERT_TRUE(second->Load());
  auto job = second->JobOf(kTenant);
  ASSERT_TRUE(job);
  EXPECT_TRUE(job->running());
  EXPECT_EQ(job->scanned, 0u);
  auto busy = second->Retire(kTenant, 1);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kFailedPrecondition);
  second->Start();
  ASSERT_TRUE(WaitDone(*second));
  EXPECT_EQ(second->JobOf(kTenant)->scanned, 10u);
  EXPECT_EQ(Usage(), (std::map<std::uint32_t, std::uint64_t>{{1, 0}, {2, 10}}));
  // A third run finds the job done: nothing runs again.
  auto third = MakeRotation();
  ASSERT_TRUE(third->Load());
  EXPECT_FALSE(third->JobOf(kTenant)->running());
}

TEST_F(KekRotationTest, ASecondRotationRetargetsTheJobAndSealedItRefuses) {
  auto rotation = MakeRotation();
  ASSERT_TRUE(rotation->Rotate(kTenant));
  auto again = rotation->Rotate(kTenant);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->target, 3u);
  rotation->Start();
  ASSERT_TRUE(WaitDone(*rotation));
  EXPECT_EQ(rotation->JobOf(kTenant)->target, 3u);
  EXPECT_EQ(Usage(), (std::map<std::uint32_t, std::uint64_t>{{1, 0}, {2, 0}, {3, 10}}));
  ASSERT_TRUE(rotation->Retire(kTenant, 1));
  ASSERT_TRUE(rotation->Retire(kTenant, 2));
  auto missing = rotation->Retire(kTenant, 2);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  seal_->Seal();
  auto sealed = rotation->Rotate(kTenant);
  ASSERT_FALSE(sealed);
  EXPECT_EQ(sealed.error().code(), ErrorCode::kSealed);
  rotation->Stop();
}

// With an injected clock: a tenant first seen is counted from then; past `rotate_after` its KEK
// is rotated and re-wrapped, and both acts are reported for the audit trail; then not again.
TEST_F(KekRotationTest, AKekOlderThanRotateAfterIsRotatedOnce) {
  auto rotation = MakeRotation(std::chrono::days(30));
  rotation->Start();
  const auto recorded = [&] { return metadata_->Get(kKekAges, kTenant).value().has_value(); };
  for (int i = 0; i < 500 && !recorded(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(recorded());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Current(), 1u);  // 0 days old
  now_ = now_.load() + std::chrono::days(29);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Current(), 1u);
  now_ = now_.load() + std::chrono::days(2);
  for (int i = 0; i < 500 && Current() == 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Current(), 2u);
  ASSERT_TRUE(WaitDone(*rotation));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // more checks: nothing is due
  EXPECT_EQ(Current(), 2u);
  rotation->Stop();
  EXPECT_EQ(Notices(), (std::vector<std::string>{"key.auto_rotate v2 age",
                                                 "key.rewrap_finished v2 10 subject keys moved"}));
}

// A subject key past half its budget rotates the tenant's KEK: the subject's next writes use a
// fresh key of the new version. A late request for the old version rotates nothing more.
TEST_F(KekRotationTest, AKeyPastHalfItsBudgetRotatesTheTenantKek) {
  seal_->Seal();
  seal_ = strongroom::testing::MakeSealState(
      scratch_.path(), *metadata_, barrier::SealState::Options{.max_encryptions_per_key = 16'384});
  auto rotation = MakeRotation();
  seal_->OnKeyHalfSpent([&rotation](std::string_view tenant, std::uint32_t version) {
    rotation->RequestRotation(tenant, version);
  });
  ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
  rotation->Start();
  const std::string value = "a value";
  std::vector<std::vector<std::uint8_t>> outs(1000);
  std::vector<std::string> record_ids;  // FieldLocation holds views: the ids must outlive it
  for (std::size_t i = 0; i < outs.size(); ++i) record_ids.push_back("rec_" + std::to_string(i));
  std::vector<barrier::EncryptItem> items;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    items.push_back({{kTenant, "people", record_ids[i], "note"}, Bytes(value), &outs[i]});
  }
  auto* barrier = seal_->keys()->barrier.get();
  // A fresh key has 4096 encryptions reserved, then 4096 past what is used at a time: the
  // reservation at 4000 used goes to 8096, the one at 8000 used to 12096, past half of 16384.
  ASSERT_TRUE(barrier->CreateSubjectKey(kTenant, "sub_fresh", {}));
  for (int round = 0; round < 8; ++round) {
    ASSERT_TRUE(barrier->Encrypt(kTenant, "sub_fresh", items));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Current(), 1u);
  ASSERT_TRUE(barrier->Encrypt(kTenant, "sub_fresh", items));
  for (int i = 0; i < 500 && Current() == 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Current(), 2u);
  ASSERT_TRUE(WaitDone(*rotation));
  ASSERT_TRUE(barrier->Encrypt(kTenant, "sub_fresh", items));
  // The header names the key version in bytes 1-4 (docs/formats/field-ciphertext-v1.md).
  EXPECT_EQ(std::vector<std::uint8_t>(outs[0].begin() + 1, outs[0].begin() + 5),
            (std::vector<std::uint8_t>{0, 0, 0, 2}));
  rotation->RequestRotation(kTenant, 1);  // stale: v2 is current already
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Current(), 2u);
  rotation->Stop();
  EXPECT_EQ(Notices().front(), "key.auto_rotate v2 key_budget");
}

}  // namespace
}  // namespace strongroom::records
