#include "strongroom/records/retention.h"

#include <algorithm>

#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/records/document_service.h"
#include "strongroom/records/vault_service.h"

namespace strongroom::records {

namespace {

observe::Counter& PurgedCounter(observe::MetricsRegistry& metrics, std::string_view data) {
  return metrics.GetCounter("strongroom_retention_purged_total",
                            "Entries deleted because a retention rule let them expire, by kind",
                            {{"data", std::string(data)}});
}

observe::Counter& ArchivedCounter(observe::MetricsRegistry& metrics, std::string_view data) {
  return metrics.GetCounter("strongroom_retention_archived_total",
                            "Entries moved into the archive because a retention rule with "
                            "archive_days let them expire, by kind",
                            {{"data", std::string(data)}});
}

// Passes asked for and not yet run (one per tenant at most).
constexpr std::size_t kMaxQueuedRequests = 64;

}  // namespace

RetentionJob::RetentionJob(VaultService& vault, DocumentService& documents, Options options,
                           observe::MetricsRegistry& metrics)
    : vault_(vault),
      documents_(documents),
      options_(std::move(options)),
      purged_records_(PurgedCounter(metrics, "records")),
      purged_events_(PurgedCounter(metrics, "activity")),
      purged_documents_(PurgedCounter(metrics, "documents")),
      archived_records_(ArchivedCounter(metrics, "records")),
      archived_events_(ArchivedCounter(metrics, "activity")),
      archived_documents_(ArchivedCounter(metrics, "documents")),
      scanned_(
          metrics.GetCounter("strongroom_retention_scanned_total",
                             "Entries retention passes examined (progress of a running pass)")),
      failed_(metrics.GetCounter("strongroom_retention_failed_passes_total",
                                 "Retention passes that stopped on an error")),
      running_(metrics.GetGauge("strongroom_retention_passes_running",
                                "Retention passes running now (0 or 1)")),
      last_pass_(metrics.GetGauge("strongroom_retention_last_pass_timestamp_seconds",
                                  "When the last retention pass without an error finished")) {}

RetentionJob::~RetentionJob() { Stop(); }

void RetentionJob::Start() {
  const std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  next_pass_ = options_.clock() + options_.first_pass_after;
  thread_ = std::thread([this] { Run(); });
}

void RetentionJob::Stop() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<RetentionJob::Pass> RetentionJob::Request(std::string_view tenant, std::string trigger,
                                                 bool dry_run) {
  Pass state;
  state.tenant = tenant;
  state.trigger = trigger;
  state.dry_run = dry_run;
  {
    const std::lock_guard lock(mu_);
    if (stopping_ || !started_) {
      return Fail(ErrorCode::kUnavailable, "the retention job is not running on this server");
    }
    auto waiting = std::find_if(requests_.begin(), requests_.end(),
                                [&](const PendingPass& p) { return p.tenant == tenant; });
    if (waiting != requests_.end()) {
      *waiting = PendingPass{std::string(tenant), std::move(trigger), dry_run};
    } else if (requests_.size() >= kMaxQueuedRequests) {
      return Fail(ErrorCode::kResourceExhausted,
                  "too many retention passes are waiting: try again when they have run");
    } else {
      requests_.push_back(PendingPass{std::string(tenant), std::move(trigger), dry_run});
    }
    auto it = passes_.find(tenant);
    if (it != passes_.end() && !it->second.started_at.empty() && it->second.running()) {
      state = it->second;  // the running one; the request runs after it
    } else {
      passes_.insert_or_assign(state.tenant, state);
    }
  }
  wake_.notify_all();
  return state;
}

std::optional<RetentionJob::Pass> RetentionJob::Status(std::string_view tenant) const {
  const std::lock_guard lock(mu_);
  if (auto it = passes_.find(tenant); it != passes_.end()) return it->second;
  return std::nullopt;
}

std::string RetentionJob::NextScheduledPass() const {
  const std::lock_guard lock(mu_);
  if (!started_ || stopping_) return "";
  return FormatRfc3339(next_pass_);
}

void RetentionJob::Publish(const Pass& pass) {
  const std::lock_guard lock(mu_);
  passes_.insert_or_assign(pass.tenant, pass);
}

bool RetentionJob::Pace(std::size_t scanned) {
  scanned_.Increment(scanned);
  if (options_.items_per_second > 0 && scanned > 0) {
    // A budget in time: each entry costs 1/rate; the thread sleeps while it is ahead of it.
    const auto now = std::chrono::steady_clock::now();
    const auto cost = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(static_cast<double>(scanned) / options_.items_per_second));
    paced_until_ = std::max(paced_until_, now) + cost;
    std::unique_lock lock(mu_);
    wake_.wait_until(lock, paced_until_, [this] { return stopping_; });
  }
  const std::lock_guard lock(mu_);
  return !stopping_;
}

