#pragma once
// Router: maps (method, path) to a handler. Patterns are literal segments and `{name}` segments
// ("/v1/collections/{collection}/records/{id}"); a literal segment beats a parameter at the same
// position, so "/v1/subjects/search" is never taken for "/v1/subjects/{id}".
//
// Built once by the composition root, then only read: Find() is safe from any number of threads
// once no more routes are added.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/http/types.h"

namespace strongroom::http {

enum class Execution {
  kInline,  // cheap and non-blocking: runs on the I/O thread
  kWorker,  // may block or burn CPU (disk, Argon2, crypto on large data): runs on the worker pool
  // Tried first on the I/O thread inside a NonBlockingScope (base/blocking.h): a read whose data
  // is all in memory is answered there, without two thread hand-offs; one that needs the disk
  // fails with would_block and runs again, from the start, on the worker pool. So the handler
  // must change nothing before it could fail with would_block: reads only.
  kInlineFirst,
  // Verifies or hashes a password (Argon2id: ~50 ms of CPU and 19+ MiB each): runs on its own
  // small pool (ServerOptions::credential_threads) behind a bounded queue, so a burst of sign-ins
  // waits for that pool, or is refused with 503 and Retry-After, while every other route keeps
  // its threads.
  kCredential,
};

enum class BodyPolicy {
  kJson,  // a body, if any, must be application/json (415 otherwise)
  kAny,   // any media type
  kStream,  // any media type, streamed to the handler's BodySink (types.h): document uploads
};

struct Route {
  Method method;
  std::string pattern;
  Execution execution;
  BodyPolicy body_policy;
  Handler handler;
  std::size_t max_body_bytes;  // 0: the server's limit (ServerOptions::max_body_bytes)
  std::size_t index;           // position in routes(), stable: used by metrics
  std::vector<std::string> segments;
};

class Router {
 public:
  void Add(Method method, std::string pattern, Execution execution, Handler handler,
           BodyPolicy body_policy = BodyPolicy::kJson, std::size_t max_body_bytes = 0);

  struct Lookup {
    const Route* route = nullptr;  // set when matched
    std::vector<std::pair<std::string_view, std::string_view>> params;
    bool path_matched = false;  // some route has this path (so: 405, not 404)
    std::string allow;          // "GET, POST" when path_matched but method not
  };
  Lookup Find(Method method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace strongroom::http
