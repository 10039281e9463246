#include "strongroom/audit/behaviour_rules.h"

#include <gtest/gtest.h>

namespace strongroom::audit {
namespace {

using std::chrono::seconds;
const auto kStart = std::chrono::system_clock::time_point(seconds(1'800'000'000));

Event Read(std::string actor, std::string subject, seconds at, std::string source = "10.0.0.5") {
  Event e;
  e.time = kStart + at;
  e.tenant = "default";
  e.actor = Actor{std::move(actor), "service", {"service"}, "token", "tok_1"};
  e.source = std::move(source);
  e.action = "record.read";
  e.subjects = {std::move(subject)};
  e.status = 200;
  e.code = "ok";
  return e;
}

BehaviourSettings Small() {
  BehaviourSettings s;
  s.distinct_subjects = 5;
  s.denials = 3;
  s.window = seconds(60);
  return s;
}

TEST(BehaviourRulesTest, MassReadFiresOncePerWindowOnDistinctSubjects) {
  BehaviourRules rules(Small());
  for (int i = 0; i < 20; ++i) rules.Observe(Read("prn_a", "psn_same", seconds(i)));
  EXPECT_EQ(rules.alerts(BehaviourRules::kMassRead), 0u);  // many reads of one subject
  for (int i = 0; i < 5; ++i) rules.Observe(Read("prn_b", "psn_" + std::to_string(i), seconds(i)));
  EXPECT_EQ(rules.alerts(BehaviourRules::kMassRead), 0u);  // exactly the limit
  rules.Observe(Read("prn_b", "psn_5", seconds(6)));
  EXPECT_EQ(rules.alerts(BehaviourRules::kMassRead), 1u);
  rules.Observe(Read("prn_b", "psn_6", seconds(7)));
  EXPECT_EQ(rules.alerts(BehaviourRules::kMassRead), 1u);  // once per window
  // Spread over more than the window: no alert for another actor.
  for (int i = 0; i < 12; ++i) {
    rules.Observe(Read("prn_c", "psn_" + std::to_string(i), seconds(i * 20)));
  }
  EXPECT_EQ(rules.alerts(BehaviourRules::kMassRead), 1u);
}

TEST(BehaviourRulesTest, NewNetworkOnlyForActorsWithHistory) {
  BehaviourRules rules(Small());
  rules.Observe(Read("prn_a", "psn_1", seconds(0), "10.0.0.5"));
  rules.Observe(Read("prn_a", "psn_1", seconds(1), "10.0.0.77"));  // same /24
  EXPECT_EQ(rules.alerts(BehaviourRules::kNewNetwork), 0u);
  rules.Observe(Read("prn_a", "psn_1", seconds(2), "192.0.2.9"));
  EXPECT_EQ(rules.alerts(BehaviourRules::kNewNetwork), 1u);
  rules.Observe(Read("prn_a", "psn_1", seconds(3), "2001:db8:1:2::5"));
  rules.Observe(Read("prn_a", "psn_1", seconds(4), "2001:db8:1:2:ffff::1"));  // same /64
  EXPECT_EQ(rules.alerts(BehaviourRules::kNewNetwork), 2u);
  EXPECT_EQ(NetworkOf("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(NetworkOf("203.0.113.200"), "203.0.113.0/24");
}

TEST(BehaviourRulesTest, RepeatedDenialsPerSourceAndDataLoss) {
  BehaviourRules rules(Small());
  Event denied;
  denied.source = "198.51.100.4";
  denied.action = "record.read";
  denied.status = 401;
  denied.code = "unauthenticated";
  for (int i = 0; i < 4; ++i) {
    denied.time = kStart + seconds(i);
    rules.Observe(denied);
  }
  EXPECT_EQ(rules.alerts(BehaviourRules::kDenials), 1u);
  denied.time = kStart + seconds(5);
  rules.Observe(denied);
  EXPECT_EQ(rules.alerts(BehaviourRules::kDenials), 1u);
  Event broken = Read("prn_a", "psn_1", seconds(9));
  broken.status = 500;
  broken.code = "data_loss";
  rules.Observe(broken);
  EXPECT_EQ(rules.alerts(BehaviourRules::kDataLoss), 1u);
}

TEST(BehaviourRulesTest, MemoryIsBoundedByForgettingTheLeastRecentlySeen) {
  BehaviourSettings s = Small();
  s.max_tracked = 100;
  BehaviourRules rules(s);
  for (int i = 0; i < 1000; ++i) {
    rules.Observe(Read("prn_" + std::to_string(i), "psn_1", seconds(i)));
  }
  // prn_0 was forgotten: from another network it has no history, so no alert.
  rules.Observe(Read("prn_0", "psn_1", seconds(1001), "192.0.2.1"));
  EXPECT_EQ(rules.alerts(BehaviourRules::kNewNetwork), 0u);
  // prn_999 is still tracked: it does.
  rules.Observe(Read("prn_999", "psn_1", seconds(1002), "192.0.2.1"));
  EXPECT_EQ(rules.alerts(BehaviourRules::kNewNetwork), 1u);
}

}  // namespace
}  // namespace strongroom::audit
