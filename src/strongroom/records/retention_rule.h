#pragma once
// RetentionRule: how long one kind of a tenant's data is kept, as a [[retention]] table of the
// tenant's policy document states it (docs/privacy.md, "Retention"). policy/policy.cc parses
// and checks it; records/retention.h purges what it lets expire. A plain value type.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/records/schema.h"

namespace strongroom::records {

// What a rule's `collections` may name besides record collections: every record collection,
// the activity events and the documents (the policy's own names for them).
inline constexpr std::string_view kEveryCollection = "*";
inline constexpr std::string_view kActivityData = "@activity";
inline constexpr std::string_view kDocumentsData = "@documents";
inline constexpr std::int64_t kMaxRetentionDays = 36'500;

struct RetentionRule {
  int line = 0;                          // of its [[retention]] header
  std::string name;                      // "retention at line N" when the document gives none
  std::vector<std::string> collections;  // record collections, {"*"}, "@activity", "@documents"
  // Records only: the rule keeps (and lets expire) the records that hold a field of these grades
  // and categories (bit 1 << Grade / Category; 0: any). Neither: every record of its collections.
  std::uint32_t grades = 0;
  std::uint32_t categories = 0;
  // Kept this many days: a record after its last change (updated_at), an activity event after
  // it occurred (occurred_at), a document after its upload (created_at).
  std::int64_t days = 0;
  // Then kept this many days more in the archive (0: deleted at once). Archived data leaves the
  // live spaces (no list, search or index finds it) and is read only for the purpose `legal`
  // (docs/privacy.md, "The archive").
  std::int64_t archive_days = 0;

  // Does it name this record collection ("*" names them all)?
  bool NamesCollection(std::string_view collection) const {
    for (const auto& c : collections) {
      if (c == collection || (c == kEveryCollection && !collection.starts_with('@'))) return true;
    }
    return false;
  }
  bool NarrowsFields() const { return grades != 0 || categories != 0; }
  bool FieldMatches(const FieldSpec& field) const {
    return (grades == 0 || (grades & (1u << static_cast<unsigned>(field.grade))) != 0) &&
           (categories == 0 || (categories & (1u << static_cast<unsigned>(field.category))) != 0);
  }
};

inline std::int64_t TotalDays(const RetentionRule& rule) { return rule.days + rule.archive_days; }

// When data that several rules apply to expires: the shortest wins, at each stage. `live` (the
// rule with the fewest `days`; of equals, the fewest in all) says when the data leaves the live
// spaces; `whole` (the fewest `days + archive_days`; of equals, the fewest `days`) when it is
// deleted, from the archive or, when that time has come already, at once. The data is archived
// in between only when `whole` ends after `live`. -1: no rule applies (kept).
struct RetentionBounds {
  int live = -1;
  int whole = -1;

  void Consider(std::span<const RetentionRule> rules, int i) {
    const auto& r = rules[static_cast<std::size_t>(i)];
    const auto at = [&](int j) -> const RetentionRule& {
      return rules[static_cast<std::size_t>(j)];
    };
    if (live < 0 || r.days < at(live).days ||
        (r.days == at(live).days && TotalDays(r) < TotalDays(at(live)))) {
      live = i;
    }
    if (whole < 0 || TotalDays(r) < TotalDays(at(whole)) ||
        (TotalDays(r) == TotalDays(at(whole)) && r.days < at(whole).days)) {
      whole = i;
    }
  }
  bool Archives(std::span<const RetentionRule> rules) const {
    return live >= 0 && TotalDays(rules[static_cast<std::size_t>(whole)]) >
                            rules[static_cast<std::size_t>(live)].days;
  }
};

// The bounds of the rules naming `data` ("@activity", "@documents").
inline RetentionBounds BoundsNaming(std::span<const RetentionRule> rules, std::string_view data) {
  RetentionBounds bounds;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& names = rules[i].collections;
    if (std::find(names.begin(), names.end(), data) != names.end()) {
      bounds.Consider(rules, static_cast<int>(i));
    }
  }
  return bounds;
}

// The index of the rule with the shortest `days` among those naming `data` ("@activity",
// "@documents"): the one that decides how long that data is kept. -1: none names it.
inline int ShortestRuleNaming(std::span<const RetentionRule> rules, std::string_view data) {
  int shortest = -1;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& names = rules[i].collections;
    if (std::find(names.begin(), names.end(), data) == names.end()) continue;
    if (shortest < 0 || rules[i].days < rules[static_cast<std::size_t>(shortest)].days) {
      shortest = static_cast<int>(i);
    }
  }
  return shortest;
}

}  // namespace strongroom::records
