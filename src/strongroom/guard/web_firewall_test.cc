// The web application firewall with Debian's real OWASP CRS files (modsecurity-crs): sample
// attacks of each kind are refused with the rule that caught them; ordinary API requests,
// credentials and excluded free-text fields pass.
#include "strongroom/guard/web_firewall.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strongroom::guard {
namespace {

struct Sample {
  std::string method = "GET";
  std::string target = "/v1/collections/patients/records/r_0123456789abcdef";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

WafFinding Inspect(const WebFirewall& waf, const Sample& sample) {
  WafRequest request;
  request.method = sample.method;
  request.target = sample.target;
  request.client = "192.0.2.10";
  request.headers = {{"Host", "vault.example"},
                     {"User-Agent", "python-requests/2.28.1"},
                     {"Accept", "application/json"},
                     {"Authorization", "Bearer srt_Zm9vYmFyJzsgLS0gPHNjcmlwdD4"}};
  for (const auto& [name, value] : sample.headers) request.headers.emplace_back(name, value);
  if (!sample.body.empty()) {
    request.headers.emplace_back("Content-Type", "application/json");
  }
  request.body = sample.body;
  return waf.Inspect(request);
}

Sample Post(std::string target, std::string body) {
  Sample s;
  s.method = "POST";
  s.target = std::move(target);
  s.body = std::move(body);
  return s;
}

bool HasRuleIn(const WafFinding& finding, int first, int last) {
  return std::any_of(finding.rule_ids.begin(), finding.rule_ids.end(),
                     [&](int id) { return id >= first && id <= last; });
}

class WebFirewallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WafSettings settings;
    settings.free_text_fields = {"notes"};
    settings.secret_cookies = {"__Host-strongroom_session"};
    auto created = WebFirewall::Create(settings);
    ASSERT_TRUE(created) << created.error().message();
    waf_ = std::move(*created);
  }
  std::unique_ptr<WebFirewall> waf_;
};

TEST_F(WebFirewallTest, OrdinaryApiRequestsPass) {
  EXPECT_FALSE(Inspect(*waf_, Sample{}).detected);
  EXPECT_FALSE(Inspect(*waf_, Post("/v1/collections/patients/records",
                                   R"({"subject_id":"s_1","fields":{"name":"Ann O'Neil",)"
                                   R"("email":"ann@example.com","phone":"+1 555 0100"}})"))
                   .detected);
  Sample patch = Post("/v1/collections/patients/records/r_1", R"({"fields":{"name":"Bo"}})");
  patch.method = "PATCH";
  EXPECT_FALSE(Inspect(*waf_, patch).detected) << "PATCH is an API method";
  Sample put = Post("/v1/policy", R"({"rules":[{"effect":"allow","roles":["admin"]}]})");
  put.method = "PUT";
  EXPECT_FALSE(Inspect(*waf_, put).detected) << "PUT is an API method";
  Sample del;
  del.method = "DELETE";
  EXPECT_FALSE(Inspect(*waf_, del).detected) << "DELETE is an API method";
  Sample list;
  list.target = "/v1/collections/patients/records?limit=50&cursor=c_abc";
  EXPECT_FALSE(Inspect(*waf_, list).detected);
}

TEST_F(WebFirewallTest, SqlInjectionInQueryIsRefused) {
  Sample s;
  s.target = "/v1/collections/patients/records?cursor=1%27%20OR%20%271%27%3D%271";
  const auto finding = Inspect(*waf_, s);
  EXPECT_TRUE(finding.refuse);
  EXPECT_TRUE(HasRuleIn(finding, 942000, 942999)) << finding.RuleList();
}

