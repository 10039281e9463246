#pragma once
// FailureThrottle: counts consecutive failed attempts per key (an account, a source address) and
// locks a key for a while once it has failed too often, as Keycloak's brute-force detection does.
//
//   - `max_failures` consecutive failures lock the key for `wait_increment`; every further
//     failure (once that lock has passed) locks it again for twice as long as the last time, up
//     to `max_wait`. Attempts refused during a lock are not failures (they do not lengthen it).
//   - A success (RecordSuccess) or `failure_reset` without a failure forgets the key.
//   - At most `max_keys` keys are tracked: when full, forgotten keys are swept first, then the
//     key whose last failure is oldest makes room. Memory stays bounded under an attack from
//     many addresses; a key evicted that way only loses its count.
//
// Time is passed in (a steady clock's reading), so tests can step it. Thread-safe (one mutex;
// every call is a map lookup).

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace strongroom::auth {

struct ThrottleSettings {
  int max_failures = 30;
  std::chrono::seconds wait_increment{60};
  std::chrono::seconds max_wait{15 * 60};
  std::chrono::seconds failure_reset{12 * 60 * 60};
  std::size_t max_keys = 100'000;
};

class FailureThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FailureThrottle(ThrottleSettings settings) : settings_(settings) {}

  // How long `key` stays locked from `now` (zero: not locked, an attempt may be made).
  Clock::duration LockedFor(std::string_view key, Clock::time_point now) const;
  // Counts a failure; true when it (re)locked the key.
  bool RecordFailure(std::string_view key, Clock::time_point now);
  void RecordSuccess(std::string_view key);
  // Forgets the key's failures and any lock (an administrator's unlock). True if it was locked.
  bool Unlock(std::string_view key, Clock::time_point now);
  int Failures(std::string_view key, Clock::time_point now) const;
  std::size_t tracked() const;

  const ThrottleSettings& settings() const { return settings_; }

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point last_failure;
    Clock::time_point locked_until;
    Clock::duration last_wait{};
  };
  bool ExpiredLocked(const Entry& entry, Clock::time_point now) const;
  void MakeRoomLocked(Clock::time_point now);

  const ThrottleSettings settings_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace strongroom::auth
