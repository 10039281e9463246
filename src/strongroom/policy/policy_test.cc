#include "strongroom/policy/policy.h"

#include <gtest/gtest.h>

// g++ 12 warns about members left to their defaults in designated initializers (GCC PR 96868);
// the tests below name only what each case changes, on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace strongroom::policy {
namespace {

using privacy::View;
using records::Category;
using records::FieldSpec;
using records::Grade;

std::shared_ptr<const Policy> Compiled(std::string_view text) {
  auto document = ParseDocument(text);
  EXPECT_TRUE(document) << document.error().message();
  if (!document) return nullptr;
  auto policy = Policy::Compile(std::move(*document), 1, std::string(text));
  EXPECT_TRUE(policy) << policy.error().message();
  return policy ? *policy : nullptr;
}

std::string ParseError(std::string_view text) {
  auto document = ParseDocument(text);
  if (document) return "(parsed)";
  EXPECT_EQ(document.error().code(), ErrorCode::kInvalidArgument);
  return document.error().message();
}

FieldSpec Field(std::string name, Grade grade, Category category = Category::kContact) {
  FieldSpec f;
  f.name = std::move(name);
  f.grade = grade;
  f.category = category;
  return f;
}

struct Who {
  std::vector<std::string> roles;
  Action action = Action::kRead;
  std::string collection = "patients";
  std::string purpose;
  std::string source = "10.1.2.3";
  bool two_factor = false;

  Context context() const {
    return Context{roles, action, collection, purpose, ParseIpAddress(source), two_factor};
  }
};

std::string ViewOf(const Policy& policy, const Who& who, const FieldSpec& field) {
  const auto view = policy.FieldView(who.context(), field);
  return view ? std::string(privacy::ViewName(*view)) : "withheld";
}

TEST(PolicyTest, TheBuiltInPolicyParsesAndGivesEachRoleItsPart) {
  const auto policy = Policy::BuiltIn();
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->version(), 0u);
  const FieldSpec email = Field("email", Grade::kConfidential);
  const FieldSpec ssn = Field("ssn", Grade::kRestricted, Category::kIdentity);
  const FieldSpec city = Field("city", Grade::kInternal, Category::kLocation);

  EXPECT_EQ(ViewOf(*policy, {.roles = {"app"}}, email), "plain");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"service"}}, ssn), "plain");
  // The guardrail: administrators and operators see confidential and restricted data masked.
  EXPECT_EQ(ViewOf(*policy, {.roles = {"admin"}}, email), "masked");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"operator"}}, ssn), "masked");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"admin"}}, city), "plain");
  // Holding app besides admin does not lift the cap.
  EXPECT_EQ(ViewOf(*policy, {.roles = {"admin", "app"}}, email), "masked");
  // Auditors read nothing but the trail; a dpo reads data for a subject request only.
  EXPECT_EQ(ViewOf(*policy, {.roles = {"auditor"}}, city), "withheld");
  EXPECT_FALSE(policy->Decide(Who{.roles = {"auditor"}}.context()).allowed);
  EXPECT_TRUE(
      policy->Decide(Who{.roles = {"auditor"}, .action = Action::kReadAudit}.context()).allowed);
  // "*" does not reach the request log (added after documents like this were written).
  EXPECT_FALSE(policy->Decide(Who{.roles = {"anyone"}, .action = Action::kManageRequests}.context())
                   .allowed);
  EXPECT_FALSE(policy->Decide(Who{.roles = {"dpo"}}.context()).allowed);
  EXPECT_EQ(ViewOf(*policy, {.roles = {"dpo"}, .purpose = "subject-request"}, ssn), "plain");
  const Decision admin_audit =
      policy->Decide(Who{.roles = {"admin"}, .action = Action::kReadAudit}.context());
  EXPECT_FALSE(admin_audit.allowed);
  EXPECT_EQ(admin_audit.rule,
            "guardrail: administrators and operators do not read the audit trail");
  EXPECT_TRUE(
      policy->Decide(Who{.roles = {"admin"}, .action = Action::kManagePolicy}.context()).allowed);
  EXPECT_FALSE(policy->Decide(Who{.roles = {"operator"}, .action = Action::kManagePolicy}.context())
                   .allowed);
  const Decision nobody = policy->Decide(Who{.roles = {"agent"}}.context());
  EXPECT_FALSE(nobody.allowed);
  EXPECT_EQ(nobody.rule, "default deny");
  EXPECT_FALSE(policy->Decide(Who{.roles = {}}.context()).allowed);
}

