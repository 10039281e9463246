#include "strongroom/privacy/erasure_ledger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "strongroom/base/files.h"
#include "strongroom/crypto/kdf.h"
#include "support/scratch_dir.h"

namespace strongroom::privacy {
namespace {

LedgerKeys KeysOf(std::uint8_t seed) {
  const std::array<std::uint8_t, 32> root{seed};
  auto keys = LedgerKeys::FromRoot([&](std::string_view info) {
    return crypto::HkdfSha256(
        root, {}, {reinterpret_cast<const std::uint8_t*>(info.data()), info.size()}, 32);
  });
  EXPECT_TRUE(keys);
  return std::move(*keys);
}

void Write(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::trunc) << text;
}

class ErasureLedgerTest : public ::testing::Test {
 protected:
  Result<boost::json::object> Add(ErasureLedger& ledger, std::string_view tenant,
                                  std::string_view subject, const ErasureCounts& counts = {}) {
    auto id = ErasureLedger::NewReceiptId();
    EXPECT_TRUE(id);
    return ledger.Append(keys_, *id, tenant, subject, "2026-11-23T10:00:00Z", counts);
  }
  std::filesystem::path File() const { return scratch_ / "erasure-ledger.jsonl"; }
  std::string Text() const { return *ReadWholeFile(File()); }
  strongroom::testing::ScratchDir scratch_;
  LedgerKeys keys_ = KeysOf(1);
};

TEST_F(ErasureLedgerTest, ReceiptsReadBackChainedAndNameOnlyAPseudonym) {
  ErasureLedger ledger(File());
  ErasureCounts counts;
  counts.keys = 1;
  counts.records = 3;
  auto first = Add(ledger, "acme", "sub_A", counts);
  ASSERT_TRUE(first) << first.error().message();
  auto second = Add(ledger, "beta", "sub_B");
  ASSERT_TRUE(second);
  EXPECT_EQ((*first)["receipt"].as_object()["prev"], "none");
  EXPECT_EQ((*first)["receipt"].as_object()["destroyed"].as_object()["records"], 3);
  EXPECT_EQ(Text().find("sub_A"), std::string::npos);
  auto read = ErasureLedger::Read(File(), keys_);
  ASSERT_TRUE(read) << read.error().message();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].tenant, "acme");
  EXPECT_EQ((*read)[0].subject, *keys_.SubjectPseudonym("acme", "sub_A"));
  EXPECT_EQ((*read)[1].erased_at, "2026-11-23T10:00:00Z");
  EXPECT_EQ((*read)[1].id, (*second)["receipt"].as_object()["id"].as_string());
  auto found = ledger.Find((*read)[1].id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ(**found, *second);
  // The pseudonym is per tenant and per key.
  EXPECT_NE(*keys_.SubjectPseudonym("acme", "sub_A"), *keys_.SubjectPseudonym("beta", "sub_A"));
  EXPECT_NE(*keys_.SubjectPseudonym("acme", "sub_A"), *KeysOf(2).SubjectPseudonym("acme", "sub_A"));
  // The same receipts in a copy count once; an absent ledger is none.
  const auto copy_dir = scratch_ / "copy";
  std::filesystem::create_directory(copy_dir);
  ASSERT_TRUE(ledger.CopyTo(copy_dir));
  auto erased =
      ReadErasedSubjects({File(), scratch_ / "absent.jsonl"}, {copy_dir / kLedgerCopyName}, keys_);
  ASSERT_TRUE(erased) << erased.error().message();
  EXPECT_EQ(erased->ids.size(), 2u);
  EXPECT_EQ(erased->by_tenant.at("beta").count(*keys_.SubjectPseudonym("beta", "sub_B")), 1u);
  EXPECT_EQ(erased->longest, Text());
  // Another vault's ledger (another public key throughout) is skipped, not failed.
  const auto other = scratch_ / "other.jsonl";
  ErasureLedger foreign(other);
  auto id = ErasureLedger::NewReceiptId();
  ASSERT_TRUE(foreign.Append(KeysOf(2), *id, "acme", "sub_C", "2026-11-23T10:00:00Z", {}));
  auto with_other = ReadErasedSubjects({File(), other}, {}, keys_);
  ASSERT_TRUE(with_other);
  EXPECT_EQ(with_other->ids.size(), 2u);
  ASSERT_EQ(with_other->skipped.size(), 1u);
  EXPECT_EQ(with_other->skipped[0], other.string() + " (another vault's ledger)");
  // A copy on a target that does not check out is skipped and named; a ledger that must check
  // out fails the call.
  const auto bad = scratch_ / "bad.jsonl";
  Write(bad, "not a ledger\n");
  auto with_bad_copy = ReadErasedSubjects({File()}, {bad}, keys_);
  ASSERT_TRUE(with_bad_copy);
  ASSERT_EQ(with_bad_copy->skipped.size(), 1u);
  EXPECT_TRUE(with_bad_copy->skipped[0].starts_with(bad.string() + " ("));
  EXPECT_FALSE(ReadErasedSubjects({File(), bad}, {}, keys_));
}

