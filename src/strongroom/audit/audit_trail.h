#pragma once
// Trail: the append-only, hash-chained, Merkle-tree audit trail with signed checkpoints
// (docs/formats/audit-v1.md, docs/audit.md).
//
// On disk, in its own directory apart from the data it describes:
//   segments/<first seq, 20 digits>.seg   frames: u32 big-endian length | entry (audit_entry.h)
//   checkpoints.log                       one signed checkpoint per line (checkpoint.h)
//   public-key.json                       the Ed25519 key that signs them
// and each witness directory holds a copy of checkpoints.log, so truncating or rewriting the
// whole trail is caught against a copy an attacker of the data directory does not hold.
//
// Group commit: Append() only queues; one writer thread encodes every queued entry, chains it to
// the one before (its "prev" is that entry's leaf hash), writes the lot, fdatasyncs once and only
// then calls each entry's completion with its sequence number. It writes over zeros it reserved
// (and made durable) ahead of the entries, so that a sync does not also commit a new file size;
// a segment's reserved zeros are cut off when the next segment starts. A write or sync that fails
// is cut off the file again and every entry of it completes with audit_unavailable; the next batch
// tries again, so service resumes when the disk does. The queue (the spool) is bounded: when it
// is full, Append() fails at once.
//
// Checkpoints: after at least `checkpoint_entries` new entries, or `checkpoint_interval` with
// any, a second thread (so that a slow witness never holds up the writer) signs (tree size,
// root, time, last leaf) with the audit key from the key hierarchy, appends it to
// checkpoints.log (fdatasync) and to every witness. While the vault is sealed there is no key:
// entries are still written, and the first checkpoint after unsealing covers them.
//
// Retention: with an archive directory and a retention period, the checkpoint thread moves every
// segment whose entries are all older than the period to the archive (copy, fsync, then an
// anchor.json here, then removal), so the live trail stays bounded and still verifies alone,
// and the archive stays a trail that verifies alone, and both together (trail_verifier.h).
// Segments rotate at segment_bytes or segment_max_age, at a 256-entry mark, so retention works
// in steps of a segment. The free space of the trail's disk is watched: below min_free_bytes the
// trail says so (log, stats, readiness degraded) long before a full disk refuses every write.
//
// Memory is bounded whatever the trail's length: the tree keeps only its nodes of 256 leaves
// and more, plus the file offset of every 256th entry; a proof re-reads the entries of the one
// or two blocks of 256 it needs below that level.
//
// Thread-safe: Append() from any thread (it never blocks on the disk: it takes a short lock);
// completions run on the writer thread and must not block. Reads and proofs may run
// concurrently with appends and see a consistent prefix.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "strongroom/audit/audit_entry.h"
#include "strongroom/audit/checkpoint.h"
#include "strongroom/audit/merkle.h"
#include "strongroom/base/error.h"
#include "strongroom/crypto/signature.h"

