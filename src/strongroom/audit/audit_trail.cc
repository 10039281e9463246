#include "strongroom/audit/audit_trail.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "strongroom/audit/trail_files.h"
#include "strongroom/audit/trail_verifier.h"
#include "strongroom/base/files.h"
#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"

namespace strongroom::audit {
namespace {

namespace fs = std::filesystem;
using namespace trail_files;  // NOLINT(google-build-using-namespace): this TU is their user

constexpr auto kProbeInterval = std::chrono::seconds(1);
constexpr off_t kProbeBytes = 1 << 20;
// How often the checkpoint thread looks at the disk's free space and whether retention is due.
constexpr auto kChoresInterval = std::chrono::seconds(10);
// Zeros reserved ahead of the entries (ReserveAhead): this much at a time, once less than a
// quarter of it is left.
constexpr std::uint64_t kReserveBytes = 1 << 20;
// After a reservation failed (a full disk), the next try waits this long.
constexpr auto kReserveRetry = std::chrono::seconds(1);

}  // namespace

Trail::Trail(TrailOptions options) : options_(std::move(options)) {
  stats_.spool_capacity = options_.spool_entries;
}

Result<std::unique_ptr<Trail>> Trail::Open(TrailOptions options) {
  if (options.checkpoint_entries == 0 || options.spool_entries == 0) {
    return Fail(ErrorCode::kInvalidArgument, "audit checkpoint_entries and spool must be > 0");
  }
  if (auto made = CreatePrivateDirectory(options.dir); !made) return std::unexpected(made.error());
  if (auto made = CreatePrivateDirectory(options.dir / "segments"); !made) {
    return std::unexpected(made.error());
  }
  std::unique_ptr<Trail> trail(new Trail(std::move(options)));
  trail->last_checkpoint_at_ = std::chrono::steady_clock::now();
  if (auto loaded = trail->Load(); !loaded) return std::unexpected(loaded.error());
  trail->writer_ = std::thread([t = trail.get()] { t->WriterLoop(); });
  trail->checkpointer_ = std::thread([t = trail.get()] { t->CheckpointLoop(); });
  return trail;
}

Trail::~Trail() {
  Stop();
  if (fd_ >= 0) ::close(fd_);
}

void Trail::Stop() {
  stopping_archive_ = true;
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(checkpoint_wait_mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
}

Result<void> Trail::Load() {
  VerifyOptions verify;
  verify.dir = options_.dir;
  // The trail's own copy of its key: enough to notice a checkpoint log that was rewritten. The
  // auditor's offline check uses a copy kept elsewhere.
  if (auto text = ReadSmallFile(options_.dir / "public-key.json"); text) {
    auto key = ParsePublicKeyFile(*text);
    if (!key) return Fail(ErrorCode::kDataLoss, "audit public-key.json: " + key.error().message());
    verify.public_key = *key;
    published_key_id_ = KeyId(*key);
  }
  if (auto signer = options_.signer ? options_.signer() : nullptr; signer != nullptr) {
    verify.public_key = signer->public_key();  // unsealed: the key itself, not a file
  }
  Hash last_leaf{};
  std::lock_guard tree_lock(tree_mu_);
  // An archived trail grows on from its anchor (which the verifier checks).
  auto anchor = ReadAnchor(options_.dir);
  if (!anchor) return std::unexpected(anchor.error());
  if (*anchor && !verify.public_key) {
    return Fail(ErrorCode::kDataLoss,
                "audit anchor.json is there but no key to check it (public-key.json is missing "
                "and the vault is sealed)");
  }
  if (*anchor) {
    const Checkpoint& c = (*anchor)->checkpoint;
    auto restored = CompactTree::FromPeaks(c.size, (*anchor)->peaks);
    if (!restored || c.size % kBlock != 0) {
      return Fail(ErrorCode::kDataLoss, "audit anchor.json does not describe an archive boundary");
    }
    tree_ = std::move(*restored);
    base_ = c.size;
    base_peaks_ = (*anchor)->peaks;
    last_leaf = c.last_leaf;
  }
  const VerifyReport report = VerifyTrail(
      verify, [&](std::uint64_t, const Hash& leaf, std::size_t segment, std::uint64_t offset) {
        AddLeafLocked(leaf, static_cast<std::uint32_t>(segment), offset);
        last_leaf = leaf;
      });
  if (!report.ok) {
    return Fail(ErrorCode::kDataLoss,
                "the audit trail in " + options_.dir.string() + " does not verify: " +
                    report.reason + " (first bad entry " + std::to_string(*report.first_bad) +
                    "); run `strongroom audit verify`, and move the trail aside only after "
                    "it has been examined");
  }
  for (const auto& s : report.segments) segments_.push_back({s.first_seq, s.path});
  if (base_ > 0) {
    // An archiving pass cut short after its anchor: these are in the archive already.
    auto listed = ListSegments(options_.dir);
    if (!listed) return std::unexpected(listed.error());
    for (const auto& s : *listed) {
      if (s.first_seq >= base_) continue;
      const fs::path copy = options_.archive_dir / "segments" / s.path.filename();
      std::error_code ec;
      if (!options_.archive_dir.empty() && SameContents(s.path, copy) && fs::remove(s.path, ec)) {
        observe::Info("audit.archived_segment_removed", {{"segment", s.path.filename().string()}});
      } else {
        observe::Warn("audit.segment_before_anchor_kept",
                      {{"segment", s.path.filename().string()},
                       {"advice",
                        "the trail begins at anchor.json and this segment is not in "
                        "audit.archive_dir as it is here: examine it, then move it "
                        "away"}});
      }
    }
  }
  stats_.archived = base_;
  if (auto log = ReadCheckpointLog(options_.dir / "checkpoints.log"); log && !log->empty()) {
    checkpoint_ = *log->back();
  }
  prev_ = last_leaf;
  last_leaf_ = last_leaf;
  if (segments_.empty()) {
    if (auto started = StartSegment(base_); !started) return started;
    segments_.push_back({base_, options_.dir / "segments" / SegmentName(base_)});
    return {};
  }
  const fs::path& last = segments_.back().path;
  fd_ = ::open(last.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) return std::unexpected(Unavailable("open " + last.string(), errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return std::unexpected(Unavailable("stat", errno));
  file_size_ = report.end_offset;
  allocated_end_ = static_cast<std::uint64_t>(st.st_size);
  if (report.torn_tail) {
    // The last frame was being written when the process died: it was never acknowledged.
    observe::Warn("audit.torn_tail_removed",
                  {{"segment", last.filename().string()},
                   {"bytes", static_cast<std::uint64_t>(allocated_end_ - report.torn_offset)}});
    if (::ftruncate(fd_, static_cast<off_t>(report.torn_offset)) != 0 || ::fsync(fd_) != 0) {
      return std::unexpected(Unavailable("truncate the torn tail", errno));
    }
    file_size_ = report.torn_offset;
    allocated_end_ = file_size_;
  }
  if (file_size_ > 0) {
    std::string entry;
    if (auto head = FirstEntryHead(last, entry); head) segment_first_time_ = head->time;
  }
  return {};
}

Result<void> Trail::StartSegment(std::uint64_t first_seq) {
  if (fd_ >= 0) {
    // The segment ends here: its reserved zeros (and anything a failed write left) go, so that
    // every segment but the last is frames and nothing else.
    if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0 || ::fdatasync(fd_) != 0) {
      return std::unexpected(Unavailable("truncate the finished segment", errno));
    }
    allocated_end_ = file_size_;
    repair_needed_ = false;
  }
  const fs::path path = options_.dir / "segments" / SegmentName(first_seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(Unavailable("create " + path.string(), errno));
  if (auto synced = SyncDirectory(path.parent_path()); !synced) {
    ::close(fd);
    ::unlink(path.c_str());
    return synced;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  file_size_ = 0;
  allocated_end_ = 0;
  repair_needed_ = false;
  segment_first_time_.clear();
  return {};
}

bool Trail::RotationDue(std::uint64_t bytes) const {
  if (bytes >= options_.segment_bytes) return true;
  // By age, from the segment's first entry (restarts do not reset it); asked at block marks only.
  return bytes > 0 && !segment_first_time_.empty() &&
         segment_first_time_ <= FormatRfc3339Micros(options_.clock() - options_.segment_max_age);
}

void Trail::AddLeafLocked(const Hash& leaf, std::uint32_t segment, std::uint64_t offset) {
  const std::uint64_t index = tree_.size();
  if (index % kBlock == 0) {
    blocks_.push_back({segment, offset});
    tail_leaves_.clear();
  }
  tail_leaves_.push_back(leaf);
  tree_.Append(leaf, [this](int level, std::uint64_t node, const Hash& hash) {
    if (level < kBlockLevel) return;
    const auto k = static_cast<std::size_t>(level - kBlockLevel);
    if (levels_.size() <= k) levels_.resize(k + 1);
    if (levels_[k].size() + (base_ >> level) == node) levels_[k].push_back(hash);
  });
}

Result<std::vector<Hash>> Trail::BlockLeavesLocked(std::uint64_t block) const {
  const std::uint64_t at = block - base_ / kBlock;  // blocks_ begins at base_
  if (at + 1 == blocks_.size()) return tail_leaves_;
  const BlockStart start = blocks_.at(at);
  std::ifstream in(segments_.at(start.segment).path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kUnavailable, "cannot read an audit segment");
  in.seekg(static_cast<std::streamoff>(start.offset));
  std::vector<Hash> leaves;
  leaves.reserve(kBlock);
  std::string entry;
  for (std::uint64_t i = 0; i < kBlock; ++i) {
    unsigned char length[4];
    if (!in.read(reinterpret_cast<char*>(length), 4)) {
      return Fail(ErrorCode::kDataLoss, "an audit segment ended inside a block");
    }
    const std::uint32_t n = (std::uint32_t{length[0]} << 24) | (std::uint32_t{length[1]} << 16) |
                            (std::uint32_t{length[2]} << 8) | std::uint32_t{length[3]};
    if (n > kMaxEntryBytes) return Fail(ErrorCode::kDataLoss, "bad audit frame length");
    entry.resize(n);
    if (!in.read(entry.data(), n)) return Fail(ErrorCode::kDataLoss, "short audit frame");
    leaves.push_back(LeafHash({reinterpret_cast<const std::uint8_t*>(entry.data()), n}));
  }
  return leaves;
}

Result<Hash> Trail::SubtreeLocked(std::uint64_t begin, std::uint64_t end) const {
  const std::uint64_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if (begin < base_) {
    return SubtreeAfterPrefix(
        base_, base_peaks_, begin, end,
        [this](std::uint64_t b, std::uint64_t e) { return SubtreeLocked(b, e); });
  }
  if (std::has_single_bit(n) && begin % n == 0) {
    const int level = std::countr_zero(n);
    if (level >= kBlockLevel) {
      return levels_.at(static_cast<std::size_t>(level - kBlockLevel))
          .at((begin >> level) - (base_ >> level));
    }
    auto leaves = BlockLeavesLocked(begin / kBlock);
    if (!leaves) return std::unexpected(leaves.error());
    return RootOf(std::span<const Hash>(*leaves).subspan(begin % kBlock, n));
  }
  const std::uint64_t k = std::bit_floor(n - 1);
  auto left = SubtreeLocked(begin, begin + k);
  if (!left) return left;
  auto right = SubtreeLocked(begin + k, end);
  if (!right) return right;
  return NodeHash(*left, *right);
}

void Trail::Append(Event event, Done done) {
  if (event.time == std::chrono::system_clock::time_point{}) event.time = options_.clock();
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_ && queue_.size() < options_.spool_entries) {
      queue_.push_back({std::move(event), std::move(done)});
      queued_.store(queue_.size(), std::memory_order_relaxed);
      if (queue_.size() == 1) queue_cv_.notify_one();
      if (queue_.size() == options_.spool_entries / 2 + 1) {
        // The alert of back-pressure: the disk is not keeping up (readiness says degraded).
        observe::Warn("audit.spool_high",
                      {{"queued", static_cast<std::uint64_t>(queue_.size())},
                       {"capacity", static_cast<std::uint64_t>(options_.spool_entries)}});
      }
      return;
    }
  }
  {
    std::lock_guard lock(tree_mu_);
    ++stats_.failed;
  }
  done(std::unexpected(
      Error(ErrorCode::kAuditUnavailable, "the audit spool is full: the trail is not keeping up")));
}

Result<std::uint64_t> Trail::AppendAndWait(Event event) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<std::uint64_t>> outcome;
  Append(std::move(event), [&](Result<std::uint64_t> r) {
    std::lock_guard lock(mu);
    outcome = std::move(r);
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

void Trail::WriterLoop() {
  if (options_.writer_nice != 0 &&
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.writer_nice) != 0) {
    observe::Warn("audit.writer_nice_refused",
                  {{"nice", static_cast<std::int64_t>(options_.writer_nice)},
                   {"advice",
                    "every answer waits for this thread's fsync: grant CAP_SYS_NICE "
                    "(systemd: AmbientCapabilities=CAP_SYS_NICE), or set "
                    "audit.writer_nice = 0 to silence this"}});
  }
  std::vector<Pending> batch;
  while (true) {
    // A deadline only to probe a failing disk; otherwise the writer sleeps until an entry comes.
    const bool failing = !available_;
    {
      std::unique_lock lock(queue_mu_);
      const auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (failing) {
        queue_cv_.wait_until(lock, std::chrono::steady_clock::now() + kProbeInterval, ready);
      } else {
        queue_cv_.wait(lock, ready);
      }
      if (stopping_ && queue_.empty()) break;
      batch.swap(queue_);
      queued_.store(0, std::memory_order_relaxed);
    }
    if (!batch.empty()) {
      WriteBatch(batch);
    } else if (failing) {
      Probe();
    }
    batch.clear();
  }
}

// Checkpoints are signed and stored on their own thread: a slow or hung witness (a network
// mount) must not hold up the writer, whose fsync every answer waits for.
void Trail::CheckpointLoop() {
  std::unique_lock lock(checkpoint_wait_mu_);
  auto chores_due = std::chrono::steady_clock::now() + options_.chores_delay;
  while (!checkpoint_stopping_) {
    if (std::chrono::steady_clock::now() >= chores_due) {
      lock.unlock();
      CheckDisk();
      ArchiveIfDue();
      lock.lock();
      chores_due = std::chrono::steady_clock::now() + kChoresInterval;
      continue;
    }
    auto due = chores_due;
    {
      std::lock_guard tree_lock(tree_mu_);
      const std::uint64_t covered = checkpoint_ ? checkpoint_->size : 0;
      if (tree_.size() > covered) {
        due = std::min(due, last_checkpoint_at_ + options_.checkpoint_interval);
      }
      if (tree_.size() - covered >= options_.checkpoint_entries) {
        due = std::chrono::steady_clock::time_point::min();
      }
    }
    if (due > std::chrono::steady_clock::now()) checkpoint_cv_.wait_until(lock, due);
    if (checkpoint_stopping_) break;
    lock.unlock();
    (void)MaybeCheckpoint(false);  // failures are logged and deferred by one interval
    lock.lock();
  }
  lock.unlock();
  (void)MaybeCheckpoint(true);  // a stopping trail signs a last one
}

// While writes fail, writes (which are refused up front: AuditWritable) would never come to
// show that the disk is back: the writer checks by itself. Reserving space past the end (without
// changing the file's size) fails while the disk is full or read-only, like the writes did.
void Trail::Probe() {
  if (repair_needed_ && ::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0) return;
  if (repair_needed_) allocated_end_ = file_size_;
  repair_needed_ = false;
  std::uint64_t next_seq;
  {
    std::lock_guard lock(tree_mu_);
    next_seq = tree_.size();
  }
  if (next_seq % kBlock == 0 && RotationDue(file_size_)) {
    // What failed may have been starting the next segment: that is what must work again.
    if (!StartSegment(next_seq)) return;
    std::lock_guard lock(tree_mu_);
    segments_.push_back({next_seq, options_.dir / "segments" / SegmentName(next_seq)});
  }
  if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(file_size_), kProbeBytes) != 0 ||
      ::fdatasync(fd_) != 0) {
    return;
  }
  std::lock_guard lock(tree_mu_);
  stats_.available = true;
  available_ = true;
  observe::Info("audit.write_recovered");
}

Result<void> Trail::WriteFrames(const std::string& frames) {
  if (repair_needed_) {
    // A failed write may have left part of a batch past the durable end: cut it off first.
    if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0) {
      return std::unexpected(Unavailable("truncate", errno));
    }
    repair_needed_ = false;
    allocated_end_ = file_size_;
  }
  // A failed batch is cut off at once (with the zeros reserved after it), so that a restart
  // cannot find its frames (they were answered 503); if even that fails, before the next write.
  // The cut is synced: the batch was written inside the file's durable size, so pages of it
  // that reached the disk would otherwise be there again after a power loss.
  auto cut = [this] {
    repair_needed_ = ::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0 || ::fdatasync(fd_) != 0;
    allocated_end_ = file_size_;
  };
  if (auto written = WriteAll(fd_, frames, file_size_); !written) {
    cut();
    return written;
  }
  if (::fdatasync(fd_) != 0) {
    // After a failed fsync the kernel may have dropped the pages: the batch is not durable, and
    // it is cut off (never retried in place).
    const int err = errno;
    cut();
    return std::unexpected(Unavailable("fsync", err));
  }
  file_size_ += frames.size();
  allocated_end_ = std::max(allocated_end_, file_size_);
  return {};
}

// Zeros written ahead of the entries and made durable once. A batch written over them changes
// neither the file's size nor its blocks, so its fdatasync is one data write and a cache flush;
// a batch that grows the file also makes ext4 commit its journal (another write, a flush, and
// a wake-up of its journal thread). On this VM that halves the system time of each sync and
// cuts its latency by a fifth (docs/performance.md, "Audit"). PostgreSQL zero-fills its WAL
// segments for the same reason. Runs after the batch's completions, so the answers of that
// batch are already released; entries that arrive meanwhile wait for it (one write of zeros and
// one sync that does commit a new size, every ~768 KiB of entries), as they would wait for a
// sync. When it fails (a full disk) the space is given back and batches grow the file
// themselves, as without it; below the low-disk mark (audit.min_free_mib) it is not tried.
void Trail::ReserveAhead() {
  // Small segments (tests) reserve no more than a segment holds.
  const std::uint64_t chunk = std::min(kReserveBytes, options_.segment_bytes);
  if (repair_needed_ || allocated_end_ - file_size_ >= chunk / 4) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < reserve_retry_at_) return;
  // Below the low-disk mark (audit.disk_low) the space is left to the entries themselves.
  struct statvfs fs_stats {};
  const std::uint64_t free_bytes =
      ::fstatvfs(fd_, &fs_stats) == 0
          ? static_cast<std::uint64_t>(fs_stats.f_bavail) * fs_stats.f_frsize
          : 0;
  if (free_bytes < options_.min_free_bytes || free_bytes - options_.min_free_bytes < chunk) {
    reserve_retry_at_ = now + kReserveRetry;
    return;
  }
  static const std::string kZeros(kReserveBytes, '\0');
  const std::uint64_t from = allocated_end_;
  if (auto written = WriteAll(fd_, std::string_view(kZeros).substr(0, chunk), from);
      written && ::fdatasync(fd_) == 0) {
    allocated_end_ = from + chunk;
    return;
  }
  reserve_retry_at_ = now + kReserveRetry;
  if (::ftruncate(fd_, static_cast<off_t>(from)) != 0) {
    // Zeros may remain past `from`: harmless (the format allows them), and the rotation or the
    // next failure's cut removes them.
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
      allocated_end_ = std::max(from, static_cast<std::uint64_t>(st.st_size));
    }
  }
}

