#include "strongroom/backup/backup_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "strongroom/audit/audit_trail.h"
#include "strongroom/base/files.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/storage/sqlite_snapshot.h"

namespace strongroom::backup {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::system_clock;

constexpr std::string_view kKindNames[] = {"full", "incremental", "drill"};
constexpr std::string_view kDrillStatusFile = "last-success";
// A running server looks at its schedule at least this often (overdue gauges follow the clock).
constexpr std::chrono::seconds kMaxSleep{60};

double Seconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Names a restore may create inside restore_dir: one path component, no hidden or special name.
bool IsPlainName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.' || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Backup ids are "<time>-<kind>-<hex>" (backup_format.h): letters, digits, '.', '-'.
bool IsBackupId(std::string_view id) {
  if (id.empty() || id.size() > 100 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

Result<std::string> NewJobId() {
  std::uint8_t random[8];
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  return "job_" + crypto::HexEncode(random);
}

json::array TargetsJson(const std::vector<TargetOutcome>& targets) {
  json::array out;
  for (const auto& t : targets) {
    json::object o{{"target", t.target.string()}, {"ok", t.ok}};
    if (!t.error.empty()) o["error"] = t.error;
    if (!t.warning.empty()) o["warning"] = t.warning;
    out.push_back(std::move(o));
  }
  return out;
}

json::array StringsJson(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

// The newest backup on any of `targets` (ids sort by time): a target that missed the latest
// backup must not make a drill or a restore quietly use an older one. Empty if none.
// With `at`, the newest whose created_at is at or before it.
std::string NewestBackupId(const std::vector<fs::path>& targets, std::string_view at = {}) {
  std::string newest;
  for (const auto& target : targets) {
    auto listed = ListBackups(target);
    if (!listed) continue;
    for (const auto& listing : *listed) {
      if (!listing.manifest || (!at.empty() && listing.manifest->created_at > at)) continue;
      if (listing.name > newest) newest = listing.name;
    }
  }
  return newest;
}

// Deletes what a drill leaves in its directory (a copy, or a restore cut short), and nothing
// else: the directory may have been set to one that holds other files.
void RemoveDrillLeftovers(const fs::path& scratch) {
  std::error_code ec;
  fs::directory_iterator it(scratch, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("drill-") || name.starts_with(".drill-")) {
      std::error_code remove_ec;
      fs::remove_all(it->path(), remove_ec);
    }
  }
}

}  // namespace

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kFull:
      return "full";
    case JobKind::kIncremental:
      return "incremental";
    case JobKind::kVerify:
      return "verify";
    case JobKind::kRestore:
      return "restore";
    case JobKind::kPrune:
      return "prune";
    case JobKind::kDrill:
      return "drill";
  }
  return "unknown";
}

BackupService::BackupService(ServiceSettings settings, KeysProvider keys, SampleCheck sample,
                             audit::Trail& trail, observe::MetricsRegistry& registry)
    : settings_(std::move(settings)),
      keys_(std::move(keys)),
      sample_(std::move(sample)),
      trail_(trail),
      started_at_(Clock::now()) {
  for (int k = 0; k < kKindCount; ++k) {
    const observe::Labels labels{{"kind", std::string(kKindNames[k])}};
    KindState& state = kinds_[k];
    state.last_success_gauge = &registry.GetGauge(
        "strongroom_backup_last_success_timestamp_seconds",
        "When the last backup (full, incremental) or restore drill of each kind succeeded "
        "(0: never)",
        labels);
    state.duration_gauge = &registry.GetGauge("strongroom_backup_last_duration_seconds",
                                              "How long the last successful one took", labels);
    state.bytes_gauge = &registry.GetGauge(
        "strongroom_backup_last_size_bytes",
        "Bytes the last successful backup wrote per target (drill: bytes it restored)", labels);
    state.overdue_gauge = &registry.GetGauge(
        "strongroom_backup_overdue",
        "1 while the schedule is late by more than backup.overdue_grace_seconds", labels);
    state.failures_counter = &registry.GetCounter("strongroom_backup_failures_total",
                                                  "Backups and restore drills that failed", labels);
  }
}

