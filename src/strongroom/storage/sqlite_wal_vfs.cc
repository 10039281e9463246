#include "strongroom/storage/sqlite_wal_vfs.h"

#include <cstddef>
#include <cstring>
#include <mutex>

namespace strongroom::storage {
namespace {

constexpr const char* kVfsName = "strongroom-wal-coalescing";

// Runs are written out in pieces of at most SQLite's largest page (64 KiB): the default VFS's
// write takes no more than 128 KiB at once (its unix pwrite wrapper masks larger sizes), since
// SQLite itself never writes more than a page. 15 frames of 4 KiB pages a piece.
constexpr std::size_t kBufferCapacity = std::size_t{64} << 10;

// The object SQLite allocates for each open file (szOsFile bytes): ours first, then the
// default VFS's own file object, which it fills and owns.
struct CoalescingFile {
  sqlite3_file base;      // first member: SQLite hands us pointers to it
  sqlite3_file* inner;    // the default VFS's file, inside the same allocation
  bool coalesce;          // true for a WAL file
  unsigned char* buffer;  // sqlite3_malloc64'd on the first buffered write, freed at close
  sqlite3_int64 buffer_offset;
  std::size_t buffer_size;
};

constexpr std::size_t kInnerOffset = (sizeof(CoalescingFile) + alignof(std::max_align_t) - 1) /
                                     alignof(std::max_align_t) * alignof(std::max_align_t);

sqlite3_vfs* InnerVfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }
CoalescingFile* Self(sqlite3_file* file) { return reinterpret_cast<CoalescingFile*>(file); }

int Flush(CoalescingFile* self) {
  if (self->buffer_size == 0) return SQLITE_OK;
  const int rc = self->inner->pMethods->xWrite(
      self->inner, self->buffer, static_cast<int>(self->buffer_size), self->buffer_offset);
  self->buffer_size = 0;
  return rc;
}

int Close(sqlite3_file* file) {
  CoalescingFile* self = Self(file);
  const int flushed = Flush(self);
  sqlite3_free(self->buffer);
  self->buffer = nullptr;
  const int closed = self->inner->pMethods->xClose(self->inner);
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xRead(self->inner, data, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  CoalescingFile* self = Self(file);
  const auto size = static_cast<std::size_t>(amount);
  if (!self->coalesce) return self->inner->pMethods->xWrite(self->inner, data, amount, offset);
  const bool continues =
      self->buffer_size > 0 &&
      offset == self->buffer_offset + static_cast<sqlite3_int64>(self->buffer_size) &&
      self->buffer_size + size <= kBufferCapacity;
  if (!continues) {
    if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  }
  if (self->buffer == nullptr && size <= kBufferCapacity) {
    self->buffer = static_cast<unsigned char*>(sqlite3_malloc64(kBufferCapacity));
  }
  if (self->buffer == nullptr || size > kBufferCapacity) {
    return self->inner->pMethods->xWrite(self->inner, data, amount, offset);
  }
  if (self->buffer_size == 0) self->buffer_offset = offset;
  std::memcpy(self->buffer + self->buffer_size, data, size);
  self->buffer_size += size;
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xTruncate(self->inner, size);
}

int Sync(sqlite3_file* file, int flags) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xSync(self->inner, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xFileSize(self->inner, size);
}

int Lock(sqlite3_file* file, int level) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xLock(self->inner, level);
}

int Unlock(sqlite3_file* file, int level) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xUnlock(self->inner, level);
}

int CheckReservedLock(sqlite3_file* file, int* reserved) {
  CoalescingFile* self = Self(file);
  return self->inner->pMethods->xCheckReservedLock(self->inner, reserved);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  CoalescingFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) return rc;
  return self->inner->pMethods->xFileControl(self->inner, op, arg);
}

int SectorSize(sqlite3_file* file) {
  return Self(file)->inner->pMethods->xSectorSize(Self(file)->inner);
}

int DeviceCharacteristics(sqlite3_file* file) {
  return Self(file)->inner->pMethods->xDeviceCharacteristics(Self(file)->inner);
}

// The WAL index (shared memory) and memory-mapped reads belong to the database file, which is
// never buffered: these pass through unchanged.
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  sqlite3_file* inner = Self(file)->inner;
  if (inner->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return inner->pMethods->xShmMap(inner, region, size, extend, out);
}

int ShmLock(sqlite3_file* file, int offset, int count, int flags) {
  sqlite3_file* inner = Self(file)->inner;
  if (inner->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return inner->pMethods->xShmLock(inner, offset, count, flags);
}

void ShmBarrier(sqlite3_file* file) {
  sqlite3_file* inner = Self(file)->inner;
  if (inner->pMethods->iVersion >= 2) inner->pMethods->xShmBarrier(inner);
}

int ShmUnmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* inner = Self(file)->inner;
  if (inner->pMethods->iVersion < 2) return SQLITE_OK;
  return inner->pMethods->xShmUnmap(inner, delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  sqlite3_file* inner = Self(file)->inner;
  if (inner->pMethods->iVersion < 3) {
    *out = nullptr;  // "no mapping": SQLite reads with xRead instead
    return SQLITE_OK;
  }
  return inner->pMethods->xFetch(inner, offset, amount, out);
}

int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  sqlite3_file* inner = Self(file)->inner;
  if (inner->pMethods->iVersion < 3) return SQLITE_OK;
  return inner->pMethods->xUnfetch(inner, offset, page);
}

