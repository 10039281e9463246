#include "strongroom/policy/policy.h"

#include <toml++/toml.h>

#include <algorithm>
#include <bit>
#include <sstream>

#include "strongroom/policy/builtin_policy.h"

namespace strongroom::policy {
namespace {

using privacy::View;

constexpr std::string_view kActionNames[kActionCount] = {
    "read",        "create",         "update",          "delete",
    "search",      "export",         "manage-schema",   "manage-principals",
    "manage-keys", "manage-tenants", "manage-policy",   "read-audit",
    "tokenize",    "detokenize",     "manage-requests",
};
// What "*" names: every action but detokenize, which turns tokens back into plain values, and
// manage-requests, which came later: each must be named on its own (a document written before
// either existed does not gain it).
constexpr std::uint32_t kAllActions = ((1u << kActionCount) - 1) &
                                      ~(1u << static_cast<unsigned>(Action::kDetokenize)) &
                                      ~(1u << static_cast<unsigned>(Action::kManageRequests));
constexpr std::uint32_t Bit(Action a) { return 1u << static_cast<unsigned>(a); }
constexpr std::uint32_t kFieldActions = Bit(Action::kRead) | Bit(Action::kCreate) |
                                        Bit(Action::kUpdate) | Bit(Action::kSearch) |
                                        Bit(Action::kExport);

constexpr std::string_view kUnnamedRule = "rule at line ";
constexpr std::string_view kDefaultDeny = "default deny";
constexpr std::string_view kGuardrailUnmaskable =
    "guardrail: administrators and operators do not read activity or documents";
constexpr std::string_view kGuardrailAudit =
    "guardrail: administrators and operators do not read the audit trail";
constexpr std::string_view kGuardrailDetokenize =
    "guardrail: administrators and operators do not detokenize";

// Names of roles, purposes and collections: what principals' roles allow, plus '-' (purposes
// such as "subject-request") and the '@' of the reserved collections (@subjects, @activity,
// @documents).
bool IsPolicyName(std::string_view name, bool allow_at) {
  if (name.empty() || name.size() > 63) return false;
  std::size_t start = 0;
  if (allow_at && name[0] == '@') start = 1;
  if (start >= name.size() || name[start] < 'a' || name[start] > 'z') return false;
  for (std::size_t i = start; i < name.size(); ++i) {
    const char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<Document> Parse() {
    if (text_.size() > kMaxDocumentBytes) {
      return Fail(ErrorCode::kInvalidArgument, "the policy document is larger than " +
                                                   std::to_string(kMaxDocumentBytes) + " bytes");
    }
    toml::table root;
    try {
      root = toml::parse(text_, std::string_view("policy"));
    } catch (const toml::parse_error& e) {
      return ErrorAt(e.source(), std::string("invalid TOML: ") + std::string(e.description()));
    }
    Document doc;
    toml::source_region require_consent_at;
    for (const auto& [key, node] : root) {
      const std::string_view name = key.str();
      if (name == "purposes") {
        auto list = Names(node, "purposes", false);
        if (!list) return std::unexpected(list.error());
        doc.purposes = std::move(*list);
        if (doc.purposes.size() > kMaxPurposes) {
          return ErrorAt(node.source(), "more than " + std::to_string(kMaxPurposes) + " purposes");
        }
      } else if (name == "require_purpose") {
        if (!node.is_boolean())
          return ErrorAt(node.source(), "require_purpose must be true or false");
        doc.require_purpose = node.as_boolean()->get();
      } else if (name == "require_consent") {
        auto list = Names(node, "require_consent", false);
        if (!list) return std::unexpected(list.error());
        doc.require_consent = std::move(*list);
        require_consent_at = node.source();
      } else if (name == "zone") {
        auto zones = Tables(node, "zone", kMaxZones, &Parser::ParseZone, doc.zones);
        if (!zones) return std::unexpected(zones.error());
      } else if (name == "rule") {
        auto rules = Tables(node, "rule", kMaxRules, &Parser::ParseRule, doc.rules);
        if (!rules) return std::unexpected(rules.error());
      } else if (name == "retention") {
        auto retention =
            Tables(node, "retention", kMaxRetentionRules, &Parser::ParseRetention, doc.retention);
        if (!retention) return std::unexpected(retention.error());
      } else {
        return ErrorAt(key.source(),
                       "unknown setting '" + std::string(name) +
                           "' (expected purposes, require_purpose, require_consent, [[rule]], "
                           "[[zone]] or [[retention]])");
      }
    }
    for (const auto& purpose : doc.require_consent) {
      if (std::find(doc.purposes.begin(), doc.purposes.end(), purpose) == doc.purposes.end()) {
        return ErrorAt(require_consent_at, "require_consent: purpose '" + purpose +
                                               "' is not in the document's purposes list");
      }
      if (purpose == records::kLegalPurpose || purpose == records::kSubjectRequestPurpose) {
        return ErrorAt(require_consent_at, "require_consent: '" + purpose +
                                               "' does not rest on consent and cannot require it");
      }
    }
    // The status and the audit entries name retention rules: two of one name would be confused.
    for (std::size_t i = 0; i < doc.retention.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (doc.retention[j].name == doc.retention[i].name) {
          return LineError(doc.retention[i].line,
                           "retention '" + doc.retention[i].name + "': the name is used twice");
        }
      }
    }
    // Archived data is read only for the purpose legal: a document that archives must let a
    // request state it, or its archive could never be read.
    for (const auto& rule : doc.retention) {
      if (rule.archive_days > 0 && std::find(doc.purposes.begin(), doc.purposes.end(),
                                             records::kLegalPurpose) == doc.purposes.end()) {
        return LineError(rule.line, "retention '" + rule.name +
                                        "': archive_days needs the purpose 'legal' in the "
                                        "document's purposes list (archived data is read only "
                                        "for it)");
      }
    }
    for (const Rule& rule : doc.rules) {
      for (const auto& purpose : rule.purposes) {
        if (std::find(doc.purposes.begin(), doc.purposes.end(), purpose) == doc.purposes.end()) {
          return LineError(rule.line, Label(rule) + "purpose '" + purpose +
                                          "' is not in the document's purposes list");
        }
      }
    }
    return doc;
  }

 private:
  static std::unexpected<strongroom::Error> LineError(int line, const std::string& message) {
    return Fail(ErrorCode::kInvalidArgument, "line " + std::to_string(line) + ": " + message);
  }
  static std::unexpected<strongroom::Error> ErrorAt(const toml::source_region& where,
                                                    const std::string& message) {
    return LineError(static_cast<int>(where.begin.line), message);
  }
  static std::string Label(const Rule& rule) {
    const bool named = !rule.name.empty() && !rule.name.starts_with(kUnnamedRule);
    return named ? "rule '" + rule.name + "': " : std::string();
  }

  // An array of tables ([[rule]], [[zone]]) of at most `max`, each parsed into `out`.
  template <typename T>
  Result<void> Tables(const toml::node& node, std::string_view what, std::size_t max,
                      Result<T> (Parser::*parse)(const toml::table&), std::vector<T>& out) {
    const auto* tables = node.as_array();
    if (tables == nullptr || !tables->is_array_of_tables()) {
      return ErrorAt(node.source(), std::string(what) + " must be an array of tables: write [[" +
                                        std::string(what) + "]]");
    }
    if (tables->size() > max) {
      return ErrorAt(node.source(),
                     "more than " + std::to_string(max) + " " + std::string(what) + "s");
    }
    for (const auto& table : *tables) {
      auto parsed = (this->*parse)(*table.as_table());
      if (!parsed) return std::unexpected(parsed.error());
      out.push_back(std::move(*parsed));
    }
    return {};
  }

  // The `name` of a rule, zone or retention rule: shown in the audit trail and errors.
  Result<std::string> DisplayName(const toml::node& node) {
    if (!node.is_string() || node.as_string()->get().empty() ||
        node.as_string()->get().size() > 200) {
      return ErrorAt(node.source(), "name must be a string of 1-200 characters");
    }
    return node.as_string()->get();
  }

  // One [[retention]]: collections and days are required, so that no rule purges more than
  // its author named or at a period they did not choose.
  Result<records::RetentionRule> ParseRetention(const toml::table& table) {
    records::RetentionRule rule;
    rule.line = static_cast<int>(table.source().begin.line);
    bool has_days = false;
    for (const auto& [key, node] : table) {
      const std::string_view k = key.str();
      if (k == "name") {
        auto name = DisplayName(node);
        if (!name) return std::unexpected(name.error());
        rule.name = std::move(*name);
      } else if (k == "collections") {
        auto names = Names(node, "collections", true, true);
        if (!names) return std::unexpected(names.error());
        for (const auto& n : *names) {
          if (n.starts_with('@') && n != records::kActivityData && n != records::kDocumentsData) {
            return ErrorAt(node.source(), "collections: '" + n +
                                              "' has no retention (name record collections, "
                                              "\"*\", \"@activity\" or \"@documents\"; subjects "
                                              "are kept until erased)");
          }
        }
        rule.collections = std::move(*names);
      } else if (k == "grades" || k == "categories") {
        auto bits = Classification(k, node);
        if (!bits) return std::unexpected(bits.error());
        (k == "grades" ? rule.grades : rule.categories) = *bits;
      } else if (k == "days") {
        const auto* days = node.as_integer();
        if (days == nullptr || days->get() < 1 || days->get() > records::kMaxRetentionDays) {
          return ErrorAt(node.source(), "days must be a whole number of days from 1 to " +
                                            std::to_string(records::kMaxRetentionDays));
        }
        rule.days = days->get();
        has_days = true;
      } else if (k == "archive_days") {
        const auto* days = node.as_integer();
        if (days == nullptr || days->get() < 1 || days->get() > records::kMaxRetentionDays) {
          return ErrorAt(node.source(), "archive_days must be a whole number of days from 1 to " +
                                            std::to_string(records::kMaxRetentionDays));
        }
        rule.archive_days = days->get();
      } else {
        return ErrorAt(key.source(), "unknown key '" + std::string(k) +
                                         "' in a retention rule (expected name, collections, "
                                         "grades, categories, days or archive_days)");
      }
    }
    if (rule.name.empty()) rule.name = "retention at line " + std::to_string(rule.line);
    const std::string label = "retention '" + rule.name + "': ";
    if (rule.collections.empty()) {
      return LineError(rule.line, label +
                                      "collections is required (record collections, \"*\" for "
                                      "every one, \"@activity\", \"@documents\")");
    }
    if (!has_days) return LineError(rule.line, label + "days is required");
    if (rule.NarrowsFields()) {
      for (const auto& c : rule.collections) {
        if (c.starts_with('@')) {
          return LineError(rule.line, label +
                                          "grades and categories narrow records by their fields: "
                                          "give " +
                                          c + " a rule of its own");
        }
      }
    }
    return rule;
  }

  // A non-empty array of CIDRs, for rules and zones; `label` starts each error.
  Result<std::vector<IpNetwork>> Networks(const toml::node& node, const std::string& label) {
    const auto* array = node.as_array();
    if (array == nullptr || array->empty()) {
      return ErrorAt(node.source(), label + "networks must be a non-empty array of CIDRs");
    }
    std::vector<IpNetwork> out;
    for (const auto& item : *array) {
      const auto* s = item.as_string();
      if (s == nullptr) return ErrorAt(item.source(), "networks must be an array of strings");
      auto network = ParseIpNetwork(s->get());
      if (!network) {
        return ErrorAt(item.source(),
                       label + "network '" + s->get() + "' " + network.error().message());
      }
      out.push_back(*network);
    }
    return out;
  }

  Result<Zone> ParseZone(const toml::table& table) {
    Zone zone;
    zone.line = static_cast<int>(table.source().begin.line);
    bool has_api = false;
    bool has_networks = false;
    for (const auto& [key, node] : table) {
      const std::string_view k = key.str();
      if (k == "name") {
        auto name = DisplayName(node);
        if (!name) return std::unexpected(name.error());
        zone.name = "zone: " + *name;
      } else if (k == "api") {
        const auto* s = node.as_string();
        if (s == nullptr || (s->get() != "data" && s->get() != "admin")) {
          return ErrorAt(node.source(), "api must be \"data\" or \"admin\"");
        }
        zone.api = s->get() == "data" ? Api::kData : Api::kAdmin;
        has_api = true;
      } else if (k == "roles") {
        auto roles = Names(node, "roles", true);
        if (!roles) return std::unexpected(roles.error());
        zone.roles = std::move(*roles);
      } else if (k == "networks") {
        auto networks = Networks(node, "");
        if (!networks) return std::unexpected(networks.error());
        zone.networks = std::move(*networks);
        has_networks = true;
      } else if (k == "outside") {
        const auto* s = node.as_string();
        if (s == nullptr || (s->get() != "deny" && s->get() != "two_factor")) {
          return ErrorAt(node.source(), "outside must be \"deny\" or \"two_factor\"");
        }
        zone.two_factor_outside = s->get() == "two_factor";
      } else {
        return ErrorAt(key.source(), "unknown key '" + std::string(k) +
                                         "' in a zone (expected name, api, roles, networks or "
                                         "outside)");
      }
    }
    if (!has_api) return LineError(zone.line, "a zone needs api = \"data\" or \"admin\"");
    if (zone.roles.empty()) {
      return LineError(zone.line, "a zone needs roles (\"*\" for any role)");
    }
    if (!has_networks) return LineError(zone.line, "a zone needs networks (CIDRs)");
    if (zone.name.empty()) zone.name = "zone: at line " + std::to_string(zone.line);
    return zone;
  }

  // An array of names; "*" alone (when `star` is allowed) stands for "any" and yields {"*"}.
  Result<std::vector<std::string>> Names(const toml::node& node, std::string_view what, bool star,
                                         bool allow_at = false) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      return ErrorAt(node.source(), std::string(what) + " must be an array of strings");
    }
    std::vector<std::string> out;
    for (const auto& item : *array) {
      const auto* s = item.as_string();
      if (s == nullptr) {
        return ErrorAt(item.source(), std::string(what) + " must be an array of strings");
      }
      const std::string& value = s->get();
      if (value == "*" && star) {
        if (array->size() != 1) {
          return ErrorAt(item.source(), std::string(what) + ": \"*\" stands alone");
        }
      } else if (!IsPolicyName(value, allow_at)) {
        return ErrorAt(item.source(), std::string(what) + ": '" + value +
                                          "' is not a valid name (lower-case letters, digits, '_' "
                                          "and '-', starting with a letter)");
      }
      if (std::find(out.begin(), out.end(), value) != out.end()) {
        return ErrorAt(item.source(), std::string(what) + ": '" + value + "' is listed twice");
      }
      out.push_back(value);
    }
    if (out.empty()) return ErrorAt(node.source(), std::string(what) + " must not be empty");
    return out;
  }

