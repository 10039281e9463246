// Retention (issue 9, records/retention.h), in process (Google Benchmark): a pass deleting
// `range(0)` expired records of one collection (each a 3-field record with a blind index), and
// the same number of expired activity events, against the peer a deployment without retention
// would use: deleting the same records one VaultService::DeleteRecord at a time; and a pass
// moving the records into the archive (archive_days) instead. Every store
// write is durable (WAL, synchronous=FULL), as in the server. The records are written before
// each timed part (paused timing) and the pass's clock is moved on two days, past `days = 1`.
// bench/retention.sh runs it.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/time.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/policy/policy.h"
#include "strongroom/records/document_service.h"
#include "strongroom/records/retention.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/sqlite_store.h"

namespace {

namespace json = boost::json;
using namespace strongroom;

constexpr std::string_view kPassphrase = "benchmark passphrase";

struct Vault {
  Vault()
      : dir(std::filesystem::temp_directory_path() /
            ("sr-retention-bench-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir);
    metadata = std::move(*storage::OpenSqliteStore(dir / "metadata.db"));
    profiles = std::move(*storage::OpenSqliteStore(dir / "profiles.db"));
    activity = std::move(*storage::OpenSqliteStore(dir / "activity.db"));
    documents_store = std::move(*storage::OpenSqliteStore(dir / "documents.db"));
    const auto pass =
        std::span(reinterpret_cast<const std::uint8_t*>(kPassphrase.data()), kPassphrase.size());
    (void)keys::CreateSealedKeyFile(dir / "root.sealed", pass);
    seal = std::make_unique<barrier::SealState>(
        std::make_unique<keys::SealedFileRootKeyProvider>(dir / "root.sealed"), *metadata,
        barrier::SealState::Options{});
    (void)seal->Unseal(pass);
    service = std::make_unique<records::VaultService>(
        records::Stores{*metadata, *profiles, *activity}, *seal);
    documents = std::make_unique<records::DocumentService>(*metadata, *documents_store, *seal);
    (void)service->CreateTenant(json::parse(R"({"id":"bench"})"));
    (void)service->CreateCollection("bench", json::parse(R"({"name":"people","fields":[
      {"name":"email","type":"email","indexed":true,"classification":{"grade":"confidential","category":"contact"}},
      {"name":"full_name","type":"name","classification":{"grade":"confidential","category":"identity"}},
      {"name":"notes","type":"string","classification":{"grade":"restricted","category":"health"}}]})"));
    subject = std::string(service->CreateSubject("bench", json::object())->at("id").as_string());
    rules = policy::ParseDocument(
                "[[retention]]\nname = \"people\"\ncollections = [\"people\"]\ndays = 1\n"
                "[[retention]]\nname = \"activity\"\ncollections = [\"@activity\"]\ndays = 1\n")
                ->retention;
    archive_rules = policy::ParseDocument(
                        "purposes = [\"legal\"]\n[[retention]]\nname = \"people\"\n"
                        "collections = [\"people\"]\ndays = 1\narchive_days = 30\n")
                        ->retention;
  }
  ~Vault() {
    documents.reset();
    service.reset();
    seal.reset();
    std::filesystem::remove_all(dir);
  }

  // `n` records in batches of 100 (one durable write each); their ids.
  std::vector<std::string> Preload(int n) {
    std::vector<std::string> ids;
    for (int start = 0; start < n; start += 100) {
      json::array batch;
      for (int i = start; i < std::min(n, start + 100); ++i) {
        batch.push_back(json::object{
            {"subject_id", subject},
            {"fields", json::object{{"email", "p" + std::to_string(next++) + "@example.com"},
                                    {"full_name", "Alice Example"},
                                    {"notes", "seen for a sprained ankle"}}}});
      }
      auto made = service->CreateRecords("bench", "people", json::object{{"records", batch}});
      for (const auto& r : made->at("results").as_array()) {
        ids.emplace_back(r.at("record").at("id").as_string());
      }
    }
    return ids;
  }
  // `n` activity events that occurred 400 days ago, in batches of 100.
  void PreloadEvents(int n) {
    const std::string old =
        FormatRfc3339(std::chrono::system_clock::now() - std::chrono::days(400));
    for (int start = 0; start < n; start += 100) {
      json::array events;
      for (int i = start; i < std::min(n, start + 100); ++i) {
        events.push_back(json::object{{"type", "visit"}, {"occurred_at", old}});
      }
      (void)service->AppendActivity("bench", subject, json::object{{"events", events}});
    }
  }

