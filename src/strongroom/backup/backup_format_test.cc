// Backup format v1 (backup_format.h): where a piece may be opened, the wrapped key, the
// signature, and the manifest parser's refusals.
#include "strongroom/backup/backup_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace strongroom::backup {
namespace {

std::vector<std::uint8_t> Key(std::uint8_t fill) { return std::vector<std::uint8_t>(32, fill); }

TEST(PieceCipher, APieceOpensOnlyWhereItWasSealed) {
  auto cipher = PieceCipher::Create(Key(7), "b1");
  ASSERT_TRUE(cipher.has_value());
  const std::vector<std::uint8_t> plain{'d', 'a', 't', 'a'};
  auto sealed = cipher->Seal("store:profiles", 3, false, plain);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->size(), 12 + plain.size() + 16);
  auto opened = cipher->Open("store:profiles", 3, false, *sealed);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, plain);
  // Another index, stream, final flag, backup or key: data_loss, never the plaintext.
  auto other_backup = PieceCipher::Create(Key(7), "b2");
  auto other_key = PieceCipher::Create(Key(8), "b1");
  ASSERT_TRUE(other_backup.has_value() && other_key.has_value());
  for (auto result : {cipher->Open("store:profiles", 4, false, *sealed),
                      cipher->Open("store:activity", 3, false, *sealed),
                      cipher->Open("store:profiles", 3, true, *sealed),
                      other_backup->Open("store:profiles", 3, false, *sealed),
                      other_key->Open("store:profiles", 3, false, *sealed)}) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kDataLoss);
  }
  (*sealed)[20] ^= 1;
  EXPECT_FALSE(cipher->Open("store:profiles", 3, false, *sealed).has_value());
  EXPECT_FALSE(cipher->Open("store:profiles", 3, false, std::vector<std::uint8_t>(27)).has_value());
}

TEST(PieceCipher, SealsInPlaceWhatOpensAsThePlaintext) {
  auto cipher = PieceCipher::Create(Key(7), "b1");
  ASSERT_TRUE(cipher.has_value());
  std::vector<std::uint8_t> plain(100'000);
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<std::uint8_t>(i * 31);
  // The header's bytes are the caller's to leave as they are: they become the nonce.
  std::vector<std::uint8_t> piece(PieceCipher::kPieceHeaderBytes, 0xee);
  piece.insert(piece.end(), plain.begin(), plain.end());
  ASSERT_TRUE(cipher->SealInPlace("file:audit/x", 0, true, piece).has_value());
  ASSERT_EQ(piece.size(), 12 + plain.size() + 16);
  // Encrypted where it lay: no run of the plaintext is left in the buffer.
  EXPECT_EQ(std::search(piece.begin(), piece.end(), plain.begin() + 500, plain.begin() + 532),
            piece.end());
  auto opened = cipher->Open("file:audit/x", 0, true, piece);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, plain);
  auto elsewhere = cipher->Open("file:audit/x", 1, true, piece);
  ASSERT_FALSE(elsewhere.has_value());
  EXPECT_EQ(elsewhere.error().code(), ErrorCode::kDataLoss);
  // Nothing but the header: an empty piece, which opens as empty.
  std::vector<std::uint8_t> empty(PieceCipher::kPieceHeaderBytes);
  ASSERT_TRUE(cipher->SealInPlace("store:activity", 0, true, empty).has_value());
  EXPECT_EQ(empty.size(), 28u);
  auto opened_empty = cipher->Open("store:activity", 0, true, empty);
  ASSERT_TRUE(opened_empty.has_value());
  EXPECT_TRUE(opened_empty->empty());
  // No room for the nonce: refused, never written past.
  std::vector<std::uint8_t> short_piece(PieceCipher::kPieceHeaderBytes - 1);
  auto refused = cipher->SealInPlace("store:activity", 0, true, short_piece);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInternal);
}

