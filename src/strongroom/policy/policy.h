#pragma once
// The access policy of one tenant: a human-readable TOML document (docs/policy.md) parsed,
// validated and compiled into a Policy that answers "may these roles do this action on this
// collection, and which view of each field do they get?".
//
// Precedence (documented in docs/policy.md, tested in policy_test.cc):
//   1. the built-in guardrails' denials (below), whatever the document says;
//   2. a matching `deny` rule;
//   3. the most revealing view among the matching `allow` rules; none: denied (default deny);
//   4. every matching `limit` rule caps that view (the least revealing cap wins);
//   5. the guardrails' caps.
// Before all of these, the document's network zones: a caller outside a zone that applies to
// its roles and the action's API (data or admin) is denied (rule "zone: <name>").
// Guardrails, not editable, so that whoever runs the vault cannot grant themselves its data:
//   - a caller holding `admin` or `operator` sees at most `masked` of confidential and
//     restricted fields, never reads activity events or documents (nothing masks them), never
//     detokenizes (a plain view by another door), and never reads the audit trail;
//   - `auditor` grants the audit trail's reading and nothing else.
//
// Compiled once per document version: role and purpose names become bits, actions a bitmask,
// networks parsed; a decision walks the rules with integer tests and no allocation.
// Policy is immutable and thread-safe to share (std::shared_ptr<const Policy>).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/privacy/view.h"
#include "strongroom/records/retention_rule.h"
#include "strongroom/records/schema.h"
#include "strongroom/records/subject_choices.h"

namespace strongroom::policy {

enum class Action : std::uint8_t {
  kRead,
  kCreate,
  kUpdate,
  kDelete,
  kSearch,
  kExport,
  kManageSchema,
  kManagePrincipals,
  kManageKeys,
  kManageTenants,
  kManagePolicy,
  kReadAudit,
  kTokenize,        // POST /v1/tokenize, on the resource "@tokens"
  kDetokenize,      // POST /v1/detokenize, on "@tokens": the built-in policy grants it to nobody
  kManageRequests,  // the log of data-subject requests, /v1/privacy/requests (role dpo)
};
inline constexpr std::size_t kActionCount = 15;
std::string_view ActionName(Action action);  // "read", "manage-schema", …
std::optional<Action> ActionFromName(std::string_view name);
// Actions on personal data, which fields, grades and categories can narrow.
bool IsFieldAction(Action action);
// Actions that touch personal data (field actions, delete, tokenize, detokenize): those a
// document's require_purpose applies to.
bool IsDataAction(Action action);

enum class Effect : std::uint8_t { kAllow, kDeny, kLimit };

// One [[rule]] of a document, as written (names, not bits).
struct Rule {
  int line = 0;  // where its [[rule]] header is
  std::string name;
  Effect effect = Effect::kAllow;
  std::vector<std::string> roles;              // "*": any role
  std::uint32_t actions = 0;                   // bit (1 << Action)
  std::vector<std::string> collections;        // empty: any
  std::vector<std::string> fields;             // empty: any
  std::uint32_t grades = 0;                    // bit (1 << records::Grade); 0: any
  std::uint32_t categories = 0;                // bit (1 << records::Category); 0: any
  std::vector<std::string> purposes;           // empty: any (also none stated)
  std::vector<IpNetwork> networks;             // empty: any source
  std::optional<bool> two_factor;              // the session signed in with a second factor
  privacy::View view = privacy::View::kPlain;  // allow: granted; limit: the cap
};

// One [[zone]]: where callers holding `roles` may use one API from. A caller outside every
// network of a zone that applies to it is denied, or (outside = "two_factor") allowed only in a
// session signed in with a second factor.
enum class Api : std::uint8_t { kData, kAdmin };  // data actions; everything else
struct Zone {
  int line = 0;
  std::string name;
  Api api = Api::kData;
  std::vector<std::string> roles;  // "*": any role
  std::vector<IpNetwork> networks;
  bool two_factor_outside = false;
};

struct Document {
  std::vector<std::string> purposes;  // what a caller may state (Strongroom-Purpose header)
  bool require_purpose = false;       // data actions without a stated purpose are denied
  // Purposes a read may state only for subjects whose latest consent record for it gives it.
  std::vector<std::string> require_consent;
  std::vector<Rule> rules;
  std::vector<Zone> zones;
  // [[retention]]: how long data is kept (records/retention.h); none: kept until deleted.
  std::vector<records::RetentionRule> retention;
};

// Parses and validates a document. invalid_argument with the line: "line 12: rule 'x': …".
Result<Document> ParseDocument(std::string_view text);

// One request as the policy sees it. Views into the caller's data; no copies.
struct Context {
  std::span<const std::string> roles;
  Action action = Action::kRead;
  std::string_view collection;  // "" for actions on no collection
  std::string_view purpose;     // "" when none was stated
  std::optional<IpAddress> source;
  bool two_factor = false;
};

// The outcome for a whole action. `rule` names what decided it ("default deny" when nothing
// allowed it) for the audit trail and the caller's error.
struct Decision {
  bool allowed = false;
  std::string_view rule;  // points into the Policy (or a static string)
};

inline constexpr std::size_t kMaxRules = 256;
inline constexpr std::size_t kMaxZones = 64;
inline constexpr std::size_t kMaxRetentionRules = 64;
inline constexpr std::size_t kMaxRoles = 64;  // distinct role names a document may name
inline constexpr std::size_t kMaxPurposes = 64;
inline constexpr std::size_t kMaxDocumentBytes = std::size_t{64} * 1024;

class Policy {
 public:
  // Compiles `document`; `version` is its stored version (0: the built-in default).
  static Result<std::shared_ptr<const Policy>> Compile(Document document, std::uint64_t version,
                                                       std::string text);
  // The built-in default (docs/policy.md shows it): what a tenant has until it stores its own.
  static std::shared_ptr<const Policy> BuiltIn();
  static std::string_view BuiltInText();

