#pragma once
// Strict JSON for request bodies: RFC 8259 only (no comments, no trailing commas), valid UTF-8,
// at most 32 levels deep, objects of at most 1,000 members (rule "max_members") and arrays of at
// most 100,000 items ("max_items"), and no object with the same key twice: a duplicate is refused
// with the JSON path of the object and the key, because two parsers could disagree about which
// value wins (a classic request-smuggling trick). Errors are invalid_argument with details (path,
// rule); they describe the problem, never echo values. Stateless; thread-safe.

#include <boost/json/value.hpp>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom::records {

Result<boost::json::value> ParseStrictJson(std::string_view text);

// "$.fields.email", "$.records[3]": appends one step of a JSON path, quoting keys that are not
// plain identifiers ("$['a b']").
std::string JsonPathKey(std::string_view parent, std::string_view key);
std::string JsonPathIndex(std::string_view parent, std::size_t index);

// invalid_argument (rule "unknown_field", path of the member) for the first member of `object`
// (at `path`) not in `allowed`: a typo must not be silently ignored.
Result<void> RefuseUnknownMembers(const boost::json::object& object,
                                  std::initializer_list<std::string_view> allowed,
                                  const std::string& path);

}  // namespace strongroom::records
