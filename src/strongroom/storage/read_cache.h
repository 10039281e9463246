#pragma once
// ReadCache: a bounded in-memory copy of recently read store entries, in front of a backend's
// reads, so that a read of data already in memory needs neither the disk nor a worker thread
// (base/blocking.h). It holds exactly what the store holds (ciphertext, keyed hashes,
// non-sensitive metadata; never plaintext, store.h).
//
// Exactness is the backend's job, with two calls: Invalidate() for every committed mutation
// before the write is acknowledged, and Insert() of a value read from disk only together with
// the Generation() taken *before* that read. An invalidation bumps its shard's generation, so a
// slow reader can never put back a value that a write has already replaced or deleted.
//
// Sharded (a mutex and an LRU list per shard); the capacity counts keys, values and a fixed
// overhead per entry. Values are shared, immutable buffers: Find() copies out of the lock.
// Thread-safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strongroom::storage {

class ReadCache {
 public:
  using Bytes = std::vector<std::uint8_t>;

  explicit ReadCache(std::size_t capacity_bytes);
  ReadCache(const ReadCache&) = delete;
  ReadCache& operator=(const ReadCache&) = delete;

  std::optional<Bytes> Find(std::string_view space, std::string_view key);
  std::uint64_t Generation(std::string_view space, std::string_view key) const;
  // Keeps `value` unless an invalidation reached this key's shard since `generation` was taken.
  // Values above an eighth of a shard are not kept (they would flush everything else).
  void Insert(std::string_view space, std::string_view key, const Bytes& value,
              std::uint64_t generation);
  void Invalidate(std::string_view space, std::string_view key);

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t entries = 0;
    std::size_t bytes = 0;
  };
  Stats stats() const;

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kEntryOverhead = 96;  // list node, map slot, shared buffer

  struct KeyView {
    std::string_view space;
    std::string_view key;
    bool operator==(const KeyView&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const KeyView& k) const;
  };
  struct Node {
    std::string space;
    std::string key;
    std::shared_ptr<const Bytes> value;
    std::size_t charge;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Node> lru;  // most recently used first
    std::unordered_map<KeyView, std::list<Node>::iterator, KeyHash> index;  // views into lru
    std::size_t bytes = 0;
    std::uint64_t generation = 0;
  };

  Shard& ShardFor(const KeyView& k) const;
  void EraseLocked(Shard& shard, std::list<Node>::iterator node);

  const std::size_t shard_capacity_;
  mutable Shard shards_[kShards];
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace strongroom::storage