const sqlite3_io_methods kMethods = {
    .iVersion = 3,
    .xClose = Close,
    .xRead = Read,
    .xWrite = Write,
    .xTruncate = Truncate,
    .xSync = Sync,
    .xFileSize = FileSize,
    .xLock = Lock,
    .xUnlock = Unlock,
    .xCheckReservedLock = CheckReservedLock,
    .xFileControl = FileControl,
    .xSectorSize = SectorSize,
    .xDeviceCharacteristics = DeviceCharacteristics,
    .xShmMap = ShmMap,
    .xShmLock = ShmLock,
    .xShmBarrier = ShmBarrier,
    .xShmUnmap = ShmUnmap,
    .xFetch = Fetch,
    .xUnfetch = Unfetch,
};

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  CoalescingFile* self = Self(file);
  self->base.pMethods = nullptr;
  self->inner = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kInnerOffset);
  self->inner->pMethods = nullptr;
  self->coalesce = (flags & SQLITE_OPEN_WAL) != 0;
  self->buffer = nullptr;
  self->buffer_offset = 0;
  self->buffer_size = 0;
  sqlite3_vfs* inner_vfs = InnerVfs(vfs);
  const int rc = inner_vfs->xOpen(inner_vfs, name, self->inner, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (self->inner->pMethods != nullptr) self->inner->pMethods->xClose(self->inner);
    return rc;
  }
  self->base.pMethods = &kMethods;
  return SQLITE_OK;
}

// The rest of the VFS is the default one's, called with its own vfs object.
int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return InnerVfs(vfs)->xDelete(InnerVfs(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return InnerVfs(vfs)->xAccess(InnerVfs(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return InnerVfs(vfs)->xFullPathname(InnerVfs(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) {
  return InnerVfs(vfs)->xDlOpen(InnerVfs(vfs), name);
}
void DlError(sqlite3_vfs* vfs, int size, char* out) {
  InnerVfs(vfs)->xDlError(InnerVfs(vfs), size, out);
}
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return InnerVfs(vfs)->xDlSym(InnerVfs(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { InnerVfs(vfs)->xDlClose(InnerVfs(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  return InnerVfs(vfs)->xRandomness(InnerVfs(vfs), size, out);
}
int Sleep(sqlite3_vfs* vfs, int microseconds) {
  return InnerVfs(vfs)->xSleep(InnerVfs(vfs), microseconds);
}
int CurrentTime(sqlite3_vfs* vfs, double* out) {
  return InnerVfs(vfs)->xCurrentTime(InnerVfs(vfs), out);
}
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return InnerVfs(vfs)->xGetLastError(InnerVfs(vfs), size, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* inner = InnerVfs(vfs);
  if (inner->iVersion >= 2 && inner->xCurrentTimeInt64 != nullptr) {
    return inner->xCurrentTimeInt64(inner, out);
  }
  double days = 0;
  const int rc = inner->xCurrentTime(inner, &days);
  *out = static_cast<sqlite3_int64>(days * 86'400'000.0);
  return rc;
}

sqlite3_vfs vfs_object;

void Register() {
  sqlite3_vfs* inner = sqlite3_vfs_find(nullptr);
  vfs_object.iVersion = 2;
  vfs_object.szOsFile = static_cast<int>(kInnerOffset) + inner->szOsFile;
  vfs_object.mxPathname = inner->mxPathname;
  vfs_object.zName = kVfsName;
  vfs_object.pAppData = inner;
  vfs_object.xOpen = Open;
  vfs_object.xDelete = Delete;
  vfs_object.xAccess = Access;
  vfs_object.xFullPathname = FullPathname;
  vfs_object.xDlOpen = DlOpen;
  vfs_object.xDlError = DlError;
  vfs_object.xDlSym = DlSym;
  vfs_object.xDlClose = DlClose;
  vfs_object.xRandomness = Randomness;
  vfs_object.xSleep = Sleep;
  vfs_object.xCurrentTime = CurrentTime;
  vfs_object.xGetLastError = GetLastError;
  vfs_object.xCurrentTimeInt64 = CurrentTimeInt64;
  sqlite3_vfs_register(&vfs_object, /*makeDflt=*/0);
}

}  // namespace

const char* WalCoalescingVfs() {
  static std::once_flag once;
  std::call_once(once, Register);
  return kVfsName;
}

namespace {

// The WAL file of db's main database if it is open and one of ours, else null.
CoalescingFile* WalOf(sqlite3* db) {
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
      wal == nullptr || wal->pMethods != &kMethods) {
    return nullptr;
  }
  return Self(wal);
}

}  // namespace

int FlushWalBuffer(sqlite3* db) {
  CoalescingFile* wal = WalOf(db);
  return wal == nullptr ? SQLITE_OK : Flush(wal);
}

std::size_t BufferedWalBytes(sqlite3* db) {
  const CoalescingFile* wal = WalOf(db);
  return wal == nullptr ? 0 : wal->buffer_size;
}

}  // namespace strongroom::storage
