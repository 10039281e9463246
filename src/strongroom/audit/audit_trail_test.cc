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

TEST_F(TrailTest, TornTailIsCutAndWritingGoesOn) {
  { Fill(*OpenTrail(Options()), 10); }
  const auto last = ListSegments(dir_ / "audit")->back().path;
  {
    std::ofstream torn(last, std::ios::binary | std::ios::app);
    torn.write("\x00\x00\x01\x00{\"v\":1,\"seq\":10", 18);  // a frame the crash cut short
  }
  auto report = Verify();
  EXPECT_TRUE(report.ok);
  EXPECT_TRUE(report.torn_tail);
  auto trail = OpenTrail(Options());
  EXPECT_EQ(trail->size(), 10u);
  Fill(*trail, 5, 10);
  trail.reset();
  report = Verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_FALSE(report.torn_tail);
  EXPECT_EQ(report.entries, 15u);
}

// A disk that refuses writes (here: the file-size limit, EFBIG) fails every entry with
// audit_unavailable, and the trail resumes, intact, once writes succeed again.
TEST_F(TrailTest, FailsClosedThenRecovers) {
  auto trail = OpenTrail(Options());
  Fill(*trail, 3);
  const auto size_now = fs::file_size(ListSegments(dir_ / "audit")->back().path);
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

}  // namespace
}  // namespace strongroom::audit
