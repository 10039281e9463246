#include "strongroom/crypto/argon2_memory.h"

#include <sodium.h>
#include <sys/mman.h>

// How the memory is kept, and why by hand. libsodium (1.0.18, Debian 12) has no allocator hook
// for Argon2: it calls mmap and munmap itself. The reference library has one (allocate_cbk), but
// Debian's build of it (libargon2) is the portable one: 15 ms a hash here against libsodium's
// 5.4 ms with the memory kept, so switching would cost more than it saves. So the link wraps the
// two calls (GNU ld --wrap=mmap,--wrap=munmap, on sr_crypto's link interface) and libsodium is
// linked statically, which puts its calls in the wrapped link (the price: a libsodium update
// reaches the server when it is relinked; docs/identity.md). The wrappers change nothing unless
// the calling thread is inside LendKeptArgon2Memory (around libsodium's call alone) and asks
// for what Argon2 asks for: one private anonymous read-write mapping, anywhere, of whole 1 KiB
// blocks. On a keeping thread that is the kept mapping (grown if too small), and giving it back
// wipes it instead of unmapping it; on any other thread it is a fresh mapping, kept out of core
// dumps.

extern "C" {
// NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp,readability-identifier-naming)
void* __real_mmap(void* address, std::size_t length, int protection, int flags, int fd,
                  off_t offset);
int __real_munmap(void* address, std::size_t length);
void* __wrap_mmap(void* address, std::size_t length, int protection, int flags, int fd,
                  off_t offset);
int __wrap_munmap(void* address, std::size_t length);
// NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp,readability-identifier-naming)
}

namespace strongroom::crypto {
namespace {

constexpr std::size_t kArgon2BlockBytes = 1024;

// Trivially destructible, so reading it costs no thread-local initialisation check: the
// wrappers run for every mapping the process makes.
struct ThreadArgon2Memory {
  bool keep;     // the thread asked to keep the memory
  bool in_hash;  // inside LendKeptArgon2Memory
  bool lent;     // Argon2id holds the kept mapping now
  void* base;    // the kept mapping: as large as the largest hash it has served
  std::size_t size;
  std::size_t lent_bytes;  // what the hash asked for (at most size)
};
constinit thread_local ThreadArgon2Memory t_memory{};

// Unmaps the kept mapping when its thread ends.
struct ReleaseAtThreadExit {
  ReleaseAtThreadExit() = default;
  ReleaseAtThreadExit(const ReleaseAtThreadExit&) = delete;
  ReleaseAtThreadExit& operator=(const ReleaseAtThreadExit&) = delete;
  ~ReleaseAtThreadExit() {
    if (t_memory.base != nullptr) (void)__real_munmap(t_memory.base, t_memory.size);
    t_memory = {};
  }
};

// libsodium 1.0.18 asks for MAP_POPULATE too (one fault-in inside the call): with or without it.
bool IsArgon2Request(void* address, std::size_t length, int protection, int flags, int fd,
                     off_t offset) {
  return address == nullptr && fd == -1 && offset == 0 && length > 0 &&
         length % kArgon2BlockBytes == 0 && protection == (PROT_READ | PROT_WRITE) &&
         (flags & ~MAP_POPULATE) == (MAP_PRIVATE | MAP_ANONYMOUS);
}

// A fresh mapping for Argon2, out of core dumps: password-derived blocks do not belong in one
// (libsodium asks the same with MAP_NOCORE, which Linux does not have). Best effort, like
// SecretBytes.
void* MapOutOfCoreDumps(std::size_t length, int protection, int flags) {
  void* mapped = __real_mmap(nullptr, length, protection, flags, -1, 0);
  if (mapped != MAP_FAILED) (void)::madvise(mapped, length, MADV_DONTDUMP);
  return mapped;
}

bool Overlaps(const void* address, std::size_t length, const void* base, std::size_t size) {
  const auto begin = reinterpret_cast<std::uintptr_t>(address);
  const auto kept = reinterpret_cast<std::uintptr_t>(base);
  return begin < kept + size && kept < begin + length;
}

}  // namespace

void KeepArgon2MemoryOnThisThread() {
  thread_local ReleaseAtThreadExit release;
  (void)release;
  t_memory.keep = true;
}

std::span<const std::uint8_t> KeptArgon2MemoryForTesting() {
  if (t_memory.base == nullptr) return {};
  return {static_cast<const std::uint8_t*>(t_memory.base), t_memory.size};
}

namespace internal {

LendKeptArgon2Memory::LendKeptArgon2Memory() { t_memory.in_hash = true; }

LendKeptArgon2Memory::~LendKeptArgon2Memory() {
  if (t_memory.lent) {
    // libsodium did not give the mapping back (it always does): its call has returned, so
    // nothing holds it; the blocks are wiped all the same.
    sodium_memzero(t_memory.base, t_memory.lent_bytes);
    t_memory.lent = false;
  }
  t_memory.in_hash = false;
}

}  // namespace internal

}  // namespace strongroom::crypto

using strongroom::crypto::t_memory;

extern "C" void* __wrap_mmap(void* address, std::size_t length, int protection, int flags, int fd,
                             off_t offset) {
  if (!t_memory.in_hash ||
      !strongroom::crypto::IsArgon2Request(address, length, protection, flags, fd, offset)) {
    return __real_mmap(address, length, protection, flags, fd, offset);
  }
  if (!t_memory.keep || t_memory.lent) {
    return strongroom::crypto::MapOutOfCoreDumps(length, protection, flags);
  }
  if (t_memory.base == nullptr || t_memory.size < length) {  // the first hash, or a larger cost
    if (t_memory.base != nullptr) (void)__real_munmap(t_memory.base, t_memory.size);
    t_memory.base = nullptr;
    void* mapped = strongroom::crypto::MapOutOfCoreDumps(length, protection, flags);
    if (mapped == MAP_FAILED) return mapped;
    (void)::madvise(mapped, length, MADV_WIPEONFORK);  // a child process sees zeros
    t_memory.base = mapped;
    t_memory.size = length;
  }
  t_memory.lent = true;
  t_memory.lent_bytes = length;
  return t_memory.base;
}

extern "C" int __wrap_munmap(void* address, std::size_t length) {
  if (t_memory.lent && address == t_memory.base && length == t_memory.lent_bytes) {
    // Argon2's blocks are derived from the password: wiped at once, as an unmap would drop them.
    sodium_memzero(address, length);
    t_memory.lent = false;
    return 0;
  }
  if (t_memory.base != nullptr &&
      strongroom::crypto::Overlaps(address, length, t_memory.base, t_memory.size)) {
    // Not Argon2 giving it back: the kept mapping is forgotten and unmapped whole, so that it is
    // never lent with a hole in it.
    void* base = t_memory.base;
    const std::size_t size = t_memory.size;
    t_memory.base = nullptr;
    t_memory.size = 0;
    t_memory.lent = false;
    const int unmapped = __real_munmap(address, length);
    (void)__real_munmap(base, size);
    return unmapped;
  }
  return __real_munmap(address, length);
}