BackupService::~BackupService() { Stop(); }

void BackupService::ReadHistory() {
  // Manifests are read, not verified: they only say when the next backup is due. Every backup
  // verifies its base again before building on it.
  std::string newest_id;  // ids sort by time
  for (const auto& target : settings_.targets) {
    auto listed = ListBackups(target);
    if (!listed) {
      observe::Warn("backup.target_unreadable",
                    {{"target", target.string()}, {"reason", listed.error().message()}});
      continue;
    }
    for (const auto& listing : *listed) {
      if (!listing.manifest) continue;
      const auto created = ParseRfc3339(listing.manifest->created_at);
      if (!created) continue;
      KindState& state = kinds_[listing.manifest->kind == "full" ? kFullKind : kIncrementalKind];
      if (!state.last_success || *state.last_success < *created) {
        state.last_success = *created;
        state.last_bytes = listing.manifest->bytes;
      }
      if (!newest_backup_ || *newest_backup_ < *created) newest_backup_ = *created;
      if (listing.name > newest_id) {
        newest_id = listing.name;
        newest_seqs_.clear();
        for (const auto& store : listing.manifest->stores) newest_seqs_[store.name] = store.seq;
      }
    }
  }
  if (auto text = ReadWholeFile(settings_.drill_dir / kDrillStatusFile); text) {
    if (auto last = ParseRfc3339(*text)) kinds_[kDrillKind].last_success = *last;
  }
  for (auto& state : kinds_) {
    if (state.last_success) state.last_success_gauge->Set(Seconds(*state.last_success));
    state.bytes_gauge->Set(static_cast<double>(state.last_bytes));
  }
}

void BackupService::Start() {
  {
    const std::lock_guard lock(mu_);
    if (thread_.joinable() || stopping_) return;
    ReadHistory();
  }
  thread_ = std::thread([this] { Loop(); });
}

void BackupService::Stop() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_.store(true, std::memory_order_relaxed);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackupService::CancelRunning() { cancel_job_.store(true, std::memory_order_relaxed); }

std::optional<Clock::time_point> BackupService::DueLocked(Kind kind) const {
  if (!settings_.schedule || settings_.targets.empty()) return std::nullopt;
  const KindState& state = kinds_[kind];
  switch (kind) {
    case kFullKind:
      return state.last_success ? *state.last_success + settings_.full_interval : started_at_;
    case kIncrementalKind:
      // Incrementals need a full one to build on; until then the full one is what is due.
      if (settings_.incremental_interval.count() == 0 || !kinds_[kFullKind].last_success ||
          !newest_backup_) {
        return std::nullopt;
      }
      return *newest_backup_ + settings_.incremental_interval;
    case kDrillKind:
      if (settings_.drill_interval.count() == 0 || !newest_backup_) return std::nullopt;
      return state.last_success ? *state.last_success + settings_.drill_interval : started_at_;
    default:
      return std::nullopt;
  }
}

std::optional<Clock::time_point> BackupService::RetryAtLocked(Kind kind) const {
  auto due = DueLocked(kind);
  if (!due) return std::nullopt;
  const KindState& state = kinds_[kind];
  if (state.last_failure && (!state.last_success || *state.last_failure > *state.last_success)) {
    // A drill restores everything: a failing one is not repeated more than hourly.
    const auto delay =
        kind == kDrillKind
            ? std::max<std::chrono::seconds>(
                  settings_.retry_delay,
                  std::min<std::chrono::seconds>(settings_.drill_interval, std::chrono::hours(1)))
            : settings_.retry_delay;
    due = std::max(*due, *state.last_failure + delay);
  }
  return due;
}

void BackupService::UpdateOverdueLocked(Clock::time_point now) {
  for (int k = 0; k < kKindCount; ++k) {
    KindState& state = kinds_[k];
    const auto due = DueLocked(static_cast<Kind>(k));
    const bool overdue = due && now > *due + settings_.overdue_grace;
    if (overdue && !state.overdue) {
      observe::Warn("backup.overdue",
                    {{"kind", kKindNames[k]},
                     {"due", FormatRfc3339(*due)},
                     {"last_success",
                      state.last_success ? FormatRfc3339(*state.last_success) : std::string()},
                     {"last_error", state.last_error}});
    }
    state.overdue = overdue;
    state.overdue_gauge->Set(overdue ? 1.0 : 0.0);
  }
}