TEST(BackupKeys, TheDataKeyUnwrapsOnlyUnderTheSameRootKeyAndBackup) {
  auto keys = BackupKeys::Derive(Key(1));
  auto other = BackupKeys::Derive(Key(2));
  ASSERT_TRUE(keys.has_value() && other.has_value());
  auto made = keys->NewDataKey("b1");
  ASSERT_TRUE(made.has_value());
  auto unwrapped = keys->UnwrapDataKey("b1", made->second);
  ASSERT_TRUE(unwrapped.has_value());
  EXPECT_TRUE(std::equal(unwrapped->reveal().begin(), unwrapped->reveal().end(),
                         made->first.reveal().begin()));
  auto wrong_root = other->UnwrapDataKey("b1", made->second);
  ASSERT_FALSE(wrong_root.has_value());
  EXPECT_EQ(wrong_root.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(keys->UnwrapDataKey("b2", made->second).has_value());
  EXPECT_EQ(keys->UnwrapDataKey("b1", "not base64!").error().code(), ErrorCode::kDataLoss);
}

TEST(BackupKeys, SignaturesAndFileDigestsDependOnTheRootKey) {
  auto keys = BackupKeys::Derive(Key(1));
  auto other = BackupKeys::Derive(Key(2));
  ASSERT_TRUE(keys.has_value() && other.has_value());
  const std::string manifest = R"({"format":"strongroom-backup-v1"})";
  const std::string signature = keys->Sign(manifest);
  EXPECT_TRUE(keys->VerifySignature(manifest, signature));
  EXPECT_FALSE(keys->VerifySignature(manifest + " ", signature));
  EXPECT_FALSE(other->VerifySignature(manifest, signature));
  EXPECT_FALSE(keys->VerifySignature(manifest, "AAAA"));
  const std::vector<std::uint8_t> digest(32, 9);
  EXPECT_EQ(keys->FileDigest(digest).value().size(), 64u);
  EXPECT_NE(keys->FileDigest(digest).value(), other->FileDigest(digest).value());
}

TEST(Manifest, RoundTripsAndRefusesWhatIsNotOne) {
  Manifest m;
  m.id = "20261123T101500.000001Z-incremental-00aa11bb";
  m.kind = "incremental";
  m.created_at = "2026-11-23T10:15:00Z";
  m.parent_id = "20261123T091500.000001Z-full-00aa11cc";
  m.parent_manifest_sha256 = std::string(64, 'a');
  m.full_id = m.parent_id;
  m.wrapped_key = "key";
  m.bytes = 123;
  m.stores.push_back({"profiles",
                      std::string(32, 'f'),
                      9,
                      4,
                      4096,
                      2,
                      1,
                      {{"000001.piece", 100, std::string(64, 'b')}}});
  m.files.push_back({"audit/checkpoints.log",
                     10,
                     20,
                     std::string(64, 'c'),
                     {{"000002.piece", 38, std::string(64, 'd')}}});
  auto parsed = ParseManifest(SerializeManifest(m));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(SerializeManifest(*parsed), SerializeManifest(m));
  EXPECT_EQ(parsed->stores[0].since, 4u);
  EXPECT_EQ(parsed->files[0].pieces[0].file, "000002.piece");

  const std::pair<std::string, std::string> refusals[] = {
      {"not json", "not JSON"},
      {"[]", "must be an object"},
      {R"({"format":"other"})", "is not strongroom-backup-v1"},
      {R"({"format":"strongroom-backup-v1","id":1})", "\"id\" must be a string"},
  };
  for (const auto& [text, expected] : refusals) {
    auto refused = ParseManifest(text);
    ASSERT_FALSE(refused.has_value()) << text;
    EXPECT_EQ(refused.error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(refused.error().message().find(expected), std::string::npos)
        << refused.error().message();
  }
  Manifest orphan = m;
  orphan.kind = "full";  // a full with a parent
  EXPECT_FALSE(ParseManifest(SerializeManifest(orphan)).has_value());
}

}  // namespace
}  // namespace strongroom::backup
