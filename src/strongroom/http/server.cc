// The only translation unit that instantiates Beast/Asio's HTTP and TLS templates: everything
// else sees types.h. Keeping them here is what keeps a one-line handler change a fast rebuild.
#include "strongroom/http/server.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "strongroom/base/blocking.h"
#include "strongroom/crypto/argon2_memory.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/http/error_response.h"
#include "strongroom/observe/log.h"

namespace strongroom::http {
namespace {

// Readies a credential thread once, at its first sign-in: it keeps Argon2id's memory between
// hashes (crypto/argon2_memory.h: half of each hash, on a VM, is mapping fresh memory), and its
// niceness is raised (Linux applies setpriority to one thread when given its id). Raising needs
// no privilege; a failure only leaves the thread at the normal priority.
void PrepareCredentialThreadOnce(int nice) {
  thread_local bool done = false;
  if (done) return;
  done = true;
  crypto::KeepArgon2MemoryOnThisThread();
  if (nice <= 0) return;
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, tid, nice) != 0) {
    observe::Warn("http.credential_priority_unchanged", {{"errno", static_cast<std::int64_t>(errno)}});
  }
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Each I/O thread runs its own io_context, and a connection lives on exactly one of them (the
// model of nginx's workers): a connection's handlers are serialised without a strand, and no
// operation wakes another thread. The hot types name that context's executor concretely, so
// Asio's type-erased any_io_executor stays off the per-request path.
using Executor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using TlsStream = beast::ssl_stream<Stream>;

constexpr std::size_t kReadChunk = 4096;
// Streamed bodies move through one buffer of this size per connection (one document chunk).
constexpr std::size_t kTransferBufferSize = 64 << 10;
// The read buffer holds at most a full header plus this much: Beast bounds the header and the
// body, but not a chunk-size line or trailers, which would otherwise grow the buffer unbounded.
constexpr std::size_t kReadSlack = 64 << 10;
constexpr auto kCloseTimeout = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerDiscardBytes = 256 << 10;

Method FromVerb(bhttp::verb verb) {
  switch (verb) {
    case bhttp::verb::get: return Method::kGet;
    case bhttp::verb::head: return Method::kHead;
    case bhttp::verb::post: return Method::kPost;
    case bhttp::verb::put: return Method::kPut;
    case bhttp::verb::patch: return Method::kPatch;
    case bhttp::verb::delete_: return Method::kDelete;
    case bhttp::verb::options: return Method::kOptions;
    default: return Method::kOther;
  }
}

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

// True for errors that mean the client went away; there is nobody left to answer.
bool ClientGone(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

class BeastHeaderView final : public HeaderView {
 public:
  void Reset(const bhttp::fields* fields) { fields_ = fields; }
  std::optional<std::string_view> Get(std::string_view name) const override {
    const auto it = fields_->find(beast::string_view(name.data(), name.size()));
    if (it == fields_->end()) return std::nullopt;
    return View(it->value());
  }
  void ForEach(
      const std::function<void(std::string_view, std::string_view)>& visit) const override {
    for (const auto& field : *fields_) visit(View(field.name_string()), View(field.value()));
  }

 private:
  const bhttp::fields* fields_ = nullptr;
};

// Request ids: a random per-process prefix and a counter. Unique within and (with overwhelming
// probability) across processes, cheap, and never derived from anything the client sent.
class RequestIds {
 public:
  RequestIds() {
    std::uint8_t prefix[4] = {};
    (void)crypto::FillRandom(prefix);  // a zero prefix on failure only costs cross-process uniqueness
    prefix_ = crypto::HexEncode(prefix);
  }
  static constexpr std::size_t kLength = 20;
  using Buffer = std::array<char, kLength + 1>;
  // Writes the next id into `out` (no allocation: ids are made for every request).
  std::string_view Next(Buffer& out) {
    const auto n = counter_.fetch_add(1, std::memory_order_relaxed);
    (void)std::snprintf(out.data(), out.size(), "%s%012llx", prefix_.c_str(),  // always fits
                  static_cast<unsigned long long>(n & 0xFFFFFFFFFFFFull));
    return {out.data(), kLength};
  }

 private:
  std::string prefix_;
  std::atomic<std::uint64_t> counter_{1};
};

class ApiSession;

IpAddress AddressOf(const asio::ip::address& address) {
  IpAddress out;
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    out.bytes[10] = 0xff;
    out.bytes[11] = 0xff;
    std::copy(v4.begin(), v4.end(), out.bytes.begin() + 12);
  } else {
    const auto v6 = address.to_v6().to_bytes();
    std::copy(v6.begin(), v6.end(), out.bytes.begin());
  }
  return out;
}

}  // namespace

struct HttpServer::Impl {
  Impl(const ServerOptions& opts, const Router& r, HttpMetrics& m, TlsContextStore& t,
       observe::MetricsRegistry& reg)
      : options(opts),
        router(r),
        metrics(m),
        tls(t),
        registry(reg),
        largest_body_limit(LargestBodyLimit(opts, r)),
        route_classes(RouteClasses(r)),
        contexts(MakeContexts(opts.io_threads)),
        workers(opts.worker_threads),
        credential_workers(opts.credential_threads),
        // Registered here, not in Run: the server logs `server.listening` (and operators and
        // scripts start sending signals) before Run; a SIGHUP in between would otherwise take
        // its default action and kill the process. Asio queues a signal until WaitSignal.
        signals(*contexts[0], SIGINT, SIGTERM, SIGHUP),
        drain_timer(*contexts[0]),
        accept_retry_timer(*contexts[0]),
        metrics_retry_timer(*contexts[0]) {}

