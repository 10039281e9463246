#include "strongroom/storage/read_cache.h"

#include <functional>

namespace strongroom::storage {

ReadCache::ReadCache(std::size_t capacity_bytes) : shard_capacity_(capacity_bytes / kShards) {}

std::size_t ReadCache::KeyHash::operator()(const KeyView& k) const {
  const std::size_t h = std::hash<std::string_view>{}(k.key);
  return h ^ (std::hash<std::string_view>{}(k.space) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

ReadCache::Shard& ReadCache::ShardFor(const KeyView& k) const {
  // The top bits: the unordered_map buckets use the low ones.
  return shards_[(KeyHash{}(k) >> 56) % kShards];
}

std::optional<ReadCache::Bytes> ReadCache::Find(std::string_view space, std::string_view key) {
  const KeyView k{space, key};
  Shard& shard = ShardFor(k);
  std::shared_ptr<const Bytes> value;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(k);
    if (it == shard.index.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    value = it->second->value;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return *value;
}

std::uint64_t ReadCache::Generation(std::string_view space, std::string_view key) const {
  const Shard& shard = ShardFor({space, key});
  std::lock_guard lock(shard.mu);
  return shard.generation;
}

void ReadCache::Insert(std::string_view space, std::string_view key, const Bytes& value,
                       std::uint64_t generation) {
  const std::size_t charge = space.size() + key.size() + value.size() + kEntryOverhead;
  if (charge > shard_capacity_ / 8) return;
  auto shared = std::make_shared<const Bytes>(value);
  const KeyView k{space, key};
  Shard& shard = ShardFor(k);
  std::lock_guard lock(shard.mu);
  if (shard.generation != generation) return;  // a write landed since the caller's read began
  if (auto it = shard.index.find(k); it != shard.index.end()) EraseLocked(shard, it->second);
  shard.lru.push_front(Node{std::string(space), std::string(key), std::move(shared), charge});
  Node& node = shard.lru.front();
  shard.index.emplace(KeyView{node.space, node.key}, shard.lru.begin());
  shard.bytes += charge;
  while (shard.bytes > shard_capacity_) EraseLocked(shard, std::prev(shard.lru.end()));
}

void ReadCache::Invalidate(std::string_view space, std::string_view key) {
  const KeyView k{space, key};
  Shard& shard = ShardFor(k);
  std::lock_guard lock(shard.mu);
  ++shard.generation;
  if (auto it = shard.index.find(k); it != shard.index.end()) EraseLocked(shard, it->second);
}

void ReadCache::EraseLocked(Shard& shard, std::list<Node>::iterator node) {
  shard.bytes -= node->charge;
  shard.index.erase(KeyView{node->space, node->key});
  shard.lru.erase(node);
}

ReadCache::Stats ReadCache::stats() const {
  Stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    s.entries += shard.index.size();
    s.bytes += shard.bytes;
  }
  return s;
}

}  // namespace strongroom::storage