TEST(PolicyTest, DenyBeatsAllowLimitsCapAndTheMostRevealingAllowWins) {
  const auto policy = Compiled(R"(
purposes = ["support", "billing"]
[[rule]]
name = "agents see contact data masked"
effect = "allow"
roles = ["agent"]
actions = ["read"]
categories = ["contact"]
view = "masked"
[[rule]]
name = "agents on support see it plain"
effect = "allow"
roles = ["agent"]
actions = ["read"]
categories = ["contact"]
purposes = ["support"]
view = "plain"
[[rule]]
name = "never the notes"
effect = "deny"
roles = ["*"]
actions = ["read"]
fields = ["notes"]
[[rule]]
name = "notes for everyone"
effect = "allow"
roles = ["agent"]
actions = ["read"]
fields = ["notes"]
view = "plain"
[[rule]]
name = "restricted data hashed at most"
effect = "limit"
roles = ["agent"]
actions = ["read"]
grades = ["restricted"]
view = "hashed"
)");
  ASSERT_NE(policy, nullptr);
  const FieldSpec email = Field("email", Grade::kConfidential);
  const FieldSpec phone = Field("phone", Grade::kRestricted);
  const FieldSpec notes = Field("notes", Grade::kInternal, Category::kContact);
  const FieldSpec diagnosis = Field("diagnosis", Grade::kConfidential, Category::kHealth);
  EXPECT_EQ(ViewOf(*policy, {.roles = {"agent"}}, email), "masked");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"agent"}, .purpose = "support"}, email), "plain");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"agent"}, .purpose = "billing"}, email), "masked");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"agent"}, .purpose = "support"}, phone), "hashed");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"agent"}, .purpose = "support"}, notes), "withheld");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"agent"}}, diagnosis), "withheld");  // default deny
  EXPECT_EQ(ViewOf(*policy, {.roles = {"clerk"}}, email), "withheld");
  // The action is allowed (some field may be shown); create is not.
  EXPECT_TRUE(policy->Decide(Who{.roles = {"agent"}}.context()).allowed);
  EXPECT_EQ(policy->Decide(Who{.roles = {"agent"}}.context()).rule,
            "agents see contact data masked");
  EXPECT_FALSE(
      policy->Decide(Who{.roles = {"agent"}, .action = Action::kCreate}.context()).allowed);
}

TEST(PolicyTest, CollectionsNetworksAndSecondFactorNarrowARule) {
  const auto policy = Compiled(R"(
[[rule]]
name = "clinic network, with a second factor"
effect = "allow"
roles = ["clinician"]
actions = ["read", "update"]
collections = ["patients"]
networks = ["10.0.0.0/8", "2001:db8::/32"]
two_factor = true
view = "plain"
[[rule]]
name = "no one touches billing from the clinic"
effect = "deny"
roles = ["*"]
actions = ["*"]
collections = ["billing"]
networks = ["10.0.0.0/8"]
[[rule]]
name = "billing clerks"
effect = "allow"
roles = ["clinician", "clerk"]
actions = ["read"]
collections = ["billing"]
view = "masked"
)");
  ASSERT_NE(policy, nullptr);
  const FieldSpec name = Field("name", Grade::kConfidential, Category::kIdentity);
  const Who inside{.roles = {"clinician"}, .two_factor = true};
  EXPECT_EQ(ViewOf(*policy, inside, name), "plain");
  Who v6 = inside;
  v6.source = "2001:db8:1::7";
  EXPECT_EQ(ViewOf(*policy, v6, name), "plain");
  Who mapped = inside;
  mapped.source = "::ffff:10.9.9.9";  // a dual-stack listener's form of an IPv4 peer
  EXPECT_EQ(ViewOf(*policy, mapped, name), "plain");
  Who outside = inside;
  outside.source = "192.0.2.1";
  EXPECT_EQ(ViewOf(*policy, outside, name), "withheld");
  Who no_source = inside;
  no_source.source = "";
  EXPECT_EQ(ViewOf(*policy, no_source, name), "withheld");
  Who one_factor = inside;
  one_factor.two_factor = false;
  EXPECT_EQ(ViewOf(*policy, one_factor, name), "withheld");
  Who other_collection = inside;
  other_collection.collection = "visits";
  EXPECT_FALSE(policy->Decide(other_collection.context()).allowed);

  Who billing{.roles = {"clerk"}, .collection = "billing", .source = "192.0.2.9"};
  EXPECT_TRUE(policy->Decide(billing.context()).allowed);
  EXPECT_EQ(ViewOf(*policy, billing, name), "masked");
  billing.source = "10.0.0.5";  // a whole-collection deny refuses the action itself
  const Decision refused = policy->Decide(billing.context());
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.rule, "no one touches billing from the clinic");
}

