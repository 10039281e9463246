#include "strongroom/auth/credential_parsing.h"

#include <algorithm>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::auth {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

AuthorizationParts SplitAuthorization(std::string_view header) {
  const std::string_view value = Trim(header);
  const auto space = value.find(' ');
  if (space == std::string_view::npos) return {value, {}};
  return {value.substr(0, space), Trim(value.substr(space + 1))};
}

bool SchemeIs(std::string_view scheme, std::string_view expected) {
  if (scheme.size() != expected.size()) return false;
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (lower(scheme[i]) != lower(expected[i])) return false;
  }
  return true;
}

std::optional<BasicCredentials> BasicCredentials::Parse(std::string_view base64,
                                                        std::size_t max_username_bytes,
                                                        std::size_t max_secret_bytes) {
  // Longer than any acceptable pair could encode to: not worth decoding.
  if (base64.size() > (max_username_bytes + max_secret_bytes + 1 + 2) / 3 * 4) return std::nullopt;
  auto decoded = crypto::Base64Decode(base64);
  if (!decoded) return std::nullopt;
  SecretBytes text{std::span<const std::uint8_t>(*decoded)};
  std::fill(decoded->begin(), decoded->end(), std::uint8_t{0});
  const auto colon = text.reveal_as_text().find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size() ||
      colon > max_username_bytes || text.size() - colon - 1 > max_secret_bytes) {
    return std::nullopt;
  }
  return BasicCredentials(std::move(text), colon);
}

std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view pair = Trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return std::nullopt;
}

}  // namespace strongroom::auth
