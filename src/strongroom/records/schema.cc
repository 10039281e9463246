#include "strongroom/records/schema.h"

#include <array>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "strongroom/base/card_numbers.h"
#include "strongroom/records/json_input.h"

namespace strongroom::records {
namespace {

struct TypeInfo {
  FieldType type;
  std::string_view name;
  std::size_t default_max_length;
  bool indexable;
};

constexpr std::array<TypeInfo, 12> kTypes{{
    {FieldType::kString, "string", 1024, true},
    {FieldType::kInteger, "integer", 0, true},
    {FieldType::kNumber, "number", 0, false},
    {FieldType::kBoolean, "boolean", 0, true},
    {FieldType::kDate, "date", 0, true},
    {FieldType::kDatetime, "datetime", 0, true},
    {FieldType::kEmail, "email", 254, true},
    {FieldType::kPhone, "phone", 32, true},
    {FieldType::kName, "name", 256, true},
    {FieldType::kAddress, "address", 1024, true},
    {FieldType::kNationalId, "national_id", 64, true},
    {FieldType::kJson, "json", 65536, false},
}};

constexpr std::array<std::string_view, 4> kGrades{"public", "internal", "confidential",
                                                  "restricted"};
constexpr std::array<std::string_view, 10> kCategories{
    "contact",   "identity",    "health",      "financial",  "location",
    "biometric", "behavioural", "demographic", "credential", "other"};

constexpr std::size_t kMaxConfigurableLength = 1 << 20;

const TypeInfo& InfoOf(FieldType type) { return kTypes[static_cast<std::size_t>(type)]; }

template <std::size_t N>
std::string OneOf(const std::array<std::string_view, N>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string TypeNames() {
  std::string out;
  for (const auto& t : kTypes) {
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

// Code points in valid UTF-8 (Boost.JSON has already refused invalid UTF-8).
std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool HasControl(std::string_view s, bool allow_newlines) {
  for (unsigned char c : s) {
    if (c == 0x7F) return true;
    if (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))) return true;
  }
  return false;
}

bool Digits(std::string_view s, std::size_t from, std::size_t n) {
  if (from + n > s.size()) return false;
  for (std::size_t i = from; i < from + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int Number(std::string_view s, std::size_t from, std::size_t n) {
  int v = 0;
  for (std::size_t i = from; i < from + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

bool ValidDate(std::string_view s) {
  if (s.size() != 10 || !Digits(s, 0, 4) || s[4] != '-' || !Digits(s, 5, 2) || s[7] != '-' ||
      !Digits(s, 8, 2)) {
    return false;
  }
  const int year = Number(s, 0, 4), month = Number(s, 5, 2), day = Number(s, 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int max_day = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= max_day;
}

// RFC 3339 date-time: 2026-11-22T10:00:00Z, with optional fraction and a numeric offset.
bool ValidDatetime(std::string_view s) {
  if (s.size() < 20 || !ValidDate(s.substr(0, 10)) || (s[10] != 'T' && s[10] != 't')) return false;
  if (!Digits(s, 11, 2) || s[13] != ':' || !Digits(s, 14, 2) || s[16] != ':' || !Digits(s, 17, 2)) {
    return false;
  }
  if (Number(s, 11, 2) > 23 || Number(s, 14, 2) > 59 || Number(s, 17, 2) > 60) return false;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    const std::size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start || i - start > 9) return false;
  }
  const std::string_view zone = s.substr(i);
  if (zone == "Z" || zone == "z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && Digits(zone, 1, 2) &&
         zone[3] == ':' && Digits(zone, 4, 2) && Number(zone, 1, 2) <= 23 &&
         Number(zone, 4, 2) <= 59;
}

bool ValidEmail(std::string_view s) {
  const auto at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || s.find('@') != at) return false;
  const std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  for (unsigned char c : local) {
    if (c <= 0x20 || c == 0x7F || c == '(' || c == ')' || c == ',' || c == ':' || c == ';' ||
        c == '<' || c == '>' || c == '[' || c == ']' || c == '\\' || c == '"') {
      return false;
    }
  }
  if (domain.empty() || domain.size() > 253 || domain.find('.') == std::string_view::npos) {
    return false;
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i <= domain.size(); ++i) {
    if (i == domain.size() || domain[i] == '.') {
      if (label == 0 || label > 63 || domain[i - 1] == '-' || domain[i - label] == '-')
        return false;
      label = 0;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(domain[i]);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c >= 0x80;  // internationalised domains in UTF-8
    if (!ok) return false;
    ++label;
  }
  return true;
}

// E.164 after removing the separators people type: "+44 20 7946-0958" -> "+442079460958".
std::optional<std::string> CanonicalPhone(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 0 && c == '+') {
      out.push_back('+');
    } else if (c >= '0' && c <= '9') {
      out.push_back(c);
    } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
      return std::nullopt;
    }
  }
  if (out.size() < 9 || out.size() > 16 || out[0] != '+' || out[1] == '0') return std::nullopt;
  return out;
}

std::string CanonicalNationalId(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-') continue;
    out.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return out;
}

bool ValidNationalId(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ' ' || c == '-';
    if (!ok) return false;
  }
  return !CanonicalNationalId(s).empty();
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<const boost::json::object*> ObjectAt(const boost::json::value& v, const std::string& path) {
  if (!v.is_object()) return FailAt(path, "type", "must be an object");
  return &v.get_object();
}

Result<std::string_view> StringAt(const boost::json::object& o, std::string_view key,
                                  const std::string& path, bool required) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    if (required) return FailAt(JsonPathKey(path, key), "required", "is required");
    return std::string_view();
  }
  if (!v->is_string()) return FailAt(JsonPathKey(path, key), "type", "must be a string");
  return std::string_view(v->get_string());
}

Result<bool> BoolAt(const boost::json::object& o, std::string_view key, const std::string& path) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return false;
  if (!v->is_bool()) return FailAt(JsonPathKey(path, key), "type", "must be true or false");
  return v->get_bool();
}

template <typename Enum, std::size_t N>
Result<Enum> EnumAt(const boost::json::object& o, std::string_view key, const std::string& path,
                    const std::array<std::string_view, N>& names) {
  auto text = StringAt(o, key, path, true);
  if (!text) return std::unexpected(text.error());
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == *text) return static_cast<Enum>(i);
  }
  return FailAt(JsonPathKey(path, key), "enum", "must be one of: " + OneOf(names));
}

