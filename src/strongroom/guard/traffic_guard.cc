#include "strongroom/guard/traffic_guard.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <list>
#include <unordered_set>
#include <utility>

#include "strongroom/observe/log.h"

namespace strongroom::guard {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr std::size_t kAuthFailures = 0;
constexpr std::size_t kClientErrors = 1;
constexpr std::size_t kWafHits = 2;
constexpr std::size_t kAdminCause = 3;
constexpr std::array<std::string_view, 4> kCauseNames{"auth_failures", "client_errors", "waf",
                                                      "admin"};
constexpr std::string_view kUnknownViaPrefix = "unknown-via-";

bool IsV4Mapped(const IpAddress& address) {
  static constexpr std::array<std::uint8_t, 12> kPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(kPrefix.begin(), kPrefix.end(), address.bytes.begin());
}

IpAddress Masked(IpAddress address, int prefix_bits) {
  for (int bit = prefix_bits; bit < 128; ++bit) {
    address.bytes[static_cast<std::size_t>(bit / 8)] &=
        static_cast<std::uint8_t>(~(0x80u >> static_cast<unsigned>(bit % 8)));
  }
  return address;
}

// A token bucket (docs/guard.md): `burst` tokens, refilled at `per_second`; a request takes one.
// Shared limits (shared_limits.h) add what was taken since the last exchange and the counter
// value that exchange returned, valid on the connection numbered `shared_epoch`.
struct Bucket {
  bool used = false;  // a new bucket is full
  double tokens = 0;  // below zero after a debt to other nodes (never below -burst)
  Clock::time_point last;
  std::uint32_t unsynced = 0;
  std::uint32_t shared_epoch = 0;
  std::int64_t shared_seen = 0;
  Clock::time_point shared_seen_at;
};

// Counts a taken token toward the next exchange; true when the bucket became dirty (the caller
// lists it).
bool MarkUnsynced(Bucket& bucket) { return bucket.unsynced++ == 0; }

// Takes off a bucket what the other nodes took from its shared counter since the last exchange
// (SharedDebit: less the refill of a long idle gap). The tokens never go below -burst: a node
// that learns late of a flood refuses that client for about a burst's refill time, not for the
// flood's whole length.
void DebitShared(Bucket& bucket, const BucketDelta& delta, std::uint32_t epoch, const Rate& rate,
                 std::chrono::milliseconds sync_interval, Clock::time_point now) {
  const bool known = bucket.shared_epoch == epoch;
  const std::int64_t others = OthersTaken(delta.total, delta.taken,
                                          known ? std::optional(bucket.shared_seen) : std::nullopt);
  const auto since_seen = known ? now - bucket.shared_seen_at : Clock::duration::zero();
  bucket.shared_epoch = epoch;
  bucket.shared_seen = delta.total;
  bucket.shared_seen_at = now;
  if (!bucket.used) return;
  const double debit = SharedDebit(others, rate.per_second, since_seen, sync_interval);
  if (debit <= 0) return;
  bucket.tokens = std::max(-std::max(1.0, rate.burst), bucket.tokens - debit);
}

// nullopt: a token was taken; otherwise how long until one is back (at least a second: the
// Retry-After header counts in whole seconds).
std::optional<seconds> Take(Bucket& bucket, const Rate& rate, Clock::time_point now) {
  if (rate.per_second <= 0) return std::nullopt;
  const double burst = std::max(1.0, rate.burst);
  if (!bucket.used) {
    bucket.used = true;
    bucket.tokens = burst;
  } else if (now > bucket.last) {  // callers read the clock under the bucket's lock; still, never
                                   // refill backwards
    const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
    bucket.tokens = std::min(burst, bucket.tokens + elapsed * rate.per_second);
  }
  bucket.last = std::max(bucket.last, now);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  const double wait = (1 - bucket.tokens) / rate.per_second;
  return seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait))));
}

// A bounded map with least-recently-used eviction: list order is recency, the map indexes it.
// Written here because no Debian library offers one that fits (Boost's is in `compute`, a GPU
// library). Not thread-safe: its owner holds `mu`.
template <class Key, class Value, class Hash, class Equal = std::equal_to<>>
class LruTable {
 public:
  std::mutex mu;

