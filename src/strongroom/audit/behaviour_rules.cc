#include "strongroom/audit/behaviour_rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "strongroom/observe/log.h"

namespace strongroom::audit {
namespace {

bool IsDataRead(std::string_view action) {
  return action == "record.read" || action == "record.list" || action == "record.search" ||
         action == "subject.read" || action == "activity.list" || action == "document.read" ||
         action == "document.list" || action == "record.read_archived" ||
         action == "record.list_archived" || action == "activity.list_archived" ||
         action == "document.read_archived" || action == "document.list_archived";
}

}  // namespace

std::string NetworkOf(std::string_view address) {
  std::string text(address);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    auto* b = reinterpret_cast<unsigned char*>(&v4);
    return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + ".0/24";
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memset(v6.s6_addr + 8, 0, 8);
    char out[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, &v6, out, sizeof out);
    return std::string(out) + "/64";
  }
  return text;
}

std::string_view BehaviourRules::RuleName(Rule rule) {
  switch (rule) {
    case kMassRead:
      return "mass_read";
    case kNewNetwork:
      return "new_network";
    case kDenials:
      return "denials";
    case kDataLoss:
      return "data_loss";
    case kRuleCount:
      break;
  }
  return "unknown";
}

BehaviourRules::BehaviourRules(BehaviourSettings settings) : settings_(settings) {}

BehaviourRules::Track& BehaviourRules::TrackFor(const std::string& key,
                                                std::chrono::system_clock::time_point now) {
  if (tracks_.size() >= settings_.max_tracked && !tracks_.contains(key)) {
    // Bounded memory: forget the least recently seen.
    auto oldest = std::min_element(
        tracks_.begin(), tracks_.end(),
        [](const auto& a, const auto& b) { return a.second.last_seen < b.second.last_seen; });
    tracks_.erase(oldest);
  }
  Track& track = tracks_[key];
  track.last_seen = now;
  return track;
}

void BehaviourRules::Alert(Rule rule, const Event& event, std::uint64_t count) {
  alerts_[rule].fetch_add(1, std::memory_order_relaxed);
  observe::Warn("security.alert",
                {{"rule", RuleName(rule)},
                 {"actor", event.actor ? std::string_view(event.actor->id) : std::string_view()},
                 {"tenant", event.tenant},
                 {"source", event.source},
                 {"request_id", event.request_id},
                 {"action", event.action},
                 {"count", count}});
}

void BehaviourRules::Observe(const Event& event) {
  const auto now = event.time;
  const auto cutoff = now - settings_.window;
  if (event.code == "data_loss") Alert(kDataLoss, event, 1);

  const bool denied = event.code == "permission_denied" || event.code == "unauthenticated";
  const std::string key = event.actor ? "actor:" + event.actor->id : "source:" + event.source;
  if (!event.actor && !denied) return;  // nothing to track about an anonymous success
  Track& track = TrackFor(key, now);

  if (denied) {
    track.denials.push_back(now);
    while (!track.denials.empty() && track.denials.front() < cutoff) track.denials.pop_front();
    // Only "more than N" matters: N + 1 times are all a window needs to keep.
    while (track.denials.size() > settings_.denials + 1) track.denials.pop_front();
    if (track.denials.size() > settings_.denials && track.denials_alerted < cutoff) {
      track.denials_alerted = now;
      Alert(kDenials, event, track.denials.size());
    }
  }
  if (!event.actor) return;

  if (event.source != track.last_source) {
    track.last_source = event.source;
    const std::string network = NetworkOf(event.source);
    if (!track.networks.contains(network)) {
      if (!track.networks.empty()) Alert(kNewNetwork, event, track.networks.size() + 1);
      if (track.networks.size() < 64) track.networks.insert(network);
    }
  }

  if (IsDataRead(event.action) && event.code == "ok") {
    auto drop_oldest = [&track] {
      auto it = track.subject_counts.find(track.reads.front().second);
      if (it != track.subject_counts.end() && --it->second == 0) track.subject_counts.erase(it);
      track.reads.pop_front();
    };
    for (const std::string& subject : event.subjects) {
      track.reads.emplace_back(now, subject);
      ++track.subject_counts[subject];
    }
    while (!track.reads.empty() && track.reads.front().first < cutoff) drop_oldest();
    // Bounded: a window never keeps more than a few times the threshold.
    while (track.reads.size() > 4 * settings_.distinct_subjects + 64) drop_oldest();
    const std::size_t distinct = track.subject_counts.size();
    if (distinct > settings_.distinct_subjects && track.mass_read_alerted < cutoff) {
      track.mass_read_alerted = now;
      Alert(kMassRead, event, distinct);
    }
  }
}

}  // namespace strongroom::audit
