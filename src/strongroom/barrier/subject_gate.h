#pragma once
// SubjectGate: what keeps a subject erased while writes for it are in flight
// (records/subject_erasure.h). Writes hold a WriteGuard on their subjects from before they check
// that the subject exists until their batch is durable; an erasure marks the subject erased only
// once no write holds it (Erase takes its stripe exclusively), so every write either lands before
// the erasure's purge reads the stores or finds the subject erased (the barrier refuses its keys:
// DataBarrier checks IsErased) and writes nothing.
//
// One per SealState, shared by every DataBarrier it makes, so an erasure also holds against a
// barrier from before a seal/unseal that a request in flight still uses. Erased subjects are
// remembered for the life of the process (after a restart their keys and rows are gone from the
// stores). Thread-safe: 64 striped shared mutexes for the guards; a shared mutex for the set.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace strongroom::barrier {

class SubjectGate {
 public:
  static constexpr std::size_t kStripes = 64;

  // The stripes a write holds (each at most once); released when it is destroyed.
  class WriteGuard {
   public:
    WriteGuard() = default;
    WriteGuard(WriteGuard&&) = default;
    WriteGuard& operator=(WriteGuard&&) = default;

   private:
    friend class SubjectGate;
    std::vector<std::shared_lock<std::shared_mutex>> locks_;
    std::uint64_t held_ = 0;  // bit i: stripe i
  };

  // Adds the subject's stripe to `guard` (shared) unless it holds it already.
  void Enter(WriteGuard& guard, std::string_view tenant, std::string_view subject);
  // Waits until no write holds the subject's stripe, then marks it erased.
  void Erase(std::string_view tenant, std::string_view subject);
  // Undoes Erase (an erasure that failed before it destroyed anything).
  void Unerase(std::string_view tenant, std::string_view subject);
  bool IsErased(std::string_view tenant, std::string_view subject) const;

 private:
  static std::string Key(std::string_view tenant, std::string_view subject);
  static std::size_t StripeOf(std::string_view tenant, std::string_view subject);

  std::array<std::shared_mutex, kStripes> stripes_;
  mutable std::shared_mutex set_mu_;
  std::unordered_set<std::string> erased_;
  std::atomic<bool> any_{false};  // a fast "no" before the set is looked at
};

}  // namespace strongroom::barrier
