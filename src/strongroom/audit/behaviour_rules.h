#pragma once
// Behaviour audit: rules over the stream of durable audit entries that raise security alerts
// (docs/audit.md, "Behaviour rules"):
//   mass_read      one actor read more than `distinct_subjects` distinct subjects within `window`
//   new_network    an actor with history acted from a network (IPv4 /24, IPv6 /64) never seen
//                  for it before (since the server started)
//   denials        one actor, or one source address for unauthenticated calls, was denied
//                  (401/403) more than `denials` times within `window`
//   data_loss      any request that ended in data_loss (a ciphertext failed to authenticate)
// An alert is a `security.alert` warning in the log (ids, counts and the rule; never a value) and
// a count per rule; each rule fires once per actor (or source) per window, not per entry.
//
// State lives in memory and is bounded: at most `max_tracked` actors and sources (the least
// recently seen go first). Not thread-safe: the trail calls Observe() on its writer thread only;
// alerts() may be read from any thread.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "strongroom/audit/audit_entry.h"

namespace strongroom::audit {

struct BehaviourSettings {
  std::size_t distinct_subjects = 100;
  std::size_t denials = 20;
  std::chrono::seconds window{600};
  std::size_t max_tracked = 10'000;
};

class BehaviourRules {
 public:
  enum Rule { kMassRead, kNewNetwork, kDenials, kDataLoss, kRuleCount };
  static std::string_view RuleName(Rule rule);

  explicit BehaviourRules(BehaviourSettings settings);

  void Observe(const Event& event);
  std::uint64_t alerts(Rule rule) const { return alerts_[rule].load(std::memory_order_relaxed); }

 private:
  struct Track {
    // Subjects read within the window, oldest first, and how often each occurs there: the
    // number of distinct subjects is `subject_counts.size()`, kept up to date in O(1) per read.
    std::deque<std::pair<std::chrono::system_clock::time_point, std::string>> reads;
    std::unordered_map<std::string, std::uint32_t> subject_counts;
    std::string last_source;  // NetworkOf is computed only when the source changes
    std::deque<std::chrono::system_clock::time_point> denials;
    std::set<std::string> networks;
    std::chrono::system_clock::time_point mass_read_alerted{}, denials_alerted{};
    std::chrono::system_clock::time_point last_seen{};
  };
  Track& TrackFor(const std::string& key, std::chrono::system_clock::time_point now);
  void Alert(Rule rule, const Event& event, std::uint64_t count);

  const BehaviourSettings settings_;
  std::unordered_map<std::string, Track> tracks_;  // "actor:<id>" or "source:<ip>"
  std::array<std::atomic<std::uint64_t>, kRuleCount> alerts_{};
};

// The network an address belongs to, for new_network: "203.0.113.0/24", "2001:db8:1:2::/64".
std::string NetworkOf(std::string_view address);

}  // namespace strongroom::audit