  template <typename Enum, std::size_t N>
  Result<std::uint32_t> EnumBits(const toml::node& node, std::string_view what,
                                 std::string_view (*name_of)(Enum)) {
    auto names = Names(node, what, false);
    if (!names) return std::unexpected(names.error());
    std::uint32_t bits = 0;
    for (const auto& n : *names) {
      bool found = false;
      for (std::size_t i = 0; i < N; ++i) {
        if (name_of(static_cast<Enum>(i)) == n) {
          bits |= 1u << i;
          found = true;
        }
      }
      if (!found) return ErrorAt(node.source(), std::string(what) + ": unknown '" + n + "'");
    }
    return bits;
  }

  // A rule's "grades" or "categories" as bits (1 << Grade or Category).
  Result<std::uint32_t> Classification(std::string_view key, const toml::node& node) {
    if (key == "grades") return EnumBits<records::Grade, 4>(node, "grades", &records::GradeName);
    return EnumBits<records::Category, 10>(node, "categories", &records::CategoryName);
  }

  Result<Rule> ParseRule(const toml::table& table) {
    Rule rule;
    rule.line = static_cast<int>(table.source().begin.line);
    if (const auto* name = table.get("name")) {
      auto display = DisplayName(*name);
      if (!display) return std::unexpected(display.error());
      rule.name = std::move(*display);
    }
    bool has_view = false;
    const toml::node* effect = nullptr;
    for (const auto& [key, node] : table) {
      const std::string_view k = key.str();
      if (k == "name") continue;
      if (k == "effect") {
        effect = &node;
        const auto* s = node.as_string();
        if (s == nullptr || (s->get() != "allow" && s->get() != "deny" && s->get() != "limit")) {
          return ErrorAt(node.source(),
                         Label(rule) + "effect must be \"allow\", \"deny\" or \"limit\"");
        }
        rule.effect = s->get() == "allow"  ? Effect::kAllow
                      : s->get() == "deny" ? Effect::kDeny
                                           : Effect::kLimit;
      } else if (k == "roles") {
        auto roles = Names(node, "roles", true);
        if (!roles) return std::unexpected(roles.error());
        rule.roles = std::move(*roles);
      } else if (k == "actions") {
        auto names = Names(node, "actions", true);
        if (!names) return std::unexpected(names.error());
        for (const auto& n : *names) {
          if (n == "*") {
            rule.actions = kAllActions;
            continue;
          }
          const auto action = ActionFromName(n);
          if (!action) {
            return ErrorAt(node.source(), Label(rule) + "unknown action '" + n + "'");
          }
          rule.actions |= Bit(*action);
        }
      } else if (k == "collections") {
        auto names = Names(node, "collections", true, true);
        if (!names) return std::unexpected(names.error());
        if ((*names)[0] != "*") rule.collections = std::move(*names);
      } else if (k == "fields") {
        auto names = Names(node, "fields", false);
        if (!names) return std::unexpected(names.error());
        rule.fields = std::move(*names);
      } else if (k == "grades" || k == "categories") {
        auto bits = Classification(k, node);
        if (!bits) return std::unexpected(bits.error());
        (k == "grades" ? rule.grades : rule.categories) = *bits;
      } else if (k == "purposes") {
        auto names = Names(node, "purposes", false);
        if (!names) return std::unexpected(names.error());
        rule.purposes = std::move(*names);
      } else if (k == "networks") {
        auto networks = Networks(node, Label(rule));
        if (!networks) return std::unexpected(networks.error());
        rule.networks = std::move(*networks);
      } else if (k == "two_factor") {
        if (!node.is_boolean()) return ErrorAt(node.source(), "two_factor must be true or false");
        rule.two_factor = node.as_boolean()->get();
      } else if (k == "view") {
        const auto* s = node.as_string();
        const auto view = s ? privacy::ViewFromName(s->get()) : std::nullopt;
        if (!view) {
          return ErrorAt(node.source(), Label(rule) +
                                            "view must be \"plain\", \"masked\", \"tokenized\", "
                                            "\"hashed\" or \"redacted\"");
        }
        rule.view = *view;
        has_view = true;
      } else {
        return ErrorAt(key.source(), Label(rule) + "unknown key '" + std::string(k) +
                                         "' (expected name, effect, roles, actions, collections, "
                                         "fields, grades, categories, purposes, networks, "
                                         "two_factor or view)");
      }
    }
    if (effect == nullptr) return LineError(rule.line, Label(rule) + "effect is required");
    if (rule.roles.empty()) {
      return LineError(rule.line, Label(rule) + "roles is required (\"*\" for any role)");
    }
    if (rule.actions == 0) {
      return LineError(rule.line, Label(rule) + "actions is required (\"*\" for every action)");
    }
    const bool field_actions = (rule.actions & kFieldActions) != 0;
    const bool only_field_actions = (rule.actions & ~kFieldActions) == 0;
    const bool narrows = !rule.fields.empty() || rule.grades != 0 || rule.categories != 0;
    if (narrows && !only_field_actions) {
      return LineError(rule.line, Label(rule) +
                                      "fields, grades and categories apply only to read, create, "
                                      "update, search and export");
    }
    if (rule.effect == Effect::kDeny && has_view) {
      return LineError(rule.line, Label(rule) + "a deny rule has no view");
    }
    if (rule.effect != Effect::kDeny && field_actions && !has_view) {
      return LineError(rule.line, Label(rule) +
                                      "say which view it gives: \"plain\", \"masked\", "
                                      "\"tokenized\", \"hashed\" or \"redacted\"");
    }
    if (rule.effect != Effect::kDeny && !field_actions && has_view) {
      return LineError(rule.line, Label(rule) + "a view applies only to actions on data");
    }
    if (rule.effect == Effect::kLimit && !field_actions) {
      return LineError(rule.line, Label(rule) + "a limit caps views of data: name a data action");
    }
    if (rule.effect == Effect::kAllow) {
      const auto names = [&rule](std::string_view role) {
        return std::find(rule.roles.begin(), rule.roles.end(), role) != rule.roles.end();
      };
      if (names("auditor") && (rule.actions & ~Bit(Action::kReadAudit)) != 0) {
        return LineError(rule.line, Label(rule) +
                                        "the auditor role reads the audit trail and nothing else "
                                        "(a built-in guardrail)");
      }
      if ((names("admin") || names("operator")) && (rule.actions & Bit(Action::kReadAudit)) != 0) {
        return LineError(rule.line, Label(rule) +
                                        "administrators and operators do not read the audit "
                                        "trail (a built-in guardrail)");
      }
      if ((names("admin") || names("operator")) && (rule.actions & Bit(Action::kDetokenize)) != 0) {
        return LineError(rule.line, Label(rule) +
                                        "administrators and operators do not detokenize (a "
                                        "built-in guardrail: it would show them plain values)");
      }
    }
    if (rule.name.empty()) rule.name = std::string(kUnnamedRule) + std::to_string(rule.line);
    return rule;
  }

