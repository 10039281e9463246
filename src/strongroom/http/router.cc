#include "strongroom/http/router.h"

#include <algorithm>

namespace strongroom::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.starts_with('/')) path.remove_prefix(1);
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    segments.push_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return segments;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Scores a match so literal segments win over parameters; -1 when the path does not match.
int MatchScore(const Route& route, const std::vector<std::string_view>& parts) {
  if (route.segments.size() != parts.size()) return -1;
  int score = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& segment = route.segments[i];
    if (IsParam(segment)) {
      if (parts[i].empty()) return -1;
    } else if (segment != parts[i]) {
      return -1;
    } else {
      score += 1 << (parts.size() - i);  // earlier literal segments weigh more
    }
  }
  return score;
}

}  // namespace

void Router::Add(Method method, std::string pattern, Execution execution, Handler handler,
                 BodyPolicy body_policy, std::size_t max_body_bytes) {
  Route route{method,         std::move(pattern), execution, body_policy, std::move(handler),
              max_body_bytes, routes_.size(),     {}};
  for (std::string_view segment : SplitPath(route.pattern)) route.segments.emplace_back(segment);
  routes_.push_back(std::move(route));
}

Router::Lookup Router::Find(Method method, std::string_view path) const {
  Lookup lookup;
  const auto parts = SplitPath(path);
  int best_any = -1;
  int best_method = -1;
  const Route* best_route = nullptr;
  for (const Route& route : routes_) {
    const int score = MatchScore(route, parts);
    if (score < 0) continue;
    best_any = std::max(best_any, score);
    if (route.method == method && score > best_method) {
      best_method = score;
      best_route = &route;
    }
  }
  if (best_any < 0) return lookup;
  lookup.path_matched = true;
  if (best_route != nullptr && best_method == best_any) {
    lookup.route = best_route;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (IsParam(best_route->segments[i])) {
        std::string_view name = best_route->segments[i];
        lookup.params.emplace_back(name.substr(1, name.size() - 2), parts[i]);
      }
    }
    return lookup;
  }
  // The most specific pattern for this path exists, but not for this method: list its methods.
  std::vector<std::string_view> methods;
  for (const Route& route : routes_) {
    if (MatchScore(route, parts) == best_any) methods.push_back(MethodName(route.method));
  }
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  for (std::size_t i = 0; i < methods.size(); ++i) {
    if (i > 0) lookup.allow += ", ";
    lookup.allow += methods[i];
  }
  return lookup;
}

}  // namespace strongroom::http
