#pragma once
// Collections' schemas: each field's semantic type (with its validation and its normalisation for
// blind indexes), whether it is required or indexed, and its classification (grade + category),
// which later layers use for policy, masking, retention and log redaction.
//
// Definitions arrive as JSON (POST /v1/collections) and are stored as JSON in the metadata store;
// both use the same shape (docs/api/openapi.yaml, CollectionDefinition). Every error is
// invalid_argument with the JSON path of the offending value and the rule it broke. Schema is a
// plain value, immutable once built (evolution makes a new version); thread-safe to share.

#include <array>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/privacy/detectors.h"

namespace strongroom::records {

enum class FieldType {
  kString,
  kInteger,
  kNumber,
  kBoolean,
  kDate,
  kDatetime,
  kEmail,
  kPhone,
  kName,
  kAddress,
  kNationalId,
  kJson,
};
enum class Grade { kPublic, kInternal, kConfidential, kRestricted };
enum class Category {
  kContact,
  kIdentity,
  kHealth,
  kFinancial,
  kLocation,
  kBiometric,
  kBehavioural,
  kDemographic,
  kCredential,
  kOther,
};

std::string_view FieldTypeName(FieldType type);
std::string_view GradeName(Grade grade);
std::string_view CategoryName(Category category);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  bool required = false;
  bool indexed = false;
  Grade grade = Grade::kConfidential;
  Category category = Category::kOther;
  std::size_t max_length = 0;  // characters for text types, serialised bytes for json
  bool deprecated = false;
  std::uint32_t added_in = 1;  // schema version that introduced the field
};

// What a write does when a free-text detector (privacy/detectors.h) finds personal data in a
// field of type "string": nothing, refuse it (400), mask what was found, or store it and flag it.
enum class DetectorAction : std::uint8_t { kNone, kRefuse, kMask, kFlag };
std::string_view DetectorActionName(DetectorAction action);

struct Schema {
  std::string collection;
  std::uint32_t version = 1;
  std::vector<FieldSpec> fields;
  // By privacy::Detector: {"email": "mask", "phone": "flag", "national_id": "refuse"}.
  std::array<DetectorAction, privacy::kDetectorCount> detectors{};
  std::string created_at;
  std::string updated_at;

  const FieldSpec* Find(std::string_view name) const;
};

inline constexpr std::size_t kMaxFieldsPerCollection = 256;

// Names of collections and fields: [a-z][a-z0-9_]{0,62}.
bool IsValidName(std::string_view name);

// {"name": "...", "fields": [FieldDefinition, ...]} from POST /v1/collections.
Result<Schema> ParseCollectionDefinition(const boost::json::value& body);
// {"add_fields": [FieldDefinition...], "deprecate_fields": ["name"...]}: a new version.
Result<Schema> EvolveSchema(const Schema& current, const boost::json::value& patch);
boost::json::object SchemaToJson(const Schema& schema);
// The stored form (as SchemaToJson wrote it); data_loss if it does not parse.
Result<Schema> SchemaFromJson(const boost::json::value& stored);

// Checks one value against its field's rules; `path` names it in errors ("$.fields.email").
// A value holding a payment card number anywhere (strings, object keys, integers, nested in
// arrays and objects) fails first, with card_data_refused at the innermost path.
Result<void> ValidateFieldValue(const FieldSpec& field, const boost::json::value& value,
                                const std::string& path);
// card_data_refused naming the innermost path if `value` holds a card number anywhere.
Result<void> RefuseCardNumbers(const boost::json::value& value, const std::string& path);
// Runs the collection's free-text detectors over `fields` (a record's, or an update's changes),
// field by field in the schema's string fields: invalid_argument at "$.fields.<name>" (rule
// "contains_<detector>") for a refusing one; masks in place for a masking one; names flagged
// fields and what was found in `flags` ({"notes": ["email"]}) for a flagging one.
Result<void> ApplyDetectors(const Schema& schema, boost::json::object& fields,
                            boost::json::object& flags);
// The canonical text of a *valid* value for its blind index: emails lower-cased, phone numbers
// as +digits, national ids upper-cased without separators, names lower-cased with single spaces.
std::string NormalizeForIndex(const FieldSpec& field, const boost::json::value& value);

}  // namespace strongroom::records
