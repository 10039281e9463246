// Internal to the audit trail: the file helpers and tree constants that audit_trail.cc (writing,
// reading, loading) and trail_archive.cc (retention) share. Not part of the audit API; nothing
// outside src/strongroom/audit/ includes this. Free functions without state: thread-safe as far as
// the files they touch are (the Trail's mutexes decide who touches which).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "strongroom/audit/audit_entry.h"
#include "strongroom/base/error.h"

namespace strongroom::audit::trail_files {

inline constexpr int kBlockLevel = 8;  // the tree keeps nodes of 2^8 leaves and larger
inline constexpr std::uint64_t kBlock = std::uint64_t{1} << kBlockLevel;
inline constexpr std::size_t kMaxEntryBytes = 1 << 20;

// audit_unavailable naming what failed and the errno's message.
Error Unavailable(std::string_view what, int err);
// "00000000000000000042.seg" for the segment whose first entry is 42.
std::string SegmentName(std::uint64_t first_seq);
// fsync of a directory, so that entries created or renamed in it are durable.
Result<void> SyncDirectory(const std::filesystem::path& dir);
// pwrite of all of `bytes` at `offset` (EINTR and short writes retried).
Result<void> WriteAll(int fd, std::string_view bytes, std::uint64_t offset);
// Appends `line` to `file` and syncs it (checkpoint logs: small, rare); a torn last line from
// a crash is cut off first.
Result<void> AppendLine(const std::filesystem::path& file, std::string_view line);
// The head of the first entry of a segment file (its time, and its prev: the leaf hash of the
// entry before it); `entry` is scratch space.
Result<EntryHead> FirstEntryHead(const std::filesystem::path& segment, std::string& entry);
// Whether two files hold the same bytes (false when either cannot be read).
bool SameContents(const std::filesystem::path& a, const std::filesystem::path& b);
// Copies `from` to `to` durably: into `staging` first (same file system as `to`), fsynced,
// then renamed into place, so that `to` is only ever absent or whole.
Result<void> CopyDurably(const std::filesystem::path& from, const std::filesystem::path& to,
                         const std::filesystem::path& staging);
// failed_precondition: entries before `first` were moved to the archive.
Error ArchivedError(std::uint64_t first);
// A whole small file (anchors, keys, checkpoint logs); not_found when it cannot be opened.
Result<std::string> ReadSmallFile(const std::filesystem::path& path);
// Appends one length-prefixed frame (4 bytes big-endian length, then the entry).
void AppendFrame(std::string& frames, std::string_view entry);

}  // namespace strongroom::audit::trail_files