void Trail::WriteBatch(std::vector<Pending>& batch) {
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t seq;
  {
    std::lock_guard lock(tree_mu_);
    seq = tree_.size();
  }
  std::size_t next = 0;
  std::size_t refused = 0;
  bool wake_checkpointer = false;
  std::optional<Error> failure;
  while (next < batch.size() && !failure) {
    // One chunk: the entries up to the next segment change (at a 256-entry mark, so that no
    // block of the tree spans two files).
    std::string frames;
    std::vector<Hash> leaves;
    std::vector<std::uint64_t> offsets;
    std::vector<std::size_t> members;
    Hash prev = prev_;
    std::size_t i = next;
    for (; i < batch.size(); ++i) {
      if (seq % kBlock == 0 && RotationDue(file_size_ + frames.size())) break;
      std::string entry = EncodeEntry(seq, prev, batch[i].event);
      if (entry.size() > kMaxEntryBytes) {
        observe::Error("audit.entry_too_large", {{"action", batch[i].event.action}});
        batch[i].done(std::unexpected(Error(ErrorCode::kInternal, "audit entry too large")));
        batch[i].done = nullptr;
        continue;
      }
      const Hash leaf =
          LeafHash({reinterpret_cast<const std::uint8_t*>(entry.data()), entry.size()});
      if (file_size_ + frames.size() == 0) {
        segment_first_time_ = FormatRfc3339Micros(batch[i].event.time);
      }
      offsets.push_back(file_size_ + frames.size());
      AppendFrame(frames, entry);
      leaves.push_back(leaf);
      members.push_back(i);
      prev = leaf;
      ++seq;
    }
    if (!leaves.empty()) {
      if (auto written = WriteFrames(frames); !written) {
        failure = written.error();
        MarkFailed(*failure);  // before any completion: whoever hears of it sees the state
        for (std::size_t m : members) {
          batch[m].done(std::unexpected(*failure));
          batch[m].done = nullptr;
        }
        refused += members.size();
        break;
      }
      prev_ = prev;
      {
        std::lock_guard lock(tree_mu_);
        const auto segment = static_cast<std::uint32_t>(segments_.size() - 1);
        for (std::size_t j = 0; j < leaves.size(); ++j) {
          AddLeafLocked(leaves[j], segment, offsets[j]);
        }
        last_leaf_ = leaves.back();
        stats_.appended += leaves.size();
        ++stats_.batches;
        if (!stats_.available) observe::Info("audit.write_recovered");
        stats_.available = true;
        available_ = true;
        const std::uint64_t covered = checkpoint_ ? checkpoint_->size : 0;
        wake_checkpointer = tree_.size() - covered >= options_.checkpoint_entries ||
                            tree_.size() - leaves.size() == covered;  // first new entry: a timer
      }
      if (wake_checkpointer) {
        std::lock_guard lock(checkpoint_wait_mu_);
        checkpoint_cv_.notify_one();
      }
      const std::uint64_t first = seq - leaves.size();
      if (options_.observer) {
        for (std::size_t m : members) options_.observer(batch[m].event);
      }
      for (std::size_t j = 0; j < members.size(); ++j) {
        batch[members[j]].done(first + j);
        batch[members[j]].done = nullptr;
      }
    }
    next = i;
    if (next < batch.size()) {
      // Rotate: the next entry starts a new segment.
      if (auto started_segment = StartSegment(seq); !started_segment) {
        failure = started_segment.error();
        MarkFailed(*failure);
      } else {
        std::lock_guard lock(tree_mu_);
        segments_.push_back({seq, options_.dir / "segments" / SegmentName(seq)});
      }
    }
  }
  for (auto& pending : batch) {
    if (!pending.done) continue;
    pending.done(std::unexpected(failure.value_or(
        Error(ErrorCode::kAuditUnavailable, "the audit trail cannot be written"))));
    ++refused;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    std::lock_guard lock(tree_mu_);
    stats_.last_batch_seconds = seconds;
    stats_.failed += refused;
  }
  if (!failure) ReserveAhead();
}

