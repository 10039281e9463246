#include "strongroom/http/types.h"

#include <gtest/gtest.h>

namespace strongroom::http {
namespace {

TEST(MediaTypeTest, AcceptsJsonWithParametersAndAnyCase) {
  EXPECT_TRUE(IsJsonMediaType("application/json"));
  EXPECT_TRUE(IsJsonMediaType("application/json; charset=utf-8"));
  EXPECT_TRUE(IsJsonMediaType("Application/JSON;charset=UTF-8"));
  EXPECT_TRUE(IsJsonMediaType(" application/json "));
}

TEST(MediaTypeTest, RefusesEverythingElse) {
  EXPECT_FALSE(IsJsonMediaType(""));
  EXPECT_FALSE(IsJsonMediaType("text/plain"));
  EXPECT_FALSE(IsJsonMediaType("application/jsonp"));
  EXPECT_FALSE(IsJsonMediaType("application/x-www-form-urlencoded"));
  EXPECT_FALSE(IsJsonMediaType("multipart/form-data; boundary=application/json"));
}

TEST(RequestTest, PathParamLookup) {
  Request request;
  request.path_params = {{"collection", "patients"}, {"id", "7"}};
  EXPECT_EQ(request.PathParam("id"), "7");
  EXPECT_EQ(request.PathParam("missing"), "");
}

}  // namespace
}  // namespace strongroom::http
