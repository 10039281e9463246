#include "strongroom/observe/metrics.h"

#include <gtest/gtest.h>

namespace strongroom::observe {
namespace {

TEST(MetricsTest, RendersCountersAndGaugesInExpositionFormat) {
  MetricsRegistry registry;
  registry.GetCounter("x_requests_total", "Requests", {{"route", "/v1/a"}, {"code", "200"}})
      .Increment(3);
  registry.GetGauge("x_open", "Open").Set(2);
  EXPECT_EQ(registry.RenderText(),
            "# HELP x_requests_total Requests\n"
            "# TYPE x_requests_total counter\n"
            "x_requests_total{route=\"/v1/a\",code=\"200\"} 3\n"
            "# HELP x_open Open\n"
            "# TYPE x_open gauge\n"
            "x_open 2\n");
}

TEST(MetricsTest, CounterCallbacksAreReadAtRenderTime) {
  MetricsRegistry registry;
  double commits = 3;
  registry.AddCounterCallback("store_commits_total", "Commits", {{"store", "profiles"}},
                              [&] { return commits; });
  commits = 5;
  const std::string text = registry.RenderText();
  EXPECT_NE(text.find("# TYPE store_commits_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("store_commits_total{store=\"profiles\"} 5\n"), std::string::npos) << text;
}

TEST(MetricsTest, SameLabelsReturnTheSameSeries) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("c_total", "c", {{"k", "v"}});
  Counter& b = registry.GetCounter("c_total", "c", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &registry.GetCounter("c_total", "c", {{"k", "w"}}));
}

TEST(MetricsTest, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.GetCounter("e_total", "e", {{"v", "a\"b\\c\nd"}}).Increment();
  EXPECT_NE(registry.RenderText().find(R"(e_total{v="a\"b\\c\nd"} 1)"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInf) {
  MetricsRegistry registry;
  const double bounds[] = {0.1, 1};
  Histogram& h = registry.GetHistogram("h_seconds", "h", {{"route", "r"}}, bounds);
  h.Observe(0.05);
  h.Observe(0.1);  // on the bound: le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(registry.RenderText(),
            "# HELP h_seconds h\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{route=\"r\",le=\"0.1\"} 2\n"
            "h_seconds_bucket{route=\"r\",le=\"1\"} 3\n"
            "h_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"
            "h_seconds_sum{route=\"r\"} 7.65\n"
            "h_seconds_count{route=\"r\"} 4\n");
}

TEST(MetricsTest, TypeConflictIsAProgrammingError) {
  MetricsRegistry registry;
  registry.GetCounter("same", "s");
  EXPECT_THROW(registry.GetGauge("same", "s"), std::logic_error);
}

}  // namespace
}  // namespace strongroom::observe