  ~Impl() { stopped.store(true); }

  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(std::size_t count) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }
  // The body limit while headers are parsed (Beast refuses a Content-Length above it before we
  // know the route); the route's own limit is applied once it is known.
  static std::size_t LargestBodyLimit(const ServerOptions& opts, const Router& r) {
    std::size_t largest = opts.max_body_bytes;
    for (const Route& route : r.routes()) largest = std::max(largest, route.max_body_bytes);
    return largest;
  }
  static std::vector<guard::RouteClass> RouteClasses(const Router& r) {
    std::vector<guard::RouteClass> out;
    for (const Route& route : r.routes()) {
      out.push_back(guard::ClassifyRoute(
          route.method == Method::kGet || route.method == Method::kHead, route.pattern));
    }
    return out;
  }
  // Round-robin: new connections spread evenly over the I/O threads.
  asio::io_context& NextContext() {
    return *contexts[next_context.fetch_add(1, std::memory_order_relaxed) % contexts.size()];
  }
  // Listeners, signals and the shutdown sequence live on the first context.
  asio::io_context& main_context() { return *contexts[0]; }

  Result<NetAddress> Listen(std::optional<tcp::acceptor>& acceptor, const NetAddress& address);
  void AcceptApi();
  void AcceptMetrics();
  void WaitSignal();
  void BeginDrain();
  void Stop();
  void SessionClosed(ApiSession* session);

  const ServerOptions options;
  const Router& router;
  HttpMetrics& metrics;
  TlsContextStore& tls;
  observe::MetricsRegistry& registry;
  std::function<void()> on_reload;
  const std::size_t largest_body_limit;
  const std::vector<guard::RouteClass> route_classes;  // by Route::index

