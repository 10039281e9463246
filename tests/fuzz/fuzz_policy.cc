// Policy documents arrive from the admin API (PUT /v1/policy, POST /v1/policy/dry-run): any
// bytes must parse or fail with invalid_argument naming a line, never crash; whatever parses
// must compile and answer decisions and views, and its retention rules keep their invariants. The
// same bytes, read as X-Forwarded-For headers (lines) behind a trusted proxy, must give the peer,
// an address, or "" (unknown).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/policy/policy.h"

namespace {

void ForwardedFor(std::string_view text) {
  static const auto trusted = *strongroom::ParseIpNetworkList("10.0.0.0/8, ::1");
  std::vector<std::string_view> headers;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    headers.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  const std::string client = strongroom::ForwardedClient("10.1.1.1", headers, trusted);
  if (!client.empty() && !strongroom::ParseIpAddress(client)) __builtin_trap();
  (void)strongroom::ParseIpNetworkList(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ForwardedFor(text);
  auto document = strongroom::policy::ParseDocument(text);
  if (!document) {
    if (document.error().code() != strongroom::ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  auto policy = strongroom::policy::Policy::Compile(std::move(*document), 1, std::string(text));
  if (!policy) return 0;  // more distinct roles than a document may name
  // Whatever retention rules parse name something, keep for 1 to 36500 days, never name
  // @subjects, and narrow by fields only on record collections.
  for (const auto& rule : (*policy)->document().retention) {
    if (rule.collections.empty() || rule.days < 1 ||
        rule.days > strongroom::records::kMaxRetentionDays || rule.name.empty()) {
      __builtin_trap();
    }
    for (const auto& collection : rule.collections) {
      if (collection == "@subjects" || (rule.NarrowsFields() && collection.starts_with('@'))) {
        __builtin_trap();
      }
    }
  }
  strongroom::records::FieldSpec field;
  field.name = "email";
  for (const std::vector<std::string>& roles :
       {std::vector<std::string>{"admin"}, std::vector<std::string>{"app", "agent"},
        std::vector<std::string>{"auditor"}}) {
    for (std::size_t a = 0; a < strongroom::policy::kActionCount; ++a) {
      const strongroom::policy::Context context{
          roles,     static_cast<strongroom::policy::Action>(a), "patients",
          "support", strongroom::ParseIpAddress("10.1.2.3"),     false};
      const auto prepared = (*policy)->Prepare(context);
      const auto view = prepared.FieldView(field);
      // The guardrails hold for any document.
      if (roles[0] == "admin" && view && *view == strongroom::privacy::View::kPlain) {
        __builtin_trap();
      }
      if (roles[0] == "auditor" && prepared.decision().allowed &&
          context.action != strongroom::policy::Action::kReadAudit) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