void Trail::MarkFailed(const Error& failure) {
  std::lock_guard lock(tree_mu_);
  if (stats_.available) observe::Error("audit.write_failed", {{"reason", failure.message()}});
  stats_.available = false;
  available_ = false;
}

Result<std::optional<Checkpoint>> Trail::MaybeCheckpoint(bool force) {
  std::lock_guard checkpoint_lock(checkpoint_mu_);
  Checkpoint c;
  {
    std::lock_guard lock(tree_mu_);
    const std::uint64_t covered = checkpoint_ ? checkpoint_->size : 0;
    const std::uint64_t fresh = tree_.size() - covered;
    const bool due = fresh >= options_.checkpoint_entries ||
                     (fresh > 0 && std::chrono::steady_clock::now() - last_checkpoint_at_ >=
                                       options_.checkpoint_interval);
    if (fresh == 0 || (!force && !due)) return std::optional<Checkpoint>();
    c.size = tree_.size();
    c.root = tree_.Root();
    c.last_leaf = last_leaf_;
  }
  std::shared_ptr<const crypto::Ed25519Signer> signer =
      options_.signer ? options_.signer() : nullptr;
  auto defer = [this] {
    std::lock_guard lock(tree_mu_);
    last_checkpoint_at_ = std::chrono::steady_clock::now();
  };
  if (signer == nullptr) {
    // Sealed: no key. The first checkpoint after unsealing covers these entries.
    defer();
    return Fail(ErrorCode::kFailedPrecondition, "the vault is sealed: no audit signing key");
  }
  c.time = FormatRfc3339Micros(options_.clock());
  Sign(c, *signer);
  if (published_key_id_ != c.key_id) {
    if (auto written = WriteFileAtomically(options_.dir / "public-key.json",
                                           EncodePublicKeyFile(signer->public_key()), 0644);
        !written) {
      observe::Error("audit.checkpoint_failed", {{"reason", written.error().message()}});
      defer();
      return std::unexpected(written.error());
    }
    published_key_id_ = c.key_id;
  }
  const std::string line = EncodeCheckpoint(c) + "\n";
  if (auto stored = AppendLine(options_.dir / "checkpoints.log", line); !stored) {
    observe::Error("audit.checkpoint_failed", {{"reason", stored.error().message()}});
    defer();
    return std::unexpected(stored.error());
  }
  std::uint64_t witness_failures = 0;
  for (const fs::path& witness : options_.witness_dirs) {
    std::error_code ec;
    fs::create_directories(witness, ec);
    Result<void> copied = AppendLine(witness / "checkpoints.log", line);
    if (copied && !fs::exists(witness / "public-key.json", ec)) {
      copied = WriteFileAtomically(witness / "public-key.json",
                                   EncodePublicKeyFile(signer->public_key()), 0644);
    }
    if (!copied) {
      ++witness_failures;
      observe::Warn("audit.witness_failed",
                    {{"witness", witness.string()}, {"reason", copied.error().message()}});
    }
  }
  std::lock_guard lock(tree_mu_);
  checkpoint_ = c;
  last_checkpoint_at_ = std::chrono::steady_clock::now();
  ++stats_.checkpoints;
  stats_.witness_failures += witness_failures;
  return std::optional<Checkpoint>(c);
}

