#pragma once
// Detectors of personal data in free text (docs/privacy.md, "Free-text detectors"): email
// addresses, phone numbers and national identifiers written into a note, a comment, a
// description. A collection's schema says, per detector, what happens to its free-text fields
// (semantic type "string") when one is found: refuse the write, mask what was found, or flag it.
//
// Written by hand: the patterns are few and narrow, Debian has no library for finding personal
// data in text, and std::regex would cost far more than these linear scans.
//   email        local@domain.tld: local part [A-Za-z0-9._%+-], a domain of labels
//                [A-Za-z0-9-] with a dot and a final label of 2+ letters
//   phone        9 to 15 digits in one run of digits, spaces, dashes and parentheses,
//                optionally after '+', not inside a longer run of letters or digits, not a
//                date (YYYY-MM-DD); a card number is not a phone number (it is refused before,
//                as card data)
//   national_id  a US social security number (ddd-dd-dddd) or a UK National Insurance number
//                (two letters, six digits, a letter A-D; spaces allowed between pairs)
// Masks are the views' (desensitize.h): j***@example.com, digits but the last 4, letters and
// digits but the last 4.
//
// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strongroom::privacy {

enum class Detector : std::uint8_t { kEmail, kPhone, kNationalId };
inline constexpr std::size_t kDetectorCount = 3;
std::string_view DetectorName(Detector detector);  // "email", "phone", "national_id"
std::optional<Detector> DetectorFromName(std::string_view name);

struct Finding {
  Detector detector;
  std::size_t begin = 0;  // [begin, end) in the text
  std::size_t end = 0;
};

// Every finding of the detectors in `which` (bit 1 << Detector), in order, not overlapping.
std::vector<Finding> FindPersonalData(std::string_view text, std::uint32_t which);
// `text` with each finding replaced by its mask.
std::string MaskFindings(std::string_view text, std::span<const Finding> findings);

}  // namespace strongroom::privacy
