#pragma once
// The plain request/response types handlers see. Beast stays inside server.cc: handlers and the
// modules above http/ compile against this small header only.
//
// A Request is owned by the connection that read it and is valid until the handler returns;
// string_views in it point into the connection's buffers. A handler runs on exactly one thread
// at a time for a given request, so neither type needs locking.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strongroom/base/error.h"

namespace strongroom::http {

enum class Method : std::uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
inline constexpr int kMethodCount = 8;

std::string_view MethodName(Method method);

// Read access to request headers without copying them (implemented over Beast's fields).
class HeaderView {
 public:
  virtual ~HeaderView() = default;
  // Case-insensitive lookup of the first field with this name.
  virtual std::optional<std::string_view> Get(std::string_view name) const = 0;
  // Every field, in the order received (for the web application firewall, which sees them all).
  virtual void ForEach(
      const std::function<void(std::string_view name, std::string_view value)>& visit) const = 0;
};

struct Request {
  Method method = Method::kGet;
  std::string_view path;   // the target before '?', not percent-decoded
  std::string_view query;  // after '?', without it
  const HeaderView* headers = nullptr;
  std::string body;
  std::string_view request_id;
  std::string_view peer;  // the client's address ("203.0.113.7", "::1"), as the socket saw it
  std::string_view route;  // the matched route's pattern ("/v1/collections/{collection}")
  unsigned version = 11;   // HTTP/1.1: 11, HTTP/1.0: 10
  std::vector<std::pair<std::string_view, std::string_view>> path_params;

  // The value of a `{name}` segment of the matched route pattern; empty if there is none.
  std::string_view PathParam(std::string_view name) const;
};

struct Response;

// The consumer of a streamed request body (routes with BodyPolicy::kStream). The handler runs
// first, with the headers only, and either answers at once (the body is then never read) or
// returns a sink in Response::body_sink. The server then reads the body a piece at a time and
// hands each piece to Write(), in order, then calls Finish(nullptr) for the answer; if Write()
// fails, it stops reading and calls Finish(&error) instead. Every call runs on the worker pool,
// one at a time, never concurrently. A sink destroyed without Finish() was abandoned (the client
// went away, timed out, or sent too much): its destructor must discard whatever it stored.
// It must not keep views into the Request, which is gone once the handler returns.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual Result<void> Write(std::span<const std::uint8_t> data) = 0;
  virtual Response Finish(const Error* failure) = 0;
};

// The producer of a streamed response body (Response::body_source, worker routes only). The
// server sends the headers with Content-Length: body_length (or, with body_chunked, chunked
// transfer coding, for a body whose length is known only at its end), then calls Read() on the
// worker pool for each next piece (one call at a time). An error or a short body after the
// headers left cuts the connection, so the client sees an incomplete response, never a wrong
// one (a chunked body then lacks its last chunk).
// Destroyed on an I/O thread: its destructor must not block.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Fills a prefix of `out` with the next bytes; returns how many (0 means no more).
  virtual Result<std::size_t> Read(std::span<std::uint8_t> out) = 0;
};

// Holds a response back until something else is done: the audit entry of a request must be
// durable before its answer leaves (audit/). The server calls Wait() once, on the connection's
// I/O thread, just before it would write; `release` may then be called from any thread, exactly
// once: with null the held response leaves as it is; with a response, that one leaves instead
// and the held one (which may carry personal data) is destroyed unsent. Wait() must not block.
class ResponseGate {
 public:
  virtual ~ResponseGate() = default;
  virtual void Wait(std::function<void(std::unique_ptr<Response>)> release) = 0;
};

struct Response {
  int status = 200;
  // A view, because it is almost always a constant: the referenced text must outlive the
  // response (use a literal or a static string).
  std::string_view content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::unique_ptr<BodySink> body_sink;      // set: read the request body into it (see above)
  std::unique_ptr<BodySource> body_source;  // set: the body is streamed from it, not `body`
  std::uint64_t body_length = 0;            // with body_source: exactly this many bytes
  bool body_chunked = false;  // with body_source: length unknown, chunked until Read() gives 0
  std::unique_ptr<ResponseGate> gate;       // set: sent only once the gate releases it (above)
  // Set (by ErrorResponse, for ErrorCode::kWouldBlock) when an inline-first handler (router.h)
  // needed the disk on an I/O thread: the server discards this response and runs the handler
  // again on the worker pool. Never sent.
  bool would_block = false;
};

using Handler = std::function<Response(const Request&)>;

// Looks at a routed request once it is read (a streamed upload: its headers only), before its
// handler, and refuses it by answering: the web application firewall (api/waf_screen.h). The
// server runs it where the handler would run off the I/O threads (the worker pool, or the
// credential pool for credential routes), once per request. Must be thread-safe.
class RequestScreen {
 public:
  virtual ~RequestScreen() = default;
  virtual std::optional<Response> Screen(const Request& request) const = 0;
};

// True for "application/json" with optional parameters ("application/json; charset=utf-8"),
// compared case-insensitively as RFC 9110 §8.3.1 requires.
bool IsJsonMediaType(std::string_view content_type);

}  // namespace strongroom::http
