#pragma once
// TokenVault: tokenization of personal data per tenant (docs/tokenization.md). Applications
// hand it values and keep tokens in their own tables instead; a caller the access policy lets
// detokenize (action `detokenize` on "@tokens", granted to nobody by the built-in policy) turns
// tokens back into values. Kinds:
//   random             "tkr_" + 22 random base64url characters; a new token every time
//   deterministic      "tkd_" + 22: a keyed hash (DataBarrier::DeterministicToken), so equal
//                      values get equal tokens (joins)
//   format-preserving  FF1 over the digits of a value of 6 to 64 digits with spaces or dashes,
//                      which stay where they were ("0207 946 0018" -> "5183 260 9947", say)
//   one-way            "tkh_" + 22: a keyed hash under its own key, never stored, never reversed
// A "tokenized" view of a record field shows a deterministic token of (collection, field,
// value): joinable within that field, and detokenized only by a caller who may also read that
// field plain (the token remembers where it came from).
//
// Every reversible token is kept in the profiles store (space "tokens", key "tenant/token")
// with its value (and, for a field's token, the field) encrypted by the DataBarrier under the
// tenant's token key (the subject "$tokens"), bound to (tenant, "$tokens", token, "value"): a
// token is found only in the tenant that made it, so another tenant's detokenize answers
// not_found, as for a token never issued.
//
// Values are JSON: the API tokenizes strings, a view any field value; detokenize gives back the
// value as it was. Card numbers are refused (card_data_refused) like everywhere else.
//
// Thread-safe (the store and the barrier are). Borrows the store and the seal state.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
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
inline constexpr std::size_t kMaxFormatPreservingText = 128;  // digits and separators

class TokenVault {
 public:
  TokenVault(storage::Store& store, barrier::SealState& seal);

  // {"kind": "random", "values": ["…", …]} -> {"kind": "random", "tokens": ["tkr_…", …]}, in
  // order; every token is stored (one atomic batch) before the answer. invalid_argument with the
  // path of what is wrong; card_data_refused at "$.values[i]".
  Result<boost::json::object> Tokenize(std::string_view tenant, const boost::json::value& body);
  // Whether the caller may read (collection, field) plain: asked for tokens of record fields.
  using FieldReadable =
      std::function<Result<bool>(std::string_view collection, std::string_view field)>;
  // {"tokens": ["tkr_…", …]} -> {"values": [...]}, in order. not_found at "$.tokens[i]" for a
  // token this tenant never issued (or that is not a token); invalid_argument (rule
  // "not_reversible") for a one-way token; permission_denied (rule "field_not_readable") for a
  // field's token when `readable` says no. All or nothing: no value is given on an error.
  Result<boost::json::object> Detokenize(std::string_view tenant, const boost::json::value& body,
                                         const FieldReadable& readable);
  // The token a "tokenized" view shows for `value` of (collection, field), stored if new.
  Result<std::string> TokenizeField(std::string_view tenant, std::string_view collection,
                                    std::string_view field, const boost::json::value& value);

 private:
  storage::Store& store_;
  barrier::SealState& seal_;
};

}  // namespace strongroom::records
