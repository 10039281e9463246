#include "strongroom/auth/failure_throttle.h"

#include <algorithm>

namespace strongroom::auth {

bool FailureThrottle::ExpiredLocked(const Entry& entry, Clock::time_point now) const {
  return now >= entry.locked_until && now - entry.last_failure >= settings_.failure_reset;
}

FailureThrottle::Clock::duration FailureThrottle::LockedFor(std::string_view key,
                                                            Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || now >= it->second.locked_until) return Clock::duration::zero();
  return it->second.locked_until - now;
}

bool FailureThrottle::RecordFailure(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && ExpiredLocked(it->second, now)) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    if (entries_.size() >= settings_.max_keys) MakeRoomLocked(now);
    it = entries_.emplace(std::string(key), Entry{}).first;
  }
  Entry& entry = it->second;
  if (now < entry.locked_until) return false;  // refused during a lock: not a new failure
  entry.failures += 1;
  entry.last_failure = now;
  if (entry.failures < settings_.max_failures) return false;
  const Clock::duration wait =
      entry.last_wait == Clock::duration::zero()
          ? Clock::duration(settings_.wait_increment)
          : std::min<Clock::duration>(entry.last_wait * 2, settings_.max_wait);
  entry.last_wait = std::min<Clock::duration>(wait, settings_.max_wait);
  entry.locked_until = now + entry.last_wait;
  return true;
}

void FailureThrottle::RecordSuccess(std::string_view key) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) entries_.erase(it);
}

bool FailureThrottle::Unlock(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  const bool was_locked = now < it->second.locked_until;
  entries_.erase(it);
  return was_locked;
}

int FailureThrottle::Failures(std::string_view key, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || ExpiredLocked(it->second, now)) return 0;
  return it->second.failures;
}

std::size_t FailureThrottle::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void FailureThrottle::MakeRoomLocked(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) { return ExpiredLocked(kv.second, now); });
  if (entries_.size() < settings_.max_keys || entries_.empty()) return;
  auto oldest = std::min_element(
      entries_.begin(), entries_.end(),
      [](const auto& a, const auto& b) { return a.second.last_failure < b.second.last_failure; });
  entries_.erase(oldest);
}

}  // namespace strongroom::auth
