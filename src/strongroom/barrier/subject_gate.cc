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
  if (pending_.load(std::memory_order_acquire) == static_cast<int>(stripe)) {
    // An erasure waits for this stripe: let it go first (the subject may be the one erased).
    std::unique_lock lock(pending_mu_);
    pending_cv_.wait(
        lock, [&] { return pending_.load(std::memory_order_acquire) != static_cast<int>(stripe); });
  }
  guard.locks_.emplace_back(stripes_[stripe]);
  guard.held_ |= std::uint64_t{1} << stripe;
}

void SubjectGate::Erase(std::string_view tenant, std::string_view subject) {
  const std::size_t stripe = StripeOf(tenant, subject);
  pending_.store(static_cast<int>(stripe), std::memory_order_release);
  {
    std::unique_lock exclusive(stripes_[stripe]);
    MarkErased(tenant, subject);
  }
  {
    std::lock_guard lock(pending_mu_);
    pending_.store(-1, std::memory_order_release);
  }
  pending_cv_.notify_all();
}

void SubjectGate::MarkErased(std::string_view tenant, std::string_view subject) {
  Update([&](Set& set) { set.insert(Key(tenant, subject)); });
}

void SubjectGate::Unerase(std::string_view tenant, std::string_view subject) {
  Update([&](Set& set) { set.erase(Key(tenant, subject)); });
}

void SubjectGate::Update(const std::function<void(Set&)>& change) {
  // Copy-on-write: erasures are rare, reads (every encryption and decryption) are not.
  std::lock_guard lock(set_write_mu_);
  auto next = std::make_shared<Set>(*erased_.load(std::memory_order_acquire));
  change(*next);
  erased_.store(std::move(next), std::memory_order_release);
}

bool SubjectGate::IsErased(std::string_view tenant, std::string_view subject) const {
  const auto set = erased_.load(std::memory_order_acquire);
  return !set->empty() && set->contains(Key(tenant, subject));
}

}  // namespace strongroom::barrier
