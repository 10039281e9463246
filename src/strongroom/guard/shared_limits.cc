#include "strongroom/guard/shared_limits.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "strongroom/base/files.h"
#include "strongroom/base/secret.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/observe/log.h"

namespace strongroom::guard {
namespace {

using Clock = std::chrono::steady_clock;

// A counter lives this long after its last exchange, so one of a client gone quiet does not stay
// in Redis for ever. A counter that expires while a node still remembers it reads as started
// again (OthersTaken), which loses at most what the others took in the exchange that saw it go.
constexpr std::chrono::milliseconds kCounterLifetime{600'000};
constexpr std::chrono::seconds kRetryInterval{1};
// A connection with nothing to exchange is still checked this often, so the gauges and the log
// say the truth while traffic is quiet.
constexpr std::chrono::seconds kPingInterval{1};
constexpr std::size_t kMinKeyBytes = 32;
// Counters per round trip: bounds hiredis's buffers and Redis's reply to one exchange.
constexpr std::size_t kCountersPerRoundTrip = 1000;
// Written (SET, expiring like the counters) at connect and while idle: a replica, a full or a
// misconfigured Redis refuses writes while it still answers PING, and the node must not call that
// "shared".
constexpr std::string_view kProbeSuffix = ":probe";

timeval ToTimeval(std::chrono::milliseconds span) {
  return timeval{static_cast<time_t>(span.count() / 1000),
                 static_cast<suseconds_t>((span.count() % 1000) * 1000)};
}

bool ValidPrefix(std::string_view prefix) {
  return !prefix.empty() && prefix.size() <= 64 &&
         std::all_of(prefix.begin(), prefix.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ':';
         });
}

// Owns one hiredis reply.
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The text a failed call left: the context's error (connection refused, timed out, closed) or
// Redis's own error reply (e.g. "WRONGPASS ..."). Neither carries a counter name or a password.
std::string FailureOf(const redisContext* context, const redisReply* reply) {
  if (context->err != 0) return context->errstr[0] != '\0' ? context->errstr : "connection error";
  if (reply == nullptr) return "no reply";
  if (reply->type == REDIS_REPLY_ERROR && reply->str != nullptr) {
    return std::string(reply->str, reply->len);
  }
  return "unexpected reply";
}

}  // namespace

Result<RedisEndpoint> ParseRedisAddress(std::string_view address) {
  RedisEndpoint endpoint;
  std::string_view port_text;
  if (address.starts_with('[')) {
    const auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return Fail(ErrorCode::kInvalidArgument,
                  "an IPv6 Redis address is written [address]:port, e.g. [::1]:6379");
    }
    endpoint.host = std::string(address.substr(1, close - 1));
    port_text = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos || address.find(':') != colon) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a Redis address is written host:port, e.g. 127.0.0.1:6379");
    }
    endpoint.host = std::string(address.substr(0, colon));
    port_text = address.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (endpoint.host.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return Fail(ErrorCode::kInvalidArgument,
                "a Redis address needs a host and a port from 1 to 65535, e.g. 127.0.0.1:6379");
  }
  endpoint.port = static_cast<std::uint16_t>(port);
  return endpoint;
}

std::int64_t OthersTaken(std::int64_t total, std::int64_t taken, std::optional<std::int64_t> seen) {
  const std::int64_t before = total - taken;  // the counter just before our add
  if (!seen || before < 0) return 0;
  if (before < *seen) return before;  // the counter started again since we last saw it
  return before - *seen;
}

double SharedDebit(std::int64_t others, double per_second, std::chrono::nanoseconds since_seen,
                   std::chrono::milliseconds sync_interval) {
  if (others <= 0 || per_second <= 0) return 0;
  const auto beyond = since_seen - 2 * sync_interval;
  const double refilled =
      beyond.count() > 0 ? per_second * std::chrono::duration<double>(beyond).count() : 0;
  return std::max(0.0, static_cast<double>(others) - refilled);
}

struct SharedLimits::Link {
  SharedLimitSettings settings;
  RedisEndpoint endpoint;
  crypto::HmacSha256 namer;
  SecretBytes password;
};

// The exchange thread's connection and what it last told the log: kUp once a write succeeded
// (logged connected or restored), kDown once one failed (logged unavailable), kOff before either
// on these settings.
struct SharedLimits::Connection {
  enum class State : std::uint8_t { kOff, kUp, kDown };
  std::shared_ptr<const Link> link;
  redisContext* context = nullptr;
  State state = State::kOff;
  Clock::time_point next_attempt{};
  Clock::time_point last_contact{};

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { Close(); }
  void Close() {
    if (context != nullptr) redisFree(context);
    context = nullptr;
  }
};

