// A 10-field record through the whole service, in process (Google Benchmark): validation, JSON,
// encryption under the subject's key, blind indexes, and the durable SQLite write (WAL,
// synchronous=FULL, group commit) or the read and decryption. Plus the crypto alone (the barrier
// encrypting and decrypting the 10 values), which should cost microseconds, so the storage and
// the fsync are visibly what a durable write pays for; and a tokenized field view once its token
// is stored, with and without the link to its subject. bench/record.sh runs it.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/keys/sealed_key_file.h"
#include "strongroom/records/token_vault.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/sqlite_store.h"

namespace {

namespace json = boost::json;
using namespace strongroom;

constexpr std::string_view kPassphrase = "benchmark passphrase";

const char* kCollection = R"({"name":"people","fields":[
  {"name":"email","type":"email","required":true,"indexed":true,"classification":{"grade":"confidential","category":"contact"}},
  {"name":"full_name","type":"name","indexed":true,"classification":{"grade":"confidential","category":"identity"}},
  {"name":"phone","type":"phone","indexed":true,"classification":{"grade":"confidential","category":"contact"}},
  {"name":"birth_date","type":"date","classification":{"grade":"restricted","category":"identity"}},
  {"name":"address","type":"address","classification":{"grade":"confidential","category":"location"}},
  {"name":"national_id","type":"national_id","classification":{"grade":"restricted","category":"identity"}},
  {"name":"employer","type":"string","classification":{"grade":"internal","category":"other"}},
  {"name":"visits","type":"integer","classification":{"grade":"internal","category":"behavioural"}},
  {"name":"consent","type":"boolean","classification":{"grade":"internal","category":"other"}},
  {"name":"notes","type":"json","classification":{"grade":"restricted","category":"health"}}]})";

std::string RecordBody(std::string_view subject, int n) {
  return std::string(R"({"subject_id":")") + std::string(subject) +
         R"(","fields":{"email":"person)" + std::to_string(n) +
         R"(@example.com","full_name":"Alice Example","phone":"+44 20 7946 0958",)"
         R"("birth_date":"1990-02-28","address":"1 High Street, Exampleton EX1 2AB",)"
         R"("national_id":"AB 12 34 56 C","employer":"Example Health Ltd","visits":12,)"
         R"("consent":true,"notes":{"allergies":["pollen"],"smoker":false}}})";
}