  // May `context` do its action on its collection at all? For field actions: some field could
  // be allowed and no rule denies the whole collection.
  Decision Decide(const Context& context) const;
  // The view of one field for `context` (an allowed action), or nullopt: withheld.
  std::optional<privacy::View> FieldView(const Context& context,
                                         const records::FieldSpec& field) const;

  // Rules that match a context on everything but fields, found once for a whole record.
  class Prepared {
   public:
    std::optional<privacy::View> FieldView(const records::FieldSpec& field) const;
    Decision decision() const { return decision_; }

   private:
    friend class Policy;
    const Policy* policy_ = nullptr;
    bool guarded_ = false;  // holds admin or operator
    Decision decision_;
    std::array<std::uint64_t, kMaxRules / 64> matched_{};  // bit i: rules_[i] matched
  };
  Prepared Prepare(const Context& context) const;

  // May a read of one subject's data state `purpose`, given the subject's choices (null: none)?
  // In this order: a restricted subject's data is read only for "legal" or "subject-request"
  // ("subject restricted"); never for a purpose the subject objected to ("subject objected");
  // for a purpose in require_consent, only with the subject's consent ("consent required"). A
  // read that states no purpose is refused only by a restriction.
  Decision DecideForSubject(std::string_view purpose, const records::SubjectChoices* choices) const;

  // invalid_argument naming the header when `purpose` is not one of the document's purposes;
  // permission_denied when none is stated and the document requires one.
  Result<void> CheckPurpose(std::string_view purpose, bool data_action) const;

  // The zone `context` is outside of (and may not use its action's API from), or null.
  const Zone* OutsideZone(const Context& context) const;

  std::uint64_t version() const { return version_; }
  const std::string& text() const { return text_; }
  const Document& document() const { return document_; }

 private:
  struct CompiledRule {
    std::uint64_t roles = 0;     // bits of role_names_
    bool any_role = false;       // "*"
    std::uint64_t purposes = 0;  // bits of document_.purposes; 0: any
    std::uint32_t actions = 0;
    const Rule* rule = nullptr;   // into document_.rules (never modified after compiling)
    bool narrows_fields = false;  // names fields, grades or categories
  };
  // The caller's roles as bits, and whether it holds any role for `action` (the auditor role
  // counts for the audit trail only).
  struct Roles {
    std::uint64_t bits = 0;
    bool any = false;
  };
  Policy() = default;
  Roles RolesFor(std::span<const std::string> roles, Action action) const;
  bool MatchesContext(const CompiledRule& rule, const Context& context, const Roles& roles,
                      std::uint64_t purpose_bit) const;
  std::uint64_t PurposeBit(std::string_view purpose) const;

  Document document_;
  std::string text_;
  std::uint64_t version_ = 0;
  std::vector<std::string> role_names_;  // bit i = role_names_[i]
  std::uint64_t guarded_roles_ = 0;      // admin, operator
  std::uint64_t auditor_role_ = 0;
  std::vector<CompiledRule> rules_;
};

}  // namespace strongroom::policy
