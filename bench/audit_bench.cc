// The audit trail in process (Google Benchmark): appends per second with group commit (the
// writer thread encodes, chains, hashes, writes and fdatasyncs whatever is queued; producers
// keep up to 4096 entries in flight, as many concurrent requests would), and offline
// verification speed (entries per second: chain, Merkle tree, checkpoint signatures), and what
// naming a subject costs an entry (its own pseudonym against the audit key's).
// bench/audit.sh runs it. The trail lives in a temporary directory on the same disk as the
// vault's data would.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "strongroom/audit/audit_entry.h"
#include "strongroom/audit/audit_keys.h"
#include "strongroom/audit/audit_trail.h"
#include "strongroom/audit/merkle.h"
#include "strongroom/audit/trail_verifier.h"
#include "strongroom/barrier/seal_state.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/storage/sqlite_store.h"

namespace {

using namespace strongroom;
namespace fs = std::filesystem;

std::shared_ptr<const crypto::Ed25519Signer> Signer() {
  static const auto signer = std::make_shared<const crypto::Ed25519Signer>(
      *crypto::Ed25519Signer::FromSeed(std::vector<std::uint8_t>(32, 3)));
  return signer;
}

audit::Event TypicalRead(std::int64_t i) {
  audit::Event e;
  e.tenant = "default";
  e.actor = audit::Actor{
      "prn_Sx1cI7l0Yl7g1rJ3mFQm2w", "service", {"service"}, "token", "tok_pQ3wVt8e5nHhH2KQmVxk9A"};
  e.source = "10.1.2.3";
  e.request_id = "3f1c2a4b5d6e7f80-" + std::to_string(i);
  e.action = "record.read";
  e.collection = "patients";
  e.ids = {"rec_Kf7lvka_JwZ3JgUlyh7CEw"};
  e.subjects = {"psn_9mZ1cQ4u2VvQe8lq3x0b7A"};
  e.fields = {"email:plain", "full_name:plain", "phone:plain", "birth_date:plain"};
  e.status = 200;
  e.code = "ok";
  return e;
}

fs::path FreshDir(std::string_view name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("sr-audit-bench-" + std::string(name) + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

audit::TrailOptions Options(const fs::path& dir) {
  audit::TrailOptions o;
  o.dir = dir;
  o.signer = [] { return Signer(); };
  o.spool_entries = 1 << 20;
  return o;
}

// Producers append without waiting for each entry; at most `kWindow` are in flight.
void BM_AuditAppendGroupCommit(benchmark::State& state) {
  constexpr std::int64_t kWindow = 4096;
  const fs::path dir = FreshDir("append");
  auto trail = std::move(*audit::Trail::Open(Options(dir)));
  std::atomic<std::int64_t> in_flight{0}, failed{0};
  std::mutex mu;
  std::condition_variable cv;
  std::int64_t i = 0;
  for (auto _ : state) {
    if (in_flight.load(std::memory_order_acquire) >= kWindow) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight.load() < kWindow / 2; });
    }
    in_flight.fetch_add(1, std::memory_order_relaxed);
    trail->Append(TypicalRead(i++), [&](Result<std::uint64_t> r) {
      if (!r) failed.fetch_add(1);
      if (in_flight.fetch_sub(1) == kWindow / 2) {
        std::lock_guard lock(mu);
        cv.notify_all();
      }
    });
  }
  // Everything appended is durable before the clock stops.
  {
    std::unique_lock lock(mu);
    while (in_flight.load() > 0) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      lock.lock();
    }
  }
  const auto stats = trail->stats();
  state.SetItemsProcessed(state.iterations());
  state.counters["entries_per_fsync"] =
      static_cast<double>(stats.appended) /
      static_cast<double>(std::max<std::uint64_t>(stats.batches, 1));
  state.counters["failed"] = static_cast<double>(failed.load());
  trail.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_AuditAppendGroupCommit)->UseRealTime()->MinTime(2.0);

