#include "strongroom/auth/failure_throttle.h"

#include <gtest/gtest.h>

namespace strongroom::auth {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using Clock = FailureThrottle::Clock;

class FailureThrottleTest : public ::testing::Test {
 protected:
  // Fails `n` times, one second apart; returns how many of them locked the key.
  int Fail(FailureThrottle& throttle, std::string_view key, int n) {
    int locks = 0;
    for (int i = 0; i < n; ++i) {
      locks += throttle.RecordFailure(key, now_) ? 1 : 0;
      now_ += seconds(1);
    }
    return locks;
  }
  Clock::time_point now_ = Clock::time_point() + std::chrono::hours(1000);
};

TEST_F(FailureThrottleTest, LocksAtTheThresholdWithKeycloaksDefaults) {
  FailureThrottle throttle(ThrottleSettings{});
  EXPECT_EQ(Fail(throttle, "alice", 29), 0);
  EXPECT_EQ(throttle.LockedFor("alice", now_), Clock::duration::zero());
  EXPECT_EQ(throttle.Failures("alice", now_), 29);
  EXPECT_TRUE(throttle.RecordFailure("alice", now_));
  EXPECT_EQ(throttle.LockedFor("alice", now_), seconds(60));
  // Other keys are untouched.
  EXPECT_EQ(throttle.LockedFor("bob", now_), Clock::duration::zero());
}

TEST_F(FailureThrottleTest, AttemptsDuringALockDoNotLengthenIt) {
  FailureThrottle throttle(ThrottleSettings{.max_failures = 3});
  EXPECT_EQ(Fail(throttle, "k", 3), 1);
  const auto locked_at = now_ - seconds(1);
  EXPECT_FALSE(throttle.RecordFailure("k", now_ + seconds(10)));
  EXPECT_EQ(throttle.LockedFor("k", now_ + seconds(10)),
            locked_at + seconds(60) - (now_ + seconds(10)));
  EXPECT_EQ(throttle.Failures("k", now_), 3);
}

TEST_F(FailureThrottleTest, WaitsDoubleFromTheIncrementUpToTheMaximum) {
  FailureThrottle throttle(ThrottleSettings{.max_failures = 2});
  Fail(throttle, "k", 1);
  const std::chrono::seconds expected[] = {seconds(60),  seconds(120), seconds(240),
                                           seconds(480), seconds(900), seconds(900)};
  for (auto wait : expected) {
    ASSERT_TRUE(throttle.RecordFailure("k", now_));
    EXPECT_EQ(throttle.LockedFor("k", now_), wait);
    now_ += wait;  // the lock passes; the next failure locks again
    EXPECT_EQ(throttle.LockedFor("k", now_), Clock::duration::zero());
  }
}

TEST_F(FailureThrottleTest, SuccessAndTimeForgetFailures) {
  FailureThrottle throttle(ThrottleSettings{.max_failures = 5});
  Fail(throttle, "k", 4);
  throttle.RecordSuccess("k");
  EXPECT_EQ(throttle.Failures("k", now_), 0);
  EXPECT_EQ(Fail(throttle, "k", 4), 0);  // counts from zero again
  now_ += std::chrono::hours(12);
  EXPECT_EQ(throttle.Failures("k", now_), 0);
  EXPECT_EQ(Fail(throttle, "k", 4), 0);
  EXPECT_EQ(Fail(throttle, "k", 1), 1);
}

TEST_F(FailureThrottleTest, ALockOutlivesTheResetPeriodUntilItEnds) {
  FailureThrottle throttle(ThrottleSettings{.max_failures = 1,
                                            .wait_increment = minutes(30),
                                            .max_wait = minutes(30),
                                            .failure_reset = minutes(10)});
  EXPECT_EQ(Fail(throttle, "k", 1), 1);
  EXPECT_GT(throttle.LockedFor("k", now_ + minutes(20)), Clock::duration::zero());
  EXPECT_EQ(throttle.Failures("k", now_ + minutes(20)), 1);
  EXPECT_EQ(throttle.Failures("k", now_ + minutes(31)), 0);
}

TEST_F(FailureThrottleTest, UnlockClearsALock) {
  FailureThrottle throttle(ThrottleSettings{.max_failures = 2});
  Fail(throttle, "k", 2);
  EXPECT_GT(throttle.LockedFor("k", now_), Clock::duration::zero());
  EXPECT_TRUE(throttle.Unlock("k", now_));
  EXPECT_EQ(throttle.LockedFor("k", now_), Clock::duration::zero());
  EXPECT_EQ(throttle.Failures("k", now_), 0);
  EXPECT_FALSE(throttle.Unlock("k", now_));
}

TEST_F(FailureThrottleTest, MemoryIsBoundedAndTheOldestKeyMakesRoom) {
  FailureThrottle throttle(ThrottleSettings{.max_failures = 2, .max_keys = 3});
  Fail(throttle, "a", 1);
  Fail(throttle, "b", 1);
  Fail(throttle, "c", 1);
  Fail(throttle, "d", 1);
  EXPECT_EQ(throttle.tracked(), 3u);
  EXPECT_EQ(throttle.Failures("a", now_), 0);  // the oldest went
  EXPECT_EQ(throttle.Failures("d", now_), 1);
  now_ += std::chrono::hours(13);  // all forgotten: swept before anyone is evicted
  Fail(throttle, "e", 1);
  EXPECT_EQ(throttle.tracked(), 1u);
}

}  // namespace
}  // namespace strongroom::auth