  // The value for `key`, inserted (evicting the least recently used past `capacity`) if new,
  // and now the most recently used. `evicted` is set when an entry made room.
  template <class Lookup>
  Value& Touch(const Lookup& key, std::size_t capacity, bool& evicted) {
    evicted = false;
    if (auto found = index_.find(key); found != index_.end()) {
      order_.splice(order_.begin(), order_, found->second);
      return found->second->second;
    }
    if (order_.size() >= std::max<std::size_t>(1, capacity)) {
      index_.erase(order_.back().first);
      order_.pop_back();
      evicted = true;
    }
    order_.emplace_front(Key(key), Value{});
    index_.emplace(order_.front().first, order_.begin());
    return order_.front().second;
  }
  // The value for `key` without making it recent; nullptr when not there.
  template <class Lookup>
  Value* Find(const Lookup& key) {
    const auto found = index_.find(key);
    return found == index_.end() ? nullptr : &found->second->second;
  }
  std::size_t size() const { return order_.size(); }

 private:
  std::list<std::pair<Key, Value>> order_;
  std::unordered_map<Key, typename std::list<std::pair<Key, Value>>::iterator, Hash, Equal> index_;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

struct SourceEntry {
  std::array<Bucket, kRouteClassCount> buckets;
  std::array<std::uint32_t, 3> strikes{};
  Clock::time_point window_start;
  std::uint32_t offences = 0;
  Clock::time_point last_ban_end;  // a ban starting within offence_memory of it is a repeat
};

seconds BanLength(const GuardSettings& settings, std::uint32_t offence) {
  auto length = settings.ban_duration;
  for (std::uint32_t i = 1; i < offence && length < settings.max_ban_duration; ++i) length *= 2;
  return std::min(length, settings.max_ban_duration);
}

// A ban is due: forgets the strikes and counts the offence (a repeat when the previous ban ended
// less than `offence_memory` ago). Returns the offence's number.
std::uint32_t NextOffence(SourceEntry& entry, const GuardSettings& settings,
                          Clock::time_point now) {
  entry.strikes = {};
  const bool repeat = entry.offences > 0 && now < entry.last_ban_end + settings.offence_memory;
  entry.offences = repeat ? entry.offences + 1 : 1;
  entry.last_ban_end = now + BanLength(settings, entry.offences);
  return entry.offences;
}

// When a list file last changed (a missing file: the epoch, which reads as "changed" once it
// appears).
std::filesystem::file_time_type StampOf(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.empty()) return {};
  const auto stamp = std::filesystem::last_write_time(path, ec);
  return ec ? std::filesystem::file_time_type{} : stamp;
}

Result<std::vector<IpNetwork>> ReadListFile(const std::filesystem::path& path) {
  std::vector<IpNetwork> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read list file " + path.string() + ": " + ErrnoMessage(errno));
  }
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = line;
    if (const auto hash = text.find('#'); hash != std::string_view::npos)
      text = text.substr(0, hash);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
      text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
      text.remove_suffix(1);
    }
    if (text.empty()) continue;
    auto network = ParseIpNetwork(text);
    if (!network) {
      return Fail(ErrorCode::kFailedPrecondition, path.string() + ":" + std::to_string(number) +
                                                      ": the entry " + network.error().message());
    }
    out.push_back(*network);
  }
  if (in.bad()) {
    return Fail(ErrorCode::kFailedPrecondition, "cannot read list file " + path.string());
  }
  return out;
}

bool AnyContains(const std::vector<IpNetwork>& networks, const IpAddress& address) {
  return std::any_of(networks.begin(), networks.end(),
                     [&](const IpNetwork& network) { return network.Contains(address); });
}

}  // namespace

RouteClass ClassifyRoute(bool safe_method, std::string_view pattern) {
  static constexpr std::array<std::string_view, 5> kCredentialPrefixes{
      "/v1/auth/login", "/v1/auth/password", "/v1/auth/totp", "/v1/sys/unseal",
      "/v1/principals/{id}/password"};
  if (!safe_method) {
    for (const auto prefix : kCredentialPrefixes) {
      if (pattern.starts_with(prefix)) return RouteClass::kCredential;
    }
    return RouteClass::kWrite;
  }
  return RouteClass::kRead;
}

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone:
      return "none";
    case Refusal::kRateLimited:
      return "rate_limited";
    case Refusal::kBanned:
      return "banned";
    case Refusal::kBlocked:
      return "blocked";
    case Refusal::kTooManyConnections:
      return "too_many_connections";
  }
  return "unknown";
}

