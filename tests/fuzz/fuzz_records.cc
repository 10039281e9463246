// Fuzzes the parsers of untrusted record input: strict JSON (duplicate keys, depth, UTF-8), then
// the collection-definition and schema-evolution parsers, and every field type's validation and
// index normalisation on whatever values the input holds; and the input as a document's
// Content-Type; and the raw input through the card-number scanner, whose every find must be a
// Luhn-valid number of a known scheme. Nothing may crash, hang or leak, and a value that
// validates must normalise.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "strongroom/base/card_numbers.h"
#include "strongroom/base/media_type.h"
#include "strongroom/privacy/detectors.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/schema.h"

using namespace strongroom::records;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (strongroom::IsMediaType(text) && (text.size() > strongroom::kMaxMediaTypeLength ||
                                        text.find_first_of("\r\n") != std::string_view::npos)) {
    __builtin_trap();  // a stored type must never be able to split a response header
  }
  std::size_t previous_end = 0;
  const auto cards = strongroom::FindCardNumbers(text);
  for (const auto& card : cards) {
    if (card.begin < previous_end || card.end > text.size() || card.begin >= card.end) {
      __builtin_trap();
    }
    std::string digits;
    for (char c : text.substr(card.begin, card.end - card.begin)) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    if (!strongroom::LuhnValid(digits) || !strongroom::KnownCardScheme(digits)) __builtin_trap();
    previous_end = card.end;
  }
  if (strongroom::ContainsCardNumber(text) != !cards.empty()) __builtin_trap();
  // Free-text detectors: findings in order, inside the text, not overlapping; masking works on
  // any of them.
  const auto findings = strongroom::privacy::FindPersonalData(text, 0b111);
  previous_end = 0;
  for (const auto& f : findings) {
    if (f.begin < previous_end || f.end > text.size() || f.begin >= f.end) __builtin_trap();
    previous_end = f.end;
  }
  (void)strongroom::privacy::MaskFindings(text, findings);
  auto parsed = ParseStrictJson(text);
  if (!parsed) return 0;
  auto schema = ParseCollectionDefinition(*parsed);
  if (schema) {
    (void)SchemaFromJson(SchemaToJson(*schema));
    (void)EvolveSchema(*schema, *parsed);
  }
  constexpr FieldType kTypes[] = {FieldType::kString,  FieldType::kInteger,    FieldType::kNumber,
                                  FieldType::kBoolean, FieldType::kDate,       FieldType::kDatetime,
                                  FieldType::kEmail,   FieldType::kPhone,      FieldType::kName,
                                  FieldType::kAddress, FieldType::kNationalId, FieldType::kJson};
  const auto check = [&](const boost::json::value& value) {
    for (FieldType type : kTypes) {
      FieldSpec field{.name = "f", .type = type, .max_length = 4096};
      if (ValidateFieldValue(field, value, "$")) (void)NormalizeForIndex(field, value);
    }
  };
  check(*parsed);
  if (parsed->is_object()) {
    for (const auto& [key, value] : parsed->get_object()) check(value);
  } else if (parsed->is_array()) {
    for (const auto& value : parsed->get_array()) check(value);
  }
  return 0;
}