TEST(PolicyTest, GuardrailsHoldWhateverTheDocumentSays) {
  const auto policy = Compiled(R"(
[[rule]]
effect = "allow"
roles = ["*"]
actions = ["*"]
view = "plain"
)");
  ASSERT_NE(policy, nullptr);
  const FieldSpec ssn = Field("ssn", Grade::kRestricted);
  EXPECT_EQ(ViewOf(*policy, {.roles = {"admin"}}, ssn), "masked");
  EXPECT_EQ(ViewOf(*policy, {.roles = {"anyone"}}, ssn), "plain");
  EXPECT_FALSE(
      policy->Decide(Who{.roles = {"admin"}, .action = Action::kReadAudit}.context()).allowed);
  EXPECT_FALSE(policy->Decide(Who{.roles = {"auditor"}}.context()).allowed);
  EXPECT_TRUE(
      policy->Decide(Who{.roles = {"auditor"}, .action = Action::kReadAudit}.context()).allowed);
  EXPECT_EQ(policy->Decide(Who{.roles = {"admin"}}.context()).rule, "rule at line 2");
  const Decision documents =
      policy->Decide(Who{.roles = {"operator"}, .collection = "@documents"}.context());
  EXPECT_FALSE(documents.allowed);
  EXPECT_EQ(documents.rule,
            "guardrail: administrators and operators do not read activity or documents");
  EXPECT_FALSE(
      policy
          ->Decide(Who{.roles = {"admin"}, .action = Action::kExport, .collection = "@activity"}
                       .context())
          .allowed);
  EXPECT_TRUE(
      policy
          ->Decide(Who{.roles = {"admin"}, .action = Action::kDelete, .collection = "@documents"}
                       .context())
          .allowed);
  EXPECT_TRUE(policy->Decide(Who{.roles = {"app"}, .collection = "@documents"}.context()).allowed);
}

