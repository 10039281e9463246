#include "strongroom/audit/audit_trail.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <thread>

#include "strongroom/audit/trail_verifier.h"
#include "strongroom/base/files.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::audit {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const crypto::Ed25519Signer> TestSigner() {
  static const auto signer = std::make_shared<const crypto::Ed25519Signer>(
      *crypto::Ed25519Signer::FromSeed(std::vector<std::uint8_t>(32, 7)));
  return signer;
}

Event ReadEvent(int i) {
  Event e;
  e.tenant = "default";
  e.actor = Actor{"prn_reader", "service", {"service"}, "token", "tok_abc"};
  e.source = "127.0.0.1";
  e.request_id = "req-" + std::to_string(i);
  e.action = "record.read";
  e.collection = "patients";
  e.ids = {"rec_" + std::to_string(i)};
  e.subjects = {"psn_x"};
  e.fields = {"email:plain"};
  e.status = 200;
  e.code = "ok";
  return e;
}

class TrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::path(::testing::TempDir()) /
        ("trail_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrailOptions Options() {
    TrailOptions o;
    o.dir = dir_ / "audit";
    o.checkpoint_entries = 100;
    o.segment_bytes = 16 << 10;  // several segments in a few hundred entries
    o.signer = [] { return TestSigner(); };
    o.min_free_bytes = 0;  // the writer reserves zeros ahead on any disk the tests run on
    return o;
  }

  std::unique_ptr<Trail> OpenTrail(TrailOptions o) {
    auto trail = Trail::Open(std::move(o));
    EXPECT_TRUE(trail) << trail.error().message();
    return trail ? std::move(*trail) : nullptr;
  }

  void Fill(Trail& trail, int n, int from = 0) {
    for (int i = from; i < from + n; ++i) ASSERT_TRUE(trail.AppendAndWait(ReadEvent(i)));
  }

  static std::string ReadBytes(const fs::path& file) { return ReadWholeFile(file).value(); }
  // Where a segment's entries end: its size without the zeros reserved after them.
  static std::uint64_t FramesEnd(const fs::path& segment) {
    const std::string bytes = ReadBytes(segment);
    const auto last = bytes.find_last_not_of('\0');
    return last == std::string::npos ? 0 : last + 1;
  }
  // Segments of 64 KiB, so reservations of 64 KiB; two entries written: their segment is those
  // entries, then the 64 KiB of zeros reserved after the first. (The reservation follows the
  // first entry's completion; the writer takes the second only after it.)
  static TrailOptions SmallSegments(TrailOptions o) {
    o.segment_bytes = 64 << 10;
    return o;
  }
  std::pair<std::unique_ptr<Trail>, fs::path> TwoEntriesThenZeros() {
    auto trail = OpenTrail(SmallSegments(Options()));
    Fill(*trail, 2);
    fs::path segment = ListSegments(dir_ / "audit")->back().path;
    const std::string bytes = ReadBytes(segment);
    const std::uint64_t first_frame =
        4 + ((std::uint64_t{static_cast<unsigned char>(bytes[2])} << 8) |
             static_cast<unsigned char>(bytes[3]));
    EXPECT_EQ(bytes.size(), first_frame + (64u << 10));
    EXPECT_GT(bytes.size(), FramesEnd(segment));
    return {std::move(trail), std::move(segment)};
  }
  // Appends entry `i` (the trail holds 0 to i-1) with its request id padded so that the frames
  // end `bytes_before` bytes before a 512-byte sector boundary.
  void AppendEndingBeforeSector(Trail& trail, int i, std::uint64_t bytes_before = 3) {
    Event event = ReadEvent(i);
    event.time = std::chrono::system_clock::now();
    const std::uint64_t frame = 4 + EncodeEntry(i, Hash{}, event).size();
    const std::uint64_t ends = FramesEnd(ListSegments(dir_ / "audit")->back().path) + frame;
    event.request_id += std::string((512 - bytes_before + 512 - ends % 512) % 512, 'x');
    ASSERT_TRUE(trail.AppendAndWait(event));
  }
  static void WriteAt(const fs::path& file, std::uint64_t offset, std::string_view bytes) {
    std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(offset));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  VerifyReport Verify(std::vector<Checkpoint> pinned = {}) {
    VerifyOptions v;
    v.dir = dir_ / "audit";
    v.public_key = TestSigner()->public_key();
    v.pinned = std::move(pinned);
    return VerifyTrail(v);
  }

  // Every entry of every segment, and rewriting them (optionally one file for all).
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    const auto segments = ListSegments(dir_ / "audit");
    for (const auto& segment : *segments) {
      std::ifstream in(segment.path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (std::size_t at = 0; at + 4 <= bytes.size();) {
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
        const std::size_t n =
            (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
        if (n == 0) break;  // the zeros the writer reserved ahead of its entries
        out.push_back(bytes.substr(at + 4, n));
        at += 4 + n;
      }
    }
    return out;
  }
  void Rewrite(const std::vector<std::string>& entries) {
    const auto segments = ListSegments(dir_ / "audit");
    for (const auto& segment : *segments) fs::remove(segment.path);
    std::ofstream out(dir_ / "audit" / "segments" / "00000000000000000000.seg", std::ios::binary);
    for (const auto& e : entries) {
      const auto n = static_cast<std::uint32_t>(e.size());
      const char length[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                              static_cast<char>(n >> 8), static_cast<char>(n)};
      out.write(length, 4);
      out.write(e.data(), static_cast<std::streamsize>(e.size()));
    }
  }
  // What a forger with write access but no key can do: renumber and re-chain every entry.
  static std::vector<std::string> Rechain(std::vector<std::string> entries) {
    Hash prev{};
    for (std::size_t i = 0; i < entries.size(); ++i) {
      std::string& e = entries[i];
      const auto seq_at = e.find("\"seq\":") + 6;
      e.replace(seq_at, e.find(',', seq_at) - seq_at, std::to_string(i));
      const auto prev_at = e.find("\"prev\":\"") + 8;
      e.replace(prev_at, 64, crypto::HexEncode(prev));
      prev = LeafHash({reinterpret_cast<const std::uint8_t*>(e.data()), e.size()});
    }
    return entries;
  }

  fs::path dir_;
};