std::size_t SourceKeyHash::operator()(const SourceKey& key) const noexcept {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  std::memcpy(&high, key.bytes.data(), 8);
  std::memcpy(&low, key.bytes.data() + 8, 8);
  // splitmix64's finaliser over both halves: spreads addresses that differ in a few bits.
  std::uint64_t x = high * 0x9E3779B97F4A7C15ull ^ low ^ (key.unknown_via_proxy ? 1u : 0u);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return static_cast<std::size_t>(x ^ (x >> 31));
}

struct TrafficGuard::Lists {
  std::vector<IpNetwork> allow;
  std::vector<IpNetwork> block;
  std::filesystem::file_time_type allow_stamp;
  std::filesystem::file_time_type block_stamp;
};

// Each table also lists the buckets with takings not yet exchanged (shared limits only; a
// bucket is listed when its count leaves zero). Entries of buckets evicted since stay until the
// next exchange, and a bucket evicted and made again is listed again; so past twice
// `live_bound` (every bucket the table can hold) the list is compacted to the buckets still
// dirty, each once: an attacker spraying addresses cannot grow it past that, and compaction
// costs O(1) per listing amortised.
template <class Entry, class BucketOf>
void ListDirty(std::vector<Entry>& dirty, Entry entry, std::size_t live_bound,
               const BucketOf& bucket_of) {
  if (dirty.size() >= 2 * live_bound) {
    std::unordered_set<const Bucket*> kept;
    std::erase_if(dirty, [&](const Entry& listed) {
      const Bucket* bucket = bucket_of(listed);
      return bucket == nullptr || bucket->unsynced == 0 || !kept.insert(bucket).second;
    });
  }
  dirty.push_back(std::move(entry));
}
struct TrafficGuard::Shard : LruTable<SourceKey, SourceEntry, SourceKeyHash, std::equal_to<>> {
  std::vector<std::pair<SourceKey, std::uint8_t>> dirty;  // with the route class
  Bucket* BucketOf(const std::pair<SourceKey, std::uint8_t>& listed) {
    SourceEntry* entry = Find(listed.first);
    return entry == nullptr ? nullptr : &entry->buckets[listed.second];
  }
};
struct TrafficGuard::CallerTable : LruTable<std::string, Bucket, StringHash, std::equal_to<>> {
  std::vector<std::string> dirty;
  Bucket* BucketOf(const std::string& listed) { return Find(listed); }
};

TrafficGuard::TrafficGuard(GuardSettings settings, observe::MetricsRegistry& registry)
    : settings_(std::make_shared<const GuardSettings>(std::move(settings))),
      lists_(std::make_shared<const Lists>()),
      principals_(std::make_unique<CallerTable>()),
      tenants_(std::make_unique<CallerTable>()),
      active_bans_(registry.GetGauge("strongroom_guard_active_bans", "sources banned now")),
      tracked_gauge_(registry.GetGauge("strongroom_guard_tracked_sources",
                                       "sources with a rate bucket in memory")),
      evictions_(registry.GetCounter("strongroom_guard_evictions_total",
                                     "least recently seen sources dropped to bound memory")),
      banned_(registry.GetCounter("strongroom_guard_refusals_total",
                                  "connections and requests the traffic guard refused",
                                  {{"reason", "banned"}, {"scope", "source"}})),
      blocked_(registry.GetCounter("strongroom_guard_refusals_total",
                                   "connections and requests the traffic guard refused",
                                   {{"reason", "blocked"}, {"scope", "source"}})),
      too_many_connections_(registry.GetCounter(
          "strongroom_guard_refusals_total", "connections and requests the traffic guard refused",
          {{"reason", "too_many_connections"}, {"scope", "source"}})) {
  for (auto& shard : shards_) shard = std::make_unique<Shard>();
  constexpr std::array<std::string_view, 3> kScopes{"source", "principal", "tenant"};
  for (std::size_t i = 0; i < kScopes.size(); ++i) {
    rate_limited_[i] = &registry.GetCounter(
        "strongroom_guard_refusals_total", "connections and requests the traffic guard refused",
        {{"reason", "rate_limited"}, {"scope", std::string(kScopes[i])}});
  }
  for (std::size_t i = 0; i < kCauseNames.size(); ++i) {
    bans_started_[i] = &registry.GetCounter("strongroom_guard_bans_total", "bans started",
                                            {{"cause", std::string(kCauseNames[i])}});
  }
  shared_ = std::make_unique<SharedLimits>(
      SharedLimits::Hooks{[this] { return CollectUnsynced(); },
                          [this](std::span<const BucketDelta> deltas, std::uint32_t epoch) {
                            ApplyShared(deltas, epoch);
                          }},
      registry);
}