TEST(PolicyTest, ErrorsNameTheLineAndWhatIsWrong) {
  EXPECT_EQ(ParseError("purposes = [\"support\"]\n[[rule]]\neffect = \"allow\"\nroles = "
                       "[\"app\"]\nactions = [\"read\"]\nview = \"clear\"\n"),
            "line 6: view must be \"plain\", \"masked\", \"tokenized\", \"hashed\" or "
            "\"redacted\"");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"app\"]\nactions = [\"read\"]\n"),
            "line 1: say which view it gives: \"plain\", \"masked\", \"tokenized\", \"hashed\" "
            "or \"redacted\"");
  EXPECT_EQ(ParseError("\n[[rule]]\nroles = [\"app\"]\nactions = [\"read\"]\n"),
            "line 2: effect is required");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"app\"]\nactions = [\"peek\"]\n"),
            "line 4: unknown action 'peek'");
  EXPECT_EQ(ParseError("[[rule]]\nname = \"x\"\neffect = \"allow\"\nroles = [\"app\"]\nactions "
                       "= [\"read\"]\nview = \"plain\"\ncolour = 1\n"),
            "line 7: rule 'x': unknown key 'colour' (expected name, effect, roles, actions, "
            "collections, fields, grades, categories, purposes, networks, two_factor or view)");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"app\"]\nactions = "
                       "[\"read\"]\nview = \"plain\"\nnetworks = [\"10.0.0.1/8\"]\n"),
            "line 6: network '10.0.0.1/8' has host bits set after the prefix (write the network "
            "address)");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"app\"]\nactions = "
                       "[\"read\"]\nview = \"plain\"\npurposes = [\"fun\"]\n"),
            "line 1: purpose 'fun' is not in the document's purposes list");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"auditor\"]\nactions = "
                       "[\"read\"]\nview = \"plain\"\n"),
            "line 1: the auditor role reads the audit trail and nothing else (a built-in "
            "guardrail)");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"operator\"]\nactions = "
                       "[\"read-audit\"]\n"),
            "line 1: administrators and operators do not read the audit trail (a built-in "
            "guardrail)");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"admin\"]\nactions = "
                       "[\"manage-keys\"]\nfields = [\"email\"]\n"),
            "line 1: fields, grades and categories apply only to read, create, update, search "
            "and export");
  EXPECT_EQ(
      ParseError("[[rule]]\neffect = \"deny\"\nroles = [\"*\", \"app\"]\nactions = [\"*\"]\n"),
      "line 3: roles: \"*\" stands alone");
  EXPECT_EQ(ParseError("owner = \"me\"\n"),
            "line 1: unknown setting 'owner' (expected purposes, require_purpose, "
            "require_consent, [[rule]], [[zone]] or [[retention]])");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"App\"]\nactions = [\"read\"]\n"),
            "line 3: roles: 'App' is not a valid name (lower-case letters, digits, '_' and '-', "
            "starting with a letter)");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"deny\"\nroles = [\"app\"]\nactions = [\"read\"]\n"
                       "grades = [\"secret\"]\n"),
            "line 5: grades: unknown 'secret'");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"deny\"\nroles = [\"app\"]\nactions = [\"read\"]\n"
                       "view = \"plain\"\n"),
            "line 1: a deny rule has no view");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"limit\"\nroles = [\"app\"]\nactions = "
                       "[\"delete\"]\n"),
            "line 1: a limit caps views of data: name a data action");
  EXPECT_NE(ParseError("[[rule]\neffect = 1\n").find("line 1: invalid TOML"), std::string::npos);
  EXPECT_EQ(ParseError(std::string(kMaxDocumentBytes + 1, '#')),
            "the policy document is larger than 65536 bytes");
}

TEST(PolicyTest, PurposesAreCheckedAgainstTheDocument) {
  const auto open = Compiled("purposes = [\"support\"]\n");
  ASSERT_NE(open, nullptr);
  EXPECT_TRUE(open->CheckPurpose("", true));
  EXPECT_TRUE(open->CheckPurpose("support", true));
  const auto unknown = open->CheckPurpose("curiosity", true);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(unknown.error().path(), "header:strongroom-purpose");
  EXPECT_EQ(unknown.error().message(), "is not a purpose this tenant's policy knows (support)");
  const auto strict = Compiled("purposes = [\"support\"]\nrequire_purpose = true\n");
  ASSERT_NE(strict, nullptr);
  const auto missing = strict->CheckPurpose("", true);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(strict->CheckPurpose("", false));  // managing the vault states no purpose
}

TEST(IpNetworkTest, ParsesNetworksOfBothFamiliesAndRefusesNonsense) {
  const auto v4 = ParseIpNetwork("192.168.0.0/16");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->ToString(), "192.168.0.0/16");
  EXPECT_TRUE(v4->Contains(*ParseIpAddress("192.168.255.1")));
  EXPECT_FALSE(v4->Contains(*ParseIpAddress("192.169.0.1")));
  EXPECT_FALSE(v4->Contains(*ParseIpAddress("::1")));
  const auto host = ParseIpNetwork("::1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->ToString(), "::1/128");
  EXPECT_TRUE(host->Contains(*ParseIpAddress("::1")));
  const auto odd = ParseIpNetwork("10.128.0.0/9");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->Contains(*ParseIpAddress("10.200.1.1")));
  EXPECT_FALSE(odd->Contains(*ParseIpAddress("10.127.1.1")));
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "10.0.0.1/8",
                          "example.com", "10.0.0.0/-1", "fe80::1%eth0"}) {
    EXPECT_FALSE(ParseIpNetwork(bad)) << bad;
  }
}

