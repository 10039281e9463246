#include "strongroom/records/schema.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "strongroom/records/json_input.h"

namespace strongroom::records {
namespace {

boost::json::value J(std::string_view text) {
  auto parsed = ParseStrictJson(text);
  EXPECT_TRUE(parsed) << text;
  return parsed ? *parsed : boost::json::value();
}

void ExpectRefused(const Result<Schema>& result, std::string_view path, std::string_view rule) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().path(), path);
  EXPECT_EQ(result.error().rule(), rule);
}

constexpr std::string_view kPatients = R"({"name":"patients","fields":[
  {"name":"email","type":"email","required":true,"indexed":true,
   "classification":{"grade":"confidential","category":"contact"}},
  {"name":"diagnosis","type":"string","max_length":20,
   "classification":{"grade":"restricted","category":"health"}}]})";

TEST(SchemaTest, ParsesADefinitionAndRoundTripsItsStoredForm) {
  auto schema = ParseCollectionDefinition(J(kPatients));
  ASSERT_TRUE(schema) << schema.error().message();
  ASSERT_EQ(schema->fields.size(), 2u);
  EXPECT_EQ(schema->fields[0].type, FieldType::kEmail);
  EXPECT_TRUE(schema->fields[0].indexed);
  EXPECT_EQ(schema->fields[1].grade, Grade::kRestricted);
  EXPECT_EQ(schema->fields[1].category, Category::kHealth);
  EXPECT_EQ(schema->fields[1].max_length, 20u);
  auto again = SchemaFromJson(SchemaToJson(*schema));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->fields[1].max_length, 20u);
  EXPECT_EQ(again->fields[0].category, Category::kContact);
}

TEST(SchemaTest, DefinitionErrorsNameThePathAndRule) {
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"Bad Name","fields":[]})")), "$.name",
                "pattern");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"p","fields":[]})")), "$.fields",
                "min_items");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"p","fields":[{"name":"a","type":"blob",
      "classification":{"grade":"public","category":"other"}}]})")),
                "$.fields[0].type", "enum");
  ExpectRefused(
      ParseCollectionDefinition(J(R"({"name":"p","fields":[{"name":"a","type":"string"}]})")),
      "$.fields[0].classification", "required");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"p","fields":[{"name":"a","type":"string",
      "classification":{"grade":"secret","category":"other"}}]})")),
                "$.fields[0].classification.grade", "enum");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"p","fields":[{"name":"a","type":"json",
      "indexed":true,"classification":{"grade":"public","category":"other"}}]})")),
                "$.fields[0].indexed", "not_indexable");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"p","fields":[{"name":"a","type":"string",
      "classification":{"grade":"public","category":"other"}},{"name":"a","type":"string",
      "classification":{"grade":"public","category":"other"}}]})")),
                "$.fields[1].name", "unique");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"p","extra":1,"fields":[]})")), "$.extra",
                "unknown_field");
}

TEST(SchemaTest, EvolutionAddsOptionalFieldsAndDeprecates) {
  auto v1 = ParseCollectionDefinition(J(kPatients));
  ASSERT_TRUE(v1);
  auto v2 = EvolveSchema(*v1, J(R"({"add_fields":[{"name":"phone","type":"phone",
      "classification":{"grade":"confidential","category":"contact"}}],
      "deprecate_fields":["diagnosis"]})"));
  ASSERT_TRUE(v2) << v2.error().message();
  EXPECT_EQ(v2->version, 2u);
  EXPECT_EQ(v2->Find("phone")->added_in, 2u);
  EXPECT_TRUE(v2->Find("diagnosis")->deprecated);
  ExpectRefused(EvolveSchema(*v1, J(R"({"add_fields":[{"name":"x","type":"string","required":true,
      "classification":{"grade":"public","category":"other"}}]})")),
                "$.add_fields[0].required", "evolution");
  ExpectRefused(EvolveSchema(*v1, J(R"({"deprecate_fields":["email"]})")), "$.deprecate_fields[0]",
                "evolution");
  ExpectRefused(EvolveSchema(*v1, J(R"({"deprecate_fields":["nope"]})")), "$.deprecate_fields[0]",
                "unknown_field");
  ExpectRefused(EvolveSchema(*v1, J(R"({})")), "$", "no_change");
}

struct Case {
  FieldType type;
  std::string_view json;
  std::string_view rule;  // empty: valid
};

