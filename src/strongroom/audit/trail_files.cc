#include "strongroom/audit/trail_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

namespace strongroom::audit::trail_files {

namespace fs = std::filesystem;

Error Unavailable(std::string_view what, int err) {
  return Error(ErrorCode::kAuditUnavailable,
               "the audit trail cannot be written (" + std::string(what) + ": " +
                   std::error_code(err, std::generic_category()).message() + ")");
}

std::string SegmentName(std::uint64_t first_seq) {
  char name[32];
  (void)std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(first_seq));
  return name;
}

Result<void> SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(Unavailable("open " + dir.string(), errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return std::unexpected(Unavailable("fsync " + dir.string(), err));
  return {};
}

Result<void> WriteAll(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(Unavailable("write", errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<void> AppendLine(const fs::path& file, std::string_view line) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(Unavailable("open " + file.string(), errno));
  // A line a crash or a full disk cut short would glue onto this one: cut it off first (it was
  // never a checkpoint: readers ignore a last line without its newline).
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(Unavailable("stat " + file.string(), err));
  }
  off_t size = st.st_size;
  while (size > 0) {
    char last = 0;
    if (::pread(fd, &last, 1, size - 1) != 1 || last == '\n') break;
    --size;
  }
  if (size != st.st_size && ::ftruncate(fd, size) != 0) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(Unavailable("truncate " + file.string(), err));
  }
  Result<void> done;
  while (!line.empty() && done) {
    const ssize_t n = ::write(fd, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      done = std::unexpected(Unavailable("write " + file.string(), errno));
    } else {
      line.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  if (done && ::fdatasync(fd) != 0) done = std::unexpected(Unavailable("fsync", errno));
  if (!done) (void)::ftruncate(fd, size);  // no half line left behind (best effort)
  ::close(fd);
  return done;
}

Result<EntryHead> FirstEntryHead(const fs::path& segment, std::string& entry) {
  std::ifstream in(segment, std::ios::binary);
  unsigned char length[4];
  if (!in || !in.read(reinterpret_cast<char*>(length), 4)) {
    return Fail(ErrorCode::kUnavailable, "cannot read " + segment.string());
  }
  const std::uint32_t n = (std::uint32_t{length[0]} << 24) | (std::uint32_t{length[1]} << 16) |
                          (std::uint32_t{length[2]} << 8) | std::uint32_t{length[3]};
  if (n == 0 || n > kMaxEntryBytes) return Fail(ErrorCode::kDataLoss, "bad audit frame length");
  entry.resize(n);
  if (!in.read(entry.data(), n)) return Fail(ErrorCode::kDataLoss, "short audit frame");
  return ReadEntryHead({reinterpret_cast<const std::uint8_t*>(entry.data()), n});
}

bool SameContents(const fs::path& a, const fs::path& b) {
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  if (!x || !y) return false;
  std::string bx(1 << 16, '\0'), by(1 << 16, '\0');
  while (true) {
    x.read(bx.data(), static_cast<std::streamsize>(bx.size()));
    y.read(by.data(), static_cast<std::streamsize>(by.size()));
    if (x.gcount() != y.gcount() || bx.compare(0, static_cast<std::size_t>(x.gcount()), by, 0,
                                               static_cast<std::size_t>(y.gcount())) != 0) {
      return false;
    }
    if (x.gcount() == 0 || !x || !y) return !x && !y && x.eof() && y.eof();
  }
}

Result<void> CopyDurably(const fs::path& from, const fs::path& to, const fs::path& staging) {
  std::error_code ec;
  fs::remove(staging, ec);
  if (!fs::copy_file(from, staging, ec)) {
    return Fail(ErrorCode::kUnavailable, "copy " + from.string() + ": " + ec.message());
  }
  const int fd = ::open(staging.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return std::unexpected(Unavailable("fsync " + staging.string(), err));
  }
  ::close(fd);
  fs::rename(staging, to, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "rename to " + to.string() + ": " + ec.message());
  return {};
}

Error ArchivedError(std::uint64_t first) {
  return Error(ErrorCode::kFailedPrecondition,
               "entries before " + std::to_string(first) +
                   " are archived: read them from audit.archive_dir");
}

Result<std::string> ReadSmallFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "no " + path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void AppendFrame(std::string& frames, std::string_view entry) {
  const auto n = static_cast<std::uint32_t>(entry.size());
  const char length[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                          static_cast<char>(n >> 8), static_cast<char>(n)};
  frames.append(length, 4);
  frames.append(entry);
}

}  // namespace strongroom::audit::trail_files