SharedLimits::SharedLimits(Hooks hooks, observe::MetricsRegistry& registry)
    : hooks_(std::move(hooks)),
      up_(registry.GetGauge("strongroom_guard_shared_limits_up",
                            "1 while rate limits are shared with other nodes through Redis")),
      fallback_(registry.GetGauge(
          "strongroom_guard_shared_limits_fallback",
          "1 while shared limits are configured but Redis is unreachable: this node's own only")),
      exchanges_ok_(registry.GetCounter("strongroom_guard_shared_exchanges_total",
                                        "exchanges of bucket counts with Redis",
                                        {{"outcome", "ok"}})),
      exchanges_failed_(registry.GetCounter("strongroom_guard_shared_exchanges_total",
                                            "exchanges of bucket counts with Redis",
                                            {{"outcome", "failed"}})) {}

SharedLimits::~SharedLimits() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::shared_ptr<const SharedLimits::Link>> SharedLimits::Prepare(
    const SharedLimitSettings& settings) {
  if (settings.redis_address.empty()) return std::shared_ptr<const Link>();
  auto endpoint = ParseRedisAddress(settings.redis_address);
  if (!endpoint) {
    return Fail(ErrorCode::kInvalidArgument, "guard.redis_address: " + endpoint.error().message());
  }
  if (!ValidPrefix(settings.key_prefix)) {
    return Fail(ErrorCode::kInvalidArgument,
                "guard.shared_key_prefix: 1 to 64 letters, digits and _ - . :");
  }
  if (settings.key_file.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "guard.shared_key_file is required with guard.redis_address: the same secret "
                "file on every node (e.g. openssl rand -hex 32 > file; chmod 600 file)");
  }
  auto key = ReadPrivateFile(settings.key_file, "guard.shared_key_file");
  if (!key) return std::unexpected(key.error());
  if (key->size() < kMinKeyBytes) {
    return Fail(ErrorCode::kFailedPrecondition,
                "guard.shared_key_file " + settings.key_file.string() + " holds fewer than " +
                    std::to_string(kMinKeyBytes) +
                    " bytes (e.g. openssl rand -hex 32 > file; chmod 600 file)");
  }
  auto namer = crypto::HmacSha256::Create(key->reveal());
  if (!namer) return std::unexpected(namer.error());
  SecretBytes password;
  if (!settings.password_file.empty()) {
    auto read = ReadPrivateFile(settings.password_file, "guard.redis_password_file");
    if (!read) return std::unexpected(read.error());
    password = std::move(*read);
  }
  return std::make_shared<const Link>(
      Link{settings, std::move(*endpoint), std::move(*namer), std::move(password)});
}

void SharedLimits::Apply(std::shared_ptr<const Link> link) {
  {
    // Under the mutex: the thread checks link_ in its wait's predicate, so a store between that
    // check and the wait would otherwise be seen only an interval later.
    std::lock_guard lock(mu_);
    link_.store(std::move(link), std::memory_order_release);
  }
  cv_.notify_all();
}

void SharedLimits::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void SharedLimits::Run() {
  Connection connection;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto link = link_.load(std::memory_order_acquire);
    const auto interval = link ? link->settings.sync_interval : std::chrono::milliseconds(1000);
    cv_.wait_for(lock, interval, [&] {
      return stopping_ || link_.load(std::memory_order_acquire) != connection.link;
    });
    if (stopping_) break;
    lock.unlock();
    ExchangeOnce(connection);
    lock.lock();
  }
  active_.store(false, std::memory_order_relaxed);
}

void SharedLimits::FallBack(Connection& connection, std::string_view reason) {
  connection.Close();
  connection.next_attempt = Clock::now() + kRetryInterval;
  exchanges_failed_.Increment();
  active_.store(false, std::memory_order_relaxed);
  up_.Set(0);
  fallback_.Set(1);
  if (connection.state != Connection::State::kDown) {
    observe::Warn("guard.shared_limits_unavailable",
                  {{"redis", connection.link->settings.redis_address},
                   {"reason", reason},
                   {"limits", "this node's own until Redis answers again"}});
  }
  connection.state = Connection::State::kDown;
}

void SharedLimits::MarkUp(Connection& connection) {
  exchanges_ok_.Increment();
  connection.last_contact = Clock::now();
  if (connection.state == Connection::State::kUp) return;
  up_.Set(1);
  fallback_.Set(0);
  const auto& address = connection.link->settings.redis_address;
  if (connection.state == Connection::State::kDown) {
    observe::Info("guard.shared_limits_restored", {{"redis", address}});
  } else {
    observe::Info("guard.shared_limits_connected", {{"redis", address}});
  }
  connection.state = Connection::State::kUp;
}

