#include "strongroom/keys/pkcs11/pkcs11_root_key.h"

// A real PKCS#11 token: SoftHSM2 (scripts/install-deps --test), with its token directory in the
// test's scratch directory. p11-kit is used directly here only to look at the key the provider
// made, the way an auditor would with pkcs11-tool.
#include <gtest/gtest.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "strongroom/crypto/random.h"
#include "strongroom/keys/sealed_key_file.h"
#include "support/scratch_dir.h"

namespace strongroom::keys {
namespace {

constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr std::string_view kPin = "246813";

std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

class Pkcs11RootKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kModule))
        << kModule << " is missing: install softhsm2 (scripts/install-deps --test)";
    InitToken("strongroom-test", kPin);
  }

  // A fresh token in this test's own token directory (SOFTHSM2_CONF is read at C_Initialize).
  void InitToken(const std::string& label, std::string_view pin) {
    const auto tokens = scratch_ / "tokens";
    std::filesystem::create_directories(tokens);
    const auto conf = scratch_ / "softhsm2.conf";
    std::ofstream(conf) << "directories.tokendir = " << tokens.string()
                        << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): one test thread
    const std::string command = "softhsm2-util --init-token --free --label " + label + " --pin " +
                                std::string(pin) + " --so-pin 97531864 > /dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0);  // NOLINT(concurrency-mt-unsafe)
  }

  Pkcs11RootKeyProvider Provider(const std::string& key_label = "strongroom-root-wrap",
                                 const std::string& token = "strongroom-test") {
    return {file_, Pkcs11Settings{.module = kModule, .token_label = token, .key_label = key_label}};
  }

  SecretBytes RandomRoot() {
    auto root = crypto::RandomSecret(kRootKeySize);
    EXPECT_TRUE(root);
    return std::move(*root);
  }

  std::vector<std::uint8_t> ReadFile() {
    std::ifstream in(file_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void WriteFile(const std::vector<std::uint8_t>& bytes) {
    std::ofstream(file_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }

  testing::ScratchDir scratch_;
  const std::filesystem::path file_ = scratch_ / "root.p11";
};

// Looks at the token as an outsider: logs in and runs `body` with the session.
template <typename Body>
void WithSession(Body body) {
  CK_FUNCTION_LIST* module = p11_kit_module_load(kModule, 0);
  ASSERT_NE(module, nullptr);
  ASSERT_EQ(p11_kit_module_initialize(module), CKR_OK);
  std::array<CK_SLOT_ID, 4> slots{};
  CK_ULONG count = slots.size();
  ASSERT_EQ(module->C_GetSlotList(CK_TRUE, slots.data(), &count), CKR_OK);
  // SoftHSM2 always offers one more, uninitialised, token: the test's is the initialised one.
  std::optional<CK_SLOT_ID> slot;
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_TOKEN_INFO info{};
    ASSERT_EQ(module->C_GetTokenInfo(slots[i], &info), CKR_OK);
    if ((info.flags & CKF_TOKEN_INITIALIZED) != 0) {
      ASSERT_FALSE(slot) << "one initialised token expected";
      slot = slots[i];
    }
  }
  ASSERT_TRUE(slot);
  CK_SESSION_HANDLE session = 0;
  ASSERT_EQ(
      module->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session),
      CKR_OK);
  std::string pin(kPin);
  ASSERT_EQ(
      module->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()), pin.size()),
      CKR_OK);
  body(*module, session);
  module->C_Logout(session);
  module->C_CloseSession(session);
  p11_kit_module_finalize(module);
  p11_kit_module_release(module);
}

std::vector<CK_OBJECT_HANDLE> FindByLabel(CK_FUNCTION_LIST& module, CK_SESSION_HANDLE session,
                                          std::string label) {
  CK_ATTRIBUTE search{CKA_LABEL, label.data(), label.size()};
  EXPECT_EQ(module.C_FindObjectsInit(session, &search, 1), CKR_OK);
  std::array<CK_OBJECT_HANDLE, 8> found{};
  CK_ULONG count = 0;
  EXPECT_EQ(module.C_FindObjects(session, found.data(), found.size(), &count), CKR_OK);
  module.C_FindObjectsFinal(session);
  return {found.begin(), found.begin() + static_cast<std::ptrdiff_t>(count)};
}