namespace strongroom::audit {

struct TrailOptions {
  std::filesystem::path dir;
  std::uint64_t checkpoint_entries = 1000;
  std::chrono::milliseconds checkpoint_interval{10'000};
  std::vector<std::filesystem::path> witness_dirs;
  std::uint64_t segment_bytes = 64 << 20;  // a new segment starts past this (at a 256-entry mark)
  std::chrono::seconds segment_max_age{24 * 3600};  // … or once its first entry is this old
  // Retention: segments older than `retention` move to `archive_dir` (both set, or no archiving).
  std::filesystem::path archive_dir;
  std::chrono::seconds retention{0};
  std::chrono::seconds archive_interval{3600};            // how often the checkpoint thread looks
  std::uint64_t min_free_bytes = std::uint64_t{1} << 30;  // below: the disk is low (degraded)
  // The first look at the disk and at retention, this long after Open (then every 10 s): a
  // server's first log line must be the one naming its ports.
  std::chrono::milliseconds chores_delay{10'000};
  std::size_t spool_entries = 65'536;  // queued, not yet durable; more are refused
  // The signer, or null while the vault is sealed. Called on the writer thread.
  std::function<std::shared_ptr<const crypto::Ed25519Signer>()> signer;
  std::function<std::chrono::system_clock::time_point()> clock = std::chrono::system_clock::now;
  // The writer thread's niceness. Every audited answer waits for this thread's fsync, so on a
  // busy machine raising its priority (a negative value, which needs CAP_SYS_NICE) shortens
  // every request (docs/performance.md, "Audit"). A refusal is logged, not fatal.
  int writer_nice = 0;
  // Sees every entry once it is durable, in order, on the writer thread (behaviour rules). Must
  // be quick and must not block.
  std::function<void(const Event&)> observer;
};

class Trail {
 public:
  // Opens (creating when absent) the trail in options.dir, reads every segment back and checks
  // the chain and the latest checkpoint. A torn tail (a batch a crash left unfinished at the end
  // of the last segment, never acknowledged: docs/formats/audit-v1.md) is cut off; any other
  // damage is data_loss, naming the first bad entry: a trail that does not verify is not written
  // to (run `strongroom audit verify`).
  static Result<std::unique_ptr<Trail>> Open(TrailOptions options);
  ~Trail();  // writes what is queued, then stops the writer
  Trail(const Trail&) = delete;
  Trail& operator=(const Trail&) = delete;

  // `done(seq)` once the entry is durable, or `done(error)`: audit_unavailable when it could not
  // be written or the spool is full. Called exactly once, on the writer thread or (for a full
  // spool) at once on the caller's.
  using Done = std::function<void(Result<std::uint64_t>)>;
  void Append(Event event, Done done);
  // Append and wait (worker threads and tests only: it blocks until the fsync).
  Result<std::uint64_t> AppendAndWait(Event event);

  // Signs a checkpoint of everything durable now (failed_precondition while sealed).
  Result<Checkpoint> CheckpointNow();

  // Moves every segment all of whose entries are older than `cutoff` (never the one being
  // written) to options.archive_dir, leaving an anchor.json signed at the boundary. What it
  // moved: nothing when nothing is that old. failed_precondition without an archive directory
  // or while sealed (the anchor must be signed); any other failure leaves the trail whole (a
  // pass cut short is completed by the next one, or at the next start).
  struct Archived {
    std::uint64_t segments = 0;
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first = 0;  // the first entry still here
  };
  Result<Archived> ArchiveBefore(std::chrono::system_clock::time_point cutoff,
                                 std::size_t max_segments = SIZE_MAX);
  // The first entry still in this directory (the older ones are archived).
  std::uint64_t first() const;

  std::uint64_t size() const;  // durable entries
  // False from a failed write until a write (or the writer's own probe) succeeds again.
  bool available() const { return available_.load(std::memory_order_relaxed); }
  // Available, and the spool has room: what a write checks before it changes anything.
  bool accepting() const {
    return available() && queued_.load(std::memory_order_relaxed) < options_.spool_entries;
  }
  // Writes what is queued and stops the writer: completions run before this returns. Appends
  // after it fail with audit_unavailable. Idempotent; the destructor calls it.
  void Stop();
  std::optional<Checkpoint> latest_checkpoint() const;
  // Entries [from, from + limit) of the durable prefix, as stored. Entries before first() (and
  // proofs that need an archived node) fail with failed_precondition.
  Result<std::vector<std::string>> Read(std::uint64_t from, std::size_t limit) const;
  Result<std::vector<Hash>> InclusionProof(std::uint64_t index, std::uint64_t size) const;
  Result<std::vector<Hash>> ConsistencyProof(std::uint64_t old_size, std::uint64_t new_size) const;
  Result<Hash> RootAt(std::uint64_t size) const;

  struct Stats {
    std::uint64_t appended = 0;  // entries made durable
    std::uint64_t batches = 0;   // fsyncs that made them so
    std::uint64_t failed = 0;    // entries refused (write failure or full spool)
    std::uint64_t checkpoints = 0;
    std::uint64_t witness_failures = 0;
    std::size_t spool = 0;  // entries queued now
    std::size_t spool_capacity = 0;
    double last_batch_seconds = 0;  // write + fsync of the last batch
    bool available = true;          // the last write succeeded
    std::uint64_t archived = 0;     // entries moved to the archive (= first())
    std::uint64_t archive_failures = 0;
    std::uint64_t disk_free_bytes = 0;  // on the trail's file system, at the last look
    bool disk_low = false;              // below min_free_bytes
  };
  Stats stats() const;

 private:
  explicit Trail(TrailOptions options);
  struct Pending {
    Event event;
    Done done;
  };
  struct Segment {
    std::uint64_t first_seq;
    std::filesystem::path path;
  };
  Result<void> Load();
  void WriterLoop();
  void CheckpointLoop();
  // The checkpoint thread's other chores: the disk's free space, and retention when due.
  void CheckDisk();
  void ArchiveIfDue();
  bool RotationDue(std::uint64_t bytes) const;  // writer thread
  void WriteBatch(std::vector<Pending>& batch);
  Result<void> WriteFrames(const std::string& frames);
  void ReserveAhead();  // keeps zeros written and durable ahead of the entries
  void Probe();
  void MarkFailed(const Error& failure);
  Result<void> StartSegment(std::uint64_t first_seq);
  // Signs and stores a checkpoint when one is due (or `force`d and anything is new). Any thread;
  // serialised on checkpoint_mu_.
  Result<std::optional<Checkpoint>> MaybeCheckpoint(bool force);
  // Tree state, under tree_mu_.
  void AddLeafLocked(const Hash& leaf, std::uint32_t segment, std::uint64_t offset);
  Result<Hash> SubtreeLocked(std::uint64_t begin, std::uint64_t end) const;
  Result<std::vector<Hash>> BlockLeavesLocked(std::uint64_t block) const;

  const TrailOptions options_;

  // The queue (spool) and the writer's life.
  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;
  bool stopping_ = false;

  // Writer-thread state (only the writer touches these after Load()).
  int fd_ = -1;
  std::uint64_t file_size_ = 0;  // durable bytes of the current segment's frames
  // The segment file's size: file_size_, then zeros reserved ahead of the entries.
  std::uint64_t allocated_end_ = 0;
  std::chrono::steady_clock::time_point reserve_retry_at_;  // after a failed reservation
  bool repair_needed_ = false;      // a failed write may have left bytes past file_size_
  std::string segment_first_time_;  // the current segment's first entry's time, as stored
  Hash prev_{};

  // Checkpoint creation and checkpoints.log (the checkpoint thread, CheckpointNow, the commit
  // of ArchiveBefore); archive_mu_ keeps archiving passes one at a time.
  std::mutex checkpoint_mu_;
  std::mutex archive_mu_;
  std::atomic<bool> stopping_archive_{false};  // Stop() cuts a long copy short
  std::string published_key_id_;               // the key public-key.json names

  // The durable tree (published by the writer after each fsync).
  mutable std::mutex tree_mu_;
  std::vector<Segment> segments_;
  CompactTree tree_;
  // Entries before base_ are archived; of their part of the tree only the peaks remain.
  std::uint64_t base_ = 0;
  std::vector<Hash> base_peaks_;
  // levels_[k]: nodes of 2^(k+8) leaves, from node base_ >> (k+8) on; blocks_ from base_ too.
  std::vector<std::vector<Hash>> levels_;
  std::vector<Hash> tail_leaves_;  // leaf hashes of the unfinished last block
  struct BlockStart {
    std::uint32_t segment;
    std::uint64_t offset;
  };
  std::vector<BlockStart> blocks_;  // where each block of 256 entries starts
  Hash last_leaf_{};
  std::optional<Checkpoint> checkpoint_;
  std::chrono::steady_clock::time_point last_checkpoint_at_;
  Stats stats_;

  std::atomic<bool> available_{true};
  std::atomic<std::size_t> queued_{0};  // queue_.size(), readable without the lock
  std::thread writer_;

  // The checkpointer's wake-ups (the writer notifies when a checkpoint may be due).
  std::mutex checkpoint_wait_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stopping_ = false;
  std::chrono::steady_clock::time_point next_archive_at_;  // the checkpoint thread's
  std::thread checkpointer_;
};

}  // namespace strongroom::audit
