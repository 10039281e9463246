// The one file that sees ModSecurity's headers (C++20: see waf_engine.h).
#include "strongroom/guard/waf_engine.h"

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rule_message.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <algorithm>
#include <mutex>
#include <string_view>

namespace strongroom::guard {

class WafRules {
 public:
  modsecurity::RulesSet rules;
};

namespace {

// The CRS's blocking-evaluation rules (REQUEST-949): they report the total, not an attack.
bool IsScoreRule(int id) { return id >= 949000 && id < 950000; }

// One transaction's log callback data: the ids of the rules that matched.
struct Matches {
  std::size_t max_ids = 0;
  std::vector<int> ids;
  bool score_exceeded = false;
};

void Record(Matches& matches, int id) {
  if (IsScoreRule(id)) {
    matches.score_exceeded = true;
  } else if (matches.ids.size() < matches.max_ids &&
             std::find(matches.ids.begin(), matches.ids.end(), id) == matches.ids.end()) {
    matches.ids.push_back(id);
  }
}

// ModSecurity reports each match here (of rules that log to the audit log: see the default
// actions in web_firewall.cc). Without a callback it would print the match, with the
// data it matched (the request's content), to standard error (the log).
void OnRuleMessage(void* data, const void* message) {
  if (data == nullptr || message == nullptr) return;
  auto& matches = *static_cast<Matches*>(data);
  const auto& rule = *static_cast<const modsecurity::RuleMessage*>(message);
  // Only the id: the message's text and data may quote the request (personal data).
  Record(matches, static_cast<int>(rule.m_ruleId));
}

// Whether a rule refused the request. A refusing rule's match is not reported to the callback;
// its id is read from the transaction's messages (never from the intervention's log line, whose
// text quotes the request and could be made to look like any id).
bool Intervened(modsecurity::Transaction& transaction, Matches& matches) {
  modsecurity::ModSecurityIntervention intervention;
  modsecurity::intervention::clean(&intervention);
  const bool intervened = transaction.intervention(&intervention);
  modsecurity::intervention::free(&intervention);
  if (intervened) {
    for (const auto& message : transaction.m_rulesMessages) {
      if (message.m_isDisruptive) Record(matches, static_cast<int>(message.m_ruleId));
    }
  }
  return intervened;
}

// One ModSecurity instance for the process, made on first use and never destroyed: its
// constructor and destructor initialise and clean up libcurl and libxml2 process-wide, which
// must not happen while another thread evaluates or compiles rules (as it would if each reload
// made its own). Rule sets come and go; this stays.
modsecurity::ModSecurity& Instance() {
  static modsecurity::ModSecurity* const instance = [] {
    auto* created = new modsecurity::ModSecurity();  // NOLINT(cppcoreguidelines-owning-memory)
    created->setConnectorInformation("strongroom");
    created->setServerLogCb(OnRuleMessage, modsecurity::RuleMessageLogProperty);
    return created;
  }();
  return *instance;
}

// ModSecurity's rule parser is not thread-safe; compiles (start, each reload) take turns.
std::mutex compile_mutex;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::shared_ptr<const WafRules> CompileWafRules(const std::vector<WafRuleSource>& sources,
                                                std::string& error) {
  Instance();
  const std::lock_guard lock(compile_mutex);
  auto compiled = std::make_shared<WafRules>();
  for (const auto& source : sources) {
    const int loaded = source.is_file ? compiled->rules.loadFromUri(source.text.c_str())
                                      : compiled->rules.load(source.text.c_str(), source.name);
    if (loaded < 0) {
      error = source.name + ": " + compiled->rules.getParserError();
      return nullptr;
    }
  }
  return compiled;
}

WafEvaluation EvaluateWafRules(const WafRules& rules, const WafRequest& request,
                               std::size_t max_rule_ids) {
  Matches matches;
  matches.max_ids = max_rule_ids;
  bool intervened = false;
  {
    // ModSecurity's API takes non-const pointers; a transaction does not modify the instance or
    // the rules it is given (nginx and Apache share them across requests the same way).
    auto& rule_set = const_cast<modsecurity::RulesSet&>(rules.rules);
    modsecurity::Transaction transaction(&Instance(), &rule_set, &matches);
    // It wants NUL-terminated strings.
    const std::string client(request.client);
    const std::string target(request.target);
    const std::string method(request.method);
    const std::string version(request.http_version);
    transaction.processConnection(client.c_str(), 0, "127.0.0.1", 0);
    transaction.processURI(target.c_str(), method.c_str(), version.c_str());
    for (const auto& [name, value] : request.headers) {
      transaction.addRequestHeader(Bytes(name), name.size(), Bytes(value), value.size());
    }
    transaction.processRequestHeaders();
    intervened = Intervened(transaction, matches);
    if (!intervened) {
      if (!request.body.empty()) {
        transaction.appendRequestBody(Bytes(request.body), request.body.size());
      }
      transaction.processRequestBody();
      intervened = Intervened(transaction, matches);
    }
    // Some matches (those of rules whose action is `block`) are reported only when the
    // transaction ends: the callback has them all once it is destroyed, here.
  }
  WafEvaluation out;
  out.intervened = intervened;
  out.score_exceeded = matches.score_exceeded;
  out.rule_ids = std::move(matches.ids);
  return out;
}

}  // namespace strongroom::guard