Result<FieldSpec> ParseField(const boost::json::value& v, const std::string& path,
                             std::uint32_t version) {
  auto o = ObjectAt(v, path);
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(
          **o, {"name", "type", "required", "indexed", "classification", "max_length"}, path);
      !only) {
    return std::unexpected(only.error());
  }
  FieldSpec field;
  field.added_in = version;
  auto name = StringAt(**o, "name", path, true);
  if (!name) return std::unexpected(name.error());
  if (!IsValidName(*name)) {
    return FailAt(JsonPathKey(path, "name"), "pattern", "must match [a-z][a-z0-9_]{0,62}");
  }
  field.name = std::string(*name);
  auto type = StringAt(**o, "type", path, true);
  if (!type) return std::unexpected(type.error());
  bool found = false;
  for (const auto& t : kTypes) {
    if (t.name == *type) {
      field.type = t.type;
      found = true;
    }
  }
  if (!found) return FailAt(JsonPathKey(path, "type"), "enum", "must be one of: " + TypeNames());
  auto required = BoolAt(**o, "required", path);
  if (!required) return std::unexpected(required.error());
  field.required = *required;
  auto indexed = BoolAt(**o, "indexed", path);
  if (!indexed) return std::unexpected(indexed.error());
  field.indexed = *indexed;
  if (field.indexed && !InfoOf(field.type).indexable) {
    return FailAt(JsonPathKey(path, "indexed"), "not_indexable",
                  "fields of type " + std::string(*type) + " cannot be indexed");
  }
  const std::string classification_path = JsonPathKey(path, "classification");
  const auto* classification = (*o)->if_contains("classification");
  if (classification == nullptr) {
    return FailAt(classification_path, "required",
                  "is required: every field is classified (grade and category)");
  }
  auto c = ObjectAt(*classification, classification_path);
  if (!c) return std::unexpected(c.error());
  if (auto only = RefuseUnknownMembers(**c, {"grade", "category"}, classification_path); !only) {
    return std::unexpected(only.error());
  }
  auto grade = EnumAt<Grade>(**c, "grade", classification_path, kGrades);
  if (!grade) return std::unexpected(grade.error());
  field.grade = *grade;
  auto category = EnumAt<Category>(**c, "category", classification_path, kCategories);
  if (!category) return std::unexpected(category.error());
  field.category = *category;
  field.max_length = InfoOf(field.type).default_max_length;
  if (const auto* max = (*o)->if_contains("max_length")) {
    const std::string max_path = JsonPathKey(path, "max_length");
    if (field.max_length == 0) {
      return FailAt(max_path, "not_applicable", "applies only to text and json fields");
    }
    if (!max->is_int64() || max->get_int64() < 1 ||
        max->get_int64() > static_cast<std::int64_t>(kMaxConfigurableLength)) {
      return FailAt(max_path, "range", "must be an integer from 1 to 1048576");
    }
    field.max_length = static_cast<std::size_t>(max->get_int64());
  }
  return field;
}