bool BackupService::StoresChanged(
    const std::map<std::string, std::uint64_t, std::less<>>& seqs) const {
  for (const std::string_view name : kStoreNames) {
    auto snapshot =
        storage::SqliteSnapshot::Open(settings_.vault.data_dir / (std::string(name) + ".db"));
    if (!snapshot) return true;  // the backup will say what is wrong
    const auto known = seqs.find(name);
    if (known == seqs.end() || known->second != (*snapshot)->position().seq) return true;
  }
  return false;
}

std::optional<Clock::time_point> BackupService::NextCaptureLocked() const {
  if (settings_.capture_interval.count() == 0 || !settings_.schedule || settings_.targets.empty() ||
      !kinds_[kFullKind].last_success || !newest_backup_) {
    return std::nullopt;
  }
  auto at = std::max(*newest_backup_ + settings_.capture_interval, next_capture_check_);
  // A failing incremental (a target gone) is retried as the schedule's is, not every interval.
  const KindState& incremental = kinds_[kIncrementalKind];
  if (incremental.last_failure &&
      (!incremental.last_success || *incremental.last_failure > *incremental.last_success)) {
    at = std::max(at, *incremental.last_failure + settings_.retry_delay);
  }
  return at;
}

void BackupService::QueueDueLocked(Clock::time_point now) {
  const auto pending = [&](JobKind kind) {
    return std::any_of(jobs_.begin(), jobs_.end(), [&](const JobInfo& job) {
      return job.request.kind == kind && (job.state == "queued" || job.state == "running");
    });
  };
  // The full backup first, and alone while it is due (even while it waits to be retried): an
  // incremental would only copy what it is about to, and a drill would restore an old backup.
  const auto full_due = RetryAtLocked(kFullKind);
  if (pending(JobKind::kFull)) return;
  std::vector<std::pair<JobKind, std::string_view>> due;  // and who asks
  if (full_due && DueLocked(kFullKind) <= now) {
    if (*full_due <= now) due.emplace_back(JobKind::kFull, "schedule");
  } else {
    for (const auto& [kind, job_kind] : {std::pair{kIncrementalKind, JobKind::kIncremental},
                                         std::pair{kDrillKind, JobKind::kDrill}}) {
      const auto at = RetryAtLocked(kind);
      if (at && *at <= now && !pending(job_kind)) due.emplace_back(job_kind, "schedule");
    }
    // Change capture: Loop() found a store changed (capture_wanted_).
    if (capture_wanted_ && !pending(JobKind::kIncremental) &&
        std::none_of(due.begin(), due.end(),
                     [](const auto& d) { return d.first == JobKind::kIncremental; })) {
      due.emplace_back(JobKind::kIncremental, "capture");
    }
    capture_wanted_ = false;
  }
  if (due.empty()) return;
  // Sealed, every job would fail: queue nothing; the overdue gauge is the alert.
  if (auto keys = keys_(); !keys) {
    if (!waiting_for_keys_) {
      observe::Warn("backup.waiting_for_keys", {{"reason", keys.error().message()}});
      waiting_for_keys_ = true;
    }
    return;
  }
  waiting_for_keys_ = false;
  for (const auto& [kind, by] : due) {
    JobRequest request;
    request.kind = kind;
    request.requested_by = std::string(by);
    if (auto queued = EnqueueLocked(std::move(request)); !queued) {
      observe::Error("backup.schedule_failed",
                     {{"kind", JobKindName(kind)}, {"reason", queued.error().message()}});
    }
  }
}

