#include "strongroom/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace strongroom
