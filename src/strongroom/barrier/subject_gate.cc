#include "strongroom/barrier/subject_gate.h"

#include <functional>

namespace strongroom::barrier {

std::string SubjectGate::Key(std::string_view tenant, std::string_view subject) {
  std::string key;
  key.reserve(tenant.size() + subject.size() + 1);
  key.append(tenant).push_back('/');
  key.append(subject);
  return key;
}

std::size_t SubjectGate::StripeOf(std::string_view tenant, std::string_view subject) {
  return std::hash<std::string>{}(Key(tenant, subject)) % kStripes;
}

void SubjectGate::Enter(WriteGuard& guard, std::string_view tenant, std::string_view subject) {
  const std::size_t stripe = StripeOf(tenant, subject);
  if ((guard.held_ >> stripe) & 1U) return;
  // Shared locks never wait for each other, and Erase holds one stripe at a time and waits for
  // nothing while it does: taking stripes in any order cannot deadlock.
  guard.locks_.emplace_back(stripes_[stripe]);
  guard.held_ |= std::uint64_t{1} << stripe;
}

void SubjectGate::Erase(std::string_view tenant, std::string_view subject) {
  std::unique_lock stripe(stripes_[StripeOf(tenant, subject)]);
  std::unique_lock lock(set_mu_);
  erased_.insert(Key(tenant, subject));
  any_.store(true, std::memory_order_release);
}

void SubjectGate::Unerase(std::string_view tenant, std::string_view subject) {
  std::unique_lock lock(set_mu_);
  erased_.erase(Key(tenant, subject));
}

bool SubjectGate::IsErased(std::string_view tenant, std::string_view subject) const {
  if (!any_.load(std::memory_order_acquire)) return false;
  std::shared_lock lock(set_mu_);
  return erased_.contains(Key(tenant, subject));
}

}  // namespace strongroom::barrier