void BackupService::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = Clock::now();
    // Change capture: whether a store changed since the newest backup. The check opens the four
    // store files (a read transaction each), so it runs without mu_.
    if (const auto capture = NextCaptureLocked(); capture && *capture <= now) {
      next_capture_check_ = now + settings_.capture_interval;
      const auto seqs = newest_seqs_;
      lock.unlock();
      const bool changed = StoresChanged(seqs);
      lock.lock();
      if (stopping_) break;
      capture_wanted_ = changed;
      now = Clock::now();
    }
    UpdateOverdueLocked(now);
    QueueDueLocked(now);
    if (queue_.empty()) {
      // Sleep until something is due or becomes overdue (a job submitted wakes it earlier).
      // While sealed, the next look is at most kMaxSleep away.
      auto wake_at = now + kMaxSleep;
      for (int k = 0; k < kKindCount; ++k) {
        const auto due = DueLocked(static_cast<Kind>(k));
        const auto retry = RetryAtLocked(static_cast<Kind>(k));
        if (!due || !retry) continue;
        for (const auto at : {*retry, *due + settings_.overdue_grace + std::chrono::seconds(1)}) {
          if (at > now && at < wake_at) wake_at = at;
        }
      }
      if (const auto capture = NextCaptureLocked();
          capture && *capture > now && *capture < wake_at) {
        wake_at = *capture;
      }
      wake_.wait_until(lock, wake_at);
      continue;
    }
    const std::string id = queue_.front();
    queue_.pop_front();
    JobInfo* job = FindLocked(id);
    if (job == nullptr) continue;
    job->state = "running";
    job->started_at = now;
    cancel_job_.store(false, std::memory_order_relaxed);
    const JobInfo running = *job;
    lock.unlock();
    const ProgressFn progress = [this, &id](std::uint64_t done, std::uint64_t total) {
      const std::lock_guard progress_lock(mu_);
      if (JobInfo* found = FindLocked(id)) {
        found->done = done;
        found->total = total;
      }
    };
    const auto began = std::chrono::steady_clock::now();
    const auto outcome = Run(running, progress);
    Finish(id, outcome, std::chrono::steady_clock::now() - began);
    lock.lock();
  }
}

Result<JobInfo> BackupService::Submit(JobRequest request) {
  if (settings_.targets.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "no backup targets are configured (set backup.targets)");
  }
  switch (request.kind) {
    case JobKind::kRestore: {
      if (settings_.restore_dir.empty()) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "restores through the API are off: set backup.restore_dir to the directory "
                    "they may go into");
      }
      if (!IsPlainName(request.destination)) {
        return FailAt("$.destination", "format",
                      "must be a plain directory name (letters, digits, '.', '-', '_'; at most "
                      "64; not starting with '.' or '-'), made inside backup.restore_dir");
      }
      std::error_code ec;
      if (fs::exists(fs::symlink_status(settings_.restore_dir / request.destination, ec))) {
        return Fail(ErrorCode::kAlreadyExists,
                    "the destination " + request.destination + " already exists in " +
                        settings_.restore_dir.string() + ": a restore never overwrites");
      }
      if (!request.at.empty() && !ParseRfc3339(request.at)) {
        return FailAt("$.at", "format", "must be RFC 3339 UTC in seconds: 2026-11-23T10:15:00Z");
      }
      if (!request.backup_id.empty() && !request.at.empty()) {
        return FailAt("$.at", "conflict", "give backup_id or at, not both");
      }
      [[fallthrough]];
    }
    case JobKind::kVerify:
      if (!request.backup_id.empty() && !IsBackupId(request.backup_id)) {
        return FailAt("$.backup_id", "format", "is not a backup id");
      }
      break;
    case JobKind::kPrune:
      if (request.keep_full < 0 || request.keep_full > 1000) {
        return FailAt("$.keep_full", "range", "must be from 1 to 1000");
      }
      break;
    default:
      break;
  }
  const std::lock_guard lock(mu_);
  if (stopping_) return Fail(ErrorCode::kUnavailable, "the server is stopping");
  return EnqueueLocked(std::move(request));
}

