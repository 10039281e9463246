#pragma once
// The audit trail's verifier: reads a copy of the trail's files (nothing else: no database, no
// running server) and proves it intact, or names the first entry it cannot vouch for and why.
// `strongroom audit verify` runs it offline; Trail::Open runs it at start.
//
// What it checks, in order, entry by entry: every frame is whole; every entry is audit-v1; its
// seq is its position; its prev is the previous entry's leaf hash. Then, as the Merkle tree
// grows, every checkpoint (the trail's own and any pinned or witnessed ones): its signature under
// the given public key, its root and its last leaf. A checkpoint larger than the trail means the
// tail was cut off. Entries after the last good checkpoint are reported as not yet vouched for
// (normal for a few seconds of a running trail).
//
// Archived trails: a directory whose oldest segments were moved to an archive holds an
// anchor.json (checkpoint.h); the trail then begins at the anchor, whose signature and root are
// checked first, and checkpoints that cover only archived entries are counted, not checked.
// Given the archive directories too, the verifier reads all of them as one trail from entry 0
// (or the oldest anchor), each directory's anchor becoming one more checkpoint to match.
//
// Stateless functions; safe from any thread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/audit/checkpoint.h"
#include "strongroom/audit/merkle.h"
#include "strongroom/base/error.h"

namespace strongroom::audit {

struct SegmentFile {
  std::uint64_t first_seq;
  std::filesystem::path path;
};
// The segments of the trail in `dir` (dir/segments/*.seg), by first seq. A file that is not a
// segment name is an error: nothing unexplained lives there.
Result<std::vector<SegmentFile>> ListSegments(const std::filesystem::path& dir);
// Every checkpoint line of a checkpoints.log (a missing file is an empty list). Lines that do not
// parse are returned as errors in place, so the verifier can name them.
Result<std::vector<Result<Checkpoint>>> ReadCheckpointLog(const std::filesystem::path& file);

// The anchor of the trail in `dir` (dir/anchor.json), if its oldest segments were archived.
Result<std::optional<Anchor>> ReadAnchor(const std::filesystem::path& dir);

struct VerifyOptions {
  std::filesystem::path dir;
  // Archives of the trail's older segments (audit.archive_dir), read with it as one trail.
  std::vector<std::filesystem::path> archive_dirs;
  // Without a key, signatures are not checked (the report says so); `strongroom audit verify`
  // always passes one, obtained apart from the trail.
  std::optional<crypto::Ed25519PublicKey> public_key;
  // Checkpoints from elsewhere (witness copies, one an auditor pinned): held to the same rules.
  std::vector<Checkpoint> pinned;
};

struct VerifyReport {
  bool ok = false;
  std::uint64_t first = 0;        // the first entry (0, or the anchor's size)
  std::vector<Hash> first_peaks;  // the anchor's peaks (merkle.h SubtreeAfterPrefix)
  std::uint64_t entries = 0;      // whole entries read (up to the first bad one)
  // Checkpoints of archived entries only: not checked here (verify them with the archive).
  std::uint64_t archived_checkpoints = 0;
  // The segments read, in order (the segment numbers EntryFn is given index this list).
  std::vector<SegmentFile> segments;
  std::uint64_t checkpoints = 0;  // checkpoints verified
  std::uint64_t vouched = 0;      // entries covered by a verified checkpoint
  bool signatures_checked = false;
  std::optional<std::uint64_t> first_bad;  // set when !ok
  std::string reason;                      // why (when !ok), operator-facing
  // A last frame cut short or written only in part (a crash mid-write; never acknowledged):
  // where it starts.
  bool torn_tail = false;
  std::size_t torn_segment = 0;
  std::uint64_t torn_offset = 0;
  // Where the last segment's whole frames end (the writer's zeros reserved ahead may follow).
  std::uint64_t end_offset = 0;
};

// Called for every good entry, in order: its index, leaf hash, segment number and byte offset.
using EntryFn = std::function<void(std::uint64_t index, const Hash& leaf_hash, std::size_t segment,
                                   std::uint64_t offset)>;

VerifyReport VerifyTrail(const VerifyOptions& options, const EntryFn& on_entry = {});

}  // namespace strongroom::audit
