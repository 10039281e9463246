#include "strongroom/base/blocking.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

namespace strongroom {
namespace {

TEST(BlockingTest, ScopesNestAndRestoreTheThreadsFlag) {
  EXPECT_TRUE(MayBlock());
  {
    NonBlockingScope outer;
    EXPECT_FALSE(MayBlock());
    {
      NonBlockingScope inner;
      EXPECT_FALSE(MayBlock());
    }
    EXPECT_FALSE(MayBlock());
    // Per thread: another thread may still block.
    EXPECT_TRUE(std::async(std::launch::async, [] { return MayBlock(); }).get());
  }
  EXPECT_TRUE(MayBlock());
}

TEST(BlockingTest, InsideAScopeALockHeldElsewhereIsWouldBlockNotAWait) {
  std::mutex mu;
  std::promise<void> locked, release;
  std::thread holder([&] {
    std::lock_guard lock(mu);
    locked.set_value();
    release.get_future().wait();
  });
  locked.get_future().wait();
  {
    NonBlockingScope scope;
    auto lock = LockOrWouldBlock(mu);
    ASSERT_FALSE(lock);
    EXPECT_EQ(lock.error().code(), ErrorCode::kWouldBlock);
  }
  release.set_value();
  holder.join();
  NonBlockingScope scope;
  auto lock = LockOrWouldBlock(mu);
  ASSERT_TRUE(lock);
  EXPECT_TRUE(lock->owns_lock());
}

}  // namespace
}  // namespace strongroom