TEST_F(ErasureLedgerTest, AlteredMissingCutOrForeignLinesAreRefusedByLine) {
  ErasureLedger ledger(File());
  ASSERT_TRUE(Add(ledger, "acme", "sub_A"));
  ASSERT_TRUE(Add(ledger, "acme", "sub_B"));
  const std::string good = Text();
  const auto refusal = [&](const std::string& text, const LedgerKeys& keys) {
    Write(File(), text);
    auto read = ErasureLedger::Read(File(), keys);
    EXPECT_FALSE(read);
    return read ? std::string() : read.error().message();
  };
  std::string altered = good;
  altered.replace(altered.find("\"keys\":0"), 8, "\"keys\":9");
  EXPECT_NE(refusal(altered, keys_).find("line 1: the signature does not verify"),
            std::string::npos);
  const std::string second_only = good.substr(good.find('\n') + 1);
  EXPECT_NE(refusal(second_only, keys_).find("line 1: out of order"), std::string::npos);
  EXPECT_NE(refusal(good, KeysOf(2)).find("another vault's"), std::string::npos);
  std::string spaced = good;
  spaced.replace(spaced.find("\"v\":1"), 5, "\"v\": 1");
  EXPECT_NE(refusal(spaced, keys_).find("not in its signed form"), std::string::npos);
  EXPECT_NE(refusal("{\"receipt\":[]}\n", keys_).find("not a receipt"), std::string::npos);
  Write(File(), good);
  EXPECT_TRUE(ErasureLedger::Read(File(), keys_));
}

TEST_F(ErasureLedgerTest, ALineCutShortIsIgnoredThenCutOffByTheNextReceipt) {
  ErasureLedger ledger(File());
  ASSERT_TRUE(Add(ledger, "acme", "sub_A"));
  const std::string one = Text();
  Write(File(), one + "{\"receipt\":{\"v\":1,\"id\":\"ers_");  // a crash mid-append
  auto read = ErasureLedger::Read(File(), keys_);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->size(), 1u);
  ASSERT_TRUE(Add(ledger, "acme", "sub_B"));
  read = ErasureLedger::Read(File(), keys_);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->size(), 2u);
  const std::string two = Text();
  EXPECT_TRUE(two.starts_with(one));
  EXPECT_EQ(std::count(two.begin(), two.end(), '\n'), 2);
}

TEST_F(ErasureLedgerTest, AnUnreadableLedgerIsAnErrorNotAnEmptyOne) {
  std::filesystem::create_directory(File());  // a directory where the file should be
  EXPECT_FALSE(ErasureLedger::Read(File(), keys_));
}

TEST_F(ErasureLedgerTest, CopiesNeverReplaceALongerLedgerWhichIsAdoptedInstead) {
  ErasureLedger ledger(File());
  const auto target = scratch_ / "target";
  std::filesystem::create_directory(target);
  ASSERT_TRUE(ledger.CopyTo(target));
  EXPECT_FALSE(std::filesystem::exists(target / kLedgerCopyName));
  ASSERT_TRUE(Add(ledger, "acme", "sub_A"));
  ASSERT_TRUE(Add(ledger, "acme", "sub_B"));
  ASSERT_TRUE(ledger.CopyTo(target));
  const std::string both = Text();
  EXPECT_EQ(*ReadWholeFile(target / kLedgerCopyName), both);
  EXPECT_FALSE(ledger.CopyTo(scratch_ / "missing"));
  // The data directory is lost: a new, empty ledger must not overwrite the copy...
  std::filesystem::remove(File());
  ErasureLedger fresh(File());
  ASSERT_TRUE(Add(fresh, "acme", "sub_C"));
  auto copied = fresh.CopyTo(target);
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(*ReadWholeFile(target / kLedgerCopyName), both);
  // ...and an empty one takes the copy over, but only one this vault signed.
  std::filesystem::remove(File());
  auto refused = fresh.AdoptLongerCopy({target}, KeysOf(2));
  ASSERT_FALSE(refused);
  EXPECT_FALSE(std::filesystem::exists(File()) && !Text().empty());
  auto adopted = fresh.AdoptLongerCopy({target}, keys_);
  ASSERT_TRUE(adopted) << adopted.error().message();
  EXPECT_TRUE(*adopted);
  EXPECT_EQ(Text(), both);
  ASSERT_TRUE(Add(fresh, "acme", "sub_C"));
  ASSERT_TRUE(fresh.CopyTo(target));
  auto read = ErasureLedger::Read(target / kLedgerCopyName, keys_);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->size(), 3u);
  // A copy that differs (not a prefix either way) is reported and left alone.
  const auto other = scratch_ / "other";
  std::filesystem::create_directory(other);
  Write(other / kLedgerCopyName, both.substr(0, both.find('\n') + 1) + "x\n");
  auto diverged = fresh.AdoptLongerCopy({other}, keys_);
  ASSERT_FALSE(diverged);
  EXPECT_EQ(diverged.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace strongroom::privacy
