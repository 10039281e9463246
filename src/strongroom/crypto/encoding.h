#pragma once
// Hex and unpadded base64url (RFC 4648 §5) for tokens and ids; padded standard base64 (RFC 4648
// §4) for HTTP fields that require it (Repr-Digest). Stateless; thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strongroom::crypto {

std::string HexEncode(std::span<const std::uint8_t> bytes);
// nullopt for an odd length or any character that is not a hex digit (either case).
std::optional<std::vector<std::uint8_t>> HexDecode(std::string_view hex);
std::string Base64Encode(std::span<const std::uint8_t> bytes);
std::string Base64UrlEncode(std::span<const std::uint8_t> bytes);
// nullopt for any character outside the base64url alphabet, padding, or an impossible length.
std::optional<std::vector<std::uint8_t>> Base64UrlDecode(std::string_view text);
// Padded standard base64 (HTTP Basic credentials). nullopt for a length that is not a multiple of
// 4, characters outside the alphabet, misplaced padding or a non-canonical encoding.
std::optional<std::vector<std::uint8_t>> Base64Decode(std::string_view text);

}  // namespace strongroom::crypto
