#include "strongroom/barrier/subject_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace strongroom::barrier {
namespace {

TEST(SubjectGateTest, AnErasureWaitsForTheWritesThatHoldTheSubject) {
  SubjectGate gate;
  std::atomic<bool> erased{false};
  std::thread eraser;
  {
    SubjectGate::WriteGuard guard;
    gate.Enter(guard, "acme", "sub_a");
    gate.Enter(guard, "acme", "sub_a");  // twice: held once
    gate.Enter(guard, "acme", "sub_b");  // another subject, maybe the same stripe
    eraser = std::thread([&] {
      gate.Erase("acme", "sub_a");
      erased = true;
    });
    // Ordering, not timing: while the write holds the subject, the erasure cannot have ended.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(erased.load());
    EXPECT_FALSE(gate.IsErased("acme", "sub_a"));
  }
  eraser.join();
  EXPECT_TRUE(erased.load());
  EXPECT_TRUE(gate.IsErased("acme", "sub_a"));
  EXPECT_FALSE(gate.IsErased("acme", "sub_b"));
  EXPECT_FALSE(gate.IsErased("beta", "sub_a"));
  // A write that comes after finds it erased; Unerase gives it back.
  SubjectGate::WriteGuard later;
  gate.Enter(later, "acme", "sub_a");
  EXPECT_TRUE(gate.IsErased("acme", "sub_a"));
  gate.Unerase("acme", "sub_a");
  EXPECT_FALSE(gate.IsErased("acme", "sub_a"));
}

TEST(SubjectGateTest, NewWritesWaitForAWaitingErasureSoItIsNotStarved) {
  SubjectGate gate;
  std::atomic<bool> erased{false};
  std::atomic<bool> erased_when_entered{false};
  std::thread eraser, writer;
  {
    SubjectGate::WriteGuard held;  // a write in progress
    gate.Enter(held, "acme", "sub_a");
    eraser = std::thread([&] {
      gate.Erase("acme", "sub_a");
      erased = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the erasure now waits
    writer = std::thread([&] {
      SubjectGate::WriteGuard guard;
      gate.Enter(guard, "acme", "sub_a");  // must wait for the erasure, not overtake it
      erased_when_entered = gate.IsErased("acme", "sub_a");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(erased.load());
  }  // the write in progress ends
  eraser.join();
  writer.join();
  EXPECT_TRUE(erased_when_entered.load());
}

}  // namespace
}  // namespace strongroom::barrier
