#include "strongroom/guard/web_firewall.h"

#include <algorithm>
#include <sstream>

namespace strongroom::guard {
namespace {

// The members of Strongroom's own request bodies that carry credentials. They are only ever
// hashed or compared, never interpreted, and a strong password is exactly the kind of string
// (quotes, angle brackets, dashes) the injection rules flag.
constexpr std::string_view kCredentialMembers[] = {"password", "current_password", "new_password",
                                                   "passphrase"};

// A full record batch (100 records) of 100 fields each is 10,000 values: a request with more is
// refused.
constexpr int kMaxArguments = 10'000;

bool IsFieldName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

std::vector<std::string> WafSettings::DefaultRuleFiles() {
  return {
      "REQUEST-901-INITIALIZATION.conf",
      "REQUEST-905-COMMON-EXCEPTIONS.conf",
      "REQUEST-911-METHOD-ENFORCEMENT.conf",
      "REQUEST-913-SCANNER-DETECTION.conf",
      "REQUEST-920-PROTOCOL-ENFORCEMENT.conf",
      "REQUEST-921-PROTOCOL-ATTACK.conf",
      "REQUEST-930-APPLICATION-ATTACK-LFI.conf",
      "REQUEST-931-APPLICATION-ATTACK-RFI.conf",
      "REQUEST-932-APPLICATION-ATTACK-RCE.conf",
      "REQUEST-941-APPLICATION-ATTACK-XSS.conf",
      "REQUEST-942-APPLICATION-ATTACK-SQLI.conf",
      "REQUEST-943-APPLICATION-ATTACK-SESSION-FIXATION.conf",
      "REQUEST-949-BLOCKING-EVALUATION.conf",
  };
}

std::string WafFinding::RuleList() const {
  std::string out;
  for (const int id : rule_ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

std::string EngineSetup(const WafSettings& settings) {
  std::ostringstream out;
  out << "SecRuleEngine " << (settings.mode == WafMode::kBlocking ? "On" : "DetectionOnly")
      << "\n"
      // Bodies are bounded by the server before they get here; ModSecurity sees all of it.
      << "SecRequestBodyAccess On\n"
      << "SecRequestBodyLimit 134217728\n"
      << "SecRequestBodyNoFilesLimit 134217728\n"
      << "SecRequestBodyLimitAction ProcessPartial\n"
      << "SecResponseBodyAccess Off\n"
      // ModSecurity's own audit and debug logs would copy requests (personal data) to disk.
      << "SecAuditEngine Off\n"
      << "SecDebugLogLevel 0\n"
      << "SecPcreMatchLimit 100000\n"
      // Every argument goes through every rule: a body of many tiny values (a megabyte of
      // [0,0,…]) would hold a worker for seconds. Past this many, the request is refused.
      << "SecArgumentsLimit " << kMaxArguments << "\n"
      << "SecRule &ARGS \"@ge " << kMaxArguments
      << "\" \"id:200007,phase:2,t:none,log,auditlog,deny,status:403,"
         "msg:'too many arguments to inspect'\"\n"
      << "SecPcreMatchLimitRecursion 100000\n"
      << "SecRule REQUEST_HEADERS:Content-Type \"@rx ^application/json\" "
         "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
      // CRS setup (what crs-setup.conf would say), for a JSON API. `auditlog` although the
      // audit engine is off: ModSecurity 3.0.9 reports a match to its callback only then.
      << "SecDefaultAction \"phase:1,log,auditlog,pass\"\n"
      << "SecDefaultAction \"phase:2,log,auditlog,pass\"\n"
      << "SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level="
      << settings.paranoia_level << "\"\n"
      << "SecAction \"id:900110,phase:1,nolog,pass,t:none,"
         "setvar:tx.inbound_anomaly_score_threshold="
      << settings.inbound_anomaly_threshold << ",setvar:tx.outbound_anomaly_score_threshold=4\"\n"
      << "SecAction \"id:900200,phase:1,nolog,pass,t:none,"
         "setvar:'tx.allowed_methods=GET HEAD POST PUT PATCH DELETE OPTIONS'\"\n"
      << "SecAction \"id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334\"\n";
  // A document upload's body is the raw file (never inspected), and its Content-Type is the
  // file's, whatever that is: the document service checks it, not the rules for API bodies
  // (missing, not allowed, malformed, charset).
  // (Before the CRS files: a rule removed at run time must be removed before it runs.)
  out << "SecRule REQUEST_FILENAME \"@rx ^/v1/subjects/[^/]+/documents$\" "
         "\"id:200010,phase:1,t:none,pass,nolog,ctl:ruleRemoveById=920340,"
         "ctl:ruleRemoveById=920420,ctl:ruleRemoveById=920470,ctl:ruleRemoveById=920480\"\n";
  return out.str();
}

namespace {

// What follows the CRS files: the exclusions. 901318/901321 set up ModSecurity's per-client
// collection (keyed by address and User-Agent, kept in process memory with no bound); 949100
// blocks on what that collection remembers. The traffic guard owns per-client state and bans,
// so these three are removed and the collection is never keyed per client.
std::string Exclusions(const WafSettings& settings) {
  std::ostringstream out;
  out << "SecRuleRemoveById 901318 901321 949100\n";
  // "Host header is a numeric IP address": services reach a vault by its address as often as by
  // name, and nothing here routes by Host.
  out << "SecRuleRemoveById 920350\n";
  for (const auto member : kCredentialMembers) {
    out << "SecRuleUpdateTargetByTag \"OWASP_CRS\" \"!ARGS:json." << member << "\"\n";
  }
  // Bearer tokens and session cookies are random; the rules have nothing to find in them.
  out << "SecRuleUpdateTargetByTag \"OWASP_CRS\" \"!REQUEST_HEADERS:Authorization\"\n";
  for (const auto& cookie : settings.secret_cookies) {
    out << "SecRuleUpdateTargetByTag \"OWASP_CRS\" \"!REQUEST_COOKIES:" << cookie << "\"\n";
  }
  for (const auto& field : settings.free_text_fields) {
    // A record's fields sit under "fields" (json.fields.notes), in a batch under an array
    // (json.records.array_0.fields.notes).
    out << "SecRuleUpdateTargetByTag \"OWASP_CRS\" \"!ARGS:/^json\\.(?:[a-z0-9_]+\\.)*fields\\."
        << field << "$/\"\n";
  }
  return out.str();
}

}  // namespace

struct WebFirewall::Engine {
  WafMode mode = WafMode::kBlocking;
  std::shared_ptr<const WafRules> rules;
};

namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

Result<std::shared_ptr<const WebFirewall::Engine>> Compile(const WafSettings& settings) {
  if (settings.paranoia_level < 1 || settings.paranoia_level > 4) {
    return std::unexpected(Invalid("waf.paranoia_level must be 1 to 4"));
  }
  if (settings.inbound_anomaly_threshold < 1 || settings.inbound_anomaly_threshold > 1000) {
    return std::unexpected(Invalid("waf.anomaly_threshold must be 1 to 1000"));
  }
  if (settings.rule_files.empty()) {
    return std::unexpected(Invalid("waf.rule_files names no file"));
  }
  if (!settings.crs_rules_dir.is_absolute()) {
    return std::unexpected(Invalid("waf.crs_dir must be an absolute directory"));
  }
  for (const auto& cookie : settings.secret_cookies) {
    const bool cookie_name = !cookie.empty() && cookie.size() <= 64 &&
                             std::all_of(cookie.begin(), cookie.end(), [](char c) {
                               return IsFieldName(std::string_view(&c, 1)) || c == '-';
                             });
    if (!cookie_name) return std::unexpected(Invalid("waf: '" + cookie + "' is not a cookie name"));
  }
  for (const auto& field : settings.free_text_fields) {
    if (!IsFieldName(field)) {
      return std::unexpected(Invalid("waf.free_text_fields: '" + field +
                                     "' is not a field name (letters, digits, _)"));
    }
  }
  std::vector<WafRuleSource> sources;
  sources.push_back({false, EngineSetup(settings), "waf setup"});
  for (const auto& file : settings.rule_files) {
    if (file.empty() || file.find('/') != std::string::npos) {
      return std::unexpected(Invalid("waf.rule_files: '" + file + "' is not a file name"));
    }
    const auto path = settings.crs_rules_dir / file;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return std::unexpected(Invalid("waf: no rule file " + path.string() +
                                     " (is the modsecurity-crs package installed?)"));
    }
    sources.push_back({true, path.string(), "waf: " + path.string()});
  }
  sources.push_back({false, Exclusions(settings), "waf exclusions"});
  if (!settings.extra_rules_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(settings.extra_rules_file, ec)) {
      return std::unexpected(
          Invalid("waf.extra_rules_file: no file " + settings.extra_rules_file.string()));
    }
    sources.push_back(
        {true, settings.extra_rules_file.string(), "waf: " + settings.extra_rules_file.string()});
  }
  std::string error;
  auto engine = std::make_shared<WebFirewall::Engine>();
  engine->mode = settings.mode;
  engine->rules = CompileWafRules(sources, error);
  if (engine->rules == nullptr) return std::unexpected(Invalid(std::move(error)));
  return std::shared_ptr<const WebFirewall::Engine>(std::move(engine));
}

}  // namespace

WebFirewall::WebFirewall(std::shared_ptr<const Engine> engine) : engine_(std::move(engine)) {}
WebFirewall::~WebFirewall() = default;

Result<std::unique_ptr<WebFirewall>> WebFirewall::Create(const WafSettings& settings) {
  auto engine = Compile(settings);
  if (!engine) return std::unexpected(engine.error());
  return std::unique_ptr<WebFirewall>(new WebFirewall(std::move(*engine)));
}

Result<WebFirewall::Prepared> WebFirewall::Prepare(const WafSettings& settings) {
  return Compile(settings);
}

void WebFirewall::Install(Prepared prepared) {
  if (prepared == nullptr) return;
  std::lock_guard lock(mutex_);
  engine_.swap(prepared);
  // The old rules are destroyed here unless a running Inspect() still holds them.
}

std::shared_ptr<const WebFirewall::Engine> WebFirewall::Current() const {
  std::lock_guard lock(mutex_);
  return engine_;
}

WafMode WebFirewall::mode() const { return Current()->mode; }

WafFinding WebFirewall::Inspect(const WafRequest& request) const {
  const auto engine = Current();
  WafEvaluation evaluation = EvaluateWafRules(*engine->rules, request, WafFinding::kMaxRuleIds);
  WafFinding finding;
  finding.refuse = evaluation.intervened && engine->mode == WafMode::kBlocking;
  finding.detected = evaluation.intervened || evaluation.score_exceeded;
  if (finding.detected) finding.rule_ids = std::move(evaluation.rule_ids);
  return finding;
}

}  // namespace strongroom::guard
