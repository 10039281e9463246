#pragma once
// Media types (RFC 9110 §8.3.1): the syntax check for Content-Type values we store and send back
// (documents keep the type they were uploaded with). Stateless; thread-safe.

#include <cstddef>
#include <string_view>

namespace strongroom {

inline constexpr std::size_t kMaxMediaTypeLength = 255;

// True for "type/subtype" with optional parameters (token or quoted-string values), at most
// kMaxMediaTypeLength bytes of visible ASCII (no control characters: nothing that could split a
// header when the value is sent back).
bool IsMediaType(std::string_view text);

}  // namespace strongroom