bool SharedLimits::Probe(Connection& connection) {
  const std::string name = connection.link->settings.key_prefix + std::string(kProbeSuffix);
  const std::string lifetime = std::to_string(kCounterLifetime.count());
  Reply reply(
      static_cast<redisReply*>(redisCommand(connection.context, "SET %b 1 PX %b", name.data(),
                                            name.size(), lifetime.data(), lifetime.size())));
  if (!reply || reply->type != REDIS_REPLY_STATUS) {
    FallBack(connection, FailureOf(connection.context, reply.get()));
    return false;
  }
  MarkUp(connection);
  return true;
}

void SharedLimits::ExchangeOnce(Connection& connection) {
  if (auto link = link_.load(std::memory_order_acquire); link != connection.link) {
    // New settings (or none): connect afresh and say how it went; totals from the old
    // connection mean nothing now.
    connection.Close();
    connection.link = std::move(link);
    connection.next_attempt = {};
    connection.state = Connection::State::kOff;
    active_.store(false, std::memory_order_relaxed);
    up_.Set(0);
    fallback_.Set(0);
  }
  if (!connection.link) return;
  const Link& link = *connection.link;
  const auto now = Clock::now();

  if (connection.context == nullptr) {
    if (now < connection.next_attempt) return;
    // Every network call is bounded by the timeout; resolving a host name is not (getaddrinfo),
    // which is why docs/guard.md advises an address.
    const timeval timeout = ToTimeval(link.settings.timeout);
    connection.context =
        redisConnectWithTimeout(link.endpoint.host.c_str(), link.endpoint.port, timeout);
    if (connection.context == nullptr) return FallBack(connection, "out of memory");
    if (connection.context->err != 0 || redisSetTimeout(connection.context, timeout) != REDIS_OK) {
      return FallBack(connection, FailureOf(connection.context, nullptr));
    }
    if (!link.password.empty()) {
      const auto secret = link.password.reveal_as_text();
      Reply reply(static_cast<redisReply*>(
          redisCommand(connection.context, "AUTH %b", secret.data(), secret.size())));
      if (!reply || reply->type != REDIS_REPLY_STATUS) {
        return FallBack(connection, FailureOf(connection.context, reply.get()));
      }
    }
    if (!Probe(connection)) return;
    ++epoch_;
    active_.store(true, std::memory_order_relaxed);
    return;
  }

  std::vector<BucketDelta> deltas = hooks_.collect();
  if (deltas.empty()) {
    if (now - connection.last_contact >= kPingInterval) Probe(connection);
    return;
  }

  // Pipelined round trips of INCRBY and PEXPIRE for up to kCountersPerRoundTrip counters each.
  const std::string lifetime = std::to_string(kCounterLifetime.count());
  std::vector<std::uint8_t> identity;
  for (std::size_t first = 0; first < deltas.size(); first += kCountersPerRoundTrip) {
    const std::size_t last = std::min(deltas.size(), first + kCountersPerRoundTrip);
    for (std::size_t i = first; i < last; ++i) {
      const BucketDelta& delta = deltas[i];
      identity.assign({static_cast<std::uint8_t>(delta.scope), delta.route_class});
      if (delta.scope == 's') {
        identity.insert(identity.end(), delta.source.begin(), delta.source.end());
      } else {
        identity.insert(identity.end(), delta.caller.begin(), delta.caller.end());
      }
      auto mac = link.namer.Compute(identity);
      if (!mac) return FallBack(connection, mac.error().message());
      std::string name = link.settings.key_prefix + ':' + delta.scope;
      if (delta.scope == 's') name += static_cast<char>('0' + delta.route_class);
      name += ':';
      name += crypto::HexEncode(std::span(mac->data(), 16));  // 128 bits: no collisions to fear
      const std::string taken = std::to_string(delta.taken);
      if (redisAppendCommand(connection.context, "INCRBY %b %b", name.data(), name.size(),
                             taken.data(), taken.size()) != REDIS_OK ||
          redisAppendCommand(connection.context, "PEXPIRE %b %b", name.data(), name.size(),
                             lifetime.data(), lifetime.size()) != REDIS_OK) {
        return FallBack(connection, FailureOf(connection.context, nullptr));
      }
    }
    for (std::size_t i = first; i < last; ++i) {
      void* raw = nullptr;
      const int got = redisGetReply(connection.context, &raw);
      Reply added(static_cast<redisReply*>(raw));
      if (got != REDIS_OK || !added || added->type != REDIS_REPLY_INTEGER) {
        return FallBack(connection, FailureOf(connection.context, added.get()));
      }
      deltas[i].total = added->integer;
      raw = nullptr;
      if (redisGetReply(connection.context, &raw) != REDIS_OK) {
        return FallBack(connection, FailureOf(connection.context, nullptr));
      }
      Reply expiry(static_cast<redisReply*>(raw));
    }
  }
  MarkUp(connection);
  hooks_.apply(deltas, epoch_);
}

}  // namespace strongroom::guard
