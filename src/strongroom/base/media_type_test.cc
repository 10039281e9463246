#include "strongroom/base/media_type.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strongroom {
namespace {

TEST(IsMediaTypeTest, AcceptsRfc9110MediaTypes) {
  for (const char* text :
       {"application/pdf", "image/svg+xml", "text/plain; charset=utf-8", "text/plain;charset=UTF-8",
        "multipart/mixed; boundary=\"a b;c\"", "application/vnd.ms-excel", "a/b;", "x/y ; q=1",
        "text/plain; a=\"esc\\\"aped\""}) {
    EXPECT_TRUE(IsMediaType(text)) << text;
  }
}

TEST(IsMediaTypeTest, RefusesEverythingElse) {
  const std::string too_long = "application/" + std::string(kMaxMediaTypeLength, 'x');
  for (const std::string& text : std::vector<std::string>{
           "", "pdf", "/pdf", "application/", "application/pdf/x", "a b/c", "a/b c", "a/b; c",
           "a/b; =1", "a/b; c=", "a/b; c=\"open", "text/plain\r\nX-Injected: 1", "a/b; c=é",
           std::string("a/b\0c", 5), too_long}) {
    EXPECT_FALSE(IsMediaType(text)) << text;
  }
  EXPECT_TRUE(IsMediaType(too_long.substr(0, kMaxMediaTypeLength)));
}

}  // namespace
}  // namespace strongroom