Result<JobInfo> BackupService::EnqueueLocked(JobRequest request) {
  if (queue_.size() >= kMaxQueued) {
    return Fail(ErrorCode::kResourceExhausted,
                std::to_string(kMaxQueued) + " backup jobs are already waiting; try later");
  }
  auto id = NewJobId();
  if (!id) return std::unexpected(id.error());
  JobInfo job;
  job.id = std::move(*id);
  job.request = std::move(request);
  job.state = "queued";
  job.queued_at = Clock::now();
  jobs_.push_front(job);
  queue_.push_back(job.id);
  // Forget the oldest finished jobs (queued and running ones stay: at most kMaxQueued + 1).
  for (auto it = jobs_.end(); jobs_.size() > kKeptJobs && it != jobs_.begin();) {
    --it;
    if (it->state == "succeeded" || it->state == "failed") it = jobs_.erase(it);
  }
  wake_.notify_all();
  return job;
}

JobInfo* BackupService::FindLocked(std::string_view id) {
  auto it = std::find_if(jobs_.begin(), jobs_.end(), [&](const JobInfo& j) { return j.id == id; });
  return it == jobs_.end() ? nullptr : &*it;
}

std::optional<JobInfo> BackupService::Job(std::string_view id) const {
  const std::lock_guard lock(mu_);
  auto it = std::find_if(jobs_.begin(), jobs_.end(), [&](const JobInfo& j) { return j.id == id; });
  if (it == jobs_.end()) return std::nullopt;
  return *it;
}

std::vector<JobInfo> BackupService::Jobs() const {
  const std::lock_guard lock(mu_);
  return {jobs_.begin(), jobs_.end()};
}

std::vector<KindStatus> BackupService::Status() const {
  const std::lock_guard lock(mu_);
  std::vector<KindStatus> out;
  for (int k = 0; k < kKindCount; ++k) {
    const KindState& state = kinds_[k];
    KindStatus status;
    status.kind = std::string(kKindNames[k]);
    status.last_success = state.last_success;
    status.last_duration_seconds = state.last_duration_seconds;
    status.last_bytes = state.last_bytes;
    status.failures = state.failures;
    status.last_error = state.last_error;
    status.next_due = RetryAtLocked(static_cast<Kind>(k));
    status.overdue = state.overdue;
    out.push_back(std::move(status));
  }
  return out;
}

Result<BackupService::Outcome> BackupService::Run(const JobInfo& job, const ProgressFn& progress) {
  // Nothing here may end the server: an exception (a filesystem call, a JSON access) is this
  // job's failure.
  try {
    switch (job.request.kind) {
      case JobKind::kFull:
      case JobKind::kIncremental:
        return RunBackup(job.request.kind == JobKind::kFull, progress);
      case JobKind::kDrill:
        return RunDrill(progress);
      case JobKind::kPrune:
        return RunPrune(job.request);
      case JobKind::kVerify:
        return RunVerify(job.request, progress);
      case JobKind::kRestore:
        return RunRestore(job.request, progress);
    }
    return Fail(ErrorCode::kInternal, "unknown backup job kind");
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("backup job failed: ") + e.what());
  }
}

Result<BackupService::Outcome> BackupService::RunPrune(const JobRequest& request) {
  const int keep = request.keep_full > 0 ? request.keep_full : settings_.keep_full;
  json::array targets;
  Outcome outcome;
  std::string failures;
  for (const auto& target : settings_.targets) {
    auto pruned = PruneBackups(target, keep);
    if (!pruned) {
      // One target that cannot be pruned does not keep the others from it.
      failures += (failures.empty() ? "" : "; ") + pruned.error().message();
      targets.push_back(
          json::object{{"target", target.string()}, {"error", pruned.error().message()}});
      continue;
    }
    for (const auto& id : pruned->deleted) outcome.backups.push_back(id);
    targets.push_back(json::object{{"target", target.string()},
                                   {"deleted", StringsJson(pruned->deleted)},
                                   {"kept", StringsJson(pruned->kept)}});
  }
  if (!failures.empty()) return Fail(ErrorCode::kUnavailable, "prune failed on " + failures);
  outcome.json =
      json::serialize(json::object{{"keep_full", keep}, {"targets", std::move(targets)}});
  return outcome;
}

