#include "strongroom/http/router.h"

#include <gtest/gtest.h>

namespace strongroom::http {
namespace {

Handler Named(std::string name) {
  return [name](const Request&) {
    Response r;
    r.body = name;
    return r;
  };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(Method::kGet, "/v1/health", Execution::kInline, Named("health"));
    router_.Add(Method::kGet, "/v1/subjects/{id}", Execution::kWorker, Named("get-subject"));
    router_.Add(Method::kDelete, "/v1/subjects/{id}", Execution::kWorker, Named("delete-subject"));
    router_.Add(Method::kPost, "/v1/subjects/search", Execution::kWorker, Named("search"));
    router_.Add(Method::kGet, "/v1/collections/{collection}/records/{id}", Execution::kWorker,
                Named("get-record"));
  }
  std::string Run(const Router::Lookup& lookup) {
    return lookup.route ? lookup.route->handler(Request{}).body : "";
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoutes) {
  EXPECT_EQ(Run(router_.Find(Method::kGet, "/v1/health")), "health");
}

TEST_F(RouterTest, CapturesParameters) {
  const auto lookup = router_.Find(Method::kGet, "/v1/collections/patients/records/r-17");
  EXPECT_EQ(Run(lookup), "get-record");
  ASSERT_EQ(lookup.params.size(), 2u);
  EXPECT_EQ(lookup.params[0], (std::pair<std::string_view, std::string_view>{"collection", "patients"}));
  EXPECT_EQ(lookup.params[1], (std::pair<std::string_view, std::string_view>{"id", "r-17"}));
}

TEST_F(RouterTest, LiteralSegmentBeatsParameter) {
  EXPECT_EQ(Run(router_.Find(Method::kPost, "/v1/subjects/search")), "search");
  // GET on the literal path is not silently taken as GET /v1/subjects/{id} with id=search.
  const auto lookup = router_.Find(Method::kGet, "/v1/subjects/search");
  EXPECT_EQ(lookup.route, nullptr);
  EXPECT_TRUE(lookup.path_matched);
  EXPECT_EQ(lookup.allow, "POST");
}

TEST_F(RouterTest, WrongMethodListsAllowedMethodsSorted) {
  const auto lookup = router_.Find(Method::kPut, "/v1/subjects/s-1");
  EXPECT_EQ(lookup.route, nullptr);
  EXPECT_TRUE(lookup.path_matched);
  EXPECT_EQ(lookup.allow, "DELETE, GET");
}

TEST_F(RouterTest, UnknownPathsAreNotFound) {
  for (const char* path : {"/", "/v1", "/v1/health/", "/v1/healthz", "/v1/subjects/",
                           "/v1/subjects//x", "/v2/health"}) {
    const auto lookup = router_.Find(Method::kGet, path);
    EXPECT_EQ(lookup.route, nullptr) << path;
    EXPECT_FALSE(lookup.path_matched) << path;
  }
}

}  // namespace
}  // namespace strongroom::http