TEST_F(Pkcs11RootKeyTest, TheTokenWrapsTheRootKeyWithAKeyThatCannotLeaveIt) {
  const auto provider = Provider();
  EXPECT_EQ(provider.kind(), "pkcs11");
  const SecretBytes root = RandomRoot();
  auto adopted = provider.Adopt(root.reveal(), AsBytes(kPin));
  ASSERT_TRUE(adopted) << adopted.error().message();

  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), kPkcs11RootKeyFileSize);
  const auto file = ReadFile();
  EXPECT_TRUE(std::equal(file.begin(), file.begin() + 8, "SRP11RK1"));
  EXPECT_EQ(std::search(file.begin(), file.end(), root.reveal().begin(), root.reveal().end()),
            file.end());

  auto unsealed = provider.Unseal(AsBytes(kPin));
  ASSERT_TRUE(unsealed) << unsealed.error().message();
  EXPECT_TRUE(std::ranges::equal(unsealed->reveal(), root.reveal()));
  // Again, through a second provider object (a restart): the same key.
  auto again = Provider().Unseal(AsBytes(kPin));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(std::ranges::equal(again->reveal(), root.reveal()));

  WithSession([](CK_FUNCTION_LIST& module, CK_SESSION_HANDLE session) {
    const auto keys = FindByLabel(module, session, "strongroom-root-wrap");
    ASSERT_EQ(keys.size(), 1u);
    CK_BBOOL extractable = CK_TRUE;
    CK_BBOOL sensitive = CK_FALSE;
    CK_BBOOL on_token = CK_FALSE;
    CK_BBOOL is_private = CK_FALSE;
    CK_ULONG length = 0;
    std::array<CK_ATTRIBUTE, 5> wanted = {{{CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
                                           {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
                                           {CKA_TOKEN, &on_token, sizeof(on_token)},
                                           {CKA_PRIVATE, &is_private, sizeof(is_private)},
                                           {CKA_VALUE_LEN, &length, sizeof(length)}}};
    ASSERT_EQ(module.C_GetAttributeValue(session, keys[0], wanted.data(), wanted.size()), CKR_OK);
    EXPECT_EQ(extractable, CK_FALSE);
    EXPECT_EQ(sensitive, CK_TRUE);
    EXPECT_EQ(on_token, CK_TRUE);
    EXPECT_EQ(is_private, CK_TRUE);
    EXPECT_EQ(length, 32u);
    // Its value cannot be read out, even logged in.
    std::array<std::uint8_t, 32> value{};
    CK_ATTRIBUTE read{CKA_VALUE, value.data(), value.size()};
    EXPECT_EQ(module.C_GetAttributeValue(session, keys[0], &read, 1), CKR_ATTRIBUTE_SENSITIVE);
  });
}

TEST_F(Pkcs11RootKeyTest, AWrongPinIsRefusedWithoutSayingMore) {
  const auto provider = Provider();
  const SecretBytes root = RandomRoot();
  ASSERT_TRUE(provider.Adopt(root.reveal(), AsBytes(kPin)));
  auto wrong = provider.Unseal(AsBytes("135792"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(wrong.error().message(), "unseal failed: wrong PIN for the PKCS#11 token");
  EXPECT_EQ(provider.Unseal({}).error().code(), ErrorCode::kPermissionDenied);
  // Adopting needs the PIN too.
  std::filesystem::remove(file_);
  auto adopted = provider.Adopt(root.reveal(), AsBytes("135792"));
  ASSERT_FALSE(adopted);
  EXPECT_EQ(adopted.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(std::filesystem::exists(file_));
}

TEST_F(Pkcs11RootKeyTest, AnAlteredFileOrAnotherKeyDoesNotOpen) {
  const SecretBytes root = RandomRoot();
  ASSERT_TRUE(Provider().Adopt(root.reveal(), AsBytes(kPin)));
  const auto good = ReadFile();
  for (std::size_t at : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{19},
                         std::size_t{20}, std::size_t{51}, std::size_t{52}, good.size() - 1}) {
    auto bad = good;
    bad[at] ^= 0x01;
    WriteFile(bad);
    auto opened = Provider().Unseal(AsBytes(kPin));
    ASSERT_FALSE(opened) << "byte " << at;
    // The magic is checked first (data_loss); everything after it is the token's to refuse.
    EXPECT_EQ(opened.error().code(), at < 8 ? ErrorCode::kDataLoss : ErrorCode::kPermissionDenied)
        << "byte " << at;
  }
  auto shorter = good;
  shorter.pop_back();
  WriteFile(shorter);
  EXPECT_EQ(Provider().Unseal(AsBytes(kPin)).error().code(), ErrorCode::kDataLoss);

  // The same file under another key of the token (another label): the tag does not check.
  WriteFile(good);
  const auto other = Provider("another-wrap");
  const auto other_file = scratch_ / "other.p11";
  Pkcs11RootKeyProvider maker(other_file, Pkcs11Settings{.module = kModule,
                                                         .token_label = "strongroom-test",
                                                         .key_label = "another-wrap"});
  ASSERT_TRUE(maker.Adopt(root.reveal(), AsBytes(kPin)));  // makes the key "another-wrap"
  auto crossed = other.Unseal(AsBytes(kPin));
  ASSERT_FALSE(crossed);
  EXPECT_EQ(crossed.error().code(), ErrorCode::kPermissionDenied);
  ASSERT_TRUE(Provider().Unseal(AsBytes(kPin)));
}

TEST_F(Pkcs11RootKeyTest, SetupMistakesAreNamed) {
  const SecretBytes root = RandomRoot();
  ASSERT_TRUE(Provider().Adopt(root.reveal(), AsBytes(kPin)));

  auto no_token = Provider("strongroom-root-wrap", "no-such-token").Unseal(AsBytes(kPin));
  ASSERT_FALSE(no_token);
  EXPECT_EQ(no_token.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(no_token.error().message().find("no PKCS#11 token labelled 'no-such-token'"),
            std::string::npos)
      << no_token.error().message();

  auto no_key = Provider("no-such-key").Unseal(AsBytes(kPin));
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(no_key.error().message().find("no AES key labelled 'no-such-key'"), std::string::npos);

  Pkcs11RootKeyProvider no_module(file_, Pkcs11Settings{.module = scratch_ / "missing.so",
                                                        .token_label = "strongroom-test",
                                                        .key_label = "strongroom-root-wrap"});
  auto unloaded = no_module.Unseal(AsBytes(kPin));
  ASSERT_FALSE(unloaded);
  EXPECT_EQ(unloaded.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(unloaded.error().message().find("cannot load PKCS#11 module"), std::string::npos);

  Pkcs11RootKeyProvider no_file(scratch_ / "absent.p11",
                                Pkcs11Settings{.module = kModule,
                                               .token_label = "strongroom-test",
                                               .key_label = "strongroom-root-wrap"});
  auto absent = no_file.Unseal(AsBytes(kPin));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(absent.error().message().find("absent.p11"), std::string::npos);

  // Never replaces a root key file; never takes a root key of the wrong size.
  auto replaced = Provider().Adopt(root.reveal(), AsBytes(kPin));
  ASSERT_FALSE(replaced);
  EXPECT_EQ(replaced.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(no_file.Adopt(root.reveal().first(16), AsBytes(kPin)).error().code(),
            ErrorCode::kInvalidArgument);
}

// Makes an AES key in the token the way an operator might have, outside Strongroom.
void MakeKey(const std::string& label, CK_ULONG length, bool extractable, bool sensitive) {
  WithSession([&](CK_FUNCTION_LIST& module, CK_SESSION_HANDLE session) {
    CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL can_extract = extractable ? CK_TRUE : CK_FALSE;
    CK_BBOOL is_sensitive = sensitive ? CK_TRUE : CK_FALSE;
    std::string label_copy = label;
    std::array<CK_ATTRIBUTE, 8> attributes = {{{CKA_VALUE_LEN, &length, sizeof(length)},
                                               {CKA_LABEL, label_copy.data(), label_copy.size()},
                                               {CKA_TOKEN, &yes, sizeof(yes)},
                                               {CKA_PRIVATE, &yes, sizeof(yes)},
                                               {CKA_EXTRACTABLE, &can_extract, sizeof(can_extract)},
                                               {CKA_SENSITIVE, &is_sensitive, sizeof(is_sensitive)},
                                               {CKA_ENCRYPT, &yes, sizeof(yes)},
                                               {CKA_DECRYPT, &yes, sizeof(yes)}}};
    CK_OBJECT_HANDLE key = 0;
    ASSERT_EQ(module.C_GenerateKey(session, &mechanism, attributes.data(), attributes.size(), &key),
              CKR_OK);
  });
}

TEST_F(Pkcs11RootKeyTest, OnlyAnAes256KeyThatNeverLeftTheTokenIsUsed) {
  MakeKey("extractable", 32, /*extractable=*/true, /*sensitive=*/true);
  MakeKey("not-sensitive", 32, /*extractable=*/false, /*sensitive=*/false);
  MakeKey("aes-128", 16, /*extractable=*/false, /*sensitive=*/true);
  MakeKey("operator-made", 32, /*extractable=*/false, /*sensitive=*/true);
  const SecretBytes root = RandomRoot();
  for (const std::string label : {"extractable", "not-sensitive", "aes-128"}) {
    auto adopted = Provider(label).Adopt(root.reveal(), AsBytes(kPin));
    ASSERT_FALSE(adopted) << label;
    EXPECT_EQ(adopted.error().code(), ErrorCode::kFailedPrecondition) << label;
    EXPECT_NE(adopted.error().message().find("never left the token"), std::string::npos)
        << adopted.error().message();
    EXPECT_FALSE(std::filesystem::exists(file_)) << label;
  }
  // A key the operator made right (AES-256, never extractable, always sensitive) is used.
  auto adopted = Provider("operator-made").Adopt(root.reveal(), AsBytes(kPin));
  ASSERT_TRUE(adopted) << adopted.error().message();
  auto unsealed = Provider("operator-made").Unseal(AsBytes(kPin));
  ASSERT_TRUE(unsealed);
  EXPECT_TRUE(std::ranges::equal(unsealed->reveal(), root.reveal()));
}

// Moving between providers keeps the root key: what `strongroom rekey --to` does.
TEST_F(Pkcs11RootKeyTest, TheSameRootKeyMovesBetweenProviders) {
  const auto sealed_path = scratch_ / "root.sealed";
  auto root =
      CreateSealedKeyFile(sealed_path, AsBytes("a sealed file passphrase"),
                          crypto::Argon2idParams{.iterations = 1, .memory_bytes = 8ull << 20});
  ASSERT_TRUE(root);
  SealedFileRootKeyProvider sealed(sealed_path);
  auto opened = sealed.Unseal(AsBytes("a sealed file passphrase"));
  ASSERT_TRUE(opened);
  ASSERT_TRUE(Provider().Adopt(opened->reveal(), AsBytes(kPin)));
  auto from_token = Provider().Unseal(AsBytes(kPin));
  ASSERT_TRUE(from_token);
  EXPECT_TRUE(std::ranges::equal(from_token->reveal(), root->reveal()));

  SealedFileRootKeyProvider back(scratch_ / "back.sealed");
  ASSERT_TRUE(back.Adopt(from_token->reveal(), AsBytes("another sealed passphrase")));
  auto round_trip = back.Unseal(AsBytes("another sealed passphrase"));
  ASSERT_TRUE(round_trip);
  EXPECT_TRUE(std::ranges::equal(round_trip->reveal(), root->reveal()));
  EXPECT_EQ(back.Adopt(from_token->reveal(), AsBytes("x")).error().code(),
            ErrorCode::kAlreadyExists);
}

}  // namespace
}  // namespace strongroom::keys
