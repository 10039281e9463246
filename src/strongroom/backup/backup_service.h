#pragma once
// BackupService: the backups a running server makes, checks and restores by itself
// (docs/backup.md, "Schedule", "Restore drill", "Admin API"). One thread serves a queue of jobs
// fed by the schedule and by the admin API (api/backup_api.cc):
//   - a full backup when the newest full one is `full_interval` old (or there is none), then a
//     prune down to `keep_full` generations;
//   - an incremental backup when the newest backup is `incremental_interval` old, and, with
//     change capture on, `capture_interval` after it when a store has changed since;
//   - a restore drill every `drill_interval`: the newest backup's chain restored into a scratch
//     directory (RestoreBackup checks every piece, every file's digest and the audit trail
//     inside), a sample of its records decrypted (SampleCheck), the scratch copy removed.
// One job at a time: a backup is disk- and CPU-bound, and a second would only slow both. A job
// that needs the keys while the vault is sealed fails (failed_precondition); while sealed the
// schedule queues nothing (the overdue gauge is then the alert). A failed scheduled job is tried
// again `retry_delay` later (the drill: at least an hour later, as a drill restores everything).
//
// What it reports: each job's progress while it runs (Job()); metrics per kind (full,
// incremental, drill): time of the last success, its duration and size, failures, and an overdue
// gauge (1 once a kind is later than its interval plus `overdue_grace`); a log line per job
// (backup.job_failed and backup.overdue are errors/warnings to alert on); an audit entry per
// finished job (action backup.job_finished, actor "system:backup"), the drill's result among them.
//
// Owns its thread (Start, Stop). Borrows the trail and the registry: both must outlive it.
// Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "strongroom/backup/backup_engine.h"
#include "strongroom/base/error.h"

namespace strongroom::audit {
class Trail;
}
namespace strongroom::observe {
class MetricsRegistry;
class Gauge;
class Counter;
}  // namespace strongroom::observe

