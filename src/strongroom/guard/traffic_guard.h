#pragma once
// TrafficGuard: Strongroom's own edge defense (docs/guard.md), asked by the HTTP server before
// it spends anything on a client: token-bucket rate limits per source address, per principal and
// per tenant (per route class: credential routes are stricter than reads), per-address
// connection caps, fail2ban-style automatic bans that grow on repeat offence and expire by
// themselves, administrator bans, and static allow and block lists read from files.
//
//   - A source is keyed by its address; IPv6 addresses by their first `ipv6_prefix_bits` (one
//     host usually owns a whole /64, so limiting single addresses would be no limit at all).
//   - Every table is bounded: sources and callers are kept in LRU tables of at most
//     `max_tracked_clients` entries (an attacker spraying addresses evicts the least recently
//     seen; an evicted source only loses its bucket and strike counts, never a ban: bans live in
//     their own table, capped at `max_bans`, where the one ending first makes room).
//   - Limits can be shared by several nodes through Redis (shared_limits.h): the buckets here
//     still decide every request; a background exchange takes off them what other nodes took.
//   - Allow-listed sources are exempt from rate limits, connection caps and automatic bans;
//     block-listed ones are refused at connect and on every request. Both list files hold one
//     CIDR per line ('#' comments); a watcher thread reloads them when they change and ends
//     bans that have expired (each ban and unban is a `security.*` log event).
//
// Thread-safety: every public method may be called from any thread. Hot paths take one sharded
// mutex (the source's bucket) and, only while some ban exists, a shared lock on the ban table.
// Ownership: the composition root owns the guard; the HTTP server and the API borrow it.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/guard/shared_limits.h"
#include "strongroom/observe/metrics.h"

