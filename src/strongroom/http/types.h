#pragma once
// The plain request/response types handlers see. Beast stays inside server.cc: handlers and the
// modules above http/ compile against this small header only.
//
// A Request is owned by the connection that read it and is valid until the handler returns;
// string_views in it point into the connection's buffers. A handler runs on exactly one thread
// at a time for a given request, so neither type needs locking.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
};

struct Request {
  Method method = Method::kGet;
  std::string_view path;   // the target before '?', not percent-decoded
  std::string_view query;  // after '?', without it
  const HeaderView* headers = nullptr;
  std::string body;
  std::string_view request_id;
  std::vector<std::pair<std::string_view, std::string_view>> path_params;

  // The value of a `{name}` segment of the matched route pattern; empty if there is none.
  std::string_view PathParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  // A view, because it is almost always a constant: the referenced text must outlive the
  // response (use a literal or a static string).
  std::string_view content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

// True for "application/json" with optional parameters ("application/json; charset=utf-8"),
// compared case-insensitively as RFC 9110 §8.3.1 requires.
bool IsJsonMediaType(std::string_view content_type);

}  // namespace strongroom::http