TEST_F(TrailTest, AppendsChainCheckpointAndVerify) {
  {
    auto trail = OpenTrail(Options());
    Fill(*trail, 600);
    EXPECT_EQ(trail->size(), 600u);
    // The checkpoint thread signs on its own schedule, covering whatever is durable when it
    // runs (at least 100 entries after the last): wait for it, bounded.
    for (int i = 0; i < 500 && !trail->latest_checkpoint(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(trail->latest_checkpoint());
    EXPECT_GE(trail->latest_checkpoint()->size, 100u);
    const auto stats = trail->stats();
    EXPECT_EQ(stats.appended, 600u);
    EXPECT_TRUE(stats.available);
  }  // closing signs a last checkpoint
  const auto log = ReadCheckpointLog(dir_ / "audit" / "checkpoints.log");
  ASSERT_TRUE(log);
  ASSERT_GE(log->size(), 2u);  // at least one by count, and the closing one
  for (std::size_t i = 1; i < log->size(); ++i) EXPECT_GT((*log)[i]->size, (*log)[i - 1]->size);
  EXPECT_EQ(log->back()->size, 600u);
  EXPECT_GT(ListSegments(dir_ / "audit")->size(), 2u);
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.entries, 600u);
  EXPECT_EQ(report.vouched, 600u);
  EXPECT_TRUE(report.signatures_checked);
  // The stored entry: the exact format of docs/formats/audit-v1.md.
  const auto entries = Entries();
  EXPECT_EQ(entries[0].substr(0, 40), R"({"v":1,"seq":0,"time":")" + entries[0].substr(23, 17));
  EXPECT_NE(entries[1].find(R"("tenant":"default","actor":{"id":"prn_reader","kind":"service",)"
                            R"("roles":["service"],"via":"token","credential":"tok_abc"},)"
                            R"("source":"127.0.0.1","request_id":"req-1","action":"record.read",)"
                            R"("resource":{"collection":"patients","ids":["rec_1"],)"
                            R"("subjects":["psn_x"]},"fields":["email:plain"],"purpose":null,)"
                            R"("outcome":{"status":200,"code":"ok"}})"),
            std::string::npos)
      << entries[1];
}

TEST_F(TrailTest, ReopensWhereItStoppedAndProvesAcrossSegments) {
  { Fill(*OpenTrail(Options()), 300); }
  auto trail = OpenTrail(Options());
  EXPECT_EQ(trail->size(), 300u);
  Fill(*trail, 500, 300);
  const auto checkpoint = trail->CheckpointNow();
  ASSERT_TRUE(checkpoint);
  EXPECT_EQ(checkpoint->size, 800u);
  EXPECT_TRUE(VerifySignature(*checkpoint, TestSigner()->public_key()));
  const auto entries = Entries();
  ASSERT_EQ(entries.size(), 800u);
  for (std::uint64_t i : {0u, 1u, 255u, 256u, 300u, 511u, 512u, 799u}) {
    auto proof = trail->InclusionProof(i, 800);
    ASSERT_TRUE(proof) << proof.error().message();
    const auto leaf =
        LeafHash({reinterpret_cast<const std::uint8_t*>(entries[i].data()), entries[i].size()});
    EXPECT_TRUE(VerifyInclusion(i, 800, leaf, *proof, checkpoint->root)) << i;
  }
  for (std::uint64_t old : {1u, 100u, 256u, 300u, 799u}) {
    auto proof = trail->ConsistencyProof(old, 800);
    ASSERT_TRUE(proof);
    EXPECT_TRUE(VerifyConsistency(old, 800, *trail->RootAt(old), checkpoint->root, *proof));
  }
  auto read = trail->Read(254, 4);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 4u);
  EXPECT_EQ((*read)[0], entries[254]);
  EXPECT_EQ((*read)[3], entries[257]);
  EXPECT_EQ(trail->Read(799, 10)->size(), 1u);
  EXPECT_EQ(trail->InclusionProof(0, 801).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(TrailTest, EachTamperingIsCaughtAtTheRightEntry) {
  {
    // Checkpoints exactly at 100 and 120: the cases below depend on where they are, and the
    // checkpoint thread, left to itself, signs whatever size it finds when it runs.
    TrailOptions o = Options();
    o.checkpoint_entries = 1'000'000;
    o.checkpoint_interval = std::chrono::hours(1);
    auto trail = OpenTrail(std::move(o));
    Fill(*trail, 100);
    ASSERT_EQ(trail->CheckpointNow()->size, 100u);
    Fill(*trail, 20, 100);
  }  // closing signs the one at 120
  const auto pristine = Entries();
  ASSERT_EQ(pristine.size(), 120u);
  const fs::path log = dir_ / "audit" / "checkpoints.log";
  std::ifstream log_in(log);
  const std::string checkpoints((std::istreambuf_iterator<char>(log_in)),
                                std::istreambuf_iterator<char>());
  ASSERT_TRUE(Verify().ok);

  struct Case {
    std::string name;
    std::function<std::vector<std::string>(std::vector<std::string>)> tamper;
    std::uint64_t first_bad;
  };
  const std::vector<Case> cases = {
      {"flip one byte",
       [](auto e) {
         e[50][e[50].find("rec_50") + 4] ^= 0x01;
         return e;
       },
       50},
      {"flip a byte of a prev",
       [](auto e) {
         e[60][e[60].find("\"prev\":\"") + 20] ^= 0x01;
         return e;
       },
       60},
      {"delete an entry",
       [](auto e) {
         e.erase(e.begin() + 70);
         return e;
       },
       70},
      {"swap two",
       [](auto e) {
         std::swap(e[30], e[31]);
         return e;
       },
       30},
      {"insert a forged one",
       [](auto e) {
         e.insert(e.begin() + 40, e[39]);
         return e;
       },
       40},
      // Consistent chain, but not what the checkpoint at 100 signed: nothing before is vouched.
      {"rewrite everything with recomputed hashes",
       [](auto e) {
         e[5].replace(e[5].find("rec_5"), 5, "rec_X");
         return Rechain(e);
       },
       0},
      // A fork after the checkpoint at 100: from there on other entries, re-chained, and more
      // of them than the checkpoint at 120 covered.
      {"fork after an old checkpoint",
       [](auto e) {
         e.resize(100);
         for (int i = 0; i < 30; ++i) {
           std::string forged = e[99];
           forged.replace(forged.find("rec_99"), 6, "rec_f" + std::to_string(i));
           e.push_back(forged);
         }
         return Rechain(e);
       },
       100},
  };
  for (const auto& c : cases) {
    Rewrite(c.tamper(pristine));
    const auto report = Verify();
    EXPECT_FALSE(report.ok) << c.name;
    ASSERT_TRUE(report.first_bad) << c.name;
    EXPECT_EQ(*report.first_bad, c.first_bad) << c.name << ": " << report.reason;
    // A tampered trail is not written to.
    auto opened = Trail::Open(Options());
    ASSERT_FALSE(opened) << c.name;
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
  }

  // Truncating the tail, checkpoint log included, is caught against a witnessed checkpoint.
  Rewrite(std::vector<std::string>(pristine.begin(), pristine.begin() + 90));
  { std::ofstream cut(log, std::ios::trunc); }
  const auto witnessed = ParseCheckpoint(checkpoints.substr(0, checkpoints.find('\n')));
  ASSERT_TRUE(witnessed);
  EXPECT_TRUE(Verify().ok);  // without the witness, a shorter trail looks whole
  auto report = Verify({*witnessed});
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad, 90u) << report.reason;

  // A checkpoint altered without the key is refused: only what a valid one covers is vouched.
  Rewrite(Rechain(pristine));
  {
    std::ofstream restore(log, std::ios::trunc);
    restore << checkpoints;
  }
  EXPECT_TRUE(Verify().ok);
  Checkpoint forged = *ParseCheckpoint(checkpoints.substr(checkpoints.find('\n') + 1));
  ASSERT_EQ(forged.size, 120u);
  forged.root[0] ^= 1;
  report = Verify({forged});
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad, 120u) << report.reason;
  EXPECT_NE(report.reason.find("signature"), std::string::npos) << report.reason;
}