Result<Checkpoint> Trail::CheckpointNow() {
  auto made = MaybeCheckpoint(true);
  if (!made) return std::unexpected(made.error());
  if (*made) return **made;
  std::lock_guard lock(tree_mu_);
  if (checkpoint_) return *checkpoint_;
  return Fail(ErrorCode::kFailedPrecondition, "the audit trail is empty");
}

std::uint64_t Trail::first() const {
  std::lock_guard lock(tree_mu_);
  return base_;
}

std::uint64_t Trail::size() const {
  std::lock_guard lock(tree_mu_);
  return tree_.size();
}

std::optional<Checkpoint> Trail::latest_checkpoint() const {
  std::lock_guard lock(tree_mu_);
  return checkpoint_;
}

Trail::Stats Trail::stats() const {
  Stats out;
  {
    std::lock_guard lock(tree_mu_);
    out = stats_;
  }
  std::lock_guard lock(queue_mu_);
  out.spool = queue_.size();
  return out;
}

Result<std::vector<std::string>> Trail::Read(std::uint64_t from, std::size_t limit) const {
  std::vector<Segment> segments;
  std::uint64_t size = 0;
  BlockStart start{};
  {
    std::lock_guard lock(tree_mu_);
    size = tree_.size();
    if (from < base_) return std::unexpected(ArchivedError(base_));
    if (from >= size || limit == 0) return std::vector<std::string>();
    segments = segments_;
    start = blocks_.at(from / kBlock - base_ / kBlock);
  }
  std::vector<std::string> out;
  std::uint64_t index = from - from % kBlock;
  for (std::size_t s = start.segment; s < segments.size() && out.size() < limit && index < size;
       ++s) {
    std::ifstream in(segments[s].path, std::ios::binary);
    if (!in) {
      // Moved to the archive since the list was taken?
      if (const std::uint64_t first_now = first(); first_now > index)
        return std::unexpected(ArchivedError(first_now));
      return Fail(ErrorCode::kUnavailable, "cannot read an audit segment");
    }
    if (s == start.segment) in.seekg(static_cast<std::streamoff>(start.offset));
    std::string entry;
    while (out.size() < limit && index < size) {
      unsigned char length[4];
      if (!in.read(reinterpret_cast<char*>(length), 4)) break;  // next segment
      const std::uint32_t n = (std::uint32_t{length[0]} << 24) | (std::uint32_t{length[1]} << 16) |
                              (std::uint32_t{length[2]} << 8) | std::uint32_t{length[3]};
      if (n > kMaxEntryBytes) return Fail(ErrorCode::kDataLoss, "bad audit frame length");
      entry.resize(n);
      if (!in.read(entry.data(), n)) return Fail(ErrorCode::kDataLoss, "short audit frame");
      if (index >= from) out.push_back(entry);
      ++index;
    }
  }
  return out;
}

Result<std::vector<Hash>> Trail::InclusionProof(std::uint64_t index, std::uint64_t size) const {
  std::lock_guard lock(tree_mu_);
  if (size > tree_.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the trail is not that large yet");
  }
  return audit::InclusionProof(
      index, size, [this](std::uint64_t b, std::uint64_t e) { return SubtreeLocked(b, e); });
}

Result<std::vector<Hash>> Trail::ConsistencyProof(std::uint64_t old_size,
                                                  std::uint64_t new_size) const {
  std::lock_guard lock(tree_mu_);
  if (new_size > tree_.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the trail is not that large yet");
  }
  return audit::ConsistencyProof(
      old_size, new_size, [this](std::uint64_t b, std::uint64_t e) { return SubtreeLocked(b, e); });
}

Result<Hash> Trail::RootAt(std::uint64_t size) const {
  std::lock_guard lock(tree_mu_);
  if (size > tree_.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the trail is not that large yet");
  }
  return SubtreeLocked(0, size);
}

}  // namespace strongroom::audit
