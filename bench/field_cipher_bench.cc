// FieldCipher throughput (Google Benchmark): what one encrypted field costs, at the block sizes
// `openssl speed -evp aes-256-gcm` reports, so bench/field_cipher.sh can put them side by side.
// Our cost includes what a stored value needs beyond raw GCM: a fresh nonce, the AAD built from
// the value's location, the 33-byte header, and a new output buffer.
#include <benchmark/benchmark.h>

#include <vector>

#include "strongroom/barrier/field_cipher.h"

namespace {

using strongroom::barrier::FieldCipher;
using strongroom::barrier::FieldLocation;

const FieldLocation kWhere{"tenant-1", "patients", "rec-000000001", "email"};

void BM_FieldEncrypt(benchmark::State& state) {
  const std::vector<std::uint8_t> key(32, 7);
  auto cipher = FieldCipher::Create(key, 1);
  const std::vector<std::uint8_t> plaintext(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    auto ct = cipher->Encrypt(kWhere, plaintext);
    benchmark::DoNotOptimize(ct->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// The batch path: one output buffer reused across values, as the store encrypts a record.
void BM_FieldEncryptTo(benchmark::State& state) {
  const std::vector<std::uint8_t> key(32, 7);
  auto cipher = FieldCipher::Create(key, 1);
  const std::vector<std::uint8_t> plaintext(static_cast<std::size_t>(state.range(0)), 'x');
  std::vector<std::uint8_t> out;
  for (auto _ : state) {
    (void)cipher->EncryptTo(kWhere, plaintext, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_FieldDecrypt(benchmark::State& state) {
  const std::vector<std::uint8_t> key(32, 7);
  auto cipher = FieldCipher::Create(key, 1);
  const std::vector<std::uint8_t> plaintext(static_cast<std::size_t>(state.range(0)), 'x');
  const auto ct = *cipher->Encrypt(kWhere, plaintext);
  for (auto _ : state) {
    auto pt = cipher->Decrypt(kWhere, ct);
    benchmark::DoNotOptimize(pt->reveal().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// The sizes `openssl speed` uses.
BENCHMARK(BM_FieldEncrypt)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->Arg(8192)->Arg(16384);
BENCHMARK(BM_FieldEncryptTo)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->Arg(8192)->Arg(16384);
BENCHMARK(BM_FieldDecrypt)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->Arg(8192)->Arg(16384);

}  // namespace

BENCHMARK_MAIN();
