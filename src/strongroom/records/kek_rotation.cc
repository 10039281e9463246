#include "strongroom/records/kek_rotation.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <utility>
#include <vector>

#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/records/service_support.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;
using Job = KekRotation::Job;
using internal::ParseStored;
using internal::Serialize;

// A failed batch (a full disk, a busy store) is retried after this long.
constexpr std::chrono::seconds kRetryAfter{5};

storage::Bytes JobRecord(const Job& job) {
  return Serialize(json::object{{"target", job.target},
                                {"cursor", job.cursor},
                                {"scanned", job.scanned},
                                {"moved", job.moved},
                                {"damaged", job.damaged},
                                {"started_at", job.started_at},
                                {"finished_at", job.finished_at}});
}

Result<Job> ParseJob(const storage::Bytes& bytes) {
  auto object = ParseStored(bytes, "re-wrap job");
  if (!object) return std::unexpected(object.error());
  const auto text = [&](std::string_view name) -> const json::string* {
    const auto* v = object->if_contains(name);
    return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
  };
  const auto number = [&](std::string_view name) -> std::optional<std::uint64_t> {
    const auto* v = object->if_contains(name);
    if (v == nullptr) return std::nullopt;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    return std::nullopt;
  };
  const auto target = number("target");
  const auto scanned = number("scanned");
  const auto moved = number("moved");
  const auto damaged =
      object->contains("damaged") ? number("damaged") : std::optional<std::uint64_t>(0);
  const auto* cursor = text("cursor");
  const auto* started = text("started_at");
  const auto* finished = text("finished_at");
  if (!target || *target == 0 || *target > 0xffffffffu || !scanned || !moved || !damaged ||
      cursor == nullptr || started == nullptr || finished == nullptr) {
    return Fail(ErrorCode::kDataLoss, "a re-wrap job record is malformed");
  }
  Job job;
  job.target = static_cast<std::uint32_t>(*target);
  job.cursor = std::string(*cursor);
  job.scanned = *scanned;
  job.moved = *moved;
  job.damaged = *damaged;
  job.started_at = std::string(*started);
  job.finished_at = std::string(*finished);
  return job;
}

}  // namespace

KekRotation::KekRotation(barrier::SealState& seal, storage::Store& metadata, Options options,
                         observe::MetricsRegistry& metrics)
    : seal_(seal),
      metadata_(metadata),
      options_(std::move(options)),
      rewrapped_(metrics.GetCounter("strongroom_kek_rewrapped_keys_total",
                                    "Subject keys re-wrapped under a newer tenant KEK.")),
      running_(metrics.GetGauge("strongroom_kek_rewrap_jobs_running",
                                "Tenants whose subject keys are being re-wrapped.")) {}

KekRotation::~KekRotation() { Stop(); }

void KekRotation::PublishRunningLocked() {
  const auto running = std::count_if(jobs_.begin(), jobs_.end(),
                                     [](const auto& entry) { return entry.second.running(); });
  running_.Set(static_cast<double>(running));
}

Result<void> KekRotation::Load() {
  std::map<std::string, Job, std::less<>> loaded;
  std::string after;
  for (;;) {
    auto page = metadata_.Scan(kRewrapJobs, after, 256);
    if (!page) return std::unexpected(page.error());
    for (const auto& entry : *page) {
      auto job = ParseJob(entry.value);
      if (!job) return std::unexpected(job.error());
      loaded.emplace(entry.key, std::move(*job));
    }
    if (page->size() < 256) break;
    after = page->back().key;
  }
  std::lock_guard lock(mu_);
  jobs_ = std::move(loaded);
  PublishRunningLocked();
  return {};
}

void KekRotation::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void KekRotation::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KekRotation::Wake() {
  // Under mu_: the thread checks the seal and starts waiting under it, so this cannot fall
  // between the two and be lost.
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

Result<Job> KekRotation::Rotate(std::string_view tenant) {
  auto keys = seal_.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed");
  std::lock_guard write_lock(write_mu_);
  Job job;
  job.started_at = FormatRfc3339(options_.clock());
  // The new KEK, its job and its birth in one write: a crash leaves all or none.
  auto version =
      keys->keyring->RotateKek(tenant, [&](std::uint32_t made, storage::WriteBatch& batch) {
        job.target = made;
        batch.Put(kRewrapJobs, tenant, JobRecord(job));
        batch.Put(kKekAges, tenant, storage::Bytes(job.started_at.begin(), job.started_at.end()));
      });
  if (!version) return std::unexpected(version.error());
  {
    std::lock_guard lock(mu_);
    jobs_.insert_or_assign(std::string(tenant), job);
    PublishRunningLocked();
  }
  observe::Info("keys.kek_rotated",
                {{"tenant", std::string(tenant)}, {"kek_version", std::int64_t{*version}}});
  cv_.notify_all();
  return job;
}

void KekRotation::RequestRotation(std::string_view tenant, std::uint32_t version) {
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = requested_.try_emplace(std::string(tenant), version);
    if (!inserted && it->second >= version) return;  // already asked for
    it->second = version;
  }
  cv_.notify_all();
}