Result<void> AddFields(Schema& schema, const boost::json::value& list, const std::string& path,
                       bool evolving) {
  if (!list.is_array()) return FailAt(path, "type", "must be an array");
  const auto& fields = list.get_array();
  if (!evolving && fields.empty()) return FailAt(path, "min_items", "needs at least one field");
  if (schema.fields.size() + fields.size() > kMaxFieldsPerCollection) {
    return FailAt(path, "max_items", "a collection has at most 256 fields");
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::string item_path = JsonPathIndex(path, i);
    auto field = ParseField(fields[i], item_path, schema.version);
    if (!field) return std::unexpected(field.error());
    if (schema.Find(field->name) != nullptr) {
      return FailAt(JsonPathKey(item_path, "name"), "unique", "a field with this name exists");
    }
    if (evolving && field->required) {
      return FailAt(JsonPathKey(item_path, "required"), "evolution",
                    "a field added to an existing collection cannot be required: records "
                    "written before it have no value");
    }
    schema.fields.push_back(std::move(*field));
  }
  return {};
}

}  // namespace

std::string_view FieldTypeName(FieldType type) { return InfoOf(type).name; }
std::string_view GradeName(Grade grade) { return kGrades[static_cast<std::size_t>(grade)]; }
std::string_view CategoryName(Category category) {
  return kCategories[static_cast<std::size_t>(category)];
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

const FieldSpec* Schema::Find(std::string_view name) const {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

namespace {

constexpr std::array<std::string_view, 4> kDetectorActions = {"none", "refuse", "mask", "flag"};

// {"email": "mask", …}: every detector named once, with an action.
Result<void> ParseDetectors(Schema& schema, const boost::json::value& value,
                            const std::string& path) {
  if (!value.is_object()) return FailAt(path, "type", "must be an object");
  schema.detectors = {};
  for (const auto& [name, action] : value.get_object()) {
    const std::string at = JsonPathKey(path, name);
    const auto detector = privacy::DetectorFromName(name);
    if (!detector) {
      return FailAt(at, "unknown_detector", "is not a detector (email, phone, national_id)");
    }
    const auto* text = action.if_string();
    const auto found = text == nullptr
                           ? kDetectorActions.end()
                           : std::find(kDetectorActions.begin(), kDetectorActions.end(), *text);
    if (found == kDetectorActions.end()) {
      return FailAt(at, "enum", "must be \"refuse\", \"mask\", \"flag\" or \"none\"");
    }
    schema.detectors[static_cast<std::size_t>(*detector)] =
        static_cast<DetectorAction>(found - kDetectorActions.begin());
  }
  return {};
}

}  // namespace

std::string_view DetectorActionName(DetectorAction action) {
  return kDetectorActions[static_cast<std::size_t>(action)];
}

Result<void> ApplyDetectors(const Schema& schema, boost::json::object& fields,
                            boost::json::object& flags) {
  std::uint32_t wanted = 0;
  for (std::size_t d = 0; d < schema.detectors.size(); ++d) {
    if (schema.detectors[d] != DetectorAction::kNone) wanted |= 1u << d;
  }
  if (wanted == 0) return {};
  for (auto& [name, value] : fields) {
    const FieldSpec* spec = schema.Find(name);
    if (spec == nullptr || spec->type != FieldType::kString || !value.is_string()) continue;
    const std::string_view text = value.get_string();
    std::vector<privacy::Finding> to_mask;
    boost::json::array flagged;
    for (const auto& finding : privacy::FindPersonalData(text, wanted)) {
      const auto detector = privacy::DetectorName(finding.detector);
      switch (schema.detectors[static_cast<std::size_t>(finding.detector)]) {
        case DetectorAction::kRefuse:
          // The message names what kind was found, never what.
          return FailAt(JsonPathKey("$.fields", name), "contains_" + std::string(detector),
                        "holds " +
                            std::string(detector == "email"   ? "an email address"
                                        : detector == "phone" ? "a phone number"
                                                              : "a national identifier") +
                            ", which this collection refuses in free text");
        case DetectorAction::kMask:
          to_mask.push_back(finding);
          break;
        case DetectorAction::kFlag:
          if (std::find(flagged.begin(), flagged.end(), boost::json::value(detector)) ==
              flagged.end()) {
            flagged.emplace_back(detector);
          }
          break;
        case DetectorAction::kNone:
          break;
      }
    }
    if (!flagged.empty()) flags[name] = std::move(flagged);
    if (!to_mask.empty()) value = privacy::MaskFindings(text, to_mask);
  }
  return {};
}

Result<Schema> ParseCollectionDefinition(const boost::json::value& body) {
  auto o = ObjectAt(body, "$");
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"name", "fields", "detectors"}, "$"); !only)
    return std::unexpected(only.error());
  Schema schema;
  auto name = StringAt(**o, "name", "$", true);
  if (!name) return std::unexpected(name.error());
  if (!IsValidName(*name)) return FailAt("$.name", "pattern", "must match [a-z][a-z0-9_]{0,62}");
  schema.collection = std::string(*name);
  const auto* fields = (*o)->if_contains("fields");
  if (fields == nullptr) return FailAt("$.fields", "required", "is required");
  if (auto added = AddFields(schema, *fields, "$.fields", false); !added) {
    return std::unexpected(added.error());
  }
  if (const auto* detectors = (*o)->if_contains("detectors")) {
    if (auto parsed = ParseDetectors(schema, *detectors, "$.detectors"); !parsed) {
      return std::unexpected(parsed.error());
    }
  }
  return schema;
}