// The writer keeps zeros reserved and durable ahead of its entries, so that a batch's fsync does
// not also commit a new file size: the file does not grow while entries land in that space, the
// trail verifies with the zeros at its end, and a finished segment keeps none of them.
TEST_F(TrailTest, WritesOverZerosReservedAhead) {
  auto [trail, first] = TwoEntriesThenZeros();
  const auto reserved_size = fs::file_size(first);
  Fill(*trail, 19, 2);
  EXPECT_EQ(fs::file_size(first), reserved_size);  // written over the zeros, not appended
  auto report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_FALSE(report.torn_tail);
  EXPECT_EQ(report.entries, 21u);
  EXPECT_EQ(report.end_offset, FramesEnd(first));
  // On to the next segments: every finished one ends with its last entry.
  Fill(*trail, 600, 21);
  trail.reset();
  const auto segments = *ListSegments(dir_ / "audit");
  ASSERT_GE(segments.size(), 3u);
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    EXPECT_EQ(fs::file_size(segments[i].path), FramesEnd(segments[i].path)) << i;
    EXPECT_EQ(ReadBytes(segments[i].path).back(), '}') << i;
  }
  EXPECT_GT(fs::file_size(segments.back().path), FramesEnd(segments.back().path));
  report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.entries, 621u);
  // Reopened, the trail writes on at the entries' end, over the same zeros.
  trail = OpenTrail(SmallSegments(Options()));
  Fill(*trail, 3, 621);
  trail.reset();
  report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.entries, 624u);
}

