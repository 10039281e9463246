#include "strongroom/privacy/detectors.h"

#include <algorithm>
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
// No '.': dotted runs are version numbers and IP addresses far more often than phone numbers.
bool IsPhoneSeparator(char c) { return c == ' ' || c == '-' || c == '(' || c == ')'; }

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

// "YYYY-MM-DD" at `i`: a date, whatever digits follow it.
bool DateAt(std::string_view text, std::size_t i) {
  if (i + 10 > text.size()) return false;
  for (std::size_t k = 0; k < 10; ++k) {
    const bool want_dash = k == 4 || k == 7;
    if (want_dash ? text[i + k] != '-' : !IsDigit(text[i + k])) return false;
  }
  return true;
}

// A phone number starting at `i` ('+' or a digit): its end, or nullopt.
std::optional<Finding> PhoneAt(std::string_view text, std::size_t i) {
  if (text[i] != '+' && !IsDigit(text[i])) return std::nullopt;
  if (i > 0 && (IsAlnum(text[i - 1]) || text[i - 1] == '+')) return std::nullopt;
  // Not the middle of a longer run of digits ("4111 1111 1111 1111" holds no phone number).
  if (i > 1 && IsPhoneSeparator(text[i - 1]) && IsDigit(text[i - 2])) return std::nullopt;
  if (DateAt(text, i)) return std::nullopt;
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
  // Three passes, most specific first, each over what the earlier ones left: emails (whose
  // local parts may hold digits), national ids, then phone numbers. A later finding never
  // overlaps an earlier one; every word start is tried (a run of digits does not hide what
  // follows it).
  std::vector<Finding> found;
  const auto overlaps = [&found](const Finding& f) {
    return std::any_of(found.begin(), found.end(),
                       [&](const Finding& g) { return f.begin < g.end && g.begin < f.end; });
  };
  if ((which & Bit(Detector::kEmail)) != 0) {
    for (std::size_t at = text.find('@'); at != std::string_view::npos;
         at = text.find('@', at + 1)) {
      if (auto email = EmailAt(text, at); email && !overlaps(*email)) found.push_back(*email);
    }
  }
  for (const Detector detector : {Detector::kNationalId, Detector::kPhone}) {
    if ((which & Bit(detector)) == 0) continue;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (i > 0 && IsAlnum(text[i - 1])) continue;  // only at the start of a word or number
      const auto hit = detector == Detector::kNationalId ? NationalIdAt(text, i) : PhoneAt(text, i);
      if (hit && !overlaps(*hit)) {
        found.push_back(*hit);
        i = hit->end - 1;
      }
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
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
