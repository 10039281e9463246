#pragma once
// Store: untrusted persistence below the barrier. It holds opaque keys and bytes it cannot read:
// ciphertext, keyed hashes, non-sensitive metadata. Callers must never hand it plaintext personal
// data, in keys or values.
//
// Contract every backend meets (tests/storage conformance suite, storage_conformance_test.cc):
//   - Write(batch) is atomic (all of a batch or none of it) and durable when it returns OK:
//     acknowledged writes survive a crash of the process or the machine.
//   - Get sees every acknowledged write. Scan returns a space's keys in byte order.
//   - Thread-safe: any number of threads may call any method at once; concurrent writers are
//     committed together (group commit) without giving up per-batch atomicity.
//   - Inside a NonBlockingScope (base/blocking.h) no call waits for the disk: Get answers from
//     memory or fails with would_block, and Scan and Write fail with would_block.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"

namespace strongroom::storage {

using Bytes = std::vector<std::uint8_t>;

class WriteBatch {
 public:
  struct Mutation {
    bool is_delete;
    std::string space;
    std::string key;
    Bytes value;
  };
  void Put(std::string_view space, std::string_view key, Bytes value) {
    mutations_.push_back({false, std::string(space), std::string(key), std::move(value)});
  }
  void Delete(std::string_view space, std::string_view key) {
    mutations_.push_back({true, std::string(space), std::string(key), {}});
  }
  const std::vector<Mutation>& mutations() const { return mutations_; }
  bool empty() const { return mutations_.empty(); }

 private:
  std::vector<Mutation> mutations_;
};

struct Entry {
  std::string key;
  Bytes value;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Result<std::optional<Bytes>> Get(std::string_view space, std::string_view key) = 0;
  // Up to `limit` entries of `space` with keys strictly after `after_key` ("" = from the start).
  virtual Result<std::vector<Entry>> Scan(std::string_view space, std::string_view after_key,
                                          std::size_t limit) = 0;
  virtual Result<void> Write(WriteBatch batch) = 0;
  // Moves every acknowledged write into the store's main file and empties its write-ahead log,
  // so that bytes deleted before the call are nowhere in the store's files afterwards (subject
  // erasure). unavailable if a reader (a backup's snapshot) holds an older state: try later.
  // Blocks on the disk (and briefly holds off writers); not for I/O threads.
  virtual Result<void> Checkpoint() = 0;

  struct Stats {
    std::uint64_t batches = 0;  // batches acknowledged
    std::uint64_t commits = 0;  // durable commits (fsyncs) that acknowledged them
    std::uint64_t cache_hits = 0;    // Gets answered from memory
    std::uint64_t cache_misses = 0;  // Gets that had to read the database
  };
  virtual Stats stats() const = 0;
};

}  // namespace strongroom::storage