  std::string_view text_;
};

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  for (const auto& n : names) {
    if (n == name) return true;
  }
  return false;
}

bool FieldMatches(const Rule& rule, const records::FieldSpec& field) {
  if (!rule.fields.empty() && !Contains(rule.fields, field.name)) return false;
  if (rule.grades != 0 && (rule.grades & (1u << static_cast<unsigned>(field.grade))) == 0) {
    return false;
  }
  if (rule.categories != 0 &&
      (rule.categories & (1u << static_cast<unsigned>(field.category))) == 0) {
    return false;
  }
  return true;
}

}  // namespace

std::string_view ActionName(Action action) {
  return kActionNames[static_cast<std::size_t>(action)];
}

std::optional<Action> ActionFromName(std::string_view name) {
  for (std::size_t i = 0; i < kActionCount; ++i) {
    if (kActionNames[i] == name) return static_cast<Action>(i);
  }
  return std::nullopt;
}

bool IsFieldAction(Action action) { return (kFieldActions & Bit(action)) != 0; }

bool IsDataAction(Action action) {
  return (kFieldActions & Bit(action)) != 0 || action == Action::kDelete ||
         action == Action::kTokenize || action == Action::kDetokenize;
}

Result<Document> ParseDocument(std::string_view text) { return Parser(text).Parse(); }

