#include "strongroom/backup/piece_checker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "strongroom/base/files.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::backup {

namespace fs = std::filesystem;

Result<OwnedFd> CreateAndWrite(const fs::path& file, std::span<const std::uint8_t> bytes) {
  OwnedFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    const int err = errno;
    return Fail(ErrorCodeForErrno(err),
                "cannot create " + file.string() + ": " + ErrnoMessage(err));
  }
  if (auto written = WriteAll(fd.get(), bytes, 0, file); !written) {
    return std::unexpected(written.error());
  }
  // Only a hint (ignored where unsupported), so that the disk writes while the next piece is
  // prepared: the fdatasync in SyncAndReadBack is what makes the file durable and reports errors.
  (void)::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
  return fd;
}

Result<void> SyncAndReadBack(OwnedFd written, const fs::path& file,
                             std::span<const std::uint8_t> expected,
                             std::vector<std::uint8_t>& scratch) {
  if (::fdatasync(written.get()) != 0 || !written.Close()) {
    const int err = errno;
    return Fail(ErrorCodeForErrno(err), "cannot sync " + file.string() + ": " + ErrnoMessage(err));
  }
  OwnedFd reading(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (reading.get() < 0) {
    // Gone from the target is a backup lost; anything else (EMFILE, EACCES...) says what it is.
    const int err = errno;
    return Fail(err == ENOENT ? ErrorCode::kDataLoss : ErrorCodeForErrno(err),
                "cannot open " + file.string() + " again: " + ErrnoMessage(err));
  }
  (void)::posix_fadvise(reading.get(), 0, 0, POSIX_FADV_DONTNEED);
  scratch.resize(256 << 10);
  // Every byte compared, up to the end of the file: a file longer than what was written differs
  // as much as one that is shorter or altered.
  const auto differs = [&] {
    return Fail(ErrorCode::kDataLoss, file.string() + " differs from what was written");
  };
  std::size_t at = 0;
  for (;;) {
    const ssize_t n = ::read(reading.get(), scratch.data(), scratch.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return Fail(ErrorCode::kDataLoss,
                  "cannot read " + file.string() + " back: " + ErrnoMessage(err));
    }
    if (n == 0) break;
    const auto got = static_cast<std::size_t>(n);
    if (got > expected.size() - at || std::memcmp(scratch.data(), expected.data() + at, got) != 0) {
      return differs();
    }
    at += got;
  }
  if (at != expected.size()) return differs();
  return {};
}

PieceChecker::PieceChecker() : worker_([this](const std::stop_token& stop) { Run(stop); }) {}

PieceChecker::~PieceChecker() {
  worker_.request_stop();  // wakes the worker: condition_variable_any waits on the stop token
  worker_.join();
}

std::uint64_t PieceChecker::Submit(std::span<const std::uint8_t> bytes, std::vector<File> files) {
  std::uint64_t ticket;
  {
    const std::lock_guard lock(mutex_);
    queue_.push_back(Job{bytes, std::move(files)});
    ticket = submitted_++;
  }
  changed_.notify_all();
  return ticket;
}

PieceChecker::Outcome PieceChecker::Wait(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return outcomes_.size() > ticket; });
  Outcome outcome = std::move(*outcomes_[ticket]);
  outcomes_[ticket].reset();
  return outcome;
}

void PieceChecker::Run(const std::stop_token& stop) {
  std::vector<std::uint8_t> scratch;
  std::unique_lock lock(mutex_);
  for (;;) {
    // False once stopped with nothing queued; the check after it stops a non-empty queue.
    if (!changed_.wait(lock, stop, [&] { return !queue_.empty(); }) || stop.stop_requested()) {
      return;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Outcome outcome;
    try {
      outcome.sha256 = crypto::HexEncode(crypto::Sha256(job.bytes));
      for (File& file : job.files) {
        if (auto checked = SyncAndReadBack(std::move(file.written), file.path, job.bytes, scratch);
            !checked) {
          outcome.failed.emplace_back(file.target, checked.error());
        }
      }
    } catch (
        const std::exception& e) {  // bad_alloc: fail the piece on every target, not the process
      outcome.sha256.clear();
      outcome.failed.clear();
      for (const File& file : job.files) {
        outcome.failed.emplace_back(
            file.target,
            Error(ErrorCode::kInternal, std::string("backup check failed: ") + e.what()));
      }
    }
    lock.lock();
    outcomes_.emplace_back(std::move(outcome));
    changed_.notify_all();
  }
}

}  // namespace strongroom::backup
