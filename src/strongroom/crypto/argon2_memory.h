#pragma once
// Argon2id's memory, kept between password hashes on the threads that ask for it.
//
// libsodium maps Argon2's memory (19 MiB by default) with mmap at every hash and unmaps it after.
// Where a page fault is expensive (this project's reference VM: ~1.4 µs each, 4,864 per hash),
// faulting the fresh pages in and unmapping them is more than half of every hash: 12.5 ms a
// hash against 5.4 ms when the memory is kept (docs/performance.md, "Identity"). A thread that
// calls KeepArgon2MemoryOnThisThread() keeps one mapping (as large as the largest memory cost it
// has served), lends it to each Argon2id it runs through HashPassword/VerifyPassword
// (password_hash.h), and wipes it after each one. On other threads those hashes map fresh
// memory as before, now kept out of core dumps; every other mapping is left exactly as it was.
//
// Ownership: the kept mapping belongs to its thread and is unmapped when the thread ends; it is
// excluded from core dumps (MADV_DONTDUMP) and zero in a forked child (MADV_WIPEONFORK).
// Nothing here is shared between threads.

#include <cstddef>
#include <cstdint>
#include <span>

namespace strongroom::crypto {

// From now on, Argon2id password hashes on the calling thread reuse one mapping instead of a
// fresh one each. For threads that run many hashes for
// the life of the process (the credential pool), not for one-off callers: the memory stays
// until the thread ends. Idempotent.
void KeepArgon2MemoryOnThisThread();

// The mapping the calling thread keeps (empty when it keeps none). For tests: between hashes its
// bytes are all zero.
std::span<const std::uint8_t> KeptArgon2MemoryForTesting();

namespace internal {

// Marks libsodium's Argon2id call in password_hash.cc on this thread: only inside it is Argon2's
// mapping (private, anonymous, read-write, whole 1 KiB blocks) the kept one, or a fresh one kept
// out of core dumps. Not reentrant (Argon2id does not call itself).
class LendKeptArgon2Memory {
 public:
  LendKeptArgon2Memory();
  ~LendKeptArgon2Memory();
  LendKeptArgon2Memory(const LendKeptArgon2Memory&) = delete;
  LendKeptArgon2Memory& operator=(const LendKeptArgon2Memory&) = delete;
};

}  // namespace internal
}  // namespace strongroom::crypto
