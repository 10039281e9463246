// PieceChecker and its file steps (piece_checker.h), on real files: every piece's SHA-256 in
// submission order (FIPS 180-2's examples), each file synced and read back, and a file that does
// not read back as written reported for its target alone; a checker destroyed with pieces still
// queued stops cleanly.
#include "strongroom/backup/piece_checker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/files.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "support/scratch_dir.h"

namespace strongroom::backup {
namespace {

namespace fs = std::filesystem;

// Target directories inside one scratch directory of the test.
std::vector<fs::path> Dirs(const strongroom::testing::ScratchDir& scratch,
                           std::initializer_list<const char*> names) {
  std::vector<fs::path> dirs;
  for (const char* name : names) fs::create_directories(dirs.emplace_back(scratch / name));
  return dirs;
}

std::span<const std::uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Written to each directory through CreateAndWrite, as the backup writes a piece.
std::vector<PieceChecker::File> WriteTo(const std::vector<fs::path>& dirs, const std::string& name,
                                        std::span<const std::uint8_t> bytes) {
  std::vector<PieceChecker::File> files;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    auto written = CreateAndWrite(dirs[i] / name, bytes);
    EXPECT_TRUE(written.has_value()) << written.error().message();
    if (written) files.push_back(PieceChecker::File{i, dirs[i] / name, std::move(*written)});
  }
  return files;
}

TEST(PieceChecker, HashesSyncsAndReadsBackEveryPieceInOrder) {
  const strongroom::testing::ScratchDir scratch;
  const std::vector<fs::path> dirs = Dirs(scratch, {"a", "b"});
  // FIPS 180-2, appendix B: "abc" and the 448-bit message; and the empty message.
  const std::string abc = "abc";
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  const std::string empty;
  std::vector<std::vector<std::uint8_t>> big;
  for (int i = 0; i < 4; ++i) big.emplace_back(std::size_t{1} << (18 + i), std::uint8_t(i + 1));
  PieceChecker checker;
  const std::uint64_t t0 = checker.Submit(Bytes(abc), WriteTo(dirs, "0.piece", Bytes(abc)));
  const std::uint64_t t1 =
      checker.Submit(Bytes(two_blocks), WriteTo(dirs, "1.piece", Bytes(two_blocks)));
  const std::uint64_t t2 = checker.Submit(Bytes(empty), WriteTo(dirs, "2.piece", Bytes(empty)));
  std::vector<std::uint64_t> big_tickets;
  for (std::size_t i = 0; i < big.size(); ++i) {
    big_tickets.push_back(
        checker.Submit(big[i], WriteTo(dirs, "big" + std::to_string(i) + ".piece", big[i])));
  }
  EXPECT_EQ(t0, 0u);
  EXPECT_EQ(t1, 1u);
  EXPECT_EQ(t2, 2u);
  // Waited for out of order: each answer is its own piece's.
  for (std::size_t i = big.size(); i-- > 0;) {
    const PieceChecker::Outcome outcome = checker.Wait(big_tickets[i]);
    EXPECT_EQ(outcome.sha256, crypto::HexEncode(crypto::Sha256(big[i]))) << i;
    EXPECT_TRUE(outcome.failed.empty()) << outcome.failed.front().second.message();
  }
  const auto o1 = checker.Wait(t1);
  const auto o0 = checker.Wait(t0);
  const auto o2 = checker.Wait(t2);
  EXPECT_EQ(o0.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(o1.sha256, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(o2.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (const auto* outcome : {&o0, &o1, &o2}) EXPECT_TRUE(outcome->failed.empty());
  for (const fs::path& dir : dirs) {
    EXPECT_EQ(ReadWholeFile(dir / "1.piece").value(), two_blocks);
    EXPECT_EQ(fs::file_size(dir / "big3.piece"), big[3].size());
  }
}

TEST(PieceChecker, AFileThatDoesNotReadBackAsWrittenFailsItsTargetAlone) {
  const strongroom::testing::ScratchDir scratch;
  const std::vector<fs::path> dirs = Dirs(scratch, {"good", "bad"});
  const std::string written = "the piece as written";
  PieceChecker checker;
  // The same bytes on both targets, then the second target's file altered (one byte), extended
  // and removed behind the writer's back, one piece each.
  auto altered = WriteTo(dirs, "altered.piece", Bytes(written));
  {
    std::fstream file(dirs[1] / "altered.piece", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4);
    file.put('P');
  }
  auto longer = WriteTo(dirs, "longer.piece", Bytes(written));
  std::ofstream(dirs[1] / "longer.piece", std::ios::app | std::ios::binary) << "!";
  auto removed = WriteTo(dirs, "removed.piece", Bytes(written));
  fs::remove(dirs[1] / "removed.piece");
  const auto t_altered = checker.Submit(Bytes(written), std::move(altered));
  const auto t_longer = checker.Submit(Bytes(written), std::move(longer));
  const auto t_removed = checker.Submit(Bytes(written), std::move(removed));
  for (auto [ticket, what] : {std::pair{t_altered, "altered.piece differs from what was written"},
                              std::pair{t_longer, "longer.piece differs from what was written"},
                              std::pair{t_removed, "cannot open"}}) {
    const PieceChecker::Outcome outcome = checker.Wait(ticket);
    ASSERT_EQ(outcome.failed.size(), 1u) << what;
    EXPECT_EQ(outcome.failed[0].first, 1u);  // the second target only
    EXPECT_EQ(outcome.failed[0].second.code(), ErrorCode::kDataLoss);
    EXPECT_NE(outcome.failed[0].second.message().find(what), std::string::npos)
        << outcome.failed[0].second.message();
    EXPECT_EQ(outcome.sha256, crypto::HexEncode(crypto::Sha256(Bytes(written))));
  }
}

TEST(PieceChecker, ReadsToTheEndOfTheFile) {
  // Written bytes a whole number of read buffers (256 KiB) long, or none: one byte more on the
  // disk is still a difference, found only by reading on to the end.
  const strongroom::testing::ScratchDir scratch;
  const std::vector<std::uint8_t> exact(256 << 10, 0x11);
  const std::vector<std::uint8_t> none;
  for (const auto* expected : {&exact, &none}) {
    const fs::path file = scratch / (expected->empty() ? "none.piece" : "exact.piece");
    auto written = CreateAndWrite(file, *expected);
    ASSERT_TRUE(written.has_value());
    std::ofstream(file, std::ios::app | std::ios::binary) << "x";
    std::vector<std::uint8_t> buffer;
    auto checked = SyncAndReadBack(std::move(*written), file, *expected, buffer);
    ASSERT_FALSE(checked.has_value()) << file;
    EXPECT_EQ(checked.error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(checked.error().message().find("differs from what was written"), std::string::npos);
    // And as written, it passes.
    fs::remove(file);
    auto again = CreateAndWrite(file, *expected);
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(SyncAndReadBack(std::move(*again), file, *expected, buffer).has_value()) << file;
  }
}

TEST(PieceChecker, CreateAndWriteNeverReplacesAFile) {
  const strongroom::testing::ScratchDir scratch;
  const fs::path dir = scratch.path();
  ASSERT_TRUE(CreateAndWrite(dir / "x.piece", Bytes("first")).has_value());
  auto again = CreateAndWrite(dir / "x.piece", Bytes("second"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadWholeFile(dir / "x.piece").value(), "first");
}

TEST(PieceChecker, StopsWithPiecesStillQueued) {
  // 64 pieces of 1 MiB queued, none waited for: the destructor returns (it stops after the piece
  // in hand and joins its thread; a hang would time the test out), and every descriptor handed
  // over is closed, checked or not.
  auto open_descriptors = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator());
  };
  const strongroom::testing::ScratchDir scratch;
  const std::vector<fs::path> dirs = Dirs(scratch, {"t"});
  std::vector<std::uint8_t> piece(1 << 20, 0x5a);
  const auto before = open_descriptors();
  {
    PieceChecker checker;
    for (int i = 0; i < 64; ++i) {
      (void)checker.Submit(piece, WriteTo(dirs, std::to_string(i) + ".piece", piece));
    }
  }
  EXPECT_EQ(open_descriptors(), before);
  PieceChecker idle;  // and one that never got any work
}

}  // namespace
}  // namespace strongroom::backup