TrafficGuard::~TrafficGuard() {
  shared_.reset();  // its thread reads the tables
  {
    std::lock_guard lock(watch_mu_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

Result<void> TrafficGuard::Start() {
  const auto settings = CurrentSettings();
  auto link = SharedLimits::Prepare(settings->shared);
  if (!link) return std::unexpected(link.error());
  auto lists = ReadLists(*settings);
  if (!lists) return std::unexpected(lists.error());
  attempted_allow_ = (*lists)->allow_stamp;
  attempted_block_ = (*lists)->block_stamp;
  lists_.store(std::move(*lists));
  shared_->Apply(std::move(*link));
  watcher_ = std::thread([this] { Watch(); });
  return {};
}

void TrafficGuard::StartSharing() { shared_->Start(); }

Result<void> TrafficGuard::Reconfigure(const GuardSettings& settings) {
  auto link = SharedLimits::Prepare(settings.shared);
  if (!link) return std::unexpected(link.error());
  auto lists = ReadLists(settings);
  if (!lists) return std::unexpected(lists.error());
  settings_.store(std::make_shared<const GuardSettings>(settings));
  lists_.store(std::move(*lists));
  shared_->Apply(std::move(*link));
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return {};
}

std::shared_ptr<const GuardSettings> TrafficGuard::CurrentSettings() const {
  return settings_.load(std::memory_order_acquire);
}

bool TrafficGuard::enabled() const { return CurrentSettings()->enabled; }

std::size_t TrafficGuard::tracked_sources() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    total += shard->size();
  }
  return total;
}

SourceKey TrafficGuard::KeyOf(const IpAddress& address, const GuardSettings& settings) const {
  SourceKey key;
  key.bytes =
      IsV4Mapped(address) ? address.bytes : Masked(address, settings.ipv6_prefix_bits).bytes;
  return key;
}

std::optional<TrafficGuard::Source> TrafficGuard::Identify(std::string_view client,
                                                           const GuardSettings& settings) const {
  const bool via = client.starts_with(kUnknownViaPrefix);
  if (via) client.remove_prefix(kUnknownViaPrefix.size());
  const auto address = ParseIpAddress(client);  // once per request: the hot path
  if (!address) return std::nullopt;
  if (via) return Source{SourceKey{address->bytes, true}, std::nullopt, false};
  return Source{KeyOf(*address, settings), address, AllowListed(*address)};
}

std::string TrafficGuard::TargetOf(const SourceKey& key, const GuardSettings& settings) const {
  const IpAddress address{key.bytes};
  const bool v4 = IsV4Mapped(address);
  std::string text =
      IpNetwork{address, v4 || key.unknown_via_proxy ? 128 : settings.ipv6_prefix_bits}.ToString();
  if (v4 || key.unknown_via_proxy) text.erase(text.rfind('/'));  // a single host
  return key.unknown_via_proxy ? std::string(kUnknownViaPrefix) + text : text;
}

bool TrafficGuard::AllowListed(const IpAddress& address) const {
  const auto lists = lists_.load(std::memory_order_acquire);
  return !lists->allow.empty() && AnyContains(lists->allow, address);
}

Refusal TrafficGuard::BanOrBlock(const SourceKey& key, const std::optional<IpAddress>& address,
                                 seconds& left) const {
  if (address) {
    const auto lists = lists_.load(std::memory_order_acquire);
    if (!lists->block.empty() && AnyContains(lists->block, *address)) return Refusal::kBlocked;
  }
  if (ban_count_.load(std::memory_order_acquire) == 0) return Refusal::kNone;
  const auto now = Clock::now();
  const auto remaining = [&](Clock::time_point ends) {
    return std::chrono::duration_cast<seconds>(ends - now) + seconds(1);
  };
  std::shared_lock lock(bans_mu_);
  if (auto found = host_bans_.find(key); found != host_bans_.end() && found->second.ends > now) {
    left = remaining(found->second.ends);
    return Refusal::kBanned;
  }
  if (address) {
    for (const auto& [network, ban] : network_bans_) {
      if (ban.ends > now && network.Contains(*address)) {
        left = remaining(ban.ends);
        return Refusal::kBanned;
      }
    }
  }
  return Refusal::kNone;
}

Verdict TrafficGuard::AdmitConnection(const IpAddress& peer, bool trusted_proxy,
                                      SourceKey& counted_as) {
  const auto settings = CurrentSettings();
  const SourceKey key = KeyOf(peer, *settings);
  counted_as = key;
  if (settings->enabled && !AllowListed(peer)) {
    Verdict verdict;
    verdict.refusal = BanOrBlock(key, peer, verdict.retry_after);
    if (verdict.refusal == Refusal::kBanned) banned_.Increment();
    if (verdict.refusal == Refusal::kBlocked) blocked_.Increment();
    if (!verdict.admitted()) return verdict;
    if (!trusted_proxy && settings->max_connections_per_source > 0) {
      std::lock_guard lock(connections_mu_);
      auto& open = connections_[key];
      if (open >= settings->max_connections_per_source) {
        too_many_connections_.Increment();
        return Verdict{Refusal::kTooManyConnections, seconds(1), "source"};
      }
      ++open;
      return {};
    }
  }
  std::lock_guard lock(connections_mu_);
  ++connections_[key];
  return {};
}

void TrafficGuard::ReleaseConnection(const SourceKey& counted_as) {
  std::lock_guard lock(connections_mu_);
  auto found = connections_.find(counted_as);
  if (found == connections_.end()) return;
  if (--found->second == 0) connections_.erase(found);
}

Verdict TrafficGuard::AdmitRequest(std::string_view client, RouteClass route_class) {
  const auto settings = CurrentSettings();
  if (!settings->enabled) return {};
  const auto source = Identify(client, *settings);
  if (!source || source->allow_listed) return {};  // no address: the server always has one
  const SourceKey& key = source->key;
  Verdict verdict;
  verdict.refusal = BanOrBlock(key, source->address, verdict.retry_after);
  if (verdict.refusal == Refusal::kBanned) banned_.Increment();
  if (verdict.refusal == Refusal::kBlocked) blocked_.Increment();
  if (!verdict.admitted()) return verdict;

  Shard& shard = *shards_[SourceKeyHash{}(key) % kShards];
  std::uint32_t ban_offence = 0;
  {
    std::lock_guard lock(shard.mu);
    bool evicted = false;
    SourceEntry& entry = shard.Touch(key, settings->max_tracked_clients / kShards, evicted);
    if (evicted) evictions_.Increment();
    const auto now = Clock::now();
    Bucket& bucket = entry.buckets[static_cast<std::size_t>(route_class)];
    const Rate& rate = settings->per_source[static_cast<std::size_t>(route_class)];
    const auto wait = Take(bucket, rate, now);
    if (!wait) {
      if (rate.per_second > 0 && shared_->active() && MarkUnsynced(bucket)) {
        ListDirty(shard.dirty, std::pair(key, static_cast<std::uint8_t>(route_class)),
                  kRouteClassCount * (settings->max_tracked_clients / kShards + 1),
                  [&](const auto& listed) { return shard.BucketOf(listed); });
      }
      return {};
    }
    verdict = Verdict{Refusal::kRateLimited, *wait, "source"};
    // Hammering on past 429 counts toward a ban like any other client error.
    if (now - entry.window_start > settings->strike_window) {
      entry.strikes = {};
      entry.window_start = now;
    }
    const auto threshold = settings->ban_after_client_errors;
    if (threshold > 0 && ++entry.strikes[kClientErrors] >= threshold) {
      ban_offence = NextOffence(entry, *settings, now);
    }
  }
  rate_limited_[0]->Increment();
  if (ban_offence > 0) StartBan(key, *settings, kCauseNames[kClientErrors], ban_offence);
  return verdict;
}

Verdict TrafficGuard::AdmitCaller(std::string_view principal_id, std::string_view tenant) {
  const auto settings = CurrentSettings();
  if (!settings->enabled) return {};
  const auto take = [&](CallerTable& table, std::string_view key,
                        const Rate& rate) -> std::optional<seconds> {
    if (rate.per_second <= 0) return std::nullopt;
    std::lock_guard lock(table.mu);
    bool evicted = false;
    Bucket& bucket = table.Touch(key, settings->max_tracked_clients, evicted);
    auto wait = Take(bucket, rate, Clock::now());
    if (!wait && shared_->active() && MarkUnsynced(bucket)) {
      ListDirty(table.dirty, std::string(key), settings->max_tracked_clients + 1,
                [&](const std::string& listed) { return table.BucketOf(listed); });
    }
    return wait;
  };
  if (auto wait = take(*principals_, principal_id, settings->per_principal)) {
    rate_limited_[1]->Increment();
    return Verdict{Refusal::kRateLimited, *wait, "principal"};
  }
  if (auto wait = take(*tenants_, tenant, settings->per_tenant)) {
    rate_limited_[2]->Increment();
    return Verdict{Refusal::kRateLimited, *wait, "tenant"};
  }
  return {};
}

void TrafficGuard::RecordAnswer(std::string_view client, int status) {
  if (status < 400 || status >= 500) return;
  Strike(client, status == 401 ? kAuthFailures : kClientErrors);
}

void TrafficGuard::RecordWafHit(std::string_view client) { Strike(client, kWafHits); }

void TrafficGuard::Strike(std::string_view client, std::size_t kind) {
  const auto settings = CurrentSettings();
  if (!settings->enabled) return;
  const auto source = Identify(client, *settings);
  if (!source || source->allow_listed) return;
  CountStrike(source->key, kind, *settings);
}

void TrafficGuard::CountStrike(const SourceKey& key, std::size_t kind,
                               const GuardSettings& settings) {
  const std::array<std::uint32_t, 3> thresholds{settings.ban_after_auth_failures,
                                                settings.ban_after_client_errors,
                                                settings.ban_after_waf_hits};
  if (thresholds[kind] == 0) return;
  Shard& shard = *shards_[SourceKeyHash{}(key) % kShards];
  std::uint32_t offence = 0;
  {
    std::lock_guard lock(shard.mu);
    bool evicted = false;
    SourceEntry& entry = shard.Touch(key, settings.max_tracked_clients / kShards, evicted);
    if (evicted) evictions_.Increment();
    const auto now = Clock::now();
    if (now - entry.window_start > settings.strike_window) {
      entry.strikes = {};
      entry.window_start = now;
    }
    if (++entry.strikes[kind] < thresholds[kind]) return;
    offence = NextOffence(entry, settings, now);
  }
  StartBan(key, settings, kCauseNames[kind], offence);
}

void TrafficGuard::StartBan(const SourceKey& key, const GuardSettings& settings,
                            std::string_view cause, std::uint32_t offence) {
  const seconds length = BanLength(settings, offence);
  BanEntry ban;
  ban.info.target = TargetOf(key, settings);
  ban.info.cause = std::string(cause);
  ban.info.by = "guard";
  ban.info.offence = offence;
  ban.info.since = std::chrono::system_clock::now();
  ban.info.until = ban.info.since + length;
  ban.ends = Clock::now() + length;
  std::string target = ban.info.target;
  {
    std::unique_lock lock(bans_mu_);
    if (host_bans_.size() >= std::max<std::size_t>(1, settings.max_bans) &&
        !host_bans_.contains(key)) {
      // Full: the ban that ends first makes room (a rare, linear pass).
      auto first = std::min_element(
          host_bans_.begin(), host_bans_.end(),
          [](const auto& a, const auto& b) { return a.second.ends < b.second.ends; });
      host_bans_.erase(first);
    }
    // A ban in force is never shortened (an administrator's year-long ban stays a year).
    if (auto existing = host_bans_.find(key);
        existing == host_bans_.end() || existing->second.ends < ban.ends) {
      host_bans_[key] = std::move(ban);
    }
    RecountBansLocked();
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  const auto cause_index = static_cast<std::size_t>(
      std::find(kCauseNames.begin(), kCauseNames.end(), cause) - kCauseNames.begin());
  if (cause_index < bans_started_.size()) bans_started_[cause_index]->Increment();
  observe::Warn("security.ban", {{"source", target},
                                 {"cause", cause},
                                 {"seconds", static_cast<std::int64_t>(length.count())},
                                 {"offence", static_cast<std::int64_t>(offence)},
                                 {"by", "guard"}});
}

void TrafficGuard::RecountBansLocked() {
  const std::size_t count = host_bans_.size() + network_bans_.size();
  ban_count_.store(count, std::memory_order_release);
  active_bans_.Set(static_cast<double>(count));
}

Result<BanInfo> TrafficGuard::Ban(std::string_view target, std::chrono::minutes length,
                                  std::string reason, std::string by) {
  if (length < std::chrono::minutes(1) || length > std::chrono::minutes(525'600)) {
    return Fail(ErrorCode::kInvalidArgument, "a ban lasts 1 to 525600 minutes (one year)");
  }
  auto network = ParseIpNetwork(target);
  if (!network) {
    return Fail(ErrorCode::kInvalidArgument, "the target " + network.error().message());
  }
  const auto settings = CurrentSettings();
  const bool v4 = IsV4Mapped(network->base) && network->prefix_bits >= 96;
  const bool one_source =
      v4 ? network->prefix_bits == 128 : network->prefix_bits >= settings->ipv6_prefix_bits;
  BanEntry ban;
  ban.info.cause = std::string(kCauseNames[kAdminCause]);
  ban.info.by = std::move(by);
  ban.info.reason = std::move(reason);
  ban.info.since = std::chrono::system_clock::now();
  ban.info.until = ban.info.since + length;
  ban.ends = Clock::now() + length;
  {
    std::unique_lock lock(bans_mu_);
    if (one_source) {
      // A single IPv6 address bans its whole prefix: that is what the guard keys sources by.
      const SourceKey key = KeyOf(network->base, *settings);
      ban.info.target = TargetOf(key, *settings);
      host_bans_[key] = ban;
    } else {
      ban.info.target = network->ToString();
      auto same = std::find_if(network_bans_.begin(), network_bans_.end(), [&](const auto& entry) {
        return entry.first.base == network->base && entry.first.prefix_bits == network->prefix_bits;
      });
      if (same != network_bans_.end()) {
        same->second = ban;
      } else {
        network_bans_.emplace_back(*network, ban);
      }
    }
    RecountBansLocked();
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  bans_started_[kAdminCause]->Increment();
  observe::Warn(
      "security.ban",
      {{"source", ban.info.target},
       {"cause", "admin"},
       {"seconds", static_cast<std::int64_t>(std::chrono::duration_cast<seconds>(length).count())},
       {"by", ban.info.by}});
  return ban.info;
}

Result<BanInfo> TrafficGuard::Lift(std::string_view target, std::string_view by) {
  const auto settings = CurrentSettings();
  std::optional<BanInfo> lifted;
  {
    std::unique_lock lock(bans_mu_);
    // Listed targets are matched as written, so "unknown-via-…" and "…/64" lift as listed.
    const auto take_listed = [&](auto& bans) {
      const auto found = std::find_if(bans.begin(), bans.end(), [&](const auto& entry) {
        return entry.second.info.target == target;
      });
      if (found == bans.end()) return false;
      lifted = std::move(found->second.info);
      bans.erase(found);
      return true;
    };
    if (!take_listed(host_bans_)) take_listed(network_bans_);
    if (!lifted) {
      // A single address also lifts the ban on the source it belongs to.
      if (const auto address = ParseIpAddress(target)) {
        if (auto found = host_bans_.find(KeyOf(*address, *settings)); found != host_bans_.end()) {
          lifted = std::move(found->second.info);
          host_bans_.erase(found);
        }
      }
    }
    RecountBansLocked();
  }
  if (!lifted) return Fail(ErrorCode::kNotFound, "no ban on that target");
  generation_.fetch_add(1, std::memory_order_acq_rel);
  observe::Warn("security.unban", {{"source", lifted->target}, {"cause", "lifted"}, {"by", by}});
  return *lifted;
}

std::vector<BanInfo> TrafficGuard::Bans() const {
  const auto now = Clock::now();
  std::vector<BanInfo> out;
  std::shared_lock lock(bans_mu_);
  for (const auto& [key, ban] : host_bans_) {
    if (ban.ends > now) out.push_back(ban.info);
  }
  for (const auto& [network, ban] : network_bans_) {
    if (ban.ends > now) out.push_back(ban.info);
  }
  std::sort(out.begin(), out.end(),
            [](const BanInfo& a, const BanInfo& b) { return a.since < b.since; });
  return out;
}

std::size_t TrafficGuard::ExpireBans() {
  if (ban_count_.load(std::memory_order_acquire) == 0) return 0;
  const auto now = Clock::now();
  std::vector<std::string> ended;
  {
    std::unique_lock lock(bans_mu_);
    std::erase_if(host_bans_, [&](const auto& entry) {
      if (entry.second.ends > now) return false;
      ended.push_back(entry.second.info.target);
      return true;
    });
    std::erase_if(network_bans_, [&](const auto& entry) {
      if (entry.second.ends > now) return false;
      ended.push_back(entry.second.info.target);
      return true;
    });
    RecountBansLocked();
  }
  if (ended.empty()) return 0;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  for (const auto& target : ended) {
    observe::Info("security.unban", {{"source", target}, {"cause", "expired"}, {"by", "guard"}});
  }
  return ended.size();
}

Result<std::shared_ptr<const TrafficGuard::Lists>> TrafficGuard::ReadLists(
    const GuardSettings& settings) const {
  auto lists = std::make_shared<Lists>();
  // Stamps first: a change while reading is seen again by the next look.
  lists->allow_stamp = StampOf(settings.allow_list_file);
  lists->block_stamp = StampOf(settings.block_list_file);
  auto allow = ReadListFile(settings.allow_list_file);
  if (!allow) return std::unexpected(allow.error());
  auto block = ReadListFile(settings.block_list_file);
  if (!block) return std::unexpected(block.error());
  lists->allow = std::move(*allow);
  lists->block = std::move(*block);
  return std::shared_ptr<const Lists>(std::move(lists));
}

void TrafficGuard::ReloadListsIfChanged() {
  const auto settings = CurrentSettings();
  const auto allow_stamp = StampOf(settings->allow_list_file);
  const auto block_stamp = StampOf(settings->block_list_file);
  if (allow_stamp == attempted_allow_ && block_stamp == attempted_block_) return;
  attempted_allow_ = allow_stamp;
  attempted_block_ = block_stamp;
  auto lists = ReadLists(*settings);
  if (!lists) {
    // The lists in force stay: a half-written file must not open the door.
    observe::Error("guard.list_invalid", {{"reason", lists.error().message()}});
    return;
  }
  observe::Info("guard.lists_reloaded",
                {{"allow", static_cast<std::int64_t>((*lists)->allow.size())},
                 {"block", static_cast<std::int64_t>((*lists)->block.size())}});
  lists_.store(std::move(*lists));
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::vector<BucketDelta> TrafficGuard::CollectUnsynced() {
  std::vector<BucketDelta> deltas;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    for (const auto& [key, route_class] : shard->dirty) {
      SourceEntry* entry = shard->Find(key);
      if (entry == nullptr) continue;  // evicted since
      Bucket& bucket = entry->buckets[route_class];
      if (bucket.unsynced == 0) continue;  // listed twice (evicted and back)
      BucketDelta& delta = deltas.emplace_back();
      delta.scope = 's';
      delta.route_class = route_class;
      std::copy(key.bytes.begin(), key.bytes.end(), delta.source.begin());
      delta.source[16] = key.unknown_via_proxy ? 1 : 0;
      delta.taken = std::exchange(bucket.unsynced, 0);
    }
    shard->dirty.clear();
  }
  const auto collect_callers = [&](CallerTable& table, char scope) {
    std::lock_guard lock(table.mu);
    for (const auto& caller : table.dirty) {
      Bucket* bucket = table.Find(caller);
      if (bucket == nullptr || bucket->unsynced == 0) continue;
      BucketDelta& delta = deltas.emplace_back();
      delta.scope = scope;
      delta.caller = caller;
      delta.taken = std::exchange(bucket->unsynced, 0);
    }
    table.dirty.clear();
  };
  collect_callers(*principals_, 'p');
  collect_callers(*tenants_, 't');
  return deltas;
}

void TrafficGuard::ApplyShared(std::span<const BucketDelta> deltas, std::uint32_t epoch) {
  const auto settings = CurrentSettings();
  const auto interval = settings->shared.sync_interval;
  const auto now = Clock::now();
  for (const BucketDelta& delta : deltas) {
    if (delta.scope == 's') {
      SourceKey key;
      std::copy_n(delta.source.begin(), key.bytes.size(), key.bytes.begin());
      key.unknown_via_proxy = delta.source[16] != 0;
      Shard& shard = *shards_[SourceKeyHash{}(key) % kShards];
      std::lock_guard lock(shard.mu);
      if (SourceEntry* entry = shard.Find(key)) {
        DebitShared(entry->buckets[delta.route_class], delta, epoch,
                    settings->per_source[delta.route_class], interval, now);
      }
      continue;
    }
    CallerTable& table = delta.scope == 'p' ? *principals_ : *tenants_;
    std::lock_guard lock(table.mu);
    if (Bucket* bucket = table.Find(delta.caller)) {
      DebitShared(*bucket, delta, epoch,
                  delta.scope == 'p' ? settings->per_principal : settings->per_tenant, interval,
                  now);
    }
  }
}

void TrafficGuard::Watch() {
  std::unique_lock lock(watch_mu_);
  while (!stopping_) {
    watch_cv_.wait_for(lock, CurrentSettings()->watch_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    ExpireBans();
    ReloadListsIfChanged();
    tracked_gauge_.Set(static_cast<double>(tracked_sources()));
    lock.lock();
  }
}

}  // namespace strongroom::guard
