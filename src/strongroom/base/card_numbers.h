// Finds payment card numbers (primary account numbers, PANs) in text, so that Strongroom can
// refuse to store them (records) and keep them out of its logs (observe). Card data belongs to
// a payment processor: a vault that is not PCI DSS scoped must never hold it (docs/privacy.md).
//
// A candidate is 13 to 19 digits, either in one piece or in groups joined by single spaces or
// dashes ("4111 1111 1111 1111", "4111-1111-1111-1111"): a whole run of such groups, or part of
// a longer run only when laid out as cards print numbers (one piece, 4-4-4-4, 4-4-4-4-3, 4-6-5,
// 4-6-4), so that two phone numbers or a list of dates in a row are not taken for one. The first
// group after a '+' is a phone number's country code, never a card's start. Its issuer prefix
// and length must belong to a card
// scheme (Visa, Mastercard, American Express, Discover, JCB, Diners Club, UnionPay, Maestro,
// Mir) and whose Luhn check digit is right. Order ids, phone numbers and the like fail one of
// those; a random 16-digit number still passes with probability ~1/10 when its prefix matches,
// which is the price of never storing a real one.
//
// Pure functions over the text given; thread-safe. Written by hand: no Debian library offers a
// PAN detector (the checks are a dozen lines, the scheme table is public).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace strongroom {

// Where a card number sits in the text: [begin, end) including any separators.
struct CardNumberSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
};

// Every card number in `text`, in order, not overlapping.
std::vector<CardNumberSpan> FindCardNumbers(std::string_view text);
bool ContainsCardNumber(std::string_view text);

// The Luhn (mod 10) check over a string of ASCII digits (false for anything else or empty).
bool LuhnValid(std::string_view digits);
// Whether a scheme issues cards of this length starting with these digits.
bool KnownCardScheme(std::string_view digits);

}  // namespace strongroom