// A reservation the disk refuses (here: the file-size limit) costs no entry, and its zeros are
// given back: a disk that full needs the space for entries.
TEST_F(TrailTest, FailedReservationGivesItsSpaceBack) {
  auto [trail, segment] = TwoEntriesThenZeros();
  const auto reserved = fs::file_size(segment);
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  rlimit tight = old;
  tight.rlim_cur = reserved + 1000;  // the next reservation gets 1,000 bytes, then EFBIG
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  int next = 2;
  // Into the reserved space until less than a quarter of it is left: then the writer tries to
  // reserve more, after that entry's completion.
  while (reserved - FramesEnd(segment) >= (16u << 10) && next < 1000) {
    ASSERT_TRUE(trail->AppendAndWait(ReadEvent(next++)));
  }
  // The writer takes this one after the failed reservation.
  ASSERT_TRUE(trail->AppendAndWait(ReadEvent(next++)));
  EXPECT_TRUE(trail->stats().available);
  EXPECT_EQ(trail->stats().failed, 0u);
  trail.reset();  // under the limit still: a retry of the reservation fails the same way
  ::setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_EQ(fs::file_size(segment), reserved);
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.entries, static_cast<std::uint64_t>(next));
}

// A crash while a batch was being written leaves a frame cut short at the end of the file, a
// frame with zeros in it (it was written over the reserved zeros; an entry is JSON, never a zero
// byte), or zeros where a frame should start with pieces of the batch after them. Each is a torn
// tail: never acknowledged, cut at the next start, and the trail writes on from there.
TEST_F(TrailTest, TornTailIsCutAndWritingGoesOn) {
  enum class Tear { kCutShortAtTheEnd, kZerosInAFrame, kZerosThenPieces, kLengthsFirstSector };
  for (const Tear tear : {Tear::kCutShortAtTheEnd, Tear::kZerosInAFrame, Tear::kZerosThenPieces,
                          Tear::kLengthsFirstSector}) {
    SCOPED_TRACE(static_cast<int>(tear));
    fs::remove_all(dir_);
    {
      auto trail = OpenTrail(Options());
      Fill(*trail, 9);
      if (tear == Tear::kLengthsFirstSector) {
        AppendEndingBeforeSector(*trail, 9);
      } else {
        Fill(*trail, 1, 9);
      }
    }
    const fs::path last = ListSegments(dir_ / "audit")->back().path;
    const std::uint64_t end = FramesEnd(last);
    const std::uint64_t size = fs::file_size(last);
    ASSERT_GT(size, end + 1000);  // zeros reserved ahead
    const std::string_view frame("\x00\x00\x01\x00{\"v\":1,\"seq\":10", 18);
    switch (tear) {
      case Tear::kCutShortAtTheEnd:  // the reserved zeros used up, the last frame unfinished
        fs::resize_file(last, end);
        WriteAt(last, end, frame);
        break;
      case Tear::kZerosInAFrame:
        WriteAt(last, end, frame);
        break;
      case Tear::kZerosThenPieces:
        WriteAt(last, end + 512, "{\"v\":1,\"seq\":11}");
        break;
      case Tear::kLengthsFirstSector: {
        // A frame whose length's first 3 bytes were in a sector left unwritten: the length reads
        // as its last byte alone, and the short entry does not parse.
        ASSERT_EQ((end + 3) % 512, 0u);
        std::string short_entry = "{\"v\":1,\"seq\":10,\"time\":\"2026-11-24T";
        short_entry.resize(100, 'a');
        WriteAt(last, end, std::string(3, '\0') + static_cast<char>(short_entry.size()));
        WriteAt(last, end + 4, short_entry);
        break;
      }
    }
    auto report = Verify();
    EXPECT_TRUE(report.ok) << report.reason;
    EXPECT_TRUE(report.torn_tail);
    EXPECT_EQ(report.torn_offset, end);
    EXPECT_EQ(report.entries, 10u);
    auto trail = OpenTrail(Options());
    EXPECT_EQ(trail->size(), 10u);
    EXPECT_EQ(fs::file_size(last), end);  // cut at the torn frame
    Fill(*trail, 5, 10);
    trail.reset();
    report = Verify();
    EXPECT_TRUE(report.ok) << report.reason;
    EXPECT_FALSE(report.torn_tail);
    EXPECT_EQ(report.entries, 15u);
  }
}

