// Retention (Trail::ArchiveBefore and the checkpoint thread's disk and archive chores): kept
// apart from audit_trail.cc, which writes and reads the live trail. Design: docs/audit.md,
// "Retention and the archive"; the anchor's bytes: docs/formats/audit-v1.md, "Anchors".
#include <sys/statvfs.h>

#include <algorithm>
#include <system_error>

#include "strongroom/audit/audit_trail.h"
#include "strongroom/audit/trail_files.h"
#include "strongroom/audit/trail_verifier.h"
#include "strongroom/base/files.h"
#include "strongroom/base/time.h"
#include "strongroom/observe/log.h"

namespace strongroom::audit {
namespace {

namespace fs = std::filesystem;
using namespace trail_files;  // NOLINT(google-build-using-namespace): this TU is their user

// A retention pass that could not run (sealed, or it failed) is tried again this soon.
constexpr auto kArchiveRetry = std::chrono::seconds(60);

}  // namespace

void Trail::CheckDisk() {
  struct statvfs fs_stats {};
  if (::statvfs(options_.dir.c_str(), &fs_stats) != 0) return;
  const std::uint64_t free_bytes =
      static_cast<std::uint64_t>(fs_stats.f_bavail) * static_cast<std::uint64_t>(fs_stats.f_frsize);
  const bool low = free_bytes < options_.min_free_bytes;
  bool was_low = false;
  {
    std::lock_guard lock(tree_mu_);
    was_low = stats_.disk_low;
    stats_.disk_free_bytes = free_bytes;
    stats_.disk_low = low;
  }
  if (low && !was_low) {
    observe::Warn("audit.disk_low",
                  {{"free_bytes", free_bytes},
                   {"min_free_bytes", options_.min_free_bytes},
                   {"advice",
                    "when the disk is full every audited request fails with 503 "
                    "audit_unavailable: add space, or set audit.retention_days and "
                    "audit.archive_dir to move old segments elsewhere"}});
  } else if (!low && was_low) {
    observe::Info("audit.disk_ok", {{"free_bytes", free_bytes}});
  }
}

void Trail::ArchiveIfDue() {
  if (options_.archive_dir.empty() || options_.retention.count() <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_archive_at_) return;
  next_archive_at_ = now + options_.archive_interval;
  // A bounded pass (at most 8 segments, 512 MiB by default), then checkpoints again: the rest
  // moves at the next look, 10 s later.
  constexpr std::size_t kSegmentsPerPass = 8;
  auto archived = ArchiveBefore(options_.clock() - options_.retention, kSegmentsPerPass);
  if (archived && archived->segments == kSegmentsPerPass) next_archive_at_ = now;
  if (!archived) {
    next_archive_at_ = now + std::min<std::chrono::steady_clock::duration>(
                                 kArchiveRetry, options_.archive_interval);
    if (archived.error().code() == ErrorCode::kFailedPrecondition) return;  // sealed: later
    {
      std::lock_guard lock(tree_mu_);
      ++stats_.archive_failures;
    }
    observe::Error("audit.archive_failed", {{"reason", archived.error().message()}});
  }
}

Result<Trail::Archived> Trail::ArchiveBefore(std::chrono::system_clock::time_point cutoff,
                                             std::size_t max_segments) {
  if (options_.archive_dir.empty()) {
    return Fail(ErrorCode::kFailedPrecondition, "no audit archive_dir is configured");
  }
  std::lock_guard archive_lock(archive_mu_);  // one pass at a time
  std::vector<Segment> segments;
  std::uint64_t old_base = 0;
  {
    std::lock_guard lock(tree_mu_);
    segments = segments_;
    old_base = base_;
  }
  // A segment is past retention once the next one began before the cutoff (every entry in it
  // is older than that one's first). The segment being written is never moved, and its first
  // entry may be missing or half written: then nothing after it is looked at.
  const std::string cutoff_text = FormatRfc3339Micros(cutoff);
  std::size_t expired = 0;
  Hash boundary_prev{};
  std::string entry;
  while (expired + 1 < segments.size() && expired < max_segments) {
    auto head = FirstEntryHead(segments[expired + 1].path, entry);
    if (!head && expired + 2 == segments.size()) break;
    if (!head) return std::unexpected(head.error());
    if (!(head->time < cutoff_text)) break;
    boundary_prev = head->prev;
    ++expired;
  }
  Archived done;
  done.first = old_base;
  if (expired == 0) return done;
  const std::uint64_t boundary = segments[expired].first_seq;
  std::shared_ptr<const crypto::Ed25519Signer> signer =
      options_.signer ? options_.signer() : nullptr;
  if (signer == nullptr) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the vault is sealed: the archive boundary cannot be signed");
  }