  std::filesystem::path dir;
  std::unique_ptr<storage::Store> metadata, profiles, activity, documents_store;
  std::unique_ptr<barrier::SealState> seal;
  std::unique_ptr<records::VaultService> service;
  std::unique_ptr<records::DocumentService> documents;
  std::string subject;
  std::vector<records::RetentionRule> rules;
  std::vector<records::RetentionRule> archive_rules;  // people: archived, not deleted
  int next = 0;
};

Vault& TheVault() {
  static Vault vault;
  return vault;
}

records::RetentionJob MakeJob(Vault& v, observe::MetricsRegistry& metrics) {
  return records::RetentionJob(
      *v.service, *v.documents,
      {.items_per_second = 0,  // unpaced: the disk's speed (the server paces to 20,000/s)
       .clock = [] { return std::chrono::system_clock::now() + std::chrono::days(2); },
       .tenants = nullptr,
       .notify = nullptr,
       .each_round = nullptr},
      metrics);
}

// A pass over `range(0)` expired entries that `preload` wrote (untimed) before it.
void TimePasses(benchmark::State& state, void (*preload)(Vault&, int)) {
  Vault& v = TheVault();
  observe::MetricsRegistry metrics;
  auto job = MakeJob(v, metrics);
  for (auto _ : state) {
    state.PauseTiming();
    preload(v, static_cast<int>(state.range(0)));
    state.ResumeTiming();
    const auto pass = job.RunPass({"bench", 1, v.rules}, "bench", false);
    if (!pass.error.empty() || pass.purged != static_cast<std::uint64_t>(state.range(0))) {
      state.SkipWithError(
          ("pass: " + pass.error + " purged " + std::to_string(pass.purged)).c_str());
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_RetentionPassRecords(benchmark::State& state) {
  TimePasses(state, [](Vault& v, int n) { (void)v.Preload(n); });
}
BENCHMARK(BM_RetentionPassRecords)
    ->Arg(10'000)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The archive stage: the same expired records moved into the archive (one write per batch:
// the live rows deleted, the archived envelope and its subject link put) rather than deleted.
// The archive is emptied (untimed) after each pass, so every pass scans the same amount.
void BM_RetentionPassArchivesRecords(benchmark::State& state) {
  Vault& v = TheVault();
  observe::MetricsRegistry metrics;
  auto job = MakeJob(v, metrics);
  for (auto _ : state) {
    state.PauseTiming();
    (void)v.Preload(static_cast<int>(state.range(0)));
    state.ResumeTiming();
    const auto pass = job.RunPass({"bench", 1, v.archive_rules}, "bench", false);
    state.PauseTiming();
    if (!pass.error.empty() || pass.archived != static_cast<std::uint64_t>(state.range(0))) {
      state.SkipWithError(("pass: " + pass.error).c_str());
    }
    (void)job.RunPass({"bench", 1, v.rules}, "bench", false);  // rules without an archive
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RetentionPassArchivesRecords)
    ->Arg(10'000)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_DeleteRecordOneByOne(benchmark::State& state) {
  Vault& v = TheVault();
  for (auto _ : state) {
    state.PauseTiming();
    const auto ids = v.Preload(static_cast<int>(state.range(0)));
    state.ResumeTiming();
    for (const auto& id : ids) {
      if (!v.service->DeleteRecord("bench", "people", id)) state.SkipWithError("delete");
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
// Fewer records: each delete is its own fsync; the rate is what compares.
BENCHMARK(BM_DeleteRecordOneByOne)
    ->Arg(1'000)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_RetentionPassEvents(benchmark::State& state) {
  TimePasses(state, [](Vault& v, int n) { v.PreloadEvents(n); });
}
BENCHMARK(BM_RetentionPassEvents)
    ->Arg(10'000)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