TEST(PolicyTest, RetentionRulesParseWithTheirScopeAndDays) {
  auto document = ParseDocument(R"(purposes = ["legal"]
[[retention]]
name = "visit notes"
collections = ["visits", "notes"]
grades = ["restricted"]
categories = ["health", "biometric"]
days = 730

[[retention]]
collections = ["@activity", "@documents"]
days = 90

[[retention]]
name = "everything else"
collections = ["*"]
days = 3650
archive_days = 1825
)");
  ASSERT_TRUE(document) << document.error().message();
  ASSERT_EQ(document->retention.size(), 3u);
  EXPECT_EQ(document->retention[0].archive_days, 0);
  EXPECT_EQ(document->retention[2].archive_days, 1825);
  const auto& notes = document->retention[0];
  EXPECT_EQ(notes.name, "visit notes");
  EXPECT_EQ(notes.line, 2);
  EXPECT_EQ(notes.days, 730);
  EXPECT_EQ(notes.grades, 1u << static_cast<unsigned>(records::Grade::kRestricted));
  EXPECT_EQ(notes.categories, (1u << static_cast<unsigned>(records::Category::kHealth)) |
                                  (1u << static_cast<unsigned>(records::Category::kBiometric)));
  EXPECT_TRUE(notes.NamesCollection("visits"));
  EXPECT_FALSE(notes.NamesCollection("people"));
  EXPECT_EQ(document->retention[1].name, "retention at line 9");
  EXPECT_EQ(records::ShortestRuleNaming(document->retention, "@activity"), 1);
  EXPECT_EQ(records::ShortestRuleNaming(document->retention, "@subjects"), -1);
  const auto& star = document->retention[2];
  EXPECT_TRUE(star.NamesCollection("people"));
  EXPECT_FALSE(star.NamesCollection("@activity"));  // "*" is every record collection only
  EXPECT_TRUE(Policy::BuiltIn()->document().retention.empty());
}

TEST(PolicyTest, RetentionRulesAreRefusedWhenTheyCouldPurgeWhatNobodyMeant) {
  EXPECT_EQ(ParseError("[[retention]]\ndays = 30\n"),
            "line 1: retention 'retention at line 1': collections is required (record "
            "collections, \"*\" for every one, \"@activity\", \"@documents\")");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\"]\n"),
            "line 1: retention 'retention at line 1': days is required");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\"]\ndays = 0\n"),
            "line 3: days must be a whole number of days from 1 to 36500");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\"]\ndays = 36501\n"),
            "line 3: days must be a whole number of days from 1 to 36500");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\"]\ndays = \"30\"\n"),
            "line 3: days must be a whole number of days from 1 to 36500");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\"]\ndays = 1.5\n"),
            "line 3: days must be a whole number of days from 1 to 36500");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"@subjects\"]\ndays = 30\n"),
            "line 2: collections: '@subjects' has no retention (name record collections, \"*\", "
            "\"@activity\" or \"@documents\"; subjects are kept until erased)");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\", \"@activity\"]\n"
                       "categories = [\"health\"]\ndays = 30\n"),
            "line 1: retention 'retention at line 1': grades and categories narrow records by "
            "their fields: give @activity a rule of its own");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"*\", \"visits\"]\ndays = 30\n"),
            "line 2: collections: \"*\" stands alone");
  EXPECT_EQ(ParseError("[[retention]]\ncollections = [\"visits\"]\ndays = 30\nkeep = true\n"),
            "line 4: unknown key 'keep' in a retention rule (expected name, collections, grades, "
            "categories, days or archive_days)");
  // The archive: a count of days, readable for `legal` only.
  const std::string legal = "purposes = [\"legal\"]\n";
  EXPECT_EQ(ParseError(legal + "[[retention]]\ncollections = [\"visits\"]\ndays = 30\n"
                               "archive_days = 0\n"),
            "line 5: archive_days must be a whole number of days from 1 to 36500");
  EXPECT_EQ(ParseError(legal + "[[retention]]\ncollections = [\"visits\"]\ndays = 30\n"
                               "archive_days = \"1y\"\n"),
            "line 5: archive_days must be a whole number of days from 1 to 36500");
  EXPECT_EQ(ParseError("purposes = [\"support\"]\n[[retention]]\nname = \"visits\"\n"
                       "collections = [\"visits\"]\ndays = 30\narchive_days = 365\n"),
            "line 2: retention 'visits': archive_days needs the purpose 'legal' in the "
            "document's purposes list (archived data is read only for it)");
  EXPECT_EQ(ParseError("[[retention]]\nname = \"a\"\ncollections = [\"x\"]\ndays = 1\n"
                       "[[retention]]\nname = \"a\"\ncollections = [\"y\"]\ndays = 2\n"),
            "line 5: retention 'a': the name is used twice");
  EXPECT_EQ(ParseError("retention = 30\n"),
            "line 1: retention must be an array of tables: write [[retention]]");
}

}  // namespace
}  // namespace strongroom::policy

