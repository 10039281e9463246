#pragma once
// TokenVault: tokenization of personal data per tenant (docs/tokenization.md). Applications
// hand it values and keep tokens in their own tables instead; a caller the access policy lets
// detokenize (action `detokenize` on "@tokens", granted to nobody by the built-in policy) turns
// tokens back into values. Kinds:
//   random             "tkr_" + 22 random base64url characters; a new token every time
//   deterministic      "tkd_" + 22: a keyed hash (DataBarrier::DeterministicToken), so equal
//                      values get equal tokens (joins); also what a "tokenized" view shows
//   format-preserving  FF1 over the digits of a value of 6 to 64 digits with spaces or dashes,
//                      which stay where they were ("0207 946 0018" -> "5183 260 9947", say)
//   one-way            the keyed-hash pseudonym ("psn_", as a "hashed" view shows): never
//                      stored, never reversible
// Every reversible token is kept in the profiles store (space "tokens", key "tenant/token")
// with its value encrypted by the DataBarrier under the tenant's token key (the subject
// "$tokens"), bound to (tenant, "$tokens", token, "value"): a token is found only in the tenant
// that made it, so another tenant's detokenize answers not_found, as for a token never issued.
//
// Values are JSON: the API tokenizes strings, a view any field value; detokenize gives back the
// value as it was. Card numbers are refused (card_data_refused) like everywhere else.
//
// Thread-safe (the store and the barrier are). Borrows the store and the seal state.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/storage/store.h"

namespace strongroom::records {

enum class TokenKind : std::uint8_t { kRandom, kDeterministic, kFormatPreserving, kOneWay };
std::string_view TokenKindName(TokenKind kind);  // "random", "format-preserving", …
std::optional<TokenKind> TokenKindFromName(std::string_view name);

inline constexpr std::size_t kMaxTokenBatch = 100;            // values or tokens per call
inline constexpr std::size_t kMaxTokenValueBytes = 4096;      // one value given to tokenize
inline constexpr std::size_t kMinFormatPreservingDigits = 6;  // FF1's domain rule, radix 10
inline constexpr std::size_t kMaxFormatPreservingDigits = 64;

class TokenVault {
 public:
  TokenVault(storage::Store& store, barrier::SealState& seal);

  // {"kind": "random", "values": ["…", …]} -> {"kind": "random", "tokens": ["tkr_…", …]}, in
  // order; every token is stored (one atomic batch) before the answer. invalid_argument with the
  // path of what is wrong; card_data_refused at "$.values[i]".
  Result<boost::json::object> Tokenize(std::string_view tenant, const boost::json::value& body);
  // {"tokens": ["tkr_…", …]} -> {"values": [...]}, in order. not_found at "$.tokens[i]" for a
  // token this tenant never issued (or that is not a token); invalid_argument (rule
  // "not_reversible") for a one-way token. All or nothing: no value is given on an error.
  Result<boost::json::object> Detokenize(std::string_view tenant, const boost::json::value& body);
  // The deterministic token of a field value (a "tokenized" view), stored if it is new.
  Result<std::string> TokenizeValue(std::string_view tenant, const boost::json::value& value);

 private:
  storage::Store& store_;
  barrier::SealState& seal_;
};

}  // namespace strongroom::records