Result<Schema> EvolveSchema(const Schema& current, const boost::json::value& patch) {
  auto o = ObjectAt(patch, "$");
  if (!o) return std::unexpected(o.error());
  if (auto only = RefuseUnknownMembers(**o, {"add_fields", "deprecate_fields", "detectors"}, "$");
      !only) {
    return std::unexpected(only.error());
  }
  Schema next = current;
  next.version = current.version + 1;
  bool changed = false;
  if (const auto* add = (*o)->if_contains("add_fields")) {
    const std::size_t before = next.fields.size();
    if (auto added = AddFields(next, *add, "$.add_fields", true); !added) {
      return std::unexpected(added.error());
    }
    changed = changed || next.fields.size() != before;
  }
  if (const auto* deprecate = (*o)->if_contains("deprecate_fields")) {
    if (!deprecate->is_array()) return FailAt("$.deprecate_fields", "type", "must be an array");
    const auto& names = deprecate->get_array();
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string path = JsonPathIndex("$.deprecate_fields", i);
      if (!names[i].is_string()) return FailAt(path, "type", "must be a string");
      FieldSpec* field = nullptr;
      for (auto& f : next.fields) {
        if (f.name == std::string_view(names[i].get_string())) field = &f;
      }
      if (field == nullptr) return FailAt(path, "unknown_field", "no such field in the collection");
      if (field->required) {
        return FailAt(path, "evolution", "a required field cannot be deprecated");
      }
      changed = changed || !field->deprecated;
      field->deprecated = true;
    }
  }
  if (const auto* detectors = (*o)->if_contains("detectors")) {
    if (auto parsed = ParseDetectors(next, *detectors, "$.detectors"); !parsed) {
      return std::unexpected(parsed.error());
    }
    changed = changed || next.detectors != current.detectors;
  }
  if (!changed) return FailAt("$", "no_change", "the patch changes nothing");
  return next;
}

boost::json::object SchemaToJson(const Schema& schema) {
  boost::json::array fields;
  for (const auto& f : schema.fields) {
    boost::json::object field;
    field["name"] = f.name;
    field["type"] = FieldTypeName(f.type);
    field["required"] = f.required;
    field["indexed"] = f.indexed;
    field["classification"] = {{"grade", GradeName(f.grade)},
                               {"category", CategoryName(f.category)}};
    if (f.max_length != 0) field["max_length"] = static_cast<std::int64_t>(f.max_length);
    field["deprecated"] = f.deprecated;
    field["added_in"] = static_cast<std::int64_t>(f.added_in);
    fields.push_back(std::move(field));
  }
  boost::json::object out;
  out["name"] = schema.collection;
  out["version"] = static_cast<std::int64_t>(schema.version);
  out["fields"] = std::move(fields);
  boost::json::object detectors;
  for (std::size_t d = 0; d < schema.detectors.size(); ++d) {
    if (schema.detectors[d] == DetectorAction::kNone) continue;
    detectors[privacy::DetectorName(static_cast<privacy::Detector>(d))] =
        DetectorActionName(schema.detectors[d]);
  }
  out["detectors"] = std::move(detectors);
  out["created_at"] = schema.created_at;
  out["updated_at"] = schema.updated_at;
  return out;
}