Result<std::shared_ptr<const Policy>> Policy::Compile(Document document, std::uint64_t version,
                                                      std::string text) {
  std::shared_ptr<Policy> policy(new Policy());
  policy->document_ = std::move(document);
  policy->version_ = version;
  policy->text_ = std::move(text);
  auto& names = policy->role_names_;
  for (const std::string_view builtin : {"admin", "operator", "auditor"}) {
    names.emplace_back(builtin);
  }
  policy->guarded_roles_ = 0b011;
  policy->auditor_role_ = 0b100;
  for (const Rule& rule : policy->document_.rules) {
    CompiledRule compiled;
    compiled.rule = &rule;
    compiled.actions = rule.actions;
    compiled.narrows_fields = !rule.fields.empty() || rule.grades != 0 || rule.categories != 0;
    for (const auto& role : rule.roles) {
      if (role == "*") {
        compiled.any_role = true;
        continue;
      }
      auto it = std::find(names.begin(), names.end(), role);
      if (it == names.end()) {
        if (names.size() == kMaxRoles) {
          return Fail(ErrorCode::kInvalidArgument, "line " + std::to_string(rule.line) +
                                                       ": more than " + std::to_string(kMaxRoles) +
                                                       " distinct roles");
        }
        it = names.insert(names.end(), role);
      }
      compiled.roles |= std::uint64_t{1} << (it - names.begin());
    }
    for (const auto& purpose : rule.purposes) {
      const auto& all = policy->document_.purposes;
      compiled.purposes |= std::uint64_t{1}
                           << (std::find(all.begin(), all.end(), purpose) - all.begin());
    }
    policy->rules_.push_back(compiled);
  }
  return std::shared_ptr<const Policy>(std::move(policy));
}

