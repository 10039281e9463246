#pragma once
// SubjectGate: what keeps a subject erased while writes for it are in flight
// (records/subject_erasure.h). Writes hold a WriteGuard on their subjects from before they check
// that the subject exists until their batch is durable; an erasure marks the subject erased only
// once no write holds it (Erase takes its stripe exclusively), so every write either lands before
// the erasure's purge reads the stores or finds the subject erased (the barrier refuses its keys:
// DataBarrier checks IsErased) and writes nothing.
//
// An erasure is not starved by a stream of writes: while one waits for a stripe, new writes to
// that stripe wait for it (Enter). This cannot deadlock: erasures run one at a time (the eraser's
// mutex), so only one stripe is ever pending, and a write already holding it never waits again
// for it.
//
// One per SealState, shared by every DataBarrier it makes, so an erasure also holds against a
// barrier from before a seal/unseal that a request in flight still uses. Erased subjects are
// remembered for the life of the process (after a restart their keys and rows are gone from the
// stores, or their erasure markers put them back here: subject_erasure.h). Thread-safe: 64
// striped shared mutexes for the guards; IsErased reads an immutable set through an atomic
// pointer and never blocks (it runs on I/O threads).

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace strongroom::barrier {

class SubjectGate {
 public:
  static constexpr std::size_t kStripes = 64;

  // The stripes a write holds (each at most once); released when it is destroyed.
  class WriteGuard {
   public:
    WriteGuard() = default;
    WriteGuard(WriteGuard&& other) noexcept
        : locks_(std::move(other.locks_)), held_(std::exchange(other.held_, 0)) {}
    WriteGuard& operator=(WriteGuard&& other) noexcept {
      locks_ = std::move(other.locks_);
      held_ = std::exchange(other.held_, 0);
      return *this;
    }

   private:
    friend class SubjectGate;
    std::vector<std::shared_lock<std::shared_mutex>> locks_;
    std::uint64_t held_ = 0;  // bit i: stripe i
  };

  // Adds the subject's stripe to `guard` (shared) unless it holds it already; waits while an
  // erasure is waiting for that stripe.
  void Enter(WriteGuard& guard, std::string_view tenant, std::string_view subject);
  // Waits until no write holds the subject's stripe, then marks it erased.
  void Erase(std::string_view tenant, std::string_view subject);
  // Marks it erased without waiting (a restart found its erasure unfinished: no write of this
  // process can have it).
  void MarkErased(std::string_view tenant, std::string_view subject);
  // Undoes Erase (an erasure that failed before it destroyed anything).
  void Unerase(std::string_view tenant, std::string_view subject);
  bool IsErased(std::string_view tenant, std::string_view subject) const;

 private:
  using Set = std::unordered_set<std::string>;
  static std::string Key(std::string_view tenant, std::string_view subject);
  static std::size_t StripeOf(std::string_view tenant, std::string_view subject);
  void Update(const std::function<void(Set&)>& change);  // copy, change, publish

  std::array<std::shared_mutex, kStripes> stripes_;
  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  std::atomic<int> pending_{-1};  // the stripe an erasure waits for; -1: none
  std::mutex set_write_mu_;       // one writer of `erased_` at a time
  std::atomic<std::shared_ptr<const Set>> erased_{std::make_shared<const Set>()};
};

}  // namespace strongroom::barrier
