#pragma once
// RetentionJob: deletes what a tenant's retention rules ([[retention]] in its policy document,
// records/retention_rule.h, docs/privacy.md "Retention") let expire, on a schedule and on demand.
//
// A pass over one tenant sweeps each record collection a rule names, then the activity events,
// then the documents (VaultService::SweepRecords, SweepActivity, DocumentService::SweepExpired),
// a batch per store write, paced to `items_per_second` so live traffic keeps its latency. A pass
// is idempotent and needs no cursor: one cut short (stop, crash) is simply run again.
//
//   schedule   `first_pass_after` after Start (never at once: a server that just started writes
//              nothing on its own), then every `every`, each tenant that `tenants()` names.
//   on demand  Request(): the tenant's pass runs on the same thread before the rest of a round (a
//              dry run counts what would go and deletes nothing).
// Each pass reads the tenant's rules when it starts (Options::rules_for). The data of subjects
// restricted at its start is held (kept), which needs the keys: a sealed vault purges nothing.
//
// What each pass purged is reported to `notify` (the server writes one audit entry per pass, a
// bulk entry with counts by rule, never ids) and kept as the tenant's last pass (Status).
// A rule with archive_days moves what it let expire into the archive instead, and deletes it
// from there archive_days later (docs/privacy.md, "The archive").
// Metrics: strongroom_retention_purged_total{data}, strongroom_retention_archived_total{data},
// strongroom_retention_scanned_total,
// strongroom_retention_passes_running, strongroom_retention_failed_passes_total,
// strongroom_retention_last_pass_timestamp_seconds.
//
// Thread-safe; `mu_` guards the requests and the passes' state (never held across I/O). Borrows
// the services, which must outlive it; Stop() (or the destructor) joins the thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/records/retention_rule.h"

namespace strongroom::observe {
class Counter;
class Gauge;
class MetricsRegistry;
}  // namespace strongroom::observe

namespace strongroom::records {

class VaultService;
class DocumentService;

class RetentionJob {
 public:
  struct TenantRules {
    std::string tenant;
    std::uint64_t policy_version = 0;  // of the document the rules are from
    std::vector<RetentionRule> rules;
  };
  // What one rule let expire in one kind of data during a pass, and what became of it.
  struct Purge {
    std::string rule;
    std::string data;  // a record collection, "@activity" or "@documents"
    std::uint64_t count = 0;
    // "purge": deleted; "archive": moved into the archive; "purge_archived": deleted from the
    // archive, its archive_days over.
    std::string_view action = "purge";
  };
  struct Pass {
    std::string tenant;
    std::string trigger;  // "schedule", or who asked ("api: <principal>")
    bool dry_run = false;
    std::uint64_t policy_version = 0;
    std::string started_at;   // RFC 3339; "" while queued
    std::string finished_at;  // "" while running
    std::uint64_t scanned = 0;
    std::uint64_t purged = 0;      // deleted, from the live data or the archive (would be, in
                                   // a dry run): the sum of `purges` but "archive"
    std::uint64_t archived = 0;    // moved into the archive: the sum of "archive" purges
    std::uint64_t unreadable = 0;  // entries whose time did not parse: left alone
    std::uint64_t held = 0;        // expired entries of restricted subjects: kept
    std::vector<Purge> purges;     // only those with a count
    bool stopped = false;          // cut short by Stop (not an error; the next pass goes on)
    std::string error;             // why it stopped early, or ""
    std::string error_code;        // its ErrorCodeName, or ""
    bool running() const { return finished_at.empty(); }
  };
  struct Options {
    std::chrono::milliseconds every{std::chrono::hours(1)};
    std::chrono::milliseconds first_pass_after{std::chrono::minutes(10)};
    double items_per_second = 20'000;  // entries scanned; 0: as fast as the disk allows
    std::size_t batch = 256;           // entries per store write
    std::function<std::chrono::system_clock::time_point()> clock = std::chrono::system_clock::now;
    // The tenants to consider for the scheduled passes, and a tenant's rules in force now
    // (nullopt: none), read when its pass starts so that no pass runs under rules since changed.
    std::function<Result<std::vector<std::string>>()> tenants;
    std::function<Result<std::optional<TenantRules>>(std::string_view tenant)> rules_for;
    std::function<void(const Pass&)> notify;  // after each pass, on the thread, outside mu_
    // Run on the thread at the start of each scheduled round, before the tenants' passes (the
    // server finishes erasures whose grace period ended: records/subject_erasure.h).
    std::function<void()> each_round;
  };

  RetentionJob(VaultService& vault, DocumentService& documents, Options options,
               observe::MetricsRegistry& metrics);
  ~RetentionJob();
  RetentionJob(const RetentionJob&) = delete;
  RetentionJob& operator=(const RetentionJob&) = delete;

  void Start();
  void Stop();
  // Queues a pass over the tenant, with the rules in force when it starts; a request for a tenant
  // already waiting replaces that one. Requests run before the rest of a scheduled round. Returns
  // the tenant's state: its queued pass, or the running one (the request runs after it).
  // unavailable unless started; resource_exhausted past 64 waiting.
  Result<Pass> Request(std::string_view tenant, std::string trigger, bool dry_run);
  // The tenant's running pass, else its last; nullopt when none ran since the start.
  std::optional<Pass> Status(std::string_view tenant) const;
  // When the next scheduled pass starts (RFC 3339), or "" before Start and after Stop.
  std::string NextScheduledPass() const;

  // One pass with these rules, on the caller's thread (the thread's body; tests call it with an
  // injected clock). The subjects restricted at its start are held: their data is kept.
  Pass RunPass(const TenantRules& tenant, std::string trigger, bool dry_run);

 private:
  struct PendingPass {
    std::string tenant;
    std::string trigger;
    bool dry_run = false;
  };
  void Run();
  // The tenant's pass with its rules in force now (none: a pass that purged nothing, says why).
  Pass RunFor(const std::string& tenant, std::string trigger, bool dry_run);
  // Runs the oldest waiting request, if any (false: none, or stopping).
  bool RunRequested();
  // Sleeps off the pace and says whether to go on (false: stopping).
  bool Pace(std::size_t scanned);
  void Publish(const Pass& pass);  // the tenant's state, under mu_

  VaultService& vault_;
  DocumentService& documents_;
  const Options options_;
  observe::Counter& purged_records_;
  observe::Counter& purged_events_;
  observe::Counter& purged_documents_;
  observe::Counter& archived_records_;
  observe::Counter& archived_events_;
  observe::Counter& archived_documents_;
  observe::Counter& scanned_;
  observe::Counter& failed_;
  observe::Gauge& running_;
  observe::Gauge& last_pass_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<PendingPass> requests_;
  std::map<std::string, Pass, std::less<>> passes_;  // each tenant's running or last pass
  std::chrono::system_clock::time_point next_pass_{};
  bool started_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point paced_until_{};  // the thread's own (not under mu_)
  std::thread thread_;
};

}  // namespace strongroom::records