Result<BackupService::Outcome> BackupService::RunVerify(const JobRequest& request,
                                                        const ProgressFn& progress) {
  auto keys = keys_();
  if (!keys) return std::unexpected(keys.error());
  json::array targets;
  std::string problems;
  bool found = false;
  Outcome outcome;
  for (const auto& target : settings_.targets) {
    auto verified =
        VerifyBackups(target, *keys, request.backup_id, progress, [this] { return Cancelled(); });
    if (!verified) {
      if (verified.error().code() == ErrorCode::kNotFound) continue;  // not on this target
      if (Cancelled()) return std::unexpected(verified.error());
      // A target that cannot be read is a finding; the others are still checked.
      problems += (problems.empty() ? "" : "; ") + verified.error().message();
      targets.push_back(
          json::object{{"target", target.string()}, {"error", verified.error().message()}});
      continue;
    }
    found = true;
    json::array backups;
    for (const auto& result : *verified) {
      json::object o{{"id", result.id}, {"ok", result.ok}, {"bytes", result.bytes}};
      outcome.backups.push_back(result.id);
      outcome.bytes += result.bytes;
      if (!result.ok) {
        o["problem"] = result.problem;
        problems += (problems.empty() ? "" : "; ") + target.string() + ": " + result.id + ": " +
                    result.problem;
      }
      backups.push_back(std::move(o));
    }
    targets.push_back(json::object{{"target", target.string()}, {"backups", std::move(backups)}});
  }
  if (!found && problems.empty()) {
    return Fail(ErrorCode::kNotFound, "no backup " + request.backup_id + " on any target");
  }
  if (!problems.empty()) return Fail(ErrorCode::kDataLoss, problems);
  outcome.json = json::serialize(json::object{{"targets", std::move(targets)}});
  return outcome;
}

Result<BackupService::Outcome> BackupService::RunRestore(const JobRequest& request,
                                                         const ProgressFn& progress) {
  auto keys = keys_();
  if (!keys) return std::unexpected(keys.error());
  RestoreOptions options;
  options.backup_id = request.backup_id;
  // No id: the newest backup (at or before `at`) on any target, not on the first one only (a
  // target that missed the latest captures would quietly restore an older point).
  if (options.backup_id.empty()) {
    options.backup_id = NewestBackupId(settings_.targets, request.at);
    if (options.backup_id.empty()) {
      return Fail(ErrorCode::kNotFound, request.at.empty()
                                            ? std::string("no backup on any target")
                                            : "no backup at or before " + request.at);
    }
  }
  options.destination = settings_.restore_dir / request.destination;
  options.sealed_key_file = settings_.sealed_key_file;
  options.root_key_name = settings_.sealed_key_file.filename().string();
  options.progress = progress;
  options.cancelled = [this] { return Cancelled(); };
  options.before_open = erasure_.replay;
  // Each target in turn: a copy that is damaged or missing on one may be whole on another.
  std::string failures;
  bool nowhere = true;  // every target said not_found
  for (const auto& target : settings_.targets) {
    options.target = target;
    auto restored = RestoreBackup(options, *keys);
    if (restored) {
      Outcome outcome;
      outcome.backups = restored->chain;
      outcome.destination = options.destination.string();
      outcome.bytes = restored->bytes;
      outcome.json = json::serialize(json::object{{"target", target.string()},
                                                  {"destination", options.destination.string()},
                                                  {"chain", StringsJson(restored->chain)},
                                                  {"bytes", restored->bytes},
                                                  {"audit_entries", restored->audit_entries},
                                                  {"erasures", restored->before_open}});
      return outcome;
    }
    if (restored.error().code() == ErrorCode::kAlreadyExists || Cancelled()) {
      return std::unexpected(restored.error());
    }
    nowhere = nowhere && restored.error().code() == ErrorCode::kNotFound;
    failures += (failures.empty() ? "" : "; ") + restored.error().message();
  }
  return Fail(nowhere ? ErrorCode::kNotFound : ErrorCode::kDataLoss,
              "no target could restore it: " + failures);
}

