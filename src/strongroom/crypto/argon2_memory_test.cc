#include "strongroom/crypto/argon2_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "strongroom/crypto/password_hash.h"

namespace strongroom::crypto {
namespace {

// The server's default cost (19 MiB: 4,864 pages) and a smaller one.
const Argon2idParams kDefault{};
const Argon2idParams kSmaller{.iterations = 1, .memory_bytes = 8 << 20};
constexpr long kPagesOfDefault = (19 << 20) / 4096;

// Where transparent huge pages are "always", Argon2's populated mapping is faulted in as 2 MiB
// pages and the counts below do not apply (this project's machines say "madvise").
bool FaultsCountSmallPages() {
  std::ifstream setting("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string text;
  std::getline(setting, text);
  return text.find("[always]") == std::string::npos;
}

long MinorFaultsOfThisThread() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// Runs `body` on a thread of its own (a kept mapping lasts as long as its thread).
template <class Body>
void OnNewThread(Body body) {
  std::thread thread(body);
  thread.join();
}

bool AllZero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// The process's mappings as [start, end) pairs, from /proc/self/maps.
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> Mappings() {
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream range(line);
    range >> std::hex >> start >> dash >> end;
    ranges.emplace_back(start, end);
  }
  return ranges;
}

// Whether any mapping covers `address` (neighbouring mappings may share a line).
bool Mapped(const void* address) {
  const auto wanted = reinterpret_cast<std::uintptr_t>(address);
  return std::ranges::any_of(Mappings(),
                             [&](const auto& r) { return wanted >= r.first && wanted < r.second; });
}

// Whether exactly this range is a mapping of its own (the kept one is: its flags differ from
// its neighbours').
bool MappedExactly(std::span<const std::uint8_t> range) {
  const auto start = reinterpret_cast<std::uintptr_t>(range.data());
  return std::ranges::any_of(Mappings(), [&](const auto& r) {
    return r.first == start && r.second == start + range.size();
  });
}

TEST(Argon2MemoryTest, AKeepingThreadFaultsItsMemoryInOnceNotAtEveryHash) {
  if (!FaultsCountSmallPages()) GTEST_SKIP() << "transparent huge pages are always on";
  long kept_faults = 0;
  long fresh_faults = 0;
  OnNewThread([&] {
    KeepArgon2MemoryOnThisThread();
    ASSERT_TRUE(HashPassword("a long enough passphrase", kDefault));  // maps and faults it in
    const long before = MinorFaultsOfThisThread();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(HashPassword("a long enough passphrase", kDefault));
    kept_faults = MinorFaultsOfThisThread() - before;
  });
  OnNewThread([&] {  // the same on a thread that did not ask: a fresh mapping each time
    ASSERT_TRUE(HashPassword("a long enough passphrase", kDefault));
    const long before = MinorFaultsOfThisThread();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(HashPassword("a long enough passphrase", kDefault));
    fresh_faults = MinorFaultsOfThisThread() - before;
  });
  EXPECT_GE(fresh_faults, 3 * kPagesOfDefault);
  EXPECT_LT(kept_faults, 3 * kPagesOfDefault / 8) << "fresh: " << fresh_faults;
}

TEST(Argon2MemoryTest, TheKeptMemoryIsWipedAfterEveryHashAndVerification) {
  OnNewThread([] {
    EXPECT_TRUE(KeptArgon2MemoryForTesting().empty());
    KeepArgon2MemoryOnThisThread();
    EXPECT_TRUE(KeptArgon2MemoryForTesting().empty());  // nothing is mapped before a hash
    auto phc = HashPassword("a long enough passphrase", kDefault);
    ASSERT_TRUE(phc);
    ASSERT_EQ(KeptArgon2MemoryForTesting().size(), kDefault.memory_bytes);
    EXPECT_TRUE(AllZero(KeptArgon2MemoryForTesting()));
    EXPECT_EQ(VerifyPassword(*phc, "the wrong passphrase"), false);
    EXPECT_TRUE(AllZero(KeptArgon2MemoryForTesting()));
    EXPECT_EQ(VerifyPassword(*phc, "a long enough passphrase"), true);
    EXPECT_TRUE(AllZero(KeptArgon2MemoryForTesting()));
  });
}

// The same answers with and without the kept memory, across threads, and for the reference
// implementation's hash (password_hash_test.cc has its provenance).
TEST(Argon2MemoryTest, KeptAndFreshMemoryGiveTheSameAnswers) {
  const std::string reference =
      "$argon2id$v=19$m=19456,t=2,p=1$c3Ryb25ncm9vbXNhbHQxNg$"
      "fBcZzBJ9As5e3womowar4nBDOSgszAaTWmL57GYKBFs";
  Result<std::string> made_kept = Fail(ErrorCode::kInternal, "not run");
  OnNewThread([&] {
    KeepArgon2MemoryOnThisThread();
    EXPECT_EQ(VerifyPassword(reference, "correct horse battery staple"), true);
    EXPECT_EQ(VerifyPassword(reference, "correct horse battery stapl"), false);
    EXPECT_EQ(VerifyPassword(reference, "correct horse battery staple"), true);
    made_kept = HashPassword("kept memory passphrase", kDefault);
  });
  ASSERT_TRUE(made_kept);
  auto made_fresh = HashPassword("fresh memory passphrase", kDefault);
  ASSERT_TRUE(made_fresh);
  EXPECT_EQ(VerifyPassword(*made_kept, "kept memory passphrase"), true);  // on this thread
  EXPECT_EQ(VerifyPassword(*made_kept, "fresh memory passphrase"), false);
  OnNewThread([&] {
    KeepArgon2MemoryOnThisThread();
    EXPECT_EQ(VerifyPassword(*made_fresh, "fresh memory passphrase"), true);
    EXPECT_EQ(VerifyPassword(*made_fresh, "kept memory passphrase"), false);
  });
}

// The mapping grows to the largest cost served and is lent whole to smaller ones, so that
// verifying an old hash and rehashing it with the new cost does not remap twice per sign-in.
TEST(Argon2MemoryTest, TheKeptMappingGrowsToTheLargestCostAndEndsWithItsThread) {
  std::span<const std::uint8_t> kept;
  OnNewThread([&] {
    KeepArgon2MemoryOnThisThread();
    auto small = HashPassword("a long enough passphrase", kSmaller);
    ASSERT_TRUE(small);
    EXPECT_EQ(KeptArgon2MemoryForTesting().size(), kSmaller.memory_bytes);
    auto large = HashPassword("a long enough passphrase", kDefault);
    ASSERT_TRUE(large);
    kept = KeptArgon2MemoryForTesting();
    EXPECT_EQ(kept.size(), kDefault.memory_bytes);
    EXPECT_EQ(VerifyPassword(*small, "a long enough passphrase"), true);  // lent the 19 MiB
    EXPECT_EQ(VerifyPassword(*small, "another passphrase"), false);
    EXPECT_EQ(KeptArgon2MemoryForTesting().data(), kept.data());
    EXPECT_EQ(KeptArgon2MemoryForTesting().size(), kDefault.memory_bytes);
    EXPECT_TRUE(AllZero(KeptArgon2MemoryForTesting()));
    EXPECT_EQ(VerifyPassword(*large, "a long enough passphrase"), true);
    EXPECT_TRUE(MappedExactly(kept));
  });
  ASSERT_FALSE(kept.empty());
  EXPECT_FALSE(MappedExactly(kept));  // unmapped when the thread ended
}

// Unmapping part of the kept mapping from outside a hash (nothing does; a future libsodium
// might) makes the thread forget it and unmap it whole; the next hash maps a new one.
TEST(Argon2MemoryTest, AKeptMappingUnmappedInPartIsForgottenWhole) {
  OnNewThread([] {
    KeepArgon2MemoryOnThisThread();
    ASSERT_TRUE(HashPassword("a long enough passphrase", kDefault));
    const auto kept = KeptArgon2MemoryForTesting();
    ASSERT_TRUE(MappedExactly(kept));
    EXPECT_EQ(::munmap(const_cast<std::uint8_t*>(kept.data()) + 4096, 4096), 0);
    EXPECT_TRUE(KeptArgon2MemoryForTesting().empty());
    EXPECT_FALSE(Mapped(kept.data()));
    EXPECT_FALSE(Mapped(kept.data() + kept.size() - 1));
    auto phc = HashPassword("a long enough passphrase", kDefault);
    ASSERT_TRUE(phc);
    EXPECT_EQ(VerifyPassword(*phc, "a long enough passphrase"), true);
    EXPECT_EQ(KeptArgon2MemoryForTesting().size(), kDefault.memory_bytes);
  });
}

// Outside a hash, a mapping of exactly the kept size is a mapping of its own, and unmapping it
// unmaps it: the wrappers lend nothing to anyone else.
TEST(Argon2MemoryTest, OtherMappingsOnAKeepingThreadAreLeftAlone) {
  OnNewThread([] {
    KeepArgon2MemoryOnThisThread();
    ASSERT_TRUE(HashPassword("a long enough passphrase", kDefault));
    const auto kept = KeptArgon2MemoryForTesting();
    void* own =
        ::mmap(nullptr, kept.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(own, MAP_FAILED);
    EXPECT_NE(own, static_cast<const void*>(kept.data()));
    EXPECT_TRUE(Mapped(own));
    EXPECT_EQ(::munmap(own, kept.size()), 0);
    EXPECT_FALSE(Mapped(own));
    EXPECT_EQ(KeptArgon2MemoryForTesting().data(), kept.data());
    EXPECT_TRUE(Mapped(kept.data()));
  });
}

}  // namespace
}  // namespace strongroom::crypto
