// Policy decisions (issue 6: "a decision costs well under a microsecond"): the built-in policy
// and a 40-rule tenant document, for a whole-action decision and for the views of a 12-field
// record. Run: build/release/bench/policy_bench (bench/policy.sh records it).

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "strongroom/policy/policy.h"

namespace {

using strongroom::policy::Action;
using strongroom::policy::Context;
using strongroom::policy::Policy;

std::string LargeDocument() {
  std::string text = "purposes = [\"support\", \"billing\", \"analytics\"]\n";
  for (int i = 0; i < 38; ++i) {
    text += "[[rule]]\neffect = \"allow\"\nroles = [\"role" + std::to_string(i) +
            "\"]\nactions = [\"read\"]\ncollections = [\"c" + std::to_string(i) +
            "\"]\nnetworks = [\"10.0.0.0/8\", \"2001:db8::/32\"]\nview = \"masked\"\n";
  }
  text +=
      "[[rule]]\neffect = \"allow\"\nroles = [\"agent\"]\nactions = [\"read\"]\ncategories = "
      "[\"contact\"]\npurposes = [\"support\"]\nnetworks = [\"10.0.0.0/8\"]\nview = \"masked\"\n"
      "[[rule]]\neffect = \"limit\"\nroles = [\"*\"]\nactions = [\"read\"]\ngrades = "
      "[\"restricted\"]\nview = \"hashed\"\n";
  return text;
}

std::vector<strongroom::records::FieldSpec> Fields() {
  std::vector<strongroom::records::FieldSpec> fields(12);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    fields[i].name = "field" + std::to_string(i);
    fields[i].grade = static_cast<strongroom::records::Grade>(i % 4);
    fields[i].category = static_cast<strongroom::records::Category>(i % 10);
  }
  return fields;
}

std::shared_ptr<const Policy> Large() {
  const std::string text = LargeDocument();
  auto document = strongroom::policy::ParseDocument(text);
  if (!document) std::abort();
  auto policy = Policy::Compile(std::move(*document), 1, text);
  if (!policy) std::abort();
  return *policy;
}

void BM_PolicyDecideBuiltIn(benchmark::State& state) {
  const auto policy = Policy::BuiltIn();
  const std::vector<std::string> roles = {"app"};
  const Context context{
      roles, Action::kRead, "patients", "", strongroom::ParseIpAddress("10.1.2.3"), false};
  for (auto _ : state) benchmark::DoNotOptimize(policy->Decide(context));
}
BENCHMARK(BM_PolicyDecideBuiltIn);

void BM_PolicyDecideFortyRules(benchmark::State& state) {
  const auto policy = Large();
  const std::vector<std::string> roles = {"agent"};
  const Context context{
      roles, Action::kRead, "patients", "support", strongroom::ParseIpAddress("10.1.2.3"), false};
  for (auto _ : state) benchmark::DoNotOptimize(policy->Decide(context));
}
BENCHMARK(BM_PolicyDecideFortyRules);

// One field's view: the decision and that field's rules, from scratch.
void BM_PolicyFieldViewFortyRules(benchmark::State& state) {
  const auto policy = Large();
  const auto fields = Fields();
  const std::vector<std::string> roles = {"agent"};
  const Context context{
      roles, Action::kRead, "patients", "support", strongroom::ParseIpAddress("10.1.2.3"), false};
  for (auto _ : state) benchmark::DoNotOptimize(policy->FieldView(context, fields[2]));
}
BENCHMARK(BM_PolicyFieldViewFortyRules);

// A record read: one Prepare, then the view of each of 12 fields.
void BM_PolicyRecordViewsFortyRules(benchmark::State& state) {
  const auto policy = Large();
  const auto fields = Fields();
  const std::vector<std::string> roles = {"agent"};
  const Context context{
      roles, Action::kRead, "patients", "support", strongroom::ParseIpAddress("10.1.2.3"), false};
  for (auto _ : state) {
    const auto prepared = policy->Prepare(context);
    for (const auto& field : fields) benchmark::DoNotOptimize(prepared.FieldView(field));
  }
}
BENCHMARK(BM_PolicyRecordViewsFortyRules);

}  // namespace

BENCHMARK_MAIN();