  // Declared before `contexts` so they outlive them: destroying a context destroys its pending
  // handlers, which destroys sessions, which report here.
  std::atomic<bool> draining{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> open_connections{0};
  std::mutex sessions_mutex;
  std::unordered_map<ApiSession*, std::weak_ptr<ApiSession>> sessions;
  RequestIds request_ids;
  std::atomic<std::size_t> next_context{0};

  std::vector<std::unique_ptr<asio::io_context>> contexts;  // one per I/O thread
  // Declared after `contexts`: destroyed (with any queued handlers) while they still exist.
  asio::thread_pool workers;
  asio::thread_pool credential_workers;             // kCredential routes
  std::atomic<std::size_t> credential_pending{0};  // queued or running there
  std::optional<tcp::acceptor> api_acceptor;
  std::optional<tcp::acceptor> metrics_acceptor;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
  asio::steady_timer accept_retry_timer;
  asio::steady_timer metrics_retry_timer;
};

namespace {

// One TLS client connection. Lives as long as an asynchronous operation holds a shared_ptr to
// it; all of its work runs on its io_context's single thread, so its members need no locks (the
// worker pool only reads request_ while the connection waits in kProcessing).
class ApiSession : public std::enable_shared_from_this<ApiSession> {
 public:
  // `guarded_peer`: the key the traffic guard counted this connection under (released when the
  // session ends); `peer_is_proxy`: the peer is one of options.trusted_proxies.
  ApiSession(HttpServer::Impl& server, Socket socket, std::shared_ptr<ssl::context> context,
             std::string peer, std::optional<guard::SourceKey> guarded_peer, bool peer_is_proxy)
      : server_(server),
        options_(server.options),
        context_(std::move(context)),
        stream_(std::move(socket), *context_),
        buffer_(options_.max_header_bytes + kReadSlack),
        peer_(std::move(peer)),
        guarded_peer_(guarded_peer),
        peer_is_proxy_(peer_is_proxy) {}
  // Only a failing mutex or allocation can throw here; terminating then is the right outcome.
  ~ApiSession() {  // NOLINT(bugprone-exception-escape)
    AbandonSink();
    if (guarded_peer_) options_.guard->ReleaseConnection(*guarded_peer_);
    server_.SessionClosed(this);
  }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Handshake(); });
  }

  // Called when the server starts draining: an idle connection closes now; a busy one finishes
  // its request and then closes (Finish() sees `draining`).
  void Drain() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kIdle || self->state_ == State::kHandshake) self->Lowest().cancel();
    });
  }

 private:
  enum class State { kHandshake, kIdle, kReadingHeader, kReadingBody, kProcessing, kWriting, kClosing };

  Stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Handshake() {
    state_ = State::kHandshake;
    Lowest().expires_after(options_.handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              self->OnHandshake(ec);
                            });
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      if (server_.draining.load() && ec == asio::error::operation_aborted) return;
      server_.metrics.handshake_failures().Increment();
      if (ec == beast::error::timeout) server_.metrics.RecordTimeout(TimeoutPhase::kHandshake);
      observe::Debug("tls.handshake_failed", {{"reason", ec.message()}});
      return;  // non-TLS bytes, old protocol versions, no shared cipher: just close
    }
    ReadNext();
  }

  // Waits for the first byte of the next request under the idle (or, for a connection's first
  // request, the header) timeout; the header timeout then bounds the rest of the header.
  void ReadNext() {
    if (server_.draining.load()) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    state_ = State::kIdle;
    Lowest().expires_after(first_request_ ? options_.header_timeout : options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec) {
                                if (ec == beast::error::timeout) {
                                  self->server_.metrics.RecordTimeout(
                                      self->first_request_ ? TimeoutPhase::kHeader
                                                           : TimeoutPhase::kIdle);
                                }
                                return;
                              }
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    state_ = State::kReadingHeader;
    started_ = Clock::now();
    request_id_ = server_.request_ids.Next(request_id_buffer_);
    route_ = nullptr;
    method_ = Method::kOther;
    guard_refused_ = false;
    client_.clear();  // settled again from this request's headers
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    body_limit_ = server_.largest_body_limit;
    parser_->body_limit(body_limit_);
    header_done_ = false;
    Lowest().expires_after(options_.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return Reject(ErrorCode::kHeadersTooLarge,
                    "request line and headers exceed " + std::to_string(options_.max_header_bytes) +
                        " bytes");
    }
    if (ec == bhttp::error::body_limit) return RejectBodyTooLarge();  // Content-Length too big
    if (ec == beast::error::timeout) return server_.metrics.RecordTimeout(TimeoutPhase::kHeader);
    if (ClientGone(ec)) return;
    if (ec) return Reject(ErrorCode::kInvalidArgument, "malformed HTTP request");

    const auto& header = parser_->get();
    header_done_ = true;
    request_version_ = header.version();
    request_keep_alive_ = header.keep_alive();
    method_ = FromVerb(header.method());
    const auto field_count = FieldCount(header);
    header_field_count_ = field_count;
    if (field_count > options_.max_header_count) {
      return Reject(ErrorCode::kHeadersTooLarge,
                    "more than " + std::to_string(options_.max_header_count) + " header fields");
    }
    const std::string_view target = View(header.target());
    if (target.size() > options_.max_target_bytes) {
      return Reject(
          ErrorCode::kUriTooLong,
          "request target exceeds " + std::to_string(options_.max_target_bytes) + " bytes");
    }
    if (!target.starts_with('/')) {
      return Reject(ErrorCode::kInvalidArgument, "request target must be an absolute path");
    }
    const auto question = target.find('?');
    path_ = target.substr(0, question);
    query_ = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    SettleClient();

    lookup_ = server_.router.Find(method_, path_);
    if (options_.guard != nullptr) {
      const auto route_class = lookup_.route != nullptr
                                   ? server_.route_classes[lookup_.route->index]
                                   : guard::RouteClass::kRead;
      const guard::Verdict verdict = options_.guard->AdmitRequest(Client(), route_class);
      if (!verdict.admitted()) return RefuseByGuard(verdict);
    }
    if (lookup_.route == nullptr) {
      if (lookup_.path_matched) {
        Response response = ErrorResponse(
            Error(ErrorCode::kMethodNotAllowed,
                  std::string(MethodName(method_)) + " is not allowed here; allowed: " + lookup_.allow),
            request_id_);
        response.headers.emplace_back("Allow", lookup_.allow);
        return Finish(std::move(response), parser_->is_done());
      }
      return Finish(ErrorResponse(Error(ErrorCode::kNotFound, "no such endpoint"), request_id_),
                    parser_->is_done());
    }
    route_ = lookup_.route;

    body_limit_ = route_->max_body_bytes != 0 ? route_->max_body_bytes : options_.max_body_bytes;
    const auto length = parser_->content_length();
    if (length && *length > body_limit_) return RejectBodyTooLarge();
    parser_->body_limit(body_limit_);  // no body byte parsed yet: bounds a chunked body too
    const bool has_body = parser_->chunked() || length.value_or(0) > 0;
    if (has_body && route_->body_policy == BodyPolicy::kJson &&
        !IsJsonMediaType(View(header[bhttp::field::content_type]))) {
      return Reject(ErrorCode::kUnsupportedMediaType, "request body must be application/json");
    }
    if (route_->body_policy == BodyPolicy::kStream) return DispatchStream();
    if (parser_->is_done()) return Dispatch();
    if (ExpectsContinue()) return SendContinue();
    ReadBody();
  }

  bool ExpectsContinue() {  // HTTP/1.0 clients do not know 100 (RFC 9110 §10.1.1)
    const auto& header = parser_->get();
    return header.version() >= 11 && beast::iequals(header[bhttp::field::expect], "100-continue");
  }

  void SendContinue() {
    continue_.emplace(bhttp::status::continue_, request_version_);
    Lowest().expires_after(options_.body_timeout);
    bhttp::async_write(stream_, *continue_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->AbandonSink();
                         if (self->sink_) return self->ReadStreamChunk();
                         self->ReadBody();
                       });
  }

  void ReadBody() {
    state_ = State::kReadingBody;
    Lowest().expires_after(options_.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->OnBody(ec);
                      });
  }

  void OnBody(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) return RejectBodyTooLarge();  // chunked past the limit
    if (ec == beast::error::timeout) return server_.metrics.RecordTimeout(TimeoutPhase::kBody);
    if (ClientGone(ec)) return;
    if (ec) return Reject(ErrorCode::kInvalidArgument, "malformed HTTP request body");
    // Beast merges chunked trailer fields into the headers, after our header checks ran.
    if (FieldCount(parser_->get()) != header_field_count_) {
      return Reject(ErrorCode::kInvalidArgument, "trailer fields are not accepted");
    }
    Dispatch();
  }

  void PrepareRequest() {
    state_ = State::kProcessing;
    auto& message = parser_->get();
    header_view_.Reset(&message.base());
    request_.method = method_;
    request_.path = path_;
    request_.query = query_;
    request_.headers = &header_view_;
    request_.body = std::move(message.body());
    request_.request_id = request_id_;
    request_.peer = Client();
    request_.route = route_->pattern;
    request_.version = request_version_;
    request_.path_params = std::move(lookup_.params);
  }

  // The request's client: the peer, or behind a trusted proxy the client its X-Forwarded-For
  // names (read from the headers, so known before the guard and the body).
  void SettleClient() {
    client_.clear();
    if (options_.trusted_proxies.empty()) return;
    std::vector<std::string_view> forwarded;
    const auto [first, last] = parser_->get().base().equal_range("X-Forwarded-For");
    for (auto field = first; field != last; ++field) {
      forwarded.emplace_back(field->value().data(), field->value().size());
    }
    client_ = ForwardedClient(peer_, forwarded, options_.trusted_proxies);
    // Unknown (a header entry that is no address): no address for zones to match, and a
    // throttle key of its own per proxy rather than one shared by every such request.
    if (client_.empty()) client_ = "unknown-via-" + peer_;
  }
  std::string_view Client() const { return client_.empty() ? peer_ : client_; }

  // A refusal by the traffic guard: cheap (no body read, no handler), not counted again as a
  // client error. A banned or blocked source loses its connection; a throttled one keeps it
  // when nothing of the request is left unread.
  void RefuseByGuard(const guard::Verdict& verdict) {
    guard_refused_ = true;
    const auto retry = std::to_string(verdict.retry_after.count());
    if (verdict.refusal == guard::Refusal::kRateLimited) {
      Response response =
          ErrorResponse(Error(ErrorCode::kResourceExhausted,
                              "too many requests from this source; retry after " + retry + " s"),
                        request_id_);
      response.headers.emplace_back("Retry-After", retry);
      return Finish(std::move(response), parser_->is_done());
    }
    Response response = ErrorResponse(
        Error(ErrorCode::kPermissionDenied, verdict.refusal == guard::Refusal::kBanned
                                                ? "this source is banned for " + retry + " s"
                                                : "this source is blocked"),
        request_id_);
    if (verdict.refusal == guard::Refusal::kBanned)
      response.headers.emplace_back("Retry-After", retry);
    // A trusted proxy's connection carries other clients too: it stays open when it can.
    Finish(std::move(response), /*can_keep_alive=*/peer_is_proxy_ && parser_->is_done());
  }

  void Dispatch() {
    PrepareRequest();
    // A request screen (the WAF) costs more than a hop to the pool: with one, inline routes run
    // on the worker pool too, and the I/O threads only move bytes.
    const bool screened = options_.screen != nullptr;
    if (route_->execution == Execution::kInline && !screened) return Finish(Invoke(), true);
    if (route_->execution == Execution::kInlineFirst && !screened) {
      Response response;
      {
        NonBlockingScope on_io_thread;
        response = Invoke();
      }
      if (!response.would_block) return Finish(std::move(response), true);
      server_.metrics.inline_retries().Increment();
    }
    if (route_->execution == Execution::kCredential) return DispatchCredential();
    asio::post(server_.workers, [self = shared_from_this()] {
      Response response = self->ScreenThenInvoke();
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable {
                   self->Finish(std::move(response), true);
                 });
    });
  }

  // Password work waits for its own pool; past `credential_queue` requests in flight there, the
  // request is refused at once (its connection stays usable) rather than queued without bound.
  void DispatchCredential() {
    if (server_.credential_pending.fetch_add(1) >= options_.credential_queue) {
      server_.credential_pending.fetch_sub(1);
      Response busy = ErrorResponse(
          Error(ErrorCode::kUnavailable, "too many sign-ins in progress; retry shortly"),
          request_id_);
      busy.headers.emplace_back("Retry-After", "1");
      return Finish(std::move(busy), true);
    }
    asio::post(server_.credential_workers, [self = shared_from_this()] {
      PrepareCredentialThreadOnce(self->options_.credential_nice);
      Response response = self->ScreenThenInvoke();
      self->server_.credential_pending.fetch_sub(1);
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable {
                   self->Finish(std::move(response), true);
                 });
    });
  }

  // A streamed upload: the handler sees the headers first (so a request it refuses costs no body
  // bytes), then the body goes to its sink one buffer at a time, each on the worker pool while
  // the connection waits: memory per upload is one buffer, whatever the body's size.
  void DispatchStream() {
    PrepareRequest();
    asio::post(server_.workers, [self = shared_from_this()] {
      Response response = self->ScreenThenInvoke();  // the screen sees the headers only
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->OnStreamAccepted(std::move(response));
      });
    });
  }

  void OnStreamAccepted(Response response) {
    if (!response.body_sink) return Finish(std::move(response), parser_->is_done());
    sink_ = std::move(response.body_sink);
    if (transfer_buffer_.empty()) transfer_buffer_.resize(kTransferBufferSize);
    const bool expects_continue = !parser_->is_done() && ExpectsContinue();
    // The string-body parser hands over to a buffer-body one (Beast allows this between header
    // and body), which reads straight into transfer_buffer_.
    stream_parser_.emplace(std::move(*parser_));
    parser_.reset();
    if (stream_parser_->is_done()) return WriteToSink(0, true);
    if (expects_continue) return SendContinue();
    ReadStreamChunk();
  }

  void ReadStreamChunk() {
    state_ = State::kReadingBody;
    auto& body = stream_parser_->get().body();
    body.data = transfer_buffer_.data();
    body.size = transfer_buffer_.size();
    Lowest().expires_after(options_.body_timeout);  // per buffer: a minimum upload rate
    bhttp::async_read(stream_, buffer_, *stream_parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->OnStreamChunk(ec);
                      });
  }

  void OnStreamChunk(beast::error_code ec) {
    if (ec == bhttp::error::need_buffer) ec = {};  // the buffer is full: not an error
    if (ec) {
      AbandonSink();
      return OnBody(ec);  // the same answers as for a buffered body
    }
    const std::size_t filled = transfer_buffer_.size() - stream_parser_->get().body().size;
    const bool done = stream_parser_->is_done();
    if (done && FieldCount(stream_parser_->get()) != header_field_count_) {
      AbandonSink();
      return Reject(ErrorCode::kInvalidArgument, "trailer fields are not accepted");
    }
    WriteToSink(filled, done);
  }

  void WriteToSink(std::size_t filled, bool done) {
    state_ = State::kProcessing;
    asio::post(server_.workers, [self = shared_from_this(), filled, done] {
      std::optional<Response> answer;
      try {
        auto written = self->sink_->Write({self->transfer_buffer_.data(), filled});
        if (!written) {
          answer = self->sink_->Finish(&written.error());
        } else if (done) {
          answer = self->sink_->Finish(nullptr);
        }
      } catch (const std::exception&) {  // as in Invoke(): logged without the exception text
        observe::Error("http.handler_threw",
                       {{"route", self->route_->pattern}, {"request_id", self->request_id_}});
        answer = ErrorResponse(Error(ErrorCode::kInternal, "handler threw"), self->request_id_);
      }
      if (answer) self->sink_.reset();  // here, on the worker: its destructor may use the disk
      asio::post(self->stream_.get_executor(), [self, done, answer = std::move(answer)]() mutable {
        if (!answer) return self->ReadStreamChunk();
        self->Finish(std::move(*answer), done);  // a failure mid-body closes the connection
      });
    });
  }

  // Destroys an unfinished sink on the worker pool (it discards what it stored: disk work).
  // Once the server has stopped, the pool may be gone (sessions die with their io_context, after
  // it): then here, on this thread.
  void AbandonSink() {
    if (!sink_) return;
    if (server_.stopped.load()) return sink_.reset();
    asio::post(server_.workers, [sink = std::move(sink_)] {});
  }

  template <class Message>
  static std::size_t FieldCount(const Message& message) {
    return static_cast<std::size_t>(std::distance(message.begin(), message.end()));
  }

  // On a pool thread: the request screen, if any, then (unless it refused) the handler. A
  // refusal counts as the screen's own kind of strike, not again as a client error.
  Response ScreenThenInvoke() {
    if (options_.screen != nullptr) {
      std::optional<Response> refusal;
      try {
        refusal = options_.screen->Screen(request_);
      } catch (const std::exception&) {
        observe::Error("http.screen_threw",
                       {{"route", route_->pattern}, {"request_id", request_id_}});
        return ErrorResponse(Error(ErrorCode::kInternal, "request screen failed"), request_id_);
      }
      if (refusal) {
        guard_refused_ = true;
        return std::move(*refusal);
      }
    }
    return Invoke();
  }

  Response Invoke() {
    try {
      return route_->handler(request_);
    } catch (const std::exception&) {
      // The exception text is not logged: it could quote request content.
      observe::Error("http.handler_threw",
                     {{"route", route_->pattern}, {"request_id", request_id_}});
      return ErrorResponse(Error(ErrorCode::kInternal, "handler threw"), request_id_);
    }
  }

  void RejectBodyTooLarge() {
    Reject(ErrorCode::kPayloadTooLarge,
           "request body exceeds " + std::to_string(body_limit_) + " bytes");
  }

  void Reject(ErrorCode code, std::string message) {
    Finish(ErrorResponse(Error(code, std::move(message)), request_id_), /*can_keep_alive=*/false);
  }

  // Writes `response`. The connection stays open only if the request was read completely, the
  // client asked for keep-alive, and the server is not draining.
  void Finish(Response response, bool can_keep_alive) {
    if (response.gate) return HoldUntilReleased(std::move(response), can_keep_alive);
    state_ = State::kWriting;
    status_ = response.status;
    ++requests_answered_;
    const bool under_cap = options_.max_requests_per_connection == 0 ||
                           requests_answered_ < options_.max_requests_per_connection;
    keep_alive_ = can_keep_alive && header_done_ && request_keep_alive_ && under_cap &&
                  !server_.draining.load();
    // A trusted proxy's request refused before its client was read from X-Forwarded-For is
    // nobody's strike: charging the proxy would let any client behind it get it banned.
    const bool client_unknown = peer_is_proxy_ && client_.empty();
    if (options_.guard != nullptr && !guard_refused_ && !client_unknown && status_ >= 400 &&
        status_ < 500) {
      options_.guard->RecordAnswer(Client(), status_);
    }
    const unsigned version = header_done_ ? request_version_ : 11;
    // Counted before the first byte leaves, so a client that has seen its response also sees it
    // in the next metrics scrape.
    elapsed_seconds_ = std::chrono::duration<double>(Clock::now() - started_).count();
    server_.metrics.RecordRequest(route_, method_, status_, elapsed_seconds_);
    Lowest().expires_after(options_.body_timeout);  // a client that stops reading is cut off
    if (response.body_source) return FinishStreamed(std::move(response), version);
    response_.emplace(static_cast<bhttp::status>(response.status), version);
    SetHeaders(*response_, response);
    response_->body() = std::move(response.body);
    response_->prepare_payload();
    if (method_ == Method::kHead) {  // same headers as GET would have, never a body (RFC 9110)
      const auto length = response_->body().size();
      response_->body().clear();
      response_->content_length(length);
    }
    bhttp::async_write(stream_, *response_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         self->OnWrite(ec);
                       });
  }

  // The response waits for its gate (the audit entry's fsync) on no thread at all: the gate's
  // release posts it back to this connection's I/O thread.
  void HoldUntilReleased(Response response, bool can_keep_alive) {
    std::unique_ptr<ResponseGate> gate = std::move(response.gate);
    auto held = std::make_shared<Response>(std::move(response));
    ResponseGate* waiting = gate.get();
    waiting->Wait([self = shared_from_this(), held, can_keep_alive,
                   gate = std::shared_ptr<ResponseGate>(std::move(gate))](
                      std::unique_ptr<Response> replacement) mutable {
      // The swap happens on the I/O thread: destroying the held response (a streamed body's
      // source, say) must not happen on the thread that released it.
      // Moved, not copied: the last reference to the session must not die on this thread.
      auto executor = self->stream_.get_executor();
      asio::post(executor,
                 [self = std::move(self), held = std::move(held), can_keep_alive,
                  replacement = std::shared_ptr<Response>(std::move(replacement))]() mutable {
                   if (replacement) *held = std::move(*replacement);
                   held->gate.reset();
                   self->Finish(std::move(*held), can_keep_alive);
                 });
    });
  }

  template <class Message>
  void SetHeaders(Message& message, const Response& response) {
    message.set(bhttp::field::content_type, response.content_type);
    message.set("X-Request-Id", request_id_);
    message.set(bhttp::field::cache_control, "no-store");
    message.set("X-Content-Type-Options", "nosniff");
    message.set(bhttp::field::strict_transport_security, "max-age=31536000");
    // The API serves JSON, documents and a QR code, never a page to render: nothing may load,
    // frame or be framed, and no Referer leaves with a link followed from an answer.
    message.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    message.set("Referrer-Policy", "no-referrer");
    for (const auto& [name, value] : response.headers) message.set(name, value);
    message.keep_alive(keep_alive_);
  }

  // A streamed response: headers with the announced Content-Length, then the source is read on
  // the worker pool one buffer at a time, each written before the next is read.
  void FinishStreamed(Response response, unsigned version) {
    source_ = std::move(response.body_source);
    source_chunked_ = response.body_chunked;
    source_remaining_ =
        source_chunked_ ? std::numeric_limits<std::uint64_t>::max() : response.body_length;
    // HTTP/1.0 has no chunked coding: there the body ends when the connection closes.
    if (source_chunked_ && version < 11) keep_alive_ = false;
    streamed_response_.emplace(static_cast<bhttp::status>(response.status), version);
    SetHeaders(*streamed_response_, response);
    if (source_chunked_) {
      if (version >= 11) streamed_response_->chunked(true);
    } else {
      streamed_response_->content_length(response.body_length);
    }
    streamed_response_->body().data = nullptr;
    streamed_response_->body().more = true;
    if (transfer_buffer_.empty()) transfer_buffer_.resize(kTransferBufferSize);
    serializer_.emplace(*streamed_response_);
    bhttp::async_write_header(stream_, *serializer_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec) return self->OnWrite(ec);
                                self->PullSource();
                              });
  }

  void PullSource() {
    if (source_remaining_ == 0) return WriteStreamed(0);
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(source_remaining_, transfer_buffer_.size()));
    asio::post(server_.workers, [self = shared_from_this(), want] {
      Result<std::size_t> read = Fail(ErrorCode::kInternal, "body source threw");
      try {
        read = self->source_->Read({self->transfer_buffer_.data(), want});
      } catch (const std::exception&) {  // reported below as an aborted stream
      }
      asio::post(self->stream_.get_executor(), [self, read = std::move(read)] {
        // A chunked body ends when the source has no more; a sized one must fill its length.
        if (!read || (*read == 0 && !self->source_chunked_) || *read > self->source_remaining_) {
          // The headers promised more: cut the connection so the client sees a short body.
          observe::Error("http.stream_aborted",
                         {{"request_id", self->request_id_},
                          {"route", self->route_->pattern},
                          {"code", read ? "short_body" : ErrorCodeName(read.error().code())}});
          self->source_.reset();
          return self->Close();
        }
        self->WriteStreamed(*read);
      });
    });
  }

  void WriteStreamed(std::size_t size) {
    source_remaining_ -= size;
    auto& body = streamed_response_->body();
    body.data = size == 0 ? nullptr : transfer_buffer_.data();
    body.size = size;
    body.more = source_chunked_ ? size > 0 : source_remaining_ > 0;
    Lowest().expires_after(options_.body_timeout);
    bhttp::async_write(stream_, *serializer_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec == bhttp::error::need_buffer) return self->PullSource();
                         self->OnWrite(ec);
                       });
  }

  void OnWrite(beast::error_code ec) {
    if (options_.access_log) {
      observe::Info("http.request",
                    {{"request_id", request_id_},
                     {"method", MethodName(method_)},
                     {"route", route_ ? std::string_view(route_->pattern) : "unmatched"},
                     {"status", status_},
                     {"duration_us", static_cast<std::int64_t>(elapsed_seconds_ * 1e6)},
                     {"write_ok", !ec}});
    }
    if (ec) {
      if (ec == beast::error::timeout) server_.metrics.RecordTimeout(TimeoutPhase::kWrite);
      return;
    }
    response_.reset();
    serializer_.reset();
    streamed_response_.reset();
    source_.reset();
    request_ = Request{};
    if (!keep_alive_) return Close();
    parser_.reset();
    stream_parser_.reset();
    first_request_ = false;
    ReadNext();
  }

  // TLS close_notify, then a lingering close: half-close and discard what the client is still
  // sending (e.g. the body of a rejected upload) for a bounded time, so the kernel does not answer
  // it with a RST that could destroy our response before the client reads it.
  void Close() {
    state_ = State::kClosing;
    Lowest().expires_after(kCloseTimeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      self->Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      // One deadline for the whole linger, not one per read: a client trickling a byte a
      // second must not keep the socket (and its max_connections slot) for days.
      self->Lowest().expires_after(kCloseTimeout);
      self->Linger();
    });
  }

  void Linger() {
    if (discarded_ >= kLingerDiscardBytes) return;
    Lowest().async_read_some(asio::buffer(scratch_),
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               if (ec) return;
                               self->discarded_ += n;
                               self->Linger();
                             });
  }

  HttpServer::Impl& server_;
  const ServerOptions& options_;
  std::shared_ptr<ssl::context> context_;  // before stream_: the stream's SSL refers to it
  TlsStream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  // Streaming (document uploads and downloads): one transfer buffer, allocated on first use.
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  std::unique_ptr<BodySink> sink_;
  std::optional<bhttp::response<bhttp::buffer_body>> streamed_response_;
  std::optional<bhttp::response_serializer<bhttp::buffer_body>> serializer_;
  std::unique_ptr<BodySource> source_;
  std::uint64_t source_remaining_ = 0;
  bool source_chunked_ = false;  // the streamed body has no Content-Length
  std::vector<std::uint8_t> transfer_buffer_;
  BeastHeaderView header_view_;
  std::string peer_;  // the client's address, for requests (throttling, security events)
  std::optional<guard::SourceKey>
      guarded_peer_;  // counted by the traffic guard: released at the end
  bool peer_is_proxy_ = false;
  std::string client_;  // the request's client behind a trusted proxy (options_.trusted_proxies)
  std::size_t requests_answered_ = 0;
  // This request's answer is the guard's own refusal, or the request screen's (set on a pool
  // thread, read here after the post back).
  bool guard_refused_ = false;
  Request request_;
  Router::Lookup lookup_;
  const Route* route_ = nullptr;
  Method method_ = Method::kOther;
  std::string_view path_;
  std::string_view query_;
  RequestIds::Buffer request_id_buffer_{};
  std::string_view request_id_;  // into request_id_buffer_
  int status_ = 0;
  std::size_t header_field_count_ = 0;
  std::size_t body_limit_ = 0;  // the matched route's (the largest of all before that)
  bool header_done_ = false;
  unsigned request_version_ = 11;
  bool request_keep_alive_ = false;
  bool keep_alive_ = false;  // of the response being written
  State state_ = State::kHandshake;
  bool first_request_ = true;
  Clock::time_point started_;
  double elapsed_seconds_ = 0;  // first byte to response ready
  std::size_t discarded_ = 0;
  std::array<char, 4096> scratch_;
};

