#pragma once
// KekRotation: rotating a tenant's KEK, re-wrapping its subject keys in the background, and
// retiring old KEK versions (docs/keys.md, "Rotation and re-wrap").
//
//   Rotate   the keyring writes KEK v(N+1); new subject keys and every DEK entry written from
//            then on are wrapped under it (keys/keyring.h). A re-wrap job is recorded for the
//            tenant in the metadata space `kek_rewrap`.
//   re-wrap  one background thread walks the tenant's subject key entries in store order, a
//            batch at a time, and re-wraps those still under an older KEK (the DEKs do not
//            change, so no data is re-encrypted). Each batch and the job's new cursor land in
//            one write, so a crash or kill resumes from the last batch (Load, at start); a sealed
//            vault pauses it until the unseal (Wake). It holds the batch's subjects in the
//            subject gate (barrier/subject_gate.h), so an erasure never races it: a key it reads
//            is either re-wrapped before the erasure deletes it, or skipped as erased.
//            `rewrap_per_second` paces it so live traffic keeps its latency.
//   Retire   once no subject key is wrapped under an old version (and no job runs), the version
//            is deleted for good and the metadata store checkpointed, so its wrapped bytes leave
//            the write-ahead log too.
//   automatic rotations, by the same thread:
//     by age      every `check_every`, each tenant whose current KEK is older than
//                 `rotate_after` is rotated (the time of each tenant's current version is kept
//                 in the metadata space `kek_ages`, written with the tenant's keys and at each
//                 rotation; a tenant without one, from before this
//                 existed, is counted from when it was first checked);
//     by use      a subject key past half its encryption budget (barrier::HalfSpentListener)
//                 rotates its tenant's KEK, so the subject's next writes get a fresh key, far
//                 below the AES-GCM bound (docs/keys.md). Requests for a version already rotated
//                 away from are dropped.
//   Each automatic rotation and each finished re-wrap is reported to `notify` (the server
//   audits it as the system's act).
//
// Metrics: strongroom_kek_rewrapped_keys_total, strongroom_kek_rewrap_jobs_running.
// Thread-safe; `mu_` guards the jobs (never held across I/O). Borrows the seal state and the
// metadata store, which must outlive it; Stop() (or the destructor) joins the thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/error.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/storage/store.h"

namespace strongroom::observe {
class Counter;
class Gauge;
class MetricsRegistry;
}  // namespace strongroom::observe

namespace strongroom::records {

// The metadata space of the re-wrap jobs (one per tenant).
inline constexpr std::string_view kRewrapJobs = "kek_rewrap";
// The metadata space of when each tenant's current KEK version was made (RFC 3339).
inline constexpr std::string_view kKekAges = keys::kKekAgesSpace;

class KekRotation {
 public:
  // What the thread did on its own, for the audit trail: "key.auto_rotate" (detail "age" or
  // "key_budget") and "key.rewrap_finished".
  struct Notice {
    std::string action;
    std::string tenant;
    std::uint32_t version = 0;
    std::string detail;
  };
  struct Options {
    double rewrap_per_second = 1000;       // 0: as fast as the disk allows
    std::size_t batch = 64;                // subject key entries per write
    std::chrono::seconds rotate_after{0};  // by age; 0: never
    std::chrono::milliseconds check_every{std::chrono::hours(1)};
    std::function<std::chrono::system_clock::time_point()> clock = std::chrono::system_clock::now;
    std::function<void(const Notice&)> notify;  // called on the thread, outside its locks
  };
  // A tenant's latest re-wrap job.
  struct Job {
    std::uint32_t target = 0;   // the KEK version keys are moved to
    std::string cursor;         // the last subject key entry handled ("": none yet)
    std::uint64_t scanned = 0;  // subject key entries examined
    std::uint64_t moved = 0;    // of those, re-wrapped from an older KEK to the target
    std::uint64_t damaged = 0;  // of those, entries that fail to parse or unwrap (left alone)
    std::string started_at;     // RFC 3339
    std::string finished_at;    // "" while running
    std::string last_error;     // the last failed batch's reason (it is retried), or ""
    bool running() const { return finished_at.empty(); }
  };

  KekRotation(barrier::SealState& seal, storage::Store& metadata, Options options,
              observe::MetricsRegistry& metrics);
  ~KekRotation();
  KekRotation(const KekRotation&) = delete;
  KekRotation& operator=(const KekRotation&) = delete;

  // Reads the jobs a previous run left (unfinished ones resume once Start()ed).
  Result<void> Load();
  void Start();
  void Stop();
  // The keys are back (an unseal): paused jobs go on.
  void Wake();

  // Rotates the tenant's KEK and starts (or restarts, towards the new version) its re-wrap.
  // sealed while sealed.
  Result<Job> Rotate(std::string_view tenant);
  // A subject key of `version` is past half its budget (barrier::HalfSpentListener): the thread
  // rotates the tenant unless its KEK is already newer. Cheap; never blocks on I/O.
  void RequestRotation(std::string_view tenant, std::uint32_t version);
  std::optional<Job> JobOf(std::string_view tenant) const;
  // Retires KEK `version` of the tenant (keys::Keyring::RetireKek); failed_precondition while
  // the tenant's re-wrap runs. Returns whether the metadata store's checkpoint also succeeded
  // (false: a backup's snapshot held it; the bytes leave the log at the next checkpoint).
  Result<bool> Retire(std::string_view tenant, std::uint32_t version);

 private:
  void Run();
  // One batch of `job`; the job as it stands after it.
  Result<Job> Step(barrier::VaultKeys& keys, const std::string& tenant, Job job);
  // The automatic rotations: the requested ones, then (when `check_ages`) those due by age.
  void RotateAutomatically(barrier::VaultKeys& keys,
                           const std::map<std::string, std::uint32_t, std::less<>>& requests,
                           bool check_ages);
  void AutoRotate(const std::string& tenant, std::string_view reason);
  void Notify(const Notice& notice) const;
  void PublishRunningLocked();  // the running-jobs gauge, from jobs_ (mu_ held)

  barrier::SealState& seal_;
  storage::Store& metadata_;
  const Options options_;
  observe::Counter& rewrapped_;
  observe::Gauge& running_;
  // Orders the writes of job records: a rotation and a batch of the job it replaces never
  // interleave (the batch checks, under it, that its job is still the tenant's). Held across
  // I/O; taken before mu_.
  std::mutex write_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Job, std::less<>> jobs_;
  std::map<std::string, std::uint32_t, std::less<>> requested_;  // tenant -> key version
  std::chrono::steady_clock::time_point next_age_check_{};       // at start: at once
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace strongroom::records
