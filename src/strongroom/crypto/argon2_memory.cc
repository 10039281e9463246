#include "strongroom/crypto/argon2_memory.h"

#include <sodium.h>
#include <sys/mman.h>

// How the memory is kept, and why by hand. libsodium (1.0.18, Debian 12) has no allocator hook
// for Argon2: it calls mmap and munmap itself. The reference library has one (allocate_cbk), but
// Debian's build of it (libargon2) is the portable one: 15 ms a hash here against libsodium's
// 5.4 ms with the memory kept, so switching would cost more than it saves. So the link wraps the
// two calls (GNU ld --wrap=mmap,--wrap=munmap, on sr_crypto's link interface) and libsodium is
// linked statically, which puts its calls in the wrapped link. The wrappers change nothing
// unless the calling thread is inside LendKeptArgon2Memory and asks for a private anonymous
// read-write mapping anywhere (what Argon2 asks for): that one is the kept mapping, and giving
// it back wipes it instead of unmapping it.

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

// Trivially destructible, so reading it costs no thread-local initialisation check: the
// wrappers run for every mapping the process makes.
struct ThreadArgon2Memory {
  bool keep;     // the thread asked to keep the memory
  bool lending;  // inside LendKeptArgon2Memory
  bool lent;     // Argon2id holds the mapping now
  void* base;
  std::size_t size;
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
bool IsArgon2Request(void* address, int protection, int flags, int fd, off_t offset) {
  return address == nullptr && fd == -1 && offset == 0 && protection == (PROT_READ | PROT_WRITE) &&
         (flags & ~MAP_POPULATE) == (MAP_PRIVATE | MAP_ANONYMOUS);
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

LendKeptArgon2Memory::LendKeptArgon2Memory() { t_memory.lending = t_memory.keep; }

LendKeptArgon2Memory::~LendKeptArgon2Memory() { t_memory.lending = false; }

}  // namespace internal

}  // namespace strongroom::crypto

using strongroom::crypto::t_memory;

extern "C" void* __wrap_mmap(void* address, std::size_t length, int protection, int flags, int fd,
                             off_t offset) {
  if (!t_memory.lending || t_memory.lent ||
      !strongroom::crypto::IsArgon2Request(address, protection, flags, fd, offset)) {
    return __real_mmap(address, length, protection, flags, fd, offset);
  }
  if (t_memory.base != nullptr && t_memory.size != length) {  // another memory cost
    (void)__real_munmap(t_memory.base, t_memory.size);
    t_memory.base = nullptr;
  }
  if (t_memory.base == nullptr) {
    void* mapped = __real_mmap(nullptr, length, protection, flags, -1, 0);
    if (mapped == MAP_FAILED) return mapped;
    // Password-derived blocks do not belong in a core dump (libsodium's own mapping asks the
    // same with MAP_NOCORE, which Linux does not have).
    (void)::madvise(mapped, length, MADV_DONTDUMP);
    t_memory.base = mapped;
    t_memory.size = length;
  }
  t_memory.lent = true;
  return t_memory.base;
}

extern "C" int __wrap_munmap(void* address, std::size_t length) {
  if (t_memory.lent && address == t_memory.base && length == t_memory.size) {
    // Argon2's blocks are derived from the password: wiped at once, as an unmap would drop them.
    sodium_memzero(address, length);
    t_memory.lent = false;
    return 0;
  }
  return __real_munmap(address, length);
}