Result<BackupService::Outcome> BackupService::RunBackup(bool full, const ProgressFn& progress) {
  auto keys = keys_();
  if (!keys) return std::unexpected(keys.error());
  CreateOptions options;
  options.vault = settings_.vault;
  options.targets = settings_.targets;
  options.full = full;
  options.progress = progress;
  options.cancelled = [this] { return Cancelled(); };
  auto report = CreateBackup(options, *keys);
  if (erasure_.after_backup) erasure_.after_backup();
  if (!report) return std::unexpected(report.error());
  for (const auto& target : report->targets) {
    if (!target.ok) {
      // The backup is good elsewhere; this target missed it.
      observe::Error("backup.target_failed", {{"backup", report->manifest.id},
                                              {"target", target.target.string()},
                                              {"reason", target.error}});
    }
  }
  json::object result{
      {"backup_id", report->manifest.id},        {"kind", report->manifest.kind},
      {"bytes", report->manifest.bytes},         {"plaintext_bytes", report->plaintext_bytes},
      {"targets", TargetsJson(report->targets)}, {"warnings", StringsJson(report->warnings)}};
  if (full) {
    // Retention: after every full backup, keep_full generations stay on each target.
    json::array pruned;
    for (const auto& target : settings_.targets) {
      auto done = PruneBackups(target, settings_.keep_full);
      if (!done) {
        observe::Warn("backup.prune_failed",
                      {{"target", target.string()}, {"reason", done.error().message()}});
        continue;
      }
      for (const auto& id : done->deleted) pruned.emplace_back(id);
    }
    result["pruned"] = std::move(pruned);
  }
  Outcome outcome;
  outcome.json = json::serialize(result);
  outcome.backups.push_back(report->manifest.id);
  outcome.bytes = report->manifest.bytes;
  outcome.created = ParseRfc3339(report->manifest.created_at);
  for (const auto& store : report->manifest.stores) outcome.store_seqs[store.name] = store.seq;
  return outcome;
}

Result<BackupService::Outcome> BackupService::RunDrill(const ProgressFn& progress) {
  auto keys = keys_();
  if (!keys) return std::unexpected(keys.error());
  const fs::path& scratch = settings_.drill_dir;
  std::error_code ec;
  fs::create_directories(scratch, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable,
                "cannot create the drill directory " + scratch.string() + ": " + ec.message());
  }
  (void)::chmod(scratch.c_str(), 0700);
  RemoveDrillLeftovers(scratch);  // a drill the server was killed in
  std::uint8_t random[4];
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  RestoreOptions options;
  options.backup_id = NewestBackupId(settings_.targets);
  if (options.backup_id.empty()) return Fail(ErrorCode::kNotFound, "no backup to drill on");
  options.destination = scratch / ("drill-" + crypto::HexEncode(random));
  options.sealed_key_file = settings_.sealed_key_file;
  options.root_key_name = settings_.sealed_key_file.filename().string();
  options.progress = progress;
  options.cancelled = [this] { return Cancelled(); };
  options.before_open = erasure_.replay;
  json::array skipped;
  for (const auto& target : settings_.targets) {
    options.target = target;
    auto restored = RestoreBackup(options, *keys);
    if (!restored) {
      if (Cancelled()) return std::unexpected(restored.error());
      skipped.push_back(
          json::object{{"target", target.string()}, {"error", restored.error().message()}});
      continue;
    }
    auto sampled = sample_(options.destination);
    fs::remove_all(options.destination, ec);
    if (!sampled) {
      return Fail(sampled.error().code(),
                  "the backup " + restored->chain.back() +
                      " restored, but its records did not decrypt: " + sampled.error().message());
    }
    if (auto saved =
            WriteFileAtomically(scratch / kDrillStatusFile, FormatRfc3339(Clock::now()), 0600);
        !saved) {
      observe::Warn("backup.drill_status_unsaved", {{"reason", saved.error().message()}});
    }
    // A drill that had to skip a damaged target still passed, and says which it skipped.
    Outcome outcome;
    outcome.backups = restored->chain;
    outcome.bytes = restored->bytes;
    outcome.json = json::serialize(json::object{{"target", target.string()},
                                                {"backup_id", restored->chain.back()},
                                                {"chain", StringsJson(restored->chain)},
                                                {"bytes", restored->bytes},
                                                {"audit_entries", restored->audit_entries},
                                                {"records_decrypted", *sampled},
                                                {"skipped_targets", std::move(skipped)}});
    return outcome;
  }
  fs::remove_all(options.destination, ec);
  return Fail(ErrorCode::kDataLoss,
              "no target restored " + options.backup_id + ": " + json::serialize(skipped));
}

