// Test helper for tests/integration/test_storage_crash.py (not shipped).
//
//   crash_writer write FILE THREADS   writes forever from THREADS threads; for every batch prints
//                                     "SUBMIT t i" before Write() and "ACK t i" after it returns OK
//   crash_writer dump FILE            prints every key in the store, one per line
//
// Each batch puts three keys t-i-a, t-i-b, t-i-c, so a partially applied batch is visible.
// Lines go out with one write(2) each, so strace sees them in order with the fsyncs.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "strongroom/storage/sqlite_store.h"

namespace {

void Say(const std::string& line) {
  const std::string text = line + "\n";
  (void)::write(STDOUT_FILENO, text.data(), text.size());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace strongroom::storage;
  if (argc < 3) {
    std::fprintf(stderr, "usage: crash_writer write FILE THREADS | dump FILE\n");
    return 2;
  }
  auto store = OpenSqliteStore(argv[2]);
  if (!store) {
    std::fprintf(stderr, "open failed: %s\n", store.error().message().c_str());
    return 1;
  }
  if (std::strcmp(argv[1], "dump") == 0) {
    std::string after;
    for (;;) {
      auto page = (*store)->Scan("crash", after, 1000);
      if (!page || page->empty()) return page ? 0 : 1;
      for (const auto& entry : *page) Say(entry.key);
      after = page->back().key;
    }
  }
  const int threads = argc > 3 ? std::atoi(argv[3]) : 4;
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (long i = 0;; ++i) {
        const std::string id = std::to_string(t) + " " + std::to_string(i);
        const std::string key = std::to_string(t) + "-" + std::to_string(i);
        WriteBatch batch;
        for (const char* part : {"-a", "-b", "-c"}) {
          batch.Put("crash", key + part, Bytes(64, static_cast<std::uint8_t>('a' + t)));
        }
        Say("SUBMIT " + id);
        if (!(*store)->Write(std::move(batch))) return;
        Say("ACK " + id);
      }
    });
  }
  for (auto& w : writers) w.join();
  return 1;
}
