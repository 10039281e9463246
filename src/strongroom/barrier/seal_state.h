#pragma once
// SealState: whether the vault's keys are in memory. Sealed, nothing personal can be read or
// written (the API answers 503 `sealed`); unsealing asks the root key provider for the root key
// with the operator's passphrase and builds the keyring and the data barrier on it; sealing
// drops them, so every key leaves memory once the requests still using them finish.
//
// Wrong passphrases are rate limited with a token bucket (`attempts_per_minute`, burst of the
// same size): each failure takes a token, an attempt without a token is refused with
// resource_exhausted before any work, and only one unseal runs at a time (Argon2id costs 64 MiB
// and ~0.5 s). A refusal never says whether the passphrase was close, or anything about the key.
//
// Thread-safe. keys() hands out a shared reference, so a request that started unsealed finishes
// with the keys it started with even if the vault is sealed meanwhile.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "strongroom/barrier/data_barrier.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/keys/root_key_provider.h"

namespace strongroom::barrier {

struct VaultKeys {
  std::unique_ptr<keys::Keyring> keyring;
  std::unique_ptr<DataBarrier> barrier;
};

class SealState {
 public:
  struct Options {
    int attempts_per_minute = 5;
    std::size_t cache_capacity = 50'000;
    std::uint64_t max_encryptions_per_key = kMaxEncryptionsPerKey;
    // Injectable for tests of the rate limit.
    std::function<std::chrono::steady_clock::time_point()> clock = std::chrono::steady_clock::now;
  };
  SealState(std::unique_ptr<keys::RootKeyProvider> provider, storage::Store& metadata,
            Options options);

  // OK (also when already unsealed); permission_denied for a wrong passphrase; resource_exhausted
  // when rate limited or another attempt is running (see retry_after()).
  Result<void> Unseal(std::span<const std::uint8_t> passphrase);
  void Seal();
  // `listener` runs (on the sealing thread, after the keys are gone from here) at every Seal():
  // whatever holds key-derived material of its own drops it. Add listeners before serving.
  void OnSeal(std::function<void()> listener);
  // `listener` runs on the unsealing thread after each successful Unseal (the keys are in
  // place): work that waited for the keys resumes (records/subject_erasure.h). Add before serving.
  void OnUnseal(std::function<void()> listener);
  // `listener` hears of subject keys past half their encryption budget (data_barrier.h,
  // HalfSpentListener), from every barrier this state makes. Add before serving.
  void OnKeyHalfSpent(HalfSpentListener listener);
  // Shared by every barrier this state makes (subject_gate.h).
  SubjectGate& gate() { return gate_; }
  // Null when sealed.
  std::shared_ptr<VaultKeys> keys() const;
  bool sealed() const { return keys() == nullptr; }
  // How long until the next attempt may be made (zero if it may be made now).
  std::chrono::seconds retry_after() const;
  std::string_view provider_kind() const { return provider_->kind(); }

 private:
  void RefillLocked(std::chrono::steady_clock::time_point now) const;
  void RunListeners(const std::vector<std::function<void()>>& which);  // seal or unseal ones

  const std::unique_ptr<keys::RootKeyProvider> provider_;
  storage::Store& metadata_;
  const Options options_;
  std::mutex unseal_mu_;  // one attempt at a time (try_lock)
  mutable std::mutex mu_;
  std::shared_ptr<VaultKeys> keys_;
  mutable double tokens_;
  mutable std::chrono::steady_clock::time_point refilled_at_;
  std::mutex listeners_mu_;
  std::vector<std::function<void()>> seal_listeners_;
  std::vector<std::function<void()>> unseal_listeners_;
  std::vector<HalfSpentListener> half_spent_listeners_;
  SubjectGate gate_;
};

}  // namespace strongroom::barrier