Result<Schema> SchemaFromJson(const boost::json::value& stored) {
  // The stored form is ours; any surprise means the metadata was altered.
  auto corrupt = [] { return Fail(ErrorCode::kDataLoss, "stored schema is malformed"); };
  if (!stored.is_object()) return corrupt();
  const auto& o = stored.get_object();
  Schema schema;
  const auto* name = o.if_contains("name");
  const auto* version = o.if_contains("version");
  const auto* fields = o.if_contains("fields");
  if (!name || !name->is_string() || !version || !version->is_int64() || !fields ||
      !fields->is_array()) {
    return corrupt();
  }
  schema.collection = std::string(name->get_string());
  schema.version = static_cast<std::uint32_t>(version->get_int64());
  if (const auto* c = o.if_contains("created_at"); c && c->is_string()) {
    schema.created_at = std::string(c->get_string());
  }
  if (const auto* u = o.if_contains("updated_at"); u && u->is_string()) {
    schema.updated_at = std::string(u->get_string());
  }
  if (const auto* d = o.if_contains("detectors")) {
    if (!ParseDetectors(schema, *d, "$.detectors")) return corrupt();
  }
  for (const auto& item : fields->get_array()) {
    if (!item.is_object()) return corrupt();
    boost::json::object definition = item.get_object();
    const bool deprecated = definition.contains("deprecated") &&
                            definition["deprecated"].is_bool() &&
                            definition["deprecated"].get_bool();
    const auto* added_in = definition.if_contains("added_in");
    const std::uint32_t added =
        added_in && added_in->is_int64() ? static_cast<std::uint32_t>(added_in->get_int64()) : 1;
    definition.erase("deprecated");
    definition.erase("added_in");
    auto field = ParseField(definition, "$", added);
    if (!field) return corrupt();
    field->deprecated = deprecated;
    schema.fields.push_back(std::move(*field));
  }
  return schema;
}

namespace {

// The digits of a JSON number, however it was written (4111111111111111.0 and
// 4.111111111111111e15 are the same card number); empty for a non-integral or huge one.
std::string NumberDigits(const boost::json::value& value) {
  if (value.is_int64()) return std::to_string(value.get_int64());
  if (value.is_uint64()) return std::to_string(value.get_uint64());
  const double d = value.is_double() ? value.get_double() : 0.5;
  if (!std::isfinite(d) || std::fabs(d) >= 1e20 || d != std::trunc(d)) return {};
  char buffer[32];
  (void)std::snprintf(buffer, sizeof buffer, "%.0f", std::fabs(d));
  return buffer;
}

// Whether a card number is anywhere in `value`: the common, clean case builds no paths.
bool HoldsCardNumber(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::string:
      return ContainsCardNumber(value.get_string());
    case boost::json::kind::array:
      for (const auto& item : value.get_array()) {
        if (HoldsCardNumber(item)) return true;
      }
      return false;
    case boost::json::kind::object:
      for (const auto& [key, member] : value.get_object()) {
        if (ContainsCardNumber(key) || HoldsCardNumber(member)) return true;
      }
      return false;
    case boost::json::kind::null:
    case boost::json::kind::bool_:
      return false;
    default:
      return ContainsCardNumber(NumberDigits(value));
  }
}

// The innermost place of the first card number in `value` (which holds one).
std::string CardNumberPath(const boost::json::value& value, const std::string& path) {
  if (value.is_array()) {
    const auto& array = value.get_array();
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (HoldsCardNumber(array[i])) {
        return CardNumberPath(array[i], path + "[" + std::to_string(i) + "]");
      }
    }
  } else if (value.is_object()) {
    for (const auto& [key, member] : value.get_object()) {
      // A key that is a card number is reported at its object: the path must not repeat it.
      if (ContainsCardNumber(key)) return path;
      if (HoldsCardNumber(member)) return CardNumberPath(member, JsonPathKey(path, key));
    }
  }
  return path;
}

}  // namespace

Result<void> RefuseCardNumbers(const boost::json::value& value, const std::string& path) {
  if (!HoldsCardNumber(value)) return {};
  return std::unexpected(
      Error(ErrorCode::kCardDataRefused,
            "holds a payment card number: card data is never stored here (tokenize it with "
            "your payment processor and store the token)")
          .At(CardNumberPath(value, path), "card_number"));
}

