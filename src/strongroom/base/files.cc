#include "strongroom/base/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <string>
#include <utility>

namespace strongroom {

OwnedFd::~OwnedFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool OwnedFd::Close() { return ::close(std::exchange(fd_, -1)) == 0; }

namespace {

Result<void> Errno(const std::string& what, const std::filesystem::path& path) {
  const int err = errno;
  return Fail(ErrorCodeForErrno(err), what + " " + path.string() + ": " + ErrnoMessage(err));
}

std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

Result<void> WriteAll(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset,
                      const std::filesystem::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", path);
    bytes = bytes.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                                 mode_t mode) {
  const std::filesystem::path temp = path.string() + ".tmp";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Errno("cannot create", temp);
  if (auto written = WriteAll(fd, AsBytes(content), 0, temp); !written) {
    ::close(fd);
    return written;
  }
  if (::fsync(fd) != 0) {
    auto failed = Errno("cannot fsync", temp);
    ::close(fd);
    return failed;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) return Errno("cannot rename onto", path);
  return SyncDirectory(path.parent_path().empty() ? std::filesystem::path(".")
                                                  : path.parent_path());
}

Result<void> WriteFileRange(const std::filesystem::path& path, std::uint64_t offset,
                            std::span<const std::uint8_t> content, bool exclusive) {
  const int fd = ::open(
      path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : 0), 0600);
  if (fd < 0) return Errno("cannot create", path);
  if (auto written = WriteAll(fd, content, offset, path); !written) {
    ::close(fd);
    return written;
  }
  if (::fdatasync(fd) != 0) {
    auto failed = Errno("cannot sync", path);
    ::close(fd);
    return failed;
  }
  if (::close(fd) != 0) return Errno("cannot close", path);
  return {};
}

Result<FileLock> FileLock::Take(const std::filesystem::path& path, bool wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    auto failed = Errno("cannot open the lock", path);
    return std::unexpected(failed.error());
  }
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    const bool busy = errno == EWOULDBLOCK;
    auto failed = Errno("cannot lock", path);
    ::close(fd);
    if (busy) return Fail(ErrorCode::kWouldBlock, path.string() + " is locked by another process");
    return std::unexpected(failed.error());
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

Result<void> SyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  if (::fsync(fd) != 0) {
    auto failed = Errno("cannot fsync directory", dir);
    ::close(fd);
    return failed;
  }
  ::close(fd);
  return {};
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    auto failed = Errno("cannot open", path);
    return std::unexpected(failed.error());
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto failed = Errno("cannot read", path);
      ::close(fd);
      return std::unexpected(failed.error());
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<void> CreatePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail(ErrorCodeForErrno(ec.value()),
                "cannot create directory " + dir.string() + ": " + ec.message());
  }
  if (::chmod(dir.c_str(), 0700) != 0) return Errno("cannot chmod", dir);
  return {};
}

Result<SecretBytes> ReadPrivateFile(const std::filesystem::path& file, std::string_view what) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    return Fail(
        ErrorCodeForErrno(err) == ErrorCode::kUnavailable ? ErrorCode::kUnavailable
                                                          : ErrorCode::kFailedPrecondition,
        "cannot open " + std::string(what) + " " + file.string() + ": " + ErrnoMessage(err));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kFailedPrecondition,
                std::string(what) + " " + file.string() + " is not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kFailedPrecondition,
                std::string(what) + " " + file.string() +
                    " is readable by group or others; run: chmod 600 " + file.string());
  }
  constexpr std::size_t kMaxPrivateFile = 4096;
  SecretBytes buffer(kMaxPrivateFile + 1);
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.mutable_bytes().data() + filled, buffer.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kUnavailable, "cannot read " + std::string(what) + " " +
                                               file.string() + ": " + ErrnoMessage(err));
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (filled > kMaxPrivateFile) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + " " + file.string() + " is longer than 4096 bytes");
  }
  std::size_t length = filled;
  if (length > 0 && buffer.reveal()[length - 1] == '\n') --length;
  if (length > 0 && buffer.reveal()[length - 1] == '\r') --length;
  if (length == 0) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " " + file.string() + " is empty");
  }
  return SecretBytes(buffer.reveal().first(length));
}

}  // namespace strongroom