TEST(SchemaTest, EveryTypeValidatesItsValues) {
  const Case cases[] = {
      {FieldType::kString, R"("hello\nworld")", ""},
      {FieldType::kString, "42", "type"},
      {FieldType::kString, R"("bell\u0007")", "format"},
      {FieldType::kInteger, "-42", ""},
      {FieldType::kInteger, "4.5", "type"},
      {FieldType::kInteger, "18446744073709551615", "range"},
      {FieldType::kInteger, R"("42")", "type"},
      {FieldType::kNumber, "4.5", ""},
      {FieldType::kBoolean, "true", ""},
      {FieldType::kBoolean, "1", "type"},
      {FieldType::kDate, R"("2024-02-29")", ""},
      {FieldType::kDate, R"("2023-02-29")", "format"},
      {FieldType::kDate, R"("2024-13-01")", "format"},
      {FieldType::kDatetime, R"("2026-11-22T10:00:00Z")", ""},
      {FieldType::kDatetime, R"("2026-11-22T10:00:00.123+05:30")", ""},
      {FieldType::kDatetime, R"("2026-11-22 10:00:00")", "format"},
      {FieldType::kEmail, R"("Alice.Smith@Example.COM")", ""},
      {FieldType::kEmail, R"("alice@")", "format"},
      {FieldType::kEmail, R"("a@b@c.d")", "format"},
      {FieldType::kEmail, R"("alice@localhost")", "format"},
      {FieldType::kEmail, R"("al ice@example.com")", "format"},
      {FieldType::kPhone, R"("+44 20 7946-0958")", ""},
      {FieldType::kPhone, R"("020 7946 0958")", "format"},
      {FieldType::kPhone, R"("+1 (555) CALL-NOW")", "format"},
      {FieldType::kName, R"("Zoë O'Brien")", ""},
      {FieldType::kName, R"("")", "min_length"},
      {FieldType::kName, R"("two\nlines")", "format"},
      {FieldType::kNationalId, R"("AB 12-34-56 C")", ""},
      {FieldType::kNationalId, R"("12/34")", "format"},
      {FieldType::kJson, R"({"any":[1,2]})", ""},
  };
  for (const auto& c : cases) {
    FieldSpec field{.name = "f", .type = c.type, .max_length = 256};
    if (c.type == FieldType::kJson) field.max_length = 65536;
    auto result = ValidateFieldValue(field, J(c.json), "$.fields.f");
    if (c.rule.empty()) {
      EXPECT_TRUE(result) << FieldTypeName(c.type) << " " << c.json << ": "
                          << result.error().message();
    } else {
      ASSERT_FALSE(result) << FieldTypeName(c.type) << " " << c.json;
      EXPECT_EQ(result.error().rule(), c.rule) << FieldTypeName(c.type) << " " << c.json;
      EXPECT_EQ(result.error().path(), "$.fields.f");
      // The message says what is wrong, never the value.
      EXPECT_EQ(result.error().message().find(std::string(c.json)), std::string::npos);
    }
  }
}

TEST(SchemaTest, CardNumbersAreRefusedAtTheInnermostPathWhateverTheType) {
  struct CardCase {
    FieldType type;
    std::string_view json;
    std::string_view path;  // "" = accepted
  };
  const CardCase cases[] = {
      {FieldType::kString, R"("4111 1111 1111 1111")", "$.fields.f"},
      {FieldType::kString, R"("call me, card 4111-1111-1111-1111 exp 12/27")", "$.fields.f"},
      {FieldType::kName, R"("5555555555554444")", "$.fields.f"},
      {FieldType::kInteger, "4111111111111111", "$.fields.f"},
      {FieldType::kNumber, "4111111111111111.0", "$.fields.f"},
      {FieldType::kJson, R"({"n":4.111111111111111e15})", "$.fields.f.n"},
      {FieldType::kJson, R"({"pay":[1,{"card":"4111111111111111"}]})", "$.fields.f.pay[1].card"},
      {FieldType::kJson, R"([["x"],["378282246310005"]])", "$.fields.f[1][0]"},
      {FieldType::kJson, R"({"a":{"4111111111111111":true}})", "$.fields.f.a"},
      {FieldType::kString, R"("order 4111111111111112")", ""},  // fails Luhn
      {FieldType::kInteger, "4111111111111112", ""},
      {FieldType::kPhone, R"("+44 20 7946 0958")", ""},
      {FieldType::kJson, R"({"order_ids":[1234567890123,"9876543210987654"]})", ""},
  };
  for (const auto& c : cases) {
    FieldSpec field{.name = "f", .type = c.type, .max_length = 256};
    auto result = ValidateFieldValue(field, J(c.json), "$.fields.f");
    if (c.path.empty()) {
      EXPECT_TRUE(result) << c.json << ": " << result.error().message();
      continue;
    }
    ASSERT_FALSE(result) << c.json;
    EXPECT_EQ(result.error().code(), ErrorCode::kCardDataRefused) << c.json;
    EXPECT_EQ(result.error().rule(), "card_number") << c.json;
    EXPECT_EQ(result.error().path(), c.path) << c.json;
    EXPECT_EQ(result.error().message().find("4111"), std::string::npos);
  }
}

TEST(SchemaTest, MaxLengthCountsCharactersNotBytes) {
  FieldSpec field{.name = "f", .type = FieldType::kString, .max_length = 3};
  EXPECT_TRUE(ValidateFieldValue(field, J(R"("äöü")"), "$"));
  auto too_long = ValidateFieldValue(field, J(R"("äöüß")"), "$");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().rule(), "max_length");
}

