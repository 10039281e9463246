#include "strongroom/privacy/detectors.h"

#include <array>

#include "strongroom/base/card_numbers.h"
#include "strongroom/privacy/desensitize.h"

namespace strongroom::privacy {
namespace {

constexpr std::array<std::string_view, kDetectorCount> kNames = {"email", "phone", "national_id"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }
bool IsLocal(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
bool IsDomain(char c) { return IsAlnum(c) || c == '-' || c == '.'; }
bool IsPhoneSeparator(char c) { return c == ' ' || c == '.' || c == '-' || c == '(' || c == ')'; }

// The email address around the '@' at `at`, if there is one.
std::optional<Finding> EmailAt(std::string_view text, std::size_t at) {
  std::size_t begin = at;
  while (begin > 0 && IsLocal(text[begin - 1])) --begin;
  std::size_t end = at + 1;
  while (end < text.size() && IsDomain(text[end])) ++end;
  // A sentence's full stop or a hyphen is not part of the domain.
  while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
  if (begin == at || end == at + 1) return std::nullopt;
  const std::string_view domain = text.substr(at + 1, end - at - 1);
  const std::size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const std::string_view tld = domain.substr(dot + 1);
  if (tld.size() < 2) return std::nullopt;
  for (char c : tld) {
    if (!IsAlpha(c)) return std::nullopt;
  }
  return Finding{Detector::kEmail, begin, end};
}

// A US SSN (ddd-dd-dddd) or UK NINO (AB 12 34 56 C, spaces optional) starting at `i`.
std::optional<Finding> NationalIdAt(std::string_view text, std::size_t i) {
  if (i > 0 && IsAlnum(text[i - 1])) return std::nullopt;
  const auto bounded = [&](std::size_t end) -> std::optional<Finding> {
    if (end < text.size() && IsAlnum(text[end])) return std::nullopt;
    return Finding{Detector::kNationalId, i, end};
  };
  // SSN
  if (i + 11 <= text.size()) {
    const std::string_view s = text.substr(i, 11);
    bool ssn = s[3] == '-' && s[6] == '-';
    for (std::size_t k : {0, 1, 2, 4, 5, 7, 8, 9, 10}) ssn = ssn && IsDigit(s[k]);
    if (ssn) return bounded(i + 11);
  }
  // NINO: two letters, then three pairs of digits, then A-D, with optional single spaces.
  if (i + 2 > text.size() || !IsUpper(text[i]) || !IsUpper(text[i + 1])) return std::nullopt;
  std::size_t j = i + 2;
  for (int pair = 0; pair < 3; ++pair) {
    if (j < text.size() && text[j] == ' ') ++j;
    if (j + 2 > text.size() || !IsDigit(text[j]) || !IsDigit(text[j + 1])) return std::nullopt;
    j += 2;
  }
  if (j < text.size() && text[j] == ' ') ++j;
  if (j >= text.size() || text[j] < 'A' || text[j] > 'D') return std::nullopt;
  return bounded(j + 1);
}

// A phone number starting at `i` ('+' or a digit): its end, or nullopt.
std::optional<Finding> PhoneAt(std::string_view text, std::size_t i) {
  if (i > 0 && (IsAlnum(text[i - 1]) || text[i - 1] == '+')) return std::nullopt;
  std::size_t j = i + (text[i] == '+' ? 1 : 0);
  std::size_t digits = 0;
  std::size_t last_digit = j;
  while (j < text.size() && (IsDigit(text[j]) || IsPhoneSeparator(text[j]))) {
    if (IsDigit(text[j])) {
      ++digits;
      last_digit = j + 1;
    } else if (j + 1 < text.size() && IsPhoneSeparator(text[j + 1]) && text[j] != ')' &&
               text[j + 1] != '(') {
      break;  // two separators in a row end a number ("1 - 2" is two)
    }
    ++j;
  }
  if (last_digit < text.size() && IsAlpha(text[last_digit])) return std::nullopt;
  if (digits < 9 || digits > 15) return std::nullopt;
  if (ContainsCardNumber(text.substr(i, last_digit - i))) return std::nullopt;
  return Finding{Detector::kPhone, i, last_digit};
}

constexpr std::uint32_t Bit(Detector d) { return 1u << static_cast<unsigned>(d); }

}  // namespace

std::string_view DetectorName(Detector detector) {
  return kNames[static_cast<std::size_t>(detector)];
}

std::optional<Detector> DetectorFromName(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Detector>(i);
  }
  return std::nullopt;
}

std::vector<Finding> FindPersonalData(std::string_view text, std::uint32_t which) {
  std::vector<Finding> found;
  // Emails first (their local parts may hold digits a phone scan would take).
  std::vector<Finding> emails;
  if ((which & Bit(Detector::kEmail)) != 0) {
    for (std::size_t at = text.find('@'); at != std::string_view::npos;
         at = text.find('@', at + 1)) {
      if (auto email = EmailAt(text, at);
          email && (emails.empty() || emails.back().end <= email->begin)) {
        emails.push_back(*email);
      }
    }
  }
  std::size_t next_email = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (next_email < emails.size() && emails[next_email].begin == i) {
      found.push_back(emails[next_email]);
      i = emails[next_email++].end;
      continue;
    }
    const std::size_t limit = next_email < emails.size() ? emails[next_email].begin : text.size();
    std::optional<Finding> hit;
    if ((which & Bit(Detector::kNationalId)) != 0) hit = NationalIdAt(text, i);
    if (!hit && (which & Bit(Detector::kPhone)) != 0 && (text[i] == '+' || IsDigit(text[i]))) {
      hit = PhoneAt(text, i);
    }
    if (hit && hit->end <= limit) {
      found.push_back(*hit);
      i = hit->end;
      continue;
    }
    // Skip the rest of a word, or of a run of digits and separators (no phone number starts
    // inside a longer one: "4111 1111 1111 1111" holds none): matches start at its beginning.
    if (IsDigit(text[i]) || text[i] == '+') {
      ++i;
      while (i < text.size() && (IsDigit(text[i]) || IsPhoneSeparator(text[i]))) ++i;
    } else if (IsAlnum(text[i])) {
      while (i < text.size() && IsAlnum(text[i])) ++i;
    } else {
      ++i;
    }
  }
  return found;
}

std::string MaskFindings(std::string_view text, std::span<const Finding> findings) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const Finding& f : findings) {
    out.append(text.substr(at, f.begin - at));
    const std::string_view value = text.substr(f.begin, f.end - f.begin);
    switch (f.detector) {
      case Detector::kEmail:
        out += MaskEmail(value);
        break;
      case Detector::kPhone:
        out += MaskDigitsKeepLast(value);
        break;
      case Detector::kNationalId:
        out += MaskAlnumKeepLast(value);
        break;
    }
    at = f.end;
  }
  out.append(text.substr(at));
  return out;
}

}  // namespace strongroom::privacy