// Zeros are a torn write only at the very end: the last entry altered (no zero byte) is damage,
// not a torn tail, and so are zeros inside an entry of a finished segment.
TEST_F(TrailTest, ZerosElsewhereAreDamage) {
  { Fill(*OpenTrail(Options()), 10); }
  const fs::path last = ListSegments(dir_ / "audit")->back().path;
  WriteAt(last, FramesEnd(last) - 3, "X");  // inside the last entry's final member
  auto report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_FALSE(report.torn_tail);
  // Nothing follows the last entry to chain to it: the checkpoint signed at the stop catches it.
  EXPECT_NE(report.reason.find("do not match the checkpoint of size 10"), std::string::npos)
      << report.reason;

  // A whole entry 1 byte before a sector boundary whose last byte was altered: the length's first
  // byte is 0 for any length, so that zero says nothing of a torn write: damage.
  fs::remove_all(dir_);
  {
    auto trail = OpenTrail(Options());
    Fill(*trail, 9);
    AppendEndingBeforeSector(*trail, 9, 1);
    Fill(*trail, 1, 10);
  }
  const fs::path segment = ListSegments(dir_ / "audit")->back().path;
  ASSERT_EQ((FramesEnd(segment) - Entries().back().size() - 4 + 1) % 512, 0u);
  WriteAt(segment, FramesEnd(segment) - 1, "]");
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_FALSE(report.torn_tail);
  ASSERT_TRUE(report.first_bad.has_value());
  EXPECT_EQ(*report.first_bad, 10u) << report.reason;

  fs::remove_all(dir_);
  {
    auto trail = OpenTrail(Options());
    Fill(*trail, 300);
  }
  const auto segments = *ListSegments(dir_ / "audit");
  ASSERT_GE(segments.size(), 2u);
  const fs::path finished = segments.front().path;
  WriteAt(finished, FramesEnd(finished) - 3, std::string_view("\0", 1));
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_FALSE(report.torn_tail);
  ASSERT_TRUE(report.first_bad.has_value());
  EXPECT_EQ(*report.first_bad, 255u) << report.reason;  // the first segment's last entry
}

// A disk that refuses writes (here: the file-size limit, EFBIG) fails every entry with
// audit_unavailable, and the trail resumes, intact, once writes succeed again.
TEST_F(TrailTest, FailsClosedThenRecovers) {
  auto trail = OpenTrail(Options());
  Fill(*trail, 3);
  // Past the entries' end (the reserved zeros after it need no new space, and would be used).
  const auto size_now = FramesEnd(ListSegments(dir_ / "audit")->back().path);
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  rlimit tiny = old;
  tiny.rlim_cur = size_now + 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tiny), 0);
  auto refused = trail->AppendAndWait(ReadEvent(3));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kAuditUnavailable);
  EXPECT_FALSE(trail->stats().available);
  ::setrlimit(RLIMIT_FSIZE, &old);
  auto accepted = trail->AppendAndWait(ReadEvent(4));
  ASSERT_TRUE(accepted) << accepted.error().message();
  EXPECT_EQ(*accepted, 3u);  // the refused entry took no place in the trail
  EXPECT_TRUE(trail->stats().available);
  trail.reset();
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.entries, 4u);
}