RetentionJob::Pass RetentionJob::RunPass(const TenantRules& tenant, std::string trigger,
                                         bool dry_run) {
  Pass pass;
  pass.tenant = tenant.tenant;
  pass.trigger = std::move(trigger);
  pass.dry_run = dry_run;
  pass.policy_version = tenant.policy_version;
  pass.started_at = FormatRfc3339(options_.clock());
  Publish(pass);
  running_.Set(1);

  const std::span<const RetentionRule> rules = tenant.rules;
  std::uint64_t purged_by_kind[3] = {0, 0, 0};  // records, activity, documents
  std::uint64_t archived_by_kind[3] = {0, 0, 0};
  SweepControl control{.now = options_.clock(),
                       .batch = options_.batch,
                       .dry_run = dry_run,
                       .held = nullptr,
                       .pace = nullptr};
  // Progress: the tenant's state follows each batch.
  control.pace = [&](std::size_t scanned, std::size_t purged, std::size_t archived) {
    pass.scanned += scanned;
    pass.purged += purged;
    pass.archived += archived;
    Publish(pass);
    return Pace(scanned);
  };
  // What a sweep did counts whether or not it ended well: rows it deleted are gone either way.
  Result<void> first_error;
  const auto account = [&](const Result<void>& swept, const SweepResult& result,
                           std::string_view data, std::size_t kind) {
    for (const auto& [counts, action] :
         {std::pair{&result.purged, std::string_view("purge")},
          std::pair{&result.archived, std::string_view("archive")},
          std::pair{&result.archive_purged, std::string_view("purge_archived")}}) {
      for (std::size_t i = 0; i < counts->size(); ++i) {
        const std::uint64_t count = (*counts)[i];
        if (count == 0) continue;
        pass.purges.push_back({rules[i].name, std::string(data), count, action});
        if (action == "archive") {
          archived_by_kind[kind] += count;
        } else {
          purged_by_kind[kind] += count;
        }
      }
    }
    pass.unreadable += result.unreadable;
    pass.held += result.held;
    if (result.stopped) pass.stopped = true;
    if (!swept && first_error) first_error = swept;
  };
  // A restricted subject's data is held whatever its age (GDPR art. 18(1)(c): kept for legal
  // claims); reading who is restricted needs the keys, so a sealed vault purges nothing.
  auto held = vault_.RestrictedSubjects(tenant.tenant);
  if (!held) {
    first_error = std::unexpected(held.error());
  } else {
    control.held = &*held;
    // One collection that fails (its schema unreadable, say) does not keep the others, the
    // activity or the documents from their retention.
    auto collections = vault_.CollectionNames(tenant.tenant);
    if (!collections) first_error = std::unexpected(collections.error());
    for (const auto& collection : collections ? *collections : std::vector<std::string>{}) {
      if (pass.stopped) break;
      SweepResult one;
      account(vault_.SweepRecords(tenant.tenant, collection, rules, control, one), one, collection,
              0);
    }
    if (!pass.stopped) {
      SweepResult activity;
      account(vault_.SweepActivity(tenant.tenant, rules, control, activity), activity,
              kActivityData, 1);
    }
    if (!pass.stopped) {
      SweepResult documents;
      account(documents_.SweepExpired(tenant.tenant, rules, control, documents), documents,
              kDocumentsData, 2);
    }
  }
  // The total from the sweeps' own counts (the progress sum misses a batch whose write failed
  // after some of its documents were deleted).
  pass.purged = purged_by_kind[0] + purged_by_kind[1] + purged_by_kind[2];
  pass.archived = archived_by_kind[0] + archived_by_kind[1] + archived_by_kind[2];
  if (!dry_run) {
    purged_records_.Increment(purged_by_kind[0]);
    purged_events_.Increment(purged_by_kind[1]);
    purged_documents_.Increment(purged_by_kind[2]);
    archived_records_.Increment(archived_by_kind[0]);
    archived_events_.Increment(archived_by_kind[1]);
    archived_documents_.Increment(archived_by_kind[2]);
    // The deleted pages were zeroed (secure_delete); their images leave the write-ahead logs
    // now, not at the next automatic checkpoint. (A move deletes the live rows too.)
    if (pass.purged > 0 || pass.archived > 0) {
      vault_.CheckpointStores();
      documents_.CheckpointStore();
    }
  }
  if (!first_error) {
    pass.error = first_error.error().message();
    pass.error_code = std::string(ErrorCodeName(first_error.error().code()));
    failed_.Increment();
    observe::Error("privacy.retention_failed", {{"tenant", pass.tenant}, {"reason", pass.error}});
  } else if (!dry_run && !pass.stopped) {
    last_pass_.Set(std::chrono::duration<double>(options_.clock().time_since_epoch()).count());
  }
  pass.finished_at = FormatRfc3339(options_.clock());
  Publish(pass);
  running_.Set(0);
  if (pass.unreadable > 0) {
    observe::Warn("privacy.retention_unreadable",
                  {{"tenant", pass.tenant},
                   {"entries", static_cast<std::int64_t>(pass.unreadable)},
                   {"advice", "entries whose time did not parse were kept: strongroom check"}});
  }
  if (options_.notify) options_.notify(pass);
  return pass;
}