// The plain-HTTP metrics listener: GET /metrics and nothing else.
class MetricsSession : public std::enable_shared_from_this<MetricsSession> {
 public:
  MetricsSession(HttpServer::Impl& server, Socket socket)
      : server_(server), stream_(std::move(socket)) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(8192);
    parser_->body_limit(4096);
    stream_.expires_after(server_.options.header_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->OnRead(ec);
                      });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) return;
    const auto& request = parser_->get();
    RequestIds::Buffer id_buffer;
    const std::string_view request_id = server_.request_ids.Next(id_buffer);
    Response response;
    if (View(request.target()) != "/metrics") {
      response = ErrorResponse(Error(ErrorCode::kNotFound, "only /metrics is served here"), request_id);
    } else if (request.method() != bhttp::verb::get) {
      response = ErrorResponse(Error(ErrorCode::kMethodNotAllowed, "only GET is allowed"), request_id);
      response.headers.emplace_back("Allow", "GET");
    } else {
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body = server_.registry.RenderText();
    }
    response_.emplace(static_cast<bhttp::status>(response.status), request.version());
    response_->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) response_->set(name, value);
    response_->body() = std::move(response.body);
    response_->keep_alive(request.keep_alive() && !server_.draining.load());
    response_->prepare_payload();
    bhttp::async_write(stream_, *response_,
                       [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                         if (write_ec) return;
                         if (self->response_->keep_alive()) return self->Read();
                         beast::error_code ignored;
                         self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                       });
  }

  HttpServer::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
};

}  // namespace

