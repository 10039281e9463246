#pragma once
// WebFirewall: ModSecurity v3 with the OWASP Core Rule Set (both Debian's) applied to a request
// once it is read, before its handler (docs/guard.md, "Web application firewall"). It answers
// which rules matched and whether the request is to be refused; it never returns, logs or keeps
// what the rules matched (the request's content: personal data), only rule ids.
//
// The rule set is built from the settings: Strongroom's own engine setup (no ModSecurity audit
// or debug log, JSON bodies parsed as JSON, the API's methods and media types allowed, the
// paranoia level and anomaly threshold), the chosen CRS files, the exclusions (credentials that
// are only ever hashed, and the record fields an operator names as free text or ciphertext),
// then the operator's own directives file, if any.
//
// Thread-safety: Inspect() may run on many threads at once: the compiled rules are shared
// read-only, and each call has a ModSecurity transaction of its own. A reload swaps the rules
// atomically (Install); calls already running finish with the rules they started with.
// Ownership: the composition root owns the firewall; the API's request screen borrows it.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/guard/waf_engine.h"

namespace strongroom::guard {

enum class WafMode : std::uint8_t { kBlocking, kDetectionOnly };

struct WafSettings {
  bool enabled = true;
  WafMode mode = WafMode::kBlocking;
  int paranoia_level = 1;             // CRS 1-4: higher catches more, refuses more good requests
  int inbound_anomaly_threshold = 5;  // CRS score at which a request is refused (one critical hit)
  std::filesystem::path crs_rules_dir = "/usr/share/modsecurity-crs/rules";
  // The CRS files loaded, in order, from crs_rules_dir (docs/guard.md says why these).
  std::vector<std::string> rule_files = DefaultRuleFiles();
  // Record fields (by name, in any collection) whose values are not inspected: free text that
  // legitimately holds apostrophes and angle brackets, or client-side ciphertext.
  std::vector<std::string> free_text_fields;
  std::filesystem::path extra_rules_file;  // the operator's own directives, loaded last
  // Cookies that hold random secrets (the session cookie): not inspected, nothing to find there.
  std::vector<std::string> secret_cookies;

  static std::vector<std::string> DefaultRuleFiles();
};

struct WafFinding {
  // The request is to be refused (blocking mode and the rules said so).
  bool refuse = false;
  // Some rule detected an attack (in either mode).
  bool detected = false;
  // The detecting rules, in the order they matched (the final anomaly-score rule is left out:
  // it only says that these added up). At most kMaxRuleIds.
  std::vector<int> rule_ids;
  static constexpr std::size_t kMaxRuleIds = 8;
  // "942100,942190": for the audit entry and the log.
  std::string RuleList() const;
};

class WebFirewall {
 public:
  // Compiles the rule set; invalid_argument names the file or setting that is wrong.
  static Result<std::unique_ptr<WebFirewall>> Create(const WafSettings& settings);
  ~WebFirewall();
  WebFirewall(const WebFirewall&) = delete;
  WebFirewall& operator=(const WebFirewall&) = delete;

  WafFinding Inspect(const WafRequest& request) const;

  struct Engine;  // the compiled rules and the mode (web_firewall.cc)
  using Prepared = std::shared_ptr<const Engine>;
  // A reload in two steps, so that a configuration reload can check every part before it
  // changes any: Prepare compiles `settings` (invalid_argument as Create), Install puts them in
  // force.
  static Result<Prepared> Prepare(const WafSettings& settings);
  void Install(Prepared prepared);
  WafMode mode() const;

 private:
  explicit WebFirewall(std::shared_ptr<const Engine> engine);
  std::shared_ptr<const Engine> Current() const;

  mutable std::mutex mutex_;  // guards engine_ (the pointer, not the engine)
  std::shared_ptr<const Engine> engine_;
};

// The engine configuration Strongroom writes before the CRS files (exposed for its tests).
std::string EngineSetup(const WafSettings& settings);

}  // namespace strongroom::guard