TEST_F(WebFirewallTest, SqlInjectionInJsonBodyIsRefused) {
  const auto finding = Inspect(
      *waf_,
      Post("/v1/collections/patients/records",
           R"({"subject_id":"s_1","fields":{"name":"x' UNION SELECT password FROM users--"}})"));
  EXPECT_TRUE(finding.refuse);
  EXPECT_TRUE(HasRuleIn(finding, 942000, 942999)) << finding.RuleList();
}

TEST_F(WebFirewallTest, CrossSiteScriptingInHeaderAndBodyIsRefused) {
  Sample header;
  header.headers = {{"Referer", "<script>alert(document.cookie)</script>"}};
  const auto in_header = Inspect(*waf_, header);
  EXPECT_TRUE(in_header.refuse);
  EXPECT_TRUE(HasRuleIn(in_header, 941000, 941999)) << in_header.RuleList();
  const auto in_body = Inspect(*waf_, Post("/v1/collections/patients/records",
                                           R"({"fields":{"name":"<script>alert(1)</script>"}})"));
  EXPECT_TRUE(in_body.refuse);
  EXPECT_TRUE(HasRuleIn(in_body, 941000, 941999)) << in_body.RuleList();
}

TEST_F(WebFirewallTest, PathTraversalIsRefused) {
  Sample s;
  s.target = "/v1/collections/patients/records?cursor=../../../../etc/passwd";
  const auto finding = Inspect(*waf_, s);
  EXPECT_TRUE(finding.refuse);
  EXPECT_TRUE(HasRuleIn(finding, 930000, 930999)) << finding.RuleList();
}

TEST_F(WebFirewallTest, CommandInjectionIsRefused) {
  const auto finding = Inspect(*waf_, Post("/v1/collections/patients/records",
                                           R"({"fields":{"name":"a; cat /etc/passwd"}})"));
  EXPECT_TRUE(finding.refuse);
  EXPECT_TRUE(HasRuleIn(finding, 932000, 932999)) << finding.RuleList();
}

TEST_F(WebFirewallTest, ExcludedFreeTextFieldPassesWhereverItSits) {
  const std::string hostile = R"(<b>it's</b> fine' OR 1=1 -- <script>x</script>)";
  EXPECT_FALSE(
      Inspect(*waf_, Post("/v1/collections/t/records",
                          R"({"subject_id":"s_1","fields":{"notes":")" + hostile + R"("}})"))
          .detected);
  EXPECT_FALSE(Inspect(*waf_, Post("/v1/collections/t/records/batch",
                                   R"({"records":[{"fields":{"notes":")" + hostile + R"("}}]})"))
                   .detected);
  // The same text in a field that is not excluded, or in one whose name only contains "notes".
  EXPECT_TRUE(Inspect(*waf_, Post("/v1/collections/t/records",
                                  R"({"fields":{"name":")" + hostile + R"("}})"))
                  .refuse);
  EXPECT_TRUE(Inspect(*waf_, Post("/v1/collections/t/records",
                                  R"({"fields":{"mynotes":")" + hostile + R"("}})"))
                  .refuse);
}

TEST_F(WebFirewallTest, CredentialsAndSecretCookiesAreNotInspected) {
  const std::string password = R"(Tr0ub4dor' OR '1'='1 --<script>)";
  EXPECT_FALSE(Inspect(*waf_, Post("/v1/auth/sign-in",
                                   R"({"username":"ann","password":")" + password + R"("}})"))
                   .detected);
  EXPECT_FALSE(
      Inspect(*waf_, Post("/v1/auth/password", R"({"current_password":")" + password +
                                                   R"(","new_password":")" + password + R"("})"))
          .detected);
  Sample cookie;
  cookie.headers = {{"Cookie", "__Host-strongroom_session=' OR 1=1 --<script>"}};
  EXPECT_FALSE(Inspect(*waf_, cookie).detected);
  // A username is not a credential secret: it is inspected.
  EXPECT_TRUE(
      Inspect(*waf_, Post("/v1/auth/sign-in", R"({"username":"' OR '1'='1' --","password":"x"})"))
          .refuse);
}

TEST_F(WebFirewallTest, DocumentUploadsKeepTheirOwnContentType) {
  Sample upload;
  upload.method = "POST";
  upload.target = "/v1/subjects/s_1/documents";
  upload.headers = {{"Content-Type", "text/plain; charset"}, {"Content-Length", "0"}};
  EXPECT_FALSE(Inspect(*waf_, upload).detected);
  upload.headers = {{"Content-Type", "image/x-portable-anymap"}};
  EXPECT_FALSE(Inspect(*waf_, upload).detected);
  // The same malformed type on an API route is the CRS's to refuse.
  Sample api = upload;
  api.target = "/v1/collections/t/records";
  api.headers = {{"Content-Type", "text/plain; charset"}, {"Content-Length", "0"}};
  EXPECT_TRUE(HasRuleIn(Inspect(*waf_, api), 920470, 920470));
}

TEST_F(WebFirewallTest, TooManyArgumentsAreRefused) {
  // A megabyte of [0,0,...] would otherwise hold a worker while every value meets every rule.
  std::string many = R"({"values":[0)";
  for (int i = 0; i < 20'000; ++i) many += ",0";
  many += "]}";
  const auto finding = Inspect(*waf_, Post("/v1/collections/t/records", many));
  EXPECT_TRUE(finding.refuse);
  EXPECT_EQ(finding.RuleList(), "200007");
}

TEST_F(WebFirewallTest, ScannerUserAgentIsRefused) {
  Sample s;
  s.headers = {{"User-Agent", "sqlmap/1.7.2#stable (https://sqlmap.org)"}};
  // Replaces nothing: Inspect() added its own User-Agent first; the rules see both.
  const auto finding = Inspect(*waf_, s);
  EXPECT_TRUE(finding.refuse);
  EXPECT_TRUE(HasRuleIn(finding, 913000, 913999)) << finding.RuleList();
}

TEST_F(WebFirewallTest, FindingCarriesRuleIdsOnly) {
  const auto finding =
      Inspect(*waf_, Post("/v1/collections/t/records",
                          R"({"fields":{"name":"ann@example.com' UNION SELECT 1--"}})"));
  ASSERT_TRUE(finding.refuse);
  const std::string list = finding.RuleList();
  EXPECT_FALSE(list.empty());
  EXPECT_EQ(list.find_first_not_of("0123456789,"), std::string::npos) << list;
  EXPECT_LE(finding.rule_ids.size(), WafFinding::kMaxRuleIds);
  EXPECT_FALSE(HasRuleIn(finding, 949000, 949999)) << "the score rule is not a detection";
}

TEST(WebFirewallSettings, DetectionOnlyReportsButDoesNotRefuse) {
  WafSettings settings;
  settings.mode = WafMode::kDetectionOnly;
  auto waf = WebFirewall::Create(settings);
  ASSERT_TRUE(waf) << waf.error().message();
  Sample s;
  s.target = "/v1/x?q=1%27%20OR%20%271%27%3D%271";
  const auto finding = Inspect(**waf, s);
  EXPECT_TRUE(finding.detected);
  EXPECT_FALSE(finding.refuse);
  EXPECT_TRUE(HasRuleIn(finding, 942000, 942999)) << finding.RuleList();
  EXPECT_FALSE(Inspect(**waf, Sample{}).detected);
}

TEST(WebFirewallSettings, PreparedSettingsTakeEffectWhenInstalled) {
  auto waf = WebFirewall::Create(WafSettings{});
  ASSERT_TRUE(waf);
  EXPECT_EQ((*waf)->mode(), WafMode::kBlocking);
  WafSettings bad;
  bad.paranoia_level = 5;
  const auto refused = WebFirewall::Prepare(bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ((*waf)->mode(), WafMode::kBlocking);
  WafSettings detect;
  detect.mode = WafMode::kDetectionOnly;
  auto prepared = WebFirewall::Prepare(detect);
  ASSERT_TRUE(prepared);
  EXPECT_EQ((*waf)->mode(), WafMode::kBlocking) << "prepared, not yet installed";
  (*waf)->Install(std::move(*prepared));
  EXPECT_EQ((*waf)->mode(), WafMode::kDetectionOnly);
  Sample s;
  s.target = "/v1/x?q=1%27%20OR%20%271%27%3D%271";
  EXPECT_FALSE(Inspect(**waf, s).refuse);
}

TEST(WebFirewallSettings, InvalidSettingsAreRefusedWithTheirName) {
  const auto message = [](const WafSettings& s) {
    auto waf = WebFirewall::Create(s);
    EXPECT_FALSE(waf);
    return waf ? std::string() : waf.error().message();
  };
  WafSettings s;
  s.paranoia_level = 0;
  EXPECT_NE(message(s).find("waf.paranoia_level"), std::string::npos);
  s = WafSettings{};
  s.free_text_fields = {"notes$|.*"};
  EXPECT_NE(message(s).find("waf.free_text_fields"), std::string::npos);
  s = WafSettings{};
  s.secret_cookies = {"a\" b"};
  EXPECT_NE(message(s).find("cookie"), std::string::npos);
  s = WafSettings{};
  s.rule_files = {"REQUEST-999-NO-SUCH-FILE.conf"};
  EXPECT_NE(message(s).find("REQUEST-999-NO-SUCH-FILE.conf"), std::string::npos);
  s = WafSettings{};
  s.rule_files = {};
  EXPECT_NE(message(s).find("waf.rule_files names no file"), std::string::npos);
  s = WafSettings{};
  s.crs_rules_dir = "rules";
  EXPECT_NE(message(s).find("waf.crs_dir"), std::string::npos);
  s = WafSettings{};
  s.inbound_anomaly_threshold = 0;
  EXPECT_NE(message(s).find("waf.anomaly_threshold"), std::string::npos);
  s = WafSettings{};
  s.rule_files = {"../../etc/passwd"};
  EXPECT_NE(message(s).find("not a file name"), std::string::npos);

  const auto extra = std::filesystem::temp_directory_path() /
                     ("strongroom-waf-extra-" + std::to_string(::getpid()) + ".conf");
  std::ofstream(extra) << "SecRule ARGS \"@rx x\" \"id:1,phase:2,nonsense_action\"\n";
  s = WafSettings{};
  s.extra_rules_file = extra;
  EXPECT_NE(message(s).find(extra.string()), std::string::npos);
  std::filesystem::remove(extra);
  s.extra_rules_file = extra;
  EXPECT_NE(message(s).find("waf.extra_rules_file"), std::string::npos);
}

TEST(WebFirewallSettings, OperatorRulesAreLoadedLast) {
  const auto extra = std::filesystem::temp_directory_path() /
                     ("strongroom-waf-own-" + std::to_string(::getpid()) + ".conf");
  std::ofstream(extra) << "SecRule ARGS:color \"@streq magenta\" "
                          "\"id:1000001,phase:2,deny,status:403,log,msg:'no magenta'\"\n";
  WafSettings s;
  s.extra_rules_file = extra;
  auto waf = WebFirewall::Create(s);
  std::filesystem::remove(extra);
  ASSERT_TRUE(waf) << waf.error().message();
  Sample sample;
  sample.target = "/v1/x?color=magenta";
  const auto finding = Inspect(**waf, sample);
  EXPECT_TRUE(finding.refuse);
  EXPECT_EQ(finding.RuleList(), "1000001");
  sample.target = "/v1/x?color=teal";
  EXPECT_FALSE(Inspect(**waf, sample).detected);
}

}  // namespace
}  // namespace strongroom::guard