std::string_view Policy::BuiltInText() { return kBuiltInPolicy; }

std::shared_ptr<const Policy> Policy::BuiltIn() {
  static const std::shared_ptr<const Policy> builtin = [] {
    auto document = ParseDocument(kBuiltInPolicy);
    // The built-in text is part of the program and a unit test parses it: failing here is a bug.
    if (!document) std::abort();
    auto policy = Compile(std::move(*document), 0, std::string(kBuiltInPolicy));
    if (!policy) std::abort();
    return *policy;
  }();
  return builtin;
}

Policy::Roles Policy::RolesFor(std::span<const std::string> roles, Action action) const {
  Roles out;
  for (const auto& role : roles) {
    // The auditor role stands for the audit trail only, whatever rules name it or "*".
    if (role == "auditor" && action != Action::kReadAudit) continue;
    out.any = true;
    for (std::size_t i = 0; i < role_names_.size(); ++i) {
      if (role_names_[i] == role) {
        out.bits |= std::uint64_t{1} << i;
        break;
      }
    }
  }
  return out;
}

std::uint64_t Policy::PurposeBit(std::string_view purpose) const {
  if (purpose.empty()) return 0;
  const auto& all = document_.purposes;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == purpose) return std::uint64_t{1} << i;
  }
  return 0;
}