Result<NetAddress> HttpServer::Impl::Listen(std::optional<tcp::acceptor>& acceptor,
                                            const NetAddress& address) {
  beast::error_code ec;
  const auto ip = asio::ip::make_address(address.host, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "not an IP address: " + address.host);
  const tcp::endpoint endpoint(ip, address.port);
  acceptor.emplace(main_context());
  const auto failed = [&](const char* step) {
    return Fail(ErrorCode::kUnavailable,
                std::string("cannot listen on ") + address.ToString() + " (" + step + "): " + ec.message());
  };
  if (acceptor->open(endpoint.protocol(), ec); ec) return failed("open");
  if (acceptor->set_option(asio::socket_base::reuse_address(true), ec); ec) return failed("option");
  if (ip.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (acceptor->bind(endpoint, ec); ec) return failed("bind");
  if (acceptor->listen(asio::socket_base::max_listen_connections, ec); ec) return failed("listen");
  const auto bound = acceptor->local_endpoint(ec);
  if (ec) return failed("local_endpoint");
  return NetAddress{bound.address().to_string(), bound.port()};
}

void HttpServer::Impl::AcceptApi() {
  api_acceptor->async_accept(NextContext(), [this](beast::error_code ec, Socket socket) {
    if (ec == asio::error::operation_aborted || draining.load()) return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning on a failing accept.
      observe::Warn("http.accept_failed", {{"reason", ec.message()}});
      accept_retry_timer.expires_after(std::chrono::milliseconds(50));
      accept_retry_timer.async_wait([this](beast::error_code e) {
        if (!e) AcceptApi();
      });
      return;
    }
    std::string peer;
    std::optional<guard::SourceKey> guarded;
    bool proxy = false;
    bool refused = open_connections.load() >= options.max_connections;
    if (refused) {
      metrics.rejected_connections().Increment();
    } else {
      const auto remote = socket.remote_endpoint(ec);
      if (!ec) peer = remote.address().to_string();
      if (!ec) {
        const IpAddress address = AddressOf(remote.address());
        proxy = std::any_of(options.trusted_proxies.begin(), options.trusted_proxies.end(),
                            [&](const IpNetwork& n) { return n.Contains(address); });
        if (options.guard != nullptr) {
          // The cheapest refusal there is: before TLS, before any byte is read.
          guard::SourceKey counted_as;
          refused = !options.guard->AdmitConnection(address, proxy, counted_as).admitted();
          if (!refused) guarded = counted_as;
        }
      }
    }
    if (refused) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      open_connections.fetch_add(1);
      metrics.open_connections().Add(1);
      auto session = std::make_shared<ApiSession>(*this, std::move(socket), tls.Current(),
                                                  std::move(peer), guarded, proxy);
      {
        std::lock_guard lock(sessions_mutex);
        sessions.emplace(session.get(), session);
      }
      session->Start();
    }
    AcceptApi();
  });
}

