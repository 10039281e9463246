#include "strongroom/keys/root_key_provider.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "strongroom/keys/sealed_key_file.h"

namespace strongroom::keys {

Result<SecretBytes> SealedFileRootKeyProvider::Unseal(std::span<const std::uint8_t> secret) const {
  return UnsealKeyFile(file_, secret);
}

Result<SecretBytes> ReadPassphraseFile(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    return Fail(ErrorCodeForErrno(err) == ErrorCode::kUnavailable ? ErrorCode::kUnavailable
                                                                  : ErrorCode::kFailedPrecondition,
                "cannot open passphrase file " + file.string() + ": " + ErrnoMessage(err));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kFailedPrecondition,
                "passphrase file " + file.string() + " is not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kFailedPrecondition,
                "passphrase file " + file.string() +
                    " is readable by group or others; run: chmod 600 " + file.string());
  }
  constexpr std::size_t kMaxPassphraseFile = 4096;
  SecretBytes buffer(kMaxPassphraseFile + 1);
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.mutable_bytes().data() + filled, buffer.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kUnavailable,
                  "cannot read passphrase file " + file.string() + ": " + ErrnoMessage(err));
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (filled > kMaxPassphraseFile) {
    return Fail(ErrorCode::kInvalidArgument,
                "passphrase file " + file.string() + " is longer than 4096 bytes");
  }
  std::size_t length = filled;
  if (length > 0 && buffer.reveal()[length - 1] == '\n') --length;
  if (length > 0 && buffer.reveal()[length - 1] == '\r') --length;
  if (length == 0) {
    return Fail(ErrorCode::kInvalidArgument, "passphrase file " + file.string() + " is empty");
  }
  return SecretBytes(buffer.reveal().first(length));
}

}  // namespace strongroom::keys
