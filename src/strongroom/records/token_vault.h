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
// Tokens made of a data subject's values are linked to it, so that erasing the subject finds
// them (records/subject_erasure.h): a field's token for the record's subject, and the tokens of
// a tokenize request that names a `subject_id`. A link is two empty entries, "tenant/subject/
// token" in `token_links` and "tenant/token/subject" in `token_holders` (an equal value of two
// subjects makes one deterministic token, held by both); the erasure deletes its subject's
// links, and each token nobody else holds. The tenant is a holder too (kTenantHolder) of the
// deterministic and format-preserving tokens it made without a subject and of every token
// from before links existed, so no erasure deletes those. Links are written under the
// subject's write guard (barrier/subject_gate.h), so an erasure either finds a link or the
// link is never written; and under the token's link lock (LockTokenLinks), which the erasure
// also takes to delete a token, so that a token another subject links meanwhile stays.
//
// Values are JSON: the API tokenizes strings, a view any field value; detokenize gives back the
// value as it was. Card numbers are refused (card_data_refused) like everywhere else.
//
// Thread-safe (the store and the barrier are). Borrows the store and the seal state.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/storage/store.h"

namespace strongroom::records {

// Spaces of the profiles store: tokens ("tenant/token" -> ciphertext) and their links to
// subjects (empty values).
inline constexpr std::string_view kTokensSpace = "tokens";
inline constexpr std::string_view kTokenLinks = "token_links";      // tenant/subject/token
inline constexpr std::string_view kTokenHolders = "token_holders";  // tenant/token/subject
// The holder that stands for the tenant itself (not a subject id): a deterministic or
// format-preserving token made without a subject, and any token from before links existed.
inline constexpr std::string_view kTenantHolder = "$tenant";

// Locks the link locks of `tokens` (one order for every caller): what makes linking a token to
// a subject and an erasure's delete of that token take turns. Process-wide, striped.
std::vector<std::unique_lock<std::mutex>> LockTokenLinks(std::string_view tenant,
                                                         std::span<const std::string_view> tokens);

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

  // Whether a subject exists (and is not hidden by an erasure's grace period); asked under the
  // subject's write guard.
  using SubjectExists = std::function<Result<bool>(std::string_view subject)>;
  // {"kind": "random", "values": ["…", …], "subject_id"?: "sub_…"} -> {"kind": "random",
  // "tokens": ["tkr_…", …]}, in order; every token is stored (one atomic batch) before the
  // answer, linked to the subject when one is named. invalid_argument with the path of what is
  // wrong (a subject_id with a one-way token: rule "not_stored"); card_data_refused at
  // "$.values[i]"; not_found (rule "unknown_subject") at "$.subject_id" for a subject that
  // `exists` does not know.
  Result<boost::json::object> Tokenize(std::string_view tenant, const boost::json::value& body,
                                       const SubjectExists& exists);
  // Whether the caller may read (collection, field) plain: asked for tokens of record fields.
  using FieldReadable =
      std::function<Result<bool>(std::string_view collection, std::string_view field)>;
  // Whether the caller's purpose may read `subject`'s data (its restriction, objections and
  // consents): permission_denied with the rule "restricted", "objected" or "consent_required";
  // not_found for a subject that is gone or hidden by a grace period.
  using SubjectReadable = std::function<Result<void>(std::string_view subject)>;
  // {"tokens": ["tkr_…", …]} -> {"values": [...]}, in order. not_found at "$.tokens[i]" for a
  // token this tenant never issued (or that is not a token), and for one linked only to
  // subjects that are gone or hidden by the gate; invalid_argument (rule "not_reversible") for
  // a one-way token; permission_denied (rule "field_not_readable") for a field's token when
  // `readable` says no, then for a token one of whose subjects' choices `subject_readable` says
  // forbid it: the subject's rule if the token is that subject's alone, else the rule
  // "subject_choices". Each subject is asked once per call. All or nothing: no value is given
  // on an error.
  Result<boost::json::object> Detokenize(std::string_view tenant, const boost::json::value& body,
                                         const FieldReadable& readable,
                                         const SubjectReadable& subject_readable);
  // The token a "tokenized" view shows for `value` of (collection, field) of a record of
  // `subject` ("": a record without one), stored and linked to the subject if new (a write on a
  // read, once per distinct value and subject: would_block on an I/O thread then). For a
  // subject erased since its record was read, the token and nothing stored or linked.
  Result<std::string> TokenizeField(std::string_view tenant, std::string_view collection,
                                    std::string_view field, const boost::json::value& value,
                                    std::string_view subject);

 private:
  storage::Store& store_;
  // Detokenize's check of the subjects linked to `token` (docs/tokenization.md); `decided`
  // remembers each subject's answer for the rest of the call.
  using HolderDecisions = std::map<std::string, Result<void>, std::less<>>;
  Result<void> WeighHolders(std::string_view tenant, std::string_view token,
                            const std::string& path, const SubjectReadable& subject_readable,
                            HolderDecisions& decided);

  barrier::SealState& seal_;
};

}  // namespace strongroom::records
