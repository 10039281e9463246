#include "strongroom/keys/sealed_key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <vector>

#include "support/scratch_dir.h"

namespace strongroom::keys {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// Small Argon2id parameters keep the tests fast; production uses kDefaultSealingParams.
constexpr crypto::Argon2idParams kFast{.iterations = 1, .memory_bytes = 8ull << 20};

class SealedKeyFileTest : public ::testing::Test {
 protected:
  std::vector<std::uint8_t> ReadFile() {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void WriteFile(const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  testing::ScratchDir scratch_;
  const std::filesystem::path path_ = scratch_ / "root.sealed";
  const std::vector<std::uint8_t> passphrase_ = Bytes("correct horse battery staple");
};

TEST_F(SealedKeyFileTest, UnsealReturnsTheSealedRootKey) {
  auto root = CreateSealedKeyFile(path_, passphrase_, kFast);
  ASSERT_TRUE(root) << root.error().message();
  EXPECT_EQ(root->size(), kRootKeySize);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), kSealedKeyFileSize);
  const auto file = ReadFile();
  EXPECT_EQ(std::search(file.begin(), file.end(), root->reveal().begin(), root->reveal().end()),
            file.end());  // the root key is not in the file in the clear
  auto unsealed = UnsealKeyFile(path_, passphrase_);
  ASSERT_TRUE(unsealed);
  EXPECT_TRUE(std::equal(unsealed->reveal().begin(), unsealed->reveal().end(),
                         root->reveal().begin(), root->reveal().end()));
}

TEST_F(SealedKeyFileTest, WrongPassphraseIsRefusedWithoutDetail) {
  ASSERT_TRUE(CreateSealedKeyFile(path_, passphrase_, kFast));
  const auto refused = UnsealKeyFile(path_, Bytes("correct horse battery stapler"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().message(),
            "unseal failed: wrong passphrase, or the sealed key file was altered");
}

TEST_F(SealedKeyFileTest, EveryAlteredByteIsDetected) {
  ASSERT_TRUE(CreateSealedKeyFile(path_, passphrase_, kFast));
  const auto original = ReadFile();
  for (std::size_t i = 0; i < original.size(); ++i) {
    auto tampered = original;
    tampered[i] ^= 0x01;
    WriteFile(tampered);
    const auto result = UnsealKeyFile(path_, passphrase_);
    ASSERT_FALSE(result) << "byte " << i;
    const auto code = result.error().code();
    EXPECT_TRUE(code == ErrorCode::kPermissionDenied || code == ErrorCode::kDataLoss) << i;
  }
}

TEST_F(SealedKeyFileTest, MalformedAndHostileFilesAreRefusedBeforeKeyDerivation) {
  ASSERT_TRUE(CreateSealedKeyFile(path_, passphrase_, kFast));
  auto file = ReadFile();
  WriteFile({file.begin(), file.end() - 1});
  EXPECT_EQ(UnsealKeyFile(path_, passphrase_).error().code(), ErrorCode::kDataLoss);
  auto huge_memory = file;
  huge_memory[12] = 0xFF;  // claims ~4 TiB of Argon2 memory
  WriteFile(huge_memory);
  const auto refused = UnsealKeyFile(path_, passphrase_);
  EXPECT_EQ(refused.error().code(), ErrorCode::kDataLoss);
  EXPECT_NE(refused.error().message().find("outside safe bounds"), std::string::npos);
  std::filesystem::remove(path_);
  EXPECT_EQ(UnsealKeyFile(path_, passphrase_).error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(SealedKeyFileTest, NeverReplacesAnExistingKeyAndRefusesEmptyPassphrase) {
  ASSERT_TRUE(CreateSealedKeyFile(path_, passphrase_, kFast));
  const auto before = ReadFile();
  EXPECT_EQ(CreateSealedKeyFile(path_, passphrase_, kFast).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(), before);
  std::filesystem::remove(path_);
  EXPECT_EQ(CreateSealedKeyFile(path_, {}, kFast).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SealedKeyFileTest, ResealingKeepsTheRootKeyUnderTheNewPassphraseOnly) {
  auto root = CreateSealedKeyFile(path_, passphrase_, kFast);
  ASSERT_TRUE(root);
  const auto before = ReadFile();
  const auto fresh = Bytes("a brand new passphrase 2026");

  // Refusals leave the file as it was.
  auto wrong_old = ResealKeyFile(path_, Bytes("not the passphrase"), fresh, kFast);
  ASSERT_FALSE(wrong_old);
  EXPECT_EQ(wrong_old.error().code(), ErrorCode::kPermissionDenied);
  auto empty = ResealKeyFile(path_, passphrase_, {}, kFast);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
  auto same = ResealKeyFile(path_, passphrase_, passphrase_, kFast);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadFile(), before);

  ASSERT_TRUE(ResealKeyFile(path_, passphrase_, fresh, kFast));
  const auto after = ReadFile();
  ASSERT_EQ(after.size(), kSealedKeyFileSize);
  // A fresh salt and nonce: nothing of the old sealing is reused.
  EXPECT_FALSE(std::equal(after.begin() + 16, after.begin() + 32, before.begin() + 16));
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto old_refused = UnsealKeyFile(path_, passphrase_);
  ASSERT_FALSE(old_refused);
  EXPECT_EQ(old_refused.error().code(), ErrorCode::kPermissionDenied);
  auto reopened = UnsealKeyFile(path_, fresh);
  ASSERT_TRUE(reopened);
  EXPECT_TRUE(std::ranges::equal(reopened->reveal(), root->reveal()));
}

}  // namespace
}  // namespace strongroom::keys
