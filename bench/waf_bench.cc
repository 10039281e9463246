// What the web application firewall costs per request (issue 7): WebFirewall::Inspect with the
// default rule set (docs/guard.md) on the requests the API sees most, an ordinary record read
// and write, and on an attack it refuses; and the same reads with the PHP, Java and Node.js CRS
// files added back, to show what leaving them out saves. One thread. bench/guard.sh measures
// the throughput ratio end to end. Run: build/release/bench/waf_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "strongroom/guard/web_firewall.h"

namespace {

using strongroom::guard::WafRequest;
using strongroom::guard::WafSettings;
using strongroom::guard::WebFirewall;

std::unique_ptr<WebFirewall> Firewall(bool all_attack_files) {
  WafSettings settings;
  settings.free_text_fields = {"notes"};
  if (all_attack_files) {
    settings.rule_files.insert(
        settings.rule_files.end() - 1,
        {"REQUEST-933-APPLICATION-ATTACK-PHP.conf", "REQUEST-934-APPLICATION-ATTACK-NODEJS.conf",
         "REQUEST-944-APPLICATION-ATTACK-JAVA.conf"});
  }
  auto created = WebFirewall::Create(settings);
  if (!created) std::abort();
  return std::move(*created);
}

WafRequest Base(std::string_view method, std::string_view target) {
  WafRequest r;
  r.method = method;
  r.target = target;
  r.client = "192.0.2.10";
  r.headers = {{"Host", "vault.example:8443"},
               {"User-Agent", "strongroom-client/1.0"},
               {"Accept", "application/json"},
               {"Authorization", "Bearer srt_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA"}};
  return r;
}

constexpr std::string_view kBody =
    R"({"subject_id":"sub_0123456789abcdef","fields":{"email":"ann.oneil@example.com",)"
    R"("full_name":"Ann O'Neil","phone":"+1 555 0100","notes":"called <twice> today"}})";

void BM_RecordGet(benchmark::State& state) {
  const auto waf = Firewall(state.range(0) != 0);
  const WafRequest r = Base("GET", "/v1/collections/people/records/rec_0123456789abcdef");
  for (auto _ : state) benchmark::DoNotOptimize(waf->Inspect(r));
}
BENCHMARK(BM_RecordGet)->Arg(0)->Arg(1)->ArgName("php_java_node");

void BM_RecordCreate(benchmark::State& state) {
  const auto waf = Firewall(false);
  WafRequest r = Base("POST", "/v1/collections/people/records");
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = kBody;
  for (auto _ : state) benchmark::DoNotOptimize(waf->Inspect(r));
}
BENCHMARK(BM_RecordCreate);

void BM_SqlInjectionRefused(benchmark::State& state) {
  const auto waf = Firewall(false);
  const WafRequest r =
      Base("GET", "/v1/collections/people/records?cursor=1%27%20OR%20%271%27%3D%271");
  if (!waf->Inspect(r).refuse) std::abort();
  for (auto _ : state) benchmark::DoNotOptimize(waf->Inspect(r));
}
BENCHMARK(BM_SqlInjectionRefused);

}  // namespace

BENCHMARK_MAIN();