TEST_F(TrailTest, FullSpoolRefusesAtOnce) {
  std::latch release(1);
  std::atomic<bool> blocked{false};
  TrailOptions o = Options();
  o.spool_entries = 1;
  o.observer = [&](const Event&) {
    blocked = true;
    release.wait();  // holds the writer after its first batch
  };
  auto trail = OpenTrail(std::move(o));
  std::optional<Result<std::uint64_t>> first, second, third;
  std::atomic<int> done{0};
  trail->Append(ReadEvent(0), [&](Result<std::uint64_t> r) {
    first = r;
    ++done;
  });
  for (int i = 0; i < 2000 && !blocked; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(blocked);
  trail->Append(ReadEvent(1), [&](Result<std::uint64_t> r) {
    second = r;
    ++done;
  });
  trail->Append(ReadEvent(2), [&](Result<std::uint64_t> r) {
    third = r;
    ++done;
  });
  ASSERT_TRUE(third.has_value());  // refused on the caller's thread, at once
  EXPECT_EQ(third->error().code(), ErrorCode::kAuditUnavailable);
  // The disk is fine but the spool is full: a write is refused before it changes anything.
  EXPECT_TRUE(trail->available());
  EXPECT_FALSE(trail->accepting());
  release.count_down();
  for (int i = 0; i < 2000 && done < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(done, 3);
  EXPECT_EQ(**first, 0u);
  EXPECT_EQ(**second, 1u);
  EXPECT_EQ(trail->stats().failed, 1u);
  EXPECT_TRUE(trail->accepting());
}

TEST_F(TrailTest, WhileSealedEntriesAreKeptAndTheFirstCheckpointAfterCoversThem) {
  std::atomic<bool> sealed{true};
  TrailOptions o = Options();
  o.checkpoint_entries = 5;
  o.signer = [&]() -> std::shared_ptr<const crypto::Ed25519Signer> {
    return sealed ? nullptr : TestSigner();
  };
  auto trail = OpenTrail(std::move(o));
  Fill(*trail, 12);
  EXPECT_FALSE(trail->latest_checkpoint());
  EXPECT_EQ(trail->CheckpointNow().error().code(), ErrorCode::kFailedPrecondition);
  sealed = false;
  auto checkpoint = trail->CheckpointNow();
  ASSERT_TRUE(checkpoint);
  EXPECT_EQ(checkpoint->size, 12u);
  trail.reset();
  EXPECT_EQ(Verify().vouched, 12u);
}

// An idle trail sleeps: with nothing new to checkpoint and nothing to write, its threads must
// not spin (they once did, at raised priority). Process CPU time, not wall time, is measured:
// a spinning thread would burn about all of the half second.
TEST_F(TrailTest, AnIdleTrailUsesNoCpu) {
  TrailOptions o = Options();
  o.checkpoint_interval = std::chrono::milliseconds(50);
  auto trail = OpenTrail(std::move(o));
  Fill(*trail, 3);
  for (int i = 0; i < 200 && (!trail->latest_checkpoint() || trail->latest_checkpoint()->size < 3);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(trail->latest_checkpoint()->size, 3u);  // the timer signed the last entries
  auto cpu = [] {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return std::chrono::seconds(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           std::chrono::microseconds(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(cpu() - before, std::chrono::milliseconds(150));
}

// A checkpoint line cut short (a crash or a full disk while appending) is not glued onto.
TEST_F(TrailTest, AHalfWrittenCheckpointLineIsCutBeforeTheNext) {
  { Fill(*OpenTrail(Options()), 5); }
  {
    std::ofstream log(dir_ / "audit" / "checkpoints.log", std::ios::app);
    log << R"({"size":5,"root":"00)";
  }
  {
    auto trail = OpenTrail(Options());
    Fill(*trail, 2, 5);
    ASSERT_TRUE(trail->CheckpointNow());
  }
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.vouched, 7u);
}

TEST_F(TrailTest, WitnessesGetEveryCheckpointAndThePublicKey) {
  TrailOptions o = Options();
  o.witness_dirs = {dir_ / "witness-a", dir_ / "witness-b"};
  { Fill(*OpenTrail(std::move(o)), 200); }
  for (const char* w : {"witness-a", "witness-b"}) {
    auto copy = ReadCheckpointLog(dir_ / w / "checkpoints.log");
    ASSERT_TRUE(copy);
    auto own = ReadCheckpointLog(dir_ / "audit" / "checkpoints.log");
    ASSERT_EQ(copy->size(), own->size());
    EXPECT_EQ(copy->back()->size, 200u);
    std::ifstream key(dir_ / w / "public-key.json");
    std::string text((std::istreambuf_iterator<char>(key)), std::istreambuf_iterator<char>());
    EXPECT_EQ(*ParsePublicKeyFile(text), TestSigner()->public_key());
  }
}

// A clock the test moves: entries carry its time.
struct TestClock {
  std::atomic<std::int64_t> seconds{1'800'000'000};
  std::chrono::system_clock::time_point now() const {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds.load()));
  }
  // `o`, archiving into `archive` and taking the time from this clock.
  TrailOptions Archiving(TrailOptions o, const fs::path& archive) {
    o.archive_dir = archive;
    o.clock = [this] { return now(); };
    return o;
  }
};

TEST_F(TrailTest, RetentionMovesOldSegmentsToTheArchiveAndEverySideVerifies) {
  TestClock clock;
  TrailOptions o = clock.Archiving(Options(), dir_ / "archive");
  auto trail = OpenTrail(o);
  Fill(*trail, 600);  // segments of 256 entries: [0,256) [256,512) [512,…)
  clock.seconds += 10 * 86400;
  Fill(*trail, 200, 600);  // [768,…) begins ten days later
  const auto pristine_root = *trail->RootAt(800);
  const auto root_at_512 = *trail->RootAt(512);
  ASSERT_EQ(ListSegments(dir_ / "audit")->size(), 4u);

  // Nothing is older than a cutoff before the first entry.
  auto none = trail->ArchiveBefore(clock.now() - std::chrono::days(20));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->segments, 0u);
  // Five days back: [0,256) and [256,512) are older (the next segment began before the cutoff);
  // [512,768) is not (the one after it began later).
  auto moved = trail->ArchiveBefore(clock.now() - std::chrono::days(5));
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_EQ(moved->segments, 2u);
  EXPECT_EQ(moved->entries, 512u);
  EXPECT_EQ(moved->first, 512u);
  EXPECT_GT(moved->bytes, 0u);
  EXPECT_EQ(trail->first(), 512u);
  EXPECT_EQ(trail->stats().archived, 512u);
  EXPECT_EQ(ListSegments(dir_ / "audit")->front().first_seq, 512u);
  EXPECT_EQ(ListSegments(dir_ / "archive")->size(), 2u);

  // The live trail still answers everything from 512 on, and refuses what is archived.
  EXPECT_EQ(*trail->RootAt(800), pristine_root);
  EXPECT_EQ(*trail->RootAt(512), root_at_512);
  EXPECT_EQ(trail->Read(0, 2).error().code(), ErrorCode::kFailedPrecondition);
  auto read = trail->Read(512, 2);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 2u);
  EXPECT_NE((*read)[0].find(R"("seq":512,)"), std::string::npos);
  for (std::uint64_t i : {512u, 700u, 799u}) {
    auto proof = trail->InclusionProof(i, 800);
    ASSERT_TRUE(proof) << i << ": " << proof.error().message();
    const auto entry = *trail->Read(i, 1);
    const auto leaf =
        LeafHash({reinterpret_cast<const std::uint8_t*>(entry[0].data()), entry[0].size()});
    EXPECT_TRUE(VerifyInclusion(i, 800, leaf, *proof, pristine_root)) << i;
  }
  EXPECT_EQ(trail->InclusionProof(10, 800).error().code(), ErrorCode::kFailedPrecondition);
  auto consistency = trail->ConsistencyProof(600, 800);
  ASSERT_TRUE(consistency);
  EXPECT_TRUE(VerifyConsistency(600, 800, *trail->RootAt(600), pristine_root, *consistency));
  Fill(*trail, 10, 800);
  ASSERT_TRUE(trail->CheckpointNow());
  trail.reset();

  // The live trail alone, the archive alone, and both as one trail.
  auto live = Verify();
  EXPECT_TRUE(live.ok) << live.reason;
  EXPECT_EQ(live.first, 512u);
  EXPECT_EQ(live.entries, 298u);
  EXPECT_EQ(live.vouched, 810u);
  VerifyOptions archive_only;
  archive_only.dir = dir_ / "archive";
  archive_only.public_key = TestSigner()->public_key();
  auto archived = VerifyTrail(archive_only);
  EXPECT_TRUE(archived.ok) << archived.reason;
  EXPECT_EQ(archived.entries, 512u);
  EXPECT_EQ(archived.vouched, 512u);  // the boundary checkpoint covers all of it
  VerifyOptions both = archive_only;
  both.dir = dir_ / "audit";
  both.archive_dirs = {dir_ / "archive"};
  auto whole = VerifyTrail(both);
  EXPECT_TRUE(whole.ok) << whole.reason;
  EXPECT_EQ(whole.first, 0u);
  EXPECT_EQ(whole.entries, 810u);
  EXPECT_EQ(whole.vouched, 810u);
  // The live checkpoint log keeps only what covers live entries; the archive has the rest.
  const auto live_log = ReadCheckpointLog(dir_ / "audit" / "checkpoints.log");
  ASSERT_TRUE(live_log);
  for (const auto& c : *live_log) EXPECT_GE(c->size, 512u);

  // Reopened, it goes on from where it was, and a later pass moves more.
  trail = OpenTrail(o);
  EXPECT_EQ(trail->first(), 512u);
  EXPECT_EQ(trail->size(), 810u);
  clock.seconds += 10 * 86400;
  Fill(*trail, 300, 810);
  moved = trail->ArchiveBefore(clock.now() - std::chrono::days(5));
  ASSERT_TRUE(moved) << moved.error().message();
  // [512,768) goes; [768,1024) stays: entries 810 on were written after the cutoff.
  EXPECT_EQ(moved->first, 768u);
  trail.reset();
  whole = VerifyTrail(both);
  EXPECT_TRUE(whole.ok) << whole.reason;
  EXPECT_EQ(whole.entries, 1110u);
  EXPECT_TRUE(VerifyTrail(archive_only).ok);
  EXPECT_EQ(Verify().first, 768u);
}

TEST_F(TrailTest, ArchivingCutShortIsFinishedAndATamperedAnchorIsCaught) {
  TestClock clock;
  TrailOptions o = clock.Archiving(Options(), dir_ / "archive");
  {
    auto trail = OpenTrail(o);
    Fill(*trail, 300);
    clock.seconds += 10 * 86400;
    Fill(*trail, 1, 300);
    ASSERT_EQ(trail->ArchiveBefore(clock.now() - std::chrono::days(1))->first, 256u);
  }
  // A crash after the anchor, before the moved segment was removed here: it is ignored by the
  // verifier and removed at the next start.
  const fs::path leftover = dir_ / "audit" / "segments" / "00000000000000000000.seg";
  fs::copy_file(dir_ / "archive" / "segments" / "00000000000000000000.seg", leftover);
  EXPECT_TRUE(Verify().ok);
  { ASSERT_TRUE(OpenTrail(o)); }
  EXPECT_FALSE(fs::exists(leftover));
  // One the archive does not hold as it is is not deleted on the anchor's word alone.
  std::ofstream(leftover) << "not archived";
  { ASSERT_TRUE(OpenTrail(o)); }
  EXPECT_TRUE(fs::exists(leftover));
  fs::remove(leftover);

  // The anchor is held to its signature and its root.
  const fs::path anchor_file = dir_ / "audit" / "anchor.json";
  std::string anchor_text;
  {
    std::ifstream in(anchor_file);
    anchor_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto anchor = ParseAnchor(anchor_text);
  ASSERT_TRUE(anchor);
  EXPECT_EQ(anchor->checkpoint.size, 256u);
  EXPECT_EQ(anchor->peaks.size(), 1u);
  auto write_anchor = [&](const std::string& text) {
    std::ofstream out(anchor_file, std::ios::trunc);
    out << text;
  };
  Anchor altered = *anchor;
  altered.peaks[0][3] ^= 1;
  write_anchor(EncodeAnchor(altered));
  auto report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad, 256u);
  EXPECT_NE(report.reason.find("anchor signature"), std::string::npos) << report.reason;
  EXPECT_EQ(Trail::Open(o).error().code(), ErrorCode::kDataLoss);
  // Signed by the key itself, peaks that do not give the root are still refused.
  SignAnchor(altered, *TestSigner());
  write_anchor(EncodeAnchor(altered));
  report = Verify();
  EXPECT_EQ(report.first_bad, 256u);
  EXPECT_NE(report.reason.find("peaks"), std::string::npos) << report.reason;
  // An ordinary signed checkpoint (anyone can copy one from a log) does not make an anchor:
  // otherwise the head of a trail could be cut off at any checkpoint.
  altered = *anchor;
  altered.signature = altered.checkpoint.signature;
  write_anchor(EncodeAnchor(altered));
  EXPECT_FALSE(Verify().ok);
  altered = *anchor;
  altered.checkpoint.size = 0;  // claims nothing was archived: unsigned and inconsistent
  altered.checkpoint.last_leaf[0] ^= 1;
  write_anchor(EncodeAnchor(altered));
  EXPECT_FALSE(Verify().ok);
  fs::remove(anchor_file);  // without it the live trail does not begin at 0
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.reason.find("should start at entry 0"), std::string::npos) << report.reason;
  write_anchor(anchor_text);
  EXPECT_TRUE(Verify().ok);
  // The live anchor copied into the archive would hide the archive's segments: refused.
  fs::copy_file(anchor_file, dir_ / "archive" / "anchor.json");
  VerifyOptions both;
  both.dir = dir_ / "audit";
  both.archive_dirs = {dir_ / "archive"};
  both.public_key = TestSigner()->public_key();
  report = VerifyTrail(both);
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.reason.find("holds no anchor"), std::string::npos) << report.reason;
  fs::remove(dir_ / "archive" / "anchor.json");
  EXPECT_TRUE(VerifyTrail(both).ok);

  // A different segment of the same name in the archive is never replaced.
  {
    auto trail = OpenTrail(o);
    Fill(*trail, 300, 301);
    clock.seconds += 10 * 86400;
    Fill(*trail, 1, 601);
    std::ofstream(dir_ / "archive" / "segments" / "00000000000000000256.seg") << "not ours";
    auto refused = trail->ArchiveBefore(clock.now() - std::chrono::days(1));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(trail->first(), 256u);
  }
  EXPECT_TRUE(Verify().ok);

  // Sealed, the boundary cannot be signed: nothing moves.
  o.signer = [] { return std::shared_ptr<const crypto::Ed25519Signer>(); };
  fs::remove(dir_ / "archive" / "segments" / "00000000000000000256.seg");
  auto trail = OpenTrail(o);
  EXPECT_EQ(trail->ArchiveBefore(clock.now()).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(trail->first(), 256u);
}

TEST_F(TrailTest, SegmentsRotateByAgeAtABlockMark) {
  TrailOptions o = Options();
  o.segment_bytes = std::uint64_t{1} << 40;
  o.segment_max_age = std::chrono::seconds(0);
  { Fill(*OpenTrail(std::move(o)), 600); }
  const auto segments = ListSegments(dir_ / "audit");
  ASSERT_EQ(segments->size(), 3u);
  EXPECT_EQ((*segments)[1].first_seq, 256u);
  EXPECT_EQ((*segments)[2].first_seq, 512u);
}

TEST_F(TrailTest, ALowDiskIsReported) {
  TrailOptions o = Options();
  o.min_free_bytes = UINT64_MAX;
  o.chores_delay = std::chrono::milliseconds(0);
  auto trail = OpenTrail(std::move(o));
  for (int i = 0; i < 500 && trail->stats().disk_free_bytes == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(trail->stats().disk_free_bytes, 0u);
  EXPECT_TRUE(trail->stats().disk_low);
}

}  // namespace
}  // namespace strongroom::audit
