#include "strongroom/base/media_type.h"

#include <cstring>

namespace strongroom {
namespace {

// RFC 9110 §5.6.2: tchar.
bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

std::size_t TokenLength(std::string_view text, std::size_t at) {
  std::size_t end = at;
  while (end < text.size() && text[end] != '\0' && IsTokenChar(text[end])) ++end;
  return end - at;
}

void SkipSpace(std::string_view text, std::size_t& at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
}

// A quoted-string (RFC 9110 §5.6.4) starting at `at`; advances past it.
bool SkipQuoted(std::string_view text, std::size_t& at) {
  if (at >= text.size() || text[at] != '"') return false;
  for (++at; at < text.size(); ++at) {
    if (text[at] == '"') {
      ++at;
      return true;
    }
    if (text[at] == '\\') ++at;
  }
  return false;
}

}  // namespace

// Hand-written: the grammar is a few lines of RFC 9110, and the parser we link that knows it
// (Beast's) belongs to the HTTP layer, which the modules that store media types must not need.
bool IsMediaType(std::string_view text) {
  if (text.empty() || text.size() > kMaxMediaTypeLength) return false;
  for (const char c : text) {
    if ((c < 0x20 && c != '\t') || c == 0x7f || static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
  }
  std::size_t at = TokenLength(text, 0);
  if (at == 0 || at >= text.size() || text[at] != '/') return false;
  const std::size_t subtype = TokenLength(text, ++at);
  if (subtype == 0) return false;
  at += subtype;
  while (true) {
    SkipSpace(text, at);
    if (at == text.size()) return true;
    if (text[at++] != ';') return false;
    SkipSpace(text, at);
    if (at == text.size()) return true;
    const std::size_t name = TokenLength(text, at);
    if (name == 0 || at + name >= text.size() || text[at + name] != '=') return false;
    at += name + 1;
    if (const std::size_t value = TokenLength(text, at); value > 0) {
      at += value;
    } else if (!SkipQuoted(text, at)) {
      return false;
    }
  }
}

}  // namespace strongroom
