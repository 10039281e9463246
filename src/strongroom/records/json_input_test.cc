#include "strongroom/records/json_input.h"

#include <gtest/gtest.h>

namespace strongroom::records {
namespace {

void ExpectRefused(std::string_view text, std::string_view path, std::string_view rule) {
  auto parsed = ParseStrictJson(text);
  ASSERT_FALSE(parsed) << text;
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << text;
  EXPECT_EQ(parsed.error().path(), path) << text;
  EXPECT_EQ(parsed.error().rule(), rule) << text;
}

TEST(StrictJsonTest, AcceptsPlainJson) {
  auto parsed = ParseStrictJson(R"({"a":[1,{"b":"é"}],"c":null})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->at("a").at(1).at("b").as_string(), "é");
}

TEST(StrictJsonTest, DuplicateKeysAreRefusedWithTheirPath) {
  ExpectRefused(R"({"a":1,"a":2})", "$.a", "duplicate_key");
  ExpectRefused(R"({"fields":{"email":"x","email":"y"}})", "$.fields.email", "duplicate_key");
  ExpectRefused(R"({"records":[{"x":1},{"x":1,"x":2}]})", "$.records[1].x", "duplicate_key");
  ExpectRefused(R"({"a b":1,"a b":2})", "$['a b']", "duplicate_key");
  // The same key in sibling objects is fine.
  EXPECT_TRUE(ParseStrictJson(R"([{"a":1},{"a":2}])"));
}

TEST(StrictJsonTest, MalformedInputIsRefused) {
  for (std::string_view bad : {"", "{", R"({"a":1,})", "{\"a\":1} x", "// c\n{}", "[1,]", "{'a':1}",
                               "nul", "{\"a\":\"\x01\"}"}) {
    ExpectRefused(bad, "$", "json");
  }
}

TEST(StrictJsonTest, InvalidUtf8IsRefused) {
  ExpectRefused("{\"a\":\"\xc3\x28\"}", "$", "json");
  ExpectRefused("{\"a\":\"\xed\xa0\x80\"}", "$", "json");  // an encoded surrogate
  ExpectRefused("{\"\xff\":1}", "$", "json");
}

TEST(StrictJsonTest, DepthIsBounded) {
  EXPECT_TRUE(ParseStrictJson(std::string(32, '[') + std::string(32, ']')));
  ExpectRefused(std::string(33, '[') + std::string(33, ']'), "$", "max_depth");
}

TEST(StrictJsonTest, MembersAndItemsAreBounded) {
  const auto object_of = [](int members) {
    std::string text = "{";
    for (int i = 0; i < members; ++i) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
    return text + "}";
  };
  EXPECT_TRUE(ParseStrictJson(object_of(1000)));
  ExpectRefused(object_of(1001), "$", "max_members");
  const auto array_of = [](int items) {
    std::string text = "[0";
    for (int i = 1; i < items; ++i) text += ",0";
    return text + "]";
  };
  EXPECT_TRUE(ParseStrictJson(array_of(100'000)));
  ExpectRefused(array_of(100'001), "$", "max_items");
}

TEST(StrictJsonTest, PathsQuoteOddKeysAndNeverEchoControlBytes) {
  EXPECT_EQ(JsonPathKey("$", "email"), "$.email");
  EXPECT_EQ(JsonPathKey("$", "a'b\n"), "$['a?b?']");
  EXPECT_EQ(JsonPathIndex("$.records", 3), "$.records[3]");
}

}  // namespace
}  // namespace strongroom::records
