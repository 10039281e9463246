// libFuzzer target: routing and media-type checks run on every request's target and headers.
// Property: never crash; a match's parameters are substrings of the path; 405 lists methods.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "strongroom/http/router.h"
#include "strongroom/http/types.h"

using namespace strongroom::http;

namespace {
Router& TheRouter() {
  static Router* router = [] {
    auto* r = new Router();
    const auto ok = [](const Request&) { return Response{}; };
    r->Add(Method::kGet, "/v1/health", Execution::kInline, ok);
    r->Add(Method::kGet, "/v1/subjects/{id}", Execution::kWorker, ok);
    r->Add(Method::kPost, "/v1/subjects/search", Execution::kWorker, ok);
    r->Add(Method::kGet, "/v1/collections/{collection}/records/{id}", Execution::kWorker, ok);
    r->Add(Method::kDelete, "/v1/collections/{collection}/records/{id}", Execution::kWorker, ok);
    return r;
  }();
  return *router;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto method = static_cast<Method>(data[0] % kMethodCount);
  const std::string_view path(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto lookup = TheRouter().Find(method, path);
  for (const auto& [name, value] : lookup.params) {
    if (value.empty() || value.data() < path.data() ||
        value.data() + value.size() > path.data() + path.size()) {
      std::abort();
    }
  }
  if (lookup.route == nullptr && lookup.path_matched && lookup.allow.empty()) std::abort();
  (void)IsJsonMediaType(path);
  return 0;
}
