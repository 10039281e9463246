#include "strongroom/base/card_numbers.h"

#include <string>

namespace strongroom {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The leading `n` digits as a number (digits.size() >= n).
int Prefix(std::string_view digits, std::size_t n) {
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) value = value * 10 + (digits[i] - '0');
  return value;
}

struct Scheme {
  int low;  // inclusive prefix range, `prefix_digits` long
  int high;
  int prefix_digits;
  int min_length;
  int max_length;
};

// Issuer identification number ranges of the card schemes (ISO/IEC 7812 IINs as the schemes
// publish them). A length inside [min, max] is accepted even where a scheme uses only some.
constexpr Scheme kSchemes[] = {
    {4, 4, 1, 13, 19},        // Visa
    {51, 55, 2, 16, 16},      // Mastercard
    {2221, 2720, 4, 16, 16},  // Mastercard 2-series
    {34, 34, 2, 15, 15},      // American Express
    {37, 37, 2, 15, 15},      // American Express
    {6011, 6011, 4, 16, 19},  // Discover
    {644, 649, 3, 16, 19},    // Discover
    {65, 65, 2, 16, 19},      // Discover
    {3528, 3589, 4, 16, 19},  // JCB
    {300, 305, 3, 14, 19},    // Diners Club
    {36, 36, 2, 14, 19},      // Diners Club
    {38, 39, 2, 16, 19},      // Diners Club
    {62, 62, 2, 16, 19},      // UnionPay
    {50, 50, 2, 13, 19},      // Maestro
    {56, 58, 2, 13, 19},      // Maestro
    {6304, 6304, 4, 13, 19},  // Maestro
    {6759, 6759, 4, 13, 19},  // Maestro
    {6761, 6763, 4, 13, 19},  // Maestro
    {2200, 2204, 4, 16, 19},  // Mir
};

struct Group {
  std::size_t begin;  // in the text
  std::size_t end;
};

// Whether groups [first, last] are laid out as cards print their numbers: one piece, or
// 4-4-4-4, 4-4-4-4-3 (19 digits), 4-6-5 (American Express), 4-6-4 (Diners), with one separator.
bool CardLayout(const std::vector<Group>& groups, std::size_t first, std::size_t last,
                std::string_view text) {
  if (first == last) return true;
  std::vector<std::size_t> lengths;
  for (std::size_t g = first; g <= last; ++g) {
    lengths.push_back(groups[g].end - groups[g].begin);
    if (g > first && text[groups[g].begin - 1] != text[groups[first + 1].begin - 1]) return false;
  }
  using L = std::vector<std::size_t>;
  return lengths == L{4, 4, 4, 4} || lengths == L{4, 4, 4, 4, 3} || lengths == L{4, 6, 5} ||
         lengths == L{4, 6, 4};
}

}  // namespace

bool LuhnValid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!IsDigit(*it)) return false;
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool KnownCardScheme(std::string_view digits) {
  const auto length = static_cast<int>(digits.size());
  for (const Scheme& s : kSchemes) {
    if (length < s.min_length || length > s.max_length) continue;
    const int prefix = Prefix(digits, static_cast<std::size_t>(s.prefix_digits));
    if (prefix >= s.low && prefix <= s.high) return true;
  }
  return false;
}

std::vector<CardNumberSpan> FindCardNumbers(std::string_view text) {
  std::vector<CardNumberSpan> found;
  std::string digits;
  std::vector<Group> groups;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!IsDigit(text[i])) {
      ++i;
      continue;
    }
    // A run: digit groups joined by single separators. A '+' before it makes it a phone number.
    const bool after_plus = i > 0 && text[i - 1] == '+';
    groups.clear();
    while (true) {
      const std::size_t begin = i;
      while (i < text.size() && IsDigit(text[i])) ++i;
      groups.push_back({begin, i});
      if (i + 1 < text.size() && (text[i] == ' ' || text[i] == '-') && IsDigit(text[i + 1])) {
        ++i;
        continue;
      }
      break;
    }
    // The whole run may be the number, grouped any way. Part of a longer run counts only in a
    // card's own layout ("4111 1111 1111 1111 2027", "+1 4111 1111 1111 1111"), so that two
    // phone numbers or a list of dates in a row are not one. Leftmost first, longest first; a
    // match consumes its groups. After a '+', the first group belongs to a phone number.
    for (std::size_t first = after_plus ? 1 : 0; first < groups.size();) {
      std::size_t matched_last = 0;
      bool matched = false;
      digits.clear();
      for (std::size_t last = first; last < groups.size(); ++last) {
        digits.append(text.substr(groups[last].begin, groups[last].end - groups[last].begin));
        if (digits.size() > 19) break;
        const bool whole_run = first == 0 && !after_plus && last + 1 == groups.size();
        if (digits.size() >= 13 && (whole_run || CardLayout(groups, first, last, text)) &&
            KnownCardScheme(digits) && LuhnValid(digits)) {
          matched = true;
          matched_last = last;
        }
      }
      if (matched) {
        found.push_back({groups[first].begin, groups[matched_last].end});
        first = matched_last + 1;
      } else {
        ++first;
      }
    }
  }
  return found;
}

bool ContainsCardNumber(std::string_view text) {
  // The common case (no digit run long enough) costs one pass and no allocation.
  std::size_t run = 0;
  bool long_enough = false;
  for (const char c : text) {
    if (IsDigit(c)) {
      if (++run >= 13) {
        long_enough = true;
        break;
      }
    } else if (c != ' ' && c != '-') {
      run = 0;
    }
  }
  return long_enough && !FindCardNumbers(text).empty();
}

}  // namespace strongroom