RetentionJob::Pass RetentionJob::RunFor(const std::string& tenant, std::string trigger,
                                        bool dry_run) {
  auto rules = options_.rules_for ? options_.rules_for(tenant)
                                  : Result<std::optional<TenantRules>>(std::nullopt);
  if (rules && *rules && !(*rules)->rules.empty()) {
    return RunPass(**rules, std::move(trigger), dry_run);
  }
  // The policy changed since the pass was asked for (or cannot be read): nothing is purged
  // under rules no longer in force.
  Pass pass;
  pass.tenant = tenant;
  pass.trigger = std::move(trigger);
  pass.dry_run = dry_run;
  pass.started_at = pass.finished_at = FormatRfc3339(options_.clock());
  pass.error = rules ? "the tenant's policy has no [[retention]] rules now: nothing purged"
                     : rules.error().message();
  pass.error_code =
      std::string(ErrorCodeName(rules ? ErrorCode::kFailedPrecondition : rules.error().code()));
  Publish(pass);
  return pass;
}

bool RetentionJob::RunRequested() {
  std::optional<PendingPass> request;
  {
    const std::lock_guard lock(mu_);
    if (stopping_ || requests_.empty()) return false;
    request = std::move(requests_.front());
    requests_.pop_front();
  }
  RunFor(request->tenant, std::move(request->trigger), request->dry_run);
  return true;
}

void RetentionJob::Run() {
  for (;;) {
    bool scheduled = false;
    {
      std::unique_lock lock(mu_);
      // Waits for a request, the schedule or the stop. The schedule is kept on the injected
      // clock, checked at least every second so that a clock moved by a test is noticed.
      wake_.wait_for(lock, std::chrono::seconds(1), [this] {
        return stopping_ || !requests_.empty() || options_.clock() >= next_pass_;
      });
      if (stopping_) return;
      if (options_.clock() >= next_pass_) {
        scheduled = true;
        next_pass_ = options_.clock() + options_.every;
      }
    }
    while (RunRequested()) {
    }  // asked-for passes first
    if (!scheduled) continue;
    if (options_.each_round) options_.each_round();
    if (!options_.tenants) continue;
    auto tenants = options_.tenants();
    if (!tenants) {
      failed_.Increment();
      observe::Error("privacy.retention_failed", {{"reason", tenants.error().message()}});
      continue;
    }
    for (const auto& tenant : *tenants) {
      while (RunRequested()) {
      }  // asked-for passes go before the rest of the round
      {
        const std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      // Each tenant's rules as they stand when its pass starts.
      auto rules = options_.rules_for(tenant);
      if (!rules || !*rules || (*rules)->rules.empty()) continue;  // none: nothing expires
      RunPass(**rules, "schedule", false);
    }
  }
}

}  // namespace strongroom::records
