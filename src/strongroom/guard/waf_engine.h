#pragma once
// The thin layer over ModSecurity v3 that WebFirewall (web_firewall.h) is built on: compile a
// rule set, run one request through it. waf_engine.cc is the one file that includes
// ModSecurity's headers, and it is compiled as C++20: ModSecurity 3.0.9's headers construct a
// std::string from NULL, which C++23 no longer allows. So this header uses only the standard
// library (no std::expected) and means nothing beyond what ModSecurity itself does.
//
// Thread-safety: a compiled WafRules is immutable and shared by any number of threads; each
// Evaluate() call has a ModSecurity transaction of its own.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strongroom::guard {

// What the firewall has to see of a request. Views: valid for the call only.
struct WafRequest {
  std::string_view method;  // "GET"
  std::string_view target;  // path and query, as sent
  std::string_view http_version = "1.1";
  std::string_view client;  // the client's address
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view body;  // empty: none (or not inspected: a streamed upload)
};

class WafRules;  // a ModSecurity instance and its compiled rules (defined in waf_engine.cc)

struct WafRuleSource {
  bool is_file = false;
  std::string text;  // the directives, or a file's path
  std::string name;  // for parser messages
};

// Compiles `sources` in order; null, with ModSecurity's parser message in `error`, on failure.
std::shared_ptr<const WafRules> CompileWafRules(const std::vector<WafRuleSource>& sources,
                                                std::string& error);

struct WafEvaluation {
  bool intervened = false;      // a rule asked for the request to be refused
  bool score_exceeded = false;  // the CRS's blocking evaluation fired (also in detection-only)
  std::vector<int> rule_ids;    // the matching rules that log, in order, without repeats
};

// Runs `request` through phases 1 and 2 (headers, then body). Only rule ids leave: ModSecurity's
// messages and matched data quote the request and are never read here.
WafEvaluation EvaluateWafRules(const WafRules& rules, const WafRequest& request,
                               std::size_t max_rule_ids);

}  // namespace strongroom::guard
