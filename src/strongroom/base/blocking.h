#pragma once
// Whether the current thread may wait for the disk, or for a lock that another thread may hold
// across disk I/O.
//
// The HTTP server runs "inline-first" handlers (http/router.h) on its I/O threads inside a
// NonBlockingScope. There, the stores answer only what they hold in memory and fail anything
// else with ErrorCode::kWouldBlock, and locks that can be held across disk I/O are only tried
// (LockOrWouldBlock); the server then runs the same handler again on the worker pool. So a read
// whose data is already in memory is served without two thread hand-offs, and an I/O thread
// never waits for the disk.
//
// The flag is per thread; scopes nest. Thread-safe by construction (thread-local state only).

#include <mutex>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom {

class NonBlockingScope {
 public:
  NonBlockingScope();
  ~NonBlockingScope();
  NonBlockingScope(const NonBlockingScope&) = delete;
  NonBlockingScope& operator=(const NonBlockingScope&) = delete;

 private:
  bool previous_;
};

// False inside a NonBlockingScope.
bool MayBlock();

// ErrorCode::kWouldBlock; `what` names the operation (for tests and debugging, never answered).
Error WouldBlock(std::string_view what);

// Locks `mu`; inside a NonBlockingScope only tries, and fails with would_block when another
// thread holds it. For locks that may be held across disk I/O.
template <typename Mutex>
Result<std::unique_lock<Mutex>> LockOrWouldBlock(Mutex& mu) {
  if (MayBlock()) return std::unique_lock<Mutex>(mu);
  std::unique_lock<Mutex> lock(mu, std::try_to_lock);
  if (!lock.owns_lock()) return std::unexpected(WouldBlock("a lock held by another thread"));
  return lock;
}

}  // namespace strongroom
