#pragma once
// SharedLimits: rate limits shared by several Strongroom nodes through Redis (docs/guard.md,
// "Shared limits"). Every node keeps its own token buckets, and those alone decide each request:
// a request never waits for Redis. A background thread adds what each bucket took since the last
// exchange to a counter in Redis (INCRBY, one pipelined round trip for all of them) and takes
// off the bucket what the other nodes took in the meantime (the counter's growth that was not
// ours). Each node so holds a copy of one cluster-wide bucket, late by at most one exchange.
//
//   - Counters are named by an HMAC of the bucket's identity under a key every node shares
//     (`key_file`): Redis sees neither client addresses nor principal ids nor tenant names.
//   - Redis unreachable, too slow or refusing: the node goes on with its own buckets alone (the
//     limits of one node), says so once in the log (`guard.shared_limits_unavailable`) and in
//     the gauge `strongroom_guard_shared_limits_fallback`, and tries again every second.
//
// Thread-safety: Prepare() and Apply() may be called from any thread; the exchange thread is the
// only one that touches the Redis connection. Ownership: the TrafficGuard owns one SharedLimits and
// hands it the two functions that read and adjust its buckets.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/observe/metrics.h"

namespace strongroom::guard {

struct SharedLimitSettings {
  std::string redis_address;       // "host:port" or "[v6]:port"; empty: each node limits on its own
  std::filesystem::path key_file;  // names the counters (the same file on every node)
  std::filesystem::path password_file;  // Redis AUTH; empty: none
  std::string key_prefix = "strongroom";
  std::chrono::milliseconds sync_interval{200};
  std::chrono::milliseconds timeout{250};  // connect and each exchange
};

struct RedisEndpoint {
  std::string host;
  std::uint16_t port = 0;
};
// "host:port", "[v6]:port"; invalid_argument naming what is wrong otherwise.
Result<RedisEndpoint> ParseRedisAddress(std::string_view address);

// What one bucket took since the previous exchange, and (filled in by the exchange) the shared
// counter's value after adding it. The identity is kept as the bucket's own key so the guard
// finds the bucket again; the counter's name is derived from it.
struct BucketDelta {
  char scope = 's';  // 's' a source (per route class), 'p' a principal, 't' a tenant
  std::uint8_t route_class = 0;
  std::array<std::uint8_t, 17> source{};  // 's': the source key (16 bytes + "via proxy" flag)
  std::string caller;                     // 'p', 't': the principal id or tenant
  std::int64_t taken = 0;
  std::int64_t total = 0;
};

// How much the other nodes took from a shared bucket since this node last saw its counter:
// `total` is the counter after adding our `taken`; `seen` the counter after our previous add on
// this connection (none: the first exchange, whose history predates this node). A counter that
// went back (it expired, or Redis restarted) counts from zero.
std::int64_t OthersTaken(std::int64_t total, std::int64_t taken, std::optional<std::int64_t> seen);

// The tokens to take off a bucket for `others` taken elsewhere, `since_seen` after its previous
// exchange. A bucket exchanged every interval pays it all; one that sat idle (a client back on
// this node after others served it a while) is forgiven what the shared bucket refilled beyond
// two intervals: a client within its rate on other nodes is not refused here for it.
double SharedDebit(std::int64_t others, double per_second, std::chrono::nanoseconds since_seen,
                   std::chrono::milliseconds sync_interval);

class SharedLimits {
 public:
  struct Hooks {
    // Takes each bucket's consumption since the previous call (the guard's tables reset it).
    std::function<std::vector<BucketDelta>()> collect;
    // Applies the exchanged totals; `epoch` changes with every new connection (totals seen on
    // an older one are no base for the next).
    std::function<void(std::span<const BucketDelta>, std::uint32_t epoch)> apply;
  };
  SharedLimits(Hooks hooks, observe::MetricsRegistry& registry);
  ~SharedLimits();  // stops the thread
  SharedLimits(const SharedLimits&) = delete;
  SharedLimits& operator=(const SharedLimits&) = delete;

  // Checks `settings` and reads its files (failed_precondition or invalid_argument naming the
  // setting): nothing changes on error. Apply() then installs the result; the thread connects
  // anew. Split so the guard can check everything before it changes anything.
  struct Link;
  static Result<std::shared_ptr<const Link>> Prepare(const SharedLimitSettings& settings);
  void Apply(std::shared_ptr<const Link> link);
  void Start();  // the exchange thread; once (later calls do nothing)

  // Whether buckets count toward the shared counters now (Redis connected): read on every
  // request, so a plain atomic.
  bool active() const { return active_.load(std::memory_order_relaxed); }

 private:
  struct Connection;
  void Run();
  void ExchangeOnce(Connection& connection);
  bool Probe(Connection& connection);  // a write; false (and fallen back) when refused
  void MarkUp(Connection& connection);
  void FallBack(Connection& connection, std::string_view reason);

  Hooks hooks_;
  std::atomic<std::shared_ptr<const Link>> link_;
  std::atomic<bool> active_{false};
  std::uint32_t epoch_ = 0;  // the thread's

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;

  observe::Gauge& up_;
  observe::Gauge& fallback_;
  observe::Counter& exchanges_ok_;
  observe::Counter& exchanges_failed_;
};

}  // namespace strongroom::guard