bool Policy::MatchesContext(const CompiledRule& rule, const Context& context, const Roles& roles,
                            std::uint64_t purpose_bit) const {
  if ((rule.actions & Bit(context.action)) == 0) return false;
  if (!(rule.any_role ? roles.any : (rule.roles & roles.bits) != 0)) return false;
  if (rule.purposes != 0 && (rule.purposes & purpose_bit) == 0) return false;
  const Rule& r = *rule.rule;
  if (!r.collections.empty() && !Contains(r.collections, context.collection)) return false;
  if (r.two_factor && *r.two_factor != context.two_factor) return false;
  if (!r.networks.empty()) {
    if (!context.source) return false;
    bool inside = false;
    for (const auto& network : r.networks) {
      if (network.Contains(*context.source)) {
        inside = true;
        break;
      }
    }
    if (!inside) return false;
  }
  return true;
}

const Zone* Policy::OutsideZone(const Context& context) const {
  const Api api = IsDataAction(context.action) ? Api::kData : Api::kAdmin;
  for (const Zone& zone : document_.zones) {
    if (zone.api != api) continue;
    const bool applies = std::any_of(zone.roles.begin(), zone.roles.end(), [&](const auto& r) {
      return r == "*"
                 ? !context.roles.empty()
                 : std::find(context.roles.begin(), context.roles.end(), r) != context.roles.end();
    });
    if (!applies) continue;
    // An unknown source (a proxy's header that did not parse) is outside every zone.
    const bool inside = context.source && std::any_of(zone.networks.begin(), zone.networks.end(),
                                                      [&](const IpNetwork& n) {
                                                        return n.Contains(*context.source);
                                                      });
    if (inside || (zone.two_factor_outside && context.two_factor)) continue;
    return &zone;
  }
  return nullptr;
}

