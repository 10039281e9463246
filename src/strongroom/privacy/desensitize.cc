#include "strongroom/privacy/desensitize.h"

#include <algorithm>

namespace strongroom::privacy {
namespace {

constexpr std::string_view kHidden = "***";

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
// Locale-independent: the server's locale must not change what a mask shows.
char AsciiUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool IsAsciiAlnum(char c) {
  return IsAsciiDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Bytes in the UTF-8 sequence that starts with `lead` (1 for anything malformed).
std::size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xF5) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC2 && lead < 0xE0) return 2;
  return 1;
}

template <class Keep>
std::string MaskKeepLast(std::string_view value, std::size_t keep, Keep counts) {
  std::size_t total = 0;
  for (const char c : value) total += counts(c) ? 1 : 0;
  std::string out(value);
  // A value no longer than what would be kept is hidden whole (a 4-digit extension is not
  // "the last 4" of anything).
  const std::size_t hide = total <= keep ? total : total - keep;
  std::size_t seen = 0;
  for (char& c : out) {
    if (!counts(c)) continue;
    if (seen++ < hide) c = '*';
  }
  return out;
}

bool LooksLikeDate(std::string_view s) {
  return s.size() >= 10 && IsAsciiDigit(s[0]) && IsAsciiDigit(s[1]) && IsAsciiDigit(s[2]) &&
         IsAsciiDigit(s[3]) && s[4] == '-' && IsAsciiDigit(s[5]) && IsAsciiDigit(s[6]) &&
         s[7] == '-' && IsAsciiDigit(s[8]) && IsAsciiDigit(s[9]) &&
         (s.size() == 10 || s[10] == 'T' || s[10] == 't' || s[10] == ' ');
}

}  // namespace

std::string MaskEmail(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0) return std::string(kHidden);
  const std::size_t first = SequenceLength(static_cast<unsigned char>(email[0]));
  if (first > at) return std::string(kHidden);
  return std::string(email.substr(0, first)) + "***" + std::string(email.substr(at));
}

std::string MaskDigitsKeepLast(std::string_view value, std::size_t keep) {
  return MaskKeepLast(value, keep, IsAsciiDigit);
}

std::string MaskAlnumKeepLast(std::string_view value, std::size_t keep) {
  return MaskKeepLast(value, keep, IsAsciiAlnum);
}

std::string Initials(std::string_view name) {
  std::string out;
  std::size_t i = 0;
  while (i < name.size()) {
    while (i < name.size() && (name[i] == ' ' || name[i] == '-')) ++i;
    if (i >= name.size()) break;
    const std::size_t len =
        std::min(SequenceLength(static_cast<unsigned char>(name[i])), name.size() - i);
    if (!out.empty()) out.push_back(' ');
    std::string initial(name.substr(i, len));
    if (len == 1) initial[0] = AsciiUpper(initial[0]);
    out += initial + ".";
    while (i < name.size() && name[i] != ' ' && name[i] != '-') ++i;
  }
  return out.empty() ? std::string(kHidden) : out;
}

std::string YearOf(std::string_view date) {
  return LooksLikeDate(date) ? std::string(date.substr(0, 4)) : std::string(kHidden);
}

std::string YearMonthOf(std::string_view date) {
  return LooksLikeDate(date) ? std::string(date.substr(0, 7)) : std::string(kHidden);
}

std::string MaskByType(std::string_view type, std::string_view value) {
  if (type == "email") return MaskEmail(value);
  if (type == "phone" || type == "card") return MaskDigitsKeepLast(value);
  if (type == "national_id") return MaskAlnumKeepLast(value);
  if (type == "name") return Initials(value);
  if (type == "date" || type == "datetime") return YearOf(value);
  return std::string(kHidden);
}

Result<std::string> AgeBand(std::int64_t age, std::int64_t width) {
  if (age < 0 || width < 1 || age > 1000) {
    return Fail(ErrorCode::kInvalidArgument, "an age band needs an age of 0-1000 and a width >= 1");
  }
  const std::int64_t low = age / width * width;
  if (width == 1) return std::to_string(low);
  return std::to_string(low) + "-" + std::to_string(low + width - 1);
}

std::string PostcodePrefix(std::string_view postcode, std::size_t keep) {
  std::string out;
  for (const char c : postcode) {
    if (out.size() == keep) break;
    if (IsAsciiAlnum(c)) out.push_back(AsciiUpper(c));
  }
  return out.empty() ? std::string(kHidden) : out;
}

}  // namespace strongroom::privacy
