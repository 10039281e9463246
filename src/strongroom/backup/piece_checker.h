#pragma once
// The second half of writing a backup's files, on one background thread (PieceChecker), so that
// the thread reading the vault and encrypting never waits for the disk or for SHA-256:
//  1. the writer creates the file and writes it (CreateAndWrite: its write-back starts at once);
//  2. the checker takes the piece's SHA-256 (for the manifest), then on every target makes the
//     file durable and reads it back from the disk (SyncAndReadBack: fdatasync through the
//     descriptor the file was written with, so a write-back error reaches it; the page cache
//     dropped; every byte compared with what was written).
// docs/backup.md ("Targets") and docs/performance.md ("Backups against cp") say why.
//
// Ownership: the caller owns the bytes it submits; they must stay alive and unchanged until
// Wait(ticket) has returned for them. The checker owns the descriptors submitted with them and its
// thread: destroying it stops the thread after the piece in hand (later ones are not checked) and
// joins it, so destroy it before the bytes it may still read.
//
// Thread-safety: Submit and Wait are for one thread (the backup's); the worker only reads the
// submitted bytes and files and writes the outcomes under the mutex.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/files.h"

namespace strongroom::backup {

// Creates `file` (which must not exist) holding `bytes` and starts its write-back without
// waiting for it. The descriptor is for SyncAndReadBack.
Result<OwnedFd> CreateAndWrite(const std::filesystem::path& file,
                               std::span<const std::uint8_t> bytes);

// fdatasync's `written` (the file's descriptor from CreateAndWrite) and closes it, then reads the
// file back from the disk (its pages dropped from the page cache first, where the kernel allows)
// and compares it with `expected`: data_loss if it differs. `scratch` is the read buffer.
Result<void> SyncAndReadBack(OwnedFd written, const std::filesystem::path& file,
                             std::span<const std::uint8_t> expected,
                             std::vector<std::uint8_t>& scratch);

class PieceChecker {
 public:
  struct File {
    std::size_t target;  // the caller's index of the target the file is on
    std::filesystem::path path;
    OwnedFd written;
  };
  struct Outcome {
    std::string sha256;  // of the bytes, lowercase hex; empty if the check itself failed
    std::vector<std::pair<std::size_t, Error>> failed;  // (target, why) for each file that failed
  };

  PieceChecker();
  ~PieceChecker();
  PieceChecker(const PieceChecker&) = delete;
  PieceChecker& operator=(const PieceChecker&) = delete;

  // Queues a piece: its bytes and the files they were written to. Returns its ticket (0, 1, 2, ...
  // in submission order).
  std::uint64_t Submit(std::span<const std::uint8_t> bytes, std::vector<File> files);
  // Waits until the piece of `ticket` is checked (the checker no longer reads its bytes) and
  // returns what came of it. Once per ticket.
  Outcome Wait(std::uint64_t ticket);

 private:
  struct Job {
    std::span<const std::uint8_t> bytes;
    std::vector<File> files;
  };
  void Run(const std::stop_token& stop);

  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<Job> queue_;                         // submitted, not yet taken by the worker
  std::vector<std::optional<Outcome>> outcomes_;  // by ticket, for the checked pieces
  std::uint64_t submitted_ = 0;
  std::jthread worker_;  // last: started after, and stopped before, everything it uses
};

}  // namespace strongroom::backup
