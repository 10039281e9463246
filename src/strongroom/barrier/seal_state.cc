#include "strongroom/barrier/seal_state.h"

#include <algorithm>
#include <cmath>

namespace strongroom::barrier {

SealState::SealState(std::unique_ptr<keys::RootKeyProvider> provider, storage::Store& metadata,
                     Options options)
    : provider_(std::move(provider)),
      metadata_(metadata),
      options_(std::move(options)),
      tokens_(std::max(options_.attempts_per_minute, 1)),
      refilled_at_(options_.clock()) {}

void SealState::RefillLocked(std::chrono::steady_clock::time_point now) const {
  const double capacity = std::max(options_.attempts_per_minute, 1);
  const double elapsed = std::chrono::duration<double>(now - refilled_at_).count();
  tokens_ = std::min(capacity, tokens_ + elapsed * capacity / 60.0);
  refilled_at_ = now;
}

std::chrono::seconds SealState::retry_after() const {
  std::lock_guard lock(mu_);
  RefillLocked(options_.clock());
  if (tokens_ >= 1.0) return std::chrono::seconds(0);
  const double per_token = 60.0 / std::max(options_.attempts_per_minute, 1);
  return std::chrono::seconds(static_cast<std::int64_t>(std::ceil((1.0 - tokens_) * per_token)));
}

Result<void> SealState::Unseal(std::span<const std::uint8_t> passphrase) {
  if (!sealed()) return {};
  std::unique_lock attempt(unseal_mu_, std::try_to_lock);
  if (!attempt.owns_lock()) {
    return Fail(ErrorCode::kResourceExhausted, "another unseal attempt is in progress");
  }
  {
    std::lock_guard lock(mu_);
    if (keys_) return {};
    RefillLocked(options_.clock());
    if (tokens_ < 1.0) {
      return Fail(ErrorCode::kResourceExhausted, "too many failed unseal attempts; retry later");
    }
  }
  auto root = provider_->Unseal(passphrase);
  if (!root) {
    std::lock_guard lock(mu_);
    RefillLocked(options_.clock());
    tokens_ = std::max(0.0, tokens_ - 1.0);
    if (root.error().code() == ErrorCode::kPermissionDenied) {
      return Fail(ErrorCode::kPermissionDenied, "unseal refused");
    }
    return std::unexpected(root.error());
  }
  auto keyring = keys::Keyring::Create(std::move(*root), metadata_);
  if (!keyring) return std::unexpected(keyring.error());
  auto vault = std::make_shared<VaultKeys>();
  vault->barrier = std::make_unique<DataBarrier>(
      **keyring, options_.cache_capacity, options_.max_encryptions_per_key, &gate_,
      [this](std::string_view tenant, std::uint32_t version) {
        std::lock_guard lock(listeners_mu_);
        for (const auto& listener : half_spent_listeners_) listener(tenant, version);
      });
  vault->keyring = std::move(*keyring);
  {
    std::lock_guard lock(mu_);
    keys_ = std::move(vault);
  }
  // The listeners may take a while (finishing interrupted erasures); they are not an attempt.
  attempt.unlock();
  RunListeners(unseal_listeners_);
  return {};
}

void SealState::RunListeners(const std::vector<std::function<void()>>& which) {
  // Copied under the lock, run outside it: a listener may take its time.
  std::vector<std::function<void()>> listeners;
  {
    std::lock_guard lock(listeners_mu_);
    listeners = which;
  }
  for (const auto& listener : listeners) listener();
}

void SealState::Seal() {
  std::shared_ptr<VaultKeys> dropped;
  {
    std::lock_guard lock(mu_);
    dropped = std::move(keys_);
  }
  RunListeners(seal_listeners_);
  // `dropped` dies here (or with the last in-flight request): the barrier's ciphers first, then
  // the keyring with the root key.
}

void SealState::OnSeal(std::function<void()> listener) {
  std::lock_guard lock(listeners_mu_);
  seal_listeners_.push_back(std::move(listener));
}

void SealState::OnKeyHalfSpent(HalfSpentListener listener) {
  std::lock_guard lock(listeners_mu_);
  half_spent_listeners_.push_back(std::move(listener));
}

void SealState::OnUnseal(std::function<void()> listener) {
  std::lock_guard lock(listeners_mu_);
  unseal_listeners_.push_back(std::move(listener));
}

std::shared_ptr<VaultKeys> SealState::keys() const {
  std::lock_guard lock(mu_);
  return keys_;
}

}  // namespace strongroom::barrier