  // 1. The archive gets the segments, durably (closed segments never change: no lock needed,
  // and checkpoints go on meanwhile on other threads' calls).
  const fs::path archive = options_.archive_dir;
  if (auto made = CreatePrivateDirectory(archive / "segments"); !made) {
    return std::unexpected(made.error());
  }
  for (const fs::path& dir : {archive, archive.parent_path()}) {
    // The directories' own entries, on the first pass: durable before the anchor names them.
    if (auto synced = SyncDirectory(dir.empty() ? fs::path(".") : dir); !synced) {
      return std::unexpected(synced.error());
    }
  }
  for (std::size_t i = 0; i < expired; ++i) {
    if (stopping_archive_.load()) {
      return Fail(ErrorCode::kUnavailable, "stopping: the archiving pass goes on at next start");
    }
    const fs::path target = archive / "segments" / segments[i].path.filename();
    std::error_code ec;
    if (fs::exists(target, ec)) {
      // A pass cut short copied it already; anything else there is not ours to replace.
      if (!SameContents(segments[i].path, target)) {
        return Fail(ErrorCode::kDataLoss,
                    "the audit archive already holds a different " + target.filename().string());
      }
      continue;
    }
    if (auto copied = CopyDurably(segments[i].path, target, archive / ".incoming"); !copied) {
      return std::unexpected(copied.error());
    }
    done.bytes += fs::file_size(target, ec);
  }
  if (auto synced = SyncDirectory(archive / "segments"); !synced) {
    return std::unexpected(synced.error());
  }

  // The anchor: a checkpoint signed at the boundary, and the peaks that give its root.
  Anchor anchor;
  {
    std::lock_guard lock(tree_mu_);
    std::uint64_t at = 0;
    for (int bit = 63; bit >= 0; --bit) {
      const std::uint64_t width = std::uint64_t{1} << bit;
      if ((boundary & width) == 0) continue;
      auto peak = SubtreeLocked(at, at + width);
      if (!peak) return std::unexpected(peak.error());
      anchor.peaks.push_back(*peak);
      at += width;
    }
  }
  auto boundary_tree = CompactTree::FromPeaks(boundary, anchor.peaks);
  if (!boundary_tree) return std::unexpected(boundary_tree.error());
  anchor.checkpoint.size = boundary;
  anchor.checkpoint.root = boundary_tree->Root();
  anchor.checkpoint.last_leaf = boundary_prev;
  anchor.checkpoint.time = FormatRfc3339Micros(options_.clock());
  SignAnchor(anchor, *signer);

  // 2. The checkpoints that cover only moved entries, the boundary one and the key go along
  // (checkpoints.log stays still meanwhile).
  std::lock_guard checkpoint_lock(checkpoint_mu_);
  auto archive_log = ReadSmallFile(archive / "checkpoints.log");
  auto live_log = ReadSmallFile(options_.dir / "checkpoints.log");
  const std::string archive_lines = archive_log ? *archive_log : std::string();
  std::string new_lines;
  std::string kept_lines;  // what stays in the live log
  auto add_line = [&](std::string_view line) {
    if (archive_lines.find(std::string(line) + "\n") == std::string::npos) {
      new_lines.append(line).push_back('\n');
    }
  };
  for (std::string_view rest = live_log ? std::string_view(*live_log) : std::string_view();
       !rest.empty();) {
    const auto newline = rest.find('\n');
    if (newline == std::string_view::npos) break;  // a torn last line: not a checkpoint
    const std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline + 1);
    auto c = ParseCheckpoint(line);
    if (c && c->size <= boundary) {
      add_line(line);
    } else {
      kept_lines.append(line).push_back('\n');
    }
  }
  add_line(EncodeCheckpoint(anchor.checkpoint));
  if (auto stored = AppendLine(archive / "checkpoints.log", new_lines); !stored)
    return std::unexpected(stored.error());
  if (auto key = WriteFileAtomically(archive / "public-key.json",
                                     EncodePublicKeyFile(signer->public_key()), 0644);
      !key) {
    return std::unexpected(key.error());
  }

  // 3. The commit: from here the live trail begins at the boundary.
  if (auto written = WriteFileAtomically(options_.dir / "anchor.json", EncodeAnchor(anchor), 0600);
      !written) {
    return std::unexpected(written.error());
  }
  {
    std::lock_guard lock(tree_mu_);
    blocks_.erase(blocks_.begin(),
                  blocks_.begin() + static_cast<std::ptrdiff_t>((boundary - base_) / kBlock));
    for (BlockStart& block : blocks_) block.segment -= static_cast<std::uint32_t>(expired);
    for (std::size_t k = 0; k < levels_.size(); ++k) {
      const int level = static_cast<int>(k) + kBlockLevel;
      const std::uint64_t drop = (boundary >> level) - (base_ >> level);
      levels_[k].erase(levels_[k].begin(),
                       levels_[k].begin() + static_cast<std::ptrdiff_t>(
                                                std::min<std::uint64_t>(drop, levels_[k].size())));
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(expired));
    base_ = boundary;
    base_peaks_ = anchor.peaks;
    stats_.archived = boundary;
  }

  // 4. Then the moved segments and the checkpoints of archived entries go from here (a crash
  // before the segments are gone is finished at the next start; the checkpoints, by the next
  // pass that moves anything).
  for (std::size_t i = 0; i < expired; ++i) {
    std::error_code ec;
    fs::remove(segments[i].path, ec);
  }
  (void)SyncDirectory(options_.dir / "segments");
  if (live_log) {
    if (auto pruned = WriteFileAtomically(options_.dir / "checkpoints.log", kept_lines, 0600);
        !pruned) {
      observe::Warn("audit.checkpoint_log_not_pruned", {{"reason", pruned.error().message()}});
    }
  }
  done.segments = expired;
  done.entries = boundary - old_base;
  done.first = boundary;
  observe::Info("audit.archived", {{"segments", done.segments},
                                   {"entries", done.entries},
                                   {"bytes", done.bytes},
                                   {"first", boundary},
                                   {"archive", archive.string()}});
  return done;
}

}  // namespace strongroom::audit