Policy::Prepared Policy::Prepare(const Context& context) const {
  Prepared prepared;
  prepared.policy_ = this;
  if (const Zone* outside = OutsideZone(context)) {
    prepared.decision_ = {false, outside->name};
    return prepared;
  }
  const Roles roles = RolesFor(context.roles, context.action);
  prepared.guarded_ = (roles.bits & guarded_roles_) != 0;
  if (context.action == Action::kReadAudit && prepared.guarded_) {
    prepared.decision_ = {false, kGuardrailAudit};
    return prepared;
  }
  // A token turned back into its value is a plain view, which the masked cap forbids them.
  if (context.action == Action::kDetokenize && prepared.guarded_) {
    prepared.decision_ = {false, kGuardrailDetokenize};
    return prepared;
  }
  // Activity events and documents have no field-level views to mask them with.
  if (prepared.guarded_ && (context.action == Action::kRead || context.action == Action::kExport) &&
      (context.collection == "@activity" || context.collection == "@documents")) {
    prepared.decision_ = {false, kGuardrailUnmaskable};
    return prepared;
  }
  const std::uint64_t purpose_bit = PurposeBit(context.purpose);
  std::string_view allowed_by;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const CompiledRule& rule = rules_[i];
    if (!MatchesContext(rule, context, roles, purpose_bit)) continue;
    prepared.matched_[i / 64] |= std::uint64_t{1} << (i % 64);
    if (rule.rule->effect == Effect::kDeny && !rule.narrows_fields) {
      prepared.decision_ = {false, rule.rule->name};
      prepared.matched_ = {};
      return prepared;
    }
    if (rule.rule->effect == Effect::kAllow && allowed_by.empty()) allowed_by = rule.rule->name;
  }
  prepared.decision_ =
      allowed_by.empty() ? Decision{false, kDefaultDeny} : Decision{true, allowed_by};
  return prepared;
}