// One vault in a temporary directory, shared by every benchmark of the process.
struct Vault {
  Vault() : dir(std::filesystem::temp_directory_path() /
                ("sr-record-bench-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir);
    metadata = std::move(*storage::OpenSqliteStore(dir / "metadata.db"));
    profiles = std::move(*storage::OpenSqliteStore(dir / "profiles.db"));
    activity = std::move(*storage::OpenSqliteStore(dir / "activity.db"));
    // As the server opens it: with a read cache (64 MiB, server.read_cache_bytes' default).
    token_store = std::move(*storage::OpenSqliteStore(
        dir / "tokens.db", {.page_size = 4096, .read_cache_bytes = 64u << 20}));
    const auto pass = std::span(reinterpret_cast<const std::uint8_t*>(kPassphrase.data()),
                                kPassphrase.size());
    (void)keys::CreateSealedKeyFile(dir / "root.sealed", pass);
    seal = std::make_unique<barrier::SealState>(
        std::make_unique<keys::SealedFileRootKeyProvider>(dir / "root.sealed"), *metadata,
        barrier::SealState::Options{});
    (void)seal->Unseal(pass);
    service = std::make_unique<records::VaultService>(
        records::Stores{*metadata, *profiles, *activity}, *seal);
    (void)service->CreateTenant(json::parse(R"({"id":"bench"})"));
    (void)service->CreateCollection("bench", json::parse(kCollection));
    subject = std::string(service->CreateSubject("bench", json::object())->at("id").as_string());
    auto created = service->CreateRecord("bench", "people", json::parse(RecordBody(subject, 0)));
    record_id = std::string(created->at("id").as_string());
    tokens = std::make_unique<records::TokenVault>(*token_store, *seal);
  }
  ~Vault() {
    tokens.reset();
    service.reset();
    seal.reset();
    metadata.reset();
    profiles.reset();
    activity.reset();
    token_store.reset();
    std::filesystem::remove_all(dir);
  }
  std::filesystem::path dir;
  std::unique_ptr<storage::Store> metadata, profiles, activity, token_store;
  std::unique_ptr<barrier::SealState> seal;
  std::unique_ptr<records::VaultService> service;
  std::unique_ptr<records::TokenVault> tokens;
  std::string subject, record_id;
};

Vault& TheVault() {
  static Vault vault;
  return vault;
}

std::atomic<int> counter{1};

void BM_RecordEncryptAndStore(benchmark::State& state) {
  Vault& v = TheVault();
  for (auto _ : state) {
    auto body = json::parse(RecordBody(v.subject, counter++));
    auto created = v.service->CreateRecord("bench", "people", body);
    if (!created) state.SkipWithError(created.error().message().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordEncryptAndStore)->UseRealTime()->Threads(1)->Threads(4)->Threads(16);

void BM_RecordLoadAndDecrypt(benchmark::State& state) {
  Vault& v = TheVault();
  for (auto _ : state) {
    auto got = v.service->GetRecord("bench", "people", v.record_id);
    if (!got) state.SkipWithError(got.error().message().c_str());
    benchmark::DoNotOptimize(got->size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordLoadAndDecrypt)->UseRealTime()->Threads(1)->Threads(2);

// The barrier alone: 10 values encrypted under the subject's key, then decrypted.
void BM_RecordCryptoOnly(benchmark::State& state) {
  Vault& v = TheVault();
  auto keys = v.seal->keys();
  const auto body = json::parse(RecordBody(v.subject, 0)).at("fields").as_object();
  std::vector<std::string> plaintexts;
  std::vector<std::string> names;
  for (const auto& [name, value] : body) {
    names.emplace_back(name);
    plaintexts.push_back(json::serialize(value));
  }
  std::vector<std::vector<std::uint8_t>> out(plaintexts.size());
  std::vector<barrier::EncryptItem> items;
  for (std::size_t i = 0; i < plaintexts.size(); ++i) {
    items.push_back({{"bench", "people", "rec_AAAAAAAAAAAAAAAAAAAAAA", names[i]},
                     {reinterpret_cast<const std::uint8_t*>(plaintexts[i].data()),
                      plaintexts[i].size()},
                     &out[i]});
  }
  std::vector<std::uint8_t> plain;
  for (auto _ : state) {
    if (!keys->barrier->Encrypt("bench", v.subject, items)) state.SkipWithError("encrypt");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!keys->barrier->DecryptTo("bench", v.subject, items[i].location, out[i], plain)) {
        state.SkipWithError("decrypt");
      }
      benchmark::DoNotOptimize(plain.data());
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordCryptoOnly);

// One field shown in a "tokenized" view once its token is stored (the steady state of a read):
// the deterministic token, and the lookups that find nothing to write. Arg 0: a record without
// a subject, the token lookup alone (the path before tokens were linked to subjects); 1: the
// record's subject, which adds the lookup of the token's link to it.
void BM_TokenizedFieldView(benchmark::State& state) {
  Vault& v = TheVault();
  const std::string_view subject = state.range(0) == 1 ? std::string_view(v.subject) : "";
  const json::value email("person0@example.com");
  if (!v.tokens->TokenizeField("bench", "people", "email", email, subject)) {
    state.SkipWithError("first token");
    return;
  }
  for (auto _ : state) {
    auto token = v.tokens->TokenizeField("bench", "people", "email", email, subject);
    if (!token) state.SkipWithError(token.error().message().c_str());
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(subject.empty() ? "token only" : "token and its subject link");
}
BENCHMARK(BM_TokenizedFieldView)->Arg(0)->Arg(1);

// Detokenizing one random token. Arg 0: made without a subject (a random token has no holder
// row then: the holders' scan finds nothing). 1: linked to a subject, whose choices are then
// asked about (here a function that allows; the server's is the policy over its choices
// cache).
void BM_Detokenize(benchmark::State& state) {
  Vault& v = TheVault();
  json::object request{{"kind", "random"}, {"values", json::array{"a value to turn back"}}};
  if (state.range(0) == 1) request["subject_id"] = v.subject;
  const auto exists = [](std::string_view) { return Result<bool>(true); };
  auto made = v.tokens->Tokenize("bench", request, exists);
  if (!made) {
    state.SkipWithError(made.error().message().c_str());
    return;
  }
  const json::object body{{"tokens", made->at("tokens")}};
  const auto readable = [](std::string_view, std::string_view) { return Result<bool>(true); };
  const auto subject_allows = [](std::string_view) { return Result<void>(); };
  for (auto _ : state) {
    auto values = v.tokens->Detokenize("bench", body, readable, subject_allows);
    if (!values) state.SkipWithError(values.error().message().c_str());
    benchmark::DoNotOptimize(values);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 1 ? "linked to a subject" : "no subject");
}
BENCHMARK(BM_Detokenize)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
