#pragma once
// A SQLite VFS that gathers the write-ahead log's page writes of one transaction into one
// pwrite. Private to storage/ (only its .cc files include it, and only they include <sqlite3.h>).
//
// Why: in WAL mode SQLite writes each page of a commit as two pwrite calls (a 24-byte frame
// header, then the page), so a commit of 8 records writes ~170 times before its one fsync; on
// this project's virtual machines each call costs microseconds of the store's single committer
// thread (docs/performance.md). The frames of a transaction are written at consecutive offsets,
// so this VFS copies them into a buffer and hands the run to the real file in one call. No
// SQLite setting or other library does this; the VFS interface is SQLite's own way to change how
// it does I/O.
//
// Why it is safe: SQLite counts a WAL write as durable only after xSync, and a commit becomes
// visible to other connections only when the WAL index is updated, which with synchronous=FULL
// happens after that xSync. Every call other than a contiguous xWrite (xSync, xRead, xTruncate,
// xFileSize, xFileControl, locks, xClose) first writes the buffer out, so the file is exactly
// what it would have been without the buffer whenever SQLite or another connection looks at it.
// A connection opened with this VFS MUST therefore run with synchronous=FULL (or EXTRA): with
// NORMAL or OFF a commit would be published while its frames sat in the buffer.
//
// Only the WAL file is buffered; the database file, journals and the WAL index pass straight
// through to the default VFS. Each file's buffer belongs to that file and is used by the one
// thread that uses its connection (connections are opened SQLITE_OPEN_NOMUTEX).

#include <sqlite3.h>

#include <cstddef>

namespace strongroom::storage {

// The VFS's name for sqlite3_open_v2, registered (not as the default) on first use.
// Thread-safe.
const char* WalCoalescingVfs();

// Writes out what a connection opened with WalCoalescingVfs() holds for its WAL file. Called
// after a rollback, so that no frame a rolled-back transaction spilled is held past it (to be
// written later, perhaps after another connection has emptied the WAL). SQLite 3.40's rollback
// reads the WAL, which writes the buffer out already; this does not rely on it. Returns an
// SQLite result code; SQLITE_OK when there was nothing to write.
int FlushWalBuffer(sqlite3* db);

// The bytes a connection opened with WalCoalescingVfs() holds for its WAL file now (0 for any
// other connection). For tests.
std::size_t BufferedWalBytes(sqlite3* db);

}  // namespace strongroom::storage