void KekRotation::Notify(const Notice& notice) const {
  if (options_.notify) options_.notify(notice);
}

void KekRotation::AutoRotate(const std::string& tenant, std::string_view reason) {
  auto job = Rotate(tenant);
  if (!job) {
    observe::Error(
        "keys.auto_rotation_failed",
        {{"tenant", tenant}, {"reason", std::string(reason)}, {"error", job.error().message()}});
    return;
  }
  observe::Info("keys.auto_rotated", {{"tenant", tenant},
                                      {"kek_version", std::int64_t{job->target}},
                                      {"reason", std::string(reason)}});
  Notify({"key.auto_rotate", tenant, job->target, std::string(reason)});
}

void KekRotation::RotateAutomatically(
    barrier::VaultKeys& keys, const std::map<std::string, std::uint32_t, std::less<>>& requests,
    bool check_ages) {
  for (const auto& [tenant, version] : requests) {
    auto current = keys.keyring->CurrentKekVersion(tenant);
    if (!current || *current > version) continue;  // rotated since (or the tenant is gone)
    AutoRotate(tenant, "key_budget");
  }
  if (!check_ages) return;
  const auto now = options_.clock();
  std::string after;
  for (;;) {
    auto tenants = keys.keyring->Tenants(after, 256);
    if (!tenants) {
      observe::Error("keys.auto_rotation_failed", {{"error", tenants.error().message()}});
      return;
    }
    for (const auto& tenant : *tenants) {
      auto born = metadata_.Get(kKekAges, tenant);
      if (!born) continue;
      std::optional<std::chrono::system_clock::time_point> at;
      if (*born)
        at = ParseRfc3339(
            std::string_view(reinterpret_cast<const char*>((*born)->data()), (*born)->size()));
      if (!at) {
        // Never recorded (or unreadable): counted from now.
        const std::string text = FormatRfc3339(now);
        storage::WriteBatch batch;
        batch.Put(kKekAges, tenant, storage::Bytes(text.begin(), text.end()));
        (void)metadata_.Write(std::move(batch));
        continue;
      }
      if (now - *at < options_.rotate_after) continue;
      if (auto job = JobOf(tenant); job && job->running()) continue;
      AutoRotate(tenant, "age");
    }
    if (tenants->size() < 256) break;
    after = tenants->back();
  }
}

std::optional<Job> KekRotation::JobOf(std::string_view tenant) const {
  std::lock_guard lock(mu_);
  const auto it = jobs_.find(tenant);
  if (it == jobs_.end()) return std::nullopt;
  return it->second;
}

Result<bool> KekRotation::Retire(std::string_view tenant, std::uint32_t version) {
  auto keys = seal_.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed");
  if (auto job = JobOf(tenant); job && job->running()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the re-wrap to KEK version " + std::to_string(job->target) + " is running (" +
                    std::to_string(job->scanned) + " subject keys examined so far)");
  }
  if (auto retired = keys->keyring->RetireKek(tenant, version); !retired) {
    return std::unexpected(retired.error());
  }
  observe::Info("keys.kek_retired",
                {{"tenant", std::string(tenant)}, {"kek_version", std::int64_t{version}}});
  if (auto checkpoint = metadata_.Checkpoint(); !checkpoint) {
    observe::Warn("keys.retire_checkpoint_deferred", {{"reason", checkpoint.error().message()}});
    return false;
  }
  return true;
}