namespace strongroom::policy {
namespace {

TEST(PolicyTest, TokenizingIsGrantedDetokenizingNeedsARuleAndNeverReachesAdministrators) {
  const auto builtin = Policy::BuiltIn();
  const Who app{.roles = {"app"}, .action = Action::kTokenize, .collection = "@tokens"};
  EXPECT_TRUE(builtin->Decide(app.context()).allowed);
  Who detokenize = app;
  detokenize.action = Action::kDetokenize;
  EXPECT_EQ(builtin->Decide(detokenize.context()).rule, "default deny");

  const auto policy = Compiled(R"(purposes = ["billing"]
[[rule]]
effect = "allow"
roles = ["*"]
actions = ["detokenize"]
collections = ["@tokens"]
purposes = ["billing"]
)");
  ASSERT_NE(policy, nullptr);
  EXPECT_FALSE(policy->Decide(detokenize.context()).allowed);  // no purpose stated
  detokenize.purpose = "billing";
  EXPECT_TRUE(policy->Decide(detokenize.context()).allowed);
  detokenize.roles = {"app", "operator"};
  EXPECT_EQ(policy->Decide(detokenize.context()).rule,
            "guardrail: administrators and operators do not detokenize");
  EXPECT_EQ(ParseError("[[rule]]\neffect = \"allow\"\nroles = [\"admin\"]\nactions = "
                       "[\"detokenize\"]\n"),
            "line 1: administrators and operators do not detokenize (a built-in guardrail: it "
            "would show them plain values)");
  EXPECT_TRUE(IsDataAction(Action::kDetokenize));
  EXPECT_FALSE(IsFieldAction(Action::kTokenize));
}

TEST(PolicyTest, TokenizedRanksBetweenHashedAndMasked) {
  const auto policy = Compiled(R"([[rule]]
effect = "allow"
roles = ["agent"]
actions = ["read"]
view = "tokenized"
[[rule]]
effect = "allow"
roles = ["agent"]
actions = ["read"]
fields = ["phone"]
view = "masked"
[[rule]]
effect = "limit"
roles = ["agent"]
actions = ["read"]
fields = ["ssn"]
view = "hashed"
)");
  ASSERT_NE(policy, nullptr);
  const Who agent{.roles = {"agent"}};
  EXPECT_EQ(ViewOf(*policy, agent, Field("email", Grade::kConfidential)), "tokenized");
  EXPECT_EQ(ViewOf(*policy, agent, Field("phone", Grade::kConfidential)), "masked");
  EXPECT_EQ(ViewOf(*policy, agent, Field("ssn", Grade::kRestricted)), "hashed");
}

}  // namespace
}  // namespace strongroom::policy