Decision Policy::Decide(const Context& context) const { return Prepare(context).decision(); }

std::optional<View> Policy::Prepared::FieldView(const records::FieldSpec& field) const {
  if (!decision_.allowed) return std::nullopt;
  std::optional<View> granted;
  View cap = View::kPlain;
  for (std::size_t word = 0; word < matched_.size(); ++word) {
    for (std::uint64_t bits = matched_[word]; bits != 0; bits &= bits - 1) {
      const std::size_t i = word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
      const Rule& rule = *policy_->rules_[i].rule;
      if (!FieldMatches(rule, field)) continue;
      switch (rule.effect) {
        case Effect::kDeny:
          return std::nullopt;
        case Effect::kAllow:
          if (!granted || rule.view > *granted) granted = rule.view;
          break;
        case Effect::kLimit:
          cap = std::min(cap, rule.view);
          break;
      }
    }
  }
  if (!granted) return std::nullopt;
  View view = std::min(*granted, cap);
  if (guarded_ && field.grade >= records::Grade::kConfidential)
    view = std::min(view, View::kMasked);
  return view;
}

std::optional<View> Policy::FieldView(const Context& context,
                                      const records::FieldSpec& field) const {
  return Prepare(context).FieldView(field);
}

Decision Policy::DecideForSubject(std::string_view purpose,
                                  const records::SubjectChoices* choices) const {
  static constexpr std::string_view kRestricted = "subject restricted";
  static constexpr std::string_view kObjected = "subject objected";
  static constexpr std::string_view kNoConsent = "consent required";
  const bool kept_under_restriction =
      purpose == records::kLegalPurpose || purpose == records::kSubjectRequestPurpose;
  if (choices != nullptr) {
    if (choices->restricted && !kept_under_restriction) return Decision{false, kRestricted};
    if (!purpose.empty() &&
        std::binary_search(choices->objections.begin(), choices->objections.end(), purpose)) {
      return Decision{false, kObjected};
    }
  }
  if (!purpose.empty() &&
      std::find(document_.require_consent.begin(), document_.require_consent.end(), purpose) !=
          document_.require_consent.end()) {
    if (choices == nullptr ||
        !std::binary_search(choices->consented.begin(), choices->consented.end(), purpose)) {
      return Decision{false, kNoConsent};
    }
  }
  return Decision{true, {}};
}

Result<void> Policy::CheckPurpose(std::string_view purpose, bool data_action) const {
  if (purpose.empty()) {
    if (data_action && document_.require_purpose) {
      Error error(ErrorCode::kPermissionDenied,
                  "this tenant's policy requires a purpose: send the Strongroom-Purpose header");
      error.At("header:strongroom-purpose", "required");
      return std::unexpected(error);
    }
    return {};
  }
  if (PurposeBit(purpose) == 0) {
    std::string known;
    for (const auto& p : document_.purposes) known += (known.empty() ? "" : ", ") + p;
    Error error(ErrorCode::kInvalidArgument,
                "is not a purpose this tenant's policy knows (" +
                    (known.empty() ? std::string("it lists none") : known) + ")");
    error.At("header:strongroom-purpose", "unknown_purpose");
    return std::unexpected(error);
  }
  return {};
}

}  // namespace strongroom::policy