void BackupService::Finish(const std::string& id, const Result<Outcome>& outcome,
                           std::chrono::steady_clock::duration took) {
  const auto now = Clock::now();
  const double seconds = std::chrono::duration<double>(took).count();
  JobInfo finished;
  {
    const std::lock_guard lock(mu_);
    JobInfo* job = FindLocked(id);
    if (job == nullptr) return;
    job->finished_at = now;
    if (outcome) {
      job->state = "succeeded";
      job->result_json = outcome->json;
      job->done = job->total;
    } else {
      job->state = "failed";
      job->error_code = std::string(ErrorCodeName(outcome.error().code()));
      job->error = outcome.error().message();
    }
    std::optional<Kind> kind;
    if (job->request.kind == JobKind::kFull) kind = kFullKind;
    if (job->request.kind == JobKind::kIncremental) kind = kIncrementalKind;
    if (job->request.kind == JobKind::kDrill) kind = kDrillKind;
    if (kind) {
      KindState& state = kinds_[*kind];
      if (outcome) {
        // A backup's time is its manifest's (as a restart reads it again); a drill's, its end.
        const auto at = outcome->created.value_or(now);
        state.last_success = at;
        state.last_duration_seconds = seconds;
        state.last_bytes = outcome->bytes;
        state.last_error.clear();
        state.last_success_gauge->Set(Seconds(at));
        state.duration_gauge->Set(seconds);
        state.bytes_gauge->Set(static_cast<double>(outcome->bytes));
        if (*kind != kDrillKind && (!newest_backup_ || *newest_backup_ <= at)) {
          newest_backup_ = at;
          newest_seqs_ = outcome->store_seqs;
        }
      } else if (!Cancelled()) {
        state.last_failure = now;
        state.failures += 1;
        state.last_error = job->error;
        state.failures_counter->Increment();
      }
      UpdateOverdueLocked(now);
    }
    finished = *job;
  }
  const std::string_view kind = JobKindName(finished.request.kind);
  if (outcome) {
    observe::Info("backup.job_succeeded", {{"job", finished.id},
                                           {"kind", kind},
                                           {"requested_by", finished.request.requested_by},
                                           {"seconds", seconds},
                                           {"result", finished.result_json}});
  } else {
    observe::Error("backup.job_failed", {{"job", finished.id},
                                         {"kind", kind},
                                         {"requested_by", finished.request.requested_by},
                                         {"code", finished.error_code},
                                         {"reason", finished.error}});
  }
  // The security event: what ran and how it ended, with the backups it touched (ids, and a
  // restore's destination; a backup job never handles personal data in the clear). The request
  // that queued an API job has its own entry, with the principal and this job's id.
  audit::Event event;
  event.actor = audit::Actor{
      .id = "system:backup", .kind = "system", .roles = {}, .via = "", .credential = ""};
  event.request_id = finished.id;
  event.action = "backup.job_finished";
  event.target = std::string(kind);
  event.ids.push_back(finished.id);
  if (outcome) {
    event.ids.insert(event.ids.end(), outcome->backups.begin(), outcome->backups.end());
    if (!outcome->destination.empty()) event.ids.push_back("destination:" + outcome->destination);
  }
  event.status = outcome ? 200 : 500;
  event.code = outcome ? "ok" : finished.error_code;
  if (auto appended = trail_.AppendAndWait(std::move(event)); !appended) {
    observe::Error("backup.audit_failed",
                   {{"job", finished.id}, {"reason", appended.error().message()}});
  }
}

}  // namespace strongroom::backup