namespace strongroom::guard {

// What a route costs to abuse. Credential routes verify secrets (sign-in, second factor,
// password changes, unseal): the stricter limits.
enum class RouteClass : std::uint8_t { kRead, kWrite, kCredential };
inline constexpr std::size_t kRouteClassCount = 3;
// GET/HEAD (`safe_method`) of a non-credential pattern is a read; any other method a write.
RouteClass ClassifyRoute(bool safe_method, std::string_view pattern);

struct Rate {
  double per_second = 0;  // 0: unlimited
  double burst = 0;       // bucket size (at least 1 when per_second > 0)
};

struct GuardSettings {
  bool enabled = true;
  std::array<Rate, kRouteClassCount> per_source{{{100, 200}, {50, 100}, {1, 10}}};
  Rate per_principal{200, 400};  // every route class together
  Rate per_tenant{1000, 2000};
  int ipv6_prefix_bits = 64;
  std::size_t max_tracked_clients = 100'000;
  std::size_t max_connections_per_source = 64;  // 0: unlimited
  // Automatic bans: this many answers of a kind within `strike_window` ban the source (0: never).
  std::uint32_t ban_after_auth_failures = 20;   // 401s
  std::uint32_t ban_after_client_errors = 100;  // other 4xx (429 included: hammering past it)
  std::uint32_t ban_after_waf_hits = 5;
  std::chrono::seconds strike_window{60};
  std::chrono::seconds ban_duration{600};  // the first ban; each repeat doubles it
  std::chrono::seconds max_ban_duration{86'400};
  std::chrono::seconds offence_memory{86'400};  // a ban within this of the last one is a repeat
  std::size_t max_bans = 100'000;
  std::filesystem::path allow_list_file;  // empty: none
  std::filesystem::path block_list_file;
  std::chrono::milliseconds watch_interval{1000};  // list changes and ban expiry
  SharedLimitSettings shared;                      // Redis: none by default
};

enum class Refusal : std::uint8_t {
  kNone,
  kRateLimited,         // 429 + Retry-After
  kBanned,              // 403, connection closed
  kBlocked,             // static block list: 403 / connection closed
  kTooManyConnections,  // connection closed at accept
};
std::string_view RefusalName(Refusal refusal);

struct Verdict {
  Refusal refusal = Refusal::kNone;
  std::chrono::seconds retry_after{0};  // kRateLimited: when a token is back; kBanned: ban left
  std::string_view scope;               // kRateLimited: "source", "principal" or "tenant"
  bool admitted() const { return refusal == Refusal::kNone; }
};

// A ban as listed. `target` is the network as written ("203.0.113.7", "2001:db8:1:2::/64",
// "10.0.0.0/8"), or "unknown-via-<proxy>" for clients a trusted proxy could not name.
struct BanInfo {
  std::string target;
  std::string cause;  // "auth_failures", "client_errors", "waf", "admin"
  std::string by;     // "guard", or the administrator's principal id
  std::string reason;
  std::uint32_t offence = 1;  // automatic bans: how many times in `offence_memory`
  std::chrono::system_clock::time_point since;
  std::chrono::system_clock::time_point until;
};

// The guard's key for a source: the address (IPv6 masked to the prefix) plus a flag for
// "unknown client via this proxy".
struct SourceKey {
  std::array<std::uint8_t, 16> bytes{};
  bool unknown_via_proxy = false;
  bool operator==(const SourceKey&) const = default;
};
struct SourceKeyHash {
  std::size_t operator()(const SourceKey& key) const noexcept;
};

class TrafficGuard {
 public:
  using Clock = std::chrono::steady_clock;
  TrafficGuard(GuardSettings settings, observe::MetricsRegistry& registry);
  ~TrafficGuard();
  TrafficGuard(const TrafficGuard&) = delete;
  TrafficGuard& operator=(const TrafficGuard&) = delete;

  // Reads the list files (an unreadable or malformed one: failed_precondition naming file and
  // line) and the shared-limit files (shared_limits.h), and starts the watcher thread.
  Result<void> Start();
  // Starts the exchange with Redis when shared limits are set (or set later by a reload). Apart
  // from Start() because it logs, and the server's first log line must name its ports. An
  // unreachable Redis is no error: the node limits on its own until it answers.
  void StartSharing();
  // New settings (SIGHUP): limits apply to the next request; the list files are read again now
  // (an error keeps every old setting), and the shared-limit files; a new Redis connection is
  // made. Existing buckets keep their tokens, bans their ends.
  Result<void> Reconfigure(const GuardSettings& settings);

  // A new connection from `peer` (the socket's own address). An admitted connection is counted
  // as `counted_as` and must be released with it exactly once (the key is kept, not recomputed:
  // a reload may change the IPv6 prefix in between). Connections from `trusted_proxy` peers are
  // not capped per address (they carry many clients).
  Verdict AdmitConnection(const IpAddress& peer, bool trusted_proxy, SourceKey& counted_as);
  void ReleaseConnection(const SourceKey& counted_as);
  // A request from `client` (the address text the server settled on: the peer, or the client a
  // trusted proxy names, or "unknown-via-<proxy>"), before its body is read.
  Verdict AdmitRequest(std::string_view client, RouteClass route_class);
  // After authentication: the principal's and its tenant's buckets.
  Verdict AdmitCaller(std::string_view principal_id, std::string_view tenant);
  // Every answer: 4xx answers count toward automatic bans.
  void RecordAnswer(std::string_view client, int status);
  void RecordWafHit(std::string_view client);

  // Administration. `target` is a CIDR network or an address; minutes in [1, 525600].
  Result<BanInfo> Ban(std::string_view target, std::chrono::minutes length, std::string reason,
                      std::string by);
  // not_found when no ban has exactly this target.
  Result<BanInfo> Lift(std::string_view target, std::string_view by);
  std::vector<BanInfo> Bans() const;
  // Ends expired bans now (the watcher does it every `watch_interval`); returns how many.
  std::size_t ExpireBans();

  // Bumped whenever a ban starts or ends or a list is reloaded: a connection can keep its
  // admission while this stays the same.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  bool enabled() const;
  std::size_t tracked_sources() const;

 private:
  struct Lists;
  struct Shard;
  struct CallerTable;
  struct BanEntry {
    BanInfo info;
    Clock::time_point ends;
  };
  std::shared_ptr<const GuardSettings> CurrentSettings() const;
  // A request's client as the guard sees it, its address parsed once.
  struct Source {
    SourceKey key;
    std::optional<IpAddress> address;  // none for "unknown-via-<proxy>"
    bool allow_listed = false;
  };
  std::optional<Source> Identify(std::string_view client, const GuardSettings& settings) const;
  SourceKey KeyOf(const IpAddress& address, const GuardSettings& settings) const;
  std::string TargetOf(const SourceKey& key, const GuardSettings& settings) const;
  bool AllowListed(const IpAddress& address) const;
  Refusal BanOrBlock(const SourceKey& key, const std::optional<IpAddress>& address,
                     std::chrono::seconds& left) const;
  void Strike(std::string_view client, std::size_t kind);
  void CountStrike(const SourceKey& key, std::size_t kind, const GuardSettings& settings);
  void RecountBansLocked();  // bans_mu_ held exclusively
  void StartBan(const SourceKey& key, const GuardSettings& settings, std::string_view cause,
                std::uint32_t offence);
  Result<std::shared_ptr<const Lists>> ReadLists(const GuardSettings& settings) const;
  // The shared-limit exchange's two hooks (shared_limits.h), on its thread.
  std::vector<BucketDelta> CollectUnsynced();
  void ApplyShared(std::span<const BucketDelta> deltas, std::uint32_t epoch);
  void Watch();
  void ReloadListsIfChanged();

  std::atomic<std::shared_ptr<const GuardSettings>> settings_;
  std::atomic<std::shared_ptr<const Lists>> lists_;
  std::atomic<std::uint64_t> generation_{1};

  static constexpr std::size_t kShards = 16;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
  std::unique_ptr<CallerTable> principals_;
  std::unique_ptr<CallerTable> tenants_;

  mutable std::shared_mutex bans_mu_;
  std::unordered_map<SourceKey, BanEntry, SourceKeyHash> host_bans_;
  std::vector<std::pair<IpNetwork, BanEntry>> network_bans_;  // wider than one source key
  std::atomic<std::size_t> ban_count_{0};

  std::mutex connections_mu_;
  std::unordered_map<SourceKey, std::size_t, SourceKeyHash> connections_;

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;
  std::thread watcher_;

  std::filesystem::file_time_type attempted_allow_{};  // watcher thread only: the last change
  std::filesystem::file_time_type attempted_block_{};  // it tried to load (logged once)

  observe::Gauge& active_bans_;
  observe::Gauge& tracked_gauge_;  // set by the watcher
  observe::Counter& evictions_;
  std::array<observe::Counter*, 3> rate_limited_{};  // by scope: source, principal, tenant
  observe::Counter& banned_;
  observe::Counter& blocked_;
  observe::Counter& too_many_connections_;
  std::array<observe::Counter*, 4> bans_started_{};  // by cause: auth, client errors, waf, admin

  // Last: its thread calls into the tables above, so it stops before they go.
  std::unique_ptr<SharedLimits> shared_;
};

}  // namespace strongroom::guard