Result<void> ValidateFieldValue(const FieldSpec& field, const boost::json::value& value,
                                const std::string& path) {
  // First: a card number is refused whatever the field's type would say of the value.
  if (auto clean = RefuseCardNumbers(value, path); !clean) return clean;
  const auto text_rules = [&](bool allow_newlines) -> Result<std::string_view> {
    if (!value.is_string()) return FailAt(path, "type", "must be a string");
    const std::string_view s = value.get_string();
    if (CodePoints(s) > field.max_length) {
      return FailAt(path, "max_length",
                    "is longer than " + std::to_string(field.max_length) + " characters");
    }
    if (HasControl(s, allow_newlines)) {
      return FailAt(path, "format", "contains control characters");
    }
    return s;
  };
  switch (field.type) {
    case FieldType::kString:
    case FieldType::kAddress: {
      auto s = text_rules(true);
      if (!s) return std::unexpected(s.error());
      return {};
    }
    case FieldType::kName: {
      auto s = text_rules(false);
      if (!s) return std::unexpected(s.error());
      if (s->empty()) return FailAt(path, "min_length", "must not be empty");
      return {};
    }
    case FieldType::kEmail: {
      auto s = text_rules(false);
      if (!s) return std::unexpected(s.error());
      if (!ValidEmail(*s)) return FailAt(path, "format", "is not a valid email address");
      return {};
    }
    case FieldType::kPhone: {
      auto s = text_rules(false);
      if (!s) return std::unexpected(s.error());
      if (!CanonicalPhone(*s)) {
        return FailAt(path, "format",
                      "is not a phone number in international format (+ and 8 to 15 digits)");
      }
      return {};
    }
    case FieldType::kNationalId: {
      auto s = text_rules(false);
      if (!s) return std::unexpected(s.error());
      if (!ValidNationalId(*s)) {
        return FailAt(path, "format", "may hold only letters, digits, spaces and dashes");
      }
      return {};
    }
    case FieldType::kInteger:
      if (value.is_int64()) return {};
      if (value.is_uint64()) return FailAt(path, "range", "is outside the 64-bit integer range");
      return FailAt(path, "type", "must be an integer");
    case FieldType::kNumber:
      if (value.is_int64() || value.is_uint64()) return {};
      if (value.is_double() && std::isfinite(value.get_double())) return {};
      return FailAt(path, "type", "must be a number");
    case FieldType::kBoolean:
      if (value.is_bool()) return {};
      return FailAt(path, "type", "must be true or false");
    case FieldType::kDate:
      if (!value.is_string()) return FailAt(path, "type", "must be a string");
      if (!ValidDate(value.get_string())) {
        return FailAt(path, "format", "is not a calendar date (YYYY-MM-DD)");
      }
      return {};
    case FieldType::kDatetime:
      if (!value.is_string()) return FailAt(path, "type", "must be a string");
      if (!ValidDatetime(value.get_string())) {
        return FailAt(path, "format", "is not an RFC 3339 date-time");
      }
      return {};
    case FieldType::kJson:
      if (boost::json::serialize(value).size() > field.max_length) {
        return FailAt(path, "max_length",
                      "is longer than " + std::to_string(field.max_length) + " bytes as JSON");
      }
      return {};
  }
  return FailAt(path, "type", "has an unknown type");
}

std::string NormalizeForIndex(const FieldSpec& field, const boost::json::value& value) {
  switch (field.type) {
    case FieldType::kEmail:
      return AsciiLower(std::string_view(value.get_string()));
    case FieldType::kPhone:
      return CanonicalPhone(value.get_string()).value_or("");
    case FieldType::kNationalId:
      return CanonicalNationalId(value.get_string());
    case FieldType::kName: {
      std::string out;
      bool space = false;
      for (char c : AsciiLower(std::string_view(value.get_string()))) {
        if (c == ' ') {
          space = !out.empty();
          continue;
        }
        if (space) out.push_back(' ');
        space = false;
        out.push_back(c);
      }
      return out;
    }
    case FieldType::kString:
    case FieldType::kAddress:
    case FieldType::kDate:
    case FieldType::kDatetime:
      return std::string(value.get_string());
    case FieldType::kInteger:
      return std::to_string(value.get_int64());
    case FieldType::kBoolean:
      return value.get_bool() ? "true" : "false";
    case FieldType::kNumber:
    case FieldType::kJson:
      return boost::json::serialize(value);
  }
  return {};
}

}  // namespace strongroom::records
