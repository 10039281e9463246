#include "strongroom/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace strongroom {
namespace {

Result<void> Errno(const std::string& what, const std::filesystem::path& path) {
  const int err = errno;
  return Fail(ErrorCodeForErrno(err), what + " " + path.string() + ": " + ErrnoMessage(err));
}

}  // namespace

Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                                 mode_t mode) {
  const std::filesystem::path temp = path.string() + ".tmp";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Errno("cannot create", temp);
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Errno("cannot write", temp);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return Errno("cannot fsync", temp);
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) return Errno("cannot rename onto", path);
  const auto parent = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno("cannot open directory", parent);
  const int synced = ::fsync(dir);
  ::close(dir);
  if (synced != 0) return Errno("cannot fsync directory", parent);
  return {};
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
