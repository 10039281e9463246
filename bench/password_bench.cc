// Argon2id password verification at the server's default cost (m = 19 MiB, t = 2), on a thread
// that maps fresh memory for every hash (libsodium's own way) against one that keeps it
// (crypto/argon2_memory.h, as the credential pool does). Each variant runs on a thread of its
// own, since keeping is for the life of a thread. Run: build/release/bench/password_bench
#include <benchmark/benchmark.h>

#include <string>
#include <thread>

#include "strongroom/crypto/argon2_memory.h"
#include "strongroom/crypto/password_hash.h"

namespace {

void BM_VerifyPassword(benchmark::State& state) {
  const bool keep = state.range(0) == 1;
  static const std::string phc =
      strongroom::crypto::HashPassword("correct horse battery staple", {}).value();
  std::thread worker([&] {
    if (keep) strongroom::crypto::KeepArgon2MemoryOnThisThread();
    (void)strongroom::crypto::VerifyPassword(phc, "warm-up");  // the kept side maps it here
    for (auto _ : state) {
      auto verified = strongroom::crypto::VerifyPassword(phc, "correct horse battery staple");
      if (!verified || !*verified) {
        state.SkipWithError("verification failed");
        break;
      }
    }
  });
  worker.join();
  state.SetLabel(keep ? "kept memory" : "fresh memory");
}
BENCHMARK(BM_VerifyPassword)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime()  // the work is on the worker thread
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