// One entry per fsync: what a lone caller waiting for its own entry pays.
void BM_AuditAppendAndWait(benchmark::State& state) {
  const fs::path dir = FreshDir("wait");
  auto trail = std::move(*audit::Trail::Open(Options(dir)));
  std::int64_t i = 0;
  for (auto _ : state) {
    if (!trail->AppendAndWait(TypicalRead(i++))) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
  trail.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_AuditAppendAndWait)->UseRealTime();

void BM_AuditVerify(benchmark::State& state) {
  const fs::path dir = FreshDir("verify");
  const auto entries = state.range(0);
  {
    auto trail = std::move(*audit::Trail::Open(Options(dir)));
    std::atomic<std::int64_t> done{0};
    for (std::int64_t i = 0; i < entries; ++i) {
      trail->Append(TypicalRead(i), [&](Result<std::uint64_t>) { done.fetch_add(1); });
    }
    while (done.load() < entries) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  audit::VerifyOptions options;
  options.dir = dir;
  options.public_key = Signer()->public_key();
  for (auto _ : state) {
    const auto report = audit::VerifyTrail(options);
    if (!report.ok || report.entries != static_cast<std::uint64_t>(entries)) {
      state.SkipWithError("the trail did not verify");
    }
  }
  state.SetItemsProcessed(state.iterations() * entries);
  fs::remove_all(dir);
}
BENCHMARK(BM_AuditVerify)->Arg(200'000)->UseRealTime()->Unit(benchmark::kMillisecond);

// What the writer thread spends per entry before any I/O: encoding it and its leaf hash.
void BM_AuditEncodeAndHash(benchmark::State& state) {
  const audit::Event event = TypicalRead(42);
  audit::Hash prev{};
  std::uint64_t seq = 0;
  for (auto _ : state) {
    const std::string entry = audit::EncodeEntry(seq++, prev, event);
    prev = audit::LeafHash({reinterpret_cast<const std::uint8_t*>(entry.data()), entry.size()});
    benchmark::DoNotOptimize(prev);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditEncodeAndHash);

// The tree's interior nodes: one 65-byte hash each.
void BM_AuditNodeHash(benchmark::State& state) {
  audit::Hash left{}, right{};
  right[0] = 1;
  for (auto _ : state) {
    left = audit::NodeHash(left, right);
    benchmark::DoNotOptimize(left);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditNodeHash);

// What naming a subject costs an audit entry (audit/audit_keys.h), against the peer it replaced
// in the same run: the subject's own pseudonym (a cache hit; 10,000 subjects, each looked up once
// before timing) against the audit key's HMAC, which every subject used before per-subject
// pseudonym keys. Arg 0: own; 1: the audit key's; 2: own with the barrier's caches cut to one
// entry, so nearly every call reads and unwraps the subject's oldest key (a miss).
void BM_SubjectPseudonym(benchmark::State& state) {
  constexpr std::size_t kSubjects = 10'000;
  constexpr std::string_view kPassphrase = "bench passphrase";
  const fs::path dir = FreshDir("pseudonyms");
  fs::create_directories(dir);
  auto store = std::move(*storage::OpenSqliteStore(dir / "metadata.db"));
  const std::span<const std::uint8_t> passphrase(
      reinterpret_cast<const std::uint8_t*>(kPassphrase.data()), kPassphrase.size());
  if (!keys::CreateSealedKeyFile(dir / "root.sealed", passphrase,
                                 {.iterations = 1, .memory_bytes = 8ull << 20})) {
    state.SkipWithError("no root key");
    return;
  }
  barrier::SealState::Options options;
  if (state.range(0) == 2) options.cache_capacity = 1;
  barrier::SealState seal(std::make_unique<keys::SealedFileRootKeyProvider>(dir / "root.sealed"),
                          *store, options);
  audit::AuditKeys audit_keys(seal);
  if (!seal.Unseal(passphrase)) {
    state.SkipWithError("unseal failed");
    return;
  }
  auto vault = seal.keys();
  storage::WriteBatch tenant;
  if (!vault->keyring->AddTenantKeys("default", tenant) || !store->Write(std::move(tenant))) {
    state.SkipWithError("no tenant keys");
    return;
  }
  std::vector<std::string> subjects;
  for (std::size_t i = 0; i < kSubjects; ++i) {
    subjects.push_back("sub_bench" + std::to_string(1'000'000 + i));
    if (!vault->barrier->CreateSubjectKey("default", subjects.back(), {})) {
      state.SkipWithError("no subject key");
      return;
    }
  }
  const bool own = state.range(0) != 1;
  auto name = [&](const std::string& subject) {
    return own ? audit_keys.SubjectPseudonym("default", subject)
               : audit_keys.VaultPseudonym("default", subject);
  };
  for (const auto& subject : subjects) {
    if (!name(subject)) state.SkipWithError("no pseudonym");
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto pseudonym = name(subjects[i++ % kSubjects]);
    benchmark::DoNotOptimize(pseudonym);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0   ? "own key (cached)"
                 : state.range(0) == 1 ? "audit key"
                                       : "own key (miss)");
  vault.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_SubjectPseudonym)->Arg(0)->Arg(1)->Arg(2);

}  // namespace

BENCHMARK_MAIN();