void HttpServer::Impl::AcceptMetrics() {
  metrics_acceptor->async_accept(main_context(), [this](beast::error_code ec, Socket socket) {
    if (ec == asio::error::operation_aborted || draining.load()) return;
    if (ec) {  // e.g. EMFILE: the listening socket stays readable, so back off instead of spinning
      metrics_retry_timer.expires_after(std::chrono::milliseconds(50));
      metrics_retry_timer.async_wait([this](beast::error_code e) {
        if (!e) AcceptMetrics();
      });
      return;
    }
    std::make_shared<MetricsSession>(*this, std::move(socket))->Read();
    AcceptMetrics();
  });
}

void HttpServer::Impl::SessionClosed(ApiSession* session) {
  {
    std::lock_guard lock(sessions_mutex);
    sessions.erase(session);
  }
  const auto open = open_connections.fetch_sub(1) - 1;
  metrics.open_connections().Add(-1);  // Add, not Set: racing threads must not leave it stale
  if (open == 0 && draining.load() && !stopped.load()) {
    asio::post(main_context(), [this] { Stop(); });
  }
}

void HttpServer::Impl::WaitSignal() {
  signals.async_wait([this](beast::error_code ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      asio::post(workers, [this] {
        if (on_reload) on_reload();
      });
    } else if (draining.load()) {
      observe::Warn("server.forced_stop", {{"open_connections", open_connections.load()}});
      return Stop();
    } else {
      BeginDrain();
    }
    WaitSignal();
  });
}