TEST(SchemaTest, IndexNormalisationPerType) {
  auto norm = [](FieldType type, std::string_view json) {
    return NormalizeForIndex(FieldSpec{.name = "f", .type = type}, J(json));
  };
  EXPECT_EQ(norm(FieldType::kEmail, R"("Alice.Smith@Example.COM")"), "alice.smith@example.com");
  EXPECT_EQ(norm(FieldType::kPhone, R"("+44 (20) 7946-0958")"), "+442079460958");
  EXPECT_EQ(norm(FieldType::kNationalId, R"("ab 12-34-56 c")"), "AB123456C");
  EXPECT_EQ(norm(FieldType::kName, R"("  Jane   DOE ")"), "jane doe");
  EXPECT_EQ(norm(FieldType::kString, R"("Exact Case")"), "Exact Case");
  EXPECT_EQ(norm(FieldType::kInteger, "-7"), "-7");
}

TEST(SchemaTest, FreeTextDetectorsRefuseMaskOrFlagPerCollection) {
  auto schema = ParseCollectionDefinition(J(R"({"name":"tickets","fields":[
      {"name":"notes","type":"string","classification":{"grade":"internal","category":"other"}},
      {"name":"contact","type":"email","classification":{"grade":"confidential",
       "category":"contact"}}],
    "detectors":{"email":"mask","phone":"flag","national_id":"refuse"}})"));
  ASSERT_TRUE(schema) << schema.error().message();
  EXPECT_EQ(schema->detectors[0], DetectorAction::kMask);
  auto again = SchemaFromJson(SchemaToJson(*schema));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->detectors, schema->detectors);

  boost::json::object fields{{"notes", "Mail jane.doe@example.com or ring 07700 900123."},
                             {"contact", "jane.doe@example.com"}};
  boost::json::object flags;
  ASSERT_TRUE(ApplyDetectors(*schema, fields, flags));
  // Free text only: the email field keeps its email; the note's is masked, its phone flagged.
  EXPECT_EQ(fields.at("notes").as_string(), "Mail j***@example.com or ring 07700 900123.");
  EXPECT_EQ(fields.at("contact").as_string(), "jane.doe@example.com");
  EXPECT_EQ(boost::json::serialize(flags), R"({"notes":["phone"]})");

  boost::json::object refused{{"notes", "SSN 078-05-1120"}};
  auto result = ApplyDetectors(*schema, refused, flags);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().path(), "$.fields.notes");
  EXPECT_EQ(result.error().rule(), "contains_national_id");
  EXPECT_EQ(result.error().message().find("078"), std::string::npos);

  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"t","fields":[{"name":"n","type":"string",
      "classification":{"grade":"internal","category":"other"}}],
      "detectors":{"iban":"mask"}})")),
                "$.detectors.iban", "unknown_detector");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"t","fields":[{"name":"n","type":"string",
      "classification":{"grade":"internal","category":"other"}}],
      "detectors":{"email":"hide"}})")),
                "$.detectors.email", "enum");
  ExpectRefused(ParseCollectionDefinition(J(R"({"name":"t","fields":[{"name":"n","type":"string",
      "classification":{"grade":"internal","category":"other"}}],"detectors":[]})")),
                "$.detectors", "type");
  // Evolution changes them (and only a change is a new version).
  auto evolved = EvolveSchema(*schema, J(R"({"detectors":{"email":"refuse"}})"));
  ASSERT_TRUE(evolved);
  EXPECT_EQ(evolved->detectors[0], DetectorAction::kRefuse);
  EXPECT_EQ(evolved->detectors[1], DetectorAction::kNone);
  ExpectRefused(EvolveSchema(*evolved, J(R"({"detectors":{"email":"refuse"}})")), "$", "no_change");
}

}  // namespace
}  // namespace strongroom::records
