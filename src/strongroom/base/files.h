#pragma once
// Small file helpers with the durability Strongroom needs. The functions are stateless and
// thread-safe; an OwnedFd belongs to one owner at a time.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom {

// An open file descriptor, closed once (when destroyed, or by Close).
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd();
  int get() const { return fd_; }
  // Closes now and says whether close succeeded (it can report a write error, e.g. on NFS).
  bool Close();

 private:
  int fd_;
};

// Writes `content` to `path` so that a crash leaves either the old file or the complete new one:
// temp file in the same directory (created with `mode`), fsync, rename, fsync of the directory.
Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                                 mode_t mode);

// pwrite of all of `bytes` at `offset` of the open `fd` (EINTR and short writes retried);
// `path` names the file in the error.
Result<void> WriteAll(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset,
                      const std::filesystem::path& path);

// Writes `content` at `offset` of `path` (mode 0600 if created; with `exclusive`, `path` must not
// exist yet), then fdatasync: durable when it returns. Symbolic links are refused.
Result<void> WriteFileRange(const std::filesystem::path& path, std::uint64_t offset,
                            std::span<const std::uint8_t> content, bool exclusive);

// An exclusive flock on `path` (created 0600 if missing; symbolic links refused), released when
// destroyed: for files that several processes (the server, the CLI) write. With `wait` it
// blocks until the lock is free; without, a held lock is would_block. Move-only.
class FileLock {
 public:
  static Result<FileLock> Take(const std::filesystem::path& path, bool wait);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// fsync of a directory, so that entries created or renamed in it are durable.
Result<void> SyncDirectory(const std::filesystem::path& dir);

// The whole file (symbolic links refused); errors name the file and the errno's message.
Result<std::string> ReadWholeFile(const std::filesystem::path& path);

// Creates `dir` (and parents) if missing and sets it to mode 0700.
Result<void> CreatePrivateDirectory(const std::filesystem::path& dir);

// Reads a secret from a file (`what` names it in errors: "passphrase file"): its bytes, one
// trailing newline dropped, at most 4096. Refuses a file that its group or others may read
// (failed_precondition, like ssh with a private key), a symbolic link, and an empty file
// (invalid_argument).
Result<SecretBytes> ReadPrivateFile(const std::filesystem::path& file, std::string_view what);

}  // namespace strongroom