namespace strongroom::backup {

struct ServiceSettings {
  VaultPaths vault;
  std::vector<std::filesystem::path> targets;  // empty: every job is refused
  bool schedule = true;                        // false: only the jobs the API asks for
  std::chrono::seconds full_interval{7 * 86'400};
  std::chrono::seconds incremental_interval{86'400};  // zero: fulls only
  std::chrono::seconds drill_interval{7 * 86'400};    // zero: no drill
  // Change capture: an incremental backup this long after the newest backup when a store changed
  // since (zero: off). Restores to a point in time land on the newest capture at or before it.
  std::chrono::seconds capture_interval{0};
  std::chrono::seconds overdue_grace{3'600};
  std::chrono::seconds retry_delay{600};  // after a failed scheduled backup
  int keep_full = 5;
  std::filesystem::path drill_dir;
  std::filesystem::path restore_dir;  // empty: restores through the API are refused
  std::filesystem::path sealed_key_file;  // the root key's file: keys/root.sealed or keys/root.p11
};

// The backup keys of the vault's root key; failed_precondition while the vault is sealed.
using KeysProvider = std::function<Result<BackupKeys>()>;
// Decrypts a sample of the records in a restored data directory; the number it decrypted.
using SampleCheck = std::function<Result<std::uint64_t>(const std::filesystem::path& data_dir)>;

enum class JobKind { kFull, kIncremental, kVerify, kRestore, kPrune, kDrill };
std::string_view JobKindName(JobKind kind);

struct JobRequest {
  JobKind kind = JobKind::kFull;
  std::string backup_id;     // verify: empty = every backup; restore: empty = the newest
  std::string at;            // restore: RFC 3339 UTC, seconds; empty: none
  std::string destination;   // restore: a plain name, created inside restore_dir
  int keep_full = 0;         // prune: 0 = the settings' keep_full
  std::string requested_by;  // a principal id, or "schedule"
};

struct JobInfo {
  std::string id;  // "job_" + 16 hex digits
  JobRequest request;
  std::string state;  // "queued", "running", "succeeded", "failed"
  std::uint64_t done = 0;
  std::uint64_t total = 0;  // an estimate while running
  std::chrono::system_clock::time_point queued_at, started_at, finished_at;
  std::string error_code;   // failed: "failed_precondition", "data_loss", ...
  std::string error;        // failed: operator-facing, names the file or piece
  std::string result_json;  // succeeded: a JSON object (backup id, bytes, targets, ...)
};

struct KindStatus {
  std::string kind;  // "full", "incremental", "drill"
  std::optional<std::chrono::system_clock::time_point> last_success;
  double last_duration_seconds = 0;
  std::uint64_t last_bytes = 0;
  std::uint64_t failures = 0;
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> next_due;  // nullopt: not scheduled
  bool overdue = false;
};

class BackupService {
 public:
  BackupService(ServiceSettings settings, KeysProvider keys, SampleCheck sample,
                audit::Trail& trail, observe::MetricsRegistry& registry);
  ~BackupService();
  BackupService(const BackupService&) = delete;
  BackupService& operator=(const BackupService&) = delete;

  // Subject erasure's part in backups (records/subject_erasure.h). `replay` runs on every restore
  // and drill before the restored files are renamed into place (RestoreOptions::before_open);
  // `after_backup` runs on the job thread after each backup job, done or failed (the erasure
  // ledger is copied to the targets then). Set before Start().
  struct ErasureHooks {
    std::function<Result<std::string>(const std::filesystem::path& restored)> replay;
    std::function<void()> after_backup;
  };
  void SetErasureHooks(ErasureHooks hooks) { erasure_ = std::move(hooks); }

  // Reads when each kind last succeeded (the targets' manifests; the drill's status file) and
  // starts the thread.
  void Start();
  // Cancels the running job at its next piece (it fails with unavailable and leaves nothing
  // half-made, as any failure does), then stops the thread. Idempotent.
  void Stop();

  // Cancels the job running now, if any, at its next piece (the vault was sealed: it must let go
  // of the keys). Later jobs run as usual.
  void CancelRunning();

  // Queues a job. failed_precondition: no backup.targets, or (restore) no backup.restore_dir;
  // invalid_argument: a bad destination or `at` (at the field's JSON path); already_exists: the
  // destination exists; resource_exhausted: kMaxQueued jobs already wait.
  Result<JobInfo> Submit(JobRequest request);
  std::optional<JobInfo> Job(std::string_view id) const;
  std::vector<JobInfo> Jobs() const;       // newest first, at most kKeptJobs
  std::vector<KindStatus> Status() const;  // full, incremental, drill
  const ServiceSettings& settings() const { return settings_; }

  static constexpr std::size_t kMaxQueued = 16;
  static constexpr std::size_t kKeptJobs = 50;

 private:
  struct KindState {
    std::optional<std::chrono::system_clock::time_point> last_success;
    std::optional<std::chrono::system_clock::time_point> last_failure;
    double last_duration_seconds = 0;
    std::uint64_t last_bytes = 0;
    std::uint64_t failures = 0;
    std::string last_error;
    bool overdue = false;
    observe::Gauge* last_success_gauge = nullptr;
    observe::Gauge* duration_gauge = nullptr;
    observe::Gauge* bytes_gauge = nullptr;
    observe::Gauge* overdue_gauge = nullptr;
    observe::Counter* failures_counter = nullptr;
  };
  enum Kind { kFullKind, kIncrementalKind, kDrillKind, kKindCount };

  // What a finished job hands back: its result, and what the metrics and the audit entry say.
  struct Outcome {
    std::string json;                  // the job's result (a JSON object)
    std::vector<std::string> backups;  // the backups it made, checked or restored
    std::string destination;           // restore: where to
    std::uint64_t bytes = 0;           // of the backup made, or of the pieces read
    std::optional<std::chrono::system_clock::time_point> created;  // a backup's own time
    std::map<std::string, std::uint64_t, std::less<>> store_seqs;  // a backup's stores' seq
  };

  void Loop();
  // Under mu_: when `kind` is next due by the schedule (nullopt: not scheduled), and the same
  // pushed back by the retry delay after a failure.
  std::optional<std::chrono::system_clock::time_point> DueLocked(Kind kind) const;
  std::optional<std::chrono::system_clock::time_point> RetryAtLocked(Kind kind) const;
  void QueueDueLocked(std::chrono::system_clock::time_point now);
  void UpdateOverdueLocked(std::chrono::system_clock::time_point now);
  Result<JobInfo> EnqueueLocked(JobRequest request);
  JobInfo* FindLocked(std::string_view id);
  // Run one job without mu_ (and never throw).
  Result<Outcome> Run(const JobInfo& job, const ProgressFn& progress);
  Result<Outcome> RunBackup(bool full, const ProgressFn& progress);
  Result<Outcome> RunVerify(const JobRequest& request, const ProgressFn& progress);
  Result<Outcome> RunRestore(const JobRequest& request, const ProgressFn& progress);
  Result<Outcome> RunPrune(const JobRequest& request);
  Result<Outcome> RunDrill(const ProgressFn& progress);
  void Finish(const std::string& id, const Result<Outcome>& outcome,
              std::chrono::steady_clock::duration took);
  void ReadHistory();
  // Whether a store committed since the backup whose change-log numbers are `seqs` (opens the
  // four store files: call without mu_).
  bool StoresChanged(const std::map<std::string, std::uint64_t, std::less<>>& seqs) const;
  std::optional<std::chrono::system_clock::time_point> NextCaptureLocked() const;
  bool Cancelled() const {
    return cancel_.load(std::memory_order_relaxed) || cancel_job_.load(std::memory_order_relaxed);
  }

  const ServiceSettings settings_;
  const KeysProvider keys_;
  const SampleCheck sample_;
  ErasureHooks erasure_;
  audit::Trail& trail_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // Stop(): the running job stops at its next piece
  std::atomic<bool> cancel_job_{false};  // CancelRunning(): this job only
  bool capture_wanted_ = false;          // a store changed: the next capture is due
  bool waiting_for_keys_ = false;    // logged once while the vault is sealed and a job is due
  std::deque<std::string> queue_;    // job ids, oldest first
  std::deque<JobInfo> jobs_;         // newest first
  KindState kinds_[kKindCount];
  std::optional<std::chrono::system_clock::time_point> newest_backup_;
  std::map<std::string, std::uint64_t, std::less<>> newest_seqs_;  // of the newest backup
  std::chrono::system_clock::time_point next_capture_check_{};
  std::chrono::system_clock::time_point started_at_;
  std::thread thread_;
};

}  // namespace strongroom::backup