namespace strongroom::policy {
namespace {

TEST(PolicyTest, NetworkZonesKeepEachApiToItsNetworks) {
  const auto policy = Compiled(R"(
[[rule]]
effect = "allow"
roles = ["admin"]
actions = ["manage-principals", "read"]
view = "plain"
[[rule]]
effect = "allow"
roles = ["app", "agent"]
actions = ["read"]
view = "plain"

[[zone]]
name = "console from the office"
api = "admin"
roles = ["admin", "operator"]
networks = ["10.0.0.0/8", "2001:db8::/32"]

[[zone]]
name = "agents at home need a second factor"
api = "data"
roles = ["agent"]
networks = ["10.0.0.0/8"]
outside = "two_factor"
)");
  ASSERT_NE(policy, nullptr);
  const auto decide = [&](std::vector<std::string> roles, Action action, std::string source,
                          bool two_factor = false) {
    const Who who{.roles = std::move(roles),
                  .action = action,
                  .source = std::move(source),
                  .two_factor = two_factor};
    return std::string(policy->Decide(who.context()).rule);
  };
  // The admin API from the office, by IPv4 or IPv6; from elsewhere, denied by the zone.
  EXPECT_EQ(decide({"admin"}, Action::kManagePrincipals, "10.9.8.7"), "rule at line 2");
  EXPECT_EQ(decide({"admin"}, Action::kManagePrincipals, "2001:db8::1"), "rule at line 2");
  EXPECT_EQ(decide({"admin"}, Action::kManagePrincipals, "198.51.100.7"),
            "zone: console from the office");
  // The zone is the admin API's: the administrator's data calls are not held to it.
  EXPECT_EQ(decide({"admin"}, Action::kRead, "198.51.100.7"), "rule at line 2");
  // Outside with a second factor is enough where the zone says so, not otherwise.
  EXPECT_EQ(decide({"agent"}, Action::kRead, "198.51.100.7"),
            "zone: agents at home need a second factor");
  EXPECT_EQ(decide({"agent"}, Action::kRead, "198.51.100.7", true), "rule at line 7");
  EXPECT_EQ(decide({"admin"}, Action::kManagePrincipals, "198.51.100.7", true),
            "zone: console from the office");
  // Roles no zone names are not held to one; an unknown source is outside every zone.
  EXPECT_EQ(decide({"app"}, Action::kRead, "198.51.100.7"), "rule at line 7");
  EXPECT_EQ(decide({"agent"}, Action::kRead, "not an address"),
            "zone: agents at home need a second factor");

  EXPECT_EQ(ParseError("[[zone]]\napi = \"console\"\nroles = [\"admin\"]\nnetworks = "
                       "[\"10.0.0.0/8\"]\n"),
            "line 2: api must be \"data\" or \"admin\"");
  EXPECT_EQ(ParseError("[[zone]]\napi = \"data\"\nroles = [\"admin\"]\n"),
            "line 1: a zone needs networks (CIDRs)");
  EXPECT_EQ(ParseError("[[zone]]\napi = \"data\"\nroles = [\"admin\"]\nnetworks = "
                       "[\"10.0.0.0/33\"]\noutside = \"allow\"\n"),
            "line 4: network '10.0.0.0/33' " + ParseIpNetwork("10.0.0.0/33").error().message());
  EXPECT_EQ(ParseError("[[zone]]\napi = \"data\"\nroles = [\"admin\"]\nnetworks = "
                       "[\"10.0.0.0/8\"]\noutside = \"allow\"\n"),
            "line 5: outside must be \"deny\" or \"two_factor\"");
}

}  // namespace
}  // namespace strongroom::policy

