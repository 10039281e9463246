#pragma once
// The SQLite backend of Store: one database file per store (the records issue gives each kind of
// data, profiles, activity, documents and metadata, its own). WAL journal with synchronous=FULL,
// so a commit returns only after the WAL is fsynced; secure_delete, so deleted ciphertext is
// overwritten rather than left in free pages. Files are created with mode 0600.
//
// Group commit: Write() hands its batch to a single committer thread and waits. The committer
// takes every batch queued at that moment, applies each inside its own SAVEPOINT (a failing batch
// is rolled back alone), and commits them all with one transaction, hence one fsync, before
// acknowledging any of them. Reads use their own connection and run alongside (WAL).
//
// Change log: every commit gets a sequence number, stored on the rows it writes; a delete that
// removes a row leaves a tombstone (sqlite_snapshot.h reads them for incremental backups).
//
// Reads go through a ReadCache (read_cache.h) when SqliteOptions::read_cache_bytes is set: the
// committer invalidates every key a commit touched before acknowledging it. Inside a
// NonBlockingScope (base/blocking.h) Get answers only from that cache, and Get misses, Scan and
// Write fail with would_block.

#include <filesystem>
#include <memory>

#include "strongroom/storage/store.h"

namespace strongroom::storage {

// Values above this are refused (invalid_argument), by every backend: the conformance suite
// checks it, and it keeps one batch from monopolising a commit. Documents are chunked below it.
inline constexpr std::size_t kMaxValueBytes = 4 << 20;

struct SqliteOptions {
  // SQLite page size of a new database (a power of two, 512 to 65536); an existing file keeps
  // the one it was created with. Large pages suit stores of large values: a 64 KiB document chunk
  // is then one page write to the WAL instead of sixteen.
  int page_size = 4096;
  // Bytes of recently read entries kept in memory (read_cache.h); 0: none.
  std::size_t read_cache_bytes = 0;
};

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& file,
                                               SqliteOptions options = {});

}  // namespace strongroom::storage
