#pragma once
// The views a caller can be given of a field's value, least revealing first: a policy's caps
// and grants combine by this order (policy/policy.h), and desensitize.h renders each.
//   redacted  "[redacted]": only that a value exists
//   hashed    a keyed-hash pseudonym: equal values look equal (joinable), nothing else shows
//   tokenized a deterministic vault token ("tkd_…"): joinable like a pseudonym, and a caller
//             the policy lets detokenize can turn it back into the value (POST /v1/detokenize)
//   masked    the documented mask of its semantic type ("j***@example.com")
//   plain     the value itself

#include <cstdint>
#include <optional>
#include <string_view>

namespace strongroom::privacy {

enum class View : std::uint8_t { kRedacted, kHashed, kTokenized, kMasked, kPlain };

constexpr std::string_view ViewName(View view) {
  switch (view) {
    case View::kRedacted:
      return "redacted";
    case View::kHashed:
      return "hashed";
    case View::kTokenized:
      return "tokenized";
    case View::kMasked:
      return "masked";
    case View::kPlain:
      return "plain";
  }
  return "redacted";
}

constexpr std::optional<View> ViewFromName(std::string_view name) {
  for (const View v :
       {View::kRedacted, View::kHashed, View::kTokenized, View::kMasked, View::kPlain}) {
    if (ViewName(v) == name) return v;
  }
  return std::nullopt;
}

}  // namespace strongroom::privacy