void HttpServer::Impl::BeginDrain() {
  if (draining.exchange(true)) return;
  observe::Info("server.draining",
                {{"open_connections", open_connections.load()},
                 {"grace_ms", static_cast<std::int64_t>(options.shutdown_grace.count())}});
  beast::error_code ignored;
  if (api_acceptor) api_acceptor->close(ignored);
  if (metrics_acceptor) metrics_acceptor->close(ignored);
  accept_retry_timer.cancel();
  metrics_retry_timer.cancel();
  std::vector<std::shared_ptr<ApiSession>> live;
  {
    std::lock_guard lock(sessions_mutex);
    for (auto& [raw, weak] : sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) session->Drain();
  live.clear();  // outside the lock: releasing the last reference runs SessionClosed
  drain_timer.expires_after(options.shutdown_grace);
  drain_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;
    observe::Warn("server.drain_deadline", {{"open_connections", open_connections.load()}});
    Stop();
  });
  if (open_connections.load() == 0) Stop();
}

void HttpServer::Impl::Stop() {
  if (stopped.exchange(true)) return;
  drain_timer.cancel();
  signals.cancel();
  for (auto& context : contexts) context->stop();
}

HttpServer::HttpServer(const ServerOptions& options, const Router& router, HttpMetrics& metrics,
                       TlsContextStore& tls, observe::MetricsRegistry& registry)
    : impl_(std::make_unique<Impl>(options, router, metrics, tls, registry)) {}

HttpServer::~HttpServer() = default;

Result<NetAddress> HttpServer::ListenApi(const NetAddress& address) {
  return impl_->Listen(impl_->api_acceptor, address);
}

Result<NetAddress> HttpServer::ListenMetrics(const NetAddress& address) {
  return impl_->Listen(impl_->metrics_acceptor, address);
}

bool HttpServer::draining() const { return impl_->draining.load(); }

void HttpServer::Run(std::function<void()> on_reload) {
  Impl& s = *impl_;
  s.on_reload = std::move(on_reload);
  s.WaitSignal();
  if (s.api_acceptor) s.AcceptApi();
  if (s.metrics_acceptor) s.AcceptMetrics();
  // Contexts other than the first have no work until a connection arrives: keep them running.
  std::vector<asio::executor_work_guard<Executor>> keep_running;
  keep_running.reserve(s.contexts.size());
  for (auto& context : s.contexts) keep_running.push_back(asio::make_work_guard(*context));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < s.contexts.size(); ++i) {
    threads.emplace_back([&s, i] { s.contexts[i]->run(); });
  }
  s.contexts[0]->run();
  for (auto& thread : threads) thread.join();
  s.workers.join();
  s.credential_workers.join();
}

}  // namespace strongroom::http
