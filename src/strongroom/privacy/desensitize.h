#pragma once
// Desensitization transforms: what a masked, redacted, pseudonymized or generalized view of a
// value looks like. One library, so that views, exports and tokenization (issue 6; docs/privacy.md)
// all show a value the same way. The outputs are part of the documented API: the tests pin each.
//
// Masks keep what a person needs to recognise their own value and nothing that identifies it:
//   email        "jane.doe@example.com" -> "j***@example.com"
//   (a value with no more than 4 digits, letters for national ids, is hidden whole)
//   phone, card  every digit but the last 4 becomes '*', other characters stay:
//                "+44 20 7946 0958" -> "+** ** **** 0958"
//   national id  every letter or digit but the last 4 becomes '*': "AB123456C" -> "*****456C"
//   name         initials: "Zoë Mary O'Brien" -> "Z. M. O."
//   date         the year: "1990-02-14" (or a datetime) -> "1990"
//   other text   "***" (nothing of it shown)
//
// Pure functions; thread-safe. Values are UTF-8 (records validated them).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom::privacy {

std::string MaskEmail(std::string_view email);
// Every ASCII digit but the last `keep` becomes '*'.
std::string MaskDigitsKeepLast(std::string_view value, std::size_t keep = 4);
// Every ASCII letter or digit but the last `keep` becomes '*'.
std::string MaskAlnumKeepLast(std::string_view value, std::size_t keep = 4);
std::string Initials(std::string_view name);
// "YYYY" of a date or datetime ("1990-02-14", "1990-02-14T10:00:00Z"); "***" if it is neither.
std::string YearOf(std::string_view date);
// The mask of a value by the semantic type's name (records' FieldTypeName: "email", "phone",
// "name", "national_id", "date", "datetime"; "card" for card-like numbers); "***" otherwise.
std::string MaskByType(std::string_view type, std::string_view value);

// Redaction: the value is replaced outright.
inline constexpr std::string_view kRedacted = "[redacted]";

// Generalization.
// "YYYY-MM" of a date or datetime; "***" if it is neither.
std::string YearMonthOf(std::string_view date);
// The band of `width` years an age falls in: AgeBand(37, 10) = "30-39". invalid_argument for
// an age outside 0-1000 or a width < 1.
Result<std::string> AgeBand(std::int64_t age, std::int64_t width = 10);
// The first `keep` letters or digits of a postcode, upper-cased, separators dropped:
// PostcodePrefix("sw1a 1aa", 3) = "SW1".
std::string PostcodePrefix(std::string_view postcode, std::size_t keep = 3);

}  // namespace strongroom::privacy