namespace strongroom {
namespace {

TEST(IpNetworkTest, ForwardedClientBelievesOnlyTrustedProxiesReadingFromTheRight) {
  const auto trusted = *ParseIpNetworkList("10.0.0.0/8, ::1");
  ASSERT_EQ(trusted.size(), 2u);
  using V = std::vector<std::string_view>;
  // An untrusted peer is the client, whatever it claims.
  EXPECT_EQ(ForwardedClient("198.51.100.7", V{"203.0.113.9"}, trusted), "198.51.100.7");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{}, trusted), "10.1.1.1");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{"203.0.113.9"}, trusted), "203.0.113.9");
  // From the right, past trusted hops, over several headers; forged entries on the left lose.
  EXPECT_EQ(ForwardedClient("::1", V{"1.2.3.4, 203.0.113.9", "10.2.2.2"}, trusted), "203.0.113.9");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{"10.3.3.3, 10.2.2.2"}, trusted), "10.3.3.3");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{"garbage, 203.0.113.9"}, trusted), "203.0.113.9");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{"203.0.113.9, garbage"}, trusted), "");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{"203.0.113.9:443"}, trusted), "");
  EXPECT_EQ(ForwardedClient("10.1.1.1", V{"203.0.113.9"}, {}), "10.1.1.1");
  EXPECT_FALSE(ParseIpNetworkList("10.0.0.0/8, 10.0.0.1/8"));
  EXPECT_TRUE(ParseIpNetworkList("")->empty());
}

}  // namespace
}  // namespace strongroom

namespace strongroom::policy {
namespace {

TEST(PolicyTest, SubjectChoicesRestrictObjectAndRequireConsent) {
  const auto policy = Compiled(R"(
purposes = ["support", "marketing", "analytics", "legal", "subject-request"]
require_consent = ["marketing"]
[[rule]]
effect = "allow"
roles = ["app"]
actions = ["read"]
view = "plain"
)");
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->document().require_consent, std::vector<std::string>{"marketing"});
  const auto decide = [&](std::string_view purpose, const records::SubjectChoices* choices) {
    const Decision d = policy->DecideForSubject(purpose, choices);
    return d.allowed ? std::string("allowed") : std::string(d.rule);
  };
  // No choices: everything but a purpose that needs consent.
  EXPECT_EQ(decide("", nullptr), "allowed");
  EXPECT_EQ(decide("support", nullptr), "allowed");
  EXPECT_EQ(decide("marketing", nullptr), "consent required");

  records::SubjectChoices consented{.consented = {"marketing"}};
  EXPECT_EQ(decide("marketing", &consented), "allowed");
  records::SubjectChoices other_consent{.consented = {"analytics"}};
  EXPECT_EQ(decide("marketing", &other_consent), "consent required");

  // An objection outranks a consent; it binds only the purpose it names.
  records::SubjectChoices objecting{.objections = {"analytics", "marketing"},
                                    .consented = {"marketing"}};
  EXPECT_EQ(decide("marketing", &objecting), "subject objected");
  EXPECT_EQ(decide("analytics", &objecting), "subject objected");
  EXPECT_EQ(decide("support", &objecting), "allowed");
  EXPECT_EQ(decide("", &objecting), "allowed");

  // Restriction: only legal claims and the subject's own request, stated or not.
  records::SubjectChoices restricted{.restricted = true, .consented = {"marketing"}};
  EXPECT_EQ(decide("", &restricted), "subject restricted");
  EXPECT_EQ(decide("support", &restricted), "subject restricted");
  EXPECT_EQ(decide("marketing", &restricted), "subject restricted");
  EXPECT_EQ(decide("legal", &restricted), "allowed");
  EXPECT_EQ(decide("subject-request", &restricted), "allowed");
}

TEST(PolicyTest, RequireConsentNamesKnownPurposesThatCanRestOnConsent) {
  EXPECT_NE(
      ParseError(R"(
purposes = ["support"]
require_consent = ["marketing"]
)")
          .find("require_consent: purpose 'marketing' is not in the document's purposes list"),
      std::string::npos);
  EXPECT_NE(ParseError(R"(
purposes = ["legal"]
require_consent = ["legal"]
)")
                .find("'legal' does not rest on consent"),
            std::string::npos);
  EXPECT_NE(ParseError("require_consent = true\n").find("require_consent"), std::string::npos);
  // The built-in policy requires no consent.
  EXPECT_TRUE(Policy::BuiltIn()->document().require_consent.empty());
}

}  // namespace
}  // namespace strongroom::policy