Result<Job> KekRotation::Step(barrier::VaultKeys& keys, const std::string& tenant, Job job) {
  auto refs = keys.keyring->ListSubjectKeys(tenant, job.cursor, options_.batch);
  if (!refs) return std::unexpected(refs.error());
  barrier::SubjectGate& gate = seal_.gate();
  barrier::SubjectGate::WriteGuard guard;
  std::vector<keys::SubjectKeyRef> stale;
  for (const auto& ref : *refs) {
    if (ref.kek_version >= job.target) continue;  // (damaged entries list as version 0)
    if (!ref.subject.empty()) {
      // Held until the batch is written: an erasure of these subjects waits for it.
      gate.Enter(guard, tenant, ref.subject);
      if (gate.IsErased(tenant, ref.subject)) continue;
    }
    stale.push_back(ref);
  }
  job.scanned += refs->size();
  if (!refs->empty()) job.cursor = refs->back().entry;
  if (refs->size() < options_.batch) job.finished_at = FormatRfc3339(options_.clock());
  std::lock_guard write_lock(write_mu_);
  {
    // A rotation since this batch began replaced the job: its own batches take over.
    std::lock_guard lock(mu_);
    const auto it = jobs_.find(tenant);
    if (it != jobs_.end() && it->second.target != job.target) return it->second;
  }
  auto rewrapped = keys.keyring->Rewrap(
      tenant, stale, [&](const keys::RewrapResult& result, storage::WriteBatch& batch) {
        job.moved += result.rewrapped;
        job.damaged += result.damaged.size();
        batch.Put(kRewrapJobs, tenant, JobRecord(job));
      });
  if (!rewrapped) return std::unexpected(rewrapped.error());
  rewrapped_.Increment(rewrapped->rewrapped);
  // A damaged entry stays as it is (and keeps its KEK from being retired); the cursor moves on
  // past it, so the rest of the tenant is re-wrapped.
  for (const auto& entry : rewrapped->damaged) {
    observe::Error("security.subject_key_damaged", {{"tenant", tenant}, {"entry", entry}});
  }
  job.last_error.clear();
  std::lock_guard lock(mu_);
  jobs_.insert_or_assign(tenant, job);
  return job;
}

void KekRotation::Run() {
  std::unique_lock lock(mu_);
  std::string last;  // round robin over the tenants with running jobs
  const bool by_age = options_.rotate_after.count() > 0;
  while (!stop_) {
    const bool ages_due = by_age && std::chrono::steady_clock::now() >= next_age_check_;
    if ((ages_due || !requested_.empty()) && !seal_.sealed()) {
      auto requests = std::exchange(requested_, {});
      if (ages_due) next_age_check_ = std::chrono::steady_clock::now() + options_.check_every;
      lock.unlock();
      if (auto keys = seal_.keys()) {
        RotateAutomatically(*keys, requests, ages_due);
      }
      lock.lock();
      if (stop_) break;
      // On to the jobs (a rotation just made one): checks never starve them.
    }
    auto next = jobs_.upper_bound(last);
    const auto running = [](const auto& entry) { return entry.second.running(); };
    next = std::find_if(next, jobs_.end(), running);
    if (next == jobs_.end()) next = std::find_if(jobs_.begin(), jobs_.end(), running);
    if (next == jobs_.end()) {
      if (by_age && !seal_.sealed()) {
        cv_.wait_until(lock, next_age_check_);
      } else {
        cv_.wait(lock);  // sealed: the unseal wakes us (Wake)
      }
      continue;
    }
    const std::string tenant = next->first;
    Job job = next->second;
    last = tenant;
    lock.unlock();
    auto keys = seal_.keys();
    if (!keys) {  // paused until the unseal wakes us
      lock.lock();
      if (!stop_ && seal_.sealed()) cv_.wait(lock);
      continue;
    }
    const auto began = std::chrono::steady_clock::now();
    auto stepped = Step(*keys, tenant, std::move(job));
    keys.reset();
    lock.lock();
    if (!stepped) {
      if (auto it = jobs_.find(tenant); it != jobs_.end()) {
        it->second.last_error = stepped.error().message();
      }
      observe::Error("keys.rewrap_failed",
                     {{"tenant", tenant}, {"reason", stepped.error().message()}});
      cv_.wait_for(lock, kRetryAfter, [this] { return stop_; });
      continue;
    }
    if (!stepped->running()) {
      PublishRunningLocked();
      if (jobs_.at(tenant).target == stepped->target) {
        observe::Info("keys.rewrap_finished",
                      {{"tenant", tenant},
                       {"kek_version", std::int64_t{stepped->target}},
                       {"keys_moved", static_cast<std::int64_t>(stepped->moved)},
                       {"keys_scanned", static_cast<std::int64_t>(stepped->scanned)}});
        lock.unlock();
        Notify({"key.rewrap_finished", tenant, stepped->target,
                std::to_string(stepped->moved) + " subject keys moved"});
        lock.lock();
      }
    }
    if (options_.rewrap_per_second > 0) {
      // Paced by entries examined: the reads cost live traffic too.
      const auto budget = std::chrono::duration<double>(static_cast<double>(options_.batch) /
                                                        options_.rewrap_per_second);
      const auto spent = std::chrono::steady_clock::now() - began;
      if (spent < budget) {
        cv_.wait_for(lock, budget - spent, [this] { return stop_; });
      }
    }
  }
}

}  // namespace strongroom::records
